r"""Competitive STDP with a presynaptic-trace target (Diehl & Cook 2015), the learning rule of a WTA layer.

A presynaptic trace :math:`x_\mathrm{pre}` counts recent presynaptic spikes; at each *postsynaptic* spike the
weight moves by the trace minus a target :math:`x_\mathrm{tar}`:

.. math::

    \tau_\mathrm{x} \frac{dx_\mathrm{pre}}{dt} = -x_\mathrm{pre},\qquad
    \text{pre spike: } x_\mathrm{pre} \leftarrow x_\mathrm{pre} + 1,\qquad
    \text{post: } w \leftarrow \mathrm{clip}(w + \eta\,(x_\mathrm{pre} - x_\mathrm{tar}), 0, w_\mathrm{max})

(Diehl & Cook's "pre-synaptic trace target" rule, their Eq. 3 without the weight dependence ``mu``).
Synapses from inputs that were active shortly before the postsynaptic spike are potentiated, those from
silent inputs (trace below :math:`x_\mathrm{tar}`) depressed. In a population with winner-take-all
lateral inhibition (only the neuron(s) closest to the input fire, :class:`biosnn.models.CompetitiveLIF`)
and with each neuron's input strengths renormalised after every update
(:class:`biosnn.learning.local.LocalLearner` with ``normalize="l2"``), the winner's weight vector moves
toward the (trace-filtered) input it won and the others do not move: this is online spherical k-means
(Rumelhart & Zipser 1985's competitive learning), each neuron becoming the prototype of a cluster of inputs.

Simultaneous spikes follow Brian2's pathway order: the presynaptic pathway runs first, so a postsynaptic
spike sees the trace including its own step's presynaptic spikes.

On PyTorch layers (:meth:`CompetitiveStdp.layer_update`) the update is
:math:`\Delta W_{oi} = \eta \sum_{t,b} \mathrm{post}_{tbo}\,(x^+_{tbi} - x_\mathrm{tar})` with :math:`x^+`
the trace after step :math:`t`'s spikes; it is exact (equal to Brian2's run of every sample from
``weight``) when the bounds cannot clip (:func:`~biosnn.plasticity.layers.within_bounds`), otherwise every
sample runs step by step with its own weight (:func:`competitive_stdp_sequential`).

Defaults: :math:`\tau_\mathrm{x} = 20` ms, :math:`\eta = 10^{-2}`, :math:`x_\mathrm{tar} = 0` (pure
Hebbian; with weight normalisation the depression comes from the renormalisation), :math:`w \in [0, 1]`.

References
----------
Diehl PU, Cook M (2015). Unsupervised learning of digit recognition using spike-timing-dependent
plasticity. Frontiers in Computational Neuroscience 9:99.
Rumelhart DE, Zipser D (1985). Feature discovery by competitive learning. Cognitive Science 9:75-112.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import brian2
import torch
from biosnn.plasticity.base import (
    PlasticityRule,
    amplitude,
    as_float,
    as_quantity,
    bounds,
    finite_float,
    positive,
    unit_name,
    weight_unit_of,
)
from biosnn.plasticity.engine import Trace, TraceRule, sequential_update
from biosnn.plasticity.layers import check_dt, check_layer_inputs, step_decay, trace_history, within_bounds

__all__ = ["CompetitiveStdp", "competitive_stdp_update", "competitive_stdp_sequential", "competitive_spec"]


def competitive_stdp_update(
    pre: torch.Tensor,
    post: torch.Tensor,
    weight: torch.Tensor,
    *,
    decay: float,
    eta: float,
    x_tar: float,
    w_min: float,
    w_max: float,
) -> torch.Tensor:
    r"""Weight change of the pre-trace-target rule over spike trains on a time grid, summed over the batch.

    :math:`\Delta W_{oi} = \eta \sum_{t,b} \mathrm{post}_{tbo} (x^+_{tbi} - x_\mathrm{tar})`, with the
    presynaptic trace :math:`x^+` after step :math:`t`'s spikes (decay ``exp(-dt/tau_trace)`` per step);
    exact when no sample's weight can reach a bound, otherwise per sample, step by step.

    Parameters
    ----------
    pre : ``[T, B, I]`` 0/1 spikes; post : ``[T, B, O]`` 0/1 spikes; weight : ``[O, I]``.

    Returns
    -------
    torch.Tensor
        :math:`\sum_b (W_b(T) - W)`, shape ``[O, I]``.
    """
    _, x_after = trace_history(pre, decay)
    drive = torch.einsum("tbo,tbi->oi", post, x_after)
    count = post.sum((0, 1))[:, None]
    dw = eta * (drive - x_tar * count)
    gain = eta * drive
    loss = -eta * x_tar * count.expand_as(drive)
    if within_bounds(weight.detach(), gain, loss, w_min, w_max):
        return dw
    return competitive_stdp_sequential(pre, post, weight, decay=decay, eta=eta, x_tar=x_tar, w_min=w_min, w_max=w_max)


@functools.lru_cache(maxsize=64)
def competitive_spec(*, decay: float, eta: float, x_tar: float, w_min: float, w_max: float) -> TraceRule:
    """The rule's layer update for the trace engine: :class:`CompetitiveStdp`'s ``on_pre`` / ``on_post``.

    ``on_pre``: ``xpre += 1``; ``on_post``: ``w = clip(w + eta (xpre - x_tar), w_min, w_max)``.
    """

    def move_to_trace(w, tr):
        return w + eta * (tr["xpre"] - x_tar)

    return TraceRule(
        name="stdp_competitive",
        traces=(Trace("xpre", "pre", decay),),
        on_pre=("xpre",),
        on_post=(move_to_trace,),
        w_min=w_min,
        w_max=w_max,
    )


def competitive_stdp_sequential(
    pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, **params: Any
) -> torch.Tensor:
    """:func:`competitive_stdp_update` step by step, one weight copy per sample (clipped per update).

    The trace engine (:func:`~biosnn.plasticity.engine.sequential_update`) on :func:`competitive_spec` (``params`` are
    its keywords).
    """
    return sequential_update(competitive_spec(**params), pre, post, weight)


class CompetitiveStdp(PlasticityRule):
    r"""Competitive STDP with a presynaptic-trace target (Diehl & Cook 2015); see the module docstring.

    Parameters
    ----------
    eta
        Learning rate per postsynaptic spike (units of ``w_max``), default 0.01.
    x_tar
        Target of the presynaptic trace (dimensionless, spikes), default 0.
    tau_trace
        Time constant of the presynaptic trace, default 20 ms.
    w_min, w_max
        Hard bounds; the weight takes the units of ``w_max`` (dimensionless by default, 0 and 1).

    Synaptic variables: ``w``, ``xpre`` (dimensionless trace).
    """

    name: ClassVar[str] = "stdp_competitive"
    reference: ClassVar[str] = (
        "Diehl PU, Cook M (2015) Unsupervised learning of digit recognition using spike-timing-dependent "
        "plasticity. Front Comput Neurosci 9:99"
    )
    tag: ClassVar[str] = "comp"
    learning_parameters: ClassVar[tuple[str, ...]] = ("eta",)

    def __init__(
        self, *, eta: Any = 0.01, x_tar: Any = 0.0, tau_trace: Any = 20 * brian2.ms, w_min: Any = 0.0, w_max: Any = 1.0
    ) -> None:
        w_min, w_max = bounds(w_min, w_max)
        unit = weight_unit_of(w_max)
        x_tar = finite_float("x_tar", x_tar, low=0.0)
        self._set_params(
            eta=amplitude("eta", eta, unit),
            x_tar=x_tar,
            tau_trace=positive("tau_trace", tau_trace, brian2.second),
            w_min=w_min,
            w_max=w_max,
        )

    @property
    def model(self) -> str:
        u = unit_name(self._params["w_max"])
        return f"w : {u}\ndxpre/dt = -xpre / tau_trace : 1 (event-driven)"

    @property
    def on_pre(self) -> str:
        return "xpre += 1"

    @property
    def on_post(self) -> str:
        return "w = clip(w + eta * (xpre - x_tar), w_min, w_max)"

    def namespace(self) -> dict[str, Any]:
        p, u = self._params, self.weight_unit
        ns = {k: as_quantity(p[k], u) for k in ("eta", "w_min", "w_max")}
        ns.update(x_tar=p["x_tar"], tau_trace=p["tau_trace"])
        return ns

    def _layer_values(self, step: float) -> dict[str, Any]:
        """The keyword arguments of :func:`competitive_stdp_update` / :func:`competitive_spec` (step in s)."""
        p, u = self._params, self.weight_unit
        return dict(
            decay=step_decay(step, p["tau_trace"]),
            eta=as_float(p["eta"], u),
            x_tar=float(p["x_tar"]),
            w_min=as_float(p["w_min"], u),
            w_max=as_float(p["w_max"], u),
        )

    def layer_spec(self, *, dt: Any) -> TraceRule:
        """The rule's layer update at time step ``dt`` for the trace engine (:func:`competitive_spec`)."""
        return competitive_spec(**self._layer_values(check_dt(dt)))

    def layer_update(self, pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, *, dt: Any) -> torch.Tensor:
        """DW ``[O, I]`` for spike tensors ``pre [T, B, I]``, ``post [T, B, O]`` (:func:`competitive_stdp_update`)."""
        step = check_layer_inputs(pre, post, weight, dt)
        return competitive_stdp_update(pre.to(weight.dtype), post.to(weight.dtype), weight, **self._layer_values(step))
