"""The event-driven trace engine (:mod:`biosnn.plasticity.engine`) given each rule's spec equals Brian2.

For every registered rule with a layer update, ``sequential_update(rule.layer_spec(dt=...), ...)`` runs the
rule's declarative description (traces, ``on_pre`` / ``on_post`` hooks) on spike trains with simultaneous
spikes and amplitudes large enough that the bounds clip (checked: the unclipped run differs), and must give
Brian2's weight change of the same trains through the rule's own ``on_pre`` / ``on_post`` strings (float64,
round-off). A malformed description raises an error naming what is wrong.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
import torch
from biosnn.plasticity import (
    RULES,
    CompetitiveStdp,
    IstdpVogels,
    StdpAdditive,
    StdpMultiplicative,
    StdpTriplet,
)
from biosnn.plasticity.engine import Trace, TraceRule, sequential_update
from biosnn.plasticity.protocols import layer_update_in_brian2
from brian2 import Hz, ms

from biosnn.errors import ParameterError, ShapeError, UnitError

T, B, I, O = 80, 2, 3, 2
DT = 0.5 * ms

#: Every rule with a layer update, configured so that the bounds clip during the run.
CASES = {
    "stdp_additive": [
        StdpAdditive(A_plus=0.25, A_minus=0.3, tau_plus=10 * ms, tau_minus=15 * ms),
        StdpAdditive(A_plus=0.25, A_minus=0.3, tau_plus=10 * ms, tau_minus=15 * ms, pairing="nearest"),
    ],
    "stdp_multiplicative": [
        StdpMultiplicative(lam=0.4, alpha=1.2, mu=0.7),
        StdpMultiplicative(lam=0.4, alpha=0.8, mu=0.3, pairing="nearest"),
    ],
    "stdp_triplet": [
        StdpTriplet(A2_plus=0.1, A3_plus=0.2, A2_minus=0.2, A3_minus=0.1),
        StdpTriplet(parameter_set="hippocampal", variant="nearest", A2_plus=0.2, A3_plus=0.3, A2_minus=0.3),
    ],
    "istdp_vogels": [IstdpVogels(eta=0.3, rho0=20 * Hz, w_max=1.0)],
    "stdp_competitive": [CompetitiveStdp(eta=0.2, x_tar=0.6, tau_trace=5 * ms)],
}
PARAMS = [rule for rules in CASES.values() for rule in rules]


def _ids(rule) -> str:
    p = rule.get_params()
    return f"{rule.name}-{p.get('pairing', p.get('variant', ''))}"


def test_every_rule_with_a_layer_update_has_a_spec_case():
    with_update = {name for name, cls in RULES.items() if callable(getattr(cls, "layer_update", None))}
    assert with_update == set(CASES)
    for name in with_update:
        assert callable(getattr(RULES[name], "layer_spec", None)), name


def _trains(rng):
    pre = (rng.random((T, B, I)) < 0.12).astype(float)
    post = (rng.random((T, B, O)) < 0.12).astype(float)
    pre[5], post[5] = 1.0, 1.0  # simultaneous pre and post spikes
    pre[30, 0], post[30, 0] = 1.0, 1.0
    return pre, post


@pytest.mark.parametrize("rule", PARAMS, ids=_ids)
def test_engine_on_the_rules_spec_equals_brian2(rule, rng):
    pre, post = _trains(rng)
    weight = rng.uniform(0.15, 0.85, (O, I))
    spec = rule.layer_spec(dt=DT)
    p, q, w = torch.tensor(pre), torch.tensor(post), torch.tensor(weight)
    got = sequential_update(spec, p, q, w)
    expected = layer_update_in_brian2(rule, pre, post, weight, dt=DT)
    assert got.dtype == torch.float64 and got.shape == (O, I)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
    # the bounds acted: without them the engine gives another answer (NaN for the multiplicative rule, whose
    # (w / w_max) ** mu has no real value once w < 0)
    free = sequential_update(dataclasses.replace(spec, w_min=-math.inf, w_max=math.inf), p, q, w)
    diff = (free - got).abs()
    assert bool((diff > 1e-3).any() or diff.isnan().any())
    # the rule's own layer update (whichever path it takes) is the engine's number
    torch.testing.assert_close(rule.layer_update(p, q, w, dt=DT), got, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("rule", PARAMS, ids=_ids)
def test_spec_traces_are_the_rules_event_driven_variables(rule):
    spec = rule.layer_spec(dt=DT)
    declared = set(re.findall(r"d(\w+)/dt = -\1 / (\w+) : [^\n]*\(event-driven\)", rule.model))
    assert {tr.name for tr in spec.traces} == {name for name, _ in declared}
    ns = rule.namespace()
    for name, tau in declared:
        trace = next(tr for tr in spec.traces if tr.name == name)
        assert trace.decay == pytest.approx(math.exp(-float(DT / ns[tau])), rel=1e-15)


def test_statement_order_within_a_pathway_is_kept():
    """A hook before or after its own pathway's trace increment differs by the increment (Brian2's order)."""

    def read_own(w, tr):
        return w + tr["xpost"]

    def spec(on_post):
        return TraceRule(
            name="order",
            traces=(Trace("xpre", "pre", 0.5), Trace("xpost", "post", 0.5, amplitude=0.25)),
            on_pre=("xpre",),
            on_post=on_post,
            w_min=-10.0,
            w_max=10.0,
        )

    post = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64).view(3, 1, 1)
    pre = torch.zeros(3, 1, 1, dtype=torch.float64)
    w = torch.zeros(1, 1, dtype=torch.float64)
    after = sequential_update(spec(("xpost", read_own)), pre, post, w)  # reads 0.25, then 0.0625 + 0.25
    before = sequential_update(spec((read_own, "xpost")), pre, post, w)  # reads 0, then 0.0625
    assert after.item() == 0.25 + 0.3125 and before.item() == 0.0625


def test_nearest_trace_is_set_not_added():
    spec = TraceRule(
        name="nearest",
        traces=(Trace("x", "pre", 0.5, amplitude=2.0, nearest=True),),
        on_pre=("x",),
        on_post=(lambda w, tr: w + tr["x"],),
        w_min=-10.0,
        w_max=10.0,
    )
    pre = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64).view(3, 1, 1)
    post = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).view(3, 1, 1)
    dw = sequential_update(spec, pre, post, torch.zeros(1, 1, dtype=torch.float64))
    assert dw.item() == 1.0  # the second spike sets x to 2 (not 3), halved once


# -- malformed specs --------------------------------------------------------------------------------------
def _spec(**over):
    kw = dict(
        name="bad",
        traces=(Trace("apre", "pre", 0.9, 0.1), Trace("apost", "post", 0.9, -0.1)),
        on_pre=("apre", lambda w, tr: w + tr["apost"]),
        on_post=("apost", lambda w, tr: w + tr["apre"]),
        w_min=0.0,
        w_max=1.0,
    )
    kw.update(over)
    return TraceRule(**kw)


def test_well_formed_spec_builds():
    assert _spec().name == "bad"


def test_hook_reading_an_unknown_trace_is_named():
    def potentiate(w, tr):
        return w + tr["apots"]

    with pytest.raises(ParameterError, match=r"on_post\[1\] \(potentiate\) reads trace 'apots'.*apost, apre"):
        _spec(on_post=("apost", potentiate))


def test_hook_returning_the_wrong_shape_is_named():
    def squash(w, tr):
        return (w + tr["apost"]).sum(-1)

    with pytest.raises(ShapeError, match=r"on_pre\[1\] \(squash\) must return the weight's shape"):
        _spec(on_pre=("apre", squash))
    with pytest.raises(ShapeError, match="got float"):
        _spec(on_pre=("apre", lambda w, tr: 1.0))


@pytest.mark.parametrize(
    "over, message",
    [
        (dict(on_pre=("apre", "apost")), r"on_pre\[1\] increments 'apost', a postsynaptic trace"),
        (dict(on_pre=("aprex", lambda w, tr: w)), r"on_pre\[0\] increments trace 'aprex', which the rule does not"),
        (dict(on_pre=(lambda w, tr: w,)), r"trace\(s\) apre never incremented"),
        (dict(on_pre=("apre", "apre")), "'apre' is incremented twice"),
        (dict(on_pre=("apre", 3)), r"on_pre\[1\] must be a trace name or a hook, got int"),
        (dict(traces=(Trace("apre", "pre", 0.9), Trace("apre", "post", 0.9))), "'apre' is defined twice"),
        (dict(traces=(Trace("apre", "left", 0.9), Trace("apost", "post", 0.9))), "side 'left'"),
        (dict(traces=(Trace("apre", "pre", 1.5), Trace("apost", "post", 0.9))), "'apre' has decay 1.5"),
        (dict(traces=(Trace("apre", "pre", 0.9, math.nan), Trace("apost", "post", 0.9))), "'apre' has amplitude"),
        (dict(traces=(Trace("a pre", "pre", 0.9), Trace("apost", "post", 0.9))), "'a pre' is not an identifier"),
        (dict(w_min=1.0, w_max=0.0), "w_min <= w_max"),
        (dict(name=""), "non-empty string name"),
    ],
)
def test_malformed_spec_raises_naming_it(over, message):
    with pytest.raises(ParameterError, match=message):
        _spec(**over)


def test_sequential_update_checks_its_inputs():
    spec = _spec()
    pre, post, w = torch.zeros(4, 2, 3), torch.zeros(4, 2, 2), torch.zeros(2, 3)
    with pytest.raises(ShapeError, match="rule 'bad'.*do not fit"):
        sequential_update(spec, pre, post, torch.zeros(3, 2))
    with pytest.raises(ShapeError, match="rule 'bad'.*do not fit"):
        sequential_update(spec, pre, torch.zeros(5, 2, 2), w)
    with pytest.raises(ShapeError, match="rule 'bad': expected pre"):
        sequential_update(spec, pre[0], post, w)
    with pytest.raises(ParameterError, match="needs a TraceRule"):
        sequential_update({"traces": ()}, pre, post, w)


def test_layer_spec_checks_dt():
    with pytest.raises(UnitError, match="'dt'"):
        StdpAdditive().layer_spec(dt=1.0)
    with pytest.raises(ParameterError, match="'dt'"):
        StdpAdditive().layer_spec(dt=-1 * ms)
