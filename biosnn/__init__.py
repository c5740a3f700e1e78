"""biosnn: Brian2 spiking circuits, their differentiable PyTorch twins, and hybrid local/global learning.

One import root. The circuit and plasticity libraries install as :mod:`biosnn.circuits` and
:mod:`biosnn.plasticity`; the twin compiler is :func:`biosnn.twin` (implemented in :mod:`biosnn.twins`).

``import biosnn`` is light: it imports neither Brian2 nor PyTorch nor matplotlib (PEP 562 ``__getattr__``
loads :func:`seed`, :func:`twin` and :mod:`biosnn.nir` on first use, and every subpackage loads what it
needs). biosnn's Brian2 set-up (:mod:`biosnn.brian`: the Cython cache in ``$BIOSNN_CACHE_DIR``, the plain
traceback for biosnn's own errors) is applied as soon as Brian2 is imported, by whichever module imports it
first (a post-import hook on ``brian2``), or at once when Brian2 is already imported.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

_LAZY = {"seed": ("biosnn.brian", "seed"), "twin": ("biosnn.twins", "twin")}


def _brian2_ready() -> None:
    """Apply biosnn's process-wide Brian2 settings (called once Brian2 is imported).

    Importing :mod:`biosnn.brian` applies them (it configures the cache and installs the hook when it
    runs); when Brian2 is being imported by :mod:`biosnn.brian` itself, that module finishes the job.
    """
    if "biosnn.brian" not in sys.modules:
        importlib.import_module("biosnn.brian")


class _AfterBrian2(importlib.abc.MetaPathFinder):
    """Runs :func:`_brian2_ready` right after the module ``brian2`` has been executed (then removes itself)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "brian2":
            return None
        sys.meta_path.remove(self)  # find the real spec with the other finders
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_then_configure(module):
            exec_module(module)
            loader.exec_module = exec_module  # one-shot
            _brian2_ready()

        loader.exec_module = exec_then_configure
        return spec


if "brian2" in sys.modules:
    _brian2_ready()
elif not any(isinstance(f, _AfterBrian2) for f in sys.meta_path):
    sys.meta_path.insert(0, _AfterBrian2())


def __getattr__(name: str):
    # Lazy: ``biosnn.seed`` imports Brian2, ``biosnn.twin`` torch and the compiler, on first use.
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if name == "nir":  # biosnn.nir.export / biosnn.nir.load without a separate import
        return importlib.import_module("biosnn.nir")
    raise AttributeError(f"module 'biosnn' has no attribute {name!r}")


__all__ = ["__version__", "seed", "twin"]
