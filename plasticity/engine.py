r"""One event-driven trace engine for the spike-timing rules' layer updates.

A rule's layer update is written once, as a small declarative :class:`TraceRule`: its traces (a name, the
side whose spikes increment it, its decay per step and how a spike increments it) and its two pathways,
``on_pre`` and ``on_post``, each an ordered tuple of statements as in the rule's Brian2 ``on_pre`` /
``on_post`` strings: a trace's name (increment that trace now) or a weight hook, a small pure function
``hook(w, traces) -> w`` followed by clipping to ``[w_min, w_max]``. For additive STDP::

    TraceRule(
        name="stdp_additive",
        traces=(Trace("apre", "pre", decay_plus, A_plus), Trace("apost", "post", decay_minus, -A_minus)),
        on_pre=("apre", lambda w, tr: w + tr["apost"]),     # apre += A_plus; w = clip(w + apost, ...)
        on_post=("apost", lambda w, tr: w + tr["apre"]),    # apost -= A_minus; w = clip(w + apre, ...)
        w_min=0.0, w_max=1.0,
    )

:func:`sequential_update` runs any such description on spike tensors ``pre [T, B, I]`` and ``post [T, B, O]``
from the weight ``[O, I]``, one weight copy per batch sample, exactly as Brian2's event-driven synapses do
on the time grid:

.. math::

    x_k \leftarrow d_k\, x_k \quad \text{(every step, every trace)}, \qquad
    x_k \leftarrow x_k + a_k \ \text{(all-to-all)} \ \text{or}\ x_k \leftarrow a_k \ \text{(nearest)}
    \quad \text{(at a spike of the trace's side)},

then, in a step, the presynaptic pathway's statements for every synapse whose presynaptic neuron spiked,
then the postsynaptic pathway's for every synapse whose postsynaptic neuron spiked (Brian2's pathway order),
each hook followed by :math:`w \leftarrow \min(\max(w, w_\mathrm{min}), w_\mathrm{max})`. It returns
:math:`\sum_b (W_b(T) - W)`. The batch runs in chunks of samples whose weight copies fit
:data:`biosnn.plasticity.layers.CHUNK_ELEMENTS`.

Inside a hook, ``w`` is ``[B, O, I]`` and every trace is a broadcastable view: a presynaptic trace is
``[B, 1, I]``, a postsynaptic one ``[B, O, 1]``; ``traces`` maps the trace names to them. A hook returns a
tensor of ``w``'s shape. :class:`TraceRule` checks itself when it is made: unknown or duplicate trace
names, a pathway that increments the other side's trace, a trace never incremented, and a hook that reads a
trace the rule does not define or returns the wrong shape all raise :class:`~biosnn.errors.ParameterError`
or :class:`~biosnn.errors.ShapeError` naming it (each hook is run once on a small dummy batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from biosnn.plasticity.layers import sequential_in_chunks

from biosnn.errors import ParameterError, ShapeError

__all__ = ["Trace", "TraceRule", "Hook", "sequential_update", "SIDES"]

#: The two sides a trace can belong to: the spikes that increment it and its axis of the weight ``[O, I]``.
SIDES = ("pre", "post")

#: A weight hook: ``hook(w [B, O, I], traces) -> w [B, O, I]`` (before clipping).
Hook = Callable[[torch.Tensor, Mapping[str, torch.Tensor]], torch.Tensor]
Statement = str | Hook


@dataclass(frozen=True)
class Trace:
    r"""An event-driven trace of a rule's layer update.

    Parameters
    ----------
    name
        The trace's name, as in the rule's Brian2 model (``"apre"``).
    side
        ``"pre"`` or ``"post"``: whose spikes increment it (and so its shape, ``[B, I]`` or ``[B, O]``).
    decay
        Factor per time step, :math:`e^{-\Delta t/\tau}`, in ``[0, 1]``.
    amplitude
        The increment :math:`a`: ``x += a`` per spike, or ``x = a`` when ``nearest``.
    nearest
        Nearest-spike interaction (a spike sets the trace to ``amplitude`` instead of adding it).
    """

    name: str
    side: str
    decay: float
    amplitude: float = 1.0
    nearest: bool = False


class _Traces(dict):
    """The traces a hook reads; a name the rule does not define raises :class:`ParameterError` naming it."""

    label = ""

    def __missing__(self, key):
        known = ", ".join(sorted(self)) or "none"
        raise ParameterError(f"{self.label} reads trace {key!r}, which the rule does not define (traces: {known})")


def _hook_label(rule: str, pathway: str, index: int, hook: Hook) -> str:
    return f"rule {rule!r}: {pathway}[{index}] ({getattr(hook, '__name__', type(hook).__name__)})"


@dataclass(frozen=True)
class TraceRule:
    r"""The declarative description of a spike-timing rule's layer update, run by :func:`sequential_update`.

    Parameters
    ----------
    name
        The rule's name (used in error messages).
    traces
        The rule's :class:`Trace` objects.
    on_pre, on_post
        Ordered statements of the presynaptic and postsynaptic pathway: a trace name (increment that
        trace, which must belong to the pathway's side) or a hook ``hook(w, traces) -> w`` (followed by
        clipping to ``[w_min, w_max]``), as in the rule's Brian2 ``on_pre`` / ``on_post``.
    w_min, w_max
        The hard bounds applied after every hook.

    Raises
    ------
    ParameterError
        For a malformed description (see the module docstring), naming the trace, statement or hook.
    ShapeError
        If a hook does not return a tensor of ``w``'s shape.
    """

    name: str
    traces: tuple[Trace, ...]
    on_pre: tuple[Statement, ...]
    on_post: tuple[Statement, ...]
    w_min: float
    w_max: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ParameterError(f"a TraceRule needs a non-empty string name, got {self.name!r}")
        object.__setattr__(self, "traces", tuple(self.traces))
        object.__setattr__(self, "on_pre", tuple(self.on_pre))
        object.__setattr__(self, "on_post", tuple(self.on_post))
        self._check_traces()
        self._check_pathways()
        if not (self.w_min <= self.w_max) or math.isnan(self.w_min) or math.isnan(self.w_max):
            raise ParameterError(
                f"rule {self.name!r}: bounds must satisfy w_min <= w_max, got {self.w_min}, {self.w_max}"
            )
        self._dry_run()

    def _check_traces(self) -> None:
        seen: set[str] = set()
        for tr in self.traces:
            if not isinstance(tr, Trace):
                raise ParameterError(f"rule {self.name!r}: traces must be Trace objects, got {type(tr).__name__}")
            if not isinstance(tr.name, str) or not tr.name.isidentifier():
                raise ParameterError(f"rule {self.name!r}: trace name {tr.name!r} is not an identifier")
            if tr.name in seen:
                raise ParameterError(f"rule {self.name!r}: trace {tr.name!r} is defined twice")
            seen.add(tr.name)
            if tr.side not in SIDES:
                raise ParameterError(
                    f"rule {self.name!r}: trace {tr.name!r} has side {tr.side!r}; expected one of {SIDES}"
                )
            if not (0.0 <= tr.decay <= 1.0):
                raise ParameterError(f"rule {self.name!r}: trace {tr.name!r} has decay {tr.decay!r}; expected [0, 1]")
            if not math.isfinite(tr.amplitude):
                raise ParameterError(f"rule {self.name!r}: trace {tr.name!r} has amplitude {tr.amplitude!r}")

    def _check_pathways(self) -> None:
        sides = {tr.name: tr.side for tr in self.traces}
        incremented: list[str] = []
        for pathway, side in (("on_pre", "pre"), ("on_post", "post")):
            for k, stmt in enumerate(getattr(self, pathway)):
                if isinstance(stmt, str):
                    if stmt not in sides:
                        known = ", ".join(sides) or "none"
                        raise ParameterError(
                            f"rule {self.name!r}: {pathway}[{k}] increments trace {stmt!r}, which the rule does not "
                            f"define (traces: {known})"
                        )
                    if sides[stmt] != side:
                        raise ParameterError(
                            f"rule {self.name!r}: {pathway}[{k}] increments {stmt!r}, a {sides[stmt]}synaptic "
                            f"trace; only {side}synaptic spikes can"
                        )
                    if stmt in incremented:
                        raise ParameterError(f"rule {self.name!r}: trace {stmt!r} is incremented twice")
                    incremented.append(stmt)
                elif not callable(stmt):
                    raise ParameterError(
                        f"rule {self.name!r}: {pathway}[{k}] must be a trace name or a hook, got {type(stmt).__name__}"
                    )
        missing = [name for name in sides if name not in incremented]
        if missing:
            raise ParameterError(f"rule {self.name!r}: trace(s) {', '.join(missing)} never incremented by a pathway")

    def _dry_run(self) -> None:
        """Run every hook once on a dummy batch ``B, O, I = 1, 2, 3``: names read and the shape returned."""
        n_out, n_in = 2, 3
        w = torch.full((1, n_out, n_in), 0.5, dtype=torch.float64)
        traces = _Traces(
            {
                tr.name: torch.full((1, 1, n_in) if tr.side == "pre" else (1, n_out, 1), 0.5, dtype=torch.float64)
                for tr in self.traces
            }
        )
        for pathway in ("on_pre", "on_post"):
            for k, stmt in enumerate(getattr(self, pathway)):
                if isinstance(stmt, str):
                    continue
                traces.label = _hook_label(self.name, pathway, k, stmt)
                out = stmt(w, traces)
                if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(w.shape):
                    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                    raise ShapeError(
                        f"{traces.label} must return the weight's shape [B, O, I] = {tuple(w.shape)}, got {got}"
                    )


# -- the loop ------------------------------------------------------------------------------------------------
def _bump(trace: Trace) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The increment of one trace: ``(x, spikes, fired) -> x`` (``fired = spikes > 0``)."""
    a = trace.amplitude
    if trace.nearest:
        return lambda x, s, fired: x.masked_fill(fired, a)
    if a == 1.0:
        return lambda x, s, fired: x + s
    return lambda x, s, fired: x + a * s


def _compile(rule: TraceRule, pathway: str) -> list[tuple[str | None, Callable]]:
    """A pathway as ``(trace name, increment)`` and ``(None, hook)`` items, in statement order."""
    bumps = {tr.name: _bump(tr) for tr in rule.traces}
    return [(stmt, bumps[stmt]) if isinstance(stmt, str) else (None, stmt) for stmt in getattr(rule, pathway)]


def _run(rule: TraceRule, pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """One chunk of samples: every sample from its own copy of ``weight``; returns the summed change."""
    T, B, n_in = pre.shape
    n_out = post.shape[2]
    w0 = weight.detach()
    w = w0.unsqueeze(0).repeat(B, 1, 1)
    spikes = {"pre": pre[:, :, None, :], "post": post[:, :, :, None]}  # [T, B, 1, I] and [T, B, O, 1]
    shapes = {"pre": (B, 1, n_in), "post": (B, n_out, 1)}
    traces = _Traces({tr.name: pre.new_zeros(shapes[tr.side]) for tr in rule.traces})
    traces.label = f"rule {rule.name!r}"
    decays = [(tr.name, tr.decay) for tr in rule.traces]
    pathways = [(spikes["pre"], _compile(rule, "on_pre")), (spikes["post"], _compile(rule, "on_post"))]
    lo, hi = rule.w_min, rule.w_max
    for n in range(T):
        for name, d in decays:
            traces[name] = traces[name] * d
        for trains, program in pathways:
            s = trains[n]
            if not bool(s.any()):
                continue
            fired = s > 0
            for target, op in program:
                if target is None:
                    w = torch.where(fired, op(w, traces).clamp(lo, hi), w)
                else:
                    traces[target] = op(traces[target], s, fired)
    return (w - w0).sum(0)


def sequential_update(rule: TraceRule, pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    r"""Run a :class:`TraceRule` step by step on spike trains; the batch sum of the weight changes.

    Parameters
    ----------
    rule
        The rule's description (traces, ``on_pre`` / ``on_post`` statements, bounds).
    pre, post
        0/1 spikes ``[T, B, I]`` and ``[T, B, O]``, in ``weight``'s dtype.
    weight
        ``[O, I]``; every batch sample starts from it.

    Returns
    -------
    torch.Tensor
        :math:`\sum_b (W_b(T) - W)`, shape ``[O, I]`` (equal to Brian2's run of the rule's ``on_pre`` /
        ``on_post`` on the same trains, one block of synapses per sample).

    Raises
    ------
    ParameterError
        If ``rule`` is not a :class:`TraceRule`.
    ShapeError
        If the shapes of ``pre``, ``post`` and ``weight`` do not fit together.
    """
    if not isinstance(rule, TraceRule):
        raise ParameterError(f"sequential_update needs a TraceRule, got {type(rule).__name__}")
    if pre.dim() != 3 or post.dim() != 3 or weight.dim() != 2:
        raise ShapeError(
            f"rule {rule.name!r}: expected pre [T, B, I], post [T, B, O] and weight [O, I], got "
            f"{tuple(pre.shape)}, {tuple(post.shape)} and {tuple(weight.shape)}"
        )
    if pre.shape[:2] != post.shape[:2] or tuple(weight.shape) != (post.shape[2], pre.shape[2]):
        raise ShapeError(
            f"rule {rule.name!r}: pre {tuple(pre.shape)}, post {tuple(post.shape)} and weight {tuple(weight.shape)} "
            "do not fit (pre [T, B, I], post [T, B, O], weight [O, I])"
        )
    return sequential_in_chunks(lambda p, q, w: _run(rule, p, q, w), pre, post, weight)
