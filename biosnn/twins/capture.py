"""Capture: a :class:`brian2.Network` as the declared, scheduled blocks the twin runs.

Brian2 prepares the network for its numpy target (:func:`biosnn.twins.brian_adapter.prepare_network`); every
object that acts during a step becomes one :class:`ScheduledBlock` (its Brian2 object, its main code object,
its clock, and its statements translated by :func:`biosnn.twins.codegen.translate`), in Brian2's schedule
order. :class:`NetworkCapture` holds them with the network's groups, its ``dt``, the arrays the twin mirrors
and those the blocks write. Everything the twin cannot run is refused here, before anything is simulated.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import brian2
import numpy as np
from brian2.core.variables import ArrayVariable, Constant
from brian2.parsing.expressions import parse_expression_dimensions
from brian2.units.fundamentalunits import DimensionMismatchError
from brian2.utils.stringtools import get_identifiers

from biosnn.errors import BiosnnError, ParameterError, UnitError, UnsupportedFeatureError
from biosnn.twins.brian_adapter import CapturedCode, failed_object, prepare_network, record_code_object
from biosnn.twins.codegen import (
    RECORDED_PREFIX,
    Block,
    Statement,
    TorchNodeRenderer,
    array_key,
    is_clock_variable,
    threshold_parts,
    translate,
)
from biosnn.twins.functions import TORCH_FUNCTIONS
from biosnn.twins.runtime import OPERATIONS, scale_for

#: Brian2 templates of objects that only observe (monitors): the twin records on its own.
OBSERVERS = {"spikemonitor", "statemonitor", "ratemonitor"}

#: Brian2 template -> how :func:`biosnn.twins.codegen.translate` runs its statements
_MODES = {"reset": "reset", "synapses": "events"}

#: the Brian2 classes whose clocks must agree (the groups and synapses)
_CLOCKED = (brian2.NeuronGroup, brian2.Synapses, brian2.SpikeGeneratorGroup, brian2.PoissonGroup)


@dataclass
class ScheduledBlock:
    """One Brian2 object that acts during a step, in Brian2's schedule order.

    Attributes
    ----------
    obj
        The Brian2 object (a ``CodeRunner``: state updater, thresholder, resetter, pathway ...).
    code
        Its main code object, as Brian2 created it for its numpy target.
    every
        It runs on the network's steps divisible by ``every`` (its clock's ``dt`` over the network's).
    dt
        Its clock's ``dt`` (s).
    block
        Its translated statements; ``None`` for a SpikeGeneratorGroup (no statements).
    """

    obj: Any
    code: CapturedCode
    every: int
    dt: float
    block: Block | None

    @property
    def template(self) -> str:
        return self.code.template

    @property
    def name(self) -> str:
        return self.obj.name

    def owners(self) -> set[str]:
        """The groups whose learnable namespace constants the block's statements may use."""
        o = self.obj
        owner = o.group.name if hasattr(o, "group") and o.group is not None else o.name
        if isinstance(o, brian2.synapses.synapses.SynapticPathway):
            owner = o.synapses.name
        return {owner, getattr(getattr(o, "group", None), "name", owner)}


@dataclass
class NetworkCapture:
    """A network as the twin runs it.

    Attributes
    ----------
    objects
        The active Brian2 objects, in schedule order.
    groups
        ``name -> group`` of the NeuronGroups, PoissonGroups, SpikeGeneratorGroups and Synapses (no subgroups).
    dt
        The network's ``dt`` (s).
    schedule
        The blocks that act during a step, in Brian2's schedule order.
    variables
        The Brian2 arrays the twin mirrors (those the blocks use, and every group's own state variables).
    written
        Array keys the blocks write (held per trial).
    learnable_constants
        ``owner -> {constant name: "owner.name"}`` of the namespace constants made learnable.
    """

    objects: list
    groups: dict[str, Any]
    dt: float
    schedule: list[ScheduledBlock]
    variables: list[ArrayVariable]
    written: set[str]
    learnable_constants: dict[str, dict[str, str]]

    def pathways(self) -> dict[str, Any]:
        """``name -> SynapticPathway`` of the scheduled pathways."""
        return {s.name: s.obj for s in self.schedule if s.template == "synapses"}


def capture(net: brian2.Network, namespace: dict, learnable: Sequence[str] = ()) -> NetworkCapture:
    """Prepare ``net`` in Brian2 and capture it as scheduled blocks (:class:`NetworkCapture`).

    Raises
    ------
    UnsupportedFeatureError
        For any construct the twin cannot run (naming the object), before anything runs.
    ParameterError, UnitError
        Where Brian2 cannot prepare the network (``Network.run`` would fail too), or for an unknown
        ``learnable`` entry.
    """
    store: dict[str, CapturedCode] = {}
    objs = _prepare(net, namespace, store)
    objects = [o for o in objs if o.active]
    from biosnn.brian import mark_used

    mark_used(objs)  # the twin runs them: no "never included in a network" warning
    dt = network_dt(net, objects)
    groups = groups_of(objects)
    schedule = _schedule(objects, store, dt)
    constants = learnable_constants(learnable, groups, namespace)
    for s in schedule:  # translate all blocks (raises UnsupportedFeatureError before anything is simulated)
        s.block = _translate(s)
    variables, written = _arrays_of(schedule, groups)
    return NetworkCapture(objects, groups, dt, schedule, variables, written, constants)


def _prepare(net: brian2.Network, namespace: dict, store: dict[str, CapturedCode]) -> list:
    """:func:`~biosnn.twins.brian_adapter.prepare_network`, with Brian2's errors about the user's model as
    biosnn errors that keep Brian2's words.
    """
    try:
        return prepare_network(net, namespace, store)
    except BiosnnError:
        raise
    except (
        brian2.core.base.BrianObjectException,
        DimensionMismatchError,
        KeyError,
        SyntaxError,
        ValueError,
        TypeError,
    ) as exc:
        # the user's model is wrong (Network.run would fail the same way): a biosnn error with Brian2's words
        orig = exc.__cause__ if isinstance(exc, brian2.core.base.BrianObjectException) and exc.__cause__ else exc
        if isinstance(orig, BiosnnError):  # one of the twin's own, raised inside Brian2's preparation
            raise orig from None
        obj = failed_object(exc)
        cls = UnitError if isinstance(orig, DimensionMismatchError) else ParameterError
        text = " ".join(str(orig.args[0] if isinstance(orig, KeyError) and orig.args else orig).split())
        raise cls(
            f"network {net.name!r}: Brian2 cannot prepare {f'object {obj!r}' if obj else 'it'} "
            f"(Network.run would fail too): {type(orig).__name__}: {text}"
        ) from exc


def network_dt(net: brian2.Network, objects: list) -> float:
    """The one ``dt`` of the network's groups and synapses (``UnsupportedFeatureError`` if they differ)."""
    dt_of = {o.name: float(o.clock.dt_) for o in objects if isinstance(o, _CLOCKED)}
    group_dts = set(dt_of.values())
    if len(group_dts) > 1:
        by_dt = "; ".join(
            f"dt = {dt * brian2.second}: {', '.join(sorted(n for n, d in dt_of.items() if d == dt))}"
            for dt in sorted(group_dts)
        )
        raise UnsupportedFeatureError(
            f"network {net.name}: groups with different clocks are not supported ({by_dt}); give them one dt"
        )
    return group_dts.pop() if group_dts else float(brian2.defaultclock.dt_)


def groups_of(objects: list) -> dict[str, Any]:
    """``name -> group`` of the groups (no subgroups) and synapses among ``objects``."""
    groups: dict[str, Any] = {}
    for o in objects:
        if isinstance(o, (brian2.NeuronGroup, brian2.PoissonGroup, brian2.SpikeGeneratorGroup)) and not isinstance(
            o, brian2.Subgroup
        ):
            groups[o.name] = o
        if isinstance(o, brian2.Synapses):
            groups[o.name] = o
    return groups


def _schedule(objects: list, store: dict[str, CapturedCode], dt: float) -> list[ScheduledBlock]:
    """The objects that act during a step, checked (every object before anything is built)."""
    schedule = []
    for o in objects:
        if isinstance(o, brian2.NetworkOperation):
            raise UnsupportedFeatureError(
                f"{o.name}: network_operation (arbitrary Python code) cannot be compiled into the twin"
            )
        if type(o).__name__ == "SpatialNeuron" or type(o).__name__ == "SpatialStateUpdater":
            raise UnsupportedFeatureError(f"{o.name}: multi-compartment SpatialNeuron is not supported")
        caps = [store[c.name] for c in o.code_objects if c.name in store]
        if not o.code_objects:
            continue
        for c in caps:
            c.runner = o
        if {c.template for c in caps} <= OBSERVERS:
            continue
        main = caps[-1]
        if main.template not in OPERATIONS:
            raise UnsupportedFeatureError(
                f"{o.name}: Brian2 template {main.template!r} ({type(o).__name__}) is not supported by the twin"
            )
        obj_dt = float(o.clock.dt_)
        every = int(round(obj_dt / dt))
        if abs(every * dt - obj_dt) > 1e-9 * obj_dt:
            raise UnsupportedFeatureError(f"{o.name}: clock dt={obj_dt} s is not a multiple of the network dt={dt} s")
        schedule.append(ScheduledBlock(o, main, every, obj_dt, None))
    return schedule


def _translate(s: ScheduledBlock) -> Block | None:
    if s.template == "spikegenerator":
        return None
    blk = translate(s.code, _MODES.get(s.template, "all"), s.name)
    if s.template == "threshold":
        add_surrogate_statement(s.obj, blk)
    return blk


def _arrays_of(schedule: list[ScheduledBlock], groups: dict[str, Any]) -> tuple[list[ArrayVariable], set[str]]:
    """The arrays to mirror (in the order the twin registers them) and the keys the blocks write."""
    variables: list[ArrayVariable] = []
    written: set[str] = set()
    for s in schedule:
        main, blk = s.code, s.block
        variables += [v for v in main.variables.values() if isinstance(v, ArrayVariable) and not is_clock_variable(v)]
        if blk is not None:
            for st in blk.vector_statements + blk.scalar_statements:
                if st.var in main.variables and isinstance(main.variables[st.var], ArrayVariable):
                    written.add(array_key(main.variables[st.var]))
        if s.template == "threshold" and main.template_kwds.get("_uses_refractory"):
            g = s.obj.group
            written |= {array_key(g.variables["not_refractory"]), array_key(g.variables["lastspike"])}
        if s.template == "summed_variable":
            written.add(array_key(main.template_kwds["_target_var"]))
    for g in groups.values():
        for name in g.variables:
            var = g.variables[name]
            if (
                isinstance(var, ArrayVariable)
                and not is_clock_variable(var)
                and not name.startswith("_")
                and var.owner is not None
                and getattr(var.owner, "name", None) == g.name
            ):
                variables.append(var)
    return variables, written


def learnable_constants(learnable: Sequence[str], groups: dict[str, Any], namespace: dict) -> dict[str, dict[str, str]]:
    """``owner -> {name: "owner.name"}`` of the ``learnable`` entries that are namespace constants (the
    others are floating-point variables); ``ParameterError`` for an entry that is neither.
    """
    constants: dict[str, dict[str, str]] = {}
    for item in learnable:
        owner, name = item.split(".")
        if owner not in groups:
            raise ParameterError(f"learnable {item!r}: no group or synapses named {owner!r} (known: {sorted(groups)})")
        g = groups[owner]
        if name in g.variables and isinstance(g.variables[name], ArrayVariable):
            var = g.variables[name]
            if not np.issubdtype(var.dtype, np.floating):
                raise ParameterError(f"learnable {item!r} is not a floating-point variable")
            continue
        value = None
        for ns in (g.namespace or {}, namespace):
            if name in ns:
                value = ns[name]
                break
        if value is None:
            raise ParameterError(f"learnable {item!r}: {owner!r} has no variable or namespace constant {name!r}")
        constants.setdefault(owner, {})[name] = item
    return constants


def add_surrogate_statement(runner, blk: Block) -> None:
    """Append ``_vsur = a - b`` (the distance to threshold ``a > b``) to a threshold block, and its scale."""
    group = runner.group
    parts = threshold_parts(group.events.get(getattr(runner, "event", "spike"), ""))
    if parts is None:
        return
    a, b, op = parts
    variables = blk.captured.variables
    ids = get_identifiers(a) | get_identifiers(b)
    for n in ids:
        v = variables.get(n)
        if v is None or not (isinstance(v, (ArrayVariable, Constant)) or is_clock_variable(v) or n in TORCH_FUNCTIONS):
            return  # subexpressions or unknown names: spikes without surrogate gradient
    try:
        dim = parse_expression_dimensions(a, variables)
    except Exception:  # noqa: BLE001 - dimensions only choose the surrogate scale
        dim = None
    renderer = TorchNodeRenderer(auto_vectorise=set())
    expr = f"({a}) - ({b})" if op in ("Gt", "GtE") else f"({b}) - ({a})"
    blk.vector_statements.append(Statement("_vsur", "=", renderer.render_expr(expr), False, False, True))
    blk.surrogate_scale = scale_for(dim) if dim is not None else 1.0


def subexpression_block(group, names: tuple[str, ...], namespace: dict) -> Block:
    """The block that computes the subexpressions ``names`` of ``group`` from the state (for ``record``).

    Brian2 resolves, unit-checks and expands the subexpressions (nested ones included) as for a
    ``StateMonitor``, in the twin's namespace; the statements are those of its numpy target.
    """
    try:
        captured = record_code_object(group, names, namespace, RECORDED_PREFIX)
    except Exception as exc:  # noqa: BLE001 - Brian2's resolution errors name the identifier
        raise ParameterError(f"record: cannot evaluate {list(names)} of {group.name!r}: {exc}") from exc
    return translate(captured, "all", group.name)


def caller_namespace() -> dict[str, Any]:
    """The globals and locals of the first frame outside :mod:`biosnn.twins`, as
    :func:`brian2.core.namespace.get_local_namespace` gives them to ``Network.run(namespace=None)``.
    """
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("biosnn.twins"):
        frame = frame.f_back
    if frame is None:  # pragma: no cover - always called from somewhere
        return {}
    return dict(itertools.chain(frame.f_globals.items(), frame.f_locals.items()))


def network_of(network_or_objects) -> tuple[brian2.Network, bool]:
    """A ``brian2.Network`` of ``network_or_objects``, and whether it was made here (from objects)."""
    if isinstance(network_or_objects, brian2.Network):
        return network_or_objects, False
    if isinstance(network_or_objects, brian2.BrianObject):
        objs = [network_or_objects]
    elif isinstance(network_or_objects, Iterable) and not isinstance(network_or_objects, (str, bytes)):
        objs = list(network_or_objects)
    else:
        raise ParameterError(
            f"twin() needs a brian2.Network or Brian2 objects, got {type(network_or_objects).__name__}"
        )
    bad = [o for o in objs if not isinstance(o, brian2.BrianObject)]
    if bad:
        raise ParameterError(f"twin() got objects that are not Brian2 objects: {bad!r}")
    return brian2.Network(*objs), True


__all__ = [
    "OBSERVERS",
    "NetworkCapture",
    "ScheduledBlock",
    "add_surrogate_statement",
    "caller_namespace",
    "capture",
    "groups_of",
    "learnable_constants",
    "network_dt",
    "network_of",
    "subexpression_block",
]
