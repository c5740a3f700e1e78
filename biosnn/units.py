"""Units at the public boundary, converted once.

Public functions take Brian2 quantities (``10*ms``); these helpers check the dimension and convert to a
plain float in a stated unit exactly once, raising :class:`~biosnn.errors.UnitError` that names the
parameter otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import brian2
import numpy as np
from brian2.units.fundamentalunits import DimensionMismatchError, Quantity, get_dimensions, have_same_dimensions

from biosnn.errors import NonFiniteError, ParameterError, UnitError


def check_quantity(name: str, value: Any, unit: Quantity | float, *, finite: bool = True) -> Quantity:
    """Return ``value`` as a Brian2 quantity with the dimensions of ``unit``.

    Parameters
    ----------
    name
        The parameter's name, used in the error message.
    value
        A Brian2 quantity (or a plain number where ``unit`` is dimensionless).
    unit
        A Brian2 unit (``brian2.ms``) or ``1`` for dimensionless parameters.
    finite
        Whether NaN and infinite values are rejected.

    Raises
    ------
    UnitError
        If ``value`` has other dimensions than ``unit``.
    NonFiniteError
        If ``finite`` and ``value`` holds NaN or inf.
    """
    if isinstance(value, bool) or value is None:
        raise UnitError(f"parameter {name!r} must be a quantity in units of {_unit_name(unit)}, got {value!r}")
    try:
        same = have_same_dimensions(value, unit)
    except (TypeError, ValueError, DimensionMismatchError):
        same = False
    if not same:
        raise UnitError(
            f"parameter {name!r} must have units of {_unit_name(unit)}, "
            f"got {value!r} (dimensions {get_dimensions(value) if _is_numeric(value) else type(value).__name__})"
        )
    q = brian2.Quantity(value) if not isinstance(value, Quantity) else value
    if finite and not np.all(np.isfinite(np.asarray(q))):
        raise NonFiniteError(f"parameter {name!r} must be finite, got {value!r}")
    return q


def to_float(name: str, value: Any, unit: Quantity | float) -> float:
    """Check ``value`` against ``unit`` and return it as a float expressed in ``unit``."""
    q = check_quantity(name, value, unit)
    arr = np.asarray(q / unit, dtype=float)
    if arr.ndim != 0:
        raise ParameterError(f"parameter {name!r} must be a scalar, got shape {arr.shape}")
    return float(arr)


def check_range(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Raise :class:`ParameterError` naming ``name`` if ``value`` lies outside ``[low, high]``."""
    v = float(value)
    if math.isnan(v):
        raise NonFiniteError(f"parameter {name!r} is NaN")
    if low is not None and (v < low or (v == low and not low_inclusive)):
        raise ParameterError(f"parameter {name!r} must be {'>=' if low_inclusive else '>'} {low}, got {v}")
    if high is not None and (v > high or (v == high and not high_inclusive)):
        raise ParameterError(f"parameter {name!r} must be {'<=' if high_inclusive else '<'} {high}, got {v}")
    return v


def _is_numeric(value: Any) -> bool:
    try:
        np.asarray(value, dtype=float)
        return True
    except (TypeError, ValueError):
        return False


def _unit_name(unit: Any) -> str:
    if isinstance(unit, Quantity):
        d = get_dimensions(unit)
        return "1 (dimensionless)" if d.is_dimensionless else str(unit)
    return "1 (dimensionless)"
