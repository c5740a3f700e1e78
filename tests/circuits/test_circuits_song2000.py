"""Song, Miller & Abbott (2000): additive STDP makes the weight distribution bimodal and stabilises the
output rate.

Default suite (reduced): 200 plastic inputs at 10 Hz with g_max = 0.075 (5 x the paper's, so the total
maximal drive equals 1000 inputs at 0.015) and 40 inhibitory inputs at g_inh = 0.25; A_+ = 0.025 g_max
and A_-/A_+ = 1.2 (the paper: 1000 inputs, A_+ = 0.005 g_max, A_-/A_+ = 1.05, which needs minutes of
simulated time); dt = 0.5 ms; 60 s simulated, started from uniform weights.

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
from brian2 import ms, second

from biosnn.circuits import get_circuit

REDUCED = dict(n_inputs=200, n_inh_inputs=40, g_max=0.075, g_inh=0.25, a_plus=0.025, a_ratio=1.2, dt=0.5 * ms,
               seed=2)


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


@pytest.mark.slow
def test_paper_parameters_move_weights_to_the_bounds():
    """The paper's parameters (1000 inputs, A_+ = 0.005 g_max, A_-/A_+ = 1.05, dt = 0.1 ms), 600 s simulated
    on the Cython target. With the paper's small steps the split is slow: measured fractions of weights
    within 10 % of 0 / of g_max were 0.10 / 0.10 at the start (uniform), 0.14 / 0.21 after 240 s and
    0.18 / 0.28 after 480 s and 0.21 / 0.30 after 600 s (middle 0.3-0.7 g_max: 0.23), with the output rate
    still rising (5 -> 12.5 Hz); a fully bimodal, stable state
    needs longer runs than this suite affords. Asserted: both bounds gain mass (> 0.15 and > 0.2 of all
    synapses, together > 0.4 against 0.2 for uniform weights) and the middle loses it."""
    import brian2

    brian2.prefs["codegen.target"] = "cython"
    circuit = get_circuit("song2000")(seed=0)
    circuit.run(600 * second)
    x = np.asarray(circuit.projections["input_output"].w[:]) / 0.015
    low, high = np.mean(x <= 0.1), np.mean(x >= 0.9)
    assert low > 0.15 and high > 0.2 and low + high > 0.4, (low, high)
    assert np.mean((x > 0.3) & (x < 0.7)) < 0.35  # uniform: 0.4
