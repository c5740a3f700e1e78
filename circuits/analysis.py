r"""Pure statistics of spiking activity, used by the circuit validations, the plots and the notebooks.

Every function takes plain arrays (spike indices, spike times as Brian2 quantities, state traces) and
returns numbers; none of them touches a Brian2 object, so they work equally on twin outputs.

* :func:`firing_rates`, :func:`mean_rate` -- spike counts per neuron over a window, divided by its length.
* :func:`isi_cv` -- the coefficient of variation of inter-spike intervals,
  :math:`CV = \sigma_{ISI} / \mu_{ISI}` (1 for a Poisson process, 0 for a clock).
* :func:`dominant_frequency` -- the frequency of the largest peak of the population rate's power spectrum
  (Brunel 2000's fast, ~180 Hz, and slow, ~20 Hz, global oscillations).
* :func:`synchrony_chi` -- Golomb's synchrony measure (Golomb 2007, Scholarpedia 2(1):1347),
  :math:`\chi^2 = \mathrm{Var}_t[\bar V(t)] \,/\, \langle \mathrm{Var}_t[V_i(t)] \rangle_i`, with
  :math:`\bar V(t) = \frac1N \sum_i V_i(t)`: about :math:`1/\sqrt N` for independent neurons, 1 for
  identical ones.
* :func:`population_fano_factor` -- the Fano factor :math:`\mathrm{Var}[n_k]/\mathrm{E}[n_k]` of the
  population spike count :math:`n_k` in bins of width :math:`\Delta`: close to 1 for asynchronous firing,
  much larger when neurons fire together (Brunel 2000's "synchronous" states).
* :func:`bimodality` -- the fraction of weights near 0 and near :math:`w_{max}` (Song et al. 2000, Fig. 1).
* :func:`balance_ratio` -- :math:`-\langle I_{inh}\rangle / \langle I_{exc}\rangle` (Vogels et al. 2011).
"""

from __future__ import annotations

from typing import Any

import brian2
import numpy as np
from brian2.units.fundamentalunits import Quantity

from biosnn.errors import ParameterError, ShapeError
from biosnn.units import check_quantity

__all__ = [
    "firing_rates",
    "mean_rate",
    "isi_cv",
    "population_rate",
    "population_fano_factor",
    "dominant_frequency",
    "synchrony_chi",
    "bimodality",
    "balance_ratio",
]


def _window(times: Any, start: Any, stop: Any) -> tuple[np.ndarray, float, float]:
    t = np.asarray(check_quantity("times", times, brian2.second, finite=True) / brian2.second, dtype=float)
    t0 = float(check_quantity("start", start, brian2.second) / brian2.second)
    t1 = float(check_quantity("stop", stop, brian2.second) / brian2.second)
    if t1 <= t0:
        raise ParameterError(f"parameter 'stop' ({stop}) must be later than 'start' ({start})")
    return t, t0, t1


def _indices(indices: Any, n_neurons: int, n_times: int) -> np.ndarray:
    i = np.asarray(indices, dtype=np.int64)
    if i.shape != (n_times,):
        raise ShapeError(f"'indices' has shape {i.shape}, expected ({n_times},) like 'times'")
    if n_neurons < 1:
        raise ParameterError(f"parameter 'n_neurons' must be >= 1, got {n_neurons}")
    if i.size and (i.min() < 0 or i.max() >= n_neurons):
        raise ParameterError(f"'indices' must lie in [0, {n_neurons}), got range [{i.min()}, {i.max()}]")
    return i


def firing_rates(indices: Any, times: Quantity, n_neurons: int, *, start: Quantity, stop: Quantity) -> Quantity:
    """Firing rate of each neuron in ``[start, stop)``: spike count / (stop - start), in Hz."""
    t, t0, t1 = _window(times, start, stop)
    i = _indices(indices, n_neurons, t.size)
    inside = (t >= t0) & (t < t1)
    counts = np.bincount(i[inside], minlength=n_neurons)
    return counts / (t1 - t0) * brian2.Hz


def mean_rate(indices: Any, times: Quantity, n_neurons: int, *, start: Quantity, stop: Quantity) -> Quantity:
    """Population-averaged firing rate in ``[start, stop)``, in Hz."""
    return float(np.mean(firing_rates(indices, times, n_neurons, start=start, stop=stop) / brian2.Hz)) * brian2.Hz


def isi_cv(
    indices: Any, times: Quantity, n_neurons: int, *, start: Quantity, stop: Quantity, min_spikes: int = 3
) -> np.ndarray:
    """Coefficient of variation of the inter-spike intervals of each neuron in ``[start, stop)``.

    Neurons with fewer than ``min_spikes`` spikes in the window get ``NaN`` (use ``np.nanmean``).
    """
    if min_spikes < 3:
        raise ParameterError(f"parameter 'min_spikes' must be >= 3 (two intervals), got {min_spikes}")
    t, t0, t1 = _window(times, start, stop)
    i = _indices(indices, n_neurons, t.size)
    inside = (t >= t0) & (t < t1)
    t, i = t[inside], i[inside]
    order = np.lexsort((t, i))
    t, i = t[order], i[order]
    cv = np.full(n_neurons, np.nan)
    bounds = np.searchsorted(i, np.arange(n_neurons + 1))
    for n in range(n_neurons):
        a, b = bounds[n], bounds[n + 1]
        if b - a >= min_spikes:
            isi = np.diff(t[a:b])
            m = isi.mean()
            cv[n] = isi.std(ddof=1) / m if m > 0 else np.nan
    return cv


def population_rate(
    times: Quantity, n_neurons: int, *, start: Quantity, stop: Quantity, bin_size: Quantity
) -> tuple[Quantity, Quantity]:
    """Population rate histogram: bin centres and spikes / (neuron * bin width), in Hz."""
    t, t0, t1 = _window(times, start, stop)
    width = float(check_quantity("bin_size", bin_size, brian2.second) / brian2.second)
    if width <= 0 or width > t1 - t0:
        raise ParameterError(f"parameter 'bin_size' must be in (0, stop - start], got {bin_size}")
    n_bins = int(np.floor((t1 - t0) / width + 1e-9))
    edges = t0 + width * np.arange(n_bins + 1)
    counts, _ = np.histogram(t, bins=edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    return centres * brian2.second, counts / (n_neurons * width) * brian2.Hz


def population_fano_factor(times: Quantity, *, start: Quantity, stop: Quantity, bin_size: Quantity) -> float:
    """Fano factor of the population spike count in bins of ``bin_size`` over ``[start, stop)``.

    About 1 when the neurons fire independently (Poisson), much larger when they fire together.
    Returns NaN when there is no spike in the window.
    """
    t, t0, t1 = _window(times, start, stop)
    width = float(check_quantity("bin_size", bin_size, brian2.second) / brian2.second)
    if width <= 0 or width > t1 - t0:
        raise ParameterError(f"parameter 'bin_size' must be in (0, stop - start], got {bin_size}")
    n_bins = int(np.floor((t1 - t0) / width + 1e-9))
    counts, _ = np.histogram(t, bins=t0 + width * np.arange(n_bins + 1))
    m = counts.mean()
    return float(counts.var() / m) if m > 0 else float("nan")


def dominant_frequency(
    times: Quantity, *, start: Quantity, stop: Quantity, bin_size: Quantity, min_frequency: Quantity = 5 * brian2.Hz
) -> Quantity:
    """Frequency of the largest peak of the power spectrum of the population spike count over ``[start, stop)``.

    The count in bins of ``bin_size`` (mean removed) is Fourier transformed; frequencies below
    ``min_frequency`` (slow drifts) are ignored. Returns NaN Hz when there is no spike in the window.
    """
    t, t0, t1 = _window(times, start, stop)
    width = float(check_quantity("bin_size", bin_size, brian2.second) / brian2.second)
    if width <= 0 or width > (t1 - t0) / 4:
        raise ParameterError(f"parameter 'bin_size' must be in (0, (stop - start) / 4], got {bin_size}")
    f_min = float(check_quantity("min_frequency", min_frequency, brian2.Hz) / brian2.Hz)
    n_bins = int(np.floor((t1 - t0) / width + 1e-9))
    counts, _ = np.histogram(t, bins=t0 + width * np.arange(n_bins + 1))
    if counts.sum() == 0:
        return float("nan") * brian2.Hz
    power = np.abs(np.fft.rfft(counts - counts.mean())) ** 2
    freqs = np.fft.rfftfreq(n_bins, d=width)
    keep = freqs >= f_min
    if not np.any(keep):
        raise ParameterError(f"no frequency above 'min_frequency' ({min_frequency}) in a {stop - start} window")
    return float(freqs[keep][np.argmax(power[keep])]) * brian2.Hz


def synchrony_chi(traces: Any) -> float:
    r"""Golomb's synchrony measure :math:`\chi` of membrane traces, shape ``(n_neurons, n_times)``.

    :math:`\chi^2 = \mathrm{Var}_t[\frac1N\sum_i V_i] / \frac1N\sum_i \mathrm{Var}_t[V_i]`. Units cancel,
    so traces may be quantities or plain arrays.
    """
    v = np.asarray(traces, dtype=float)
    if v.ndim != 2 or v.shape[0] < 2 or v.shape[1] < 2:
        raise ShapeError(f"'traces' must have shape (n_neurons >= 2, n_times >= 2), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ParameterError("'traces' contains NaN or infinite values")
    single = v.var(axis=1).mean()
    if single == 0:
        return float("nan")
    return float(np.sqrt(v.mean(axis=0).var() / single))


def bimodality(weights: Any, w_max: float, *, edge: float = 0.1) -> tuple[float, float]:
    """Fractions of ``weights`` within ``edge * w_max`` of 0 and of ``w_max``.

    ``weights`` and ``w_max`` in the same units (or both plain numbers).
    """
    w = np.asarray(weights, dtype=float)
    wm = float(w_max)
    if wm <= 0:
        raise ParameterError(f"parameter 'w_max' must be > 0, got {w_max}")
    if not 0 < edge < 0.5:
        raise ParameterError(f"parameter 'edge' must lie in (0, 0.5), got {edge}")
    if w.size == 0:
        raise ShapeError("'weights' is empty")
    low = float(np.mean(w <= edge * wm))
    high = float(np.mean(w >= (1 - edge) * wm))
    return low, high


def balance_ratio(exc_current: Any, inh_current: Any) -> float:
    r"""E/I balance :math:`-\langle I_{inh}\rangle / \langle I_{exc}\rangle` (1 = perfect cancellation).

    Currents are arrays of any matching shape (sign convention: excitatory positive, inhibitory negative),
    quantities in the same units or plain numbers.
    """
    e = np.asarray(exc_current, dtype=float)
    i = np.asarray(inh_current, dtype=float)
    if e.shape != i.shape:
        raise ShapeError(f"'exc_current' {e.shape} and 'inh_current' {i.shape} must have the same shape")
    me = e.mean()
    if me == 0:
        raise ParameterError("the mean excitatory current is zero; the balance ratio is undefined")
    return float(-i.mean() / me)
