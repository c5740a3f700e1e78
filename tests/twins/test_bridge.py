"""pull()/push(): every state variable, weight and connectivity moves between Brian2 and the twin;
float64 round trips are bit-exact; absent synapses stay absent; a pushed state continues identically."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import ms

import biosnn
from biosnn.errors import ParameterError
from tests.twins import models


def _snapshot(objects):
    out = {}
    for o in objects:
        for name in o.variables:
            var = o.variables[name]
            if (
                isinstance(var, b2.core.variables.ArrayVariable)
                and not name.startswith("_")
                and getattr(var.owner, "name", None) == o.name
            ):
                out[(o.name, name)] = np.array(var.get_value(), copy=True)
    return out


def test_pull_push_round_trip_is_bit_exact():
    objects, _ = models.feedforward_ei(0.1)
    net = b2.Network(*objects)
    before = _snapshot(objects)
    tw = biosnn.twin(net)
    tw.push()
    after = _snapshot(objects)
    assert before.keys() == after.keys() and len(before) > 10
    for key in before:
        assert before[key].dtype == after[key].dtype, key
        np.testing.assert_array_equal(after[key], before[key], err_msg=str(key))
    # and the twin holds exactly Brian2's values
    np.testing.assert_array_equal(tw.variable("ff_pop", "v").numpy(), objects[1].v_[:])
    np.testing.assert_array_equal(tw.parameter("ff_in", "w").detach().numpy(), objects[2].w[:])


def test_push_writes_trained_weights_and_pull_reads_brian2_changes():
    objects, _ = models.feedforward_ei(0.1)
    S = objects[2]
    tw = biosnn.twin(b2.Network(*objects))
    w = tw.parameter("ff_in", "w")
    with torch.no_grad():
        w.mul_(0.5)
        w[::3] = 0.0  # "pruned" in the twin: weight exactly zero, synapse still present in both
    n_before = len(S)
    tw.push()
    assert len(S) == n_before
    np.testing.assert_array_equal(S.w[:], w.detach().numpy())
    assert np.all(S.w[::3] == 0)
    S.w = S.w[:] + 0.125
    tw.pull()
    assert tw.parameter("ff_in", "w") is w  # the same Parameter object (optimisers keep working)
    np.testing.assert_array_equal(w.detach().numpy(), S.w[:])


def test_absent_synapses_stay_absent_in_both():
    G = b2.NeuronGroup(4, "v : 1", threshold="v > 1", name="pre4")
    H = b2.NeuronGroup(5, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact", name="post5")
    S = b2.Synapses(G, H, "w : 1", on_pre="v_post += w", name="sparse")
    S.connect(i=[0, 0, 2, 3], j=[1, 4, 2, 0])
    S.w = [0.1, 0.2, 0.3, 0.4]
    tw = biosnn.twin(b2.Network(G, H, S))
    i, j = tw.connectivity("sparse")
    np.testing.assert_array_equal(i, [0, 0, 2, 3])
    np.testing.assert_array_equal(j, [1, 4, 2, 0])
    assert tw.parameter("sparse", "w").shape == (4,)
    tw.push()
    assert len(S) == 4
    np.testing.assert_array_equal(S.i[:], [0, 0, 2, 3])
    np.testing.assert_array_equal(S.j[:], [1, 4, 2, 0])


def test_state_pushed_mid_run_continues_identically_in_brian2():
    """Twin runs 100 ms, pushes its state (incl. refractoriness, plastic weights, time); Brian2 continues and
    matches the twin continuing on its own."""
    objects, monitored, syn = models.song_stdp(0.3)
    mon = b2.SpikeMonitor(objects[1], name="bridge_mon")
    net = b2.Network(*objects, mon)
    tw = biosnn.twin(net)
    with torch.no_grad():
        tw.run(100 * ms)
        tw.push()
        assert float(net.t) == pytest.approx(0.1)
        second_half = tw.run(150 * ms)
    net.run(150 * ms, namespace={})
    twin_i, twin_t = second_half.spikes["song_post"][0]
    assert len(mon.i) > 0
    np.testing.assert_array_equal(twin_i, mon.i[:])
    np.testing.assert_array_equal(np.asarray(twin_t), np.asarray(mon.t_[:]))
    np.testing.assert_allclose(tw.variable(syn, "w", 0).numpy(), net[syn].w[:], rtol=1e-12, atol=0)


def test_parameter_names_and_errors():
    objects, _ = models.feedforward_ei(0.1)
    tw = biosnn.twin(b2.Network(*objects), learnable=("ff_pop.v",))
    names = dict(tw.named_parameters())
    assert "params.ff_in__w" in names and "params.ff_ie__w" in names and "params.ff_pop__v" in names
    with pytest.raises(ParameterError, match="ff_in.nope"):
        tw.parameter("ff_in", "nope")
    with pytest.raises(ParameterError, match="batch_index"):
        tw.push(batch_index=3)


def test_run_then_reset_restarts_from_the_pulled_state():
    objects, monitored = models.summed_model(0.1)
    tw = biosnn.twin(b2.Network(*objects))
    with torch.no_grad():
        a = tw.run(100 * ms)
        assert float(tw.t) == pytest.approx(0.1)
        tw.reset()
        assert float(tw.t) == 0.0
        b = tw.run(100 * ms)
    np.testing.assert_array_equal(a.spikes["sum_post"][0][0], b.spikes["sum_post"][0][0])
    assert len(a.spikes["sum_post"][0][0]) > 0


def _delayed_network():
    """Input -> population with heterogeneous delays, and a recurrent projection from a subgroup with one
    long delay: many synaptic events are in flight at any time."""
    inp = b2.SpikeGeneratorGroup(30, *models.poisson_spike_list(30, 80.0, 0.2, 17), name="fly_input")
    G = b2.NeuronGroup(
        40,
        "dv/dt = -v/(10*ms) : 1",
        threshold="v > 1",
        reset="v = 0",
        refractory=2 * ms,
        method="exact",
        name="fly_pop",
    )
    S1 = b2.Synapses(inp, G, "w : 1", on_pre="v_post += w", name="fly_in")
    S1.connect(p=0.4, namespace={})
    S1.w = np.random.default_rng(18).random(len(S1)) * 0.5
    S1.delay = np.random.default_rng(19).integers(1, 80, len(S1)) * 0.1 * ms
    S2 = b2.Synapses(G[5:35], G, on_pre="v_post += 0.35", delay=6 * ms, name="fly_rec")
    S2.connect(p=0.3, namespace={})
    mon = b2.SpikeMonitor(G, name="fly_mon")
    return [inp, G, S1, S2, mon]


@pytest.mark.parametrize("backend", ["torch", "c"])
def test_spikes_in_flight_cross_the_bridge_both_ways(backend):
    """Brian2 runs 60 ms, the twin pulls (with the events in Brian2's queues) and runs 60 ms; Brian2 runs the
    same 60 ms: identical spikes. Then the twin pushes its queues and both run again: identical spikes."""
    objects = _delayed_network()
    net = b2.Network(*objects)
    mon = objects[-1]
    tw = biosnn.twin(net, backend=backend)
    net.run(60 * ms, namespace={})
    tw.pull()
    with torch.no_grad():
        res = tw.run(60 * ms)
    n0 = len(mon.i)
    net.run(60 * ms, namespace={})
    brian_i, brian_t = np.asarray(mon.i[n0:]), np.asarray(mon.t_[n0:])
    assert len(brian_i) > 20
    np.testing.assert_array_equal(res.spikes["fly_pop"][0][0], brian_i)
    np.testing.assert_array_equal(np.asarray(res.spikes["fly_pop"][0][1]), brian_t)
    # the other way: the twin runs on alone, pushes (state and queues), and Brian2 continues from there
    with torch.no_grad():
        tw.run(30 * ms)
        tw.push()
        ref = tw.run(40 * ms)
    n1 = len(mon.i)
    net.run(40 * ms, namespace={})
    np.testing.assert_array_equal(np.asarray(mon.i[n1:]), ref.spikes["fly_pop"][0][0])
    np.testing.assert_array_equal(np.asarray(mon.t_[n1:]), np.asarray(ref.spikes["fly_pop"][0][1]))


def test_without_the_queues_the_continuation_would_differ():
    """The test above is sharp: dropping the events in flight at the pull changes the spikes."""
    objects = _delayed_network()
    net = b2.Network(*objects)
    mon = objects[-1]
    tw = biosnn.twin(net)
    net.run(60 * ms, namespace={})
    tw.pull()
    assert sum(len(row) for rows in tw._state.pulled_queues.values() for row in rows) > 0
    tw._state.pulled_queues = {}
    with torch.no_grad():
        res = tw.run(60 * ms)
    n0 = len(mon.i)
    net.run(60 * ms, namespace={})
    assert not np.array_equal(res.spikes["fly_pop"][0][0], np.asarray(mon.i[n0:]))


def test_queue_transfer_reads_and_writes_brian2s_python_spike_queue():
    """Brian2 falls back to its Python SpikeQueue without the compiled one: the transfer reads and writes
    that layout too (events arriving r steps ahead, in insertion order)."""
    from types import SimpleNamespace

    from brian2.synapses.spikequeue import SpikeQueue

    from biosnn.twins.runtime import read_spike_queue, write_spike_queue

    sources = np.array([0, 0, 1, 2, 2, 2], dtype=np.int32)
    delays = np.array([3, 1, 2, 1, 3, 0]) * 1e-4
    queue = SpikeQueue(0, 3)
    queue.prepare(delays, 1e-4, sources)
    queue.push(np.array([0, 2], dtype=np.int32))
    queue.advance()  # one step later: delays 1..3 arrive in 0..2 steps
    rows = read_spike_queue(SimpleNamespace(queue=queue))
    assert rows == [[1, 3], [], [0, 4]]
    fresh = SpikeQueue(0, 3)
    fresh.prepare(delays, 1e-4, sources)
    write_spike_queue(SimpleNamespace(queue=fresh), rows, 1e-4)
    assert read_spike_queue(SimpleNamespace(queue=fresh)) == rows
    assert list(fresh.peek()) == [1, 3]


# Brian2's rule for the steps of a run (Network.run, Clock.set_interval / _calc_timestep): from the step of
# the network's time to the step of that time plus the duration, each the nearest step when on the grid (up
# to 1e-4 dt), else the next one; the network's time afterwards is start + duration, not rounded.
@pytest.mark.parametrize(
    "durations_ms",
    [
        [0.05],
        [0.1],
        [0.25],
        [1.25],
        [0.3333],
        [0.10001],
        [0.100000001],
        [1000.0],
        [0.05, 0.05, 0.05],
        [0.25, 0.25, 0.25, 0.25],
        [0.3333] * 5,
        [0.15, 0.1, 0.049999],
        [0.123456, 7.77, 0.00001],
        [0.0, 0.25, 0.0, 0.05],
    ],
    ids=lambda d: "+".join(f"{x:g}" for x in d),
)
def test_runs_take_brian2s_number_of_steps(durations_ms):
    G = b2.NeuronGroup(1, "dv/dt = 1/ms : 1", method="euler", name="counter")  # v = 0.1 * steps
    net = b2.Network(G)
    tw = biosnn.twin(net)
    for d in durations_ms:
        before = float(G.v[0])
        net.run(d * ms, namespace={})
        brian_steps = round((float(G.v[0]) - before) / 0.1)
        with torch.no_grad():
            res = tw.run(d * ms)
        assert len(res.t) == brian_steps, (d, len(res.t), brian_steps)
        assert float(tw.t) == float(net.t_)
        assert float(tw.variable("counter", "v")[0]) == float(G.v[0])


def test_push_and_pull_at_a_time_off_the_grid_continue_as_brian2():
    def counter(name):
        return b2.NeuronGroup(1, "dv/dt = 1/ms : 1", method="euler", name=name)

    ref = b2.Network(counter("ref"))
    ref.run(0.5 * ms, namespace={})  # 0.25 ms twice: 3 steps, then 2 (t = 0.25 ms is off the grid)
    G = counter("bridged")
    net = b2.Network(G)
    tw = biosnn.twin(net)
    with torch.no_grad():
        tw.run(0.25 * ms)
    tw.push()
    assert float(net.t_) == 0.25e-3
    net.run(0.25 * ms, namespace={})
    assert float(G.v[0]) == float(ref.objects.copy().pop().v[0]) == pytest.approx(0.5)
    G.v = 0
    net.run(0.25 * ms, namespace={})  # t = 0.75 ms: the twin goes on from Brian2's time
    tw.pull()
    with torch.no_grad():
        res = tw.run(0.25 * ms)
    net.run(0.25 * ms, namespace={})
    assert len(res.t) == 2  # steps 8 and 9: 0.75 ms is step 7.5, the run starts at the next step
    assert float(tw.variable("bridged", "v")[0]) == float(G.v[0])
    assert float(tw.t) == float(net.t_) == pytest.approx(1e-3)
