"""Shared checks for the local (PyTorch layer) form of the spike-timing rules.

The rules' ``layer_update(pre, post, weight, *, dt)`` methods take 0/1 spike tensors ``pre [T, B, I]`` and
``post [T, B, O]``, a weight ``[O, I]`` and the time step as a Brian2 quantity, and return ``dW [O, I]``
summed over the batch. Traces decay exactly, by ``exp(-dt/tau)`` per step, so the result equals Brian2's
event-driven update of the same spike trains on the time grid.

Two paths compute the same number. The update's potentiating and depressing parts are sums over spikes of
trace values, so for rules whose increments do not depend on the weight (additive, triplet, Vogels) the
batch sum is two ``einsum`` over ``[T, B, *]`` traces; :func:`within_bounds` decides whether the bounds could
clip any sample's trajectory, and only then each sample runs step by step with its own copy of the weight
(in chunks of the batch that fit a memory budget), exactly as Brian2 does. The weight-dependent
(multiplicative) rule always runs step by step. The step-by-step path is one generic loop for every rule,
:func:`biosnn.plasticity.engine.sequential_update`, given each rule's declarative
:class:`~biosnn.plasticity.engine.TraceRule` (``rule.layer_spec(dt=...)``: its traces and its ``on_pre`` /
``on_post`` weight hooks). Conv layers unfolded into ``B x L`` "batch" positions thus
cost ``O(T B L (I + O))`` memory, not ``O(B L O I)``.

To let an optimiser apply the update (as SpikingJelly does), write its negative into the gradient::

    weight.grad = -rule.layer_update(pre, post, weight, dt=1*ms)
    optimizer.step()   # plain SGD with lr=1 applies dW exactly
"""

from __future__ import annotations

import math
from typing import Any

import brian2
import torch

from biosnn.errors import NonFiniteError, ParameterError, ShapeError
from biosnn.units import check_range, to_float

__all__ = [
    "check_layer_inputs",
    "check_dt",
    "step_decay",
    "trace_history",
    "within_bounds",
    "batch_chunk",
    "sequential_in_chunks",
]


def check_layer_inputs(pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, dt: Any) -> float:
    """Validate the inputs of a ``layer_update`` and return ``dt`` in seconds.

    Raises
    ------
    ShapeError
        If ``pre`` is not ``[T, B, I]``, ``post`` not ``[T, B, O]`` or ``weight`` not ``[O, I]``.
    UnitError
        If ``dt`` is not a time.
    ParameterError
        If ``dt`` is not positive or the spike tensors hold values other than 0 and 1.
    NonFiniteError
        If ``weight`` holds NaN or inf.
    """
    for label, x in (("pre", pre), ("post", post), ("weight", weight)):
        if not isinstance(x, torch.Tensor):
            raise ShapeError(f"{label!r} must be a torch.Tensor, got {type(x).__name__}")
    if pre.dim() != 3 or post.dim() != 3:
        raise ShapeError(
            f"'pre' and 'post' must be [T, B, N] spike tensors, got {tuple(pre.shape)} and {tuple(post.shape)}"
        )
    if weight.dim() != 2:
        raise ShapeError(f"'weight' must be [O, I], got {tuple(weight.shape)}")
    if pre.shape[:2] != post.shape[:2]:
        raise ShapeError(f"'pre' {tuple(pre.shape)} and 'post' {tuple(post.shape)} differ in time steps or batch")
    if weight.shape != (post.shape[2], pre.shape[2]):
        raise ShapeError(
            f"'weight' must be [O, I] = [{post.shape[2]}, {pre.shape[2]}] for these spikes, got {tuple(weight.shape)}"
        )
    step = check_dt(dt)
    for label, x in (("pre", pre), ("post", post)):
        if bool(((x != 0) & (x != 1)).any()):
            raise ParameterError(f"{label!r} must hold 0/1 spikes only")
    if not bool(torch.isfinite(weight).all()):
        raise NonFiniteError("'weight' holds NaN or infinite values")
    return step


def check_dt(dt: Any) -> float:
    """A time step (a Brian2 time quantity) in seconds; raises ``UnitError``/``ParameterError`` naming ``dt``."""
    step = to_float("dt", dt, brian2.second)
    check_range("dt", step, low=0.0, low_inclusive=False)
    return step


def step_decay(step: float, tau: Any) -> float:
    """``exp(-dt / tau)`` for a step in seconds and a Brian2 time constant."""
    return math.exp(-step / float(tau / brian2.second))


def trace_history(
    spikes: torch.Tensor, decay: float, *, amplitude: float = 1.0, nearest: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """A spike trace at every step, before and after that step's own spikes.

    ``x <- x * decay`` each step, then ``x <- x + amplitude`` per spike (``x <- amplitude`` when
    ``nearest``). Returns ``(before, after)``, both shaped like ``spikes`` (``[T, B, N]``); ``before[t]`` is
    the decayed trace without step ``t``'s spikes, ``after[t]`` includes them.
    """
    before = torch.empty_like(spikes)
    after = torch.empty_like(spikes)
    x = spikes.new_zeros(spikes.shape[1:])
    for n in range(spikes.shape[0]):
        x = x * decay
        before[n] = x
        s = spikes[n]
        x = torch.where(s > 0, torch.full_like(x, amplitude), x) if nearest else x + amplitude * s
        after[n] = x
    return before, after


def within_bounds(weight: torch.Tensor, gain: torch.Tensor, loss: torch.Tensor, w_min: float, w_max: float) -> bool:
    """Whether no batch sample's weight can reach a bound, so that clipping never acts.

    ``gain >= 0`` and ``loss <= 0`` are the batch totals of potentiating and depressing updates. Every
    sample's partial sums lie in ``[loss, gain]``, so ``w_min <= w + loss`` and ``w + gain <= w_max`` (with
    ``w`` itself inside the bounds) make the unclipped sum exact.
    """
    ok = (weight >= w_min) & (weight <= w_max) & (weight + gain <= w_max) & (weight + loss >= w_min)
    return bool(ok.all())


#: Element budget of one chunk of per-sample weight copies on the step-by-step path (32 MiB in float64).
CHUNK_ELEMENTS = 1 << 22


def batch_chunk(batch: int, n_out: int, n_in: int, budget: int | None = None) -> int:
    """Samples per chunk for the step-by-step (per-sample weight) path: ``chunk * O * I <= budget``.

    ``budget`` defaults to :data:`CHUNK_ELEMENTS`.
    """
    budget = CHUNK_ELEMENTS if budget is None else budget
    return max(1, min(batch, budget // max(1, n_out * n_in)))


def sequential_in_chunks(step_fn, pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Sum of ``step_fn(pre_chunk, post_chunk, weight)`` over batch chunks that fit :func:`batch_chunk`.

    A batch that fits one chunk is ``step_fn(pre, post, weight)`` itself.
    """
    B = pre.shape[1]
    size = batch_chunk(B, weight.shape[0], weight.shape[1])
    if size >= B:
        return step_fn(pre, post, weight)
    total = torch.zeros_like(weight)
    for start in range(0, B, size):
        total = total + step_fn(pre[:, start : start + size], post[:, start : start + size], weight)
    return total
