"""Batch dimension and inputs: B independent trials in one pass, per-trial inputs, Poisson sources."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import Hz, ms, second

import biosnn
from biosnn.errors import NonFiniteError, ParameterError, ShapeError, UnitError
from tests.twins import models


def _generator_net(name_suffix=""):
    i, t = models.poisson_spike_list(10, 40.0, 0.2, 5)
    inp = b2.SpikeGeneratorGroup(10, i, t, name="gen")
    G = b2.NeuronGroup(3, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact", name="cells")
    S = b2.Synapses(inp, G, "w : 1", on_pre="v_post += w", name="gen_cells")
    S.connect()
    S.w = np.random.default_rng(3).uniform(0.1, 0.6, len(S))
    return inp, G, S


def test_batch_elements_are_independent_trials_and_trial_zero_matches_brian2():
    inp, G, S = _generator_net()
    mon = b2.SpikeMonitor(G, name="batch_mon")
    net = b2.Network(inp, G, S, mon)
    B, T = 3, 2000
    rng = np.random.default_rng(9)
    spikes = torch.as_tensor(rng.random((T, B, 10)) < 40 * 1e-4, dtype=torch.float64)
    # trial 0 gets exactly the generator's own spike list
    spikes[:, 0] = 0
    bins = (np.asarray(inp.spike_time_[:]) / 1e-4).round().astype(int)
    spikes[bins, 0, np.asarray(inp.neuron_index[:])] = 1
    tw = biosnn.twin(net, batch_size=B)
    with torch.no_grad():
        res = tw.run(0.2 * second, inputs={"gen": {"spikes": spikes}})
    net.run(0.2 * second, namespace={})
    np.testing.assert_array_equal(res.spikes["cells"][0][0], mon.i[:])
    np.testing.assert_array_equal(np.asarray(res.spikes["cells"][0][1]), np.asarray(mon.t_[:]))
    # every other trial equals a single-trial twin fed only that trial's input
    for b in (1, 2):
        inp1, G1, S1 = _generator_net()
        S1.w = S.w[:]
        single = biosnn.twin(b2.Network(inp1, G1, S1), batch_size=1)
        with torch.no_grad():
            r1 = single.run(0.2 * second, inputs={"gen": {"spikes": spikes[:, b : b + 1]}})
        np.testing.assert_array_equal(res.spikes["cells"][b][0], r1.spikes["cells"][0][0])
        assert torch.equal(res.spike_trains["cells"][:, b], r1.spike_trains["cells"][:, 0])
    assert res.spike_trains["cells"].shape == (T, B, 3)
    counts = res.spike_trains["cells"].sum(0)
    assert not torch.equal(counts[1], counts[2])


def test_poisson_group_rates_per_trial():
    P = b2.PoissonGroup(200, rates=5 * Hz, name="poisson_in")
    tw = biosnn.twin(b2.Network(P), batch_size=2, seed=7)
    rates = torch.tensor([[10.0] * 200, [60.0] * 200], dtype=torch.float64)
    with torch.no_grad():
        res = tw.run(1 * second, inputs={"poisson_in": {"rates": rates}})
    counts = res.spike_trains["poisson_in"].sum(dim=(0, 2))
    expected = rates.sum(1) * 1.0
    # Poisson counts: mean 2000 and 12000 spikes; allow 4 standard deviations
    assert torch.all((counts - expected).abs() <= 4 * expected.sqrt()), (counts, expected)


def test_poisson_input_drives_the_analytic_mean():
    """dv/dt = -v/tau with PoissonInput(N, rate, weight): <v> = N*rate*weight*tau."""
    G = b2.NeuronGroup(50, "dv/dt = -v/(10*ms) : 1", method="exact", name="pi_target")
    pi = b2.PoissonInput(G, "v", N=100, rate=10 * Hz, weight=0.1)
    tw = biosnn.twin(b2.Network(G, pi), batch_size=2, seed=3)
    with torch.no_grad():
        res = tw.run(0.5 * second, record={"pi_target": ["v"]})
    v = res.states["pi_target"]["v"][1000:]  # after 10 time constants
    assert v.shape[1:] == (2, 50)
    assert float(v.mean()) == pytest.approx(100 * 10 * 0.1 * 0.01, rel=0.05)


def test_per_step_current_and_timed_array_overrides():
    """A per-step current [T, B, N] equals the same current as a TimedArray in Brian2 (trial 0), and a
    per-trial TimedArray override changes only the trials it is given for."""
    values = np.zeros((30, 2))
    values[5:, 0] = 1.6
    values[10:, 1] = 2.5
    stim = b2.TimedArray(values, dt=10 * ms, name="stim_ta")
    G = b2.NeuronGroup(
        2,
        "dv/dt = (stim_ta(t, i) - v)/(10*ms) : 1",
        threshold="v > 1",
        reset="v = 0",
        method="exact",
        namespace={"stim_ta": stim},
        name="ta_cells",
    )
    H = b2.NeuronGroup(
        2,
        """dv/dt = (I - v)/(10*ms) : 1
    I : 1""",
        threshold="v > 1",
        reset="v = 0",
        method="exact",
        name="i_cells",
    )
    mon = b2.SpikeMonitor(G, name="ta_mon")
    net = b2.Network(G, H, mon)
    tw = biosnn.twin(net, batch_size=2)
    T = 3000
    per_step = torch.as_tensor(np.repeat(values, 100, axis=0)[:T], dtype=torch.float64)
    override = torch.as_tensor(np.stack([values, values[:, ::-1]], axis=1).copy())
    current = per_step[:, None, :].expand(T, 2, 2).clone()
    given = current.clone(), override.clone()
    with torch.no_grad():
        res = tw.run(0.3 * second, inputs={"i_cells": {"I": current}, "stim_ta": override})
    assert torch.equal(current, given[0]) and torch.equal(override, given[1])  # inputs left untouched
    net.run(0.3 * second, namespace={})
    np.testing.assert_array_equal(res.spikes["ta_cells"][0][0], mon.i[:])
    np.testing.assert_array_equal(np.asarray(res.spikes["ta_cells"][0][1]), np.asarray(mon.t_[:]))
    # H driven step by step by the same current: same spikes as the TimedArray-driven group
    np.testing.assert_array_equal(res.spikes["i_cells"][0][0], mon.i[:])
    # trial 1 has the TimedArray columns swapped: neuron 0 now behaves as neuron 1 did
    np.testing.assert_array_equal(res.spike_trains["ta_cells"][:, 1, 0], res.spike_trains["ta_cells"][:, 0, 1])


def test_bad_inputs_raise_clear_errors_before_running():
    inp, G, S = _generator_net()
    tw = biosnn.twin(b2.Network(inp, G, S), batch_size=2)
    t0 = float(tw.t)
    with pytest.raises(ShapeError, match="gen.spikes"):
        tw.run(10 * ms, inputs={"gen": {"spikes": torch.zeros(100, 3, 10)}})
    with pytest.raises(ShapeError, match="cells.v"):
        tw.run(10 * ms, inputs={"cells": {"v": torch.zeros(2, 4)}})
    with pytest.raises(NonFiniteError, match="cells.v"):
        tw.run(10 * ms, inputs={"cells": {"v": torch.full((2, 3), float("nan"))}})
    with pytest.raises(ParameterError, match="nosuchgroup"):
        tw.run(10 * ms, inputs={"nosuchgroup": {"v": torch.zeros(2, 3)}})
    with pytest.raises(ParameterError, match="cells"):
        tw.run(10 * ms, inputs={"cells": {"nosuchvar": torch.zeros(2, 3)}})
    with pytest.raises(UnitError, match="duration"):
        tw.run(10 * b2.mV)
    assert float(tw.t) == t0  # nothing ran
