"""One adapter layer between what a simulation records and what a plot draws.

Every plot in :mod:`biosnn.plot` reads its data through the functions here, so each plot works on Brian2
monitors and on the twin's records alike. What is read is plain NumPy in fixed units (times in seconds,
rates in Hz, states and weights in their best Brian2 display unit), held in small frozen dataclasses:

* :class:`SpikeData` -- one population's spikes: ``indices``, ``times`` (s), ``n`` neurons;
* :class:`StateData` -- recorded state variables: ``t`` (s), ``values[T, N]`` in ``unit``;
* :class:`RateData` -- a population rate: ``t`` (s), ``rate`` (Hz);
* :class:`WeightData` -- synaptic weights: ``values[T, S]``, the pre/post index of every synapse.

Converters are chosen by the type of the object through registries keyed by the fully qualified type name
(walking the type's MRO), never by chains of ``if``. Keys are names, not classes, so a converter for a
class from an optional or heavy module (``torch.Tensor``, the twin's record) is registered without
importing that module. Other parts of biosnn register their own types with :func:`register_converter`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import brian2
import numpy as np
from brian2.units.fundamentalunits import Quantity, get_dimensions

from biosnn.errors import ParameterError, ShapeError, UnitError
from biosnn.registry import Registry
from biosnn.units import check_quantity, to_float

# --------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class SpikeData:
    """Spikes of one population: neuron ``indices`` and spike ``times`` in seconds, ``n`` neurons."""

    indices: np.ndarray
    times: np.ndarray
    n: int
    name: str = ""

    @property
    def count(self) -> int:
        """The number of spikes."""
        return int(self.indices.size)


@dataclass(frozen=True)
class StateData:
    """A recorded state variable: times ``t`` (s), ``values[T, N]`` in ``unit``, recorded ``neurons``.

    ``scale`` is the SI value of one ``unit`` (``1e-3`` for mV), so ``values * scale`` is in SI units.
    """

    t: np.ndarray
    values: np.ndarray
    unit: str
    var: str
    neurons: np.ndarray
    scale: float = 1.0


@dataclass(frozen=True)
class RateData:
    """A population rate: times ``t`` (s, bin centres) and ``rate`` (Hz)."""

    t: np.ndarray
    rate: np.ndarray
    name: str = ""


@dataclass(frozen=True)
class WeightData:
    """Synaptic weights over time.

    ``values[T, S]`` holds the weight of each of the ``S`` synapses at the times ``t`` (s; ``nan`` where a
    snapshot has no time), in ``unit``; synapse ``k`` connects presynaptic neuron ``i[k]`` to
    postsynaptic neuron ``j[k]``, out of ``n_pre`` and ``n_post``.
    """

    values: np.ndarray
    t: np.ndarray
    i: np.ndarray
    j: np.ndarray
    n_pre: int
    n_post: int
    unit: str
    var: str = "w"

    def matrix(self, index: int = -1) -> np.ndarray:
        """The dense ``[n_pre, n_post]`` weight matrix of snapshot ``index``; ``nan`` where no synapse."""
        out = np.full((self.n_pre, self.n_post), np.nan)
        out[self.i, self.j] = self.values[index]
        return out


@dataclass(frozen=True)
class StateRecord:
    """Traces computed outside a monitor (currents from recorded conductances ...), read like a ``StateMonitor``.

    ``t`` is a Brian2 time array of ``T`` samples; ``variables[name]`` a Brian2 quantity (or plain numbers)
    of shape ``[N, T]``, as ``StateMonitor.<name>`` would give it.
    """

    t: Quantity
    variables: Mapping[str, Any]


# ------------------------------------------------------------------------------------------ registries

#: Converters of one population's spikes: ``f(obj, batch, name) -> SpikeData``.
SPIKE_SOURCES: Registry[Callable[..., SpikeData]] = Registry("spike source type")
#: Converters of several populations' spikes: ``f(obj, batch) -> dict[str, SpikeData]``.
POPULATION_SOURCES: Registry[Callable[..., dict[str, SpikeData]]] = Registry("population spike source type")
#: Converters of recorded states: ``f(obj, var, group, batch) -> StateData``.
STATE_SOURCES: Registry[Callable[..., StateData]] = Registry("state source type")
#: Converters of population rates: ``f(obj, bin_width_s, batch, name) -> RateData``.
RATE_SOURCES: Registry[Callable[..., RateData]] = Registry("rate source type")
#: Converters of synaptic weights: ``f(obj, var, batch) -> WeightData``.
WEIGHT_SOURCES: Registry[Callable[..., WeightData]] = Registry("weight source type")

_FAMILIES = {
    "spikes": SPIKE_SOURCES,
    "populations": POPULATION_SOURCES,
    "states": STATE_SOURCES,
    "rates": RATE_SOURCES,
    "weights": WEIGHT_SOURCES,
}


def type_key(cls: type) -> str:
    """The registry key of a class: its fully qualified name (``"brian2.monitors.spikemonitor.SpikeMonitor"``)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def register_converter(family: str, type_name: str, converter: Callable | None = None):
    """Register ``converter`` for objects whose type (or a base type) is called ``type_name``.

    Parameters
    ----------
    family
        ``"spikes"``, ``"populations"``, ``"states"``, ``"rates"`` or ``"weights"``.
    type_name
        Fully qualified class name, as :func:`type_key` writes it.
    converter
        The function; without it, a decorator is returned.
    """
    registry = _FAMILIES.get(family)
    if registry is None:
        raise ParameterError(f"unknown converter family {family!r}; known: {', '.join(sorted(_FAMILIES))}")
    return registry.register(type_name, converter) if converter is not None else registry.register(type_name)


def _lookup(registry: Registry, obj: Any, what: str) -> Callable:
    for cls in type(obj).__mro__:
        key = type_key(cls)
        if key in registry:
            return registry[key]
    known = ", ".join(k.rsplit(".", 1)[-1] for k in registry)
    raise ParameterError(f"cannot read {what} from a {type(obj).__name__}; biosnn.plot reads {what} from: {known}")


# ------------------------------------------------------------------------------------------ public API


def spike_data(obj: Any, *, batch: int = 0, name: str | None = None) -> SpikeData:
    """Read one population's spikes from a Brian2 ``SpikeMonitor``, an ``(indices, times)`` pair, ...

    ``batch`` selects the batch element of a twin record; ``name`` overrides the population's name.
    """
    return _lookup(SPIKE_SOURCES, obj, "spikes")(obj, batch, name)


def population_spikes(obj: Any, *, batch: int = 0) -> dict[str, SpikeData]:
    """Read the spikes of several populations, keyed by population name.

    ``obj`` is a mapping ``{name: spike source}``, a sequence of ``SpikeMonitor`` objects, one
    ``SpikeMonitor``, a ``brian2.Network`` (all its spike monitors), or any type registered in
    :data:`POPULATION_SOURCES` (a circuit, a twin record).
    """
    out = _lookup(POPULATION_SOURCES, obj, "population spikes")(obj, batch)
    if not out:
        raise ParameterError(f"no spike records found in the {type(obj).__name__} given")
    return out


def state_data(
    obj: Any,
    var: str,
    *,
    group: str | None = None,
    batch: int = 0,
    neurons: Sequence[int] | None = None,
    unit: Quantity | None = None,
) -> StateData:
    """Read the recorded state variable ``var`` (of ``group``, for multi-group records).

    ``neurons`` selects columns (positions among the recorded neurons); default all. ``unit`` is the
    display unit (``brian2.mV``) of records that hold plain numbers in SI base units, such as the twin's
    states; Brian2 monitors carry their units and ignore it.
    """
    data = _lookup(STATE_SOURCES, obj, "states")(obj, var, group, batch)
    if unit is not None and not data.unit:
        if not isinstance(unit, Quantity):
            raise UnitError(f"parameter 'unit' must be a Brian2 unit such as brian2.mV, got {unit!r}")
        scale = float(np.asarray(unit))
        if not np.isfinite(scale) or scale <= 0:
            raise ParameterError(f"parameter 'unit' must be a positive quantity, got {unit}")
        label = str(unit.get_best_unit()) if float(unit / unit.get_best_unit()) == 1.0 else str(unit)
        data = StateData(data.t, data.values / scale, label, data.var, data.neurons, scale)
    if neurons is None:
        return data
    cols = np.asarray(neurons, dtype=int)
    if cols.size and (cols.min() < -data.values.shape[1] or cols.max() >= data.values.shape[1]):
        raise ShapeError(f"neurons {list(cols)} out of range: {data.values.shape[1]} neurons recorded for {var!r}")
    return StateData(data.t, data.values[:, cols], data.unit, data.var, data.neurons[cols], data.scale)


def rate_data(obj: Any, *, bin_width: Quantity = 5 * brian2.ms, batch: int = 0, name: str | None = None) -> RateData:
    """A population rate in Hz, in bins of ``bin_width``, from spikes or a ``PopulationRateMonitor``."""
    width = to_float("bin_width", bin_width, brian2.second)
    if width <= 0:
        raise ParameterError(f"parameter 'bin_width' must be positive, got {bin_width}")
    return _lookup(RATE_SOURCES, obj, "rates")(obj, width, batch, name)


def weight_data(obj: Any, *, var: str = "w", batch: int = 0) -> WeightData:
    """Read synaptic weights (variable ``var``) from ``Synapses``, a ``StateMonitor`` on synapses, or arrays."""
    return _lookup(WEIGHT_SOURCES, obj, "weights")(obj, var, batch)


def binned_rate(spikes: SpikeData, bin_width: float, *, t_stop: float | None = None) -> RateData:
    r"""Population rate :math:`r_k = n_k / (N \Delta)` in bins of width :math:`\Delta` (seconds).

    ``n_k`` is the number of spikes in bin ``k`` and ``N`` the population size.
    """
    stop = t_stop if t_stop is not None else (float(spikes.times.max()) if spikes.count else bin_width)
    n_bins = max(1, int(np.ceil(stop / bin_width - 1e-9)))
    edges = np.arange(n_bins + 1) * bin_width
    counts, _ = np.histogram(spikes.times, bins=edges)
    return RateData(0.5 * (edges[:-1] + edges[1:]), counts / (max(spikes.n, 1) * bin_width), spikes.name)


# --------------------------------------------------------------------------------------------- helpers


def display(values: Any, *, name: str) -> tuple[np.ndarray, str, float]:
    """Split a Brian2 quantity (or plain numbers) into a float array in its best display unit, the unit's
    label, and the SI value of one such unit (``1e-3`` for mV).
    """
    if isinstance(values, Quantity) and not get_dimensions(values).is_dimensionless:
        arr = np.asarray(values, dtype=float)
        finite = arr[np.isfinite(arr)]
        unit = Quantity(finite, dim=values.dim).get_best_unit() if finite.size else None
        if unit is None:
            return arr, str(get_dimensions(values)), 1.0
        try:
            scale = float(np.asarray(unit))
            return arr / scale, str(unit), scale
        except Exception as exc:  # pragma: no cover - brian2 always finds a unit
            raise UnitError(f"cannot convert {name!r} to a display unit: {exc}") from exc
    return np.asarray(values, dtype=float), "", 1.0


def _seconds(name: str, times: Any) -> np.ndarray:
    q = check_quantity(name, times, brian2.second)
    return np.asarray(q / brian2.second, dtype=float).ravel()


def _as_numpy(obj: Any) -> np.ndarray:
    if hasattr(obj, "detach"):  # a torch tensor, without importing torch
        return obj.detach().cpu().numpy()
    return np.asarray(obj)


def _spikes_from_monitor(mon: brian2.SpikeMonitor, batch: int, name: str | None) -> SpikeData:
    return SpikeData(
        np.asarray(mon.i[:], dtype=int),
        np.asarray(mon.t[:] / brian2.second, dtype=float),
        int(mon.source.N),
        name if name is not None else mon.source.name,
    )


def _spikes_from_pair(pair: tuple, batch: int, name: str | None) -> SpikeData:
    if len(pair) not in (2, 3):
        raise ShapeError(f"a spike pair is (indices, times) or (indices, times, n_neurons), got {len(pair)} items")
    idx = _as_numpy(pair[0]).astype(int).ravel()
    times = _seconds("times", pair[1])
    if idx.shape != times.shape:
        raise ShapeError(f"spike indices {idx.shape} and times {times.shape} differ in length")
    n = int(pair[2]) if len(pair) == 3 else (int(idx.max()) + 1 if idx.size else 1)
    return SpikeData(idx, times, n, name or "")


def _populations_from_mapping(obj: Mapping, batch: int) -> dict[str, SpikeData]:
    return {str(k): spike_data(v, batch=batch, name=str(k)) for k, v in obj.items()}


def _populations_from_sequence(obj: Sequence, batch: int) -> dict[str, SpikeData]:
    out = {}
    for item in obj:
        data = spike_data(item, batch=batch)
        out[data.name or f"population {len(out)}"] = data
    return out


def _populations_from_monitor(mon: brian2.SpikeMonitor, batch: int) -> dict[str, SpikeData]:
    data = _spikes_from_monitor(mon, batch, None)
    return {data.name: data}


def _populations_from_network(net: brian2.Network, batch: int) -> dict[str, SpikeData]:
    mons = sorted((o for o in net.objects if isinstance(o, brian2.SpikeMonitor)), key=lambda m: m.name)
    return {d.name: d for d in (_spikes_from_monitor(m, batch, None) for m in mons)}


def _states_from_monitor(mon: brian2.StateMonitor, var: str, group: str | None, batch: int) -> StateData:
    if var not in mon.record_variables:
        raise ParameterError(f"state monitor {mon.name!r} did not record {var!r}; it recorded {mon.record_variables}")
    values, unit, scale = display(getattr(mon, var)[:], name=var)
    rec = np.arange(values.shape[0]) if isinstance(mon.record, bool) else np.asarray(mon.record, dtype=int).ravel()
    return StateData(np.asarray(mon.t[:] / brian2.second, dtype=float), values.T, unit, var, rec, scale)


def _states_from_record(rec: StateRecord, var: str, group: str | None, batch: int) -> StateData:
    if var not in rec.variables:
        raise ParameterError(f"the state record has no {var!r}; it holds {sorted(rec.variables)}")
    t = _seconds("t", rec.t)
    values, unit, scale = display(rec.variables[var], name=var)
    values = np.atleast_2d(values)
    if values.shape[1] != t.size:
        raise ShapeError(f"{var!r} has shape {values.shape}; expected [neurons, {t.size}] like 't'")
    return StateData(t, values.T, unit, var, np.arange(values.shape[0]), scale)


def _states_from_mapping(obj: Mapping, var: str, group: str | None, batch: int) -> StateData:
    if group is None:
        if len(obj) != 1:
            raise ParameterError(f"several groups recorded ({', '.join(map(str, obj))}); name one with group=")
        group = next(iter(obj))
    if group not in obj:
        raise ParameterError(f"no record for group {group!r}; recorded: {', '.join(map(str, obj))}")
    return state_data(obj[group], var, batch=batch)


def _rates_from_spikes(obj: Any, width: float, batch: int, name: str | None) -> RateData:
    return binned_rate(spike_data(obj, batch=batch, name=name), width)


def _rates_from_rate_monitor(mon: brian2.PopulationRateMonitor, width: float, batch: int, name: str | None) -> RateData:
    t = np.asarray(mon.t[:] / brian2.second, dtype=float)
    rate = np.asarray(mon.rate[:] / brian2.Hz, dtype=float)
    if t.size == 0:
        return RateData(t, rate, name or mon.source.name)
    dt = float(t[1] - t[0]) if t.size > 1 else width
    per_bin = max(1, int(round(width / dt)))
    n = (t.size // per_bin) * per_bin
    if n == 0:
        return RateData(np.array([t.mean()]), np.array([rate.mean()]), name or mon.source.name)
    return RateData(t[:n].reshape(-1, per_bin).mean(1), rate[:n].reshape(-1, per_bin).mean(1), name or mon.source.name)


def _weights_from_synapses(syn: brian2.Synapses, var: str, batch: int) -> WeightData:
    if var not in syn.variables:
        raise ParameterError(f"synapses {syn.name!r} have no variable {var!r}")
    values, unit, _ = display(getattr(syn, var)[:], name=var)
    return WeightData(
        values[None, :],
        np.array([np.nan]),
        np.asarray(syn.i[:], dtype=int),
        np.asarray(syn.j[:], dtype=int),
        int(syn.source.N),
        int(syn.target.N),
        unit,
        var,
    )


def _weights_from_monitor(mon: brian2.StateMonitor, var: str, batch: int) -> WeightData:
    syn = mon.source
    if not isinstance(syn, brian2.Synapses):
        raise ParameterError(f"state monitor {mon.name!r} records {syn.name!r}, which is not a Synapses object")
    if var not in mon.record_variables:
        raise ParameterError(f"state monitor {mon.name!r} did not record {var!r}; it recorded {mon.record_variables}")
    values, unit, _ = display(getattr(mon, var)[:], name=var)
    rec = np.arange(len(syn)) if isinstance(mon.record, bool) else np.asarray(mon.record, dtype=int).ravel()
    return WeightData(
        values.T,
        np.asarray(mon.t[:] / brian2.second, dtype=float),
        np.asarray(syn.i[:], dtype=int)[rec],
        np.asarray(syn.j[:], dtype=int)[rec],
        int(syn.source.N),
        int(syn.target.N),
        unit,
        var,
    )


def _weights_from_array(obj: Any, var: str, batch: int) -> WeightData:
    """1-D: weights of S synapses (i = k, j = 0); 2-D: a dense [pre, post] matrix; 3-D: [T, pre, post]."""
    values, unit, _ = display(obj, name=var) if isinstance(obj, Quantity) else (_as_numpy(obj).astype(float), "", 1.0)
    if values.ndim == 1:
        s = values.size
        return WeightData(values[None, :], np.array([np.nan]), np.arange(s), np.zeros(s, int), s, 1, unit, var)
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3:
        raise ShapeError(
            f"weights must be 1-D (synapses), 2-D [pre, post] or 3-D [time, pre, post], got {values.shape}"
        )
    n_pre, n_post = values.shape[1:]
    ii, jj = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
    return WeightData(
        values.reshape(values.shape[0], -1),
        np.full(values.shape[0], np.nan),
        ii.ravel(),
        jj.ravel(),
        n_pre,
        n_post,
        unit,
        var,
    )


def _spikes_from_twin(result: Any, batch: int) -> dict[str, SpikeData]:
    out = {}
    for group in sorted(result.spikes):
        trials = result.spikes[group]
        if not -len(trials) <= batch < len(trials):
            raise ShapeError(f"batch {batch} out of range: the twin ran {len(trials)} trials")
        idx, times = trials[batch]
        n = int(result.spike_trains[group].shape[-1]) if group in result.spike_trains else None
        d = _spikes_from_pair((idx, times) if n is None else (idx, times, n), batch, group)
        out[group] = d
    return out


def _states_from_twin(result: Any, var: str, group: str | None, batch: int) -> StateData:
    states = result.states
    if group is None:
        holding = [g for g in states if var in states[g]]
        if len(holding) != 1:
            raise ParameterError(f"name the group with group=: {var!r} recorded in {holding or 'no group'}")
        group = holding[0]
    if group not in states or var not in states[group]:
        recorded = {g: sorted(v) for g, v in states.items()}
        raise ParameterError(f"the twin did not record {var!r} of {group!r}; recorded: {recorded}")
    values = _as_numpy(states[group][var])
    if values.ndim != 3:
        raise ShapeError(f"twin states are [T, B, N], got {values.shape} for {group}.{var}")
    if not -values.shape[1] <= batch < values.shape[1]:
        raise ShapeError(f"batch {batch} out of range: the twin ran {values.shape[1]} trials")
    t = _seconds("t", result.t)
    return StateData(t[: values.shape[0]], values[:, batch, :].astype(float), "", var, np.arange(values.shape[2]))


def _weights_from_twin(twin: Any, var: str, batch: int) -> WeightData:
    """The twin's current weights of ``var = "<synapses>.<variable>"`` (``"input_E.w"``), trial ``batch``."""
    owner, _, name = var.rpartition(".")
    if not owner:
        raise ParameterError(f"for a twin, name the weights as '<synapses>.<variable>' (e.g. 'input_E.w'), got {var!r}")
    values = _as_numpy(twin.variable(owner, name, batch_index=batch)).astype(float).ravel()
    i, j = twin.connectivity(owner)
    return WeightData(
        values[None, :],
        np.array([np.nan]),
        np.asarray(i, int),
        np.asarray(j, int),
        int(i.max()) + 1 if i.size else 0,
        int(j.max()) + 1 if j.size else 0,
        "",
        name,
    )


def _spikes_from_circuit(circuit: Any, batch: int) -> dict[str, SpikeData]:
    out = {}
    for name, mon in circuit.monitors.items():
        if isinstance(mon, brian2.SpikeMonitor):
            pop = name.removeprefix("spikes_")
            out[pop] = _spikes_from_monitor(mon, batch, pop)
    return out


def _states_from_circuit(circuit: Any, var: str, group: str | None, batch: int) -> StateData:
    mons = {
        name.removeprefix("state_"): mon
        for name, mon in circuit.monitors.items()
        if isinstance(mon, brian2.StateMonitor) and var in mon.record_variables
    }
    return _states_from_mapping(mons, var, group, batch) if mons else _no_state(circuit, var)


def _no_state(circuit: Any, var: str) -> StateData:
    raise ParameterError(
        f"circuit {circuit.name!r} has no state monitor recording {var!r}; monitors: {sorted(circuit.monitors)}"
    )


def _register_defaults() -> None:
    sm = type_key(brian2.SpikeMonitor)
    SPIKE_SOURCES.register(sm, _spikes_from_monitor)
    SPIKE_SOURCES.register(type_key(tuple), _spikes_from_pair)
    POPULATION_SOURCES.register(sm, _populations_from_monitor)
    POPULATION_SOURCES.register(type_key(dict), _populations_from_mapping)
    POPULATION_SOURCES.register(type_key(list), _populations_from_sequence)
    POPULATION_SOURCES.register(type_key(tuple), _populations_from_sequence)
    POPULATION_SOURCES.register(type_key(brian2.Network), _populations_from_network)
    STATE_SOURCES.register(type_key(brian2.StateMonitor), _states_from_monitor)
    STATE_SOURCES.register(type_key(dict), _states_from_mapping)
    STATE_SOURCES.register(type_key(StateRecord), _states_from_record)
    RATE_SOURCES.register(sm, _rates_from_spikes)
    RATE_SOURCES.register(type_key(tuple), _rates_from_spikes)
    RATE_SOURCES.register(type_key(brian2.PopulationRateMonitor), _rates_from_rate_monitor)
    WEIGHT_SOURCES.register(type_key(brian2.Synapses), _weights_from_synapses)
    WEIGHT_SOURCES.register(type_key(brian2.StateMonitor), _weights_from_monitor)
    WEIGHT_SOURCES.register(type_key(np.ndarray), _weights_from_array)
    WEIGHT_SOURCES.register(type_key(Quantity), _weights_from_array)
    WEIGHT_SOURCES.register("torch.Tensor", _weights_from_array)
    # other parts of biosnn, by name (no import here): the twin's run result and the circuit container
    POPULATION_SOURCES.register("biosnn.twins.twin.TwinResult", _spikes_from_twin)
    STATE_SOURCES.register("biosnn.twins.twin.TwinResult", _states_from_twin)
    WEIGHT_SOURCES.register("biosnn.twins.twin.Twin", _weights_from_twin)
    POPULATION_SOURCES.register("biosnn.circuits.base.Circuit", _spikes_from_circuit)
    STATE_SOURCES.register("biosnn.circuits.base.Circuit", _states_from_circuit)


_register_defaults()
