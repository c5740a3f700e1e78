"""Synaptic weights: histograms and matrices, at one time or over time.

Weights are read through :func:`biosnn.plot.data.weight_data`: a Brian2 ``Synapses`` object (its weights
now), a ``StateMonitor`` recording the weight variable of a ``Synapses`` object (weights over time), an
array or tensor (1-D per synapse, 2-D ``[pre, post]``, 3-D ``[time, pre, post]``), or a twin
(:class:`biosnn.twins.twin.Twin`, with ``var="<synapses>.<variable>"``: its current weights in SI units).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import brian2
import matplotlib
import numpy as np
from brian2.units.fundamentalunits import Quantity

from biosnn.errors import ParameterError
from biosnn.plot.data import WeightData, weight_data
from biosnn.plot.style import new_axes, new_figure


def _snapshots(data: WeightData, snapshots: Sequence[int] | int | None) -> list[int]:
    n = data.values.shape[0]
    if snapshots is None:
        picks = [0, n // 2, n - 1] if n >= 3 else list(range(n))
    elif isinstance(snapshots, int):
        picks = [int(round(k)) for k in np.linspace(0, n - 1, max(1, min(snapshots, n)))]
    else:
        picks = [int(k) % n if -n <= int(k) < n else _bad_snapshot(int(k), n) for k in snapshots]
    return list(dict.fromkeys(picks))


def _bad_snapshot(k: int, n: int) -> int:
    raise ParameterError(f"snapshot {k} out of range: {n} weight snapshots recorded")


def _snapshot_label(data: WeightData, k: int) -> str:
    t = data.t[k]
    return f"t = {t:.3g} s" if np.isfinite(t) else ("now" if data.values.shape[0] == 1 else f"snapshot {k}")


def _axis_label(data: WeightData) -> str:
    return f"{data.var} ({data.unit})" if data.unit else data.var


def weight_histogram(
    weights: Any,
    *,
    var: str = "w",
    bins: int | Sequence[float] = 40,
    snapshots: Sequence[int] | int | None = None,
    batch: int = 0,
    log: bool = False,
    ax: matplotlib.axes.Axes | None = None,
    label: str | None = None,
    title: str | None = None,
) -> matplotlib.figure.Figure:
    """Histogram of synaptic weights; with a time series, one step histogram per snapshot.

    Parameters
    ----------
    weights
        See the module docstring.
    var
        The weight variable of a ``Synapses`` object or monitor.
    bins
        Number of bins (shared edges over all snapshots) or the bin edges.
    snapshots
        Indices of the recorded times to draw, or how many evenly spaced ones (default first, middle,
        last; a single snapshot when there is only one).
    log
        Logarithmic count axis.
    label, title
        The x label and the title (default: the variable with its unit, and "weight distribution (<n>
        synapses)"); say what the values are when they are not weights (a gradient, a change ...).

    Returns
    -------
    matplotlib.figure.Figure
        One :class:`matplotlib.patches.StepPatch` per snapshot (``gid`` ``"snapshot <k>"``) whose
        ``get_data()`` holds the counts and the bin edges.
    """
    data = weight_data(weights, var=var, batch=batch)
    picks = _snapshots(data, snapshots)
    values = data.values[picks]
    finite = values[np.isfinite(values)]
    if isinstance(bins, (int, np.integer)):
        if bins < 1:
            raise ParameterError(f"parameter 'bins' must be >= 1, got {bins}")
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=float)
    fig, ax = new_axes(ax, figsize=(5.5, 3.6))
    cmap = matplotlib.colormaps["viridis"]
    for n, k in enumerate(picks):
        counts, _ = np.histogram(data.values[k][np.isfinite(data.values[k])], bins=edges)
        ax.stairs(
            counts,
            edges,
            color=cmap(n / max(1, len(picks) - 1)) if len(picks) > 1 else "#34495e",
            fill=len(picks) == 1,
            alpha=0.8 if len(picks) == 1 else 1.0,
            lw=1.3,
            label=_snapshot_label(data, k),
            gid=f"snapshot {k}",
        )
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(label if label is not None else _axis_label(data))
    ax.set_ylabel("synapses")
    ax.set_title(title if title is not None else f"weight distribution ({data.values.shape[1]} synapses)")
    if len(picks) > 1:
        ax.legend(fontsize="small")
    return fig


def weight_matrix(
    weights: Any,
    *,
    var: str = "w",
    snapshots: Sequence[int] | int | None = None,
    batch: int = 0,
    cmap: str = "viridis",
    label: str | None = None,
) -> matplotlib.figure.Figure:
    """Weight matrices ``[presynaptic, postsynaptic]`` at a few recorded times, with one shared colour scale.

    Missing synapses are left blank (``nan``). Each panel is an image (``gid`` ``"snapshot <k>"``) whose
    array is the dense weight matrix at snapshot ``k``. ``label`` is the colour bar's (default: the
    variable with its unit); say what the values are when they are not weights.
    """
    data = weight_data(weights, var=var, batch=batch)
    picks = _snapshots(data, snapshots)
    finite = data.values[picks][np.isfinite(data.values[picks])]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    fig, axes = new_figure(figsize=(3.2 * len(picks) + 1.0, 3.4), ncols=len(picks), squeeze=False)
    image = None
    for ax, k in zip(axes[0], picks):
        image = ax.imshow(
            data.matrix(k),
            aspect="auto",
            interpolation="nearest",
            origin="lower",
            cmap=cmap,
            vmin=vmin,
            vmax=vmax if vmax > vmin else vmin + 1e-12,
            gid=f"snapshot {k}",
        )
        ax.set_title(_snapshot_label(data, k))
        ax.set_xlabel("postsynaptic neuron")
    axes[0][0].set_ylabel("presynaptic neuron")
    fig.colorbar(image, ax=list(axes[0]), label=label if label is not None else _axis_label(data))
    return fig


def weight_traces(
    weights: Any,
    *,
    var: str = "w",
    synapses: Sequence[int] | int = 20,
    batch: int = 0,
    time_unit: Quantity = brian2.second,
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.figure.Figure:
    """Weights of a few synapses against time, with the mean over all recorded synapses (``gid`` ``"mean"``)."""
    from biosnn.plot.style import time_scale

    data = weight_data(weights, var=var, batch=batch)
    if not np.all(np.isfinite(data.t)):
        raise ParameterError("weight_traces needs weights recorded over time (a StateMonitor on the synapses)")
    cols = (
        np.arange(min(int(synapses), data.values.shape[1]))
        if isinstance(synapses, (int, np.integer))
        else np.asarray(synapses, dtype=int)
    )
    scale, unit = time_scale(time_unit)
    fig, ax = new_axes(ax, figsize=(6.4, 3.2))
    for c in cols:
        ax.plot(data.t / scale, data.values[:, c], color="0.6", lw=0.5, gid=f"synapse {c}")
    ax.plot(data.t / scale, data.values.mean(1), color="k", lw=1.5, gid="mean", label="mean")
    ax.set_xlabel(f"time ({unit})")
    ax.set_ylabel(_axis_label(data))
    ax.legend(fontsize="small")
    return fig
