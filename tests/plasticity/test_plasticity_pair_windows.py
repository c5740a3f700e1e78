"""Pair rules in Brian2 (numpy target) against their closed-form windows and pair sums.

Every measurement is a real Brian2 simulation of spike generators through the rule's own Synapses; the
references are the closed-form windows (sums over spike pairs), written independently of the traces.
"""

from __future__ import annotations

import brian2
import numpy as np
import pytest
from biosnn.plasticity import IstdpVogels, StdpAdditive, StdpMultiplicative
from biosnn.plasticity.protocols import measure_window, run_spike_trains
from biosnn.plasticity.stdp_additive import additive_window, pair_sum
from brian2 import ms

# 41 spike-time differences on the 0.1 ms grid, including 0 (simultaneous spikes).
DELTAS = np.linspace(-60, 60, 41) * ms


@pytest.mark.parametrize("pairing", ["all_to_all", "nearest"])
def test_additive_window_matches_closed_form(pairing):
    rule = StdpAdditive(A_plus=0.01, A_minus=0.012, tau_plus=17 * ms, tau_minus=34 * ms, pairing=pairing)
    dw = measure_window(rule, DELTAS, w_init=0.5)
    expected = rule.window(DELTAS)
    assert np.allclose(dw, expected, rtol=1e-9, atol=1e-15)
    # sanity of the shape itself: LTP for causal pairs, LTD for acausal, A_plus at exactly zero
    assert np.all(dw[DELTAS > 0] > 0) and np.all(dw[DELTAS < 0] < 0)
    assert dw[20] == pytest.approx(0.01, rel=1e-12)


def test_multiplicative_window_depends_on_weight():
    rule = StdpMultiplicative(lam=0.02, alpha=1.05, mu=0.5, tau_plus=20 * ms, tau_minus=20 * ms)
    w0 = np.array([0.1, 0.5, 0.9])
    d = np.tile(DELTAS / ms, 3) * ms
    w = np.repeat(w0, DELTAS.size)
    dw = measure_window(rule, d, w_init=w)
    assert np.allclose(dw, rule.window(d, w), rtol=1e-9, atol=1e-15)
    # soft bounds: potentiation shrinks and depression grows as the weight rises
    ltp = dw.reshape(3, -1)[:, 25]
    ltd = dw.reshape(3, -1)[:, 15]
    assert ltp[0] > ltp[1] > ltp[2] > 0 and ltd[0] > ltd[1] > ltd[2]


def test_multiplicative_mu_one_is_van_rossum():
    # mu = 1: depression proportional to w, potentiation to (w_max - w)
    rule = StdpMultiplicative(lam=0.01, alpha=1.0, mu=1.0, w_max=2.0)
    dw = measure_window(rule, [-10, 10] * ms, w_init=[0.5, 0.5])
    assert dw[0] == pytest.approx(-0.01 * 0.5 * np.exp(-0.5), rel=1e-9)
    assert dw[1] == pytest.approx(0.01 * 1.5 * np.exp(-0.5), rel=1e-9)


def test_vogels_symmetric_window():
    rule = IstdpVogels(eta=0.05, rho0=5 * brian2.Hz, tau=20 * ms)
    dw = measure_window(rule, DELTAS, w_init=10.0)
    assert np.allclose(dw, rule.window(DELTAS), rtol=1e-9, atol=1e-15)
    # symmetric in delta_t and depressing far from coincidence (alpha = 2 * 5 Hz * 20 ms = 0.2)
    assert np.allclose(dw, dw[::-1], rtol=1e-9)
    assert dw[0] == pytest.approx(0.05 * (np.exp(-3) - 0.2), rel=1e-9)


def _window_fn(rule):
    p = rule.get_params()
    return lambda d: additive_window(
        d,
        A_plus=p["A_plus"],
        A_minus=p["A_minus"],
        tau_plus=float(p["tau_plus"] / ms),
        tau_minus=float(p["tau_minus"] / ms),
    )


# NEST-style edge cases (times in ms): simultaneous spikes, and pairs/triplets where the pairing schemes differ.
EDGE_CASES = [
    ([10.0], [10.0]),  # simultaneous: counts as delta_t = 0+ (LTP A_plus)
    ([10.0, 20.0], [20.0]),  # pre-pre/post, second pre simultaneous with post
    ([10.0, 20.0], [25.0]),  # pre-pre-post: all-to-all adds two LTP terms, nearest one
    ([30.0], [10.0, 20.0]),  # post-post-pre: all-to-all two LTD terms, nearest one
    ([10.0, 30.0], [20.0]),  # pre-post-pre
    ([20.0], [10.0, 30.0]),  # post-pre-post
    ([10.0, 15.0, 40.0], [12.0, 40.0, 50.0]),  # mixed, with a simultaneous pair
]


@pytest.mark.parametrize("pairing", ["all_to_all", "nearest"])
def test_additive_edge_cases_and_spike_trains(pairing, rng):
    rule = StdpAdditive(A_plus=0.01, A_minus=0.0105, w_max=100.0, pairing=pairing)
    pre = [np.array(p) for p, _ in EDGE_CASES]
    post = [np.array(q) for _, q in EDGE_CASES]
    # plus 6 random Poisson-like train pairs (20 Hz for 300 ms) on the 0.1 ms grid
    for _ in range(6):
        pre.append(np.unique(np.round(rng.uniform(0, 300, rng.poisson(6)), 1)))
        post.append(np.unique(np.round(rng.uniform(0, 300, rng.poisson(6)), 1)))
    final = run_spike_trains(rule, [p * ms for p in pre], [q * ms for q in post], w_init=50.0, duration=301 * ms)
    win = _window_fn(rule)
    expected = np.array([pair_sum(p, q, window=win, pairing=pairing) for p, q in zip(pre, post)])
    assert np.allclose(final - 50.0, expected, rtol=1e-9, atol=1e-14)
    # the schemes really differ where they should
    if pairing == "all_to_all":
        assert final[2] - 50.0 == pytest.approx(win(15.0) + win(5.0), rel=1e-9)
    else:
        assert final[2] - 50.0 == pytest.approx(win(5.0), rel=1e-9)
    assert final[0] - 50.0 == pytest.approx(0.01, rel=1e-12)


def test_additive_hard_bounds_clip_each_update():
    rule = StdpAdditive(A_plus=0.3, A_minus=0.3, w_max=1.0)
    # three causal pairs at 0 ms delay from w = 0.5: 0.8, then clipped at 1.0; acausal pairs down to 0
    final = run_spike_trains(
        rule,
        [[10, 30, 50] * ms, [12, 32, 52] * ms],
        [[10, 30, 50] * ms, [10, 30, 50] * ms],
        w_init=0.5,
        duration=60 * ms,
    )
    assert final[0] == pytest.approx(1.0)
    assert final[1] == pytest.approx(0.0)
