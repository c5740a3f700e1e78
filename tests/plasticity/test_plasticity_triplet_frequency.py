"""Triplet STDP reproduces the frequency dependence of the pairing protocol (Pfister & Gerstner 2006, Fig. 6).

Protocol (Sjoestroem, Turrigiano & Nelson 2001): 60 pre/post pairings at 0.1-50 Hz with
delta_t = t_post - t_pre = +10 ms or -10 ms; visual-cortex parameters. Brian2 runs the rule's synapses;
the reference is the closed-form kernel sum of the paper's equations (independent of the traces).
The hippocampal sets are checked on the triplet asymmetry of Wang et al. 2005 (the paper's Fig. 5).
"""

from __future__ import annotations

import numpy as np
import pytest
from biosnn.plasticity import StdpTriplet
from biosnn.plasticity.protocols import pairing_protocol, pairing_trains, run_spike_trains
from brian2 import Hz, ms, second

FREQS = np.array([0.1, 10.0, 20.0, 40.0, 50.0])


def closed_form(rule, freqs, delta_t):
    out = []
    for f in freqs:
        pre, post = pairing_trains(f * Hz, delta_t, 60)
        out.append(rule.kernel_sum(pre * second, post * second))
    return np.array(out)


@pytest.mark.parametrize("variant", ["all_to_all", "nearest"])
def test_pairing_frequency_dependence_in_brian2(variant):
    rule = StdpTriplet(parameter_set="visual_cortex", variant=variant, w_max=10.0)
    # Brian2 at the frequencies where 60 pairings fit in a few simulated seconds (1 ms grid is exact here)
    high = FREQS[1:]
    both = pairing_protocol(
        rule,
        np.concatenate([high, high]) * Hz,
        np.repeat([10.0, -10.0], high.size) * ms,
        n_pairs=60,
        w_init=1.0,
        dt=1 * ms,
    )
    plus, minus = both[: high.size], both[high.size :]
    ref_plus, ref_minus = closed_form(rule, FREQS, 10 * ms), closed_form(rule, FREQS, -10 * ms)
    np.testing.assert_allclose(plus, ref_plus[1:], rtol=1e-9)
    np.testing.assert_allclose(minus, ref_minus[1:], rtol=1e-9)
    # Sjoestroem et al. 2001 as fitted by Pfister & Gerstner: LTD for post-before-pre at low frequency,
    # LTP for both orders at high frequency, potentiation rising with frequency for pre-before-post.
    assert ref_minus[0] < -0.2 and minus[0] < -0.2 and minus[1] < -0.2  # 0.1, 10, 20 Hz: LTD
    assert minus[2] > 0.1 and minus[3] > 0.5  # 40, 50 Hz: LTP
    assert abs(ref_plus[0]) < 1e-3  # 0.1 Hz: no change
    assert np.all(np.diff(np.concatenate([[ref_plus[0]], plus])) > 0) and plus[-1] > 0.5


def test_pair_terms_alone_cannot_give_frequency_dependence():
    # With the triplet terms switched off the rule is pair STDP: post-before-pre stays LTD at 50 Hz.
    rule = StdpTriplet(A3_plus=0.0, A3_minus=0.0, A2_plus=5e-3, w_max=10.0)
    minus = closed_form(rule, FREQS, -10 * ms)
    assert np.all(minus < 0)


@pytest.mark.slow
def test_pairing_at_one_tenth_hertz_in_brian2():
    rule = StdpTriplet(parameter_set="visual_cortex", variant="all_to_all", w_max=10.0)
    minus = pairing_protocol(rule, [0.1] * Hz, -10 * ms, n_pairs=60, w_init=1.0, dt=1 * ms)
    np.testing.assert_allclose(minus, closed_form(rule, [0.1], -10 * ms), rtol=1e-9)
    assert minus[0] < -0.2


@pytest.mark.parametrize("variant", ["all_to_all", "minimal", "nearest", "nearest_minimal"])
def test_every_published_visual_cortex_variant_has_the_frequency_dependence(variant):
    rule = StdpTriplet(parameter_set="visual_cortex", variant=variant, w_max=10.0)
    plus, minus = closed_form(rule, FREQS, 10 * ms), closed_form(rule, FREQS, -10 * ms)
    assert np.all(minus[:3] < -0.2) and np.all(minus[3:] > 0.1)
    assert abs(plus[0]) < 1e-3 and np.all(np.diff(plus) > 0) and plus[-1] > 0.5
    if variant.endswith("minimal"):
        assert rule.values()["A3_minus"] == 0 and rule.values()["A2_plus"] == 0


def _triplets(n, d1, d2, order):
    """Times (ms) of ``n`` spike triplets at 1 Hz: pre-post-pre or post-pre-post with gaps d1, d2."""
    base = np.arange(n) * 1000.0 + 100.0
    first_and_last = np.concatenate([base, base + d1 + d2])
    middle = base + d1
    return (first_and_last, middle) if order == "pre-post-pre" else (middle, first_and_last)


@pytest.mark.parametrize("variant", ["all_to_all", "minimal", "nearest", "nearest_minimal"])
def test_hippocampal_triplets_are_asymmetric_as_in_wang_2005(variant):
    # Wang et al. 2005 (Pfister & Gerstner Fig. 5): 60 post-pre-post triplets (5, 5 ms) potentiate
    # strongly, 60 pre-post-pre triplets (5, 5 ms) change the weight little; pairs give the usual window.
    rule = StdpTriplet(parameter_set="hippocampal", variant=variant, w_max=10.0)
    ppp = rule.kernel_sum(*[t * ms for t in _triplets(60, 5, 5, "pre-post-pre")])
    pop = rule.kernel_sum(*[t * ms for t in _triplets(60, 5, 5, "post-pre-post")])
    assert pop > 0.25 and abs(ppp) < 0.1 and pop - ppp > 0.2
    base = np.arange(60) * 1000.0 + 100.0
    assert rule.kernel_sum(base * ms, (base + 10) * ms) > 0.1
    assert rule.kernel_sum(base * ms, (base - 10) * ms) < -0.05


def test_hippocampal_triplets_in_brian2_equal_the_closed_form():
    rule = StdpTriplet(parameter_set="hippocampal", variant="nearest", w_max=10.0)
    trains = [_triplets(4, 5, 5, "pre-post-pre"), _triplets(4, 5, 5, "post-pre-post")]
    final = run_spike_trains(
        rule, [p * ms for p, _ in trains], [q * ms for _, q in trains], w_init=1.0, duration=3200 * ms, dt=1 * ms
    )
    expected = [rule.kernel_sum(p * ms, q * ms) for p, q in trains]
    np.testing.assert_allclose(final - 1.0, expected, rtol=1e-9)
    assert final[1] - 1.0 > 0.01
