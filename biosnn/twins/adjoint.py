"""The twin's compiled gradient path (``twin(..., gradients="compiled")``).

Not built yet: every run with gradients takes the tensor operations that autograd records.
"""

from __future__ import annotations

from biosnn.errors import UnsupportedFeatureError


def compiled_gradient_run(sim) -> tuple | None:
    """The result parts of the run ``sim`` (a :class:`biosnn.twins.simulate.Simulation` with gradients) on the
    compiled gradient path, or ``None`` where that path cannot run it (the tensor path runs then).
    """
    if sim.tw.gradients == "compiled":
        raise UnsupportedFeatureError(
            "gradients='compiled': the compiled gradient path is not built yet (biosnn.twins.adjoint); "
            "gradients='auto' or 'tensor' computes the same gradients with tensor operations"
        )
    return None


__all__ = ["compiled_gradient_run"]
