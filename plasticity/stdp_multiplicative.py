r"""Pair STDP with weight-dependent (multiplicative, soft-bound) updates (van Rossum et al. 2000; Guetig et al. 2003).

With the normalised weight :math:`\tilde w = w / w_\mathrm{max} \in [0, 1]` and
:math:`\Delta t = t_\mathrm{post} - t_\mathrm{pre}`, one pair changes the weight by

.. math::

    \Delta w = \begin{cases}
        +\lambda\, w_\mathrm{max}\, (1 - \tilde w)^{\mu}\, e^{-\Delta t/\tau_+}        & \Delta t \ge 0 \\
        -\alpha \lambda\, w_\mathrm{max}\, \tilde w^{\mu}\, e^{\Delta t/\tau_-}        & \Delta t < 0
    \end{cases}

The exponent :math:`\mu \in [0, 1]` interpolates between additive STDP (:math:`\mu = 0`, hard bounds) and
multiplicative STDP (:math:`\mu = 1`, van Rossum et al. 2000's depression proportional to :math:`w`, and
potentiation proportional to the distance to the bound), Guetig et al. 2003's family. The weight is clipped
to :math:`[0, w_\mathrm{max}]` after each update (only active for :math:`\mu = 0`).

Traces (unit increments; all-to-all adds 1, nearest sets 1):
:math:`\tau_+ \dot x_\mathrm{pre} = -x_\mathrm{pre}`, :math:`\tau_- \dot x_\mathrm{post} = -x_\mathrm{post}`;
presynaptic spike: :math:`w \leftarrow w - \alpha\lambda w_\mathrm{max} \tilde w^\mu x_\mathrm{post}`;
postsynaptic spike: :math:`w \leftarrow w + \lambda w_\mathrm{max} (1 - \tilde w)^\mu x_\mathrm{pre}`.
The weight dependence uses the weight at the moment of each update (as in NEST's ``stdp_synapse``), so a
train's total change is not a plain sum over pairs. Simultaneous spikes follow Brian2's order (pre pathway
first), as in :mod:`biosnn.plasticity.stdp_additive`.

Defaults follow NEST's ``stdp_synapse`` (an implementation of Guetig et al. 2003):
:math:`\lambda = 0.01`, :math:`\alpha = 1`, :math:`\mu = 1`, :math:`\tau_\pm = 20` ms, :math:`w_\mathrm{max} = 1`.

References
----------
van Rossum MCW, Bi GQ, Turrigiano GG (2000). Stable Hebbian learning from spike timing-dependent
plasticity. J Neurosci 20:8812-8821.
Guetig R, Aharonov R, Rotter S, Sompolinsky H (2003). Learning input correlations through nonlinear
temporally asymmetric Hebbian plasticity. J Neurosci 23:3697-3714.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import brian2
import numpy as np
import torch
from biosnn.plasticity.base import (
    PlasticityRule,
    as_float,
    as_quantity,
    bounds,
    choice,
    finite_float,
    positive,
    unit_name,
)
from biosnn.plasticity.engine import Trace, TraceRule, sequential_update
from biosnn.plasticity.layers import check_dt, check_layer_inputs, step_decay
from biosnn.plasticity.stdp_additive import additive_stdp_update

__all__ = ["StdpMultiplicative", "multiplicative_window", "multiplicative_stdp_update", "multiplicative_spec"]

PAIRINGS = ("all_to_all", "nearest")


def multiplicative_window(
    delta_t: np.ndarray | float,
    w: np.ndarray | float,
    *,
    lam: float,
    alpha: float,
    mu: float,
    tau_plus: float,
    tau_minus: float,
    w_max: float,
) -> np.ndarray:
    r"""Weight change of one pair at weight ``w`` (before the pair); ``delta_t = t_post - t_pre``."""
    d = np.asarray(delta_t, dtype=float)
    x = np.asarray(w, dtype=float) / w_max
    return np.where(
        d >= 0,
        lam * w_max * (1.0 - x) ** mu * np.exp(-d / tau_plus),
        -alpha * lam * w_max * x**mu * np.exp(d / tau_minus),
    )


def multiplicative_stdp_update(
    pre: torch.Tensor,
    post: torch.Tensor,
    weight: torch.Tensor,
    *,
    decay_plus: float,
    decay_minus: float,
    lam: float,
    alpha: float,
    mu: float,
    w_max: float,
    nearest: bool,
) -> torch.Tensor:
    """Weight change of multiplicative STDP over spike trains on a time grid, summed over the batch.

    Brian2's order per step: trace decay, presynaptic pathway, postsynaptic pathway; clipping to
    ``[0, w_max]`` per update. The increments depend on the current weight, so every sample runs step by
    step with its own copy of the weight (in batch chunks that fit a memory budget); ``mu = 0`` is the
    additive rule and takes its path. ``pre [T, B, I]``, ``post [T, B, O]``, ``weight [O, I]``; returns
    ``[O, I]``.
    """
    if mu == 0.0:  # additive with hard bounds [0, w_max]
        return additive_stdp_update(
            pre,
            post,
            weight,
            decay_plus=decay_plus,
            decay_minus=decay_minus,
            A_plus=lam * w_max,
            A_minus=alpha * lam * w_max,
            w_min=0.0,
            w_max=w_max,
            nearest=nearest,
        )
    return _multiplicative_sequential(
        pre,
        post,
        weight,
        decay_plus=decay_plus,
        decay_minus=decay_minus,
        lam=lam,
        alpha=alpha,
        mu=mu,
        w_max=w_max,
        nearest=nearest,
    )


@functools.lru_cache(maxsize=64)
def multiplicative_spec(
    *,
    decay_plus: float,
    decay_minus: float,
    lam: float,
    alpha: float,
    mu: float,
    w_max: float,
    nearest: bool,
) -> TraceRule:
    """The rule's layer update for the trace engine: :class:`StdpMultiplicative`'s ``on_pre`` / ``on_post``.

    ``on_pre``: ``xpre += 1`` (``= 1`` when nearest), ``w = clip(w - alpha lam w_max (w/w_max)^mu xpost)``;
    ``on_post``: ``xpost += 1``, ``w = clip(w + lam w_max (1 - w/w_max)^mu xpre)``; bounds ``[0, w_max]``.
    """
    dep_scale = alpha * lam * w_max
    pot_scale = lam * w_max

    def depress(w, tr):
        return w - dep_scale * (w / w_max) ** mu * tr["xpost"]

    def potentiate(w, tr):
        return w + pot_scale * (1.0 - w / w_max) ** mu * tr["xpre"]

    return TraceRule(
        name="stdp_multiplicative",
        traces=(Trace("xpre", "pre", decay_plus, 1.0, nearest), Trace("xpost", "post", decay_minus, 1.0, nearest)),
        on_pre=("xpre", depress),
        on_post=("xpost", potentiate),
        w_min=0.0,
        w_max=w_max,
    )


def _multiplicative_sequential(
    pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, **params: Any
) -> torch.Tensor:
    """:func:`multiplicative_stdp_update` step by step: the trace engine
    (:func:`~biosnn.plasticity.engine.sequential_update`) on :func:`multiplicative_spec` (``params`` are its
    keywords).
    """
    return sequential_update(multiplicative_spec(**params), pre, post, weight)


class StdpMultiplicative(PlasticityRule):
    r"""Weight-dependent pair STDP (Guetig et al. 2003 with exponent ``mu``); see the module docstring.

    Parameters
    ----------
    lam
        Learning rate :math:`\lambda` (dimensionless, relative to ``w_max``), default 0.01.
    alpha
        Depression/potentiation ratio :math:`\alpha`, default 1.
    mu
        Weight-dependence exponent in ``[0, 1]`` (0 additive, 1 multiplicative), default 1.
    tau_plus, tau_minus
        Window time constants, default 20 ms.
    w_max
        Upper bound; the weight takes its units (the lower bound is 0).
    pairing
        ``"all_to_all"`` or ``"nearest"``.

    Synaptic variables: ``w``, ``xpre``, ``xpost`` (dimensionless traces).
    """

    name: ClassVar[str] = "stdp_multiplicative"
    reference: ClassVar[str] = (
        "Guetig R, Aharonov R, Rotter S, Sompolinsky H (2003) Learning input correlations through nonlinear "
        "temporally asymmetric Hebbian plasticity. J Neurosci 23:3697-3714; van Rossum MCW, Bi GQ, "
        "Turrigiano GG (2000) J Neurosci 20:8812-8821"
    )
    tag: ClassVar[str] = "mstdp"

    #: the learning rate lambda scales both potentiation and depression (the traces are unit traces)
    learning_parameters: ClassVar[tuple[str, ...]] = ("lam",)

    def __init__(
        self,
        *,
        lam: Any = 0.01,
        alpha: Any = 1.0,
        mu: Any = 1.0,
        tau_plus: Any = 20 * brian2.ms,
        tau_minus: Any = 20 * brian2.ms,
        w_max: Any = 1.0,
        pairing: str = "all_to_all",
    ) -> None:
        _, w_max = bounds(0.0, w_max)
        self._set_params(
            lam=finite_float("lam", lam, low=0.0),
            alpha=finite_float("alpha", alpha, low=0.0),
            mu=finite_float("mu", mu, low=0.0, high=1.0),
            tau_plus=positive("tau_plus", tau_plus, brian2.second),
            tau_minus=positive("tau_minus", tau_minus, brian2.second),
            w_max=w_max,
            pairing=choice("pairing", pairing, PAIRINGS),
        )

    @property
    def model(self) -> str:
        u = unit_name(self._params["w_max"])
        return (
            f"w : {u}\n"
            "dxpre/dt = -xpre / tau_plus : 1 (event-driven)\n"
            "dxpost/dt = -xpost / tau_minus : 1 (event-driven)"
        )

    @property
    def on_pre(self) -> str:
        trace = "xpre = 1" if self._params["pairing"] == "nearest" else "xpre += 1"
        return f"{trace}\nw = clip(w - alpha * lam * w_max * (w / w_max)**mu * xpost, 0 * w_max, w_max)"

    @property
    def on_post(self) -> str:
        trace = "xpost = 1" if self._params["pairing"] == "nearest" else "xpost += 1"
        return f"{trace}\nw = clip(w + lam * w_max * (1 - w / w_max)**mu * xpre, 0 * w_max, w_max)"

    def namespace(self) -> dict[str, Any]:
        p = self._params
        return {
            "lam": p["lam"],
            "alpha": p["alpha"],
            "mu": p["mu"],
            "tau_plus": p["tau_plus"],
            "tau_minus": p["tau_minus"],
            "w_max": as_quantity(p["w_max"], self.weight_unit),
        }

    def window(self, delta_t: Any, w: Any) -> np.ndarray:
        """Weight change of one pair at ``delta_t = t_post - t_pre`` from weight ``w`` (weight units)."""
        p, u = self._params, self.weight_unit
        return multiplicative_window(
            np.asarray(delta_t / brian2.second, dtype=float),
            np.asarray(brian2.Quantity(w) / u, dtype=float),
            lam=p["lam"],
            alpha=p["alpha"],
            mu=p["mu"],
            tau_plus=float(p["tau_plus"] / brian2.second),
            tau_minus=float(p["tau_minus"] / brian2.second),
            w_max=as_float(p["w_max"], u),
        )

    def _layer_values(self, step: float) -> dict[str, Any]:
        """The keyword arguments of :func:`multiplicative_stdp_update` for a step in seconds."""
        p = self._params
        return dict(
            decay_plus=step_decay(step, p["tau_plus"]),
            decay_minus=step_decay(step, p["tau_minus"]),
            lam=p["lam"],
            alpha=p["alpha"],
            mu=p["mu"],
            w_max=as_float(p["w_max"], self.weight_unit),
            nearest=p["pairing"] == "nearest",
        )

    def layer_spec(self, *, dt: Any) -> TraceRule:
        """The rule's layer update at time step ``dt`` for the trace engine (:func:`multiplicative_spec`)."""
        return multiplicative_spec(**self._layer_values(check_dt(dt)))

    def layer_update(self, pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, *, dt: Any) -> torch.Tensor:
        """DW ``[O, I]`` for spike tensors ``pre [T, B, I]``, ``post [T, B, O]`` (see :func:`multiplicative_stdp_update`)."""  # noqa: E501
        step = check_layer_inputs(pre, post, weight, dt)
        return multiplicative_stdp_update(
            pre.to(weight.dtype), post.to(weight.dtype), weight, **self._layer_values(step)
        )
