r"""What a plasticity rule does, measured in Brian2 and drawn: its STDP window, weight and frequency dependence.

Nothing here is drawn from a rule's formula. Every point is a simulation: one synapse per protocol, each
driven by its own pre- and postsynaptic spike generators, all in one explicit :class:`brian2.Network` and
one ``run`` (:mod:`biosnn.plasticity.protocols`). Where the rule also states its closed-form window
(``rule.window``), it is drawn as a dashed line beside the measurement, so any disagreement is visible.

* :func:`stdp_window` -- :math:`\Delta w` of a single pair against :math:`\Delta t = t_\mathrm{post} - t_\mathrm{pre}`;
* :func:`weight_dependence` -- :math:`\Delta w` of a causal and an acausal pair against the initial weight
  (additive rules: flat; multiplicative rules: depression grows with :math:`w`);
* :func:`frequency_dependence` -- :math:`\Delta w` after ``n_pairs`` pairings against the pairing frequency
  (Sjoestroem, Turrigiano & Nelson 2001, Neuron 32:1149).
"""

from __future__ import annotations

import inspect
from typing import Any

import brian2
import matplotlib
import numpy as np
from brian2.units.fundamentalunits import Quantity

from biosnn.errors import ParameterError
from biosnn.plot.style import new_axes
from biosnn.units import check_quantity, to_float

DEFAULT_DELTA_T = np.linspace(-80.0, 80.0, 81) * brian2.ms


def as_rule(rule: Any):
    """A :class:`~biosnn.plasticity.base.PlasticityRule` instance from an instance, a class or a registered name."""
    from biosnn.plasticity import RULES, PlasticityRule

    if isinstance(rule, str):
        rule = RULES[rule]
    if isinstance(rule, type) and issubclass(rule, PlasticityRule):
        rule = rule()
    if not isinstance(rule, PlasticityRule):
        raise ParameterError(f"rule must be a PlasticityRule, a rule class or a registered name, got {rule!r}")
    return rule


def default_weight(rule: Any) -> Quantity:
    """The middle of the rule's weight bounds (``w_min``, ``w_max``), else half a weight unit."""
    p = rule.get_params()
    unit = rule.weight_unit
    if "w_max" in p:
        lo = p.get("w_min", 0.0 * unit)
        return (brian2.Quantity(lo) + brian2.Quantity(p["w_max"])) / 2
    return 0.5 * unit


def _weight_label(rule: Any) -> str:
    unit = rule.weight_unit
    dimless = brian2.get_dimensions(unit).is_dimensionless
    return r"$\Delta w$" + ("" if dimless else f" ({brian2.get_unit(brian2.get_dimensions(unit))})")


def _formula(rule: Any, delta_t: Quantity, w: Quantity) -> np.ndarray | None:
    window = getattr(rule, "window", None)
    if window is None:
        return None
    n_args = len([p for p in inspect.signature(window).parameters.values()
                  if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])
    args = (delta_t,) if n_args == 1 else (delta_t, w)
    return np.asarray(window(*args), dtype=float)


def _weights(rule: Any, w: Any) -> Quantity:
    return check_quantity("w_init", w if w is not None else default_weight(rule), rule.weight_unit)


def stdp_window(rule: Any, *, delta_t: Quantity = DEFAULT_DELTA_T, w_init: Quantity | float | None = None,
                dt: Quantity = 0.1 * brian2.ms, formula: bool = True,
                ax: matplotlib.axes.Axes | None = None) -> matplotlib.figure.Figure:
    r"""The measured STDP window of ``rule``: :math:`\Delta w` of one pre/post pair against :math:`\Delta t`.

    Parameters
    ----------
    rule
        A rule instance, rule class or name in :data:`biosnn.plasticity.RULES`.
    delta_t
        Pair offsets :math:`t_\mathrm{post} - t_\mathrm{pre}` (a Brian2 time array); one synapse each.
    w_init
        Initial weight of every synapse (default: the middle of the rule's bounds).
    dt
        Simulation time step (spike times are on its grid).
    formula
        Also draw the rule's closed-form window (``rule.window``), dashed, where it has one.

    Returns
    -------
    matplotlib.figure.Figure
        The measured points are a line with markers, ``gid`` ``"measured"`` (x in ms, y the weight
        changes); the formula, if drawn, has ``gid`` ``"formula"``.
    """
    from biosnn.plasticity.protocols import measure_window

    rule = as_rule(rule)
    d = check_quantity("delta_t", delta_t, brian2.second)
    w0 = _weights(rule, w_init)
    dw = measure_window(rule, d, w_init=w0, dt=dt)
    x = np.asarray(d / brian2.ms, dtype=float).ravel()
    fig, ax = new_axes(ax, figsize=(5.0, 3.4))
    ax.axhline(0, color="0.7", lw=0.6)
    ax.axvline(0, color="0.7", lw=0.6)
    ax.plot(x, dw, marker="o", ms=3, lw=1.0, color="#34495e", gid="measured", label="measured (Brian2)")
    if formula:
        fx = _formula(rule, d, w0)
        if fx is not None:
            ax.plot(x, fx, ls="--", lw=1.0, color="#e74c3c", gid="formula", label="formula")
    ax.set_xlabel(r"$\Delta t = t_\mathrm{post} - t_\mathrm{pre}$ (ms)")
    ax.set_ylabel(_weight_label(rule))
    ax.set_title(f"{rule.name}: measured window")
    ax.legend(fontsize="small")
    return fig


def weight_dependence(rule: Any, *, weights: Any = None, delta_t: Quantity = 10 * brian2.ms,
                      dt: Quantity = 0.1 * brian2.ms, ax: matplotlib.axes.Axes | None = None
                      ) -> matplotlib.figure.Figure:
    r"""Measured :math:`\Delta w` of a causal (:math:`+\Delta t`) and an acausal (:math:`-\Delta t`) pair against
    the initial weight.

    ``weights`` defaults to 11 values across the rule's bounds. Lines have ``gid`` ``"causal"`` and
    ``"acausal"`` (x: initial weights, y: weight changes).
    """
    from biosnn.plasticity.protocols import run_spike_trains

    rule = as_rule(rule)
    unit = rule.weight_unit
    if weights is None:
        p = rule.get_params()
        lo = float(brian2.Quantity(p.get("w_min", 0.0 * unit)) / unit)
        hi = float(brian2.Quantity(p.get("w_max", 1.0 * unit)) / unit)
        weights = np.linspace(lo, hi, 11) * unit
    w = np.atleast_1d(np.asarray(check_quantity("weights", weights, unit) / unit, dtype=float))
    d = abs(to_float("delta_t", delta_t, brian2.second))
    if d <= 0:
        raise ParameterError("parameter 'delta_t' must be non-zero")
    t0 = 0.05
    n = w.size
    pre = [np.array([t0]) * brian2.second] * n + [np.array([t0 + d]) * brian2.second] * n
    post = [np.array([t0 + d]) * brian2.second] * n + [np.array([t0]) * brian2.second] * n
    w_all = np.concatenate([w, w])
    final = run_spike_trains(rule, pre, post, w_init=w_all * unit, duration=(t0 + d + 2e-3) * brian2.second, dt=dt)
    change = final - w_all
    fig, ax = new_axes(ax, figsize=(5.0, 3.4))
    ax.axhline(0, color="0.7", lw=0.6)
    ax.plot(w, change[:n], marker="o", ms=3, color="#c0392b", gid="causal", label=f"+{d * 1e3:g} ms (pre->post)")
    ax.plot(w, change[n:], marker="s", ms=3, color="#2471a3", gid="acausal", label=f"-{d * 1e3:g} ms (post->pre)")
    ax.set_xlabel("initial weight" + ("" if brian2.get_dimensions(unit).is_dimensionless
                                      else f" ({brian2.get_unit(brian2.get_dimensions(unit))})"))
    ax.set_ylabel(_weight_label(rule))
    ax.set_title(f"{rule.name}: weight dependence")
    ax.legend(fontsize="small")
    return fig


def frequency_dependence(rule: Any, *, frequencies: Quantity = np.array([1.0, 5.0, 10.0, 20.0, 40.0, 50.0]) * brian2.Hz,
                         delta_t: Quantity = 10 * brian2.ms, n_pairs: int = 60, w_init: Quantity | float | None = None,
                         dt: Quantity = 0.1 * brian2.ms, ax: matplotlib.axes.Axes | None = None
                         ) -> matplotlib.figure.Figure:
    r"""Measured :math:`\Delta w` after ``n_pairs`` pairings at each frequency, causal and acausal.

    The protocol of Sjoestroem, Turrigiano & Nelson (2001): pairs at :math:`\pm\Delta t` repeated at
    frequencies from 1 to 50 Hz. Pair-based rules depend little on frequency until the pairs overlap;
    triplet rules potentiate at high frequency whatever the order. Lines have ``gid`` ``"causal"`` and
    ``"acausal"`` (x: frequencies in Hz, y: weight changes).
    """
    from biosnn.plasticity.protocols import pairing_protocol

    rule = as_rule(rule)
    f = check_quantity("frequencies", frequencies, brian2.Hz)
    d = abs(to_float("delta_t", delta_t, brian2.second))
    if d <= 0:
        raise ParameterError("parameter 'delta_t' must be non-zero")
    w0 = _weights(rule, w_init)
    x = np.asarray(f / brian2.Hz, dtype=float).ravel()
    both = pairing_protocol(rule, np.concatenate([x, x]) * brian2.Hz,  # causal and acausal in one run
                            np.concatenate([np.full(x.size, d), np.full(x.size, -d)]) * brian2.second,
                            n_pairs=n_pairs, w_init=w0, dt=dt)
    causal, acausal = both[: x.size], both[x.size:]
    fig, ax = new_axes(ax, figsize=(5.0, 3.4))
    ax.axhline(0, color="0.7", lw=0.6)
    ax.plot(x, causal, marker="o", ms=3, color="#c0392b", gid="causal", label=f"+{d * 1e3:g} ms")
    ax.plot(x, acausal, marker="s", ms=3, color="#2471a3", gid="acausal", label=f"-{d * 1e3:g} ms")
    ax.set_xlabel("pairing frequency (Hz)")
    ax.set_ylabel(_weight_label(rule) + f" after {n_pairs} pairs")
    ax.set_title(f"{rule.name}: frequency dependence")
    ax.legend(fontsize="small")
    return fig
