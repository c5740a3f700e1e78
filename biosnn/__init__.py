"""biosnn: Brian2 spiking circuits, their differentiable PyTorch twins, and hybrid local/global learning.

One import root. The circuit and plasticity libraries install as :mod:`biosnn.circuits` and
:mod:`biosnn.plasticity`; the twin compiler is :func:`biosnn.twin` (implemented in :mod:`biosnn.twins`).
"""

from __future__ import annotations

from biosnn.brian import configure_cache as _configure_cache
from biosnn.brian import seed

__version__ = "0.1.0"

_configure_cache()


def __getattr__(name: str):
    # Lazy: ``import biosnn`` stays light; ``biosnn.twin`` imports torch and the compiler on first use.
    if name == "twin":
        from biosnn.twins import twin

        globals()["twin"] = twin
        return twin
    if name == "nir":  # biosnn.nir.export / biosnn.nir.load without a separate import
        import importlib

        return importlib.import_module("biosnn.nir")
    raise AttributeError(f"module 'biosnn' has no attribute {name!r}")


__all__ = ["__version__", "seed", "twin"]
