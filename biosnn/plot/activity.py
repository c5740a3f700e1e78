"""What the neurons do: spike rasters, population rates, membrane traces and the E/I input balance.

Each function reads its data through :mod:`biosnn.plot.data`, so it takes Brian2 monitors and the twin's
records alike, and returns the :class:`matplotlib.figure.Figure` it drew.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import brian2
import matplotlib
import numpy as np
from brian2.units.fundamentalunits import Quantity

from biosnn.errors import ParameterError, ShapeError
from biosnn.plot.data import RateData, binned_rate, population_spikes, rate_data, state_data
from biosnn.plot.style import new_axes, new_figure, population_colors, time_scale
from biosnn.units import to_float


def raster(
    spikes: Any,
    *,
    batch: int = 0,
    colors: Mapping[str, str] | None = None,
    neurons: int | None = None,
    time_unit: Quantity = brian2.ms,
    marker_size: float = 2.0,
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.figure.Figure:
    """Spike raster of one or several populations, stacked, each in its colour (E red, I blue).

    Parameters
    ----------
    spikes
        ``{name: SpikeMonitor or (indices, times)}``, a list of ``SpikeMonitor``, a ``brian2.Network``, a
        circuit, or a twin record (see :func:`biosnn.plot.data.population_spikes`).
    batch
        The batch element to draw, for twin records.
    colors
        Colour by population name; others are coloured by kind (:func:`biosnn.plot.style.population_kind`).
    neurons
        Draw only the first ``neurons`` neurons of each population (default all).
    time_unit
        Unit of the time axis.
    ax
        Axes to draw into; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        One scatter collection per population (``gid`` = population name, ``label`` = name), with
        population ``k`` drawn at rows ``offset_k + index``; y tick labels name the populations.
    """
    data = population_spikes(spikes, batch=batch)
    scale, unit = time_scale(time_unit)
    if neurons is not None and neurons < 1:
        raise ParameterError(f"parameter 'neurons' must be >= 1, got {neurons}")
    palette = population_colors(list(data), colors)
    fig, ax = new_axes(ax, figsize=(7.0, 3.8))
    offset, ticks = 0, []
    for name, d in data.items():
        n = d.n if neurons is None else min(d.n, neurons)
        keep = d.indices < n
        ax.scatter(
            d.times[keep] / scale,
            d.indices[keep] + offset,
            s=marker_size,
            marker="|" if n > 200 else ".",
            color=palette[name],
            label=f"{name} ({d.count} spikes)",
            gid=name,
            linewidths=0.6,
        )
        ticks.append(offset + n / 2)
        offset += n
        ax.axhline(offset - 0.5, color="0.85", lw=0.5)
    ax.set_yticks(ticks, list(data))
    ax.set_ylim(-0.5, offset - 0.5)
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel("neuron")
    ax.set_title("spike raster")
    return fig


def population_rates(
    spikes: Any,
    *,
    bin_width: Quantity = 5 * brian2.ms,
    batch: int = 0,
    duration: Quantity | None = None,
    colors: Mapping[str, str] | None = None,
    time_unit: Quantity = brian2.ms,
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.figure.Figure:
    r"""Population rates :math:`r(t) = n(t, t+\Delta) / (N \Delta)` in Hz, one line per population.

    ``spikes`` is anything :func:`raster` takes; a mapping may also hold ``PopulationRateMonitor`` objects
    (averaged into bins of ``bin_width``). ``duration`` sets the last bin (default: the last spike).
    Each line has ``gid`` = population name.
    """
    width = to_float("bin_width", bin_width, brian2.second)
    stop = None if duration is None else to_float("duration", duration, brian2.second)
    if isinstance(spikes, Mapping):
        rates = {str(k): rate_data(v, bin_width=bin_width, batch=batch, name=str(k)) for k, v in spikes.items()}
    else:
        rates = {k: binned_rate(d, width, t_stop=stop) for k, d in population_spikes(spikes, batch=batch).items()}
    if stop is not None:
        rates = {k: RateData(r.t[r.t <= stop], r.rate[r.t <= stop], r.name) for k, r in rates.items()}
    scale, unit = time_scale(time_unit)
    palette = population_colors(list(rates), colors)
    fig, ax = new_axes(ax, figsize=(7.0, 3.0))
    for name, r in rates.items():
        ax.plot(
            r.t / scale,
            r.rate,
            color=palette[name],
            gid=name,
            label=f"{name}: {np.mean(r.rate) if r.rate.size else 0:.1f} Hz mean",
        )
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel("rate (Hz)")
    ax.set_title(f"population rates ({width * 1e3:g} ms bins)")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def membrane_traces(
    states: Any,
    *,
    var: str = "v",
    group: str | None = None,
    neurons: Sequence[int] | None = None,
    batch: int = 0,
    threshold: Quantity | None = None,
    unit: Quantity | None = None,
    time_unit: Quantity = brian2.ms,
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.figure.Figure:
    """Traces of the state variable ``var`` (the membrane potential by default) of a few neurons.

    ``states`` is a Brian2 ``StateMonitor`` or a twin record (with ``group``); ``neurons`` are positions
    among the recorded neurons (default the first three). ``threshold`` draws a dashed line. ``unit`` is
    the display unit of records in plain SI numbers (the twin's states: ``unit=brian2.mV``). Each trace's
    ``gid`` is ``"neuron <index>"``; the y label carries the unit.
    """
    data = state_data(
        states, var, group=group, batch=batch, neurons=list(neurons) if neurons is not None else None, unit=unit
    )
    if neurons is None:
        data = state_data(states, var, group=group, batch=batch, neurons=range(min(3, data.values.shape[1])), unit=unit)
    scale, unit = time_scale(time_unit)
    fig, ax = new_axes(ax, figsize=(7.0, 3.0))
    for col, idx in enumerate(data.neurons):
        ax.plot(data.t / scale, data.values[:, col], lw=0.8, gid=f"neuron {idx}", label=f"neuron {idx}")
    if threshold is not None:
        thr = float(np.asarray(threshold)) / data.scale
        ax.axhline(thr, color="k", ls="--", lw=0.8, gid="threshold", label="threshold")
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel(f"{var} ({data.unit})" if data.unit else var)
    ax.set_title(f"{var} traces")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def ei_balance(
    states: Any,
    *,
    excitatory: str,
    inhibitory: str,
    group: str | None = None,
    batch: int = 0,
    neurons: Sequence[int] | None = None,
    unit: Quantity | None = None,
    time_unit: Quantity = brian2.ms,
) -> matplotlib.figure.Figure:
    r"""Excitatory and inhibitory input onto a population, over time and neuron by neuron.

    Left: the population means :math:`\bar E(t)`, :math:`\bar I(t)` of the two recorded inputs and, as
    inputs carry their sign (currents, inhibition negative), the net input :math:`\bar E + \bar I`.
    Right: for each neuron, the time-averaged excitatory input against the magnitude of its inhibitory
    input; a balanced neuron (Vogels et al. 2011, Science 334:1569) lies on the diagonal. The title gives
    the correlation of :math:`\bar E(t)` and :math:`-\bar I(t)` (detailed balance tracks the excitation).

    Parameters
    ----------
    states
        A Brian2 ``StateMonitor`` recording both inputs, or a twin record (with ``group``).
    excitatory, inhibitory
        Names of the recorded input variables (same units, e.g. ``"I_exc"``, ``"I_inh"``).
    unit
        Display unit of records in plain SI numbers (the twin's states).

    Returns
    -------
    matplotlib.figure.Figure
        Two axes. Lines have ``gid`` ``"excitatory"``, ``"inhibitory"``, ``"net"``; the scatter has
        ``gid`` ``"neurons"``.
    """
    sel = list(neurons) if neurons is not None else None
    e = state_data(states, excitatory, group=group, batch=batch, neurons=sel, unit=unit)
    i = state_data(states, inhibitory, group=group, batch=batch, neurons=sel, unit=unit)
    if e.values.shape != i.values.shape:
        raise ShapeError(f"{excitatory!r} {e.values.shape} and {inhibitory!r} {i.values.shape} differ in shape")
    i_values = i.values * (i.scale / e.scale)  # both in e's display unit
    scale, unit = time_scale(time_unit)
    fig, (ax_t, ax_n) = new_figure(figsize=(10.0, 3.6), ncols=2)
    fig.get_layout_engine().set(wspace=0.08)
    mean_e, mean_i = e.values.mean(1), i_values.mean(1)
    ax_t.plot(e.t / scale, mean_e, color="#c0392b", lw=0.9, gid="excitatory", label=f"excitatory ({excitatory})")
    ax_t.plot(e.t / scale, mean_i, color="#2471a3", lw=0.9, gid="inhibitory", label=f"inhibitory ({inhibitory})")
    ax_t.plot(e.t / scale, mean_e + mean_i, color="k", lw=0.9, gid="net", label="net")
    ax_t.axhline(0, color="0.6", lw=0.5)
    ax_t.set_xlabel(f"time ({unit})")
    ax_t.set_ylabel(f"input ({e.unit})" if e.unit else "input")
    ax_t.legend(loc="upper right", fontsize="small")
    corr = np.corrcoef(mean_e, -mean_i)[0, 1] if mean_e.std() > 0 and mean_i.std() > 0 else np.nan
    ax_t.set_title(f"population mean input (corr(E, -I) = {corr:.2f})")
    per_e, per_i = e.values.mean(0), np.abs(i_values.mean(0))
    ax_n.scatter(per_e, per_i, s=10, color="#7d3c98", gid="neurons")
    hi = float(max(per_e.max(initial=0), per_i.max(initial=0))) * 1.05 or 1.0
    lo = float(min(per_e.min(initial=0), per_i.min(initial=0)))
    ax_n.plot([lo, hi], [lo, hi], color="0.5", ls="--", lw=0.8, gid="balance")
    ax_n.set_xlabel(f"mean excitatory input ({e.unit})")
    ax_n.set_ylabel(f"|mean inhibitory input| ({e.unit})")
    ax_n.set_title("per neuron (diagonal = balanced)")
    return fig
