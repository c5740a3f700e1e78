"""Brian2 set-up shared by every part of biosnn.

Library code builds explicit :class:`brian2.Network` objects with explicit namespaces; it never uses
``from brian2 import *`` or Brian2's implicit "magic" network. This module holds the few process-wide
settings biosnn needs:

* the Cython compile cache lives in ``$BIOSNN_CACHE_DIR/brian2-cython`` when that variable is set (the
  Makefile sets it to ``.cache/`` in the checkout, so a fresh clone starts with an empty cache and keeps it
  between runs), otherwise in Brian2's own default location;
* :func:`seed` seeds every random source biosnn touches (Brian2, NumPy, PyTorch, Python);
* :func:`mark_used` tells Brian2's "object never included in a network" warning that objects a twin ran
  were used.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import brian2
import numpy as np

CACHE_ENV = "BIOSNN_CACHE_DIR"


def cache_dir() -> Path | None:
    """The biosnn cache folder from ``$BIOSNN_CACHE_DIR``, or ``None`` when it is not set."""
    value = os.environ.get(CACHE_ENV)
    return Path(value).expanduser().resolve() if value else None


def configure_cache() -> Path | None:
    """Point Brian2's Cython cache into the biosnn cache folder, unless the user chose one already."""
    root = cache_dir()
    if root is None:
        return None
    prefs = brian2.prefs
    if prefs["codegen.runtime.cython.cache_dir"] not in (None, ""):
        return Path(prefs["codegen.runtime.cython.cache_dir"])
    target = root / "brian2-cython"
    target.mkdir(parents=True, exist_ok=True)
    prefs["codegen.runtime.cython.cache_dir"] = str(target)
    return target


def seed(value: int) -> None:
    """Seed Brian2, NumPy, Python's ``random`` and PyTorch (when imported) with ``value``."""
    brian2.seed(value)
    np.random.seed(value)
    random.seed(value)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.manual_seed(value)


class _UsedObjects(logging.Filter):
    """Drops Brian2's ``unused_brian_object`` warning for objects that were used (by a twin).

    Brian2 warns when an object is deleted without ever having been part of a network run. A twin runs
    the objects itself and gives them back to Brian2 unclaimed (so that they can still join any network
    later); the warning would be wrong for them. Objects are recognised by name and creation place."""

    def __init__(self) -> None:
        super().__init__()
        self.used: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(f"'{name}'" in message and stack in message for name, stack in self.used)


_USED = _UsedObjects()
logging.getLogger("brian2.core.base.unused_brian_object").addFilter(_USED)


def mark_used(objects) -> None:
    """Record that ``objects`` (Brian2 objects) were used, so Brian2 does not warn when they are deleted."""
    for obj in objects:
        _USED.used.add((obj.name, getattr(obj, "_creation_stack", "") or ""))


def use_target(target: str) -> None:
    """Select Brian2's runtime code-generation target (``"numpy"`` or ``"cython"``)."""
    if target not in ("numpy", "cython", "auto"):
        raise ValueError(f"unknown Brian2 code-generation target {target!r}; use 'numpy', 'cython' or 'auto'")
    brian2.prefs["codegen.target"] = target
