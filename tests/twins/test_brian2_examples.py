"""What Brian2's own examples found in the twin (issue 12), each as a small reproduction against Brian2's numpy
target (spike for spike, value for value), in both back ends and on both paths (with and without gradients)."""

from __future__ import annotations

import ctypes
import os

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import Hz, ms, mV

import biosnn
from biosnn.errors import MemoryBudgetError, UnsupportedFeatureError
from biosnn.twins import kernels
from biosnn.twins.runtime import IndexSum, available_memory
from tests.twins import models
from tests.twins.helpers import BACKENDS

needs_cc = pytest.mark.skipif(kernels.c_compiler() is None, reason="no C compiler on this machine")
PATHS = [pytest.param(False, id="no-grad"), pytest.param(True, id="grad")]


def _twin_run(net, duration, *, backend="auto", grad=False, record=None, **kwargs):
    tw = biosnn.twin(net, backend=backend, namespace=kwargs.pop("namespace", {}), **kwargs)
    with torch.set_grad_enabled(grad):
        res = tw.run(duration, record=record)
    return tw, res


# -- 1. the path: nothing requires a gradient -> the fast path, also outside no_grad ----------------------------


@needs_cc
def test_run_outside_no_grad_with_nothing_learnable_takes_the_c_path():
    objects, _ = models.cuba(n=400, p=0.05, seed=3)  # Brian2's CUBA example as written: nothing learnable
    mon = b2.SpikeMonitor(objects[0], name="cuba_mon")
    net = b2.Network(*objects, mon)
    tw = biosnn.twin(net, namespace={})
    assert len(tw.params) == 0 and not tw.requires_grad()
    res = tw.run(50 * ms)  # as a user calls it: no torch.no_grad()
    assert tw._build.program.loaded  # the C kernels ran (the gradient path never loads them)
    assert not res.spike_trains["cuba"].requires_grad
    net.run(50 * ms, namespace={})
    assert len(mon.i) > 50
    np.testing.assert_array_equal(res.spikes["cuba"][0][0], np.asarray(mon.i[:]))
    np.testing.assert_array_equal(np.asarray(res.spikes["cuba"][0][1]), np.asarray(mon.t[:]))


def test_the_gradient_path_is_taken_when_a_parameter_or_an_input_requires_a_gradient():
    G = b2.NeuronGroup(
        3, "dv/dt = (I - v)/(5*ms) : 1\nI : 1", threshold="v > 0.5", reset="v = 0", method="exact", name="cells"
    )
    inp = b2.SpikeGeneratorGroup(1, [0, 0], [1, 2] * ms, name="inp")
    S = b2.Synapses(inp, G, "w : 1", on_pre="v_post += w", name="syn")
    S.connect()
    S.w = 0.8
    tw = biosnn.twin(b2.Network(G, inp, S), namespace={})
    assert tw.requires_grad()
    res = tw.run(5 * ms)
    assert res.spike_trains["cells"].requires_grad  # w is a parameter: surrogate spikes
    tw.reset()
    for p in tw.params.values():
        p.requires_grad_(False)
    assert not tw.requires_grad()
    assert not tw.run(5 * ms).spike_trains["cells"].requires_grad
    tw.reset()
    current = torch.full((1, 3), 0.2, dtype=torch.float64, requires_grad=True)
    assert tw.requires_grad({"cells": {"I": current}})
    out = tw.run(5 * ms, inputs={"cells": {"I": current}}, record={"cells": ["v"]})
    out.states["cells"]["v"].sum().backward()
    assert current.grad is not None and bool((current.grad != 0).all())


# -- 2. silently wrong -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("grad", PATHS)
@pytest.mark.parametrize("code", ["x = x + 1\nv = v + x", "x += 0.5", "x = 2*x + 1"])
def test_shared_variable_written_by_run_regularly_changes(code, grad, backend):
    G = b2.NeuronGroup(3, "x : 1 (shared)\nv : 1\ndu/dt = (x - u)/(2*ms) : 1", method="exact", name="barrel")
    G.run_regularly(code, dt=0.5 * ms)
    net = b2.Network(G)
    tw, res = _twin_run(net, 3 * ms, backend=backend, grad=grad, record={"barrel": ["u"]}, batch_size=2)
    mon = b2.StateMonitor(G, "u", record=True, name="barrel_u")
    net.add(mon)
    net.run(3 * ms, namespace={})
    assert float(G.x[:]) > 1
    for b in range(2):
        assert float(tw.variable("barrel", "x", batch_index=b)) == float(G.x[:])
        np.testing.assert_array_equal(tw.variable("barrel", "v", batch_index=b).detach().numpy(), G.v[:])
    np.testing.assert_array_equal(res.states["barrel"]["u"][:, 0].detach().numpy(), np.asarray(mon.u).T)
    if backend == "c":
        assert "shared variable 'x'" in tw.compiled_blocks()["barrel_run_regularly"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("grad", PATHS)
def test_on_post_writes_a_postsynaptic_variable_and_reads_it_back_as_x_post(grad, backend):
    pre = b2.NeuronGroup(2, "v : 1", threshold="True", reset="", name="pre")
    post = b2.NeuronGroup(2, "x : 1", threshold="True", reset="", name="post")
    S = b2.Synapses(pre, post, "w : 1\nc : 1", on_pre="c += 1", on_post="x += 1\nw = x_post", name="stdp")
    S.connect()  # two synapses per postsynaptic neuron: x += 1 twice per step, then w reads the sum
    net = b2.Network(pre, post, S)
    tw, _ = _twin_run(net, 0.3 * ms, backend=backend, grad=grad)
    net.run(0.3 * ms, namespace={})
    np.testing.assert_array_equal(np.asarray(S.w[:]), [6.0] * 4)
    np.testing.assert_array_equal(tw.variable("stdp", "w").detach().numpy().ravel(), S.w[:])
    np.testing.assert_array_equal(tw.variable("post", "x").detach().numpy().ravel(), post.x[:])
    if backend == "c":
        assert "also read as 'x_post'" in tw.compiled_blocks()["stdp_post"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("grad", PATHS)
@pytest.mark.parametrize("eqs", ["dy/dt = -y/dt : 1", "dy/dt = -y/tau_fast : 1"])
def test_a_fast_decay_keeps_the_synaptic_increments(eqs, grad, backend):
    """Euler's step of ``dy/dt = -y/dt`` is ``y = 0``, a constant Brian2 folds into an integer: the twin stored
    that integer as the variable (an int64 tensor), and ``y_post += w`` then truncated 0.5 to 0."""
    src = b2.SpikeGeneratorGroup(2, [0, 1, 0], [0.5, 0.5, 1.2] * ms, name="src")
    post = b2.NeuronGroup(
        2,
        eqs + "\ndv/dt = y/dt : 1",
        method="euler",
        threshold="v > 1.2",
        reset="v = 0",
        namespace={"tau_fast": b2.defaultclock.dt},
        name="post",
    )
    S = b2.Synapses(src, post, "w : 1", on_pre="y_post += w", name="s")
    S.connect()
    S.w = [0.5, 0.25, 0.75, 0.125]
    mon = b2.StateMonitor(post, ["y", "v"], record=True, name="post_mon")
    net = b2.Network(src, post, S, mon)
    tw, res = _twin_run(net, 2.5 * ms, backend=backend, grad=grad, record={"post": ["y", "v"]})
    net.run(2.5 * ms, namespace={})
    assert np.asarray(mon.y).max() == 1.25
    for var in ("y", "v"):
        np.testing.assert_array_equal(res.states["post"][var][:, 0].detach().numpy(), np.asarray(getattr(mon, var)).T)
    assert tw.variable("post", "y").dtype == torch.float64


# -- 3. crashes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("grad", PATHS)
def test_timed_array_at_a_time_per_neuron(grad, backend):
    """Brian2's jeffress example: ``sound(t - delay)`` with a delay per neuron (1-d and 2-d TimedArrays)."""
    rng = np.random.default_rng(3)
    sound = b2.TimedArray(rng.standard_normal(40), dt=0.1 * ms, name="sound")
    sounds = b2.TimedArray(rng.standard_normal((40, 5)), dt=0.05 * ms, name="sounds")
    G = b2.NeuronGroup(
        5,
        """dv/dt = (sound(t - delay) + sounds(t - 2*delay, i) - v)/(1*ms) : 1
    delay : second (constant)""",
        method="euler",
        name="ears",
    )
    G.delay = np.linspace(0, 1.3, 5) * ms
    mon = b2.StateMonitor(G, "v", record=True, name="ears_v")
    net = b2.Network(G, mon)
    ns = {"sound": sound, "sounds": sounds}
    tw, res = _twin_run(net, 5 * ms, backend=backend, grad=grad, record={"ears": ["v"]}, namespace=ns)
    net.run(5 * ms, namespace=ns)
    np.testing.assert_array_equal(res.states["ears"]["v"][:, 0].detach().numpy(), np.asarray(mon.v).T)


def test_timed_array_at_a_time_per_neuron_with_values_per_trial():
    rng = np.random.default_rng(5)
    values = rng.standard_normal((2, 40))

    def build(vals):
        sound = b2.TimedArray(vals, dt=0.1 * ms, name="sound")
        G = b2.NeuronGroup(
            4,
            "dv/dt = (sound(t - delay) - v)/(1*ms) : 1\ndelay : second",
            method="euler",
            name="ears",
            namespace={"sound": sound},
        )
        G.delay = [0, 0.3, 0.7, 1.1] * ms
        return G

    G = build(values[0])
    tw = biosnn.twin(b2.Network(G), batch_size=2, namespace={})
    with torch.no_grad():
        res = tw.run(3 * ms, inputs={"sound": torch.as_tensor(values.T.copy())}, record={"ears": ["v"]})
    for b in range(2):
        H = build(values[b])
        mon = b2.StateMonitor(H, "v", record=True, name="ears_v")
        b2.Network(H, mon).run(3 * ms, namespace={})
        np.testing.assert_array_equal(res.states["ears"]["v"][:, b].numpy(), np.asarray(mon.v).T)


def _pathway_net(on_pre):
    src = b2.SpikeGeneratorGroup(3, [0, 1, 2, 0], [0.5, 0.5, 1.0, 1.5] * ms, name="src")
    post = b2.NeuronGroup(2, "dv/dt = -v/(5*ms) : 1\ng : 1", method="exact", name="post")
    S = b2.Synapses(src, post, "w : 1", on_pre=on_pre, name="s")
    S.connect()
    S.w = np.linspace(0.1, 0.6, 6)
    return b2.Network(src, post, S)


def test_a_temporary_used_in_x_post_plus_equals_on_the_gradient_path():
    grads, traces = [], []
    for code in ("r_S = 2*w*exp(-w)\nv_post += r_S", "v_post += 2*w*exp(-w)"):
        net = _pathway_net(code)
        tw = biosnn.twin(net, namespace={})
        res = tw.run(3 * ms, record={"post": ["v"]})
        res.states["post"]["v"].sum().backward()
        grads.append(tw.parameter("s", "w").grad.clone())
        traces.append(res.states["post"]["v"].detach().clone())
    mon = b2.StateMonitor(net["post"], "v", record=True, name="post_v")
    net.add(mon)
    net.run(3 * ms, namespace={})
    np.testing.assert_array_equal(traces[0][:, 0].numpy(), np.asarray(mon.v).T)
    assert torch.equal(traces[0], traces[1])
    assert bool((grads[0] != 0).all())
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("grad", PATHS)
def test_model_constants_named_like_the_generated_codes_own_names(grad, backend):
    ns = dict(R=2.0, S=0.75, T=3 * ms, TS=1.5, EB=1.0, ES=0.5, MASK=0.1, PARAMS=1.0)
    G = b2.NeuronGroup(
        3,
        "dv/dt = (R*S*TS + EB + ES - v)/T : 1",
        threshold="v > MASK*PARAMS + 3",
        reset="v = MASK",
        method="euler",
        namespace=ns,
        name="cells",
    )
    G.v = [0, 1, 2]
    inp = b2.SpikeGeneratorGroup(1, [0, 0], [0.5, 1] * ms, name="inp")
    syn = b2.Synapses(inp, G, "w : 1", on_pre="v_post += w*R + S", namespace=ns, name="syn")
    syn.connect()
    syn.w = 0.3
    spikes = b2.SpikeMonitor(G, name="cells_spikes")
    mon = b2.StateMonitor(G, "v", record=True, name="cells_v")
    net = b2.Network(G, inp, syn, spikes, mon)
    tw, res = _twin_run(net, 10 * ms, backend=backend, grad=grad, record={"cells": ["v"]})
    net.run(10 * ms, namespace={})
    assert len(spikes.i) >= 3
    np.testing.assert_array_equal(res.spikes["cells"][0][0], np.asarray(spikes.i[:]))
    np.testing.assert_array_equal(res.states["cells"]["v"][:, 0].detach().numpy(), np.asarray(mon.v).T)


def _brunel_wang(n: int):
    """The shape of Brunel & Wang 2001 (Brian2's example): all-to-all synapses whose NMDA gating is a per-synapse
    state summed into the neurons through the weights (``s_NMDA_tot_post = w * s_NMDA (summed)``)."""
    ns = dict(
        g_m=25 * b2.nS,
        C_m=0.5 * b2.nF,
        V_L=-70 * mV,
        V_E=0 * mV,
        V_I=-70 * mV,
        V_thr=-50 * mV,
        V_reset=-55 * mV,
        g_ext=2.08 * b2.nS,
        g_AMPA=0.104 * b2.nS * 800 / n,
        g_NMDA=0.327 * b2.nS * 800 / n,
        g_GABA=1.25 * b2.nS * 200 / n,
        tau_AMPA=2 * ms,
        tau_GABA=10 * ms,
        tau_NMDA_decay=100 * ms,
        tau_NMDA_rise=2 * ms,
        alpha=0.5 / ms,
    )
    P = b2.NeuronGroup(
        n,
        """dv/dt = (- g_m*(v - V_L) - I_syn)/C_m : volt (unless refractory)
    I_syn = g_ext*(v - V_E)*s_ext + g_AMPA*(v - V_E)*s_AMPA + I_NMDA + g_GABA*(v - V_I)*s_GABA : amp
    I_NMDA = g_NMDA*(v - V_E)/(1 + exp(-0.062*v/mV)/3.57)*s_NMDA_tot : amp
    s_NMDA_tot : 1
    ds_ext/dt = -s_ext/tau_AMPA : 1
    ds_AMPA/dt = -s_AMPA/tau_AMPA : 1
    ds_GABA/dt = -s_GABA/tau_GABA : 1""",
        threshold="v > V_thr",
        reset="v = V_reset",
        refractory=2 * ms,
        method="euler",
        namespace=ns,
        name="P",
    )
    P.v = np.random.default_rng(1).uniform(-60, -50, n) * mV
    ne = int(0.8 * n)
    E = b2.Synapses(
        P[:ne],
        P,
        """s_NMDA_tot_post = w * s_NMDA : 1 (summed)
    ds_NMDA/dt = -s_NMDA/tau_NMDA_decay + alpha*x*(1 - s_NMDA) : 1 (clock-driven)
    dx/dt = -x/tau_NMDA_rise : 1 (clock-driven)
    w : 1""",
        on_pre="s_AMPA += w\nx += 1",
        method="euler",
        namespace=ns,
        name="E",
    )
    E.connect()
    E.w = 1.0
    inh = b2.Synapses(P[ne:], P, on_pre="s_GABA += 1", namespace=ns, name="I")
    inh.connect()
    ext = b2.PoissonInput(P, "s_ext", 100, 24 * Hz, "1")
    return b2.Network(P, E, inh, ext)


def test_summed_variable_backward_keeps_the_index_only_and_matches_index_add():
    rng = np.random.default_rng(0)
    index = torch.as_tensor(rng.integers(0, 7, 50))
    value = torch.tensor(rng.standard_normal((3, 50)), requires_grad=True)
    g = torch.as_tensor(rng.standard_normal((3, 7)))
    ours = IndexSum.apply(value, index, 7)
    ref = torch.zeros(3, 7, dtype=torch.float64).index_add(1, index, value)
    assert torch.equal(ours, ref)
    (a,) = torch.autograd.grad(ours, value, g)
    (b,) = torch.autograd.grad(ref, value, g)
    assert torch.equal(a, b)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        IndexSum.apply(value, index, 7)
        reference_saved = len(saved)
        torch.zeros(3, 7, dtype=torch.float64).index_add(1, index, value)
    assert [tuple(s) for s in saved[:reference_saved]] == [(50,)]  # the index only
    assert (3, 50) in [tuple(s) for s in saved[reference_saved:]]  # index_add's own backward keeps the values


def test_gradient_path_memory_per_step_is_the_per_synapse_state_and_is_bounded():
    """Inherent: BPTT keeps the NMDA gating of every synapse at every step (``w`` multiplies it), 8 bytes per
    synapse and step. The guard measures it on the first steps and refuses a run that cannot fit, at once."""
    n = 250  # 200 x 250 = 50,000 synapses with a per-step state
    tw = biosnn.twin(_brunel_wang(n), namespace={})
    n_syn = 200 * n
    tw.run(1 * ms)
    per_step = tw.gradient_bytes_per_step
    assert 8 * n_syn <= per_step <= 1.6 * 8 * n_syn  # the state itself; not the [B, n_synapses] temporaries
    available = available_memory(torch.device("cpu"))
    if available is None:
        pytest.skip("the system does not say how much memory is available")
    steps = int(2 * available / (8 * n_syn))  # twice what fits
    with pytest.raises(MemoryBudgetError, match=r"MB per step .* GB; .* GB are available"):
        tw.run(steps * b2.defaultclock.dt)
    assert float(tw.t) == 0.0  # back at the last pull, consistent
    with torch.no_grad():
        assert tw.run(0.5 * ms).counts["P"].shape == (1, n)


_GROWTH = """
import ctypes, os, sys
import brian2 as b2, torch
from brian2 import ms
import biosnn
from tests.twins.test_brian2_examples import _brunel_wang
torch.set_num_threads(1)
b2.prefs["codegen.target"] = "numpy"
biosnn.seed(1)

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

tw = biosnn.twin(_brunel_wang(500), namespace={})
tw.run(0.2 * ms)
ctypes.CDLL(None).malloc_trim(0)
before = rss()
res = tw.run(4 * ms)
print(rss() - before, tw.gradient_bytes_per_step)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the process size from /proc")
def test_gradient_path_process_grows_by_what_autograd_keeps():
    """glibc's heap kept the pages of the per-step temporaries under the saved tensors: 7x what autograd keeps
    (measured: 470 MB for 64 MB over 40 steps of 200,000 synapses); with a fixed mmap threshold about 1x. In a
    fresh process (a long-lived one may have free heap to absorb it)."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        [sys.executable, "-c", _GROWTH],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
        env={**os.environ, "PYTHONPATH": root},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    grown, per_step = (float(x) for x in out.stdout.split()[-2:])
    kept = 40 * 8 * 400 * 500
    assert kept <= 40 * per_step <= 1.6 * kept
    assert grown < 2 * kept, (grown / 1e6, kept / 1e6)


# -- 4. smaller --------------------------------------------------------------------------------------------------


def test_twin_without_namespace_finds_the_callers_names_as_net_run_does():
    tau_local = 7 * ms
    drive_local = 1.5
    G = b2.NeuronGroup(
        3, "dv/dt = (drive_local - v)/tau_local : 1", threshold="v > 1", reset="v = 0", method="exact", name="cells"
    )
    mon = b2.SpikeMonitor(G, name="cells_spikes")
    net = b2.Network(G, mon)
    tw = biosnn.twin(net)
    with torch.no_grad():
        res = tw.run(20 * ms)
    net.run(20 * ms)
    assert len(mon.i) > 0
    np.testing.assert_array_equal(res.spikes["cells"][0][0], np.asarray(mon.i[:]))
    np.testing.assert_array_equal(np.asarray(res.spikes["cells"][0][1]), np.asarray(mon.t[:]))
    del tau_local, drive_local


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("grad", PATHS)
def test_spike_generator_spikes_within_a_step_in_brian2s_order(grad, backend):
    """Within one step Brian2 lists a generator's spikes by time, then index; the spike queue (so the sum into
    ``v_post``) follows that order: 1e16 + (-1e16) + 1 is 1, 1e16 + 1 + (-1e16) is 0."""
    gen = b2.SpikeGeneratorGroup(3, [0, 2, 1, 2, 0], [0.50, 0.51, 0.52, 1.0, 1.04] * ms, name="gen")
    post = b2.NeuronGroup(1, "v : 1", name="post")
    S = b2.Synapses(gen, post, "w : 1", on_pre="v_post += w", name="syn")
    S.connect()
    S.w = [1e16, 1.0, -1e16]
    gmon = b2.SpikeMonitor(gen, name="gen_spikes")
    net = b2.Network(gen, post, S, gmon)
    tw, res = _twin_run(net, 0.8 * ms, backend=backend, grad=grad, batch_size=2)
    net.run(0.8 * ms, namespace={})
    np.testing.assert_array_equal(np.asarray(gmon.i[:]), [0, 2, 1])
    for b in range(2):
        np.testing.assert_array_equal(res.spikes["gen"][b][0], np.asarray(gmon.i[:]))
        assert float(tw.variable("post", "v", batch_index=b)) == float(post.v[0]) == 1.0


@needs_cc
def test_exprel_in_the_c_back_end_is_brian2s_bit_for_bit():
    from brian2.units.unitsafefunctions import exprel

    table, refused = kernels.c_functions()
    if "exprel" in refused:
        pytest.skip(f"exprel keeps tensor code on this machine: {refused['exprel']}")
    rng = np.random.default_rng(11)
    x = np.concatenate(
        [
            rng.uniform(-30, 30, 20000),
            rng.uniform(-1e-6, 1e-6, 2000),
            10.0 ** rng.uniform(-20, 3, 2000),
            [0.0, -0.0, 1e-16, -1e-16, 9.9e-17, 716.9, 717.0, 717.1, 1e4, -1e4, np.inf, -np.inf, np.nan],
        ]
    )
    lib = kernels.compile_library(
        kernels.PRELUDE + "void f(int64_t n, const double* x, double* y) "
        f"{{ for (int64_t i = 0; i < n; i++) y[i] = {table['exprel'].format('x[i]')}; }}"
    )
    y = np.empty_like(x)
    lib.f(ctypes.c_int64(len(x)), ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(y.ctypes.data))
    with np.errstate(all="ignore"):
        ref = np.asarray(exprel(x))
    np.testing.assert_array_equal(y.view(np.int64)[~np.isnan(ref)], ref.view(np.int64)[~np.isnan(ref)])
    assert np.isnan(y[np.isnan(ref)]).all()


@needs_cc
def test_a_model_with_exprel_runs_compiled_and_spikes_as_brian2():
    """The Hodgkin-Huxley rate functions of Brian2's COBAHH example, written with exprel."""
    ns = dict(
        Cm=1 * b2.ufarad * b2.cm**-2 * 2e-4 * b2.cm**2,
        gl=5e-5 * b2.siemens * 2e-4,
        El=-60 * mV,
        EK=-90 * mV,
        ENa=50 * mV,
        g_na=100 * b2.msiemens * 2e-4,
        g_kd=30 * b2.msiemens * 2e-4,
        VT=-63 * mV,
    )
    eqs = """dv/dt = (gl*(El-v) - g_na*(m*m*m)*h*(v-ENa) - g_kd*(n*n*n*n)*(v-EK) + I)/Cm : volt
    dm/dt = 0.32*(mV**-1)*4*mV/exprel((13.*mV-v+VT)/(4*mV))/ms*(1-m)-0.28*(mV**-1)*5*mV/exprel((v-VT-40.*mV)/(5*mV))/ms*m : 1
    dn/dt = 0.032*(mV**-1)*5*mV/exprel((15.*mV-v+VT)/(5*mV))/ms*(1.-n)-.5*exp((10.*mV-v+VT)/(40.*mV))/ms*n : 1
    dh/dt = 0.128*exp((17.*mV-v+VT)/(18.*mV))/ms*(1.-h)-4./(1+exp((40.*mV-v+VT)/(5.*mV)))/ms*h : 1
    I : amp"""  # noqa: E501
    # (exponential_euler's sympy step rewrites these exprel terms into exp: Euler keeps them)
    G = b2.NeuronGroup(
        20, eqs, threshold="v > -20*mV", refractory=3 * ms, method="euler", namespace=ns, name="hh", dt=0.01 * ms
    )
    G.v = ns["El"]
    G.I = np.linspace(0.5, 2.0, 20) * b2.nA
    mon = b2.SpikeMonitor(G, name="hh_spikes")
    net = b2.Network(G, mon)
    tw, res = _twin_run(net, 30 * ms, backend="c")
    assert "exprel" in tw.generated_code() and tw.compiled_blocks()["hh_stateupdater"].startswith("c")
    net.run(30 * ms, namespace={})
    assert len(mon.i) > 20
    np.testing.assert_array_equal(res.spikes["hh"][0][0], np.asarray(mon.i[:]))
    np.testing.assert_array_equal(np.asarray(res.spikes["hh"][0][1]), np.asarray(mon.t[:]))
    np.testing.assert_array_equal(tw.variable("hh", "m").numpy().ravel(), G.m[:])


def test_the_different_clocks_error_names_the_groups_and_their_dt():
    G = b2.NeuronGroup(2, "dv/dt = -v/(10*ms) : 1", method="exact", name="slow_cells")
    H = b2.NeuronGroup(2, "dv/dt = -v/(10*ms) : 1", method="exact", dt=0.05 * ms, name="fast_cells")
    with pytest.raises(UnsupportedFeatureError, match=r"dt = 50\. us: fast_cells; dt = 100\. us: slow_cells"):
        biosnn.twin(b2.Network(G, H), namespace={})
