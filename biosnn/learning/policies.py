r"""Switching policies of the hybrid controller: when to leave the global or the local period.

A policy is a small frozen object with one method, ``decide(view) -> "global" | "local"``, consulted at
every decision point (the end of each epoch or of each iteration: the controller's *granularity*). The
:class:`PhaseView` it sees holds the current phase, how many units (epochs or iterations) it has lasted,
the network's current sparsity :math:`S_{curr}` and the sparsity at the previous decision point
:math:`S_{pre}`, and how many units the run has left. Policies live in :data:`SWITCHING_POLICIES`.

``connectivity`` (default): EIHL's Algorithm 1 as we read it
-------------------------------------------------------------
The EIHL paper (ICLR 2024) switches on the network's connectivity, comparing the current sparsity with
the previous one ("Curr S >= Pre S"). Its method section is not available to us; our reading:

* **local -> global** as soon as the local period has removed synapses, :math:`S_{curr} > S_{pre}`,
  after at least ``min_local_units`` units
  (connectivity dropped: inhibition has done its work, excitation may recover the accuracy). While
  :math:`S_{curr} = S_{pre}` the local period continues, :math:`x` keeps growing and the contraction
  strengthens until some synapses fall under ``thresh(b)``. A local period lasts at most
  ``max_local_units`` units, and ends when ``final_global_units`` units or fewer remain.
* **global -> local** once the global period has lasted ``global_units`` units and the connectivity is
  stable, :math:`S_{curr} \ge S_{pre}`, unless the sparsity already reached ``max_sparsity`` or
  ``final_global_units`` units or fewer remain (the run ends with a global fine-tuning period). The
  global period re-creates removed synapses where the loss gradient says so (RigL regrowth, see
  :class:`biosnn.learning.eihl.EIHLController`); while it does, :math:`S_{curr} < S_{pre}` and the global
  period goes on: the test decides.

``alternate``: a fixed schedule of ``global_units`` global and ``local_units`` local units (same
``max_sparsity`` and ``final_global_units`` guards). ``global_only``: never local (STBP run by the
controller; an EIHL run with it equals an STBP run exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from biosnn.errors import ParameterError
from biosnn.registry import Registry

GLOBAL = "global"
LOCAL = "local"
PHASES = (GLOBAL, LOCAL)


@dataclass(frozen=True)
class PhaseView:
    """What a switching policy sees at a decision point.

    Attributes
    ----------
    phase
        The current period, ``"global"`` or ``"local"``.
    units_in_phase
        Units (epochs or iterations) the current period has lasted, including the one just finished.
    sparsity
        Current overall sparsity :math:`S_{curr}` (fraction of absent synapses).
    previous_sparsity
        Sparsity at the previous decision point, :math:`S_{pre}`.
    units_done
        Units finished since the start of the run.
    units_left
        Units left in the run (``None`` when unknown).
    """

    phase: str
    units_in_phase: int
    sparsity: float
    previous_sparsity: float
    units_done: int
    units_left: int | None


@runtime_checkable
class SwitchingPolicy(Protocol):
    """Anything with ``decide(view: PhaseView) -> "global" | "local"``."""

    def decide(self, view: PhaseView) -> str: ...


SWITCHING_POLICIES: Registry[type] = Registry("switching policy")


def _positive_int(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ParameterError(f"switching policy parameter {name!r} must be a positive integer, got {value!r}")
    return value


def _nonnegative_int(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ParameterError(f"switching policy parameter {name!r} must be an integer >= 0, got {value!r}")
    return value


def _fraction(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (0.0 <= float(value) <= 1.0):
        raise ParameterError(f"switching policy parameter {name!r} must lie in [0, 1], got {value!r}")
    return float(value)


def _may_go_local(view: PhaseView, max_sparsity: float, final_global_units: int) -> bool:
    if view.sparsity >= max_sparsity:
        return False
    return view.units_left is None or view.units_left > final_global_units


def _must_end(view: PhaseView, final_global_units: int) -> bool:
    """A local period ends when ``final_global_units`` units or fewer remain (the run ends globally)."""
    return view.units_left is not None and view.units_left <= final_global_units


@SWITCHING_POLICIES.register("connectivity")
@dataclass(frozen=True)
class ConnectivityPolicy:
    """EIHL's connectivity-driven switching (Algorithm 1 as we read it; see the module docstring).

    Parameters
    ----------
    global_units
        Minimum length of a global period, in units.
    max_local_units
        Maximum length of a local period, in units.
    max_sparsity
        No new local period starts once the sparsity reached this fraction (1.0: no limit).
    final_global_units
        No local period starts (and a running one ends) when this many units or fewer remain.
    min_local_units
        A local period lasts at least this many units before a removal ends it (so that the removal is
        driven by the depression accumulated in ``x``, not only by the weights already under ``thresh``).
    """

    global_units: int = 2
    max_local_units: int = 3
    max_sparsity: float = 1.0
    final_global_units: int = 0
    min_local_units: int = 1

    def __post_init__(self) -> None:
        _positive_int("global_units", self.global_units)
        _positive_int("max_local_units", self.max_local_units)
        _positive_int("min_local_units", self.min_local_units)
        _fraction("max_sparsity", self.max_sparsity)
        _nonnegative_int("final_global_units", self.final_global_units)

    def decide(self, view: PhaseView) -> str:
        if view.phase == LOCAL:
            removed = view.sparsity > view.previous_sparsity and view.units_in_phase >= self.min_local_units
            done = (
                removed
                or view.units_in_phase >= self.max_local_units
                or view.sparsity >= self.max_sparsity
                or _must_end(view, self.final_global_units)
            )
            return GLOBAL if done else LOCAL
        stable = view.sparsity >= view.previous_sparsity
        if (
            stable
            and view.units_in_phase >= self.global_units
            and _may_go_local(view, self.max_sparsity, self.final_global_units)
        ):
            return LOCAL
        return GLOBAL


@SWITCHING_POLICIES.register("alternate")
@dataclass(frozen=True)
class AlternatePolicy:
    """A fixed schedule: ``global_units`` global units, then ``local_units`` local units, and again.

    ``max_sparsity`` and ``final_global_units`` guard the start of a local period as in
    :class:`ConnectivityPolicy`.
    """

    global_units: int = 2
    local_units: int = 1
    max_sparsity: float = 1.0
    final_global_units: int = 0

    def __post_init__(self) -> None:
        _positive_int("global_units", self.global_units)
        _positive_int("local_units", self.local_units)
        _fraction("max_sparsity", self.max_sparsity)
        _nonnegative_int("final_global_units", self.final_global_units)

    def decide(self, view: PhaseView) -> str:
        if view.phase == LOCAL:
            done = view.units_in_phase >= self.local_units or _must_end(view, self.final_global_units)
            return GLOBAL if done else LOCAL
        if view.units_in_phase >= self.global_units and _may_go_local(view, self.max_sparsity, self.final_global_units):
            return LOCAL
        return GLOBAL


@SWITCHING_POLICIES.register("global_only")
@dataclass(frozen=True)
class GlobalOnlyPolicy:
    """Never switch to the local period (STBP run by the hybrid controller)."""

    def decide(self, view: PhaseView) -> str:
        return GLOBAL


def as_policy(value: SwitchingPolicy | str | None) -> SwitchingPolicy:
    """A policy from a registered name (default settings), an instance, or ``None`` (``connectivity``)."""
    if value is None:
        return ConnectivityPolicy()
    if isinstance(value, str):
        return SWITCHING_POLICIES[value]()
    if isinstance(value, SwitchingPolicy) and not isinstance(value, type):
        return value
    raise ParameterError(
        f"switching policy must be a registered name ({', '.join(SWITCHING_POLICIES)}) or an "
        f"object with decide(view), got {type(value).__name__}"
    )
