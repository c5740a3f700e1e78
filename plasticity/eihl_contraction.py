r"""EIHL's local period as a plasticity rule: timing-free contraction (LTD) and removal of synapses.

EIHL (excitation-inhibition hybrid learning, ICLR 2024, OpenReview wpnlc2ONu0) alternates a *global*
period (surrogate-gradient BPTT, "excitation") with a *local* period ("inhibition"). The paper calls its
local period STDP, but what its reviewers describe is a timing-free contraction: every present synapse is
depressed, the depression grows with a per-synapse variable :math:`x` that accumulates while the local
period lasts, and synapses that fall under a threshold :math:`\mathrm{thresh}(b)` are removed, so the
network's sparsity grows. The paper's method section is not available; this module is our reading of it,
with every unknown a named parameter.

The mathematics (one *step* is one local update: one training iteration on a deep net, one
``interval`` of simulated time in Brian2)
-------------------------------------------------------------------------------------------------------
At the start of a local period the removal threshold is computed once and frozen for the period:

.. math::  \theta = \mathrm{thresh}(b) = b \cdot \langle |w_{ij}| \rangle_{(i,j)\,\mathrm{present}}

Each local step, for every synapse with mask :math:`m_{ij} \in \{0, 1\}`:

.. math::

    x_{ij} &\leftarrow x_{ij} + g\, m_{ij}                                  && \text{(x grows while active)}\\
    w_{ij} &\leftarrow w_{ij}\, \mathrm{clip}(1 - a\, x_{ij},\ 0,\ 1)        && \text{(contraction / LTD, Eq. 7)}\\
    m_{ij} &\leftarrow m_{ij} \wedge (|w_{ij}| \ge \theta)                  && \text{(removal under thresh(b))}\\
    w_{ij} &\leftarrow w_{ij}\, m_{ij}                                      && \text{(removed weights exactly 0)}

with contraction factor :math:`a` (``a``) and growth per step :math:`g` (``x_growth``). During the global
period :math:`x` decays by itself, :math:`x \leftarrow x\, e^{-n/\tau_x}` after :math:`n` steps
(``tau_x``, in steps). Sparsity is the fraction of synapses that are exactly zero (absent).

Why this form (the reasoning the contract asks for)
----------------------------------------------------
* *Multiplicative contraction* :math:`w(1 - a x)` depresses every weight towards zero without changing its
  sign, so signed (signless deep-net) and Dale's-law (fixed-sign) weights are both handled, and it is
  "LTD scaled by the contraction factor a" as the reviewers describe Eq. 7. The clip to ``[0, 1]`` keeps a
  large ``a x`` from flipping signs (the weight reaches exactly 0 and is then removed).
* :math:`x` grows linearly while the local period lasts, so a long local period contracts ever harder;
  it decays exponentially during the global period, so repeated local periods close together compound.
* The threshold is relative (:math:`b` times the mean magnitude of present weights), so it is independent
  of the layer's scale; it is frozen for the period, as in the paper ("b is frozen during the local
  period").
* Removal is permanent: a removed synapse stays in the connectivity mask as absent with weight exactly 0;
  the global period cannot revive it (Masked* layers mask the gradient).

The same mathematics runs in two places: the pure torch functions below (:func:`removal_threshold`,
:func:`local_step`, :func:`global_decay`, :func:`sparsity`) on deep nets, and the rule class
:class:`EIHLContraction` on a Brian2 ``Synapses`` (a ``run_regularly`` operation every ``interval`` that
performs exactly one step; a shared variable ``local_active`` switches the local period on and off, and a
shared variable ``thresh`` holds the frozen threshold). In float64 the two agree bit for bit (tested), and
the twin (:func:`biosnn.twin`) compiles the same Brian2 text and agrees with Brian2 bit for bit (tested).

The mask in Brian2: the per-synapse state variable is ``absent`` (0 = present, 1 = removed) and ``present``
is the subexpression ``1 - absent``. Brian2 initialises state variables to 0, so with this orientation a
freshly connected synapse is present without any set-up (a state variable ``present`` would start at 0 and
remove every synapse the user forgot to initialise). Removal sets ``absent`` to 1 (``present`` reads 0) and
the weight to exactly 0; the synapse stays in the connectivity.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import brian2
import numpy as np
import torch
from biosnn.plasticity.base import PlasticityRule, positive, unit_name, weight_unit_of
from brian2.units.fundamentalunits import Quantity, get_dimensions

from biosnn.errors import NonFiniteError, ParameterError, ShapeError, UnitError
from biosnn.units import check_quantity, check_range

__all__ = [
    "EIHLContraction",
    "EIHLConfig",
    "DEFAULTS",
    "bounded_contraction",
    "depression_drive",
    "regrowth",
    "removal_threshold",
    "local_step",
    "global_decay",
    "sparsity",
]


@dataclass(frozen=True)
class EIHLConfig:
    r"""Every setting of EIHL in one place: read by the deep-net controller
    (:class:`biosnn.learning.eihl.EIHLController`), by the rule (:class:`EIHLContraction`) and by
    :data:`DEFAULTS` (a plain-dict view kept for older code).

    The defaults are ours (the paper's values are not public), chosen on a validation split of
    scikit-learn's digits training set (never its test split) so that EIHL stays near STBP's accuracy at a
    sparsity above 15 % both on a short run of a small network (64 hidden, 5 epochs) and on the demo's
    (256 hidden, 20 epochs). They are *safe*: the default switching (``granularity="iteration"``,
    ``global_units=None``, ``final_global_units=None``) gives any run of two epochs or more at least one
    local period and always ends with a global one (see :meth:`resolved_units`), and the damage one local
    period can do is bounded whatever the network's size:

    * the drive is STDP's *net* depression (post-before-pre pairings minus pre-before-post ones, clipped
      at 0, :meth:`EIHLContraction.depression_rule`): a synapse whose presynaptic spikes cause
      postsynaptic ones is not depressed. (The drive of earlier versions, depression alone, grew fastest
      on the most active, causal synapses and silenced the network within ten local iterations.)
    * one local period may take at most ``max_contraction`` of a layer's :math:`\sum |w|` away from the
      synapses it keeps (:func:`bounded_contraction`): a local period removes synapses, it does not scale
      the whole layer down below its neurons' thresholds;
    * a local period is short (``min_local_units`` = 2, ``max_local_units`` = 4 iterations: each costs a
      global iteration of the budget) and ``x`` grows fast enough (``x_growth`` = 0.5) that removal
      happens within it;
    * no new local period starts above ``max_sparsity`` = 25 % (on the demo's network the sparsity went on
      growing to 35 % without it, at two points of validation accuracy).

    ``bench/hybrid_baselines.py --validation`` compares these defaults with the alternatives on the
    validation split (``bench/results/hybrid_baselines_validation_*.json``).

    Parameters
    ----------
    a
        Contraction factor (Eq. 7): :math:`w \leftarrow w\,\mathrm{clip}(1 - a x, 0, 1)`.
    b
        Removal threshold :math:`\mathrm{thresh}(b) = b \langle |w| \rangle_{present}`, per layer, frozen
        for a local period.
    x_growth
        :math:`g`, the mean growth of :math:`x` per local step (the drive :math:`D` has mean 1 over a
        layer's present synapses, see :func:`depression_drive`).
    tau_x
        Decay time constant of :math:`x` during the global period, in steps (``inf``: no decay).
    drive
        The rule whose long-term depression drives :math:`x` on PyTorch layers (a name in
        :data:`biosnn.plasticity.RULES` with ``A_plus``/``A_minus``, default ``"stdp_additive"``), or
        ``None`` for the timing-free drive :math:`D = 1` (every present synapse grows by :math:`g`; the
        Brian2 form of :class:`EIHLContraction` always uses it).
    regrow
        Whether the global period re-creates removed synapses (RigL-style, :func:`regrowth`).
    regrow_every
        Global iterations between regrowth decisions (the loss gradient is averaged over them).
    regrow_ratio
        A removed synapse is re-created when its mean :math:`|\partial L/\partial w|` (at weight 0) exceeds
        ``regrow_ratio`` times the mean over the layer's present synapses.
    regrow_max_fraction
        At most this fraction of a layer's removed synapses is re-created at one regrowth decision.
    granularity
        ``"iteration"`` (the switching policy is consulted after every batch) or ``"epoch"``.
    global_units
        Minimum length of a global period in units; ``None``: one epoch of iterations (iteration
        granularity) or 1 epoch (epoch granularity).
    max_local_units
        Maximum length of a local period in units.
    min_local_units
        Minimum length of a local period before a removal ends it (``connectivity`` policy).
    max_sparsity
        No new local period once the sparsity reached this fraction.
    max_contraction
        Fraction of a layer's :math:`\sum_{present} |w|` (at the start of a local period) that the
        contraction may take away from the synapses the period keeps (:func:`bounded_contraction`; 1: no
        bound). The deep-net controller's contraction only; a ``local_learner`` (the circuit path) and the
        Brian2 form of :class:`EIHLContraction` are unbounded.
    final_global_units
        No local period starts (and a running one ends) when this many units or fewer remain; ``None``:
        half an epoch of iterations (iteration granularity) or 1 epoch (epoch granularity).
    """

    a: float = 0.1
    b: float = 0.05
    x_growth: float = 0.5
    tau_x: float = 100.0
    drive: str | None = "stdp_additive"
    regrow: bool = True
    regrow_every: int = 10
    regrow_ratio: float = 10.0
    regrow_max_fraction: float = 0.1
    granularity: str = "iteration"
    global_units: int | None = None
    max_local_units: int = 4
    min_local_units: int = 2
    max_sparsity: float = 0.25
    final_global_units: int | None = None
    max_contraction: float = 0.05

    def __post_init__(self) -> None:
        for name in ("a", "b", "x_growth", "regrow_ratio"):
            _scalar(name, getattr(self, name))
        _scalar("tau_x", self.tau_x, low=0.0, low_inclusive=False, allow_inf=True)
        frac = _scalar("regrow_max_fraction", self.regrow_max_fraction)
        ms = _scalar("max_sparsity", self.max_sparsity)
        mc = _scalar("max_contraction", self.max_contraction)
        for name, value in (("regrow_max_fraction", frac), ("max_sparsity", ms), ("max_contraction", mc)):
            if value > 1:
                raise ParameterError(f"EIHL setting {name!r} must lie in [0, 1], got {value}")
        if not isinstance(self.regrow, bool):
            raise ParameterError(f"EIHL setting 'regrow' must be True or False, got {self.regrow!r}")
        if self.granularity not in ("iteration", "epoch"):
            raise ParameterError(f"EIHL setting 'granularity' must be 'iteration' or 'epoch', got {self.granularity!r}")
        if self.drive is not None and not isinstance(self.drive, str):
            raise ParameterError(f"EIHL setting 'drive' must be a rule name or None, got {self.drive!r}")
        for name in ("regrow_every", "max_local_units", "min_local_units", "global_units", "final_global_units"):
            v = getattr(self, name)
            if v is None and name in ("global_units", "final_global_units"):
                continue
            low = 0 if name == "final_global_units" else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ParameterError(f"EIHL setting {name!r} must be an integer >= {low}, got {v!r}")

    def replace(self, **changes: Any) -> EIHLConfig:
        """A copy with some settings changed (``None`` values are ignored; validated again)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def resolved_units(self, per_epoch: int) -> tuple[int, int]:
        """``(global_units, final_global_units)`` for an epoch of ``per_epoch`` iterations.

        With iteration granularity the defaults are one epoch and half an epoch: after the first epoch
        more than half an epoch is left in any run of two epochs or more, so a local period starts; a
        local period ends once half an epoch or less is left, so every run ends with a global period.
        """
        per_epoch = max(1, int(per_epoch))
        if self.granularity == "iteration":
            g = per_epoch if self.global_units is None else self.global_units
            f = max(1, per_epoch // 2) if self.final_global_units is None else self.final_global_units
        else:
            g = 1 if self.global_units is None else self.global_units
            f = 1 if self.final_global_units is None else self.final_global_units
        return g, f


# --------------------------------------------------------------------------------------------------------
# validation helpers (raise before anything is computed)
# --------------------------------------------------------------------------------------------------------
def _scalar(
    name: str, value: Any, *, low: float | None = 0.0, low_inclusive: bool = True, allow_inf: bool = False
) -> float:
    """A dimensionless scalar parameter as a float; rejects units, NaN, inf (unless allowed), range."""
    if isinstance(value, bool) or value is None:
        raise ParameterError(f"parameter {name!r} must be a number, got {value!r}")
    if isinstance(value, Quantity) and not get_dimensions(value).is_dimensionless:
        raise UnitError(f"parameter {name!r} is dimensionless (per step), got {value!r}")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ShapeError(f"parameter {name!r} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    try:
        v = float(np.asarray(value, dtype=float))
    except (TypeError, ValueError):
        raise ParameterError(f"parameter {name!r} must be a number, got {value!r}") from None
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise NonFiniteError(f"parameter {name!r} must be finite, got {v}")
    if low is not None and (v < low or (v == low and not low_inclusive)):
        raise ParameterError(f"parameter {name!r} must be {'>=' if low_inclusive else '>'} {low}, got {v}")
    return v


def _check_weight(weight: Any, name: str = "weight") -> torch.Tensor:
    if not isinstance(weight, torch.Tensor):
        raise ParameterError(f"{name!r} must be a torch.Tensor, got {type(weight).__name__}")
    if not weight.is_floating_point():
        raise ParameterError(f"{name!r} must be a floating-point tensor, got dtype {weight.dtype}")
    if not bool(torch.isfinite(weight).all()):
        raise NonFiniteError(f"{name!r} contains NaN or infinite values")
    return weight


def _check_mask(mask: Any, weight: torch.Tensor) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise ParameterError(f"'mask' must be a torch.Tensor, got {type(mask).__name__}")
    if mask.shape != weight.shape:
        raise ShapeError(f"'mask' has shape {tuple(mask.shape)} but 'weight' has shape {tuple(weight.shape)}")
    if mask.dtype != torch.bool:
        raise ParameterError(f"'mask' must be a boolean tensor (True = synapse present), got dtype {mask.dtype}")
    return mask


#: The rule's per-step parameters as a dict, read from :class:`EIHLConfig` (kept for older code).
DEFAULTS: dict[str, float] = {k: getattr(EIHLConfig(), k) for k in ("a", "x_growth", "tau_x", "b")}


# --------------------------------------------------------------------------------------------------------
# the mathematics, as pure functions
# --------------------------------------------------------------------------------------------------------
def removal_threshold(weight: torch.Tensor, mask: torch.Tensor, *, b: float) -> torch.Tensor:
    r"""The removal threshold :math:`\mathrm{thresh}(b) = b\,\langle |w| \rangle_{\mathrm{present}}`.

    Computed once at the start of a local period and frozen for the period.

    Parameters
    ----------
    weight
        Weights (any shape, floating point).
    mask
        Boolean mask of the same shape, ``True`` where the synapse is present.
    b
        Threshold as a fraction of the mean magnitude of present weights (``b >= 0``).

    Returns
    -------
    torch.Tensor
        A 0-d tensor (dtype and device of ``weight``); ``0`` when no synapse is present.
    """
    b = _scalar("b", b)
    weight = _check_weight(weight)
    mask = _check_mask(mask, weight)
    with torch.no_grad():
        present = weight.detach().abs()[mask]
        if present.numel() == 0:
            return torch.zeros((), dtype=weight.dtype, device=weight.device)
        return b * present.mean()


def local_step(
    weight: torch.Tensor,
    x: torch.Tensor,
    mask: torch.Tensor,
    *,
    a: float,
    x_growth: float,
    threshold: float | torch.Tensor,
    drive: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One step of the local period: grow ``x``, contract the weights, remove those under the threshold.

    .. math::

        x &\leftarrow x + g\, D\, m,\qquad w \leftarrow w\, \mathrm{clip}(1 - a x, 0, 1),\\
        m &\leftarrow m \wedge (|w| \ge \theta),\qquad w \leftarrow w\, m

    with :math:`D` the per-synapse ``drive`` (the local depression each synapse experienced in this step,
    :func:`depression_drive`; :math:`D = 1` when ``drive`` is ``None``: the timing-free rule).

    Parameters
    ----------
    weight, x
        Weights and the per-synapse variable ``x`` (same shape, floating point). Not modified.
    mask
        Boolean mask (``True`` = present), same shape. Not modified.
    a
        Contraction factor (``>= 0``).
    x_growth
        Growth of ``x`` per step for present synapses (``>= 0``).
    threshold
        The frozen removal threshold :math:`\theta` (from :func:`removal_threshold`).
    drive
        Optional per-synapse drive :math:`D \ge 0` of the weight's shape (default: 1 everywhere).

    Returns
    -------
    (weight, x, mask)
        New tensors; removed synapses have weight exactly ``0`` and mask ``False``.
    """
    a = _scalar("a", a)
    x_growth = _scalar("x_growth", x_growth)
    threshold = _scalar("threshold", threshold)
    weight = _check_weight(weight)
    x = _check_weight(x, "x")
    if x.shape != weight.shape:
        raise ShapeError(f"'x' has shape {tuple(x.shape)} but 'weight' has shape {tuple(weight.shape)}")
    mask = _check_mask(mask, weight)
    with torch.no_grad():
        m = mask.to(weight.dtype)
        if drive is not None:
            drive = _check_weight(drive, "drive")
            if drive.shape != weight.shape:
                raise ShapeError(f"'drive' has shape {tuple(drive.shape)} but 'weight' has shape {tuple(weight.shape)}")
            if bool((drive < 0).any()):
                raise ParameterError("'drive' (local depression per synapse) must be >= 0")
            m = m * drive.detach().to(weight.dtype)
        x_new = x.detach() + x_growth * m
        w_new = weight.detach() * torch.clamp(1.0 - a * x_new, 0.0, 1.0)
        mask_new = mask & (w_new.abs() >= threshold)
        w_new = w_new * mask_new.to(weight.dtype)
    return w_new, x_new, mask_new


def bounded_contraction(
    before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor, *, floor: float | torch.Tensor
) -> torch.Tensor:
    r"""Bound the contraction of one local step: the kept synapses keep :math:`\sum |w| \ge` ``floor``.

    ``before`` are a layer's weights before a :func:`local_step`, ``after`` and ``mask`` what it returned.
    Removed synapses stay removed; the contraction of the kept ones is scaled back by one factor
    :math:`\lambda \in [0, 1]`:

    .. math::

        w \leftarrow m \odot \big(w^{before} + \lambda\,(w^{after} - w^{before})\big),\qquad
        \lambda = \min\Big(1,\ \max\Big(0,\ \frac{\sum m |w^{before}| - F}
                                                {\sum m |w^{before}| - \sum m |w^{after}|}\Big)\Big)

    with :math:`F` = ``floor`` (the contraction never changes a sign, so :math:`\sum m |w|` is linear in
    :math:`\lambda` and equals :math:`F` when the bound binds). The controller passes
    :math:`F = (1 - c) \sum_{present} |w|` at the start of the local period, :math:`c` =
    :attr:`EIHLConfig.max_contraction`: a period removes synapses (those the full contraction put under
    ``thresh(b)``, chosen by :math:`x`), but takes at most the fraction :math:`c` of the layer's scale from
    the synapses it keeps, so a layer is never scaled below its neurons' thresholds. Returns a new tensor.
    """
    floor = _scalar("floor", floor)
    before = _check_weight(before, "before")
    after = _check_weight(after, "after")
    if after.shape != before.shape:
        raise ShapeError(f"'after' has shape {tuple(after.shape)} but 'before' has shape {tuple(before.shape)}")
    mask = _check_mask(mask, before)
    with torch.no_grad():
        m = mask.to(before.dtype)
        kept_before = before.detach() * m
        kept_after = after.detach() * m
        s_before = float(kept_before.abs().sum())
        s_after = float(kept_after.abs().sum())
        if s_after >= floor or s_before <= s_after:
            return kept_after.clone()
        lam = min(1.0, max(0.0, (s_before - floor) / (s_before - s_after)))
        return kept_before + lam * (kept_after - kept_before)


def global_decay(x: torch.Tensor, *, steps: float, tau_x: float) -> torch.Tensor:
    r"""Decay of ``x`` during the global period: :math:`x\, e^{-n/\tau_x}` after ``steps`` = :math:`n` steps.

    ``tau_x`` is in steps (``> 0``; ``inf`` means no decay). Returns a new tensor.
    """
    steps = _scalar("steps", steps)
    tau_x = _scalar("tau_x", tau_x, low=0.0, low_inclusive=False, allow_inf=True)
    x = _check_weight(x, "x")
    with torch.no_grad():
        return x.detach() * math.exp(-steps / tau_x)


def depression_drive(depression: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""The per-synapse drive :math:`D` of :func:`local_step` from a layer's local depression.

    .. math:: D_{ij} = \frac{L_{ij}}{\langle L \rangle_{present}}, \qquad
              L_{ij} = \max(0, -\Delta W^{LTD}_{ij})

    where :math:`\Delta W^{LTD}` is the depressing part of a spike-timing rule's ``layer_update`` on this
    step's pre- and postsynaptic spikes; with :meth:`EIHLContraction.depression_rule` (balanced additive
    STDP) :math:`L` is the net depression: the postsynaptic trace read at every presynaptic spike minus the
    presynaptic trace read at every postsynaptic spike, summed over the batch, clipped at 0. :math:`D` has
    mean 1 over the present synapses, so ``x_growth`` keeps its meaning (mean growth per step) whatever the
    firing rates; synapses that see more post-before-pre pairings are depressed harder. Absent synapses get
    ``D = 0``; a layer without any depression (silent) gets ``D = 0`` everywhere.
    """
    depression = _check_weight(depression, "depression")
    mask = _check_mask(mask, depression)
    with torch.no_grad():
        loss = depression.detach().clamp(min=0) * mask.to(depression.dtype)
        present = int(mask.sum())
        mean = loss.sum() / present if present else loss.new_zeros(())
        if float(mean) <= 0:
            return torch.zeros_like(loss)
        return loss / mean


def regrowth(mask: torch.Tensor, grad: torch.Tensor, *, ratio: float, max_fraction: float) -> torch.Tensor:
    r"""Which removed synapses the global period re-creates (RigL's regrowth, Evci et al. 2020).

    A removed synapse :math:`(i, j)` (``mask`` False) is re-created when the magnitude of the loss gradient
    with respect to its effective weight, taken at weight 0, is large:

    .. math:: |G_{ij}| > r \, \langle |G| \rangle_{present}

    with :math:`r` = ``ratio``; of those, at most ``max_fraction`` of the layer's removed synapses, the
    largest :math:`|G|` first (ties broken by index). ``grad`` is :math:`G` (e.g. averaged over a few
    iterations). Returns the boolean tensor of synapses to re-create (a subset of ``~mask``).
    """
    ratio = _scalar("ratio", ratio)
    max_fraction = _scalar("max_fraction", max_fraction)
    grad = _check_weight(grad, "grad")
    mask = _check_mask(mask, grad)
    with torch.no_grad():
        g = grad.detach().abs()
        out = torch.zeros_like(mask)
        n_removed = int((~mask).sum())
        if n_removed == 0 or not bool(mask.any()):
            return out
        reference = g[mask].mean()
        candidates = (~mask) & (g > ratio * reference)
        limit = int(math.floor(max_fraction * n_removed))
        n = min(int(candidates.sum()), limit)
        if n == 0:
            return out
        score = torch.where(candidates, g, torch.full_like(g, -1.0)).flatten()
        idx = torch.topk(score, n, sorted=False).indices
        flat = out.flatten()
        flat[idx] = True
        return flat.view_as(mask)


def sparsity(masks_or_weights: Any) -> float:
    """Fraction of synapses that are absent (boolean masks: ``False``) or exactly zero (weights).

    Accepts one tensor/array, or an iterable / mapping of them (pooled: the overall fraction over all
    synapses). Returns ``0.0`` for an empty collection.
    """
    if isinstance(masks_or_weights, Mapping):
        items = list(masks_or_weights.values())
    elif isinstance(masks_or_weights, (torch.Tensor, np.ndarray)):
        items = [masks_or_weights]
    elif isinstance(masks_or_weights, Iterable) and not isinstance(masks_or_weights, (str, bytes)):
        items = list(masks_or_weights)
    else:
        raise ParameterError(
            f"sparsity() takes a tensor, an array, or a collection of them, got {type(masks_or_weights).__name__}"
        )
    absent = 0
    total = 0
    for item in items:
        t = torch.as_tensor(np.asarray(item)) if not isinstance(item, torch.Tensor) else item.detach()
        if t.dtype == torch.bool:
            absent += int((~t).sum())
        else:
            if t.is_floating_point() and bool(torch.isnan(t).any()):
                raise NonFiniteError("sparsity() got weights containing NaN")
            absent += int((t == 0).sum())
        total += t.numel()
    return absent / total if total else 0.0


# --------------------------------------------------------------------------------------------------------
# the rule: Brian2 form and parameters
# --------------------------------------------------------------------------------------------------------
#: Bound of the depression-only rule: far enough that no bound ever clips (so ``layer_update`` is exact).
_FAR = 1e12


class EIHLContraction(PlasticityRule):
    r"""EIHL's local period: timing-free contraction (LTD) and removal of synapses under ``thresh(b)``.

    The mathematics is in the module docstring; this class carries the parameters and the Brian2 form.

    Parameters
    ----------
    a : float
        Contraction factor (dimensionless, ``>= 0``): each step multiplies a weight by
        :math:`\mathrm{clip}(1 - a x, 0, 1)`. Default 0.1.
    x_growth : float
        Growth of ``x`` per local step (dimensionless, ``>= 0``). Default 0.5.
    tau_x : float
        Decay time constant of ``x`` during the global period, in steps (``> 0``). Default 100.
    b : float
        Removal threshold as a fraction of the mean magnitude of the present weights, frozen at the start
        of a local period (``>= 0``). Default 0.05.
    interval : Quantity
        Brian2 only: the simulated time one step lasts (the period of the update operation), so that in
        Brian2 ``x`` grows at the rate ``x_growth / interval`` and decays with the time constant
        ``tau_x * interval``. Default 1 ms.
    weight_unit : Quantity
        Brian2 only: the unit of the weight ``w`` (``1`` for dimensionless weights, ``brian2.nS`` for
        conductances ...). Default dimensionless.
    drive : str or None
        PyTorch layers only (:class:`biosnn.learning.local.LocalLearner`): the spike-timing rule whose
        long-term depression drives ``x`` per synapse (:func:`depression_drive`), default
        ``"stdp_additive"``; ``None``: timing-free (every present synapse grows by ``x_growth``). The Brian2
        form is always timing-free.

    All defaults come from :class:`EIHLConfig` (one place).

    Notes
    -----
    The Brian2 form: ``synapses(...)`` builds a :class:`brian2.Synapses` with the per-synapse variables ``x`` and
    ``absent`` (0/1; a subexpression ``present = 1 - absent`` reads the mask, so freshly connected
    synapses are present without any set-up), the shared variables ``local_active`` (0/1: is the local
    period on?) and ``thresh`` (the frozen removal threshold, in the weight's unit), and a
    ``run_regularly`` operation every ``interval`` that performs exactly one :func:`local_step` while
    ``local_active == 1`` and one :func:`global_decay` step otherwise. :meth:`begin_local_period` and
    :meth:`end_local_period` switch between the periods between runs. The rule has no ``on_pre`` or
    ``on_post`` statements (it is timing-free); a removed synapse keeps transmitting its weight, which is
    exactly 0.

    References
    ----------
    EIHL: excitation-inhibition hybrid learning for spiking neural networks, ICLR 2024 (OpenReview
    wpnlc2ONu0); the method section is not public, see the module docstring for our reading.
    """

    name = "eihl_contraction"
    reference = (
        "Excitation-inhibition hybrid learning (EIHL) for spiking neural networks, ICLR 2024, "
        "OpenReview wpnlc2ONu0 (local period: contraction and removal under thresh(b))"
    )
    tag = "eihl"
    method = "exact"
    #: how :class:`biosnn.learning.local.LocalLearner` applies this rule to PyTorch layers
    layer_kind = "contraction"
    #: the contraction factor scales the contraction (LTD); removal under the frozen threshold is not
    #: scaled by it (a synapse already under ``thresh`` is still removed during a local period): the
    #: local period itself is switched by :meth:`begin_local_period` / :meth:`end_local_period`
    learning_parameters = ("a",)

    def __init__(
        self,
        *,
        a: float = DEFAULTS["a"],
        x_growth: float = DEFAULTS["x_growth"],
        tau_x: float = DEFAULTS["tau_x"],
        b: float = DEFAULTS["b"],
        interval: Quantity = 1 * brian2.ms,
        weight_unit: Quantity | float = 1.0,
        drive: str | None = EIHLConfig.drive,
    ) -> None:
        a = _dimensionless("a", a, low=0.0)
        x_growth = _dimensionless("x_growth", x_growth, low=0.0)
        tau_x = _dimensionless("tau_x", tau_x, low=0.0, low_inclusive=False)
        b = _dimensionless("b", b, low=0.0)
        interval = positive("interval", interval, brian2.second)
        if isinstance(weight_unit, (str, bool)) or weight_unit is None:
            raise UnitError(f"parameter 'weight_unit' must be a Brian2 unit or 1, got {weight_unit!r}")
        wu = check_quantity("weight_unit", weight_unit, weight_unit_of(weight_unit))
        if float(np.asarray(wu / weight_unit_of(wu))) <= 0:
            raise ParameterError(f"parameter 'weight_unit' must be positive, got {weight_unit!r}")
        if drive is not None:
            from biosnn.plasticity import RULES

            if (
                not isinstance(drive, str)
                or drive not in RULES
                or not callable(getattr(RULES[drive], "layer_update", None))
            ):
                raise ParameterError(
                    f"parameter 'drive' must be None or the name of a rule with layer_update "
                    f"(e.g. 'stdp_additive'), got {drive!r}"
                )
        self._set_params(
            a=a,
            x_growth=x_growth,
            tau_x=tau_x,
            b=b,
            interval=interval,
            weight_unit=float(np.asarray(wu)) if get_dimensions(wu).is_dimensionless else wu,
            drive=drive,
        )

    @classmethod
    def from_config(cls, config: EIHLConfig, **brian2_settings: Any) -> EIHLContraction:
        """The rule with the per-step settings of an :class:`EIHLConfig` (``interval``, ``weight_unit``
        may be given for the Brian2 form).
        """
        return cls(
            a=config.a, x_growth=config.x_growth, tau_x=config.tau_x, b=config.b, drive=config.drive, **brian2_settings
        )

    @property
    def drive(self) -> str | None:
        """The rule whose depression drives ``x`` on PyTorch layers (``None``: timing-free, D = 1)."""
        return self._params["drive"]

    def depression_rule(self) -> PlasticityRule | None:
        r"""The :attr:`drive` rule with balanced amplitudes (``A_plus = A_minus = 1``) and bounds far away,
        so that its ``layer_update`` is exactly the STDP change :math:`\Delta W = \Delta W^{LTP} +
        \Delta W^{LTD}` and the drive :math:`L = \max(0, -\Delta W)` is the *net* depression: the
        post-before-pre pairings a synapse saw beyond its pre-before-post ones (``None`` when timing-free).

        A synapse whose presynaptic spikes are followed by postsynaptic ones (it helps its neuron fire)
        gets no drive; depression alone (``A_plus = 0``, earlier versions) grows fastest on the most active
        synapses, which carry what the network learned.
        """
        if self.drive is None:
            return None
        from biosnn.plasticity import RULES

        return RULES[self.drive](A_plus=1.0, A_minus=1.0, w_min=0.0, w_max=_FAR)

    # -- parameters as attributes (the controller reads rule.a, rule.x_growth ...) ------------------
    @property
    def a(self) -> float:
        return self._params["a"]

    @property
    def x_growth(self) -> float:
        return self._params["x_growth"]

    @property
    def tau_x(self) -> float:
        return self._params["tau_x"]

    @property
    def b(self) -> float:
        return self._params["b"]

    @property
    def interval(self) -> Quantity:
        return self._params["interval"]

    @property
    def growth_rate(self) -> Quantity:
        """Brian2: the rate at which ``x`` grows during the local period, ``x_growth / interval``."""
        return self.x_growth / self.interval

    @property
    def tau_x_time(self) -> Quantity:
        """Brian2: the decay time constant of ``x`` during the global period, ``tau_x * interval``."""
        return self.tau_x * self.interval

    # -- Brian2 text ----------------------------------------------------------------------------------
    @property
    def model(self) -> str:
        u = unit_name(self.weight_unit)
        return (
            f"w : {u}\nx : 1\nabsent : 1\npresent = 1 - absent : 1\nlocal_active : 1 (shared)\nthresh : {u} (shared)\n"
        )

    @property
    def on_pre(self) -> str:
        return ""

    @property
    def on_post(self) -> str:
        return ""

    @property
    def update_code(self) -> str:
        """The statements run every ``interval`` (one local step, or one decay step of ``x``)."""
        return (
            "x = local_active * (x + x_growth * (1 - absent)) + (1 - local_active) * (x * decay_x)\n"
            "w = local_active * (w * clip(1 - a * x, 0, 1)) + (1 - local_active) * w\n"
            "absent = 1 - (1 - absent) * (1 - local_active * int(abs(w) < thresh))\n"
            "w = w * (1 - absent)\n"
        )

    def namespace(self) -> dict[str, Any]:
        return {"a": self.a, "x_growth": self.x_growth, "decay_x": math.exp(-1.0 / self.tau_x)}

    def synapses(
        self,
        source: Any,
        target: Any,
        *,
        effect: str,
        model: str = "",
        weight: str = "w",
        name: str | None = None,
        delay: Quantity | None = None,
        method: str | None = None,
        dt: Quantity | None = None,
        namespace: Mapping[str, Any] | None = None,
    ) -> brian2.Synapses:
        """Build the :class:`brian2.Synapses` (see :meth:`PlasticityRule.synapses`) and its update operation.

        The update runs as ``S.run_regularly`` every ``interval`` (in the ``"start"`` slot), named
        ``<S.name>_eihl``; the local period is off (``local_active = 0``) until
        :meth:`begin_local_period`.
        """
        syn = super().synapses(
            source,
            target,
            effect=effect,
            model=model,
            weight=weight,
            name=name,
            delay=delay,
            method=method,
            dt=dt,
            namespace=namespace,
        )
        from biosnn.plasticity.base import rename_identifiers

        code = rename_identifiers(self.update_code, syn.plasticity_names)
        syn.run_regularly(code, dt=self.interval, when="start", name=f"{syn.name}_eihl")
        return syn

    # -- controlling a Brian2 Synapses between runs ---------------------------------------------------
    @staticmethod
    def _names(syn: brian2.Synapses) -> dict[str, str]:
        names = getattr(syn, "plasticity_names", None)
        rule = getattr(syn, "plasticity_rule", None)
        if names is None or not isinstance(rule, EIHLContraction):
            raise ParameterError(f"Synapses {getattr(syn, 'name', syn)!r} were not built by EIHLContraction.synapses()")
        return names

    def mask(self, syn: brian2.Synapses) -> np.ndarray:
        """Boolean array over the synapses of ``syn``: ``True`` where the synapse is present."""
        n = self._names(syn)
        return np.asarray(getattr(syn, n["absent"])[:]) == 0

    def threshold(self, syn: brian2.Synapses) -> Quantity:
        """``thresh(b) = b * mean(|w|)`` over the present synapses of ``syn`` (0 when none is present)."""
        n = self._names(syn)
        w = np.asarray(getattr(syn, n["w"])[:] / self.weight_unit)
        present = self.mask(syn)
        value = self.b * float(np.abs(w[present]).mean()) if present.any() else 0.0
        return value * self.weight_unit

    def begin_local_period(self, syn: brian2.Synapses, *, threshold: Quantity | float | None = None) -> Quantity:
        """Switch the local period on: freeze ``thresh`` (:meth:`threshold`, or the value given) and set
        ``local_active = 1``. Returns the threshold.
        """
        n = self._names(syn)
        th = self.threshold(syn) if threshold is None else check_quantity("threshold", threshold, self.weight_unit)
        if float(np.asarray(th / self.weight_unit)) < 0:
            raise ParameterError(f"parameter 'threshold' must be >= 0, got {threshold!r}")
        setattr(syn, n["thresh"], th)
        setattr(syn, n["local_active"], 1.0)
        return th

    def end_local_period(self, syn: brian2.Synapses) -> None:
        """Switch the local period off (``x`` decays from now on)."""
        n = self._names(syn)
        setattr(syn, n["local_active"], 0.0)


def _dimensionless(name: str, value: Any, *, low: float, low_inclusive: bool = True) -> float:
    v = float(np.asarray(check_quantity(name, value, 1)))
    return check_range(name, v, low=low, low_inclusive=low_inclusive)
