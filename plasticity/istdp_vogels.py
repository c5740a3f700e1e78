r"""Inhibitory STDP with a symmetric window and a target rate (Vogels et al. 2011).

Two event-driven traces with one time constant :math:`\tau`:

.. math::

    \tau \frac{dx_\mathrm{pre}}{dt} = -x_\mathrm{pre}, \qquad \tau \frac{dx_\mathrm{post}}{dt} = -x_\mathrm{post}

* presynaptic (inhibitory) spike: :math:`x_\mathrm{pre} \leftarrow x_\mathrm{pre} + 1`,
  :math:`w \leftarrow \mathrm{clip}(w + \eta (x_\mathrm{post} - \alpha))`;
* postsynaptic spike: :math:`x_\mathrm{post} \leftarrow x_\mathrm{post} + 1`,
  :math:`w \leftarrow \mathrm{clip}(w + \eta x_\mathrm{pre})`;

with the depression offset :math:`\alpha = 2 \rho_0 \tau` set by the target rate :math:`\rho_0`. For one
pair (one presynaptic spike), the window is symmetric:

.. math::

    \Delta w(\Delta t) = \eta \left(e^{-|\Delta t| / \tau} - \alpha\right).

On average :math:`\langle \dot w \rangle \propto \rho_\mathrm{pre}(\rho_\mathrm{post} - \rho_0)`, so
inhibition grows while the postsynaptic rate exceeds :math:`\rho_0` and shrinks below it, driving the
target to :math:`\rho_0` and balancing excitation with inhibition.

Defaults: :math:`\tau = 20` ms (paper), :math:`\rho_0 = 3` Hz and :math:`\eta = 0.01` (weights in units of
the base inhibitory conductance, bounded to :math:`[0, 100]`) as in Brian2's reproduction of the paper's
network; the paper reports :math:`\rho_0` between 3 and 5 Hz across its figures.

References
----------
Vogels TP, Sprekeler H, Zenke F, Clopath C, Gerstner W (2011). Inhibitory plasticity balances excitation
and inhibition in sensory pathways and memory networks. Science 334:1569-1573.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import brian2
import numpy as np
import torch
from biosnn.plasticity.base import (
    PlasticityRule,
    amplitude,
    as_float,
    as_quantity,
    bounds,
    positive,
    unit_name,
    weight_unit_of,
)
from biosnn.plasticity.engine import Trace, TraceRule, sequential_update
from biosnn.plasticity.layers import check_dt, check_layer_inputs, step_decay, trace_history, within_bounds

__all__ = ["IstdpVogels", "vogels_window", "vogels_stdp_update", "vogels_stdp_sequential", "vogels_spec"]


def vogels_window(delta_t: np.ndarray | float, *, eta: float, alpha: float, tau: float) -> np.ndarray:
    r"""Weight change of one pre/post pair: :math:`\eta (e^{-|\Delta t|/\tau} - \alpha)` (times in one unit)."""
    d = np.asarray(delta_t, dtype=float)
    return eta * (np.exp(-np.abs(d) / tau) - alpha)


def vogels_stdp_update(
    pre: torch.Tensor,
    post: torch.Tensor,
    weight: torch.Tensor,
    *,
    decay: float,
    eta: float,
    alpha: float,
    w_min: float,
    w_max: float,
) -> torch.Tensor:
    r"""Weight change of the Vogels rule over spike trains on a time grid, summed over the batch.

    Same order as Brian2 (trace decay, presynaptic pathway, postsynaptic pathway, clipping per update).
    Unclipped: :math:`\Delta W = \eta \sum_{t,b} [\mathrm{post}\, x^{\mathrm{pre}+} + x^{\mathrm{post}-}\mathrm{pre}
    - lpha\, \mathrm{pre}]`, exact when no sample can reach a bound; otherwise step by step per sample.
    ``pre [T, B, I]``, ``post [T, B, O]``, ``weight [O, I]``; returns ``[O, I]``.
    """
    _, x_pre = trace_history(pre, decay)
    x_post, _ = trace_history(post, decay)
    gain = eta * (torch.einsum("tbo,tbi->oi", post, x_pre) + torch.einsum("tbo,tbi->oi", x_post, pre))
    loss = (-eta * alpha * pre.sum(dim=(0, 1))).expand_as(gain)
    if within_bounds(weight.detach(), gain, loss, w_min, w_max):
        return gain + loss
    return vogels_stdp_sequential(pre, post, weight, decay=decay, eta=eta, alpha=alpha, w_min=w_min, w_max=w_max)


@functools.lru_cache(maxsize=64)
def vogels_spec(*, decay: float, eta: float, alpha: float, w_min: float, w_max: float) -> TraceRule:
    """The rule's layer update for the trace engine: :class:`IstdpVogels`'s ``on_pre`` / ``on_post``.

    ``on_pre``: ``xpre += 1``, ``w = clip(w + eta (xpost - alpha))``; ``on_post``: ``xpost += 1``,
    ``w = clip(w + eta xpre)``.
    """

    def on_pre_spike(w, tr):
        return w + eta * (tr["xpost"] - alpha)

    def on_post_spike(w, tr):
        return w + eta * tr["xpre"]

    return TraceRule(
        name="istdp_vogels",
        traces=(Trace("xpre", "pre", decay), Trace("xpost", "post", decay)),
        on_pre=("xpre", on_pre_spike),
        on_post=("xpost", on_post_spike),
        w_min=w_min,
        w_max=w_max,
    )


def vogels_stdp_sequential(pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, **params: Any) -> torch.Tensor:
    """:func:`vogels_stdp_update` step by step, one weight copy per sample (bounds clip per update).

    The trace engine (:func:`~biosnn.plasticity.engine.sequential_update`) on :func:`vogels_spec` (``params`` are
    its keywords).
    """
    return sequential_update(vogels_spec(**params), pre, post, weight)


class IstdpVogels(PlasticityRule):
    r"""Symmetric inhibitory STDP with target rate (Vogels et al. 2011); see the module docstring.

    Parameters
    ----------
    eta
        Learning rate (units of ``w_max``), default 0.01.
    rho0
        Target postsynaptic rate, default 3 Hz.
    tau
        Trace time constant :math:`\tau_\mathrm{STDP}`, default 20 ms.
    w_min, w_max
        Hard bounds; the weight takes the units of ``w_max`` (default 0 and 100, dimensionless).

    Synaptic variables: ``w``, ``xpre``, ``xpost`` (dimensionless traces).
    """

    name: ClassVar[str] = "istdp_vogels"
    reference: ClassVar[str] = (
        "Vogels TP, Sprekeler H, Zenke F, Clopath C, Gerstner W (2011) Inhibitory plasticity balances "
        "excitation and inhibition in sensory pathways and memory networks. Science 334:1569-1573"
    )
    tag: ClassVar[str] = "istdp"
    #: the learning rate eta scales every weight change (the traces are unit traces)
    learning_parameters: ClassVar[tuple[str, ...]] = ("eta",)

    def __init__(
        self,
        *,
        eta: Any = 0.01,
        rho0: Any = 3 * brian2.Hz,
        tau: Any = 20 * brian2.ms,
        w_min: Any = 0.0,
        w_max: Any = 100.0,
    ) -> None:
        w_min, w_max = bounds(w_min, w_max)
        unit = weight_unit_of(w_max)
        self._set_params(
            eta=amplitude("eta", eta, unit),
            rho0=amplitude("rho0", rho0, brian2.Hz),
            tau=positive("tau", tau, brian2.second),
            w_min=w_min,
            w_max=w_max,
        )

    @property
    def alpha(self) -> float:
        r"""The depression offset :math:`\alpha = 2 \rho_0 \tau` (dimensionless)."""
        return float(2 * self._params["rho0"] * self._params["tau"])

    @property
    def model(self) -> str:
        u = unit_name(self._params["w_max"])
        return (
            f"w : {u}\n"
            "dxpre/dt = -xpre / tau_istdp : 1 (event-driven)\n"
            "dxpost/dt = -xpost / tau_istdp : 1 (event-driven)"
        )

    @property
    def on_pre(self) -> str:
        return "xpre += 1\nw = clip(w + eta * (xpost - alpha_istdp), w_min, w_max)"

    @property
    def on_post(self) -> str:
        return "xpost += 1\nw = clip(w + eta * xpre, w_min, w_max)"

    def namespace(self) -> dict[str, Any]:
        p, u = self._params, self.weight_unit
        ns = {k: as_quantity(p[k], u) for k in ("eta", "w_min", "w_max")}
        ns.update(tau_istdp=p["tau"], alpha_istdp=self.alpha)
        return ns

    def window(self, delta_t: Any) -> np.ndarray:
        """The pair window at ``delta_t = t_post - t_pre`` (a Brian2 time quantity), in weight units."""
        p = self._params
        return vogels_window(
            np.asarray(delta_t / brian2.second, dtype=float),
            eta=as_float(p["eta"], self.weight_unit),
            alpha=self.alpha,
            tau=float(p["tau"] / brian2.second),
        )

    def _layer_values(self, step: float) -> dict[str, Any]:
        """The keyword arguments of :func:`vogels_stdp_update` / :func:`vogels_spec` for a step in seconds."""
        p, u = self._params, self.weight_unit
        return dict(
            decay=step_decay(step, p["tau"]),
            eta=as_float(p["eta"], u),
            alpha=self.alpha,
            w_min=as_float(p["w_min"], u),
            w_max=as_float(p["w_max"], u),
        )

    def layer_spec(self, *, dt: Any) -> TraceRule:
        """The rule's layer update at time step ``dt`` for the trace engine (:func:`vogels_spec`)."""
        return vogels_spec(**self._layer_values(check_dt(dt)))

    def layer_update(self, pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, *, dt: Any) -> torch.Tensor:
        """DW ``[O, I]`` for spike tensors ``pre [T, B, I]``, ``post [T, B, O]`` (see :func:`vogels_stdp_update`)."""
        step = check_layer_inputs(pre, post, weight, dt)
        return vogels_stdp_update(pre.to(weight.dtype), post.to(weight.dtype), weight, **self._layer_values(step))
