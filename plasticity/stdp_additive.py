r"""Pair-based additive STDP with hard bounds (Song, Miller & Abbott 2000).

For one pre/post spike pair with :math:`\Delta t = t_\mathrm{post} - t_\mathrm{pre}`:

.. math::

    \Delta w(\Delta t) = \begin{cases}
        +A_+ \, e^{-\Delta t / \tau_+} & \Delta t \ge 0 \\
        -A_- \, e^{\Delta t / \tau_-}  & \Delta t < 0
    \end{cases}

and after every update :math:`w \leftarrow \min(\max(w, w_\mathrm{min}), w_\mathrm{max})`.
Implemented with two event-driven traces (Morrison, Diesmann & Gerstner 2008, section 4.1):

.. math::

    \tau_+ \frac{da_\mathrm{pre}}{dt} = -a_\mathrm{pre}, \qquad
    \tau_- \frac{da_\mathrm{post}}{dt} = -a_\mathrm{post}

* presynaptic spike: :math:`a_\mathrm{pre} \leftarrow a_\mathrm{pre} + A_+` (all-to-all) or
  :math:`a_\mathrm{pre} \leftarrow A_+` (nearest), then :math:`w \leftarrow \mathrm{clip}(w + a_\mathrm{post})`;
* postsynaptic spike: :math:`a_\mathrm{post} \leftarrow a_\mathrm{post} - A_-` (all-to-all) or
  :math:`a_\mathrm{post} \leftarrow -A_-` (nearest), then :math:`w \leftarrow \mathrm{clip}(w + a_\mathrm{pre})`.

Pairing schemes (Morrison et al. 2008, Fig. 7): ``"all_to_all"`` sums the window over every pair;
``"nearest"`` is the symmetric nearest-spike scheme: each postsynaptic spike pairs with the latest
presynaptic spike before it, each presynaptic spike with the latest postsynaptic spike before it.

Simultaneous spikes: Brian2 runs the presynaptic pathway before the postsynaptic one in a time step, so a
pre and a post spike in the same step count as :math:`\Delta t = 0^+` (potentiation :math:`A_+`), and a
presynaptic spike never pairs with a postsynaptic spike of its own step as depression. :func:`pair_sum`,
the closed-form reference, states the same convention (NEST instead skips equal-time pairs).

Defaults (Song et al. 2000): :math:`\tau_+ = \tau_- = 20` ms, :math:`A_+ = 0.005\,w_\mathrm{max}`,
:math:`A_- / A_+ = 1.05`, :math:`w \in [0, w_\mathrm{max}]`.

References
----------
Song S, Miller KD, Abbott LF (2000). Competitive Hebbian learning through spike-timing-dependent synaptic
plasticity. Nature Neuroscience 3:919-926.
Morrison A, Diesmann M, Gerstner W (2008). Phenomenological models of synaptic plasticity based on spike
timing. Biological Cybernetics 98:459-478.
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
    choice,
    positive,
    unit_name,
    weight_unit_of,
)
from biosnn.plasticity.engine import Trace, TraceRule, sequential_update
from biosnn.plasticity.layers import check_dt, check_layer_inputs, step_decay, trace_history, within_bounds

__all__ = [
    "StdpAdditive",
    "additive_window",
    "pair_sum",
    "additive_stdp_update",
    "additive_stdp_sequential",
    "additive_spec",
]

PAIRINGS = ("all_to_all", "nearest")


# -- pure mathematics ---------------------------------------------------------------------------------
def additive_window(
    delta_t: np.ndarray | float, *, A_plus: float, A_minus: float, tau_plus: float, tau_minus: float
) -> np.ndarray:
    r"""The STDP window :math:`\Delta w(\Delta t)`; ``delta_t = t_post - t_pre`` and taus in one time unit.

    :math:`\Delta t = 0` counts as causal (potentiation), as in Brian2's pathway order.
    """
    d = np.asarray(delta_t, dtype=float)
    return np.where(d >= 0, A_plus * np.exp(-d / tau_plus), -A_minus * np.exp(d / tau_minus))


def pair_sum(pre_times: np.ndarray, post_times: np.ndarray, *, window, pairing: str = "all_to_all") -> float:
    r"""Total weight change of a spike train pair, summed pair by pair (no bounds), in closed form.

    Parameters
    ----------
    pre_times, post_times
        Spike times (one time unit shared with ``window``).
    window
        ``window(delta_t) -> dw`` with ``delta_t = t_post - t_pre``.
    pairing
        ``"all_to_all"``: every post spike pairs with every pre spike at or before it (potentiation) and
        every pre spike with every post spike strictly before it (depression). ``"nearest"``: each post
        spike pairs only with the latest pre spike at or before it, each pre spike only with the latest
        post spike strictly before it.
    """
    choice("pairing", pairing, PAIRINGS)
    pre = np.sort(np.asarray(pre_times, dtype=float))
    post = np.sort(np.asarray(post_times, dtype=float))
    total = 0.0
    for tp in post:  # potentiation: pre at or before post
        earlier = pre[pre <= tp]
        if earlier.size:
            total += float(np.sum(window(tp - (earlier if pairing == "all_to_all" else earlier[-1:]))))
    for tq in pre:  # depression: post strictly before pre
        earlier = post[post < tq]
        if earlier.size:
            total += float(np.sum(window((earlier if pairing == "all_to_all" else earlier[-1:]) - tq)))
    return total


def additive_stdp_update(
    pre: torch.Tensor,
    post: torch.Tensor,
    weight: torch.Tensor,
    *,
    decay_plus: float,
    decay_minus: float,
    A_plus: float,
    A_minus: float,
    w_min: float,
    w_max: float,
    nearest: bool,
) -> torch.Tensor:
    r"""Weight change of additive STDP over spike trains on a time grid, summed over the batch.

    Equals Brian2's simulation of the same trains with every sample starting from ``weight``: traces decay
    by ``decay = exp(-dt/tau)`` per step; in a step the presynaptic pathway (depression by the
    postsynaptic trace) runs before the postsynaptic one (potentiation by the presynaptic trace, which
    includes the step's own presynaptic spikes); the weight is clipped after each update.

    With :math:`x^+_t` the presynaptic trace after step :math:`t`'s spikes and :math:`y^-_t` the (negative)
    postsynaptic trace before them, the unclipped change is
    :math:`\Delta W_{oi} = \sum_{t,b} \mathrm{post}_{tbo} x^+_{tbi} + y^-_{tbo} \mathrm{pre}_{tbi}`; it is
    exact when :func:`~biosnn.plasticity.layers.within_bounds` holds, otherwise each sample runs step by
    step with its own weight (:func:`additive_stdp_sequential`).

    Parameters
    ----------
    pre : ``[T, B, I]`` 0/1 spikes; post : ``[T, B, O]`` 0/1 spikes; weight : ``[O, I]``.

    Returns
    -------
    torch.Tensor
        :math:`\sum_b (W_b(T) - W)`, shape ``[O, I]``.
    """
    _, x_after = trace_history(pre, decay_plus, amplitude=A_plus, nearest=nearest)
    y_before, _ = trace_history(post, decay_minus, amplitude=-A_minus, nearest=nearest)
    gain = torch.einsum("tbo,tbi->oi", post, x_after)
    loss = torch.einsum("tbo,tbi->oi", y_before, pre)
    if within_bounds(weight.detach(), gain, loss, w_min, w_max):
        return gain + loss
    return additive_stdp_sequential(
        pre,
        post,
        weight,
        decay_plus=decay_plus,
        decay_minus=decay_minus,
        A_plus=A_plus,
        A_minus=A_minus,
        w_min=w_min,
        w_max=w_max,
        nearest=nearest,
    )


@functools.lru_cache(maxsize=64)
def additive_spec(
    *,
    decay_plus: float,
    decay_minus: float,
    A_plus: float,
    A_minus: float,
    w_min: float,
    w_max: float,
    nearest: bool,
) -> TraceRule:
    """The rule's layer update for the trace engine: :class:`StdpAdditive`'s ``on_pre`` / ``on_post``.

    ``on_pre``: ``apre += A_plus`` (``= A_plus`` when nearest), ``w = clip(w + apost)``; ``on_post``:
    ``apost -= A_minus`` (``= -A_minus``), ``w = clip(w + apre)``.
    """

    def depress(w, tr):
        return w + tr["apost"]

    def potentiate(w, tr):
        return w + tr["apre"]

    return TraceRule(
        name="stdp_additive",
        traces=(
            Trace("apre", "pre", decay_plus, A_plus, nearest),
            Trace("apost", "post", decay_minus, -A_minus, nearest),
        ),
        on_pre=("apre", depress),
        on_post=("apost", potentiate),
        w_min=w_min,
        w_max=w_max,
    )


def additive_stdp_sequential(
    pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, **params: Any
) -> torch.Tensor:
    """:func:`additive_stdp_update` step by step, one weight copy per sample (bounds clip per update).

    The trace engine (:func:`~biosnn.plasticity.engine.sequential_update`) on :func:`additive_spec` (``params`` are
    its keywords).
    """
    return sequential_update(additive_spec(**params), pre, post, weight)


# -- the rule -----------------------------------------------------------------------------------------
class StdpAdditive(PlasticityRule):
    r"""Additive pair STDP with hard bounds (Song, Miller & Abbott 2000); see the module docstring.

    Parameters
    ----------
    A_plus
        Potentiation amplitude (units of ``w_max``), default 0.005.
    A_minus
        Depression amplitude, positive (units of ``w_max``), default 0.00525 (= 1.05 A_plus).
    tau_plus, tau_minus
        Window time constants, default 20 ms each.
    w_min, w_max
        Hard bounds; the weight takes the units of ``w_max`` (dimensionless by default, 0 and 1).
    pairing
        ``"all_to_all"`` or ``"nearest"`` (symmetric nearest-spike).

    Synaptic variables: ``w``, ``apre``, ``apost`` (traces in units of the weight).
    """

    name: ClassVar[str] = "stdp_additive"
    reference: ClassVar[str] = (
        "Song S, Miller KD, Abbott LF (2000) Competitive Hebbian learning through spike-timing-dependent "
        "synaptic plasticity. Nat Neurosci 3:919-926"
    )
    tag: ClassVar[str] = "stdp"
    #: the amplitudes scale every weight change; they are carried by the traces ``apre``/``apost``
    learning_parameters: ClassVar[tuple[str, ...]] = ("A_plus", "A_minus")
    learning_traces: ClassVar[tuple[str, ...]] = ("apre", "apost")

    def __init__(
        self,
        *,
        A_plus: Any = 0.005,
        A_minus: Any = 0.00525,
        tau_plus: Any = 20 * brian2.ms,
        tau_minus: Any = 20 * brian2.ms,
        w_min: Any = 0.0,
        w_max: Any = 1.0,
        pairing: str = "all_to_all",
    ) -> None:
        w_min, w_max = bounds(w_min, w_max)
        unit = weight_unit_of(w_max)
        self._set_params(
            A_plus=amplitude("A_plus", A_plus, unit),
            A_minus=amplitude("A_minus", A_minus, unit),
            tau_plus=positive("tau_plus", tau_plus, brian2.second),
            tau_minus=positive("tau_minus", tau_minus, brian2.second),
            w_min=w_min,
            w_max=w_max,
            pairing=choice("pairing", pairing, PAIRINGS),
        )

    @property
    def model(self) -> str:
        u = unit_name(self._params["w_max"])
        return (
            f"w : {u}\n"
            f"dapre/dt = -apre / tau_plus : {u} (event-driven)\n"
            f"dapost/dt = -apost / tau_minus : {u} (event-driven)"
        )

    @property
    def on_pre(self) -> str:
        trace = "apre = A_plus" if self._params["pairing"] == "nearest" else "apre += A_plus"
        return f"{trace}\nw = clip(w + apost, w_min, w_max)"

    @property
    def on_post(self) -> str:
        trace = "apost = -A_minus" if self._params["pairing"] == "nearest" else "apost -= A_minus"
        return f"{trace}\nw = clip(w + apre, w_min, w_max)"

    def namespace(self) -> dict[str, Any]:
        p, u = self._params, self.weight_unit
        ns = {k: as_quantity(p[k], u) for k in ("A_plus", "A_minus", "w_min", "w_max")}
        ns.update(tau_plus=p["tau_plus"], tau_minus=p["tau_minus"])
        return ns

    def window(self, delta_t: Any) -> np.ndarray:
        """The pair window at ``delta_t = t_post - t_pre`` (a Brian2 time quantity), in weight units/1."""
        d = np.asarray(delta_t / brian2.second, dtype=float)
        p = self._params
        return additive_window(
            d,
            A_plus=as_float(p["A_plus"], self.weight_unit),
            A_minus=as_float(p["A_minus"], self.weight_unit),
            tau_plus=float(p["tau_plus"] / brian2.second),
            tau_minus=float(p["tau_minus"] / brian2.second),
        )

    def _layer_values(self, step: float) -> dict[str, Any]:
        """The keyword arguments of :func:`additive_stdp_update` / :func:`additive_spec` for a step in seconds."""
        p, u = self._params, self.weight_unit
        return dict(
            decay_plus=step_decay(step, p["tau_plus"]),
            decay_minus=step_decay(step, p["tau_minus"]),
            A_plus=as_float(p["A_plus"], u),
            A_minus=as_float(p["A_minus"], u),
            w_min=as_float(p["w_min"], u),
            w_max=as_float(p["w_max"], u),
            nearest=p["pairing"] == "nearest",
        )

    def layer_spec(self, *, dt: Any) -> TraceRule:
        """The rule's layer update at time step ``dt`` for the trace engine (:func:`additive_spec`)."""
        return additive_spec(**self._layer_values(check_dt(dt)))

    def layer_update(self, pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, *, dt: Any) -> torch.Tensor:
        """DW ``[O, I]`` for spike tensors ``pre [T, B, I]``, ``post [T, B, O]`` (see :func:`additive_stdp_update`).

        ``weight`` and the bounds are in the weight's units (numbers in units of ``w_max``'s unit).
        """
        step = check_layer_inputs(pre, post, weight, dt)
        return additive_stdp_update(pre.to(weight.dtype), post.to(weight.dtype), weight, **self._layer_values(step))
