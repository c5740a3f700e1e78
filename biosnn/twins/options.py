"""The settings of a twin (:func:`biosnn.twins.twin`), checked once, with errors that name the setting."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch

from biosnn.errors import ParameterError
from biosnn.twins.runtime import RANDOM_SOURCES


def check_arguments(*, batch_size, dtype, learnable, namespace, exact, seed, random: str) -> tuple[str, ...]:
    """Check the settings of :func:`biosnn.twins.twin` that need no network (``ParameterError`` naming the
    first that is wrong); the ``learnable`` entries as a tuple.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
    if dtype not in (torch.float64, torch.float32):
        raise ParameterError(f"dtype must be torch.float64 or torch.float32, got {dtype!r}")
    if isinstance(learnable, str):
        learnable = (learnable,)
    if not isinstance(learnable, Iterable):
        raise ParameterError(f"learnable must be a sequence of 'owner.variable' strings, got {learnable!r}")
    if namespace is not None and not isinstance(namespace, Mapping):
        raise ParameterError(f"namespace must map names to values (a dict), got {type(namespace).__name__}")
    if exact is not None and not isinstance(exact, (bool, np.bool_)):
        raise ParameterError(f"exact must be True, False or None, got {exact!r}")
    limit = 2**32 - 1 if random == "numpy" else 2**63 - 1
    if seed is not None and (
        isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= limit
    ):
        raise ParameterError(f"seed must be None or an integer in 0..{limit}, got {seed!r}")
    for item in learnable:
        if not isinstance(item, str) or item.count(".") != 1:
            raise ParameterError(f"learnable entries are 'owner.variable' strings, got {item!r}")
    return tuple(learnable)


def check_random(random: str) -> str:
    """``random`` if it names a random source (:data:`biosnn.twins.runtime.RANDOM_SOURCES`)."""
    if random not in RANDOM_SOURCES:
        raise ParameterError(f"random must be one of {sorted(RANDOM_SOURCES)}, got {random!r}")
    return random


#: how a run with gradients computes them (see :func:`biosnn.twins.twin`)
GRADIENT_PATHS = ("auto", "tensor", "compiled")


def check_threads(threads) -> int:
    """``threads`` if it is a positive integer (``ParameterError`` otherwise)."""
    if isinstance(threads, (bool, np.bool_)) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ParameterError(f"threads must be a positive integer, got {threads!r}")
    return int(threads)


def check_gradients(gradients) -> str:
    """``gradients`` if it names a gradient path (:data:`GRADIENT_PATHS`)."""
    if gradients not in GRADIENT_PATHS:
        raise ParameterError(f"gradients must be one of {list(GRADIENT_PATHS)}, got {gradients!r}")
    return gradients


def check_device(device) -> torch.device:
    """``device`` as a ``torch.device`` that exists on this machine (``ParameterError`` otherwise)."""
    if not isinstance(device, (str, torch.device)):
        raise ParameterError(f"device must be a string such as 'cpu' or 'cuda:0' or a torch.device, got {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ParameterError(f"device {device!r} is not a torch device ('cpu', 'cuda', 'cuda:N'): {exc}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(
                f"device {device!r} asked for, but no CUDA device is available "
                "(torch.cuda.is_available() is False); use device='cpu'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ParameterError(
                f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                f"(cuda:0 .. cuda:{torch.cuda.device_count() - 1})"
            )
    elif dev.type != "cpu":
        try:
            torch.empty(0, device=dev)
        except Exception as exc:  # noqa: BLE001 - any backend's "not available"
            raise ParameterError(f"device {device!r} is not available on this machine: {exc}") from None
    return dev


__all__ = ["GRADIENT_PATHS", "check_arguments", "check_device", "check_gradients", "check_random", "check_threads"]
