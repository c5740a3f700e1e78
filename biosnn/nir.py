r"""Models in and out of the Neuromorphic Intermediate Representation (NIR).

NIR (``nir`` on the package index; Pedersen et al., Nature Communications 2024) is how snnTorch, Norse,
SpikingJelly, Lava, Sinabs and neuromorphic chips exchange spiking networks: a graph of nodes
(:class:`nir.Affine`, :class:`nir.Linear`, :class:`nir.LIF`, :class:`nir.IF`, :class:`nir.Conv2d`,
:class:`nir.Flatten`, :class:`nir.AvgPool2d`, :class:`nir.Delay`, :class:`nir.Input`, :class:`nir.Output`
...) whose neurons are continuous-time equations with parameters in seconds. Brian2 has no converter;
this module is one, in both directions, for biosnn's PyTorch models too.

* :func:`export` -- a biosnn deep SNN (:class:`~biosnn.models.SpikingMLP`, Dale's-law layers with masks, an
  ``nn.Sequential`` of biosnn layers, :class:`~biosnn.models.SpikingVGG11` and
  :class:`~biosnn.models.SpikingResNet` without batch norm: NIR has none; a residual neuron node sums its two
  inputs, a Dale identity shortcut is a :class:`nir.Scale` of signs) or a Brian2
  network of supported shape (LIF / IF / CUBA-LIF ``NeuronGroup``\ s, ``SpikeGeneratorGroup`` inputs,
  ``Synapses`` with ``v_post += w`` or ``I_post += w`` into the synaptic current, delays that depend on the presynaptic neuron only) becomes a :class:`nir.NIRGraph`;
* :func:`load` -- a NIR graph becomes a biosnn PyTorch model (:class:`NIRModule`, ``target="torch"``) or an
  explicit :class:`brian2.Network` (``target="brian2"``) that :func:`biosnn.twin` compiles like any other;
* :func:`latencies` -- how many steps later each population fires in the Brian2 target than in the
  step-synchronous PyTorch models.

NIR's equations
---------------
.. math::

    \text{LIF:}\quad \tau\,\dot v = (v_\mathrm{leak} - v) + R\,I, \qquad
    \text{IF:}\quad \dot v = R\,I, \qquad z = [v > v_\mathrm{th}], \quad v \leftarrow v_\mathrm{reset}
    \text{ where } z = 1,

with ``tau`` in seconds; voltages, weights and currents are plain numbers (a Brian2 network's volts are
written in volts, SI, and come back dimensionless). Every quantity is converted once, at this boundary.

Discretisation (the conventions each side uses)
-----------------------------------------------
A NIR graph carries no time step, so ``load(..., dt=...)`` and ``export(..., dt=...)`` take one (a graph
written by :func:`export` records it in ``graph.metadata["biosnn_dt"]``, and :func:`load` uses it when
none is given). One step of length :math:`\Delta t` of every NIR neuron is read as

.. math::

    h_t = \beta\, u_{t-1} + g\,(x_t + b) + (1 - \beta)\, v_\mathrm{leak}, \qquad s_t = [h_t > v_\mathrm{th}],
    \qquad u_t = v_\mathrm{reset} \text{ where } s_t \text{ else } h_t,

with the input :math:`x_t = W s^\mathrm{pre}_t` of the *same* step (a spike is a 0/1 per step), the
affine bias :math:`b`, the input gain :math:`g = R\,\Delta t/\tau` (IF: :math:`g = R\,\Delta t`,
:math:`\beta = 1`), and

* ``method="euler"`` (the default; NIR's reference and snnTorch's convention): :math:`\beta = 1 - \Delta t/\tau`;
* ``method="exact"`` (biosnn's ``LIF(tau=, dt=)``, Brian2's ``method="exact"``): :math:`\beta = e^{-\Delta t/\tau}`.

This is exactly the update of **snnTorch**'s ``Leaky`` (``mem = beta * mem + input``, spike where
``mem > threshold``; ``export_to_nir`` writes ``tau = dt / (1 - beta)`` and ``R = tau / dt`` with
``dt = 1e-4`` s, so :math:`g = 1`; its ``reset_mechanism="zero"`` is NIR's reset to ``v_reset = 0``;
``"subtract"`` is not representable in NIR and its export is not faithful). It is also the update of
**biosnn**'s :class:`~biosnn.models.LIF` (:math:`h_t = \beta u_{t-1} + x_t`, reset ``"zero"`` or
``"subtract"``), which :func:`export` writes with ``tau = dt / (1 - beta)``, ``R = tau / dt`` (``"euler"``) or
``tau = -dt / ln(beta)`` (``"exact"``). biosnn's subtractive reset, which NIR lacks, travels in the node's
metadata (``biosnn_reset``; other readers see a reset to 0); biosnn's exact ``beta`` too
(``biosnn_beta``), used by :func:`load` when it agrees with ``tau`` and ``dt`` to 1e-9 (then the round trip
is bit-identical). A gain :math:`g` within 1e-12 of 1 is taken as exactly 1. One difference remains:
biosnn's neurons fire at :math:`h_t \ge v_\mathrm{th}`, NIR and snnTorch at :math:`h_t > v_\mathrm{th}`
(the same spikes unless a membrane lands exactly on the threshold).

A **CubaLIF** node (:math:`\tau_s \dot I = -I + w_\mathrm{in} S`, :math:`\tau \dot v = (v_\mathrm{leak} - v) + R I`)
updates its current first and lets the new current drive the membrane in the same step,

.. math:: I_t = \alpha I_{t-1} + g_s (x_t + b), \qquad h_t = \beta u_{t-1} + g I_t + (1 - \beta) v_\mathrm{leak}

with :math:`\alpha = 1 - \Delta t/\tau_s` (``"exact"``: :math:`e^{-\Delta t/\tau_s}`), :math:`g_s = w_\mathrm{in}\Delta t/\tau_s`,
:math:`g = R\Delta t/\tau`; a spike resets :math:`v` only. This is snnTorch's ``Synaptic``
(``syn = alpha * syn + input; mem = beta * mem + syn``; its export writes ``w_in = tau_syn / dt``) with
``reset_mechanism="zero", reset_delay=False``; with snnTorch's default ``reset_delay=True`` its zero reset
also discards the step after a spike, which NIR does not describe. The PyTorch target runs it as
:class:`CubaLIF` (per-neuron parameters allowed).

**Brian2 target, ``schedule="nir"``** (graphs from snnTorch, biosnn's PyTorch models, any other tool):
Brian2 runs state updates, thresholds, synaptic effects and resets in that order within a step, so a
spike reaches its targets one step later. Each neuron group therefore gets an input accumulator ``x_in``
that the synapses fill (``on_pre: x_in_post += w``, ``w`` = NIR weight times the gain) and the next state
update empties into ``v`` (``t_step`` = ``dt``, a namespace constant)::

    dv/dt = (v_leak - v + r*I_b*int(t > t_on))/tau + x_in/t_step : 1
    dx_in/dt = -x_in/t_step : 1

integrated with ``method="euler"`` (an IF group: ``dv/dt = (r_dt*I_b*int(t > t_on) + x_in)/t_step``; a
CubaLIF group fills ``I`` with ``dI/dt = -I/tau_syn + (x_in + g_s*I_b*...)/t_step`` and its ``v`` equation uses
the current after this step's update, ``I - I*t_step/tau_syn + x_in + ...``), threshold
``v > v_th``, reset ``v = v_reset`` (biosnn's subtractive reset: ``v = v - v_th``). The group's ``tau`` is the
Euler-equivalent ``dt / (1 - beta)`` (``tau_syn``: ``dt / (1 - alpha)``) and ``r = g tau / dt``, so the decay of
either ``method`` is exactly what Brian2's Euler step applies (for ``"euler"``: the graph's ``tau``). This is the update above, with population ``k`` steps downstream of
the input firing ``k`` steps later in Brian2 than in snnTorch (:func:`latencies`); its bias starts at that
step (``t_on``). Inputs are spikes: a ``SpikeGeneratorGroup`` named after the ``Input`` node
(``load(..., inputs={name: raster[T, N]})`` or ``set_spikes`` later). Round-off: Brian2 computes
``v + dt*(...)`` where snnTorch computes ``beta*v + x``; membranes agree to about 1e-12 in float64 (and to
the float32 precision of a graph exported in float32) and spikes are identical.

**Brian2 target, ``schedule="brian2"``** (graphs exported from a Brian2 network): the network's own
discrete model, input jumps ``v_post += w`` (CubaLIF: ``I_post += w``) in the synapses slot, a state
update ``dv/dt = (v_leak - v)/tau`` (CubaLIF: ``+ r*I``, ``dI/dt = -I/tau_syn``) with the network's ``method``, and per-presynaptic-neuron delays from
:class:`nir.Delay` nodes. A Brian2 network -> NIR -> Brian2 gives the same spikes. biosnn's PyTorch models
do not have this update (``target="torch"`` refuses such graphs).

Nodes or parameters that a target cannot run raise :class:`~biosnn.errors.UnsupportedFeatureError` naming
the node and its type (heterogeneous thresholds or time constants of LIF/IF nodes in the PyTorch target,
``LI``, ``Threshold``, recurrent cycles, a reset other than to 0 ...).
"""  # noqa: E501

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import brian2
import nir
import numpy as np
import torch
from torch import nn

from biosnn.errors import ParameterError, ShapeError, UnitError, UnsupportedFeatureError
from biosnn.models.layers import MaskedConv2d, MaskedLinear
from biosnn.models.neurons import IF, LIF

__all__ = ["export", "load", "latencies", "NIRModule", "CubaLIF", "METHODS", "SCHEDULES"]

METHODS = ("euler", "exact")
"""Discretisation conventions of a NIR neuron (see the module docstring)."""

SCHEDULES = ("nir", "brian2")
"""Step orders of the Brian2 target (see the module docstring)."""

_GAIN_SNAP = 1e-12
_NEURONS = (nir.LIF, nir.IF, nir.CubaLIF)
_BETA_AGREE = 1e-9


# ============================================================================================== helpers
def _dt_seconds(dt: Any, graph: nir.NIRGraph | None = None) -> float:
    if dt is None and graph is not None and "biosnn_dt" in (graph.metadata or {}):
        return float(np.asarray(graph.metadata["biosnn_dt"]))
    if dt is None:
        raise ParameterError(
            "a NIR graph has no time step: give dt (a Brian2 time, e.g. dt=0.1*ms; "
            "snnTorch's export_to_nir assumes dt=1e-4 s)"
        )
    try:
        dims_ok = brian2.have_same_dimensions(dt, brian2.second)
    except Exception:  # noqa: BLE001 - anything that is not a quantity
        dims_ok = False
    if isinstance(dt, bool) or not dims_ok:
        raise UnitError(f"parameter 'dt' must be a Brian2 time (e.g. 0.1*ms), got {dt!r}")
    value = float(dt / brian2.second)
    if not (math.isfinite(value) and value > 0):
        raise ParameterError(f"parameter 'dt' must be a positive finite time, got {dt!r}")
    return value


def _meta(node: Any, key: str, default: Any = None) -> Any:
    value = (getattr(node, "metadata", None) or {}).get(key, default)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
        return value.decode() if isinstance(value, bytes) else value
    return value


def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ParameterError(f"parameter {name!r} must be one of {list(choices)}, got {value!r}")
    return value


def _brian_name(name: str) -> str:
    """A valid Brian2 object name for a NIR node name (``"0"`` -> ``"nir_0"``, ``"a.b"`` -> ``"nir_a_b"``)."""
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) and not name.startswith("_"):
        return name
    return "nir_" + re.sub(r"\W", "_", name)


def _arr(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _unsupported(name: str, node: Any, target: str, why: str) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(f"NIR node {name!r} of type {type(node).__name__}: {why} ({target} target)")


# ---------------------------------------------------------------------------------------- graph shape
def _sources(graph: nir.NIRGraph) -> dict[str, list[str]]:
    src: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise ParameterError(f"NIR graph edge {(a, b)} names an unknown node {end!r}")
        src[b].append(a)
    return src


def _topological(graph: nir.NIRGraph) -> list[str]:
    src = _sources(graph)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join(path[path.index(name) :] + (name,))
            node = graph.nodes[name]
            raise _unsupported(name, node, "every", f"recurrent cycle {cycle} is not supported")
        state[name] = 1
        for s in src[name]:
            visit(s, path + (name,))
        state[name] = 2
        order.append(name)

    for name in graph.nodes:
        visit(name, ())
    return order


def _decay(name: str, node: Any, target: str, what: str, tau: np.ndarray, dt: float, method: str) -> np.ndarray:
    """The decay per step of a time constant: ``1 - dt/tau`` (``"euler"``) or ``exp(-dt/tau)`` (``"exact"``),
    checked to lie in (0, 1].
    """
    if np.any(~np.isfinite(tau)) or np.any(tau <= 0):
        raise _unsupported(name, node, target, f"{what} must be positive and finite (seconds)")
    decay = 1.0 - dt / tau if method == "euler" else np.exp(-dt / tau)
    if np.any(decay <= 0) or np.any(decay > 1):
        raise _unsupported(
            name,
            node,
            target,
            f"{what} = {tau.min():g} s is too short for dt = {dt:g} s "
            f"with method {method!r} (the decay per step leaves (0, 1])",
        )
    return decay


def _neuron_steps(name: str, node: Any, dt: float, method: str, target: str) -> dict[str, np.ndarray]:
    """Per-step values of a LIF / IF / CubaLIF node: beta, gain, threshold, reset, leak (arrays), the reset
    mode, and for CubaLIF the current's decay ``alpha`` and input gain ``gain_syn``.
    """
    extra: dict[str, np.ndarray] = {}
    if isinstance(node, nir.CubaLIF):
        tau, tau_syn = _arr(node.tau_mem), _arr(node.tau_syn)
        beta = _decay(name, node, target, "tau_mem", tau, dt, method)
        alpha = _decay(name, node, target, "tau_syn", tau_syn, dt, method)
        gain = _arr(node.r) * dt / tau
        gain_syn = _arr(node.w_in) * dt / tau_syn
        extra = {"alpha": alpha, "gain_syn": np.where(np.abs(gain_syn - 1.0) <= _GAIN_SNAP, 1.0, gain_syn)}
        leak = _arr(node.v_leak)
    elif isinstance(node, nir.LIF):
        tau, r = _arr(node.tau), _arr(node.r)
        beta = _decay(name, node, target, "tau", tau, dt, method)
        stored = _meta(node, "biosnn_beta")
        if stored is not None and np.all(np.abs(beta - float(stored)) <= _BETA_AGREE):
            beta = np.full_like(beta, float(stored))
        gain = r * dt / tau
        leak = _arr(node.v_leak)
    elif isinstance(node, nir.IF):
        r = _arr(node.r)
        beta = np.ones_like(r)
        gain = r * dt
        leak = np.zeros_like(r)
    else:  # pragma: no cover - callers dispatch
        raise _unsupported(name, node, target, "not a neuron")
    gain = np.where(np.abs(gain - 1.0) <= _GAIN_SNAP, 1.0, gain)
    reset = _meta(node, "biosnn_reset", "zero")
    if reset not in ("zero", "subtract"):
        raise _unsupported(name, node, target, f"metadata biosnn_reset={reset!r} is not a known reset")
    return {
        "beta": beta,
        "gain": gain,
        "threshold": _arr(node.v_threshold),
        "v_reset": _arr(node.v_reset),
        "v_leak": leak,
        "reset": reset,
        **extra,
    }


def latencies(graph: nir.NIRGraph) -> dict[str, int]:
    """Steps by which each node's output lags the input in the Brian2 target with ``schedule="nir"``.

    Every neuron node adds one step (a spike reaches its targets in the next Brian2 step); a population at
    latency ``k`` fires at Brian2 step ``t + k`` where snnTorch and :class:`NIRModule` fire at step ``t``.
    """
    src = _sources(graph)
    out: dict[str, int] = {}
    for name in _topological(graph):
        node = graph.nodes[name]
        lags = {out[s] for s in src[name]}
        if len(lags) > 1:
            raise _unsupported(name, node, "brian2", f"its inputs arrive with different latencies {sorted(lags)}")
        lag = lags.pop() if lags else 0
        out[name] = lag + 1 if isinstance(node, _NEURONS) else lag
    return out


# ============================================================================================== torch
class _Fold(nn.Module):
    """A per-sample module on time-major ``[T, B, ...]`` input (time folded into the batch)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.module(x.flatten(0, 1))
        return y.view(x.shape[0], x.shape[1], *y.shape[1:])


class _Flatten(nn.Module):
    """NIR ``Flatten`` (dimensions counted without time and batch) on ``[T, B, ...]``."""

    def __init__(self, start_dim: int, end_dim: int) -> None:
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nd = x.ndim - 2
        start = self.start_dim % nd if nd else 0
        end = self.end_dim % nd if nd else 0
        return x.flatten(start + 2, end + 2)


class _Scale(nn.Module):
    """Element-wise multiplication by a fixed array (NIR ``Scale``, or a neuron's input gain)."""

    def __init__(self, scale: np.ndarray, dtype: torch.dtype) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale), dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class CubaLIF(nn.Module):
    r"""NIR's current-based LIF neuron on time-major input ``[T, B, ...]`` (per-neuron parameters allowed).

    .. math::

        I_t = \alpha I_{t-1} + g_s x_t, \qquad h_t = \beta u_{t-1} + g\, I_t, \qquad
        s_t = [h_t > v_\mathrm{th}], \qquad u_t = v_\mathrm{reset} \text{ where } s_t \text{ else } h_t

    (the current is updated first and drives the membrane in the same step: snnTorch's ``Synaptic``; the
    current is not reset by a spike). Spikes carry the surrogate gradient of :mod:`biosnn.surrogate`.
    """

    def __init__(
        self,
        alpha: np.ndarray,
        beta: np.ndarray,
        gain_syn: np.ndarray,
        gain: np.ndarray,
        threshold: np.ndarray,
        v_reset: np.ndarray,
        *,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        for key, value in (
            ("alpha", alpha),
            ("beta", beta),
            ("gain_syn", gain_syn),
            ("gain", gain),
            ("threshold", threshold),
            ("v_reset", v_reset),
        ):
            self.register_buffer(key, torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype))

    def forward(self, x: torch.Tensor, *, return_membrane: bool = False) -> Any:
        from biosnn.surrogate import spike

        current = torch.zeros_like(x[0])
        v = torch.zeros_like(x[0])
        spikes, membrane = [], []
        for t in range(x.shape[0]):
            current = self.alpha * current + self.gain_syn * x[t]
            h = self.beta * v + self.gain * current
            s = spike(h - self.threshold)
            s = s - s.detach() + (h > self.threshold).to(h.dtype)  # NIR fires at h > threshold
            v = h * (1 - s) + self.v_reset * s
            spikes.append(s)
            membrane.append(v)
        out = torch.stack(spikes)
        return (out, torch.stack(membrane)) if return_membrane else out


class NIRModule(nn.Module):
    """A NIR graph as a PyTorch module of biosnn layers and neurons, on time-major input.

    Each node is a module in :attr:`nodes` (``nn.ModuleDict``; Affine/Linear ->
    :class:`~biosnn.models.MaskedLinear`, Conv2d -> :class:`~biosnn.models.MaskedConv2d`, LIF ->
    :class:`~biosnn.models.LIF`, IF -> :class:`~biosnn.models.IF` ...); a node's input is the sum of its
    sources' outputs (NIR's rule). ``forward(x)`` takes ``[T, B, *input_shape]`` (a mapping of those for
    several inputs) and returns the output node's tensor ``[T, B, ...]`` (a dict for several outputs);
    ``record=True`` also returns every node's output.
    """

    def __init__(
        self,
        modules: Mapping[str, nn.Module],
        order: Sequence[str],
        sources: Mapping[str, Sequence[str]],
        inputs: Sequence[str],
        outputs: Sequence[str],
    ) -> None:
        super().__init__()
        self.keys = {name: f"n{i}" for i, name in enumerate(order)}  # ModuleDict keys must not contain '.'
        self.nodes = nn.ModuleDict({self.keys[n]: m for n, m in modules.items()})
        self.order, self.sources = list(order), {k: list(v) for k, v in sources.items()}
        self.inputs, self.outputs = list(inputs), list(outputs)

    def node(self, name: str) -> nn.Module:
        """The module of NIR node ``name``."""
        return self.nodes[self.keys[name]]

    def forward(self, x: torch.Tensor | Mapping[str, torch.Tensor], *, record: bool = False) -> Any:
        if not isinstance(x, Mapping):
            if len(self.inputs) != 1:
                raise ParameterError(f"this graph has inputs {self.inputs}: give a mapping of tensors")
            x = {self.inputs[0]: x}
        missing = [n for n in self.inputs if n not in x]
        if missing:
            raise ParameterError(f"missing inputs {missing} (graph inputs: {self.inputs})")
        values: dict[str, torch.Tensor] = {}
        for name in self.order:
            if name in self.inputs:
                v = x[name]
                if not isinstance(v, torch.Tensor) or v.ndim < 3:
                    raise ShapeError(f"input {name!r} must be a time-major tensor [T, B, ...]")
            else:
                srcs = self.sources[name]
                v = values[srcs[0]]
                for s in srcs[1:]:
                    v = v + values[s]
            values[name] = self.node(name)(v) if self.keys[name] in self.nodes else v
        out = values[self.outputs[0]] if len(self.outputs) == 1 else {n: values[n] for n in self.outputs}
        return (out, values) if record else out


def _torch_neuron(name: str, node: Any, dt: float, method: str, dtype: torch.dtype) -> nn.Module:
    steps = _neuron_steps(name, node, dt, method, "torch")
    for key in ("beta", "threshold", "gain"):
        if np.unique(steps[key]).size > 1:
            raise _unsupported(
                name,
                node,
                "torch",
                f"heterogeneous {key if key != 'beta' else 'tau'} across "
                "neurons is not supported (biosnn's neurons share one value)",
            )
    if np.any(steps["v_leak"] != 0):
        raise _unsupported(name, node, "torch", "v_leak != 0 is not supported")
    if np.any(steps["v_reset"] != 0):
        raise _unsupported(name, node, "torch", "a reset to v_reset != 0 is not supported")
    beta, threshold, gain = (float(steps[k].flat[0]) for k in ("beta", "threshold", "gain"))
    if threshold <= 0:
        raise _unsupported(name, node, "torch", f"threshold {threshold:g} <= 0 is not supported")
    neuron: nn.Module = (
        IF(threshold=threshold, reset=steps["reset"])
        if beta == 1.0
        else LIF(beta=beta, threshold=threshold, reset=steps["reset"])
    )
    if gain != 1.0:
        neuron = nn.Sequential(_Scale(np.full(steps["beta"].shape, gain), dtype), neuron)
    return neuron


def _torch_affine(name: str, node: Any, dtype: torch.dtype | None) -> MaskedLinear:
    w = np.asarray(node.weight)
    if w.ndim != 2:
        raise _unsupported(name, node, "torch", f"weight of {w.ndim} dimensions (expected 2)")
    has_bias = isinstance(node, nir.Affine)
    dt_ = dtype or (torch.float64 if w.dtype == np.float64 else torch.float32)
    dale = bool(_meta(node, "biosnn_dale", False))
    fraction = float(_meta(node, "biosnn_excitatory_fraction", 0.8))
    layer = MaskedLinear(w.shape[1], w.shape[0], bias=has_bias, dale=dale, excitatory_fraction=fraction, dtype=dt_)
    weight = torch.as_tensor(w, dtype=dt_)
    with torch.no_grad():
        if dale:
            signs = layer.sign.reshape(1, -1)
            if bool(((weight * signs) < 0).any()):
                raise ParameterError(
                    f"NIR node {name!r}: metadata says Dale's law, but some weights have the "
                    "wrong sign for their presynaptic channel"
                )
            layer.weight.copy_(weight.abs())
        else:
            layer.weight.copy_(weight)
        if has_bias:
            layer.bias.copy_(torch.as_tensor(np.asarray(node.bias), dtype=dt_))
    mask = _meta(node, "biosnn_mask")
    if mask is not None:
        layer.set_mask(torch.as_tensor(np.asarray(mask, dtype=bool)))
    return layer


def _torch_conv(name: str, node: Any, dtype: torch.dtype | None) -> nn.Module:
    w = np.asarray(node.weight)
    if w.ndim != 4:
        raise _unsupported(name, node, "torch", f"weight of {w.ndim} dimensions (expected 4)")
    dt_ = dtype or (torch.float64 if w.dtype == np.float64 else torch.float32)
    pad = node.padding
    padding = pad if isinstance(pad, str) else tuple(int(p) for p in np.broadcast_to(np.asarray(pad), (2,)))
    bias = np.asarray(node.bias)
    has_bias = bias.size > 0
    dale = bool(_meta(node, "biosnn_dale", False))
    fraction = float(_meta(node, "biosnn_excitatory_fraction", 0.8))
    conv = MaskedConv2d(
        w.shape[1] * int(node.groups),
        w.shape[0],
        tuple(w.shape[2:]),
        stride=tuple(int(s) for s in np.broadcast_to(np.asarray(node.stride), (2,))),
        padding=padding,
        dilation=tuple(int(d) for d in np.broadcast_to(np.asarray(node.dilation), (2,))),
        groups=int(node.groups),
        bias=has_bias,
        dale=dale,
        excitatory_fraction=fraction,
        dtype=dt_,
    )
    weight = torch.as_tensor(w, dtype=dt_)
    with torch.no_grad():
        conv.weight.copy_(weight.abs() if dale else weight)
        if has_bias:
            conv.bias.copy_(torch.as_tensor(np.broadcast_to(bias, (w.shape[0],)).copy(), dtype=dt_))
    mask = _meta(node, "biosnn_mask")
    if mask is not None:
        conv.set_mask(torch.as_tensor(np.asarray(mask, dtype=bool)))
    return _Fold(conv)


def _load_torch(graph: nir.NIRGraph, dt: float | None, method: str, dtype: torch.dtype | None) -> NIRModule:  # noqa: C901
    if (graph.metadata or {}).get("biosnn_schedule") in ("brian2", b"brian2"):
        raise UnsupportedFeatureError(
            "this NIR graph was exported from a Brian2 network (metadata biosnn_schedule='brian2': input counts "
            "one step late, after a decay); biosnn's PyTorch neurons do not have that update: load it with "
            "target='brian2'"
        )
    order = _topological(graph)
    modules: dict[str, nn.Module] = {}
    inputs, outputs = [], []
    for name in order:
        node = graph.nodes[name]
        if isinstance(node, nir.Input):
            inputs.append(name)
        elif isinstance(node, nir.Output):
            outputs.append(name)
        elif isinstance(node, (nir.Affine, nir.Linear)):
            modules[name] = _torch_affine(name, node, dtype)
        elif isinstance(node, nir.Conv2d):
            modules[name] = _torch_conv(name, node, dtype)
        elif isinstance(node, (nir.LIF, nir.IF)):
            if dt is None:
                dt = _dt_seconds(None, graph)
            modules[name] = _torch_neuron(name, node, dt, method, dtype or torch.float32)
        elif isinstance(node, nir.CubaLIF):
            if dt is None:
                dt = _dt_seconds(None, graph)
            st = _neuron_steps(name, node, dt, method, "torch")
            if np.any(st["v_leak"] != 0) or st["reset"] != "zero":
                raise _unsupported(name, node, "torch", "v_leak != 0 or a subtractive reset is not supported")
            modules[name] = CubaLIF(
                st["alpha"],
                st["beta"],
                st["gain_syn"],
                st["gain"],
                st["threshold"],
                st["v_reset"],
                dtype=dtype or torch.float32,
            )
        elif isinstance(node, nir.Flatten):
            modules[name] = _Flatten(node.start_dim, node.end_dim)
        elif isinstance(node, nir.AvgPool2d):
            modules[name] = _Fold(
                nn.AvgPool2d(
                    tuple(int(k) for k in np.broadcast_to(node.kernel_size, (2,))),
                    tuple(int(s) for s in np.broadcast_to(node.stride, (2,))),
                    tuple(int(p) for p in np.broadcast_to(node.padding, (2,))),
                )
            )
        elif isinstance(node, nir.Scale):
            modules[name] = _Scale(_arr(node.scale), dtype or torch.float32)
        else:
            raise _unsupported(name, node, "torch", "this node type is not supported")
    if not inputs or not outputs:
        raise ParameterError(f"a NIR graph needs Input and Output nodes, got inputs {inputs}, outputs {outputs}")
    return NIRModule(modules, order, _sources(graph), inputs, outputs)


# ---------------------------------------------------------------------------------------- torch export
def _nir_neuron(neuron: nn.Module, shape: tuple[int, ...], dt: float, method: str, where: str) -> nir.NIRNode:
    if type(neuron) not in (LIF, IF):
        raise UnsupportedFeatureError(f"{where}: neuron {type(neuron).__name__} has no NIR node (only LIF and IF)")
    theta = np.full(shape, float(neuron.threshold))
    meta = {"biosnn_reset": neuron.reset}
    zeros = np.zeros(shape)
    if neuron.beta == 1.0:
        return nir.IF(r=np.full(shape, 1.0 / dt), v_threshold=theta, v_reset=zeros, metadata=meta)
    beta = float(neuron.beta)
    tau = dt / (1.0 - beta) if method == "euler" else -dt / math.log(beta)
    meta["biosnn_beta"] = beta
    return nir.LIF(
        tau=np.full(shape, tau),
        r=np.full(shape, tau / dt),
        v_leak=zeros,
        v_threshold=theta,
        v_reset=zeros,
        metadata=meta,
    )


def _layer_meta(layer: nn.Module) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if isinstance(layer, (MaskedLinear, MaskedConv2d)):
        meta["biosnn_mask"] = layer.mask.detach().cpu().numpy().astype(bool)
        if layer.dale:
            meta["biosnn_dale"] = True
            meta["biosnn_excitatory_fraction"] = float(layer.excitatory_fraction)
    return meta


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


class _Exporter:
    """Walks a biosnn PyTorch model, appending NIR nodes in a chain and tracking the sample shape."""

    def __init__(self, dt: float, method: str, shape: tuple[int, ...]) -> None:
        self.dt, self.method = dt, method
        self.nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array(shape))}
        self.edges: list[tuple[str, str]] = []
        self.last, self.shape = "input", tuple(shape)

    def add(self, name: str, node: nir.NIRNode, shape: tuple[int, ...], sources: Sequence[str] = ()) -> None:
        if name in self.nodes:
            raise ParameterError(f"two NIR nodes named {name!r}")
        self.nodes[name] = node
        self.edges.extend((s, name) for s in (sources or (self.last,)))
        self.last, self.shape = name, tuple(shape)

    def residual(self, name: str, block: nn.Module) -> None:
        """A spiking basic block: the neuron sums the second convolution's current and the shortcut's."""
        from biosnn.models.networks import _SignedIdentity

        entry, entry_shape = self.last, self.shape
        self.module(f"{name}.block1", block.block1)
        self.module(f"{name}.block2", block.block2)
        main, main_shape = self.last, self.shape
        self.last, self.shape = entry, entry_shape
        shortcut = block.shortcut
        if isinstance(shortcut, nn.Sequential):
            if not isinstance(shortcut[1], nn.Identity):
                raise UnsupportedFeatureError(
                    f"{name}.shortcut.1: BatchNorm has no NIR node (build the model with batch_norm=False)"
                )
            self.folded(f"{name}.shortcut.0", shortcut[0])
        elif isinstance(shortcut, _SignedIdentity):
            scale = np.broadcast_to(_np(shortcut.sign), entry_shape).copy()
            self.add(f"{name}.shortcut", nir.Scale(scale=scale), entry_shape)
        elif not isinstance(shortcut, nn.Identity):
            raise UnsupportedFeatureError(f"{name}.shortcut: module {type(shortcut).__name__} has no NIR node")
        skip = self.last
        if tuple(self.shape) != tuple(main_shape):
            raise ShapeError(f"{name}: shortcut shape {self.shape} differs from the main path's {main_shape}")
        self.last = main
        self.add(
            f"{name}.neuron",
            _nir_neuron(block.neuron, main_shape, self.dt, self.method, name),
            main_shape,
            sources=(main, skip),
        )

    def module(self, name: str, m: nn.Module) -> None:
        from biosnn.models.networks import _BasicBlock, _ConvBlock, _Readout, _TimeFolded

        if isinstance(m, (nn.Sequential,)):
            for child_name, child in m.named_children():
                self.module(f"{name}.{child_name}" if name else child_name, child)
        elif isinstance(m, nn.Identity):
            return
        elif isinstance(m, _ConvBlock):
            if not isinstance(m.bn, nn.Identity):
                raise UnsupportedFeatureError(
                    f"{name}.bn: BatchNorm has no NIR node (build the model with "
                    "batch_norm=False, or fold it into the convolution first)"
                )
            self.module(f"{name}.conv", _TimeFolded(m.conv))
            self.module(f"{name}.neuron", m.neuron)
        elif isinstance(m, _BasicBlock):
            self.residual(name, m)
        elif isinstance(m, _Readout):
            self.module(f"{name}.fc", m.fc)
            self.module(f"{name}.neuron", m.neuron)
        elif isinstance(m, _TimeFolded):
            self.folded(name, m.module)
        elif isinstance(m, nn.Linear):
            w = m.effective_weight() if isinstance(m, MaskedLinear) else m.weight
            if len(self.shape) != 1 or self.shape[0] != m.in_features:
                raise ShapeError(f"{name}: a linear layer of {m.in_features} inputs after shape {self.shape}")
            meta = _layer_meta(m)
            node = (
                nir.Affine(weight=_np(w), bias=_np(m.bias), metadata=meta)
                if m.bias is not None
                else nir.Linear(weight=_np(w), metadata=meta)
            )
            self.add(name, node, (m.out_features,))
        elif isinstance(m, LIF):
            self.add(name, _nir_neuron(m, self.shape, self.dt, self.method, name), self.shape)
        elif isinstance(m, nn.Flatten):
            if m.start_dim < 2:
                raise UnsupportedFeatureError(
                    f"{name}: Flatten(start_dim={m.start_dim}) would merge time or batch "
                    "(time-major models flatten from dimension 2)"
                )
            end = m.end_dim - 2 if m.end_dim >= 0 else m.end_dim
            self.add_flatten(name, m.start_dim - 2, end)
        else:
            raise UnsupportedFeatureError(f"{name}: module {type(m).__name__} has no NIR node")

    def add_flatten(self, name: str, start: int, end: int) -> None:
        shape = self.shape
        nd = len(shape)
        s, e = start % nd, end % nd
        out = shape[:s] + (int(np.prod(shape[s : e + 1])),) + shape[e + 1 :]
        self.add(name, nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start, end_dim=end), out)

    def folded(self, name: str, m: nn.Module) -> None:
        """A per-sample module (convolution, pooling) applied to every time step."""
        if len(self.shape) != 3:
            raise ShapeError(f"{name}: {type(m).__name__} needs (C, H, W) samples, got shape {self.shape}")
        c, h, w_ = self.shape
        if isinstance(m, nn.Conv2d):
            weight = m.effective_weight() if isinstance(m, MaskedConv2d) else m.weight
            if isinstance(m.padding, str) or m.padding_mode != "zeros":
                raise UnsupportedFeatureError(f"{name}: Conv2d padding {m.padding!r} / {m.padding_mode!r}")
            bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_channels, dtype=_np(weight).dtype)
            node = nir.Conv2d(
                input_shape=(h, w_),
                weight=_np(weight),
                stride=m.stride,
                padding=m.padding,
                dilation=m.dilation,
                groups=m.groups,
                bias=bias,
                metadata=_layer_meta(m),
            )
            out = torch.nn.functional.conv2d(
                torch.zeros(1, c, h, w_, dtype=weight.dtype), weight, None, m.stride, m.padding, m.dilation, m.groups
            ).shape[1:]
            self.add(name, node, tuple(out))
        elif isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            if isinstance(m, nn.AdaptiveAvgPool2d):
                size = np.broadcast_to(np.asarray(m.output_size), (2,))
                if h % size[0] or w_ % size[1]:
                    raise UnsupportedFeatureError(
                        f"{name}: adaptive pooling of {h}x{w_} to {tuple(size)} is not an even average pooling"
                    )
                k = s = (h // int(size[0]), w_ // int(size[1]))
                p = (0, 0)
            else:
                k = tuple(np.broadcast_to(np.asarray(m.kernel_size), (2,)).tolist())
                s = tuple(
                    np.broadcast_to(np.asarray(m.stride if m.stride is not None else m.kernel_size), (2,)).tolist()
                )
                p = tuple(np.broadcast_to(np.asarray(m.padding), (2,)).tolist())
                if m.ceil_mode and ((h + 2 * p[0] - k[0]) % s[0] or (w_ + 2 * p[1] - k[1]) % s[1]):
                    raise UnsupportedFeatureError(
                        f"{name}: AvgPool2d(ceil_mode=True) on a {h}x{w_} map that the "
                        "pooling does not divide (NIR has no ceil mode)"
                    )
                if any(p) and not m.count_include_pad:
                    raise UnsupportedFeatureError(f"{name}: AvgPool2d(count_include_pad=False) with padding")
            out_h = (h + 2 * p[0] - k[0]) // s[0] + 1
            out_w = (w_ + 2 * p[1] - k[1]) // s[1] + 1
            self.add(
                name, nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p)), (c, out_h, out_w)
            )
        else:
            raise UnsupportedFeatureError(f"{name}: module {type(m).__name__} has no NIR node")

    def graph(self, metadata: dict[str, Any]) -> nir.NIRGraph:
        self.nodes["output"] = nir.Output(output_type=np.array(self.shape))
        self.edges.append((self.last, "output"))
        return nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=metadata)


def _export_torch(model: nn.Module, dt: float, method: str, input_shape: Sequence[int] | None) -> nir.NIRGraph:
    from biosnn.models.networks import SpikingMLP, SpikingResNet, SpikingVGG11

    meta = {"biosnn_dt": dt, "biosnn_method": method, "biosnn_schedule": "nir"}
    if isinstance(model, SpikingMLP):
        ex = _Exporter(dt, method, (model.sizes[0],))
        for i, (fc, neuron) in enumerate(zip(model.layers, model.neurons)):
            ex.module(f"layers.{i}", fc)
            ex.module(f"neurons.{i}", neuron)
        return ex.graph(meta)
    if input_shape is None:
        raise ParameterError(
            f"exporting a {type(model).__name__} needs input_shape (one sample, without time "
            "and batch, e.g. (3, 32, 32))"
        )
    ex = _Exporter(dt, method, tuple(int(s) for s in input_shape))
    if isinstance(model, SpikingResNet):
        ex.module("stem", model.stem)
        ex.module("blocks", model.blocks)
        ex.module("pool", model.pool)
        ex.add_flatten("flatten", 0, -1)
        ex.module("classifier", model.classifier)
        ex.module("readout", model.readout)
    elif isinstance(model, SpikingVGG11):
        ex.module("features", model.features)
        ex.add_flatten("flatten", 0, -1)
        ex.module("classifier", model.classifier)
        ex.module("readout", model.readout)
    elif isinstance(model, nn.Sequential):
        ex.module("", model)
    else:
        raise UnsupportedFeatureError(
            f"{type(model).__name__} has no NIR export (supported: SpikingMLP, "
            "SpikingVGG11 and SpikingResNet without batch norm, nn.Sequential of "
            "biosnn layers)"
        )
    return ex.graph(meta)


# ============================================================================================== brian2
_LIF_NIR = """dv/dt = (v_leak - v + r*I_b*int(t > t_on))/tau + x_in/t_step : 1
dx_in/dt = -x_in/t_step : 1
tau : second (constant)
r : 1 (constant)
v_leak : 1 (constant)
v_th : 1 (constant)
v_reset : 1 (constant)
I_b : 1 (constant)
"""
_IF_NIR = """dv/dt = r_dt*I_b*int(t > t_on)/t_step + x_in/t_step : 1
dx_in/dt = -x_in/t_step : 1
r_dt : 1 (constant)
v_th : 1 (constant)
v_reset : 1 (constant)
I_b : 1 (constant)
"""
_CUBA_NIR = """dI/dt = -I/tau_syn + (x_in + g_s*I_b*int(t > t_on))/t_step : 1
dv/dt = (v_leak - v + r*(I - I*t_step/tau_syn + x_in + g_s*I_b*int(t > t_on)))/tau : 1
dx_in/dt = -x_in/t_step : 1
tau : second (constant)
tau_syn : second (constant)
r : 1 (constant)
g_s : 1 (constant)
v_leak : 1 (constant)
v_th : 1 (constant)
v_reset : 1 (constant)
I_b : 1 (constant)
"""
_CUBA_B2 = """dv/dt = (v_leak - v + r*I)/tau : 1
dI/dt = -I/tau_syn : 1
tau : second (constant)
tau_syn : second (constant)
r : 1 (constant)
v_leak : 1 (constant)
v_th : 1 (constant)
v_reset : 1 (constant)
"""
_LIF_B2 = """dv/dt = (v_leak - v)/tau : 1
tau : second (constant)
v_leak : 1 (constant)
v_th : 1 (constant)
v_reset : 1 (constant)
"""
_IF_B2 = """dv/dt = 0/second : 1
v_th : 1 (constant)
v_reset : 1 (constant)
"""


def _load_brian2(  # noqa: C901
    graph: nir.NIRGraph, dt: float, method: str, schedule: str, inputs: Mapping[str, Any] | None, monitors: bool
) -> brian2.Network:
    order = _topological(graph)
    src = _sources(graph)
    lag = latencies(graph) if schedule == "nir" else {n: 0 for n in order}
    dtq = dt * brian2.second
    groups: dict[str, Any] = {}
    objects: list[Any] = []
    if schedule == "brian2" and method not in ("exact", "euler"):  # pragma: no cover - checked by load
        raise ParameterError(f"method {method!r}")
    # --- populations: inputs and neurons
    biases: dict[str, np.ndarray] = {}
    gains: dict[str, np.ndarray] = {}
    gain_syn: dict[str, np.ndarray] = {}
    for name in order:
        node = graph.nodes[name]
        if isinstance(node, (nir.Affine, nir.Linear, nir.Delay, nir.Output, nir.Input) + _NEURONS):
            continue
        raise _unsupported(name, node, "brian2", "this node type is not supported")
    for name in order:
        node = graph.nodes[name]
        if isinstance(node, nir.Affine):
            for post in (b for a, b in graph.edges if a == name):
                if isinstance(graph.nodes[post], _NEURONS):
                    biases[post] = biases.get(post, 0.0) + _arr(node.bias)
    for name in order:
        node = graph.nodes[name]
        bname = _brian_name(name)
        if isinstance(node, nir.Input):
            shape = np.asarray(node.input_type["input"]).astype(int)
            n = int(np.prod(shape))
            groups[name] = brian2.SpikeGeneratorGroup(
                n, np.zeros(0, dtype=int), np.zeros(0) * brian2.second, dt=dtq, name=bname
            )
        elif isinstance(node, _NEURONS):
            steps = _neuron_steps(name, node, dt, method, "brian2")
            shape = steps["threshold"].shape
            n = int(np.prod(shape)) if shape else 1
            flat = {k: np.broadcast_to(v, shape).reshape(n) for k, v in steps.items() if k != "reset"}
            reset = "v = v_reset" if steps["reset"] == "zero" else "v = v - v_th"
            is_lif = isinstance(node, nir.LIF)
            is_cuba = isinstance(node, nir.CubaLIF)
            if schedule == "nir":
                eqs = _CUBA_NIR if is_cuba else _LIF_NIR if is_lif else _IF_NIR
                ns = {"t_on": (lag[name] - 0.5) * dtq, "t_step": dtq}
            else:
                eqs = _CUBA_B2 if is_cuba else _LIF_B2 if is_lif else _IF_B2
                ns = {}
            g = brian2.NeuronGroup(
                n,
                eqs,
                threshold="v > v_th",
                reset=reset,
                method=method if schedule == "brian2" else "euler",
                namespace=ns,
                dt=dtq,
                name=bname,
            )
            bias = np.broadcast_to(biases.get(name, 0.0), shape).reshape(n) if n else np.zeros(0)
            g.v_th = flat["threshold"]
            g.v_reset = flat["v_reset"]
            if schedule == "nir" and (is_lif or is_cuba):
                # Euler steps of the effective time constants dt / (1 - beta) give the decay of the chosen method
                # (for "euler" these are the graph's tau up to round-off); r keeps the input gain g = r dt / tau
                with np.errstate(divide="ignore"):
                    tau_eff = dt / (1.0 - flat["beta"])
                g.tau = tau_eff * brian2.second
                g.r = flat["gain"] * tau_eff / dt
                g.v_leak = flat["v_leak"]
                g.I_b = bias
                if is_cuba:
                    with np.errstate(divide="ignore"):
                        g.tau_syn = dt / (1.0 - flat["alpha"]) * brian2.second
                    g.g_s = flat["gain_syn"]
            elif is_cuba:
                g.tau = _arr(node.tau_mem).reshape(n) * brian2.second
                g.tau_syn = _arr(node.tau_syn).reshape(n) * brian2.second
                g.r = _arr(node.r).reshape(n)
                g.v_leak = flat["v_leak"]
                if np.any(bias != 0):
                    raise _unsupported(
                        name, node, "brian2", "a CubaLIF neuron with a bias has no Brian2 schedule update"
                    )
            elif is_lif:
                g.tau = _arr(node.tau).reshape(n) * brian2.second
                g.v_leak = flat["v_leak"] + _arr(node.r).reshape(n) * bias
            else:
                if schedule == "nir":
                    g.r_dt = flat["gain"]
                    g.I_b = bias
                elif np.any(bias != 0):
                    raise _unsupported(name, node, "brian2", "an IF neuron with a bias has no Brian2 schedule update")
            groups[name] = g
            gains[name] = flat["gain"]
            if is_cuba:
                gain_syn[name] = flat["gain_syn"]
        objects.extend([groups[name]] if name in groups and groups[name] not in objects else [])
    # --- projections: Affine/Linear (optionally after a Delay) into a neuron node
    for name in order:
        node = graph.nodes[name]
        if not isinstance(node, (nir.Affine, nir.Linear)):
            continue
        pre_names = src[name]
        delay_node = None
        if len(pre_names) == 1 and isinstance(graph.nodes[pre_names[0]], nir.Delay):
            delay_node = pre_names[0]
            pre_names = src[delay_node]
        if len(pre_names) != 1 or pre_names[0] not in groups:
            raise _unsupported(name, node, "brian2", f"needs one input population, got sources {src[name]}")
        posts = [b for a, b in graph.edges if a == name]
        if len(posts) != 1 or not isinstance(graph.nodes[posts[0]], _NEURONS):
            raise _unsupported(name, node, "brian2", f"must feed exactly one LIF/IF/CubaLIF node, feeds {posts}")
        pre, post = groups[pre_names[0]], groups[posts[0]]
        w = _arr(node.weight)
        if w.ndim != 2 or w.shape != (post.N, pre.N):
            raise _unsupported(name, node, "brian2", f"weight shape {w.shape}, expected {(post.N, pre.N)}")
        cuba = isinstance(graph.nodes[posts[0]], nir.CubaLIF)
        # the input gain (CubaLIF: of the current, g_s = w_in dt / tau_syn) is folded into the weights
        w = w * (gain_syn[posts[0]] if cuba else gains[posts[0]])[:, None]
        if schedule == "nir":
            effect = "x_in_post += w"
        else:
            effect = "I_post += w" if cuba else "v_post += w"
        j, i = np.nonzero(w)
        syn = brian2.Synapses(pre, post, "w : 1", on_pre=effect, dt=dtq, name=_brian_name(name))
        syn.connect(i=i, j=j)
        syn.w = w[j, i]
        if delay_node is not None:
            if schedule == "nir":
                raise _unsupported(delay_node, graph.nodes[delay_node], "brian2", "Delay with schedule 'nir'")
            d = np.broadcast_to(_arr(graph.nodes[delay_node].delay), (pre.N,))
            syn.delay = d[i] * brian2.second
        objects.append(syn)
    for name in order:
        if isinstance(graph.nodes[name], nir.Delay):
            users = [b for a, b in graph.edges if a == name]
            if not all(isinstance(graph.nodes[u], (nir.Affine, nir.Linear)) for u in users):
                raise _unsupported(name, graph.nodes[name], "brian2", "a Delay must feed Affine/Linear nodes")
    if inputs:
        for key, raster in inputs.items():
            if key not in groups or not isinstance(groups[key], brian2.SpikeGeneratorGroup):
                raise ParameterError(f"inputs: no Input node named {key!r}")
            _set_raster(groups[key], raster, dt)
    if monitors:
        for name, g in groups.items():  # noqa: B007
            if isinstance(g, brian2.NeuronGroup):
                objects.append(brian2.SpikeMonitor(g, name=f"{g.name}_spikes"))
    return brian2.Network(*objects)


def _set_raster(group: Any, raster: Any, dt: float) -> None:
    r = np.asarray(raster.detach().cpu().numpy() if isinstance(raster, torch.Tensor) else raster)
    if r.ndim != 2 or r.shape[1] != group.N:
        raise ShapeError(f"input {group.name!r}: a spike raster [T, {group.N}] is needed, got shape {r.shape}")
    if not np.all((r == 0) | (r == 1)):
        raise ParameterError(f"input {group.name!r}: the Brian2 target takes spikes (0/1), got other values")
    steps, idx = np.nonzero(r)
    group.set_spikes(idx, steps * dt * brian2.second)


# ---------------------------------------------------------------------------------------- brian2 export
def _eval(owner: Any, expr: str, namespace: Mapping[str, Any] | None, size: int) -> np.ndarray:
    """Evaluate a Brian2 expression over ``owner``'s elements, in SI units (floats)."""
    from brian2.core.variables import ArrayVariable, Constant
    from brian2.utils.stringtools import get_identifiers

    names = get_identifiers(expr)
    resolved = owner.resolve_all(names, run_namespace=dict(namespace or {}))
    values: dict[str, Any] = {}
    for k, var in resolved.items():
        if isinstance(var, (ArrayVariable, Constant)):
            values[k] = var.get_value_with_unit() if hasattr(var, "get_value_with_unit") else var.get_value()
        else:
            raise UnsupportedFeatureError(
                f"{owner.name}: the expression {expr!r} uses {k!r} "
                f"({type(var).__name__}), which the NIR export cannot evaluate"
            )
    try:
        out = eval(compile(expr, "<brian2 expression>", "eval"), {"__builtins__": {}}, values)  # noqa: S307
    except Exception as exc:  # noqa: BLE001
        raise UnsupportedFeatureError(f"{owner.name}: cannot evaluate {expr!r} for NIR: {exc}") from exc
    return np.broadcast_to(np.asarray(out, dtype=float), (size,)).copy()


def _export_brian2(net: brian2.Network, namespace: Mapping[str, Any] | None) -> nir.NIRGraph:  # noqa: C901
    import sympy
    from brian2.parsing.sympytools import str_to_sympy, sympy_to_str

    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    methods, dts = set(), set()
    neuron_groups = []
    input_var: dict[str, str] = {}
    for obj in net.objects:
        if isinstance(obj, (brian2.SpikeMonitor, brian2.StateMonitor, brian2.PopulationRateMonitor)):
            continue
        if isinstance(obj, brian2.SpikeGeneratorGroup):
            nodes[obj.name] = nir.Input(input_type=np.array([obj.N]))
            dts.add(float(obj.clock.dt_))
        elif isinstance(obj, brian2.NeuronGroup):
            neuron_groups.append(obj)
        elif isinstance(obj, brian2.Synapses):
            continue
        else:
            raise UnsupportedFeatureError(
                f"{obj.name}: {type(obj).__name__} has no NIR node "
                "(supported: NeuronGroup, SpikeGeneratorGroup, Synapses, monitors)"
            )
    for g in neuron_groups:
        dts.add(float(g.clock.dt_))
        eqs = g.equations
        diff = sorted(e.varname for e in eqs.values() if e.type == "differential equation")
        if "v" not in diff or len(diff) > 2 or any(e.type == "subexpression" for e in eqs.values()):
            raise UnsupportedFeatureError(
                f"{g.name}: only groups with a differential equation for 'v' (and at "
                "most one synaptic current) and constant parameters map to NIR "
                f"LIF/IF/CubaLIF (equations: {list(eqs)})"
            )
        cur = next((d for d in diff if d != "v"), None)
        if not brian2.have_same_dimensions(eqs["v"].dim, brian2.volt) and not eqs["v"].dim.is_dimensionless:
            raise UnsupportedFeatureError(f"{g.name}: v must be a voltage or dimensionless")
        refractory = g._refractory
        if (
            refractory is not False
            and refractory is not None
            and not (not isinstance(refractory, str) and float(np.max(np.asarray(refractory))) == 0)
        ):
            raise UnsupportedFeatureError(f"{g.name}: refractoriness has no NIR LIF/IF parameter")
        methods.add(g.state_updater.method_choice if isinstance(g.state_updater.method_choice, str) else "?")
        expr = str_to_sympy(eqs["v"].expr.code)
        v = sympy.Symbol("v", real=True)
        c = sympy.Symbol(cur, real=True) if cur else sympy.Symbol("_none", real=True)
        slope = sympy.simplify(sympy.diff(expr, v))
        coupling = sympy.simplify(sympy.diff(expr, c))
        drive = sympy.simplify(expr.subs({v: 0, c: 0}))
        if slope.has(v, c) or coupling.has(v, c):
            raise UnsupportedFeatureError(
                f"{g.name}: dv/dt = {eqs['v'].expr.code} is not linear in v" + (f" and {cur}" if cur else "")
            )
        n = g.N
        a = _eval(g, sympy_to_str(slope), namespace, n)  # 1/second
        b = _eval(g, sympy_to_str(drive), namespace, n)  # volt/second
        if cur:
            ec = str_to_sympy(eqs[cur].expr.code)
            c_slope = sympy.simplify(sympy.diff(ec, c))
            if c_slope.has(v, c) or sympy.simplify(ec - c_slope * c) != 0:
                raise UnsupportedFeatureError(
                    f"{g.name}: d{cur}/dt = {eqs[cur].expr.code} is not a decay -{cur}/tau_syn (NIR CubaLIF)"
                )
            a_c = _eval(g, sympy_to_str(c_slope), namespace, n)
            coupling_v = _eval(g, sympy_to_str(coupling), namespace, n)
            if np.any(a_c >= 0) or np.any(a >= 0):
                raise UnsupportedFeatureError(f"{g.name}: v and {cur} must decay")
        thr = g.events.get("spike", "")
        m = re.fullmatch(r"\s*v\s*>\s*(.+?)\s*", thr or "")
        if not m:
            raise UnsupportedFeatureError(f"{g.name}: threshold {thr!r} is not of the form 'v > ...'")
        theta = _eval(g, m.group(1), namespace, n)
        reset_code = (g.event_codes.get("spike") or "").strip()
        m = re.fullmatch(r"v\s*=\s*(.+?)", reset_code)
        if not m:
            raise UnsupportedFeatureError(f"{g.name}: reset {reset_code!r} is not of the form 'v = ...'")
        v_reset = _eval(g, m.group(1), namespace, n)
        dt = float(g.clock.dt_)
        input_var[g.name] = cur or "v"
        if cur:
            tau, tau_syn = -1.0 / a, -1.0 / a_c
            nodes[g.name] = nir.CubaLIF(
                tau_syn=tau_syn,
                tau_mem=tau,
                r=coupling_v * tau,
                v_leak=b * tau,
                v_threshold=theta,
                v_reset=v_reset,
                w_in=tau_syn / dt,
            )
        elif np.all(a == 0):
            if np.any(b != 0):
                raise UnsupportedFeatureError(f"{g.name}: an IF neuron with a constant drive has no NIR node")
            nodes[g.name] = nir.IF(r=np.full(n, 1.0 / dt), v_threshold=theta, v_reset=v_reset)
        else:
            if np.any(a >= 0):
                raise UnsupportedFeatureError(f"{g.name}: dv/dt must decay (d(dv/dt)/dv < 0)")
            tau = -1.0 / a
            nodes[g.name] = nir.LIF(tau=tau, r=tau / dt, v_leak=b * tau, v_threshold=theta, v_reset=v_reset)
    for s in net.objects:
        if not isinstance(s, brian2.Synapses):
            continue
        pre, post = s.source, s.target
        for end in (pre, post):
            if isinstance(end, brian2.Subgroup) or end.name not in nodes:
                raise UnsupportedFeatureError(
                    f"{s.name}: connects {end.name!r}, which is not a whole group of the network exported to NIR"
                )
        if not isinstance(nodes[post.name], _NEURONS):
            raise UnsupportedFeatureError(f"{s.name}: its target {post.name!r} is not a neuron group")
        if set(s._pathways) != {s.pre} or s.pre.event != "spike":
            raise UnsupportedFeatureError(f"{s.name}: only an on_pre pathway on spikes maps to NIR")
        code = s.pre.code.strip()
        var = input_var[post.name]
        m = re.fullmatch(var + r"_post\s*\+=\s*(.+?)", code)
        if not m:
            raise UnsupportedFeatureError(f"{s.name}: on_pre {code!r} is not of the form '{var}_post += ...'")
        eff = _eval(s, m.group(1), namespace, len(s))
        i, j = np.asarray(s.i[:]), np.asarray(s.j[:])
        weight = np.zeros((post.N, pre.N))
        np.add.at(weight, (j, i), eff)
        delays = np.asarray(s.delay[:] / brian2.second) if len(s) else np.zeros(0)
        src_name = pre.name
        if np.any(delays != 0):
            per_pre = np.full(pre.N, np.nan)
            per_pre[i] = delays
            ok = all(np.all(delays[i == k] == delays[i == k][0]) for k in np.unique(i))
            if not ok:
                raise UnsupportedFeatureError(
                    f"{s.name}: delays that differ between synapses of one presynaptic "
                    "neuron have no NIR node (nir.Delay acts per neuron)"
                )
            delay_name = f"{s.name}_delay"
            nodes[delay_name] = nir.Delay(delay=np.nan_to_num(per_pre, nan=0.0))
            edges.append((pre.name, delay_name))
            src_name = delay_name
        nodes[s.name] = nir.Linear(weight=weight)
        edges += [(src_name, s.name), (s.name, post.name)]
    for g in neuron_groups:
        if not any(a == g.name for a, _ in edges):
            nodes[f"{g.name}_output"] = nir.Output(output_type=np.array([g.N]))
            edges.append((g.name, f"{g.name}_output"))
    if len(dts) > 1:
        raise UnsupportedFeatureError(f"network {net.name!r}: groups with different dt {sorted(dts)} s")
    if len(methods) > 1 or not methods <= {"exact", "linear", "euler"}:
        raise UnsupportedFeatureError(
            f"network {net.name!r}: state update methods {sorted(methods)}; NIR export "
            "supports one of 'exact' (or 'linear') and 'euler' for all groups"
        )
    method = "exact" if methods <= {"exact", "linear"} else "euler"
    meta = {
        "biosnn_dt": dts.pop() if dts else float(brian2.defaultclock.dt_),
        "biosnn_method": method,
        "biosnn_schedule": "brian2",
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


# ============================================================================================== public
def export(
    obj: Any,
    *,
    dt: Any = None,
    method: str = "euler",
    input_shape: Sequence[int] | None = None,
    namespace: Mapping[str, Any] | None = None,
) -> nir.NIRGraph:
    """Write a biosnn PyTorch model or a Brian2 network as a :class:`nir.NIRGraph`.

    Parameters
    ----------
    obj
        A :class:`~biosnn.models.SpikingMLP`, a :class:`~biosnn.models.SpikingVGG11` (``batch_norm=False``),
        an ``nn.Sequential`` of biosnn layers and neurons, or a :class:`brian2.Network` of supported shape
        (see the module docstring).
    dt
        The time step the PyTorch model stands for (a Brian2 time); its neurons' decay per step becomes
        ``tau`` in seconds. A Brian2 network's own ``dt`` is used (``dt`` must then be ``None``).
    method
        ``"euler"`` (``tau = dt / (1 - beta)``, snnTorch's convention) or ``"exact"`` (``tau = -dt / ln beta``),
        for PyTorch models. A Brian2 network's own method is recorded.
    input_shape
        Shape of one input sample (without time and batch), for models other than the MLP.
    namespace
        Explicit namespace for the Brian2 network's external constants.

    Returns
    -------
    nir.NIRGraph
        With ``metadata`` ``biosnn_dt`` (seconds), ``biosnn_method`` and ``biosnn_schedule``.
    """
    _check_choice("method", method, METHODS)
    if isinstance(obj, brian2.Network):
        if dt is not None:
            raise ParameterError("a Brian2 network is exported with its own dt: do not pass dt")
        return _export_brian2(obj, namespace)
    if isinstance(obj, nn.Module):
        return _export_torch(obj, _dt_seconds(dt), method, input_shape)
    raise ParameterError(f"export takes a biosnn PyTorch model or a brian2.Network, got {type(obj).__name__}")


def load(
    graph: nir.NIRGraph,
    target: str = "torch",
    *,
    dt: Any = None,
    method: str | None = None,
    schedule: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    monitors: bool = True,
    dtype: torch.dtype | None = None,
) -> NIRModule | brian2.Network:
    """Build a NIR graph as a biosnn PyTorch model or as an explicit Brian2 network.

    Parameters
    ----------
    graph
        A :class:`nir.NIRGraph` (from :func:`export`, ``snntorch.export_nir.export_to_nir``, ``nir.read``).
    target
        ``"torch"`` -> :class:`NIRModule`; ``"brian2"`` -> :class:`brian2.Network` whose groups are named after
        the NIR nodes (``"0"`` becomes ``"nir_0"``), with a ``SpikeMonitor`` ``<group>_spikes`` per neuron group
        when ``monitors``.
    dt
        Time step (a Brian2 time); default ``graph.metadata["biosnn_dt"]``.
    method
        ``"euler"`` or ``"exact"`` (see the module docstring); default ``graph.metadata["biosnn_method"]``, else
        ``"euler"``.
    schedule
        Brian2 target only: ``"nir"`` or ``"brian2"``; default ``graph.metadata["biosnn_schedule"]``, else ``"nir"``.
    inputs
        Brian2 target only: ``{input_node: raster}``, 0/1 spikes ``[T, N]`` put into the input's
        ``SpikeGeneratorGroup`` at times ``step * dt``.
    dtype
        PyTorch target: the layers' dtype (default: float64 for float64 weights, else float32).

    Raises
    ------
    UnsupportedFeatureError
        For a node or parameter the target cannot run (the message names the node and its type).
    """
    if not isinstance(graph, nir.NIRGraph):
        raise ParameterError(f"load takes a nir.NIRGraph, got {type(graph).__name__}")
    _check_choice("target", target, ("torch", "brian2"))
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if method is None:
        method = _meta(graph, "biosnn_method", "euler")
    _check_choice("method", method, METHODS)
    if target == "torch":
        return _load_torch(
            graph, _dt_seconds(dt, graph) if dt is not None or "biosnn_dt" in meta else None, method, dtype
        )
    if schedule is None:
        schedule = _meta(graph, "biosnn_schedule", "nir")
    _check_choice("schedule", schedule, SCHEDULES)
    return _load_brian2(graph, _dt_seconds(dt, graph), method, schedule, inputs, monitors)
