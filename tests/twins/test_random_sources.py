"""The twin's random sources: with ``random="numpy"`` and one trial, the twin draws Brian2's own random
numbers, so networks driven by PoissonGroups, PoissonInputs, ``rand()`` and noise (``xi``) spike exactly
as in Brian2's numpy target; the default torch source is seeded and independent per trial."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import Hz, ms, mV, second

import biosnn
from biosnn.errors import ParameterError
from biosnn.twins.runtime import RANDOM_SOURCES


def _poisson_network():
    """PoissonGroup -> E/I population with refractoriness, PoissonInput onto I, rand() in a synapse and
    white noise (xi) in the membrane equation."""
    inp = b2.PoissonGroup(60, rates=np.linspace(5, 40, 60) * Hz, name="rnd_input")
    eqs = """dv/dt = (-(v + 60*mV) + ge)/(10*ms) + 2*mV*xi/sqrt(10*ms) : volt (unless refractory)
    dge/dt = -ge/(5*ms) : volt"""
    P = b2.NeuronGroup(
        25, eqs, threshold="v > -50*mV", reset="v = -60*mV", refractory=2 * ms, method="euler", name="rnd_pop"
    )
    P.v = -60 * mV
    S = b2.Synapses(inp, P, "w : volt", on_pre="ge_post += w * (0.5 + rand())", name="rnd_syn")
    S.connect(p=0.5, namespace={})
    S.w = np.random.default_rng(2).random(len(S)) * 3 * mV
    pi = b2.PoissonInput(P[20:], "v", N=40, rate=20 * Hz, weight=0.5 * mV)
    return [inp, P, S, pi]


@pytest.mark.parametrize("backend", ["torch", "c"])
def test_numpy_source_gives_brian2_spikes_with_poisson_inputs_and_noise(backend):
    objects = _poisson_network()
    mons = [b2.SpikeMonitor(objects[0], name="rnd_mon_in"), b2.SpikeMonitor(objects[1], name="rnd_mon_pop")]
    net = b2.Network(*objects, *mons)
    tw = biosnn.twin(net, random="numpy", backend=backend)
    b2.seed(321)
    with torch.no_grad():
        res = tw.run(0.3 * second)
    b2.seed(321)
    net.run(0.3 * second, namespace={})
    for mon, name in zip(mons, ["rnd_input", "rnd_pop"]):
        assert len(mon.i) > 30, name
        np.testing.assert_array_equal(res.spikes[name][0][0], mon.i[:], err_msg=name)
        np.testing.assert_array_equal(np.asarray(res.spikes[name][0][1]), mon.t_[:], err_msg=name)
    # the state too, bit for bit
    np.testing.assert_array_equal(tw.variable("rnd_pop", "v").numpy().ravel(), objects[1].v_[:])


def test_numpy_source_seed_argument_seeds_numpy_and_trials_differ():
    objects = _poisson_network()
    tw1 = biosnn.twin(b2.Network(*objects), random="numpy", seed=5, batch_size=2)
    with torch.no_grad():
        r1 = tw1.run(0.1 * second)
    tw2 = biosnn.twin(b2.Network(*objects), random="numpy", seed=5, batch_size=2)
    with torch.no_grad():
        r2 = tw2.run(0.1 * second)
    assert torch.equal(r1.counts["rnd_input"], r2.counts["rnd_input"])  # same seed, same draws
    assert not torch.equal(r1.counts["rnd_input"][0], r1.counts["rnd_input"][1])  # trials differ


def test_torch_source_is_seeded_and_not_numpy():
    objects = _poisson_network()
    np.random.seed(0)
    runs = []
    for _ in range(2):
        tw = biosnn.twin(b2.Network(*objects), seed=9)
        with torch.no_grad():
            runs.append(tw.run(0.1 * second).counts["rnd_input"])
    assert torch.equal(runs[0], runs[1])
    assert np.random.rand() == np.random.RandomState(0).rand(), "the torch source leaves NumPy's stream alone"


def test_unknown_random_source_is_an_error():
    assert {"torch", "numpy"} <= set(RANDOM_SOURCES)
    with pytest.raises(ParameterError, match="random must be one of"):
        biosnn.twin(b2.Network(*_poisson_network()), random="dice")


def test_numpy_source_poisson_function_matches_brian2():
    """``poisson(l)`` in a reset-free counting model: the twin's draws equal Brian2's."""
    G = b2.NeuronGroup(
        30,
        """k : 1
    lam : 1 (constant)""",
        name="rnd_count",
    )
    G.lam = np.linspace(0.1, 3, 30)
    G.run_regularly("k += poisson(lam)", dt=1 * ms, name="rnd_count_draw")
    net = b2.Network(G)
    tw = biosnn.twin(net, random="numpy")
    b2.seed(11)
    with torch.no_grad():
        tw.run(20 * ms)
    b2.seed(11)
    net.run(20 * ms, namespace={})
    assert G.k[:].sum() > 0
    np.testing.assert_array_equal(tw.variable("rnd_count", "k").numpy().ravel(), G.k[:])


def test_numpy_source_mean_drive_is_right_with_many_trials():
    """B = 8 trials of a PoissonInput-driven leaky integrator: each trial's mean follows N*rate*w*tau."""
    G = b2.NeuronGroup(1, "dv/dt = -v/(10*ms) : volt", method="exact", name="rnd_mean")
    pi = b2.PoissonInput(G, "v", N=200, rate=10 * Hz, weight=0.1 * mV)
    tw = biosnn.twin(b2.Network(G, pi), random="numpy", seed=3, batch_size=8)
    with torch.no_grad():
        res = tw.run(1 * second, record={"rnd_mean": ["v"]})
    v = res.states["rnd_mean"]["v"][2000:, :, 0]  # after 200 ms
    expected = 200 * 10 * 0.1e-3 * 10e-3
    assert v.mean().item() == pytest.approx(expected, rel=0.1)
    assert float(v.mean(0).std()) > 0
