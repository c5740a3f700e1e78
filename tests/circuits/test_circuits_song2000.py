"""Song, Miller & Abbott (2000): additive STDP makes the weight distribution bimodal and stabilises the
output rate.

Default suite (reduced): 200 plastic inputs at 10 Hz with g_max = 0.075 (5 x the paper's, so the total
maximal drive equals 1000 inputs at 0.015) and 40 inhibitory inputs at g_inh = 0.25; A_+ = 0.025 g_max
and A_-/A_+ = 1.2 (the paper: 1000 inputs, A_+ = 0.005 g_max, A_-/A_+ = 1.05, which meets the bimodal
criteria after about 700 s of simulated time and is stationary after about 2500 s: the module docstring);
dt = 0.5 ms; 60 s simulated, started from uniform weights.

Asserted, "bimodal": the 20 % of the weight range next to 0 and the 20 % next to g_max together hold
more than 60 % of the synapses (uniform: 40 %), each end holds more than the middle 20 %, and each end
bin (10 % of the range) holds more than twice the least populated interior bin. "Stabilised": the output
rates of the last two 10 s windows differ by less than 35 %, and the rate stays far below what the
inputs drive when all weights sit at g_max.

Measured (seed 2): weights per tenth of g_max after 60 s [64 12 12 11 5 9 17 15 18 37] (ends: 65.5 %);
output rate 10.9 Hz (0-10 s), 9.1 (10-40 s), 7.6 (40-50 s), 7.3 Hz (50-60 s); all weights at g_max: 188 Hz.
"""

from __future__ import annotations

import numpy as np
import pytest
from biosnn.circuits import get_circuit
from biosnn.circuits.base import paper_comparison, run_standalone
from biosnn.circuits.song2000 import BRIAN2_EXAMPLE, PAPER_FIGURES, weight_statistics
from brian2 import ms, second

REDUCED = dict(n_inputs=200, n_inh_inputs=40, g_max=0.075, g_inh=0.25, a_plus=0.025, a_ratio=1.2, dt=0.5 * ms, seed=2)


def _rates(circuit, edges_s):
    t = np.asarray(circuit.monitors["spikes_output"].t[:] / second)
    counts, _ = np.histogram(t, bins=edges_s)
    return counts / np.diff(edges_s)


def _assert_bimodal(w, g_max):
    x = np.asarray(w) / g_max
    hist, _ = np.histogram(x, bins=10, range=(0, 1))
    low, high = np.mean(x <= 0.2), np.mean(x >= 0.8)
    middle = np.mean((x > 0.4) & (x < 0.6))
    assert low + high > 0.6, hist
    assert low > middle and high > middle, hist
    assert hist[0] > 2 * hist[1:-1].min() and hist[-1] > 2 * hist[1:-1].min(), hist


def test_weights_bimodal_and_rate_stabilised():
    circuit = get_circuit("song2000")(**REDUCED)
    syn = circuit.projections["input_output"]
    w0 = np.asarray(syn.w[:]).copy()
    assert np.mean(w0 / REDUCED["g_max"] <= 0.2) + np.mean(w0 / REDUCED["g_max"] >= 0.8) < 0.5  # uniform start
    circuit.run(60 * second)
    _assert_bimodal(syn.w[:], REDUCED["g_max"])
    rates = _rates(circuit, np.array([0, 10, 40, 50, 60.0]))
    late_a, late_b = rates[-2], rates[-1]
    assert late_a > 0.5 and late_b > 0.5, rates  # still firing
    assert abs(late_a - late_b) < 0.35 * max(late_a, late_b), rates

    # all weights at g_max drive the neuron far harder: STDP keeps the rate well below that
    saturated = get_circuit("song2000")(**dict(REDUCED, w_init="max", a_plus=0.0))
    saturated.run(2 * second)
    sat_rate = saturated.monitors["spikes_output"].num_spikes / 2.0
    assert sat_rate > 3 * late_b, (sat_rate, rates)


PAPER_T = 1500.0  # s


def _standalone(duration, **kwargs):
    """Run song2000(**kwargs) for ``duration`` on Brian2's C++ standalone device: statistics and histogram."""

    def collect(circuit):
        x = np.asarray(circuit.projections["input_output"].w[:]) / circuit.parameters["g_max"]
        hist, _ = np.histogram(x, bins=10, range=(0, 1))
        spikes = np.asarray(circuit.monitors["spikes_output"].t[:] / second).copy()
        return weight_statistics(circuit), hist, spikes

    return run_standalone(lambda: get_circuit("song2000")(**kwargs), duration, collect)


@pytest.mark.slow
def test_paper_parameters_split_the_weights():
    """The paper's own settings (1000 inputs at 10 Hz, 200 inhibitory, A_+ = 0.005 g_max, A_-/A_+ = 1.05,
    g_max = 0.015, dt = 0.1 ms), 1500 s (PAPER_T) simulated on Brian2's C++ standalone device (the Cython target
    needs about 1.5 s of CPU per simulated second here; standalone about 0.05 s). Measured (seed 0): 0.300 of the weights within 10 % of 0, 0.395 within
    10 % of g_max, 0.077 in 0.3-0.7 g_max, output 14.6 Hz over the last 10 s (6 min on 2 shared cores).
    Asserted: every numeric PAPER_FIGURES criterion of "bimodal" is met, and the output rate of the last
    two 200 s windows differs by less than 20 % (stabilised)."""  # noqa: E501
    stats, hist, spikes = _standalone(PAPER_T * second, seed=0)
    print(paper_comparison(PAPER_FIGURES, stats), hist)
    for key in ("ends", "low", "high", "middle"):
        assert PAPER_FIGURES[key].met(stats[key]), (key, stats, hist)
    a = np.sum((spikes >= PAPER_T - 400) & (spikes < PAPER_T - 200)) / 200
    b = np.sum(spikes >= PAPER_T - 200) / 200
    assert abs(a - b) < 0.2 * max(a, b), (a, b)


@pytest.mark.slow
def test_brian2_example_settings_split_as_fast_as_the_example():
    """Brian2's examples/synapses/STDP.py settings (BRIAN2_EXAMPLE: 15 Hz, A_+ = 0.01 g_max, tau_m = 10 ms,
    E_L = -74 mV, g_max = 0.01, no inhibition) for 100 s. That example itself (run verbatim, seed 0, with its
    linearised synaptic current) ends with 0.29 of the weights within 10 % of 0 and 0.17 within 10 % of
    g_max (middle 0.3-0.7 g_max: 0.20), output 25 Hz: the "bimodal after 100 s" of the issue. This
    conductance-based circuit at the same settings: 0.231 / 0.174, middle 0.247, output 18.5 Hz (the same
    numbers on the Cython target). Asserted: the same stage of the split
    (each end above 0.15, the middle below 0.3), so the circuit is not slower than the example; the paper's
    settings are (half the A_+, two thirds of the input rate, a lower output rate)."""
    stats, hist, _ = _standalone(100 * second, seed=0, **BRIAN2_EXAMPLE)
    print(stats, hist)
    assert stats["low"] > 0.15 and stats["high"] > 0.15 and stats["middle"] < 0.3, (stats, hist)


def test_same_seed_same_inputs_while_an_older_circuit_is_alive():
    """Brian2 runs a slot's objects by order, then by name; a second circuit's numbered names
    ("song_input_1" after "song_input_inh_1") used to swap the two Poisson groups' draws."""
    import brian2
    import numpy as np
    from biosnn.circuits.song2000 import song2000

    def inhibitory_spikes():
        circuit = song2000(n_inputs=50, n_inh_inputs=20, seed=3)
        inh = circuit.populations["input_inh"]
        monitor = brian2.SpikeMonitor(inh)
        circuit.network.add(monitor)
        circuit.run(100 * brian2.ms)
        return circuit, np.asarray(monitor.t_[:]), np.asarray(monitor.i[:])

    first, t1, i1 = inhibitory_spikes()
    second, t2, i2 = inhibitory_spikes()  # the first circuit is still alive: its names are taken
    assert first.populations["input_inh"].name != second.populations["input_inh"].name
    assert len(t1) > 10 and np.array_equal(t1, t2) and np.array_equal(i1, i2)
