"""Brian2 set-up shared by every part of biosnn.

Library code builds explicit :class:`brian2.Network` objects with explicit namespaces; it never uses
``from brian2 import *`` or Brian2's implicit "magic" network. This module holds the few process-wide
settings biosnn needs:

* the Cython compile cache lives in ``$BIOSNN_CACHE_DIR/brian2-cython`` when that variable is set (the
  Makefile sets it to ``.cache/`` in the checkout, so a fresh clone starts with an empty cache and keeps it
  between runs), otherwise in Brian2's own default location;
* :func:`seed` seeds every random source biosnn touches (Brian2, NumPy, PyTorch, Python);
* :func:`mark_used` tells Brian2's "object never included in a network" warning that objects a twin ran
  were used;
* an uncaught :class:`~biosnn.errors.BiosnnError` prints Python's plain traceback, not Brian2's "unexpected
  error, please report this bug" banner, and leaves no Brian2 debug log or script copy in the temporary
  folder (Brian2's own hook still handles every other exception).
"""

from __future__ import annotations

import logging
import os
import random
import sys
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


#: the largest seed NumPy (and so Brian2) accepts
MAX_SEED = 2**32 - 1


def seed(value: int) -> None:
    """Seed Brian2, NumPy, Python's ``random`` and PyTorch (when imported) with ``value``.

    Parameters
    ----------
    value
        An integer in ``0 .. 2**32 - 1`` (NumPy's range).

    Raises
    ------
    ParameterError
        For anything else (a negative or too large number, a float, a bool, ``None``), before any
        generator is seeded.
    """
    from biosnn.errors import ParameterError

    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or not 0 <= int(value) <= MAX_SEED
    ):
        raise ParameterError(f"seed must be an integer in 0..{MAX_SEED} (2**32 - 1), got {value!r}")
    value = int(value)
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
    later); the warning would be wrong for them. Objects are recognised by name and creation place.
    """

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
    from biosnn.errors import ParameterError

    if target not in ("numpy", "cython", "auto"):
        raise ParameterError(f"unknown Brian2 code-generation target {target!r}; use 'numpy', 'cython' or 'auto'")
    brian2.prefs["codegen.target"] = target


def _plain_excepthook(previous):
    """A ``sys.excepthook`` that shows biosnn's own errors as Python would, and hands the rest to ``previous``.

    Brian2's hook (installed when it is imported) shows every uncaught exception under a banner asking to
    report a bug in Brian2, and keeps its debug log and a copy of the script in the temporary folder. A
    :class:`~biosnn.errors.BiosnnError` is the user's input being refused, not a bug in Brian2.
    """

    def hook(exc_type, exc_value, exc_tb):
        from biosnn.errors import BiosnnError

        if isinstance(exc_type, type) and issubclass(exc_type, BiosnnError):
            return sys.__excepthook__(exc_type, exc_value, exc_tb)
        return previous(exc_type, exc_value, exc_tb)

    hook._biosnn_plain = True
    hook.previous = previous
    return hook


def install_excepthook() -> None:
    """Put :func:`_plain_excepthook` in front of the current ``sys.excepthook`` (once)."""
    if not getattr(sys.excepthook, "_biosnn_plain", False):
        sys.excepthook = _plain_excepthook(sys.excepthook)


install_excepthook()
configure_cache()  # biosnn's Brian2 set-up applies whenever this module is imported (biosnn/__init__.py's hook)
