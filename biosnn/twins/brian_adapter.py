"""Every access of the twin to Brian2's private attributes, in one place.

The twin reads Brian2 through its public API (``Network.sorted_objects``, ``Group.variables``,
``CodeRunner.code_objects`` ...) wherever it can. What Brian2 keeps private and the twin still needs sits here,
so that a change in Brian2 shows in one module:

* the code objects Brian2 creates for its numpy target (``Device.code_object``, recorded while
  ``Network.before_run`` runs; ``BrianObject._network`` and ``Network._clocks`` as ``Network.run`` sets them);
* the synaptic events in flight in the spike queues (``SpikeQueue._full_state`` / ``_restore_from_full_state``,
  both the Python and the Cython queue);
* clocks (``Clock._calc_timestep``), synaptic delays (``SynapticPathway._delays``), a SpikeGeneratorGroup's
  position in its spike list (``_timebins``, ``_period_bins``, ``_lastindex``), a TimedArray's time grid
  (``brian2.input.timedarray._find_K``) and the object an error came from (``_brian_objname``).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import brian2
import numpy as np
from brian2.codegen.codeobject import create_runner_codeobj
from brian2.core.variables import Variables
from brian2.devices.device import get_device


@dataclass
class CapturedCode:
    """One Brian2 code object as Brian2 created it for its numpy target."""

    runner: Any
    name: str
    template: str
    abstract_code: dict
    variables: dict
    variable_indices: dict
    template_kwds: dict
    override_conditional_write: set
    iterate_all: tuple
    allows_scalar_write: bool


@contextmanager
def capture_code_objects(store: dict[str, CapturedCode]) -> Iterator[None]:
    """Record every ``device.code_object(...)`` call (by code object name) while the block runs."""
    device = get_device()
    original = device.code_object
    signature = inspect.signature(original)

    def recording(*args, **kwargs):
        codeobj = original(*args, **kwargs)
        call = signature.bind(*args, **kwargs).arguments  # Brian2's own names for the arguments
        template_name, abstract_code = call["template_name"], call["abstract_code"]
        variables, variable_indices = call["variables"], call["variable_indices"]
        template_kwds = call.get("template_kwds")
        override_conditional_write = call.get("override_conditional_write")
        template = getattr(codeobj.__class__.templater, template_name)
        store[codeobj.name] = CapturedCode(
            runner=None,
            name=codeobj.name,
            template=template_name,
            abstract_code=dict(abstract_code) if isinstance(abstract_code, dict) else {None: abstract_code},
            variables=dict(variables),
            variable_indices=dict(variable_indices),
            template_kwds=dict(template_kwds or {}),
            override_conditional_write=set(override_conditional_write or ()),
            iterate_all=tuple(template.iterate_all),
            allows_scalar_write=bool(template.allows_scalar_write),
        )
        return codeobj

    device.code_object = recording
    try:
        yield
    finally:
        try:
            del device.code_object  # drop the instance attribute, the class method shows again
        except AttributeError:  # pragma: no cover
            device.code_object = original


@contextmanager
def numpy_target() -> Iterator[None]:
    """Brian2's ``codegen.target`` preference set to ``"numpy"`` while the block runs (restored afterwards)."""
    old_target = brian2.prefs["codegen.target"]
    brian2.prefs["codegen.target"] = "numpy"
    try:
        yield
    finally:
        brian2.prefs["codegen.target"] = old_target


def prepare_network(net: brian2.Network, namespace: dict, store: dict[str, CapturedCode]) -> list:
    """``net.before_run(namespace)`` for Brian2's numpy target, as ``Network.run`` prepares it (its clocks
    start at the network's time), recording the code objects into ``store``; the objects' networks are
    restored afterwards. Returns the network's objects in schedule order.
    """
    objs = net.sorted_objects
    previous_network = {id(o): o._network for o in objs}
    try:
        with numpy_target():
            net._clocks = {o.clock for o in objs}
            for c in net._clocks:  # as Network.run does: the clocks start at the network's time
                c.set_interval(net.t, net.t)
            with capture_code_objects(store):
                net.before_run(namespace)
    finally:
        for o in objs:
            o._network = previous_network[id(o)]
    return objs


def failed_object(exc: BaseException) -> str | None:
    """The name of the Brian2 object whose preparation raised ``exc`` (Brian2 notes it on the exception)."""
    return getattr(exc, "_brian_objname", None)


def record_code_object(group, names: tuple[str, ...], namespace: dict, prefix: str) -> CapturedCode:
    """The code object Brian2's numpy target makes to evaluate ``names`` of ``group`` (as a StateMonitor
    resolves and expands them), each into ``prefix + name``.
    """
    extra = Variables(group)
    for n in names:
        var = group.variables[n]
        extra.add_auxiliary_variable(prefix + n, dimensions=var.dim, dtype=var.dtype)
    store: dict[str, CapturedCode] = {}
    with numpy_target(), capture_code_objects(store):
        codeobj = create_runner_codeobj(
            group,
            "\n".join(f"{prefix}{n} = {n}" for n in names),
            "stateupdate",
            run_namespace=namespace,
            additional_variables=extra,
            name=f"{group.name}_twin_record_codeobject*",
        )
    captured = store[codeobj.name]
    captured.runner = group
    return captured


def timestep(t: float, dt: float) -> int:
    """The time step Brian2's clock takes for the time ``t`` (s): ``Clock._calc_timestep``.

    The nearest step when ``t`` is on the grid up to ``Clock.epsilon_dt`` of a step, otherwise the
    next one (the ceiling), so that a run of 0.25 ms at dt = 0.1 ms takes 3 steps, as in Brian2.
    """
    new_i = np.int64(np.round(t / dt))
    new_t = new_i * dt
    if new_t == t or np.abs(new_t - t) / dt <= brian2.core.clocks.Clock.epsilon_dt:
        return int(new_i)
    return int(np.ceil(t / dt))


def set_network_time(net: brian2.Network, t: float) -> None:
    """As at the end of ``Network.run``: every clock at the step of the time ``t``, the network at ``t``."""
    for o in net.sorted_objects:
        c = o.clock
        ts = int(c._calc_timestep(t))
        c.variables["timestep"].set_value(ts)
        c.variables["t"].set_value(ts * float(c.dt_))
    net.t_ = t


def synaptic_delays(pathway) -> np.ndarray:
    """The delays (s) of a pathway's synapses (one value when they are all equal)."""
    return np.asarray(pathway._delays.get_value(), dtype=float)


@dataclass
class SpikeList:
    """A SpikeGeneratorGroup's spikes as Brian2 keeps them: time bins, neuron indices, period (in bins)."""

    timebins: np.ndarray
    neuron_index: np.ndarray
    period_bins: int


def spike_list(group) -> SpikeList:
    """The spikes of a SpikeGeneratorGroup (:class:`SpikeList`)."""
    v = group.variables
    return SpikeList(
        np.asarray(v["_timebins"].get_value()),
        np.asarray(v["neuron_index"].get_value()),
        int(np.asarray(v["_period_bins"].get_value()).ravel()[0]),
    )


def set_spike_list_position(group, step: int) -> None:
    """Where Brian2's generator would be in its spike list after ``step`` steps."""
    spikes = spike_list(group)
    step = step % spikes.period_bins if spikes.period_bins > 0 else step
    group.variables["_lastindex"].set_value(int(np.searchsorted(spikes.timebins, step, side="left")))


def timed_array_K(group_dt: float, timed_array_dt: float) -> int:
    """Brian2's ``K`` of a TimedArray read on a clock of ``group_dt``: the TimedArray's ``dt`` is a multiple
    ``K`` of ``epsilon = dt / K`` (``brian2.input.timedarray._find_K``).
    """
    from brian2.input.timedarray import _find_K

    return _find_K(group_dt, timed_array_dt)


def read_spike_queue(pathway) -> list[list[int]]:
    """The synaptic events in flight in a Brian2 pathway's spike queue: ``rows[r]`` holds the synapses
    whose event arrives ``r`` steps after the network's current step, in the queue's order. Reads both of
    Brian2's queues (the C++ one: ``(offset, rows)``; the Python one: ``(dt, [(r, synapse)], shape)``).
    """
    queue = getattr(pathway, "queue", None)
    if queue is None:
        return []
    state = queue._full_state()
    if hasattr(queue, "X"):  # brian2.synapses.spikequeue.SpikeQueue
        dt, spikes, shape = state
        if dt is None:
            return []
        rows: list[list[int]] = [[] for _ in range(shape[0])]
        for r, syn in np.asarray(spikes, dtype=np.int64).reshape(-1, 2):
            rows[int(r)].append(int(syn))
    else:  # brian2.synapses.cythonspikequeue.SpikeQueue
        offset, stored = state
        size = len(stored)
        rows = [[int(x) for x in stored[(offset + r) % size]] for r in range(size)]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def write_spike_queue(pathway, rows: list[list[int]], dt: float) -> None:
    """Replace the events in flight in a Brian2 pathway's spike queue by ``rows`` (as
    :func:`read_spike_queue` gives them).
    """
    queue = getattr(pathway, "queue", None)
    if queue is None:  # pragma: no cover - every runtime pathway has one
        return
    while rows and not rows[-1]:
        rows = rows[:-1]
    if hasattr(queue, "X"):
        spikes = np.array([(r, s) for r, row in enumerate(rows) for s in row], dtype=int).reshape(-1, 2)
        shape = (max(len(rows), queue.X.shape[0]), max([len(row) for row in rows] + [queue.X.shape[1]]))
        queue._restore_from_full_state((queue._dt if queue._dt is not None else dt, spikes, shape))
    else:
        _offset, stored = queue._full_state()
        size = max(len(stored), len(rows), 1)
        queue._restore_from_full_state((0, [rows[r] if r < len(rows) else [] for r in range(size)]))


__all__ = [
    "CapturedCode",
    "SpikeList",
    "capture_code_objects",
    "failed_object",
    "numpy_target",
    "prepare_network",
    "read_spike_queue",
    "record_code_object",
    "set_network_time",
    "set_spike_list_position",
    "spike_list",
    "synaptic_delays",
    "timed_array_K",
    "timestep",
    "write_spike_queue",
]
