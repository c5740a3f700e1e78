r"""Triplet STDP (Pfister & Gerstner 2006).

Two presynaptic traces :math:`r_1, r_2` and two postsynaptic traces :math:`o_1, o_2`:

.. math::

    \tau_+ \dot r_1 = -r_1, \quad \tau_x \dot r_2 = -r_2, \quad
    \tau_- \dot o_1 = -o_1, \quad \tau_y \dot o_2 = -o_2

* presynaptic spike at :math:`t`: :math:`w \leftarrow w - o_1(t)\,[A_2^- + A_3^- r_2(t-\epsilon)]`, then
  :math:`r_1, r_2 \leftarrow r_{1,2} + 1` (all-to-all) or :math:`\leftarrow 1` (nearest spike);
* postsynaptic spike at :math:`t`: :math:`w \leftarrow w + r_1(t)\,[A_2^+ + A_3^+ o_2(t-\epsilon)]`, then
  :math:`o_1, o_2 \leftarrow o_{1,2} + 1` (all-to-all) or :math:`\leftarrow 1` (nearest spike).

The triplet terms (:math:`A_3^\pm`) make potentiation grow with the postsynaptic rate, which reproduces the
frequency dependence of the pairing protocol (Sjoestroem, Turrigiano & Nelson 2001: LTD at low, LTP at
high pairing frequency) and the triplet/quadruplet data of Wang et al. 2005. The weight is clipped to
``[w_min, w_max]`` after each update (the paper has no bounds; set them wide to recover it).

Published parameter sets (Table 4 of the paper; :math:`\tau_+ = 16.8` ms and :math:`\tau_- = 33.7` ms in all;
amplitudes dimensionless, in units of the weight):

============== ================= ========== ========== ========= ========= ========= =========
set            variant           tau_x/ms   tau_y/ms   A2+       A3+       A2-       A3-
============== ================= ========== ========== ========= ========= ========= =========
visual_cortex  all_to_all        101        125        5e-10     6.2e-3    7e-3      2.3e-4
visual_cortex  minimal           (101)      114        0         6.5e-3    7.1e-3    0
visual_cortex  nearest           714        40         8.8e-11   5.3e-2    6.6e-3    3.1e-3
visual_cortex  nearest_minimal   (714)      40         0         5e-2      8e-3      0
hippocampal    all_to_all        946        27         6.1e-3    6.7e-3    1.6e-3    1.4e-3
hippocampal    minimal           (946)      40         5.3e-3    8e-3      3.5e-3    0
hippocampal    nearest           575        47         4.6e-3    9.1e-3    3e-3      7.5e-9
hippocampal    nearest_minimal   (575)      48         4.6e-3    9.1e-3    3e-3      0
============== ================= ========== ========== ========= ========= ========= =========

"minimal" variants have :math:`A_3^- = 0` (so :math:`\tau_x` plays no role; the full set's value is kept).
"all_to_all"/"minimal" use all-to-all trace interactions, "nearest"/"nearest_minimal" nearest-spike ones.
Any single value can be overridden by its keyword argument.

Simultaneous spikes follow Brian2's pathway order (presynaptic first), as in
:mod:`biosnn.plasticity.stdp_additive`; :func:`triplet_kernel_sum` is the closed-form reference.

References
----------
Pfister JP, Gerstner W (2006). Triplets of spikes in a model of spike timing-dependent plasticity.
J Neurosci 26:9673-9682.
Sjoestroem PJ, Turrigiano GG, Nelson SB (2001). Rate, timing, and cooperativity jointly determine cortical
synaptic plasticity. Neuron 32:1149-1164.
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
from brian2 import ms

__all__ = [
    "StdpTriplet",
    "PARAMETER_SETS",
    "VARIANTS",
    "triplet_kernel_sum",
    "triplet_stdp_update",
    "triplet_stdp_sequential",
    "triplet_spec",
]

VARIANTS = ("all_to_all", "minimal", "nearest", "nearest_minimal")

#: Table 4 of Pfister & Gerstner (2006): (tau_x, tau_y) in ms and (A2+, A3+, A2-, A3-).
PARAMETER_SETS: dict[str, dict[str, tuple[float, float, float, float, float, float]]] = {
    "visual_cortex": {
        "all_to_all": (101.0, 125.0, 5e-10, 6.2e-3, 7e-3, 2.3e-4),
        "minimal": (101.0, 114.0, 0.0, 6.5e-3, 7.1e-3, 0.0),
        "nearest": (714.0, 40.0, 8.8e-11, 5.3e-2, 6.6e-3, 3.1e-3),
        "nearest_minimal": (714.0, 40.0, 0.0, 5e-2, 8e-3, 0.0),
    },
    "hippocampal": {
        "all_to_all": (946.0, 27.0, 6.1e-3, 6.7e-3, 1.6e-3, 1.4e-3),
        "minimal": (946.0, 40.0, 5.3e-3, 8e-3, 3.5e-3, 0.0),
        "nearest": (575.0, 47.0, 4.6e-3, 9.1e-3, 3e-3, 7.5e-9),
        "nearest_minimal": (575.0, 48.0, 4.6e-3, 9.1e-3, 3e-3, 0.0),
    },
}
TAU_PLUS_MS, TAU_MINUS_MS = 16.8, 33.7


# -- pure mathematics ---------------------------------------------------------------------------------
def triplet_kernel_sum(
    pre_times: np.ndarray,
    post_times: np.ndarray,
    *,
    tau_plus: float,
    tau_minus: float,
    tau_x: float,
    tau_y: float,
    A2_plus: float,
    A3_plus: float,
    A2_minus: float,
    A3_minus: float,
    nearest: bool,
) -> float:
    r"""Total weight change of the triplet rule, written as explicit sums of exponential kernels (no bounds).

    For each postsynaptic spike at :math:`t`: :math:`r_1(t)\,[A_2^+ + A_3^+ o_2(t^-)]` with
    :math:`r_1(t) = \sum_{t_j \le t} e^{-(t - t_j)/\tau_+}` over presynaptic spikes and
    :math:`o_2(t^-) = \sum_{t_k < t} e^{-(t - t_k)/\tau_y}` over earlier postsynaptic spikes; for each
    presynaptic spike at :math:`t`: :math:`-o_1(t)\,[A_2^- + A_3^- r_2(t^-)]` with sums over postsynaptic
    spikes strictly before :math:`t` and earlier presynaptic spikes. ``nearest`` keeps only the latest
    spike in each sum. Times in one unit shared with the time constants.
    """
    pre = np.sort(np.asarray(pre_times, dtype=float))
    post = np.sort(np.asarray(post_times, dtype=float))

    def trace(times: np.ndarray, t: float, tau: float) -> float:
        if times.size == 0:
            return 0.0
        if nearest:
            times = times[-1:]
        return float(np.sum(np.exp(-(t - times) / tau)))

    total = 0.0
    for t in post:
        total += trace(pre[pre <= t], t, tau_plus) * (A2_plus + A3_plus * trace(post[post < t], t, tau_y))
    for t in pre:
        total -= trace(post[post < t], t, tau_minus) * (A2_minus + A3_minus * trace(pre[pre < t], t, tau_x))
    return total


def triplet_stdp_update(
    pre: torch.Tensor,
    post: torch.Tensor,
    weight: torch.Tensor,
    *,
    decay_plus: float,
    decay_minus: float,
    decay_x: float,
    decay_y: float,
    A2_plus: float,
    A3_plus: float,
    A2_minus: float,
    A3_minus: float,
    w_min: float,
    w_max: float,
    nearest: bool,
) -> torch.Tensor:
    r"""Weight change of triplet STDP over spike trains on a time grid, summed over the batch.

    Brian2's order per step: trace decay, presynaptic pathway (update with ``r2`` before its increment),
    postsynaptic pathway (update with ``o2`` before its increment); clipping per update. Unclipped:
    :math:`\Delta W = \sum_{t,b} \mathrm{post}\,(A_2^+ + A_3^+ o_2^-)\, r_1^+ - o_1^-\,\mathrm{pre}\,(A_2^- + A_3^- r_2^-)`
    (superscripts: trace before/after the step's own spikes), exact when no sample can reach a bound;
    otherwise step by step per sample (:func:`triplet_stdp_sequential`).
    ``pre [T, B, I]``, ``post [T, B, O]``, ``weight [O, I]``; returns ``[O, I]``.
    """  # noqa: E501
    _, r1 = trace_history(pre, decay_plus, nearest=nearest)
    r2, _ = trace_history(pre, decay_x, nearest=nearest)
    o1, _ = trace_history(post, decay_minus, nearest=nearest)
    o2, _ = trace_history(post, decay_y, nearest=nearest)
    gain = torch.einsum("tbo,tbi->oi", post * (A2_plus + A3_plus * o2), r1)
    loss = -torch.einsum("tbo,tbi->oi", o1, pre * (A2_minus + A3_minus * r2))
    if within_bounds(weight.detach(), gain, loss, w_min, w_max):
        return gain + loss
    return triplet_stdp_sequential(
        pre,
        post,
        weight,
        decay_plus=decay_plus,
        decay_minus=decay_minus,
        decay_x=decay_x,
        decay_y=decay_y,
        A2_plus=A2_plus,
        A3_plus=A3_plus,
        A2_minus=A2_minus,
        A3_minus=A3_minus,
        w_min=w_min,
        w_max=w_max,
        nearest=nearest,
    )


@functools.lru_cache(maxsize=64)
def triplet_spec(
    *,
    decay_plus: float,
    decay_minus: float,
    decay_x: float,
    decay_y: float,
    A2_plus: float,
    A3_plus: float,
    A2_minus: float,
    A3_minus: float,
    w_min: float,
    w_max: float,
    nearest: bool,
) -> TraceRule:
    """The rule's layer update for the trace engine: :class:`StdpTriplet`'s ``on_pre`` / ``on_post``.

    ``on_pre``: ``w = clip(w - o1 (A2_minus + A3_minus r2))``, then ``r1 += 1``, ``r2 += 1`` (``= 1`` when
    nearest); ``on_post``: ``w = clip(w + r1 (A2_plus + A3_plus o2))``, then ``o1 += 1``, ``o2 += 1``.
    """

    def depress(w, tr):
        return w - tr["o1"] * (A2_minus + A3_minus * tr["r2"])

    def potentiate(w, tr):
        return w + tr["r1"] * (A2_plus + A3_plus * tr["o2"])

    return TraceRule(
        name="stdp_triplet",
        traces=(
            Trace("r1", "pre", decay_plus, 1.0, nearest),
            Trace("r2", "pre", decay_x, 1.0, nearest),
            Trace("o1", "post", decay_minus, 1.0, nearest),
            Trace("o2", "post", decay_y, 1.0, nearest),
        ),
        on_pre=(depress, "r1", "r2"),
        on_post=(potentiate, "o1", "o2"),
        w_min=w_min,
        w_max=w_max,
    )


def triplet_stdp_sequential(pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, **params: Any) -> torch.Tensor:
    """:func:`triplet_stdp_update` step by step, one weight copy per sample (bounds clip per update).

    The trace engine (:func:`~biosnn.plasticity.engine.sequential_update`) on :func:`triplet_spec` (``params`` are
    its keywords).
    """
    return sequential_update(triplet_spec(**params), pre, post, weight)


# -- the rule -----------------------------------------------------------------------------------------
class StdpTriplet(PlasticityRule):
    r"""Triplet STDP (Pfister & Gerstner 2006) with the published parameter sets; see the module docstring.

    Parameters
    ----------
    parameter_set
        ``"visual_cortex"`` (Sjoestroem et al. 2001 data) or ``"hippocampal"`` (Bi & Poo 1998, Wang et al.
        2005 data).
    variant
        ``"all_to_all"``, ``"minimal"`` (all-to-all, :math:`A_3^- = 0`), ``"nearest"`` or
        ``"nearest_minimal"``; chooses the trace interaction and the published values.
    tau_plus, tau_minus, tau_x, tau_y
        Trace time constants; ``None`` takes the published value.
    A2_plus, A3_plus, A2_minus, A3_minus
        Pair and triplet amplitudes (units of ``w_max``); ``None`` takes the published value.
    w_min, w_max
        Hard bounds (default 0 and 1, dimensionless); the weight takes the units of ``w_max``.

    Synaptic variables: ``w``, ``r1``, ``r2``, ``o1``, ``o2`` (dimensionless traces).
    """

    name: ClassVar[str] = "stdp_triplet"
    reference: ClassVar[str] = (
        "Pfister JP, Gerstner W (2006) Triplets of spikes in a model of spike timing-dependent plasticity. "
        "J Neurosci 26:9673-9682"
    )
    tag: ClassVar[str] = "triplet"
    #: pair and triplet amplitudes scale every weight change (the traces are unit traces)
    learning_parameters: ClassVar[tuple[str, ...]] = ("A2_plus", "A3_plus", "A2_minus", "A3_minus")

    def __init__(
        self,
        *,
        parameter_set: str = "visual_cortex",
        variant: str = "all_to_all",
        tau_plus: Any = None,
        tau_minus: Any = None,
        tau_x: Any = None,
        tau_y: Any = None,
        A2_plus: Any = None,
        A3_plus: Any = None,
        A2_minus: Any = None,
        A3_minus: Any = None,
        w_min: Any = 0.0,
        w_max: Any = 1.0,
    ) -> None:
        choice("parameter_set", parameter_set, tuple(PARAMETER_SETS))
        choice("variant", variant, VARIANTS)
        w_min, w_max = bounds(w_min, w_max)
        unit = weight_unit_of(w_max)
        times = dict(tau_plus=tau_plus, tau_minus=tau_minus, tau_x=tau_x, tau_y=tau_y)
        amps = dict(A2_plus=A2_plus, A3_plus=A3_plus, A2_minus=A2_minus, A3_minus=A3_minus)
        for k, v in times.items():
            if v is not None:
                times[k] = positive(k, v, brian2.second)
        for k, v in amps.items():
            if v is not None:
                amps[k] = amplitude(k, v, unit)
        self._set_params(parameter_set=parameter_set, variant=variant, **times, **amps, w_min=w_min, w_max=w_max)

    # effective values (published unless overridden)
    def values(self) -> dict[str, Any]:
        """The effective parameters: the published set with any overrides (times as quantities)."""
        p = self._params
        tx, ty, a2p, a3p, a2m, a3m = PARAMETER_SETS[p["parameter_set"]][p["variant"]]
        u = self.weight_unit
        pub = dict(
            tau_plus=TAU_PLUS_MS * ms,
            tau_minus=TAU_MINUS_MS * ms,
            tau_x=tx * ms,
            tau_y=ty * ms,
            A2_plus=a2p * u,
            A3_plus=a3p * u,
            A2_minus=a2m * u,
            A3_minus=a3m * u,
        )
        out = {}
        for k, v in pub.items():
            out[k] = v if p[k] is None else as_quantity(p[k], u if k.startswith("A") else brian2.second)
        return out

    @property
    def nearest(self) -> bool:
        return self._params["variant"].startswith("nearest")

    @property
    def model(self) -> str:
        u = unit_name(self._params["w_max"])
        return (
            f"w : {u}\n"
            "dr1/dt = -r1 / tau_plus : 1 (event-driven)\n"
            "dr2/dt = -r2 / tau_x : 1 (event-driven)\n"
            "do1/dt = -o1 / tau_minus : 1 (event-driven)\n"
            "do2/dt = -o2 / tau_y : 1 (event-driven)"
        )

    @property
    def on_pre(self) -> str:
        bump = "r1 = 1\nr2 = 1" if self.nearest else "r1 += 1\nr2 += 1"
        return f"w = clip(w - o1 * (A2_minus + A3_minus * r2), w_min, w_max)\n{bump}"

    @property
    def on_post(self) -> str:
        bump = "o1 = 1\no2 = 1" if self.nearest else "o1 += 1\no2 += 1"
        return f"w = clip(w + r1 * (A2_plus + A3_plus * o2), w_min, w_max)\n{bump}"

    def namespace(self) -> dict[str, Any]:
        ns = self.values()
        u = self.weight_unit
        ns.update(w_min=as_quantity(self._params["w_min"], u), w_max=as_quantity(self._params["w_max"], u))
        return ns

    def kernel_sum(self, pre_times: Any, post_times: Any) -> float:
        """Closed-form weight change (no bounds) for spike times given as Brian2 quantities."""
        v = self.values()
        u = self.weight_unit
        return triplet_kernel_sum(
            np.asarray(brian2.Quantity(pre_times) / ms, dtype=float),
            np.asarray(brian2.Quantity(post_times) / ms, dtype=float),
            **{k: float(v[k] / ms) for k in ("tau_plus", "tau_minus", "tau_x", "tau_y")},
            **{k: as_float(v[k], u) for k in ("A2_plus", "A3_plus", "A2_minus", "A3_minus")},
            nearest=self.nearest,
        )

    def _layer_values(self, step: float) -> dict[str, Any]:
        """The keyword arguments of :func:`triplet_stdp_update` / :func:`triplet_spec` for a step in seconds."""
        v, u = self.values(), self.weight_unit
        return dict(
            decay_plus=step_decay(step, v["tau_plus"]),
            decay_minus=step_decay(step, v["tau_minus"]),
            decay_x=step_decay(step, v["tau_x"]),
            decay_y=step_decay(step, v["tau_y"]),
            **{k: as_float(v[k], u) for k in ("A2_plus", "A3_plus", "A2_minus", "A3_minus")},
            w_min=as_float(self._params["w_min"], u),
            w_max=as_float(self._params["w_max"], u),
            nearest=self.nearest,
        )

    def layer_spec(self, *, dt: Any) -> TraceRule:
        """The rule's layer update at time step ``dt`` for the trace engine (:func:`triplet_spec`)."""
        return triplet_spec(**self._layer_values(check_dt(dt)))

    def layer_update(self, pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, *, dt: Any) -> torch.Tensor:
        """DW ``[O, I]`` for spike tensors ``pre [T, B, I]``, ``post [T, B, O]`` (see :func:`triplet_stdp_update`)."""
        step = check_layer_inputs(pre, post, weight, dt)
        return triplet_stdp_update(pre.to(weight.dtype), post.to(weight.dtype), weight, **self._layer_values(step))
