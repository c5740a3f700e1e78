"""The :class:`Circuit` container and the small helpers every circuit builder shares.

A circuit is nothing but ordinary Brian2 objects (groups, synapses, monitors) collected in one explicit
:class:`brian2.Network`, plus the keyword arguments it was built from and the namespace of constants its
equations refer to. :meth:`Circuit.run` always passes that namespace explicitly: biosnn never relies on
Brian2's capture of the caller's local variables, nor on its implicit "magic" network.

Builders validate every argument *before* they create any Brian2 object (units with
:func:`biosnn.units.check_quantity`, ranges with :func:`biosnn.units.check_range`), so a bad argument
raises a :class:`~biosnn.errors.UnitError` or :class:`~biosnn.errors.ParameterError` naming it and nothing
is half-built.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import brian2
import numpy as np
from brian2.units.fundamentalunits import Quantity

from biosnn.errors import ParameterError, UnitError
from biosnn.units import check_quantity, check_range

__all__ = [
    "Circuit",
    "share_namespace",
    "PaperFigure",
    "paper_comparison",
    "run_standalone",
    "check_count",
    "check_probability",
    "check_positive_quantity",
    "check_seed",
    "random_pairs",
    "fixed_indegree_pairs",
]


@dataclass
class Circuit:
    """A published circuit as Brian2 objects in one explicit network.

    Attributes
    ----------
    name
        The registry name of the builder that made it (``"cuba"``, ``"brunel2000"`` ...).
    network
        The explicit :class:`brian2.Network` holding every object below.
    populations
        Neuron groups by role: ``"E"``, ``"I"``, ``"input"``, ``"output"`` ...
    projections
        Synapses by ``"<source><target>"`` role: ``"EE"``, ``"EI"``, ``"IE"``, ``"II"``, ``"input_E"`` ...
        (``EI`` means from E onto I).
    monitors
        Spike/state/rate monitors by name (``"spikes_E"``, ``"state_E"`` ...).
    parameters
        The keyword arguments of the builder call, exactly as given (Brian2 quantities included), so that
        ``CIRCUITS[c.name](**c.parameters)`` rebuilds the same circuit.
    namespace
        The constants (Brian2 quantities and plain numbers) that the equations refer to; passed explicitly
        to every :meth:`run`. Changing an entry between runs changes the constant for the next run. Every
        group of the network holds it too (its Brian2 ``namespace`` attribute, :func:`share_namespace`), so
        ``circuit.network.run(100*ms)``, as a Brian2 user would write it, finds the same constants.
    seed
        Seed of the run-time random numbers (Poisson input, noise); ``None`` leaves Brian2's generator as
        it is. Connectivity and initial values are drawn at build time from ``numpy.random.default_rng``
        with the builder's ``seed``.
    """

    name: str
    network: brian2.Network
    populations: dict[str, Any]
    projections: dict[str, brian2.Synapses]
    monitors: dict[str, Any]
    parameters: dict[str, Any]
    namespace: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    _seeded: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        share_namespace(self.network, self.namespace)

    def run(self, duration: Quantity, *, report: str | None = None) -> None:
        """Advance the network by ``duration`` with the circuit's explicit namespace.

        On the first call of a circuit built with a seed, Brian2's random generator is seeded with it
        (:func:`brian2.seed`), so that run-time noise is reproducible; later calls continue the stream.

        Parameters
        ----------
        duration
            Simulated time, a Brian2 quantity in seconds (``500*ms``).
        report
            Brian2's progress report (``None``, ``"text"``, ``"stdout"``, ``"stderr"``).

        Raises
        ------
        UnitError
            If ``duration`` is not a time.
        ParameterError
            If ``duration`` is negative.
        """
        d = check_quantity("duration", duration, brian2.second)
        check_range("duration", float(d), low=0.0)
        if report not in (None, "text", "stdout", "stderr"):
            raise ParameterError(f"parameter 'report' must be None, 'text', 'stdout' or 'stderr', got {report!r}")
        if self.seed is not None and not self._seeded:
            brian2.seed(self.seed)
            self._seeded = True
        self.network.run(d, report=report, namespace=self.namespace)

    @property
    def t(self) -> Quantity:
        """The network's current time."""
        return self.network.t

    def __repr__(self) -> str:  # the dataclass repr would print every Brian2 object in full
        return (
            f"Circuit(name={self.name!r}, populations={ {k: len(v) for k, v in self.populations.items()} }, "
            f"projections={sorted(self.projections)}, monitors={sorted(self.monitors)}, t={self.network.t!r})"
        )


def share_namespace(network: brian2.Network, namespace: dict[str, Any]) -> None:
    """Give every group of ``network`` the circuit's ``namespace`` as its own Brian2 ``namespace``.

    Brian2 resolves an external name in a group's own ``namespace`` first, then in the run's (the one
    given to :meth:`brian2.Network.run`, or the caller's local variables when none is given). A group with
    no namespace of its own (``None`` or empty) gets ``namespace`` itself (the same dict: later changes apply); one that has
    its own (a plasticity rule's constants) gets ``collections.ChainMap(own, namespace)``: its own names
    first, then the circuit's. Objects without a ``namespace`` attribute (monitors) are left alone. So
    ``network.run(duration)`` without a namespace runs the same equations as :meth:`Circuit.run`, and
    :meth:`Circuit.run` (which passes ``namespace`` explicitly) resolves every name to the same object.
    """  # noqa: E501
    from collections import ChainMap

    for obj in network.objects:
        if not hasattr(obj, "namespace"):
            continue
        own = obj.namespace
        if not own:  # None, or the empty dict Brian2 gives a group created without a namespace
            obj.namespace = namespace
        elif own is not namespace and not (isinstance(own, ChainMap) and namespace in own.maps):
            obj.namespace = ChainMap(own, namespace)


# ------------------------------------------------------------------------------------ published figures


@dataclass(frozen=True)
class PaperFigure:
    """One figure a paper reports, kept beside the circuit that should reproduce it.

    Attributes
    ----------
    quantity
        What is measured ("mean E rate after learning").
    paper
        The paper's value: a number, or a short description for a qualitative result.
    source
        Where the paper states it (figure, equation or table).
    unit
        Unit of ``paper`` and of the measured value ("Hz", "" for ratios).
    low, high
        The interval the measured value must fall in to count as reproduced (``None``: no bound on that
        side; both ``None``: the figure is qualitative and is shown, not judged).
    """

    quantity: str
    paper: float | str
    source: str
    unit: str = ""
    low: float | None = None
    high: float | None = None

    def met(self, measured: float | None) -> bool | None:
        """Whether ``measured`` lies within ``[low, high]``; ``None`` for qualitative figures or no value."""
        if measured is None or (self.low is None and self.high is None):
            return None
        value = float(measured)
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


def paper_comparison(figures: Mapping[str, PaperFigure], measured: Mapping[str, Any]) -> str:
    """A Markdown table of each paper figure beside the measured value and whether it is met.

    Parameters
    ----------
    figures
        ``{key: PaperFigure}``, e.g. a circuit module's ``PAPER_FIGURES`` (or one regime of it).
    measured
        ``{key: value}`` for the same keys; a missing key or ``None`` shows as "not measured". Numbers are
        plain floats in the figure's unit.

    Raises
    ------
    ParameterError
        If ``measured`` has a key that ``figures`` does not.
    """
    unknown = sorted(set(measured) - set(figures))
    if unknown:
        raise ParameterError(f"measured values {unknown} have no paper figure; known: {sorted(figures)}")

    def fmt(value: Any) -> str:
        if value is None:
            return "not measured"
        if isinstance(value, str):
            return value
        return f"{float(value):.3g}"

    rows = ["| quantity | paper | source | measured | reproduced |", "| --- | --- | --- | --- | --- |"]
    for key, fig in figures.items():
        value = measured.get(key)
        unit = f" {fig.unit}" if fig.unit else ""
        ok = fig.met(value)
        verdict = "shown" if ok is None else ("yes" if ok else "no")
        bounds = ""
        if fig.low is not None or fig.high is not None:
            lo = "-inf" if fig.low is None else f"{fig.low:g}"
            hi = "inf" if fig.high is None else f"{fig.high:g}"
            bounds = f" (accepted [{lo}, {hi}])"
        rows.append(
            f"| {fig.quantity} | {fmt(fig.paper)}{unit if not isinstance(fig.paper, str) else ''}"
            f"{bounds} | {fig.source} | {fmt(value)}{unit if value is not None else ''} | {verdict} |"
        )
    return "\n".join(rows)


T = TypeVar("T")


def run_standalone(
    build: Callable[[], Circuit], duration: Quantity, collect: Callable[[Circuit], T], *, directory: str | None = None
) -> T:
    """Build a circuit on Brian2's C++ standalone device, run it once, collect results, return to runtime.

    For the paper-scale runs that take minutes of simulated time (Song et al. 2000: one neuron, 1200 inputs):
    the generated C++ program runs them 20-40x faster than the Cython target, whose per-step Python
    overhead dominates such small networks. ``build`` must create every Brian2 object (it is called after
    the device is switched); ``collect`` reads what is needed (weights, spike times) while the standalone
    results are still loaded. The previous device is restored afterwards, also on errors.

    Parameters
    ----------
    build
        ``() -> Circuit``, e.g. ``lambda: song2000(seed=0)``; may add monitors to ``circuit.network``.
    duration
        Simulated time of the single run.
    collect
        ``(circuit) -> results``; must copy arrays out (``np.asarray(syn.w[:]).copy()``).
    directory
        Where the C++ project is written and compiled; a temporary folder (deleted afterwards) by default.

    Raises
    ------
    UnitError, ParameterError
        If ``duration`` is not a non-negative time.
    """
    d = check_quantity("duration", duration, brian2.second)
    check_range("duration", float(d), low=0.0)
    from brian2.devices.device import reset_device

    with tempfile.TemporaryDirectory(prefix="biosnn-standalone-") as tmp:
        brian2.set_device("cpp_standalone", directory=directory or tmp, build_on_run=True)
        try:
            circuit = build()
            circuit.run(d)
            return collect(circuit)
        finally:
            brian2.get_device().reinit()
            reset_device()


# --------------------------------------------------------------------------------------- argument checks


def check_count(name: str, value: Any, *, low: int = 1) -> int:
    """Return ``value`` as an ``int`` >= ``low``; raise :class:`ParameterError` naming ``name`` otherwise."""
    if isinstance(value, Quantity) and not value.dimensions.is_dimensionless:
        raise UnitError(f"parameter {name!r} must be a plain integer count, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"parameter {name!r} must be an integer, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ParameterError(f"parameter {name!r} must be >= {low}, got {value}")
    return int(value)


def check_probability(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float in ``(0, 1]`` (``[0, 1]`` with ``allow_zero``) or raise naming ``name``."""
    if isinstance(value, Quantity) and not value.dimensions.is_dimensionless:
        raise UnitError(f"parameter {name!r} must be a dimensionless probability, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"parameter {name!r} must be a number in [0, 1], got {value!r}") from None
    return check_range(name, v, low=0.0, high=1.0, low_inclusive=allow_zero)


def check_number(
    name: str, value: Any, *, low: float | None = None, high: float | None = None, low_inclusive: bool = True
) -> float:
    """Return a dimensionless ``value`` as a float within the bounds or raise naming ``name``."""
    if isinstance(value, Quantity) and not value.dimensions.is_dimensionless:
        raise UnitError(f"parameter {name!r} must be dimensionless, got {value!r}")
    if isinstance(value, bool):
        raise ParameterError(f"parameter {name!r} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"parameter {name!r} must be a number, got {value!r}") from None
    return check_range(name, v, low=low, high=high, low_inclusive=low_inclusive)


def check_positive_quantity(name: str, value: Any, unit: Quantity, *, allow_zero: bool = False) -> Quantity:
    """Check that ``value`` has the dimensions of ``unit`` and is > 0 (>= 0 with ``allow_zero``)."""
    q = check_quantity(name, value, unit)
    check_range(name, float(np.asarray(q / unit)), low=0.0, low_inclusive=allow_zero)
    return q


def check_seed(value: Any) -> int | None:
    """A seed is ``None`` or a non-negative integer."""
    if value is None:
        return None
    return check_count("seed", value, low=0)


def check_dt(value: Any) -> Quantity:
    """The simulation time step: a positive time no longer than 10 ms."""
    q = check_positive_quantity("dt", value, brian2.second)
    check_range("dt", float(q / brian2.ms), high=10.0)
    return q


# ------------------------------------------------------------------------------------------ connectivity


def random_pairs(
    rng: np.random.Generator, n_pre: int, n_post: int, p: float, *, autapses: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Erdos-Renyi connectivity: each (pre, post) pair exists independently with probability ``p``.

    Drawn with a seeded NumPy generator (not Brian2's), so the wiring depends on the builder's seed only.
    The number of synapses onto each post neuron is binomial; the sources of each are sampled without
    replacement, which is equivalent to independent Bernoulli trials per pair.

    Returns
    -------
    i, j
        Presynaptic and postsynaptic indices (``int32``), sorted by ``j`` then ``i``.
    """
    n_candidates = n_pre - 1 if not autapses else n_pre
    counts = rng.binomial(n_candidates, p, size=n_post)
    return _sample_sources(rng, n_pre, counts, autapses)


def fixed_indegree_pairs(
    rng: np.random.Generator, n_pre: int, n_post: int, k: int, *, autapses: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Every post neuron receives exactly ``k`` synapses from distinct, uniformly chosen sources.

    This is the connectivity of Brunel (2000): each neuron receives C_E = epsilon N_E excitatory and
    C_I = epsilon N_I inhibitory inputs.
    """
    limit = n_pre - 1 if not autapses else n_pre
    if k > limit:
        raise ParameterError(f"in-degree {k} exceeds the {limit} available sources")
    counts = np.full(n_post, k, dtype=np.int64)
    return _sample_sources(rng, n_pre, counts, autapses)


def _sample_sources(
    rng: np.random.Generator, n_pre: int, counts: np.ndarray, autapses: bool
) -> tuple[np.ndarray, np.ndarray]:
    pre_parts = []
    for j, c in enumerate(counts):
        if c == 0:
            continue
        if autapses or j >= n_pre:
            src = rng.choice(n_pre, size=int(c), replace=False)
        else:
            src = rng.choice(n_pre - 1, size=int(c), replace=False)
            src[src >= j] += 1  # skip the neuron itself
        pre_parts.append(np.sort(src))
    i = np.concatenate(pre_parts).astype(np.int32) if pre_parts else np.zeros(0, dtype=np.int32)
    j = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    return i, j
