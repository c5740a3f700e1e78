"""The plan of one run: its inputs and its records, checked before the first step.

:func:`prepare_inputs` turns ``run(inputs=...)`` into tensors per array (for the whole run or per step), per
TimedArray and per SpikeGeneratorGroup (:class:`RunInputs`); :func:`prepare_records` turns ``run(record=...)``
into the arrays and subexpressions to record (:class:`Records`). Both refuse what Brian2 would refuse
(unknown or read-only variables, Brian2 quantities, wrong shapes) before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import brian2
import numpy as np
import torch
from brian2.core.variables import ArrayVariable, Subexpression

from biosnn.errors import ParameterError, UnitError
from biosnn.twins.runtime import check_input_tensor
from biosnn.twins.state import ArrayInfo, TwinState


@dataclass
class RunInputs:
    """``run(inputs=...)`` as tensors."""

    per_run: dict[str, torch.Tensor] = field(default_factory=dict)  # array key -> [B, n] for the whole run
    per_step: dict[str, torch.Tensor] = field(default_factory=dict)  # array key -> [T, B, n], one per step
    timed: dict[str, torch.Tensor] = field(default_factory=dict)  # TimedArray name -> its values per trial
    generators: dict[str, torch.Tensor] = field(default_factory=dict)  # SpikeGeneratorGroup -> [T, B, N]


@dataclass
class RecordedBlock:
    """Recorded subexpressions of one group: the block that computes them from the state."""

    group: str
    names: tuple[str, ...]
    block: Any
    size: int


@dataclass
class Records:
    """``run(record=...)``: arrays by ``(group, variable)``, recorded elements where not all, subexpressions."""

    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    index: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict)
    blocks: list[RecordedBlock] = field(default_factory=list)


@dataclass
class RunPlan:
    """What one :meth:`Twin.run` does, decided before its first step."""

    start: int  # the twin's step at the start
    n_steps: int
    t_start: float
    t_end: float
    inputs: RunInputs
    records: Records
    batched: frozenset  # array keys held per trial


def group_named(groups: Mapping[str, Any], name: str):
    """The group or synapses called ``name`` (``ParameterError`` naming the known ones otherwise)."""
    if name not in groups:
        raise ParameterError(f"no group or synapses named {name!r}; known: {sorted(groups)}")
    return groups[name]


def timed_arrays_of(blocks: Iterable) -> dict[str, Any]:
    """The TimedArrays the blocks use, by their names and by the names the equations call them."""
    timed_arrays = {}
    for blk in blocks:
        if blk is None:
            continue
        for n, v in blk.captured.variables.items():
            if isinstance(v, brian2.TimedArray):
                timed_arrays[v.name] = v
                timed_arrays.setdefault(n, v)  # also under the name the equations use
    return timed_arrays


def prepare_inputs(
    inputs: Mapping | None, n_steps: int, state: TwinState, blocks: Iterable, batch_size: int
) -> RunInputs:
    """``run(inputs=...)`` checked and converted (:class:`RunInputs`)."""
    timed_arrays = timed_arrays_of(blocks)
    if inputs is not None and not isinstance(inputs, Mapping):
        raise ParameterError(
            f"inputs must map group (or TimedArray) names to {{variable: tensor}}, got {type(inputs).__name__}"
        )
    out = RunInputs()
    for name, spec in (inputs or {}).items():
        if name in timed_arrays and name not in state.groups:
            ta = timed_arrays[name]
            if isinstance(spec, brian2.Quantity):
                raise UnitError(
                    f"input {name!r} (TimedArray): give its values in base SI units, not as a Brian2 quantity"
                )
            vals = np.asarray(ta.values)
            shapes = [(vals.shape[0], batch_size) + vals.shape[1:]]
            out.timed[ta.name] = check_input_tensor(name, spec, shapes, state.device, state.dtype)
            continue
        if name not in state.groups:
            raise ParameterError(
                f"input {name!r}: no group or TimedArray of that name (groups: {sorted(state.groups)}, "
                f"timed arrays: {sorted(timed_arrays)})"
            )
        if not isinstance(spec, Mapping):
            raise ParameterError(f"input {name!r} must map variable names to tensors, got {type(spec).__name__}")
        for var, value in spec.items():
            _group_input(out, state, name, var, value, n_steps, batch_size)
    return out


def _group_input(out: RunInputs, state: TwinState, name: str, var, value, n_steps: int, B: int) -> None:
    """One ``inputs={group: {variable: value}}`` entry into ``out``."""
    g = state.groups[name]
    label = f"{name}.{var}"
    if isinstance(g, brian2.SpikeGeneratorGroup) and var == "spikes":
        spikes = check_input_tensor(label, value, [(n_steps, B, len(g))], state.device, state.dtype)
        if spikes.dtype != torch.bool and not bool(((spikes == 0) | (spikes == 1)).all()):
            raise ParameterError(f"input {label!r}: spikes are 0 or 1 (or booleans), got other values")
        out.generators[name] = spikes
        return
    bvar = _settable_variable(g, name, var, label)
    if isinstance(value, brian2.Quantity):
        raise UnitError(f"input {label!r}: give tensors in base SI units, not Brian2 quantities")
    key = state.mirror(bvar)
    info = state.arrays[key]
    n = info.size
    t = check_input_tensor(label, value, [(B, n), (n_steps, B, n)], state.device, state.dtype)
    if t.dim() == 3 and bvar.constant:
        raise ParameterError(
            f"input {label!r}: {var!r} is declared (constant) in {name!r}: give one "
            f"value per run, shape [{B}, {n}], not one per step"
        )
    if info.kind != "float":
        t = integral_input(label, t, info, state.values)
    elif t.dtype == torch.bool:
        t = t.to(state.dtype)
    (out.per_step if t.dim() == 3 else out.per_run)[key] = t


def _settable_variable(g, name: str, var, label: str) -> ArrayVariable:
    """The state variable ``var`` of ``g`` that an input may set (``ParameterError`` saying why not)."""
    if not isinstance(var, str) or var not in g.variables or not isinstance(g.variables[var], ArrayVariable):
        known = sorted(
            n
            for n, v in g.variables.items()
            if isinstance(v, ArrayVariable)
            and not n.startswith("_")
            and not v.read_only
            and getattr(v.owner, "name", None) == g.name
        )
        raise ParameterError(
            f"input {label!r}: {name!r} has no state variable {var!r} (variables that can be set: {known})"
        )
    bvar = g.variables[var]
    if var.startswith("_") or bvar.read_only:
        raise ParameterError(
            f"input {label!r}: {var!r} of {name!r} is read-only in Brian2 (it cannot be set, so it cannot be an input)"
        )
    owner = getattr(bvar.owner, "name", "?")
    if getattr(bvar.owner, "name", None) != g.name:
        raise ParameterError(
            f"input {label!r}: {var!r} is a variable of {owner!r}, not of {name!r}; give it under "
            f"its own group: inputs={{{owner!r}: {{{bvar.name!r}: ...}}}}"
        )
    return bvar


def integral_input(label: str, t: torch.Tensor, info: ArrayInfo, values: Mapping) -> torch.Tensor:
    """An input to an integer or boolean variable, in that variable's dtype (not the twin's float)."""
    want = values[info.key].dtype if info.key in values else torch.int64
    if info.kind == "bool":
        if t.dtype != torch.bool and not bool(((t == 0) | (t == 1)).all()):
            raise ParameterError(f"input {label!r}: {info.name!r} is boolean; give True/False (or 0/1) values")
        return t.to(torch.bool)
    if t.is_floating_point() and not bool((t == torch.round(t)).all()):
        raise ParameterError(f"input {label!r}: {info.name!r} is an integer variable; got non-integral values")
    return t.to(want)


def prepare_records(record, state: TwinState, subexpression_block: Callable[[str, tuple], Any]) -> Records:
    """``record=`` as the state arrays to record (by ``(group, variable)``), the recorded elements where
    not all, and the blocks that compute recorded subexpressions (``subexpression_block(group, names)``).
    """
    if record is not None and not isinstance(record, Mapping):
        raise ParameterError(
            f"record must map group names to variable names ({{'E': ['v']}}), got {type(record).__name__}"
        )
    out = Records()
    subexpressions: dict[str, list[str]] = {}
    for gname, names in dict(record or {}).items():
        g = group_named(state.groups, gname)
        for var, which in record_names(gname, names).items():
            if isinstance(g.variables.get(var), Subexpression):
                subexpressions.setdefault(gname, []).append(var)
                size = len(g)
            elif var in g.variables and isinstance(g.variables[var], ArrayVariable):
                key = state.mirror(g.variables[var])
                out.keys[(gname, var)] = key
                size = state.arrays[key].size
            else:
                raise ParameterError(f"record: {gname!r} has no state variable or subexpression {var!r}")
            if which is not True:
                out.index[(gname, var)] = record_indices(gname, var, which, size, state.device)
    out.blocks = [
        RecordedBlock(gname, tuple(names), subexpression_block(gname, tuple(names)), len(state.groups[gname]))
        for gname, names in subexpressions.items()
    ]
    return out


def record_names(gname: str, names) -> dict:
    """``record={group: names}``'s names as ``{variable: True or indices}``."""
    if isinstance(names, str):
        names = {names: True}
    elif not isinstance(names, Mapping):
        if not isinstance(names, Iterable):
            raise ParameterError(f"record: {gname!r} needs variable names (['v', ...]), got {names!r}")
        names = {n: True for n in names}
    for var in names:
        if not isinstance(var, str):
            raise ParameterError(f"record: {gname!r}: variable names are strings, got {var!r}")
    return dict(names)


def record_indices(gname: str, var: str, which, size: int, device: torch.device) -> torch.Tensor:
    """The elements ``which`` (indices, as a ``StateMonitor``'s ``record``) of a variable of ``size``."""
    idx = np.asarray(which)
    if isinstance(which, bool) or idx.dtype == bool or not np.issubdtype(idx.dtype, np.integer) or idx.ndim > 1:
        raise ParameterError(f"record: {gname}.{var}: give True (all) or integer indices, got {which!r}")
    idx = idx.reshape(-1)
    bad = idx[(idx < 0) | (idx >= size)]
    if bad.size:
        raise ParameterError(f"record: {gname}.{var}: indices {bad.tolist()} are outside 0..{size - 1}")
    return torch.as_tensor(idx, dtype=torch.long, device=device)


def any_requires_grad(value) -> bool:
    """Whether a tensor in ``value`` (a tensor, or mappings and sequences of them) requires a gradient."""
    if isinstance(value, torch.Tensor):
        return value.requires_grad
    if isinstance(value, Mapping):
        return any(any_requires_grad(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(any_requires_grad(v) for v in value)
    return False


__all__ = [
    "RecordedBlock",
    "Records",
    "RunInputs",
    "RunPlan",
    "any_requires_grad",
    "group_named",
    "prepare_inputs",
    "prepare_records",
    "record_indices",
    "record_names",
]
