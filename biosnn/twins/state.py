"""The twin's state: the Brian2 arrays it mirrors, their values, the parameters, and the bridge to Brian2.

:class:`TwinState` owns what moves between Brian2 and the twin: every mirrored array (:class:`ArrayInfo`),
the values pulled from Brian2, the state a run carries to the next, the ``nn.Parameter`` behind every
synaptic model parameter and ``learnable=`` entry, and the synaptic events in flight in Brian2's spike
queues. :meth:`TwinState.pull` and :meth:`TwinState.push` are the two directions of the bridge; both check
every value before anything changes (:class:`~biosnn.errors.NonFiniteError`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import brian2
import numpy as np
import torch
from brian2.core.variables import ArrayVariable
from brian2.equations.equations import PARAMETER

from biosnn.errors import NonFiniteError, ParameterError
from biosnn.twins.brian_adapter import (
    read_spike_queue,
    set_network_time,
    set_spike_list_position,
    timestep,
    write_spike_queue,
)
from biosnn.twins.codegen import array_key
from biosnn.twins.runtime import PathwayOp

#: variables that hold a time stamp whose value may be infinite (never spiked, never updated)
TIME_STAMPS = ("lastspike", "lastupdate")


@dataclass
class ArrayInfo:
    """One Brian2 array mirrored by the twin."""

    key: str
    var: ArrayVariable
    owner: str
    name: str
    size: int
    kind: str  # "float", "int", "bool"


def nonfinite_summary(label: str, value: torch.Tensor, allow_inf: bool) -> str | None:
    """A description of the NaN (and, unless ``allow_inf``, infinite) elements of ``value``, or ``None``."""
    v = value.detach()
    bad = torch.isnan(v) if allow_inf else ~torch.isfinite(v)
    if not bool(bad.any()):
        return None
    n_bad = int(bad.sum())
    n_nan = int(torch.isnan(v).sum())
    if v.dim() == 0:
        where = "its only value"
    else:
        first = [int(x) for x in torch.nonzero(bad)[0].tolist()]
        where = f"index {first[-1]}" + (f" of trial {first[0]}" if v.dim() == 2 else "")
    kinds = ", ".join(
        k for k in (f"{n_nan} NaN" if n_nan else "", f"{n_bad - n_nan} infinite" if n_bad > n_nan else "") if k
    )
    return f"{label}: {n_bad} of {v.numel()} values are not finite ({kinds}), the first at {where}"


def check_batch_index(what: str, batch_index, batch_size: int, allow_none: bool = False) -> int | None:
    """``batch_index`` as an ``int`` in ``0 .. batch_size - 1`` (or ``None`` if allowed); ``ParameterError``."""
    if batch_index is None and allow_none:
        return None
    if (
        isinstance(batch_index, (bool, np.bool_))
        or not isinstance(batch_index, (int, np.integer))
        or not 0 <= batch_index < batch_size
    ):
        if allow_none:
            raise ParameterError(
                f"{what}: batch_index must be None or an integer in 0..{batch_size - 1}, got {batch_index!r}"
            )
        raise ParameterError(
            f"{what}: batch_index must be an integer in 0..{batch_size - 1} (the trial "
            f"to write into Brian2), got {batch_index!r}"
        )
    return int(batch_index)


class TwinState:
    """The arrays, values and parameters of a twin, and the bridge to Brian2's objects.

    Parameters
    ----------
    params
        The twin module's ``ParameterDict`` (the parameters are created and updated in it).
    dtype, device
        The twin's floating-point dtype and device.
    namespace
        The names the network uses beyond the objects' own namespaces (constants made learnable live there).
    """

    def __init__(
        self, params: torch.nn.ParameterDict, dtype: torch.dtype, device: torch.device, namespace: dict
    ) -> None:
        self.params = params
        self.dtype = dtype
        self.device = device
        self.namespace = namespace
        self.arrays: dict[str, ArrayInfo] = {}
        self.values: dict[str, torch.Tensor] = {}
        self.carry: dict[str, torch.Tensor] = {}  # the state a run leaves for the next ([B, n] per trial)
        self.param_of: dict[str, str] = {}  # array key or "owner.const" -> parameter name
        self.constant_params: dict[str, torch.nn.Parameter] = {}  # "owner.const" -> parameter
        self.written: set[str] = set()
        self.groups: dict[str, Any] = {}
        self.pulled_queues: dict[str, list[list[int]]] = {}  # pathway -> Brian2's events in flight at the pull
        self.queues_to_load = True
        self.pulled = False
        self.t = 0.0  # the network's time in seconds, as Brian2 keeps it (not rounded to the grid)
        self.step = 0  # the step of that time (Brian2's rule, see brian_adapter.timestep)
        self._pulled_time = (0.0, 0)

    # -- time -----------------------------------------------------------------------------------------
    def start_at(self, t: float, dt: float) -> None:
        """The time of a pull: ``t`` (s) and its step on the grid of ``dt``."""
        self.t, self.step = t, timestep(t, dt)
        self._pulled_time = (self.t, self.step)

    def rewind(self) -> None:
        """Back to the last pull: its time, no carried state, Brian2's events in flight to load again."""
        self.t, self.step = self._pulled_time
        self.carry = {}
        self.queues_to_load = True

    # -- structure ------------------------------------------------------------------------------------
    def adopt(self, variables: Sequence[ArrayVariable], written: set[str], groups: dict, learnable) -> None:
        """Mirror a (new) capture's arrays; decide the parameters (synaptic model parameters, ``learnable``)."""
        self.arrays = {}
        for var in variables:
            self.register(var)
        self.written = written
        self.groups = groups
        wanted: dict[str, str] = {}
        for g in groups.values():
            if isinstance(g, brian2.Synapses):
                for eq in g.equations.values():
                    if eq.type == PARAMETER and not eq.varname.startswith("_") and eq.varname != "lastupdate":
                        var = g.variables[eq.varname]
                        if np.issubdtype(var.dtype, np.floating) and not var.read_only:
                            wanted[array_key(var)] = f"{g.name}__{eq.varname}"
        for item in learnable:
            owner, name = item.split(".")
            g = groups[owner]
            if name in g.variables and isinstance(g.variables[name], ArrayVariable):
                self.register(g.variables[name])
                wanted[array_key(g.variables[name])] = f"{owner}__{name}"
            else:
                wanted[item] = f"{owner}__{name}"
        self.param_of = wanted

    def register(self, var: ArrayVariable) -> str:
        """Mirror ``var`` (once); its array key."""
        key = array_key(var)
        if key in self.arrays:
            return key
        kind = "bool" if var.dtype == bool else ("float" if np.issubdtype(var.dtype, np.floating) else "int")
        owner = getattr(var.owner, "name", "?")
        self.arrays[key] = ArrayInfo(key, var, owner, var.name, 1 if var.scalar else int(var.size), kind)
        return key

    def mirror(self, var: ArrayVariable) -> str:
        """Mirror ``var`` and read its value from Brian2 if it is new (an input or a recorded variable)."""
        key = array_key(var)
        if key not in self.arrays:
            self.register(var)
            self.values[key] = self.to_tensor(self.arrays[key], var.get_value())
        return key

    def to_tensor(self, info: ArrayInfo, value) -> torch.Tensor:
        arr = np.array(value, copy=True)
        if info.kind == "float":
            return torch.as_tensor(arr, dtype=self.dtype, device=self.device).reshape(info.size)
        if info.kind == "bool":
            return torch.as_tensor(arr.astype(bool), device=self.device).reshape(info.size)
        return torch.as_tensor(arr, device=self.device).reshape(info.size)

    def current(self, key: str, batch_index: int | None = None) -> torch.Tensor:
        """The twin's current value of the array ``key`` (``[B, n]`` or ``[n]``)."""
        if key in self.carry:
            v = self.carry[key]
        elif key in self.param_of:
            v = self.params[self.param_of[key]]
        else:
            v = self.values[key]
        if batch_index is not None and v.dim() == 2:
            v = v[batch_index]
        return v

    # -- pull -----------------------------------------------------------------------------------------
    def brian_floats(self) -> dict[str, Any]:
        """Brian2's current values of the floating-point arrays mirrored so far (checked before a re-pull)."""
        return {key: info.var.get_value() for key, info in self.arrays.items() if info.kind == "float"}

    def pull(self, pathways: Mapping[str, Any], network: str) -> None:
        """Read every mirrored array, learnable namespace constant and spike queue from Brian2.

        Parameters keep their identity where their shape is unchanged (their ``.data`` is overwritten).
        """
        values = {key: self.to_tensor(info, info.var.get_value()) for key, info in self.arrays.items()}
        constants = {}
        for key in self.param_of:
            if key not in self.arrays:  # a namespace constant
                owner, name = key.split(".")
                g = self.groups[owner]
                raw = (g.namespace or {}).get(name, self.namespace.get(name))
                constants[key] = torch.as_tensor(float(np.asarray(raw)), dtype=self.dtype, device=self.device)
        floats = {k: v for k, v in values.items() if self.arrays[k].kind == "float"}
        self.check_brian_values({**floats, **constants}, network)
        self.pulled = True
        self.values = values
        for key, pname in self.param_of.items():
            value = self.values[key] if key in self.arrays else constants[key]
            if pname in self.params and self.params[pname].shape == value.shape:
                with torch.no_grad():
                    self.params[pname].copy_(value)
            else:
                self.params[pname] = torch.nn.Parameter(value.clone())
        self.constant_params = {key: self.params[p] for key, p in self.param_of.items() if key not in self.arrays}
        self.carry = {}
        self.pulled_queues = {name: read_spike_queue(o) for name, o in pathways.items()}
        self.queues_to_load = True

    def load_queues(self, ops, batch_size: int) -> None:
        """Brian2's events in flight at the last pull into the pathways (once after a pull or a reset)."""
        if not self.queues_to_load:
            return
        for op in ops:
            rows = self.pulled_queues.get(op.name) if isinstance(op, PathwayOp) else None
            if rows and any(rows):
                op.set_pending(rows, batch_size, self.device)
        self.queues_to_load = False

    # -- push -----------------------------------------------------------------------------------------
    def push(self, batch_index: int, net: brian2.Network, ops, pathways: Mapping, dt: float) -> None:
        """Write trial ``batch_index``'s state, the parameters, the time and the events in flight into Brian2.

        Everything is checked before anything is written: on an error Brian2's objects are unchanged.
        """
        values = {
            key: self.current(key, batch_index)
            for key, info in self.arrays.items()
            if not (info.var.read_only or info.var.constant and key not in self.param_of)
        }
        self._check_push(values, batch_index)
        for key, value in values.items():
            info = self.arrays[key]
            arr = value.detach().cpu().numpy()
            if info.kind == "float":
                arr = arr.astype(info.var.dtype)
            info.var.set_value(arr if not info.var.scalar else arr.reshape(()))
        self._push_constants()
        set_network_time(net, self.t)
        for op in ops:
            if isinstance(op, PathwayOp) and op.name in pathways:
                write_spike_queue(pathways[op.name], op.pending_events(batch_index), dt)
        self._push_generators(self.step)

    def _check_push(self, values: dict[str, torch.Tensor], batch_index: int) -> None:
        for key in values:
            info = self.arrays[key]
            have = 1 if info.var.scalar else int(info.var.size)
            if have != info.size:
                raise ParameterError(
                    f"push(): {info.owner}.{info.name} has {have} elements in Brian2 but {info.size} in the twin: "
                    "the Brian2 objects changed (new synapses?) since the last pull; call tw.pull() first "
                    "(nothing was written to Brian2)"
                )
        msg = self.first_nonfinite({k: v for k, v in values.items() if self.arrays[k].kind == "float"})
        if msg is None:
            msg = self.first_nonfinite({k: self.params[p] for k, p in self.param_of.items() if k not in self.arrays})
        if msg is not None:
            raise NonFiniteError(f"push(batch_index={batch_index}): {msg} in the twin; nothing was written to Brian2")

    def _push_constants(self) -> None:
        """The learnable namespace constants back into their namespaces, in their units."""
        for key, pname in self.param_of.items():
            if key not in self.arrays:
                owner, name = key.split(".")
                g = self.groups[owner]
                ns = g.namespace if name in (g.namespace or {}) else self.namespace
                old = ns[name]
                unit = old / float(np.asarray(old)) if float(np.asarray(old)) != 0 else 1.0
                ns[name] = float(self.params[pname].detach().cpu()) * unit

    def _push_generators(self, step: int) -> None:
        """Every SpikeGeneratorGroup where Brian2's generator would be after the twin's ``step`` steps."""
        for g in self.groups.values():
            if isinstance(g, brian2.SpikeGeneratorGroup):
                set_spike_list_position(g, step)

    # -- checks ---------------------------------------------------------------------------------------
    def inf_allowed(self, key: str) -> bool:
        """Whether ``key`` may hold infinite values: those the twin never writes (constants such as a
        threshold of ``inf`` that silences a neuron, as Brian2 allows) and time stamps (``lastspike``).
        NaN is never allowed.
        """
        info = self.arrays.get(key)
        if info is None:  # a namespace constant made a parameter
            return True
        return key not in self.written or info.name in TIME_STAMPS

    def label(self, key: str) -> str:
        info = self.arrays.get(key)
        return f"{info.owner}.{info.name}" if info is not None else key

    def first_nonfinite(self, values: Mapping[str, Any]) -> str | None:
        for key, value in values.items():
            v = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value, dtype=float))
            msg = nonfinite_summary(self.label(key), v, self.inf_allowed(key))
            if msg is not None:
                return msg
        return None

    def check_brian_values(self, values: Mapping[str, Any], network: str) -> None:
        """Raise NonFiniteError for NaN (or inf in a state the twin updates) in values read from Brian2."""
        msg = self.first_nonfinite(values)
        if msg is not None:
            raise NonFiniteError(
                f"pull(): {msg} in Brian2 (network {network!r}); Brian2 would simulate them and give NaN "
                "states and no spikes: set finite values in Brian2 first (the twin is unchanged)"
            )

    def check_parameters(self) -> None:
        """Raise NonFiniteError when a parameter of the twin (``tw.params``) holds NaN (or inf where updated)."""
        for key, pname in self.param_of.items():
            msg = nonfinite_summary(
                f"parameter {pname!r} ({self.label(key)})", self.params[pname], self.inf_allowed(key)
            )
            if msg is not None:
                raise NonFiniteError(
                    f"run(): {msg}; nothing was simulated (an optimiser step or an assignment "
                    "to the parameter put it there; tw.pull() reads Brian2's values again)"
                )

    def check_carry(self, t_start: float, t_end: float) -> None:
        """Raise NonFiniteError when the state a run left became NaN or infinite (checked once, at its end)."""
        msg = self.first_nonfinite(
            {k: v for k, v in self.carry.items() if k in self.arrays and self.arrays[k].kind == "float"}
        )
        if msg is not None:
            raise NonFiniteError(
                f"run(): {msg} at the end of the run: it became non-finite during the run from "
                f"t = {t_start * brian2.second} to {t_end * brian2.second} (parameters, inputs and state "
                "were finite at its start); the twin keeps that state, tw.reset() or tw.pull() gives a finite one"
            )


__all__ = ["TIME_STAMPS", "ArrayInfo", "TwinState", "check_batch_index", "nonfinite_summary"]
