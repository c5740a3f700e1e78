r"""What a plasticity rule does, measured in Brian2 and drawn: its STDP window, weight and frequency dependence.

Nothing here is drawn from a rule's formula. Every point is a simulation: one synapse per protocol, each
driven by its own pre- and postsynaptic spike generators, all in one explicit :class:`brian2.Network` and
one ``run`` (:mod:`biosnn.plasticity.protocols`). Rules that read the postsynaptic membrane potential
(Clopath et al. 2010) get a postsynaptic integrate-and-fire neuron forced to spike at the protocol's times,
whose exposed potential shows each spike as a 2 ms plateau at 29.4 mV (the targets are chosen from
:data:`PROTOCOL_TARGETS` by the unit of what the rule requires). Where the rule also states its closed-form
window (``rule.window``), it is drawn as a dashed line beside the measurement, so any disagreement is
visible.

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

from biosnn.errors import ParameterError, UnsupportedFeatureError
from biosnn.plot.style import new_axes
from biosnn.registry import Registry
from biosnn.units import check_quantity, to_float

DEFAULT_DELTA_T = np.linspace(-80.0, 80.0, 81) * brian2.ms

#: Postsynaptic targets for rules that read a postsynaptic variable, by the variable's Brian2 unit name:
#: ``f(rule, pre_trains, post_trains, w_init, duration, dt) -> final weights``.
PROTOCOL_TARGETS: Registry = Registry("protocol target for a required postsynaptic variable")

#: The forced neuron's potential: leak towards -70.6 mV, a 2 ms plateau at 29.4 mV after each forced spike.
FORCED_NEURON = """
dv_lif/dt = (-70.6*mV - v_lif) / (10*ms) : volt (unless refractory)
{name} = v_lif * int(not_refractory) + 29.4*mV * (1 - int(not_refractory)) : volt
"""


@PROTOCOL_TARGETS.register("volt")
def _forced_voltage_target(
    rule: Any, pre_trains: list, post_trains: list, w_init: Quantity, duration: Quantity, dt: Quantity
) -> np.ndarray:
    """Drive synapse ``k`` by spike generator ``k`` onto forced neuron ``k`` (spikes at ``post_trains[k]``)."""
    step = to_float("dt", dt, brian2.second)
    n = len(pre_trains)
    steps = int(round(to_float("duration", duration, brian2.second) / step)) + 1
    force = np.zeros((steps, n))
    pre_ids, pre_t = [], []
    for k, (a, b) in enumerate(zip(pre_trains, post_trains)):
        force[np.round(np.asarray(b / brian2.second, dtype=float) / step).astype(int), k] = 1.0
        t = np.asarray(a / brian2.second, dtype=float)
        pre_ids += [k] * t.size
        pre_t += list(np.round(t / step) * step)
    forced = brian2.TimedArray(force, dt=dt)
    (name,) = rule.post_requirements()
    pre = brian2.SpikeGeneratorGroup(n, np.asarray(pre_ids, int), np.asarray(pre_t) * brian2.second, dt=dt)
    post = brian2.NeuronGroup(
        n,
        FORCED_NEURON.format(name=name),
        threshold="forced(t, i) > 0.5",
        reset="v_lif = -70.6*mV",
        refractory=2 * brian2.ms,
        method="exact",
        dt=dt,
        namespace={"forced": forced},
    )
    post.v_lif = -70.6 * brian2.mV
    syn = rule.synapses(pre, post, effect="", dt=dt)
    syn.connect(j="i")
    w_name = syn.plasticity_names["w"]
    setattr(syn, w_name, w_init)
    brian2.Network(pre, post, syn).run(duration, namespace={})
    return np.asarray(getattr(syn, w_name)[:] / rule.weight_unit, dtype=float)


def run_trains(
    rule: Any, pre_trains: list, post_trains: list, *, w_init: Quantity, duration: Quantity, dt: Quantity
) -> np.ndarray:
    """Final weights after synapse ``k`` saw ``pre_trains[k]`` and ``post_trains[k]`` (one Brian2 run).

    Spike-driven rules run between spike generators (:func:`biosnn.plasticity.protocols.run_spike_trains`);
    rules that read a postsynaptic variable run onto the target registered for its unit.
    """
    from biosnn.plasticity.protocols import run_spike_trains

    needs = rule.post_requirements()
    if not needs:
        return run_spike_trains(rule, pre_trains, post_trains, w_init=w_init, duration=duration, dt=dt)
    units = sorted(set(needs.values()))
    if len(needs) != 1 or units[0] not in PROTOCOL_TARGETS:
        raise UnsupportedFeatureError(
            f"rule {rule.name!r} needs postsynaptic {needs}; protocols provide one "
            f"variable of unit {sorted(PROTOCOL_TARGETS)}"
        )
    w = np.broadcast_to(np.asarray(brian2.Quantity(w_init) / rule.weight_unit, dtype=float), (len(pre_trains),))
    return PROTOCOL_TARGETS[units[0]](rule, pre_trains, post_trains, w * rule.weight_unit, duration, dt)


def pair_trains(delta_t: np.ndarray, *, t_first: float = 0.1) -> tuple[list, list, float]:
    """One pre/post pair per offset ``delta_t`` (s): the earlier spike at ``t_first``; and the run's end."""
    pre = [np.array([t_first - min(d, 0.0)]) * brian2.second for d in delta_t]
    post = [np.array([t_first + max(d, 0.0)]) * brian2.second for d in delta_t]
    return pre, post, t_first + float(np.max(np.abs(delta_t))) + 5e-3


def pairing_trains(
    frequencies: np.ndarray, delta_t: np.ndarray, n_pairs: int, *, t_first: float = 0.05
) -> tuple[list, list, float]:
    """``n_pairs`` pairings at each frequency (Hz) with offset ``delta_t`` (s), one synapse each; the end."""
    if int(n_pairs) != n_pairs or n_pairs < 1:
        raise ParameterError(f"parameter 'n_pairs' must be a positive integer, got {n_pairs!r}")
    pre, post, end = [], [], 0.0
    for f, d in zip(frequencies, delta_t):
        base = t_first + abs(d) + np.arange(int(n_pairs)) / f
        pre.append(base * brian2.second)
        post.append((base + d) * brian2.second)
        end = max(end, float(base.max()), float((base + d).max()))
    return pre, post, end + 5e-3


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
    n_args = len(
        [
            p
            for p in inspect.signature(window).parameters.values()
            if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    )
    args = (delta_t,) if n_args == 1 else (delta_t, w)
    return np.asarray(window(*args), dtype=float)


def _weights(rule: Any, w: Any) -> Quantity:
    return check_quantity("w_init", w if w is not None else default_weight(rule), rule.weight_unit)


def stdp_window(
    rule: Any,
    *,
    delta_t: Quantity = DEFAULT_DELTA_T,
    w_init: Quantity | float | None = None,
    dt: Quantity = 0.1 * brian2.ms,
    formula: bool = True,
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.figure.Figure:
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
    rule = as_rule(rule)
    d = check_quantity("delta_t", delta_t, brian2.second)
    w0 = _weights(rule, w_init)
    secs = np.atleast_1d(np.asarray(d / brian2.second, dtype=float)).ravel()
    pre, post, end = pair_trains(secs)
    w_start = float(np.asarray(w0 / rule.weight_unit))
    dw = run_trains(rule, pre, post, w_init=w0, duration=end * brian2.second, dt=dt) - w_start
    x = secs * 1e3
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


def weight_dependence(
    rule: Any,
    *,
    weights: Any = None,
    delta_t: Quantity = 10 * brian2.ms,
    dt: Quantity = 0.1 * brian2.ms,
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.figure.Figure:
    r"""Measured :math:`\Delta w` of a causal (:math:`+\Delta t`) and an acausal (:math:`-\Delta t`) pair against
    the initial weight.

    ``weights`` defaults to 11 values across the rule's bounds. Lines have ``gid`` ``"causal"`` and
    ``"acausal"`` (x: initial weights, y: weight changes).
    """
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
    final = run_trains(rule, pre, post, w_init=w_all * unit, duration=(t0 + d + 5e-3) * brian2.second, dt=dt)
    change = final - w_all
    fig, ax = new_axes(ax, figsize=(5.0, 3.4))
    ax.axhline(0, color="0.7", lw=0.6)
    ax.plot(w, change[:n], marker="o", ms=3, color="#c0392b", gid="causal", label=f"+{d * 1e3:g} ms (pre->post)")
    ax.plot(w, change[n:], marker="s", ms=3, color="#2471a3", gid="acausal", label=f"-{d * 1e3:g} ms (post->pre)")
    ax.set_xlabel(
        "initial weight"
        + ("" if brian2.get_dimensions(unit).is_dimensionless else f" ({brian2.get_unit(brian2.get_dimensions(unit))})")
    )
    ax.set_ylabel(_weight_label(rule))
    ax.set_title(f"{rule.name}: weight dependence")
    ax.legend(fontsize="small")
    return fig


def frequency_dependence(
    rule: Any,
    *,
    frequencies: Quantity = np.array([1.0, 5.0, 10.0, 20.0, 40.0, 50.0]) * brian2.Hz,  # noqa: B008
    delta_t: Quantity = 10 * brian2.ms,
    n_pairs: int = 60,
    w_init: Quantity | float | None = None,
    dt: Quantity = 0.1 * brian2.ms,
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.figure.Figure:
    r"""Measured :math:`\Delta w` after ``n_pairs`` pairings at each frequency, causal and acausal.

    The protocol of Sjoestroem, Turrigiano & Nelson (2001): pairs at :math:`\pm\Delta t` repeated at
    frequencies from 1 to 50 Hz. Pair-based rules depend little on frequency until the pairs overlap;
    triplet rules potentiate at high frequency whatever the order. Lines have ``gid`` ``"causal"`` and
    ``"acausal"`` (x: frequencies in Hz, y: weight changes).
    """
    rule = as_rule(rule)
    f = check_quantity("frequencies", frequencies, brian2.Hz)
    d = abs(to_float("delta_t", delta_t, brian2.second))
    if d <= 0:
        raise ParameterError("parameter 'delta_t' must be non-zero")
    w0 = _weights(rule, w_init)
    x = np.asarray(f / brian2.Hz, dtype=float).ravel()
    pre, post, end = pairing_trains(
        np.concatenate([x, x]), np.concatenate([np.full(x.size, d), np.full(x.size, -d)]), n_pairs
    )  # causal and acausal in one run
    w_start = float(np.asarray(w0 / rule.weight_unit))
    both = run_trains(rule, pre, post, w_init=w0, duration=end * brian2.second, dt=dt) - w_start
    causal, acausal = both[: x.size], both[x.size :]
    fig, ax = new_axes(ax, figsize=(5.0, 3.4))
    ax.axhline(0, color="0.7", lw=0.6)
    ax.plot(x, causal, marker="o", ms=3, color="#c0392b", gid="causal", label=f"+{d * 1e3:g} ms")
    ax.plot(x, acausal, marker="s", ms=3, color="#2471a3", gid="acausal", label=f"-{d * 1e3:g} ms")
    ax.set_xlabel("pairing frequency (Hz)")
    ax.set_ylabel(_weight_label(rule) + f" after {n_pairs} pairs")
    ax.set_title(f"{rule.name}: frequency dependence")
    ax.legend(fontsize="small")
    return fig
