"""The whole run in native code (:mod:`biosnn.twins.wholerun`): the run loop is taken where it can be, and its
spikes, states and records are bit for bit those of the step-by-step kernels and of Brian2; runs continue
across the loop, the step-by-step path, the gradient path and Brian2 itself (the spike queues move with them).
"""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import ms

import biosnn
from biosnn.errors import ParameterError, UnsupportedFeatureError
from biosnn.twins import kernels
from biosnn.twins.wholerun import RunLoop
from tests.twins import models

pytestmark = pytest.mark.skipif(kernels.c_compiler() is None, reason="no C compiler on this machine")


@pytest.fixture
def loop_calls(monkeypatch):
    """The number of runs the run loop took (the real loop runs; only its calls are counted)."""
    calls = []
    real = RunLoop.run

    def counted(self, sim):
        calls.append(sim.plan.n_steps)
        return real(self, sim)

    monkeypatch.setattr(RunLoop, "run", counted)
    return calls


def _twin(objects, *, loop: bool, **kw):
    tw = biosnn.twin(b2.Network(*objects), backend="c", **kw)
    tw._build.program.use_run_loop = loop
    return tw


def _run(tw, duration, **kw):
    with torch.no_grad():
        return tw.run(duration, **kw)


def _assert_same(a, b, groups, records=()):
    for g in groups:
        assert torch.equal(a.counts[g], b.counts[g]), g
        for (ia, ta), (ib, tb) in zip(a.spikes[g], b.spikes[g]):
            np.testing.assert_array_equal(ia, ib)
            np.testing.assert_array_equal(np.asarray(ta), np.asarray(tb))
        assert torch.equal(a.spike_trains[g], b.spike_trains[g]), g
    for g, var in records:
        assert torch.equal(a.states[g][var], b.states[g][var]), (g, var)


def delayed_chain():
    """Spike generator (with a period) -> synapses with heterogeneous delays -> refractory LIF -> LIF."""
    idx = np.array([0, 1, 2, 3, 0, 2, 4, 1])
    times = np.array([0.0, 0.3, 0.3, 1.1, 2.0, 2.5, 3.7, 4.2]) * ms
    gen = b2.SpikeGeneratorGroup(5, idx, times, period=5 * ms, name="gen")
    lif = b2.NeuronGroup(
        20,
        "dv/dt = -v/(4*ms) : volt (unless refractory)",
        threshold="v > 8*mV",
        reset="v = 0*mV",
        refractory=1.5 * ms,
        method="exact",
        name="lif",
    )
    out = b2.NeuronGroup(7, "dv/dt = -v/(6*ms) : volt", threshold="v > 5*mV", reset="v = 0*mV", name="out")
    s1 = b2.Synapses(gen, lif, "w : volt", on_pre="v_post += w", name="gen_lif")
    s1.connect(p=1.0)
    s1.w = "(3 + 4*((i*7 + j*3) % 5)) * mV"
    s1.delay = "((i + 2*j) % 9) * 0.1*ms"
    s2 = b2.Synapses(lif, out, on_pre="v_post += 3*mV", delay=0.7 * ms, name="lif_out")
    b2.seed(11)
    s2.connect(p=0.5)
    return [gen, lif, out, s1, s2]


@pytest.mark.parametrize("batch_size", [1, 3])
def test_cuba_run_loop_is_taken_and_bit_identical(loop_calls, batch_size):
    objects, groups = models.cuba(1000)
    record = {"cuba": {"v": [0, 17, 999], "ge": True}}
    b2.seed(5)
    fast = _twin(objects, loop=True, batch_size=batch_size)
    a = _run(fast, 60 * ms, record=record)
    assert loop_calls == [600]
    assert fast._build.program.run_loop_reason == ""
    b2.seed(5)
    objects2, _ = models.cuba(1000)
    steps = _twin(objects2, loop=False, batch_size=batch_size)
    b = _run(steps, 60 * ms, record=record)
    assert loop_calls == [600]  # the second twin stepped its kernels from Python
    assert a.counts["cuba"].sum() > 100  # the network did fire
    _assert_same(a, b, groups, [("cuba", "v"), ("cuba", "ge")])
    assert a.states["cuba"]["v"].shape == (600, batch_size, 3)
    for key in ("v", "ge", "gi"):
        assert torch.equal(fast.variable("cuba", key), steps.variable("cuba", key)), key


def test_delays_generator_period_refractoriness_match_brian2(loop_calls):
    objects = delayed_chain()
    mons = [b2.SpikeMonitor(objects[1], name="m_lif"), b2.SpikeMonitor(objects[2], name="m_out")]
    net = b2.Network(*objects, *mons)
    tw = biosnn.twin(net, backend="c")
    res = _run(tw, 40 * ms)
    assert loop_calls == [400]
    net.run(40 * ms, namespace={})
    for g, m in (("lif", mons[0]), ("out", mons[1])):
        idx, times = res.spikes[g][0]
        assert len(m.i) > 10, g
        np.testing.assert_array_equal(idx, m.i[:])
        np.testing.assert_allclose(np.asarray(times), m.t_[:], rtol=0, atol=1e-12)
    step = _twin(delayed_chain(), loop=False)
    _assert_same(res, _run(step, 40 * ms), ["lif", "out"])


@pytest.mark.parametrize(("batch_size", "threads"), [(1, 1), (2, 1), (2, 2)])
def test_runs_continue_across_loop_steps_gradients_and_brian2(loop_calls, batch_size, threads):
    """One twin runs 12 ms in the loop, 9 ms step by step, 7 ms with gradients, 5 ms in the loop again and
    pushes its state (spikes in flight included) to Brian2, which runs 10 ms more: the same spikes as a twin
    that steps every run and as Brian2 running all of it.
    """
    durations = [12 * ms, 9 * ms, 7 * ms, 5 * ms]
    mixed = _twin(delayed_chain(), loop=True, batch_size=batch_size, threads=threads)
    program = mixed._build.program
    parts = []
    for k, d in enumerate(durations):
        program.use_run_loop = k != 1
        if k == 2:
            res = mixed.run(d)  # the weights of gen_lif are parameters: the gradient path
            assert res.spike_trains["out"].requires_grad
            parts.append(res)
        else:
            parts.append(_run(mixed, d))
    assert loop_calls == [120, 50]
    reference = _twin(delayed_chain(), loop=False, batch_size=batch_size)
    ref_parts = [_run(reference, d) for d in durations]
    for p, q in zip(parts, ref_parts):
        _assert_same(p, q, ["lif", "out"])
    for g in ("lif", "out"):
        assert torch.equal(mixed.variable(g, "v"), reference.variable(g, "v"))

    # Brian2 from the pushed state (the queues carry the spikes in flight) against Brian2 all the way
    objects = delayed_chain()
    m_mixed = b2.SpikeMonitor(objects[2], name="m_mixed")
    net = b2.Network(*objects, m_mixed)
    tw = biosnn.twin(net, backend="c")
    _run(tw, 33 * ms)
    tw.push()
    net.run(10 * ms, namespace={})
    whole = delayed_chain()
    m_whole = b2.SpikeMonitor(whole[2], name="m_whole")
    net2 = b2.Network(*whole, m_whole)
    net2.run(43 * ms, namespace={})
    late = m_whole.t_[:] >= 0.033 - 1e-9
    assert late.sum() > 0
    np.testing.assert_array_equal(m_mixed.i[:], m_whole.i[:][late])
    np.testing.assert_allclose(m_mixed.t_[:], m_whole.t_[:][late], rtol=0, atol=1e-12)


def test_spike_buffers_grow_within_a_run(loop_calls):
    """A group that spikes far more often than the loop's first buffers hold (65536 spikes here)."""

    def busy():
        G = b2.NeuronGroup(400, "dv/dt = (1 + 0.01*i)/ms : 1", threshold="v > 0.55", reset="v = 0", name="busy")
        return [G]

    a = _run(_twin(busy(), loop=True, batch_size=2), 200 * ms)
    assert loop_calls == [2000]
    assert int(a.counts["busy"].sum()) > 4 * 65536
    b = _run(_twin(busy(), loop=False, batch_size=2), 200 * ms)
    _assert_same(a, b, ["busy"])


def test_trial_by_trial_equals_one_batched_loop(loop_calls):
    """With B > 1 and two threads each trial runs the loop on its own rows (:attr:`RunLoop.by_trial`); one
    loop over all trials gives the same spikes, records and states, and so do runs continued from either.
    """
    record = {"lif": {"v": [0, 3, 19]}, "out": ["v"]}
    results = {}
    for by_trial in (True, False):
        tw = _twin(delayed_chain(), loop=True, batch_size=4, threads=2)
        v0 = tw.variable("lif", "v").detach().reshape(1, -1).repeat(4, 1)
        v0 += torch.arange(4, dtype=torch.float64).reshape(4, 1) * 2.6e-3  # four different trials
        tw._build.program.fast_steps()  # loads the library and the run loop
        tw._build.program.run_loop.by_trial = by_trial
        first = _run(tw, 17 * ms, inputs={"lif": {"v": v0}}, record=record)
        second = _run(tw, 13 * ms, record=record)
        results[by_trial] = (first, second, tw.variable("out", "v").clone())
    assert loop_calls == [170, 130, 170, 130]
    (a1, a2, va), (b1, b2, vb) = results[True], results[False]
    trains = a1.spike_trains["lif"]
    assert not torch.equal(trains[:, 0], trains[:, 3])  # the trials differ
    for a, b in ((a1, b1), (a2, b2)):
        _assert_same(a, b, ["lif", "out"], [("lif", "v"), ("out", "v")])
    assert torch.equal(va, vb)


def test_two_threads_give_the_same_spikes(loop_calls):
    objects, groups = models.cuba(1000)
    one = _run(_twin(objects, loop=True, batch_size=32), 20 * ms)
    objects2, _ = models.cuba(1000)
    two = _run(_twin(objects2, loop=True, batch_size=32, threads=2), 20 * ms)
    assert loop_calls == [200, 200]
    _assert_same(one, two, groups)


def test_run_loop_declines_what_it_cannot_run(loop_calls):
    objects, _ = models.cuba(200)
    tw = _twin(objects, loop=True)
    with torch.no_grad():
        tw.run(2 * ms, inputs={"cuba": {"v": torch.full((20, 1, 200), -55e-3, dtype=torch.float64)}})
    assert loop_calls == []  # per-step inputs: the kernels are stepped from Python
    _run(tw, 2 * ms)
    assert loop_calls == [20]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_threads_name_the_setting(bad):
    objects, _ = models.cuba(50)
    with pytest.raises(ParameterError, match="threads must be a positive integer"):
        biosnn.twin(b2.Network(*objects), threads=bad)


def test_bad_gradient_path_names_the_choices():
    objects, _ = models.cuba(50)
    with pytest.raises(ParameterError, match="gradients"):
        biosnn.twin(b2.Network(*objects), gradients="fast")


def test_compiled_gradient_path_says_it_is_not_built():
    tw = biosnn.twin(b2.Network(*delayed_chain()), gradients="compiled")
    with pytest.raises(UnsupportedFeatureError, match="not built yet"):
        tw.run(1 * ms)  # the weights of gen_lif are parameters: a run with gradients
    assert float(tw.t) == 0.0  # nothing ran
    with torch.no_grad():  # a run without gradients does not need it
        res = tw.run(10 * ms)
    assert float(tw.t) == pytest.approx(0.01) and int(res.counts["lif"].sum()) > 0


def test_last_run_path_says_how_the_run_ran():
    objects, _ = models.cuba(200)
    tw = biosnn.twin(b2.Network(*objects), backend="c")
    assert tw.last_run_path == ""
    _run(tw, 2 * ms)
    assert tw.last_run_path == "run loop: every step in one C call (1 thread(s))"
    with torch.no_grad():
        tw.run(2 * ms, inputs={"cuba": {"v": torch.full((20, 1, 200), -55e-3, dtype=torch.float64)}})
    assert tw.last_run_path == "C kernels stepped from Python (inputs per step)"
    chain = biosnn.twin(b2.Network(*delayed_chain()))
    chain.run(1 * ms)  # the weights of gen_lif are parameters
    assert chain.last_run_path == "tensor operations (with gradients)"
    tensor = biosnn.twin(b2.Network(*models.cuba(50)[0]), backend="torch")
    _run(tensor, 1 * ms)
    assert tensor.last_run_path == "tensor operations (target 'torch')"


def _driven(name):
    """A group driven by a sinusoid of time: its state updater's scalar values change at every step."""
    G = b2.NeuronGroup(
        30,
        "dv/dt = (A*sin(2*pi*f*t) + (i/30)*mV - v)/(4*ms) : volt",
        threshold="v > 0.6*mV",
        reset="v = 0*mV",
        method="euler",
        namespace={"A": 2 * b2.mV, "f": 70 * b2.Hz},
        name=name,
    )
    return G


def test_scalars_that_change_with_time_are_computed_before_the_loop(loop_calls):
    G = _driven("driven")
    mon = b2.SpikeMonitor(G)
    net = b2.Network(G, mon)
    tw = biosnn.twin(net, backend="c")
    assert tw._build.program.plan[0].scalars == "time"
    res = _run(tw, 30 * ms)
    assert loop_calls == [300]
    net.run(30 * ms, namespace={})
    assert len(mon.i) > 20
    np.testing.assert_array_equal(res.spikes["driven"][0][0], mon.i[:])
    np.testing.assert_allclose(np.asarray(res.spikes["driven"][0][1]), mon.t_[:], rtol=0, atol=1e-12)
    step = _twin([_driven("driven")], loop=False)
    _assert_same(res, _run(step, 30 * ms), ["driven"])


def test_scalars_that_read_shared_variables_no_block_writes(loop_calls):
    def group():
        G = b2.NeuronGroup(
            10, "dv/dt = (x*mV - v)/(4*ms) : volt\nx : 1 (shared)", threshold="v > 0.5*mV", reset="v = 0*mV", name="sh"
        )
        G.x = 0.75
        return G

    G = group()
    mon = b2.SpikeMonitor(G)
    net = b2.Network(G, mon)
    tw = biosnn.twin(net, backend="c")
    assert tw._build.program.plan[0].scalars == "time"  # reads x, which no block writes
    res = _run(tw, 20 * ms)
    assert loop_calls == [200]
    net.run(20 * ms, namespace={})
    assert len(mon.i) > 10
    np.testing.assert_array_equal(res.spikes["sh"][0][0], mon.i[:])
    _assert_same(res, _run(_twin([group()], loop=False), 20 * ms), ["sh"])
