r"""Spike-timing protocols run in Brian2: measure what a rule does to one synapse per spike-train pair.

Every synapse ``k`` connects presynaptic spike generator ``k`` to postsynaptic spike generator ``k``, so one
explicit :class:`brian2.Network` and one ``run`` measure many independent protocols at once (Brian2's
per-``run`` set-up cost is paid once). Used to check rules against their closed-form windows and to plot
windows and frequency dependences in ablation notebooks.

* :func:`run_spike_trains`: final weight of each synapse after its own pre/post spike trains.
* :func:`measure_window`: weight change of a single pair for each :math:`\Delta t = t_\mathrm{post} - t_\mathrm{pre}`.
* :func:`pairing_protocol`: ``n_pairs`` pairings at each frequency (Sjoestroem et al. 2001).
* :func:`layer_update_in_brian2`: the Brian2 reference of a rule's ``layer_update`` on a dense layer.

Only rules whose target needs no variable (``post_requirements() == {}``) run on spike generators.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import brian2
import numpy as np
from biosnn.plasticity.base import PlasticityRule

from biosnn.errors import ParameterError, ShapeError, UnsupportedFeatureError
from biosnn.units import check_range, to_float

__all__ = ["run_spike_trains", "measure_window", "pairing_protocol", "pairing_trains", "layer_update_in_brian2"]


def _grid_indices(times: Any, step: float, label: str) -> np.ndarray:
    t = np.atleast_1d(np.asarray(times, dtype=float))
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ParameterError(f"{label} spike times must be finite and non-negative")
    idx = np.round(t / step).astype(np.int64)
    if np.unique(idx).size != idx.size:
        raise ParameterError(f"{label} spike train has two spikes in one time step")
    return idx


def run_spike_trains(
    rule: PlasticityRule,
    pre_trains: Sequence[Any],
    post_trains: Sequence[Any],
    *,
    w_init: Any,
    duration: Any,
    dt: Any = 0.1 * brian2.ms,
) -> np.ndarray:
    """Final weights after driving synapse ``k`` with ``pre_trains[k]`` and ``post_trains[k]``.

    Parameters
    ----------
    rule
        A rule with no postsynaptic requirements.
    pre_trains, post_trains
        One spike-time array (Brian2 time quantities) per synapse; equal lengths.
    w_init
        Initial weight (scalar or one per synapse), in the rule's weight units.
    duration
        Simulated time (a Brian2 time); it should end after the last spike.
    dt
        Time step; spike times are rounded onto its grid.

    Returns
    -------
    numpy.ndarray
        Final weights, as floats in the rule's weight unit.
    """
    if rule.post_requirements():
        raise UnsupportedFeatureError(
            f"rule {rule.name!r} needs target variables {sorted(rule.post_requirements())}; "
            "spike generators cannot supply them"
        )
    if len(pre_trains) != len(post_trains) or len(pre_trains) == 0:
        raise ShapeError(f"need one post train per pre train, got {len(pre_trains)} and {len(post_trains)}")
    step = to_float("dt", dt, brian2.second)
    check_range("dt", step, low=0.0, low_inclusive=False)
    total = to_float("duration", duration, brian2.second)
    n = len(pre_trains)
    unit = rule.weight_unit

    def generator(trains: Sequence[Any], label: str) -> brian2.SpikeGeneratorGroup:
        ids, idx = [], []
        for k, train in enumerate(trains):
            t = np.asarray(brian2.Quantity(train) / brian2.second, dtype=float) if len(np.atleast_1d(train)) else []
            g = _grid_indices(t, step, label) if len(np.atleast_1d(t)) else np.zeros(0, np.int64)
            ids.append(np.full(g.size, k))
            idx.append(g)
        ii, gg = np.concatenate(ids), np.concatenate(idx)
        if gg.size and gg.max() * step >= total:
            raise ParameterError(f"'duration' must end after the last {label} spike")
        return brian2.SpikeGeneratorGroup(n, ii.astype(int), gg * step * brian2.second, dt=dt)

    pre = generator(pre_trains, "pre")
    post = generator(post_trains, "post")
    syn = rule.synapses(pre, post, effect="", dt=dt)
    syn.connect(j="i")
    w0 = np.broadcast_to(np.asarray(brian2.Quantity(w_init) / unit, dtype=float), (n,))
    setattr(syn, syn.plasticity_names["w"], w0 * unit)
    net = brian2.Network(pre, post, syn)
    net.run(duration, namespace={})
    return np.asarray(getattr(syn, syn.plasticity_names["w"])[:] / unit, dtype=float)


def measure_window(
    rule: PlasticityRule, delta_t: Any, *, w_init: Any, t_first: Any = 100 * brian2.ms, dt: Any = 0.1 * brian2.ms
) -> np.ndarray:
    r"""Weight change of one pre/post pair for each :math:`\Delta t = t_\mathrm{post} - t_\mathrm{pre}`.

    The earlier spike of each pair falls at ``t_first``; the run ends 1 ms after the last spike.
    """
    d = np.atleast_1d(np.asarray(brian2.Quantity(delta_t) / brian2.second, dtype=float))
    t0 = to_float("t_first", t_first, brian2.second)
    if t0 + np.min(np.minimum(d, 0.0)) < 0:
        raise ParameterError("'t_first' is too early for the most negative 'delta_t'")
    pre = [np.array([t0 - min(x, 0.0)]) * brian2.second for x in d]
    post = [np.array([t0 + max(x, 0.0)]) * brian2.second for x in d]
    end = (t0 + np.max(np.abs(d)) + 1e-3) * brian2.second
    w0 = np.broadcast_to(np.asarray(brian2.Quantity(w_init) / rule.weight_unit, dtype=float), d.shape)
    return run_spike_trains(rule, pre, post, w_init=w0 * rule.weight_unit, duration=end, dt=dt) - w0


def pairing_trains(
    frequency: Any, delta_t: Any, n_pairs: int, *, t_first: Any = 50 * brian2.ms
) -> tuple[np.ndarray, np.ndarray]:
    r"""Spike times (in seconds) of ``n_pairs`` pre/post pairings at ``frequency`` with offset ``delta_t``."""
    f = to_float("frequency", frequency, brian2.Hz)
    check_range("frequency", f, low=0.0, low_inclusive=False)
    d = to_float("delta_t", delta_t, brian2.second)
    if int(n_pairs) != n_pairs or n_pairs < 1:
        raise ParameterError(f"parameter 'n_pairs' must be a positive integer, got {n_pairs!r}")
    t0 = to_float("t_first", t_first, brian2.second)
    base = t0 + abs(d) + np.arange(int(n_pairs)) / f
    return base, base + d


def pairing_protocol(
    rule: PlasticityRule,
    frequencies: Any,
    delta_t: Any,
    *,
    n_pairs: int = 60,
    w_init: Any = 0.5,
    dt: Any = 0.1 * brian2.ms,
) -> np.ndarray:
    """Weight change after ``n_pairs`` pairings at each frequency (one synapse per frequency, one run).

    ``delta_t = t_post - t_pre`` of every pairing (Sjoestroem, Turrigiano & Nelson 2001): one time for all
    frequencies, or one per frequency.
    """
    freqs = np.atleast_1d(np.asarray(brian2.Quantity(frequencies) / brian2.Hz, dtype=float))
    deltas = np.atleast_1d(np.asarray(brian2.Quantity(delta_t) / brian2.second, dtype=float))
    if deltas.size not in (1, freqs.size):
        raise ShapeError(f"'delta_t' must be one time or one per frequency, got {deltas.size} for {freqs.size}")
    deltas = np.broadcast_to(deltas, freqs.shape)
    pre, post, end = [], [], 0.0
    for f, d in zip(freqs, deltas):
        a, b = pairing_trains(f * brian2.Hz, d * brian2.second, n_pairs)
        pre.append(a * brian2.second)
        post.append(b * brian2.second)
        end = max(end, float(a.max()), float(b.max()))
    w0 = np.broadcast_to(np.asarray(brian2.Quantity(w_init) / rule.weight_unit, dtype=float), freqs.shape)
    final = run_spike_trains(
        rule, pre, post, w_init=w0 * rule.weight_unit, duration=(end + 1e-3) * brian2.second, dt=dt
    )
    return final - w0


def layer_update_in_brian2(rule: PlasticityRule, pre: Any, post: Any, weight: Any, *, dt: Any) -> np.ndarray:
    r"""Brian2's weight change of a dense layer for the same spike trains: the reference of ``layer_update``.

    Batch sample ``b`` gets its own all-to-all block of synapses between spike generators that replay
    ``pre[:, b]`` and ``post[:, b]`` on the time grid ``n * dt``; every block starts from ``weight`` and the
    changes are summed over the batch, :math:`\Delta W = \sum_b (W_b(T) - W)`.

    Parameters
    ----------
    rule
        A rule whose target needs no variable (spike generators have none).
    pre, post
        0/1 spikes ``[T, B, I]`` and ``[T, B, O]`` (NumPy arrays or tensors).
    weight
        Initial weights ``[O, I]`` in the rule's weight unit.
    dt
        Time step (a Brian2 time).

    Returns
    -------
    numpy.ndarray
        ``[O, I]``: the summed weight change, in the rule's weight unit.
    """
    pre, post, weight = (np.asarray(a.detach().cpu() if hasattr(a, "detach") else a) for a in (pre, post, weight))
    if (
        pre.ndim != 3
        or post.ndim != 3
        or pre.shape[:2] != post.shape[:2]
        or weight.shape != (post.shape[2], pre.shape[2])
    ):
        raise ShapeError(
            f"expected pre [T, B, I], post [T, B, O] and weight [O, I], got {pre.shape}, {post.shape}, {weight.shape}"
        )
    steps, batch, n_in = pre.shape
    n_out = post.shape[2]

    def generator(spikes: np.ndarray, n: int) -> brian2.SpikeGeneratorGroup:
        t, b, k = np.nonzero(spikes)
        return brian2.SpikeGeneratorGroup(batch * n, b * n + k, t * dt, dt=dt)

    g_pre, g_post = generator(pre, n_in), generator(post, n_out)
    syn = rule.synapses(g_pre, g_post, effect="", dt=dt)
    syn.connect("i // n_in == j // n_out", namespace={"n_in": n_in, "n_out": n_out})
    src, tgt = np.asarray(syn.i[:]), np.asarray(syn.j[:])
    unit = rule.weight_unit
    w0 = weight[tgt % n_out, src % n_in]
    syn.w = w0 * unit
    brian2.Network(g_pre, g_post, syn).run(steps * dt, namespace={})
    dw = np.zeros((n_out, n_in))
    np.add.at(dw, (tgt % n_out, src % n_in), np.asarray(syn.w[:] / unit) - w0)
    return dw
