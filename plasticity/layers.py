"""Shared checks for the local (PyTorch layer) form of the spike-timing rules.

The rules' ``layer_update(pre, post, weight, *, dt)`` methods take 0/1 spike tensors ``pre [T, B, I]`` and
``post [T, B, O]``, a weight ``[O, I]`` and the time step as a Brian2 quantity, and return ``dW [O, I]``
summed over the batch. Traces decay exactly, by ``exp(-dt/tau)`` per step, so the result equals Brian2's
event-driven update of the same spike trains on the time grid.

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

__all__ = ["check_layer_inputs", "step_decay"]


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
        raise ShapeError(f"'pre' and 'post' must be [T, B, N] spike tensors, got {tuple(pre.shape)} and {tuple(post.shape)}")
    if weight.dim() != 2:
        raise ShapeError(f"'weight' must be [O, I], got {tuple(weight.shape)}")
    if pre.shape[:2] != post.shape[:2]:
        raise ShapeError(f"'pre' {tuple(pre.shape)} and 'post' {tuple(post.shape)} differ in time steps or batch")
    if weight.shape != (post.shape[2], pre.shape[2]):
        raise ShapeError(
            f"'weight' must be [O, I] = [{post.shape[2]}, {pre.shape[2]}] for these spikes, got {tuple(weight.shape)}"
        )
    step = to_float("dt", dt, brian2.second)
    check_range("dt", step, low=0.0, low_inclusive=False)
    for label, x in (("pre", pre), ("post", post)):
        if bool(((x != 0) & (x != 1)).any()):
            raise ParameterError(f"{label!r} must hold 0/1 spikes only")
    if not bool(torch.isfinite(weight).all()):
        raise NonFiniteError("'weight' holds NaN or infinite values")
    return step


def step_decay(step: float, tau: Any) -> float:
    """``exp(-dt / tau)`` for a step in seconds and a Brian2 time constant."""
    return math.exp(-step / float(tau / brian2.second))
