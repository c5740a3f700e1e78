"""Vogels et al. (2011): inhibitory STDP drives the E rate to rho0 and balances E and I currents.

Default suite (reduced): 400 E and 100 I neurons with epsilon = 0.4, which keeps the
paper's in-degree (160 E and 40 I inputs per neuron); learning rate eta = 0.2 (paper network: 0.01) so that
the rate converges within seconds. Protocol as in the paper: 0.5 s without plasticity (inhibitory weights
~0, the network fires at > 100 Hz), then plasticity on.

Asserted after 4 s of learning: the mean E rate over the last 2 s is rho0 = 3 Hz within +-1.5 Hz, and the
balance ratio -<I_inh>/<I_exc> of the recorded E neurons (I_exc including the 200 pA background) over
that window exceeds 0.7, from below 0.05 before learning (the remainder is the leak current: a neuron
near -55 mV leaks about 50 pA of the ~250 pA excitation). With rho0 = 6 Hz the rate settles near 6 Hz
instead (the target, not the network, sets it).

The paper's network (``-m slow``, ``test_paper_size_network_balances_but_approaches_rho0_slowly``): 8000 E,
2000 I, epsilon = 0.02, eta = 0.01 (Brian2's reproduction), Cython target. The module docstring has the
measured 30 s trajectory; within a test's budget the rate falls from > 100 Hz to about 10 Hz, not to rho0.
"""

from __future__ import annotations

import numpy as np
import pytest
from biosnn.circuits import get_circuit
from biosnn.circuits.analysis import balance_ratio, mean_rate
from biosnn.circuits.base import paper_comparison
from biosnn.circuits.vogels2011 import PAPER_FIGURES, set_learning_rate, synaptic_currents
from brian2 import Hz, second

REDUCED = dict(n_exc=400, n_inh=100, epsilon=0.4, n_record=40, seed=1)


def _run(rho0, learn=4.0):
    circuit = get_circuit("vogels2011")(**REDUCED, rho0=rho0)
    circuit.run(0.5 * second)
    i_exc, i_inh = synaptic_currents(circuit, start=0.2 * second)
    before = balance_ratio(i_exc, i_inh)
    mon = circuit.monitors["spikes_E"]
    rate_before = mean_rate(mon.i[:], mon.t[:], REDUCED["n_exc"], start=0.2 * second, stop=0.5 * second)
    set_learning_rate(circuit, 0.2)
    circuit.run(learn * second)
    end = circuit.t
    rate = mean_rate(mon.i[:], mon.t[:], REDUCED["n_exc"], start=end - 2 * second, stop=end)
    i_exc, i_inh = synaptic_currents(circuit, start=end - 2 * second)
    return circuit, rate_before, before, rate, balance_ratio(i_exc, i_inh)


def test_rate_converges_to_rho0_and_currents_balance():
    circuit, rate_before, before, rate, after = _run(3 * Hz)
    assert rate_before > 50 * Hz and before < 0.05
    assert abs(rate - 3 * Hz) < 1.5 * Hz, rate
    assert after > 0.7, after
    w = np.asarray(circuit.projections["IE"].w[:])
    assert np.all(np.isfinite(w)) and w.mean() > 0.5  # inhibition grew from 1e-10


@pytest.mark.slow
def test_target_rate_sets_the_rate():
    _, _, _, rate3, _ = _run(3 * Hz, learn=8.0)
    _, _, _, rate6, bal6 = _run(6 * Hz, learn=8.0)
    assert abs(rate3 - 3 * Hz) < 1.0 * Hz and abs(rate6 - 6 * Hz) < 1.5 * Hz, (rate3, rate6)
    assert bal6 > 0.6


@pytest.mark.slow
def test_paper_size_network_balances_but_approaches_rho0_slowly():
    """The paper's network at eta = 0.01: 0.5 s without plasticity, then 6 s with it (about 5 minutes on
    2 cores). Measured with 1 s off (module docstring): 166.6 Hz before, 71.8 / 16.7 / 10.0 Hz in the 1st,
    2nd and 5th s of learning, balance 0.76; 5.9 Hz after 29 s; this test: 167 Hz, then 10.2 Hz and balance 0.76
    in the 6th s of learning (2 min 51 s). Asserted: runaway excitation before, then a
    rate below 15 Hz (a tenth of it) with currents balanced within 0.7, yet still above the paper's
    rho0 = 3 Hz, as measured (the rule needs minutes at this learning rate)."""
    import brian2

    brian2.prefs["codegen.target"] = "cython"
    circuit = get_circuit("vogels2011")(n_record=50, seed=1)
    mon = circuit.monitors["spikes_E"]
    circuit.run(0.5 * second)
    rate_before = mean_rate(mon.i[:], mon.t[:], 8000, start=0.2 * second, stop=0.5 * second)
    i_exc, i_inh = synaptic_currents(circuit, start=0.2 * second)
    before = balance_ratio(i_exc, i_inh)
    set_learning_rate(circuit, 0.01)
    circuit.run(6 * second)
    end = circuit.t
    rate = mean_rate(mon.i[:], mon.t[:], 8000, start=end - 1 * second, stop=end)
    i_exc, i_inh = synaptic_currents(circuit, start=end - 1 * second)
    after = balance_ratio(i_exc, i_inh)
    print(paper_comparison(PAPER_FIGURES, {"rate": float(rate / Hz), "balance": after}), rate_before, before)
    assert rate_before > 100 * Hz and before < 0.05
    assert after > 0.7, after
    assert 4 * Hz < rate < 15 * Hz, rate
