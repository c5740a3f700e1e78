"""Plasticity library: one rule per module, each a small declarative object.

Every rule is a :class:`~biosnn.plasticity.base.PlasticityRule` subclass, registered by name in
:data:`RULES`; :func:`get_rule` looks a rule class up by name (unknown names raise
:class:`~biosnn.errors.UnknownNameError` listing the known ones).

>>> from biosnn.plasticity import get_rule
>>> rule = get_rule("stdp_additive")(pairing="nearest")
>>> S = rule.synapses(inputs, neurons, effect="ge_post += w")   # doctest: +SKIP
>>> set_learning(S, False)   # learning off: the rule's learning_parameters zeroed  # doctest: +SKIP
"""

from __future__ import annotations

from biosnn.plasticity.base import RULES, PlasticityRule, register_rule, set_learning
from biosnn.plasticity.clopath import ClopathRule
from biosnn.plasticity.istdp_vogels import IstdpVogels
from biosnn.plasticity.rstdp_izhikevich import RstdpIzhikevich
from biosnn.plasticity.stdp_additive import StdpAdditive
from biosnn.plasticity.stdp_competitive import CompetitiveStdp
from biosnn.plasticity.stdp_multiplicative import StdpMultiplicative
from biosnn.plasticity.stdp_triplet import StdpTriplet
from biosnn.plasticity.synaptic_scaling import SynapticScaling

for _rule in (
    StdpAdditive,
    StdpMultiplicative,
    StdpTriplet,
    IstdpVogels,
    ClopathRule,
    SynapticScaling,
    RstdpIzhikevich,
    CompetitiveStdp,
):
    register_rule(_rule)

# The EIHL contraction rule lives in its own module (another engineer's), written against the same base class.
from biosnn.plasticity.eihl_contraction import EIHLContraction  # noqa: E402

if "eihl_contraction" not in RULES:
    register_rule(EIHLContraction)


def get_rule(name: str) -> type[PlasticityRule]:
    """The rule class registered under ``name``."""
    return RULES[name]


__all__ = [
    "RULES",
    "PlasticityRule",
    "get_rule",
    "register_rule",
    "set_learning",
    "StdpAdditive",
    "StdpMultiplicative",
    "StdpTriplet",
    "IstdpVogels",
    "ClopathRule",
    "SynapticScaling",
    "RstdpIzhikevich",
    "EIHLContraction",
    "CompetitiveStdp",
]
