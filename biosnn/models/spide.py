r"""SPIDE: training feedback spiking networks by implicit differentiation, with spikes only (Xiao et al.,
Neural Networks 2023).

A feedback SNN is a chain of layers :math:`F_x` (input -> layer 1), :math:`F_1 \dots F_{n-1}` (layer
:math:`i` -> :math:`i+1`) and a feedback :math:`F_{fb}` (layer :math:`n` -> layer 1), each a linear map
with bias (``nn.Linear``, ``nn.Conv2d``, ``nn.ConvTranspose2d`` ...). Pure functions hold the
computation (:func:`spide_if_step`, :func:`spide_ternary_step`, :func:`spide_forward`,
:func:`spide_backward`, :func:`spide_weight_grads`, :func:`rate_equilibrium`); :class:`SPIDENet` wraps them
for training with any ``torch.optim`` optimiser.

Forward: a spiking simulation without autograd
----------------------------------------------
IF neurons with threshold :math:`V_{th}`, resting potential :math:`u_{rest} = -V_{th}` and reset by
subtraction of :math:`V_{th} - u_{rest}`, from :math:`u = 0`:

.. math::

    u &\leftarrow u + I_t, \qquad s_t = \mathbb{1}[u \ge V_{th}], \qquad
    u \leftarrow u - (V_{th} - u_{rest})\, s_t \quad (\text{LIF variant: then } u \leftarrow \lambda u)

with inputs :math:`I^{(1)}_t = F_x(x_t) + F_{fb}(s^{(n)}_{t-1})` (the feedback only for :math:`t \ge 1`) and
:math:`I^{(i+1)}_t = F_i(s^{(i)}_t)` (spikes travel through the chain within a step), for :math:`T` steps
(30). Rates :math:`a_i = \frac1T\sum_t s^{(i)}_t` (LIF: :math:`\lambda`-weighted and normalised by
:math:`(1-\lambda^T)/(1-\lambda)`), masks :math:`m_i = \mathbb{1}[0 < a_i < 1]`. The rates approximate the
equilibrium :math:`a_{i+1} = \sigma(F_i(a_i)/(V_{th} - u_{rest}))`,
:math:`a_1 = \sigma((F_x(\bar x) + F_{fb}(a_n))/(V_{th} - u_{rest}))` with :math:`\sigma` the clamp to
[0, 1], whose derivative is :math:`m/(V_{th} - u_{rest})`. The model's output is a read-out (an
``nn.Linear``, trained by ordinary autograd) of :math:`a_n`.

Backward: a second spiking simulation
-------------------------------------
Given :math:`g = \partial L/\partial a_n`, ternary IF neurons (threshold :math:`V^b_{th}`, default
:math:`V_{th}`; :math:`u^b_{rest} = -V^b_{th}`) run for :math:`T_b` steps (250), from layer :math:`n` back
to layer 1, driven by spikes through the transposed maps:

.. math::

    u^b &\leftarrow u^b + J_t, \qquad
    s^b_t = \big(\mathbb{1}[u^b \ge V^b_{th}] - \mathbb{1}[u^b \le -V^b_{th}]\big)(V^b_{th} - u^b_{rest}),
    \qquad u^b \leftarrow u^b - s^b_t \\
    J^{(n)}_t &= g + \tfrac{1}{V_{th} - u_{rest}} F_{fb}^\top(m_1 \odot s^{b,(1)}_{t-1})
        \ (\text{feedback for } t \ge 1), \qquad
    J^{(i)}_t = \tfrac{1}{V_{th} - u_{rest}} F_i^\top(m_{i+1} \odot s^{b,(i+1)}_t)

The rates :math:`\beta_i = \frac1{T_b}\sum_t s^{b,(i)}_t` approximate the solution of the implicit
(fixed-point) equation :math:`\beta = \partial L/\partial a + J^\top \beta` (as long as :math:`|\beta|`
stays below :math:`V^b_{th} - u^b_{rest}`), i.e. the total derivative :math:`\mathrm{d}L/\mathrm{d}a_i` at
the equilibrium. Each layer's update is then local, from the forward rates of its input and the
backward rates of its output:

.. math::

    \nabla_{W_i} L = \frac{1}{V_{th} - u_{rest}}\,(\beta_{i+1} \odot m_{i+1})^\top a_i, \qquad
    \nabla_{b_i} L = \frac{1}{V_{th} - u_{rest}} \textstyle\sum_B \beta_{i+1} \odot m_{i+1}

(:math:`F_{fb}`: from :math:`a_n` to layer 1; :math:`F_x`: from the time-mean input :math:`\bar x`), computed
as the vector-Jacobian product of the layer at its input rates (exactly this outer product for linear and
convolutional maps). The gradients are *added* to ``.grad`` (the authors' code overwrites them), so
``zero_grad`` and gradient accumulation work as usual. Not included: the authors' weight-norm restriction
of the feedback layer and variational dropout.

:func:`rate_equilibrium` iterates the clamped rate map with autograd: back-propagation through it
("BPTT through the equilibrium") is the reference the tests compare SPIDE's spike-based gradient with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from biosnn.errors import ParameterError, ShapeError

__all__ = [
    "spide_if_step",
    "spide_ternary_step",
    "SpideForward",
    "SpideBackward",
    "spide_forward",
    "spide_backward",
    "spide_weight_grads",
    "rate_equilibrium",
    "SPIDENet",
    "build_spide",
    "spide_train_loss",
    "PAPER_PRESETS",
]


# ------------------------------------------------------------------------------------------- neurons
def spide_if_step(
    u: torch.Tensor, current: torch.Tensor, *, v_th: float = 1.0, u_rest: float | None = None, leak: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One forward IF step: :math:`u \leftarrow u + I`, :math:`s = \mathbb{1}[u \ge V_{th}]`,
    :math:`u \leftarrow u - (V_{th} - u_{rest}) s` (then :math:`\lambda u` with a leak). Returns ``(u, s)``.
    """
    u_rest = -v_th if u_rest is None else u_rest
    u = u + current
    s = (u >= v_th).to(u.dtype)
    u = u - (v_th - u_rest) * s
    if leak is not None:
        u = u * leak
    return u, s


def spide_ternary_step(
    u: torch.Tensor, current: torch.Tensor, *, v_th: float = 1.0, u_rest: float | None = None, leak: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One backward step with ternary spikes :math:`s = (\mathbb{1}[u \ge V_{th}] - \mathbb{1}[u \le -V_{th}])
    (V_{th} - u_{rest})`, :math:`u \leftarrow u - s`. Returns ``(u, s)`` (``s`` in
    :math:`\{-(V_{th} - u_{rest}), 0, V_{th} - u_{rest}\}`).
    """
    u_rest = -v_th if u_rest is None else u_rest
    u = u + current
    s = ((u >= v_th).to(u.dtype) - (u <= -v_th).to(u.dtype)) * (v_th - u_rest)
    u = u - s
    if leak is not None:
        u = u * leak
    return u, s


def _transpose(layer: nn.Module, v: torch.Tensor, in_shape: torch.Size) -> torch.Tensor:
    """``F^T v`` for the linear part of ``layer``: the transposed weights for ``nn.Linear``, ``nn.Conv2d`` and
    ``nn.ConvTranspose2d``, otherwise the vector-Jacobian product at input 0 (the same map).
    """
    if type(layer) is nn.Linear:
        return v @ layer.weight
    if type(layer) is nn.Conv2d and layer.groups == 1 and isinstance(layer.padding, tuple):
        out = F.conv_transpose2d(v, layer.weight, stride=layer.stride, padding=layer.padding, dilation=layer.dilation)
        if tuple(out.shape[-2:]) == tuple(in_shape[-2:]):
            return out
    if type(layer) is nn.ConvTranspose2d and layer.groups == 1 and isinstance(layer.padding, tuple):
        out = F.conv2d(v, layer.weight, stride=layer.stride, padding=layer.padding, dilation=layer.dilation)
        if tuple(out.shape[-2:]) == tuple(in_shape[-2:]):
            return out
    with torch.enable_grad():
        z = torch.zeros(in_shape, dtype=v.dtype, device=v.device, requires_grad=True)
        (g,) = torch.autograd.grad(layer(z), z, v)
    return g


def _weights(steps: int, leak: float | None) -> float:
    return float(steps) if leak is None else (1.0 - leak**steps) / (1.0 - leak)


@dataclass
class SpideForward:
    """What the forward simulation recorded: rates ``a`` (layers 1..n), masks ``m``, spike counts and the
    time-mean input ``x_mean``.
    """

    rates: list[torch.Tensor]
    masks: list[torch.Tensor]
    counts: list[torch.Tensor]
    x_mean: torch.Tensor
    steps: int
    shapes: list[torch.Size] = field(default_factory=list)


@dataclass
class SpideBackward:
    """What the backward simulation recorded: rates ``beta`` (layers 1..n), signed ternary spike counts
    ``signed`` (sum of s_b / amplitude), backward spike numbers ``events``, ``steps``, the spike
    amplitude ``amp`` (V_th_back - u_rest_back) and the gradient ``scale``: for IF neurons
    ``beta = signed * amp / (steps * scale)``.
    """

    beta: list[torch.Tensor]
    signed: list[torch.Tensor]
    events: list[torch.Tensor]
    steps: int
    amp: float
    scale: float = 1.0


@torch.no_grad()
def spide_forward(
    x: torch.Tensor,
    input_layer: nn.Module,
    layers: Sequence[nn.Module],
    feedback: nn.Module,
    *,
    steps: int = 30,
    v_th: float = 1.0,
    u_rest: float | None = None,
    leak: float | None = None,
) -> SpideForward:
    """The forward spiking simulation (module docstring). ``x``: ``[T_in, B, ...]``; with ``T_in == 1`` the
    input is constant for ``steps`` steps, otherwise frame ``t`` drives step ``t`` (``steps = T_in``).
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ShapeError("spide_forward needs time-major input [T, B, ...]")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ParameterError(f"SPIDE 'steps' must be a positive integer, got {steps!r}")
    constant = x.shape[0] == 1
    steps = steps if constant else x.shape[0]
    kw = dict(v_th=v_th, u_rest=u_rest, leak=leak)
    x1 = input_layer(x[0])
    u: list[torch.Tensor] = []
    s: list[torch.Tensor] = []
    ui, si = spide_if_step(torch.zeros_like(x1), x1, **kw)
    u.append(ui)
    s.append(si)
    for layer in layers:
        cur = layer(s[-1])
        ui, si = spide_if_step(torch.zeros_like(cur), cur, **kw)
        u.append(ui)
        s.append(si)
    acc = [si.clone() for si in s]
    counts = [si.clone() for si in s]
    for t in range(1, steps):
        drive = x1 if constant else input_layer(x[t])
        u[0], s[0] = spide_if_step(u[0], drive + feedback(s[-1]), **kw)
        for i, layer in enumerate(layers):
            u[i + 1], s[i + 1] = spide_if_step(u[i + 1], layer(s[i]), **kw)
        for i in range(len(s)):
            acc[i] = acc[i] * leak + s[i] if leak is not None else acc[i] + s[i]
            counts[i] += s[i]
    norm = _weights(steps, leak)
    rates = [a / norm for a in acc]
    masks = [((a > 0) & (a < 1)).to(a.dtype) for a in rates]
    x_mean = x[0] if constant else x.mean(0)
    return SpideForward(rates, masks, counts, x_mean, steps, [r.shape for r in rates])


@torch.no_grad()
def spide_backward(
    grad: torch.Tensor,
    layers: Sequence[nn.Module],
    feedback: nn.Module,
    fwd: SpideForward,
    *,
    steps: int = 250,
    v_th: float = 1.0,
    u_rest: float | None = None,
    v_th_back: float | None = None,
    u_rest_back: float | None = None,
    leak: float | None = None,
    scale: float = 1.0,
) -> SpideBackward:
    """The backward spiking simulation driven by ``grad`` = dL/da_n (module docstring); per layer 1..n, the
    rates ``beta`` (in gradient units), the signed ternary spike counts and the number of backward spikes.

    ``scale`` > 0 drives the simulation with ``scale * grad`` and divides the rates by it (the same as a
    backward threshold ``V_th_back / scale``; the implicit equation is linear in the gradient).
    """
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ParameterError(f"SPIDE backward 'scale' must be a positive number, got {scale!r}")
    grad = grad * scale
    u_rest = -v_th if u_rest is None else u_rest
    vb = v_th if v_th_back is None else v_th_back
    kw = dict(v_th=vb, u_rest=-vb if u_rest_back is None else u_rest_back, leak=leak)
    amp = vb - kw["u_rest"]
    factor = 1.0 / (v_th - u_rest)
    n = len(fwd.rates)
    m, shapes = fwd.masks, fwd.shapes
    # backward neurons in layer order 1..n; simulated from n down to 1
    ub: list[torch.Tensor | None] = [None] * n
    sb: list[torch.Tensor | None] = [None] * n
    beta: list[torch.Tensor | None] = [None] * n
    signed: list[torch.Tensor | None] = [None] * n
    events: list[torch.Tensor | None] = [None] * n

    def run(i: int, current: torch.Tensor) -> None:
        u0 = torch.zeros_like(current) if ub[i] is None else ub[i]
        ub[i], sb[i] = spide_ternary_step(u0, current, **kw)
        unit = sb[i] / amp
        if beta[i] is None:
            beta[i], signed[i], events[i] = sb[i].clone(), unit.clone(), unit.abs()
        else:
            beta[i] = beta[i] * leak + sb[i] if leak is not None else beta[i] + sb[i]
            signed[i] = signed[i] + unit
            events[i] = events[i] + unit.abs()

    for t in range(steps):
        drive = grad if t == 0 else grad + factor * _transpose(feedback, m[0] * sb[0], shapes[-1])
        run(n - 1, drive)
        for i in range(n - 2, -1, -1):
            run(i, factor * _transpose(layers[i], m[i + 1] * sb[i + 1], shapes[i]))
    norm = _weights(steps, leak)
    return SpideBackward(
        [b / (norm * scale) for b in beta],
        signed,
        events,
        steps,
        amp,  # type: ignore[arg-type]
        float(scale),
    )


def spide_weight_grads(
    input_layer: nn.Module,
    layers: Sequence[nn.Module],
    feedback: nn.Module,
    fwd: SpideForward,
    beta: Sequence[torch.Tensor],
    *,
    v_th: float = 1.0,
    u_rest: float | None = None,
) -> None:
    r"""Add SPIDE's local updates to ``.grad``: each layer gets
    :math:`\frac{1}{V_{th} - u_{rest}}(\beta_{post} \odot m_{post})^\top a_{pre}` (its vector-Jacobian
    product at the forward rates of its input).
    """
    u_rest = -v_th if u_rest is None else u_rest
    factor = 1.0 / (v_th - u_rest)
    a, m = fwd.rates, fwd.masks
    pairs = [(input_layer, fwd.x_mean, 0), (feedback, a[-1], 0)]
    pairs += [(layer, a[i], i + 1) for i, layer in enumerate(layers)]
    with torch.enable_grad():
        for layer, pre, post in pairs:
            out = layer(pre.detach())
            out.backward(factor * beta[post] * m[post])


def rate_equilibrium(
    x_mean: torch.Tensor,
    input_layer: nn.Module,
    layers: Sequence[nn.Module],
    feedback: nn.Module,
    *,
    iterations: int = 100,
    v_th: float = 1.0,
    u_rest: float | None = None,
) -> list[torch.Tensor]:
    r"""Iterate the clamped rate map :math:`a_1 = \sigma((F_x(\bar x) + F_{fb}(a_n))/(V_{th} - u_{rest}))`,
    :math:`a_{i+1} = \sigma(F_i(a_i)/(V_{th} - u_{rest}))` from zero feedback, *with* autograd (the BPTT
    reference for SPIDE's implicit gradient). Returns the rates of layers 1..n.
    """
    u_rest = -v_th if u_rest is None else u_rest
    scale = v_th - u_rest
    drive = input_layer(x_mean)
    a_last = None
    for _ in range(iterations):
        a = [torch.clamp((drive if a_last is None else drive + feedback(a_last)) / scale, 0.0, 1.0)]
        for layer in layers:
            a.append(torch.clamp(layer(a[-1]) / scale, 0.0, 1.0))
        a_last = a[-1]
    return a


class _SpideGrad(torch.autograd.Function):
    """Identity on a_n forward; backward runs SPIDE's backward simulation and writes the layers' grads."""

    @staticmethod
    def forward(ctx, a_last: torch.Tensor, net: SPIDENet, fwd: SpideForward) -> torch.Tensor:
        ctx.net, ctx.fwd = net, fwd
        return a_last.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        net, fwd = ctx.net, ctx.fwd
        vb = net.v_th if net.v_th_back is None else net.v_th_back
        peak = float(grad.abs().max())
        scale = 0.5 * vb / peak if net.backward_scale == "auto" and peak > 0 else 1.0
        bwd = spide_backward(
            grad,
            net.layers,
            net.feedback,
            fwd,
            steps=net.steps_back,
            v_th=net.v_th,
            u_rest=net.u_rest,
            v_th_back=net.v_th_back,
            leak=net.leak,
            scale=scale,
        )
        net.last_backward = bwd
        spide_weight_grads(net.input_layer, net.layers, net.feedback, fwd, bwd.beta, v_th=net.v_th, u_rest=net.u_rest)
        return None, None, None


class SPIDENet(nn.Module):
    r"""A feedback SNN trained by SPIDE: ``forward`` runs the spiking equilibrium (no autograd graph), and
    ``backward`` of any loss on its output runs the backward spiking simulation.

    Input ``[T_in, B, ...]`` (``T_in = 1``: constant input for ``steps`` steps); output the read-out logits
    ``[1, B, classes]`` (read with ``membrane_ce``). ``last_forward`` / ``last_backward`` keep what the two
    simulations recorded.

    Parameters
    ----------
    input_layer, layers, feedback
        :math:`F_x`, :math:`F_1 \\dots F_{n-1}`, :math:`F_{fb}` (linear maps with bias).
    readout
        Maps the flattened rates :math:`a_n` to logits (trained by autograd).
    steps, steps_back
        Forward and backward simulation lengths (30, 250).
    v_th, v_th_back, leak
        Thresholds (``u_rest = -v_th``) and the LIF leak (``None``: IF).
    backward_scale
        ``"auto"`` (default): the backward simulation runs on ``k * dL/da_n`` with
        ``k = 0.5 V_th_back / max|dL/da_n|`` for each batch, and its rates are divided by ``k`` (a per-batch
        backward threshold; without it a mean-reduced loss gives gradients far below ``V_th_back`` and the
        ternary neurons stay silent: the authors tune ``vth_back`` per data set in their configurations).
        ``"none"``: ``k = 1``, the paper's fixed threshold.
    """

    def __init__(
        self,
        *,
        input_layer: nn.Module,
        layers: Sequence[nn.Module],
        feedback: nn.Module,
        readout: nn.Module,
        steps: int = 30,
        steps_back: int = 250,
        v_th: float = 1.0,
        v_th_back: float | None = None,
        leak: float | None = None,
        backward_scale: str = "auto",
    ) -> None:
        super().__init__()
        if backward_scale not in ("auto", "none"):
            raise ParameterError(f"SPIDE 'backward_scale' must be 'auto' or 'none', got {backward_scale!r}")
        self.backward_scale = backward_scale
        for name, value in (("steps", steps), ("steps_back", steps_back)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"SPIDE '{name}' must be a positive integer, got {value!r}")
        if leak is not None and not (0.0 < leak < 1.0):
            raise ParameterError(f"SPIDE 'leak' must be in (0, 1) or None, got {leak!r}")
        if not (isinstance(v_th, (int, float)) and math.isfinite(v_th) and v_th > 0):
            raise ParameterError(f"SPIDE 'v_th' must be a positive number, got {v_th!r}")
        self.input_layer = input_layer
        self.layers = nn.ModuleList(layers)
        self.feedback = feedback
        self.readout = readout
        self.steps, self.steps_back = steps, steps_back
        self.v_th, self.v_th_back, self.leak = float(v_th), v_th_back, leak
        self.u_rest = -self.v_th
        self.last_forward: SpideForward | None = None
        self.last_backward: SpideBackward | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fwd = spide_forward(
            x, self.input_layer, self.layers, self.feedback, steps=self.steps, v_th=self.v_th, leak=self.leak
        )
        self.last_forward = fwd
        a_last = fwd.rates[-1]
        if self.training and torch.is_grad_enabled():
            a_last = _SpideGrad.apply(a_last.detach().requires_grad_(True), self, fwd)
        return self.readout(a_last.flatten(1)).unsqueeze(0)

    def spikes_per_sample(self) -> float:
        """Forward spikes per sample of the last forward pass (all layers)."""
        if self.last_forward is None:
            return float("nan")
        b = self.last_forward.counts[0].shape[0]
        return float(sum(c.sum() for c in self.last_forward.counts)) / b


def spide_train_loss(model: SPIDENet, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the read-out; its ``backward`` runs SPIDE's backward simulation."""
    out = model(x)
    return F.cross_entropy(out[0], target), out


def build_spide(
    *,
    input_shape: Sequence[int] = (1, 8, 8),
    num_classes: int = 10,
    arch: str = "fc",
    hidden: Sequence[int] = (128, 64),
    channels: Sequence[int] = (128, 256, 256, 512, 256),
    steps: int = 30,
    steps_back: int = 250,
    v_th: float = 1.0,
    leak: float | None = None,
    backward_scale: str = "auto",
    seed: int = 0,
) -> SPIDENet:
    """Build a :class:`SPIDENet`.

    ``arch="fc"``: flatten -> Linear(hidden[0]) -> ... -> Linear(hidden[-1]), feedback Linear(hidden[-1] ->
    hidden[0]) (no bias). ``arch="conv"`` (the layout of the authors' CIFAR model): ``F_x`` conv3x3
    (in -> c0), ``F_1..F_4`` conv3x3 (c0 -> c1, c1 -> c2 stride 2, c2 -> c3, c3 -> c4), feedback ConvTranspose
    3x3 stride 2 (c4 -> c0, no bias), read-out Linear over c4 x H/2 x W/2. Weights: each output row
    uniform in [-1, 1] normalised to unit norm (the authors' default), biases 0.
    """
    g = torch.Generator().manual_seed(int(seed))
    shape = tuple(int(s) for s in input_shape)
    if arch == "fc":
        if not hidden:
            raise ParameterError("SPIDE 'hidden' needs at least one layer")
        inp: nn.Module = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), hidden[0]))
        layers = [nn.Linear(a, b) for a, b in zip(hidden[:-1], hidden[1:])]
        feedback: nn.Module = nn.Linear(hidden[-1], hidden[0], bias=False)
        out_features = hidden[-1]
    elif arch == "conv":
        if len(channels) != 5:
            raise ParameterError(f"SPIDE conv 'channels' needs 5 widths (c0..c4), got {tuple(channels)}")
        c0, c1, c2, c3, c4 = channels
        inp = nn.Conv2d(shape[0], c0, 3, 1, 1)
        layers = [
            nn.Conv2d(c0, c1, 3, 1, 1),
            nn.Conv2d(c1, c2, 3, 2, 1),
            nn.Conv2d(c2, c3, 3, 1, 1),
            nn.Conv2d(c3, c4, 3, 1, 1),
        ]
        feedback = nn.ConvTranspose2d(c4, c0, 3, 2, 1, output_padding=1, bias=False)
        out_features = c4 * ((shape[1] + 1) // 2) * ((shape[2] + 1) // 2)
    else:
        raise ParameterError(f"unknown SPIDE arch {arch!r}; known: conv, fc")
    for m in [*inp.modules(), *layers, feedback]:
        w = getattr(m, "weight", None)
        if isinstance(w, torch.Tensor) and w.ndim >= 2:
            with torch.no_grad():
                w.copy_(torch.rand(w.shape, generator=g) * 2 - 1)
                rows = w.transpose(0, 1) if isinstance(m, nn.ConvTranspose2d) else w
                rows /= rows.flatten(1).norm(dim=1).view(-1, *([1] * (rows.ndim - 1)))
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
    readout = nn.Linear(out_features, num_classes)
    return SPIDENet(
        input_layer=inp,
        layers=layers,
        feedback=feedback,
        readout=readout,
        steps=steps,
        steps_back=steps_back,
        v_th=v_th,
        leak=leak,
        backward_scale=backward_scale,
    )


#: Paper-scale settings (T = 30 forward, 250 backward, from the paper; the conv widths, optimiser and schedule
#: are assumed: the authors' configuration files were not read).
PAPER_PRESETS: dict[str, dict[str, Any]] = {
    "spide_cifar10": dict(
        model=dict(
            input_shape=(3, 32, 32),
            num_classes=10,
            arch="conv",
            channels=(128, 256, 256, 512, 256),
            steps=30,
            steps_back=250,
        ),
        dataset="cifar10",
        encoder="direct",
        T=1,
        optimizer="sgd",
        momentum=0.9,
        lr=0.05,
        epochs=100,
        batch_size=128,
        assumed=("channels", "optimizer", "lr", "epochs", "batch_size"),
    ),
    "spide_dvs_cifar10": dict(
        model=dict(
            input_shape=(2, 48, 48),
            num_classes=10,
            arch="conv",
            channels=(64, 128, 128, 256, 128),
            steps=30,
            steps_back=250,
        ),
        dataset="dvs_cifar10",
        encoder=None,
        T=30,
        optimizer="sgd",
        momentum=0.9,
        lr=0.05,
        epochs=100,
        batch_size=32,
        assumed=("channels", "input 48x48", "optimizer", "lr", "epochs", "batch_size"),
    ),
    "spide_synthetic": dict(
        model=dict(input_shape=(1, 8, 8), num_classes=10, arch="fc", hidden=(32, 16), steps=10, steps_back=20),
        dataset="digits",
        encoder="direct",
        T=1,
        optimizer="adam",
        lr=1e-3,
        epochs=1,
        batch_size=32,
    ),
}
