"""The plasticity plots measure the rule in Brian2; checked against the published closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import Hz, ms, mV

from biosnn import plot
from biosnn.errors import ParameterError, UnitError, UnknownNameError


def _line(ax, gid):
    (line,) = [ln for ln in ax.lines if ln.get_gid() == gid]
    return line


def test_stdp_window_is_measured_and_matches_song2000():
    delta = np.linspace(-60, 60, 25) * ms
    ax = plot.stdp_window("stdp_additive", delta_t=delta, w_init=0.5).axes[0]
    x, y = _line(ax, "measured").get_data()
    np.testing.assert_allclose(x, np.linspace(-60, 60, 25))
    # Song, Miller & Abbott 2000: +A+ exp(-dt/tau) for dt >= 0, -A- exp(dt/tau) for dt < 0
    expected = np.where(x >= 0, 0.005 * np.exp(-x / 20.0), -0.00525 * np.exp(x / 20.0))
    np.testing.assert_allclose(y, expected, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(_line(ax, "formula").get_ydata(), expected, rtol=1e-9, atol=1e-15)
    assert ax.get_xlabel().endswith("(ms)") and "Delta w" in ax.get_ylabel()
    assert ax.get_title() == "stdp_additive: measured window"


def test_stdp_window_of_an_edited_rule_differs():
    from biosnn.plasticity import get_rule

    rule = get_rule("stdp_additive")(tau_plus=5 * ms, A_plus=0.01)
    y = _line(plot.stdp_window(rule, delta_t=[5, 10] * ms, formula=False).axes[0], "measured").get_ydata()
    np.testing.assert_allclose(y, 0.01 * np.exp(-np.array([5, 10]) / 5.0), rtol=1e-9)
    with pytest.raises(UnknownNameError, match="known:"):
        plot.stdp_window("no_such_rule")
    with pytest.raises(UnitError, match="delta_t"):
        plot.stdp_window("stdp_additive", delta_t=[5, 10] * mV)


def test_weight_dependence_multiplicative_vs_additive():
    w = np.linspace(0.1, 0.9, 5)
    mult = plot.weight_dependence("stdp_multiplicative", weights=w, delta_t=10 * ms).axes[0]
    decay = np.exp(-10 / 20.0)
    # van Rossum et al. 2000 / Guetig et al. 2003 with mu = 1: potentiation ~ (1 - w), depression ~ w
    np.testing.assert_allclose(_line(mult, "causal").get_ydata(), 0.01 * (1 - w) * decay, rtol=1e-9)
    np.testing.assert_allclose(_line(mult, "acausal").get_ydata(), -0.01 * w * decay, rtol=1e-9)
    add = plot.weight_dependence("stdp_additive", weights=w).axes[0]
    np.testing.assert_allclose(_line(add, "causal").get_ydata(), np.full(5, 0.005 * decay), rtol=1e-9)
    np.testing.assert_allclose(_line(add, "acausal").get_ydata(), np.full(5, -0.00525 * decay), rtol=1e-9)


def test_frequency_dependence_sums_all_pairs():
    freqs = np.array([5.0, 20.0, 50.0])
    n = 4
    ax = plot.frequency_dependence("stdp_additive", frequencies=freqs * Hz, n_pairs=n, dt=0.5 * ms).axes[0]
    x, causal = _line(ax, "causal").get_data()
    np.testing.assert_allclose(x, freqs)

    def window(d):
        return np.where(d >= 0, 0.005 * np.exp(-d / 0.02), -0.00525 * np.exp(d / 0.02))

    for f, measured in zip(freqs, causal):
        pre = np.arange(n) / f
        post = pre + 0.010
        # all-to-all pairing: every post with every pre at or before it, every pre with every post before it
        total = sum(window(tp - pre[pre <= tp]).sum() for tp in post) + sum(
            window(post[post < tq] - tq).sum() for tq in pre
        )
        assert measured == pytest.approx(total, rel=1e-9)
    assert causal[-1] < causal[0]  # at 50 Hz the next pre spike follows each post by 10 ms: depression
    with pytest.raises(ParameterError, match="delta_t"):
        plot.frequency_dependence("stdp_additive", delta_t=0 * ms)


def test_voltage_rule_is_measured_on_a_forced_neuron():
    # Clopath et al. 2010 reads the postsynaptic potential: the protocol's target is an integrate-and-fire
    # neuron forced to spike at the pairing times (2 ms plateau at 29.4 mV after each spike)
    ax = plot.frequency_dependence("clopath", frequencies=[10, 50] * Hz, n_pairs=5, dt=0.2 * ms, w_init=1.0).axes[0]
    causal = _line(ax, "causal").get_ydata()
    acausal = _line(ax, "acausal").get_ydata()
    assert acausal[0] < 0  # post-before-pre at 10 Hz: depression
    assert causal[1] > 0 and acausal[1] > 0  # 50 Hz: potentiation whatever the order (their Fig. 2)
    # depression at 10 Hz in closed form: 10 ms after a 2 ms plateau, ubar_minus - theta_minus =
    # 100 mV (1 - e^{-2/10}) e^{-8/10} per pairing; the discrete plateau is about one step shorter
    assert acausal[0] == pytest.approx(-5 * 14e-5 * 100 * (1 - np.exp(-0.2)) * np.exp(-0.8), rel=0.15)
    window = _line(plot.stdp_window("clopath", delta_t=[-10, 10] * ms, dt=0.2 * ms).axes[0], "measured").get_ydata()
    assert window[0] < 0 and np.isfinite(window).all()
