r"""EICIL, as biosnn reads it: excitatory-inhibitory neurons and cycle iteration learning.

.. important::

   EICIL ("joint excitatory-inhibitory cycle iteration learning", NeurIPS 2023) describes neurons that
   integrate excitatory and inhibitory behaviour, trained by cycling between the two, on CIFAR10/100. Its
   equations are **not public** (the one related public repository implements none of its claims). What
   follows is **biosnn's reading**, not the paper's method: every choice below is a setting, and results
   obtained with it are results of this reading.

Excitatory-inhibitory (EI) neuron
---------------------------------
One membrane, two thresholds: an excitatory threshold :math:`\theta_E > 0` and an inhibitory threshold
:math:`\theta_I > 0`, both learnable scalars per layer (initialised to 1 and 1), and a ternary output:

.. math::

    h_t &= \beta\,u_{t-1} + x_t \\
    s_t &= H(h_t - \theta_E) - H(-h_t - \theta_I) \in \{-1, 0, 1\} \\
    u_t &= h_t - \theta_E\,[s_t = 1] + \theta_I\,[s_t = -1]

(:math:`\beta = 1`: IF; the spike is :math:`h \ge \theta_E`, the inhibitory spike :math:`h \le -\theta_I`;
reset by subtraction towards 0 from either side). The next layer receives the signed spikes, so an
inhibitory spike subtracts what an excitatory one adds. The backward pass uses the rectangular surrogate of
half-width :math:`a` (0.5) at each threshold:
:math:`\partial s/\partial h = (\mathbb{1}[|h - \theta_E| < a] + \mathbb{1}[|h + \theta_I| < a])/(2a)`,
:math:`\partial s/\partial \theta_E = -\mathbb{1}[|h - \theta_E| < a]/(2a)`,
:math:`\partial s/\partial \theta_I = \mathbb{1}[|h + \theta_I| < a]/(2a)`; the reset's spikes carry the
surrogate too. With ``inhibitory=False`` the neuron is the plain IF/LIF neuron (the ablation).

Cycle iteration learning
------------------------
Training alternates between an *excitatory* phase and an *inhibitory* phase, ``cycle`` optimiser steps
each (:class:`EICILCycle`). In the excitatory phase the excitatory thresholds :math:`\theta_E` learn and the
inhibitory thresholds are frozen; in the inhibitory phase the reverse. The weights learn in both phases
(``weights="both"``, default), or (``weights="by_sign"``) only their positive entries in the excitatory
phase and their non-positive entries in the inhibitory phase (a synapse's sign at the step decides its
population); biases, batch norm and the read-out learn in both. Frozen entries are restored exactly after
each optimiser step, so momentum and weight decay cannot move them.

Network
-------
:class:`EICILNet`: ``arch="mlp"`` (Linear -> BN -> EI neuron per hidden size) or ``arch="vgg11"`` (VGG11
configuration A with BN after each conv, EI neurons, average pooling; CIFAR width 64-128-256-256-512-
512-512-512), then a Linear read-out per time step; the output ``[T, B, C]`` is read as its time mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from biosnn.errors import ParameterError, ShapeError

__all__ = [
    "ei_step",
    "ei_sequence",
    "EINeuron",
    "EICILNet",
    "EICILCycle",
    "build_eicil",
    "eicil_train_loss",
    "PAPER_PRESETS",
]


class _Geq(torch.autograd.Function):
    """``v >= 0`` forward (the EI neuron fires at threshold), rectangular surrogate backward."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, half_width: float) -> torch.Tensor:
        ctx.save_for_backward(v)
        ctx.half_width = half_width
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (v,) = ctx.saved_tensors
        a = ctx.half_width
        return grad_output * (v.abs() < a).to(v.dtype) / (2.0 * a), None


def ei_step(
    u: torch.Tensor,
    x: torch.Tensor,
    theta_e: torch.Tensor | float,
    theta_i: torch.Tensor | float,
    *,
    beta: float = 1.0,
    half_width: float = 0.5,
    inhibitory: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One step of the EI neuron (module docstring). Returns ``(u_t, s_t)`` with :math:`s_t \in \{-1, 0, 1\}`
    (``inhibitory=False``: :math:`\{0, 1\}`).
    """
    h = beta * u + x
    pos = _Geq.apply(h - theta_e, float(half_width))
    if inhibitory:
        neg = _Geq.apply(-h - theta_i, float(half_width))
        return h - theta_e * pos + theta_i * neg, pos - neg
    return h - theta_e * pos, pos


def ei_sequence(
    x: torch.Tensor,
    theta_e: torch.Tensor | float,
    theta_i: torch.Tensor | float,
    *,
    beta: float = 1.0,
    half_width: float = 0.5,
    inhibitory: bool = True,
) -> torch.Tensor:
    """Ternary spikes ``[T, ...]`` of EI neurons for inputs ``[T, ...]`` (zero initial membrane)."""
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        raise ShapeError("ei_sequence needs a time-major tensor [T, ...]")
    if not (0.0 < beta <= 1.0):
        raise ParameterError(f"EI neuron 'beta' must be in (0, 1], got {beta!r}")
    u = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        u, s = ei_step(u, x[t], theta_e, theta_i, beta=beta, half_width=half_width, inhibitory=inhibitory)
        out.append(s)
    return torch.stack(out)


class EINeuron(nn.Module):
    """EI neurons on ``[T, B, ...]`` with learnable thresholds ``theta_e`` and ``theta_i`` (scalars)."""

    def __init__(
        self,
        *,
        theta_e: float = 1.0,
        theta_i: float = 1.0,
        beta: float = 1.0,
        half_width: float = 0.5,
        inhibitory: bool = True,
        min_threshold: float = 0.05,
    ) -> None:
        super().__init__()
        if theta_e <= 0 or theta_i <= 0:
            raise ParameterError(f"EI thresholds must be positive, got theta_e={theta_e!r}, theta_i={theta_i!r}")
        self.theta_e = nn.Parameter(torch.tensor(float(theta_e)))
        self.theta_i = nn.Parameter(torch.tensor(float(theta_i)))
        self.beta, self.half_width, self.inhibitory = float(beta), float(half_width), bool(inhibitory)
        self.min_threshold = float(min_threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        te = self.theta_e.clamp(min=self.min_threshold)
        ti = self.theta_i.clamp(min=self.min_threshold)
        return ei_sequence(x, te, ti, beta=self.beta, half_width=self.half_width, inhibitory=self.inhibitory)

    def extra_repr(self) -> str:
        return (
            f"theta_e={float(self.theta_e):.4g}, theta_i={float(self.theta_i):.4g}, beta={self.beta:g}, "
            f"inhibitory={self.inhibitory}"
        )


class _Folded(nn.Module):
    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.module(x.flatten(0, 1))
        return y.view(x.shape[0], x.shape[1], *y.shape[1:])


_VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class EICILNet(nn.Module):
    """An EICIL classifier (biosnn's reading): EI-neuron MLP or VGG11, Linear read-out per time step.

    Input ``[T, B, *input_shape]``; output ``[T, B, classes]``.
    """

    def __init__(
        self,
        *,
        input_shape: Sequence[int] = (1, 8, 8),
        num_classes: int = 10,
        arch: str = "mlp",
        hidden: Sequence[int] = (256,),
        width: float = 1.0,
        theta_e: float = 1.0,
        theta_i: float = 1.0,
        beta: float = 1.0,
        half_width: float = 0.5,
        inhibitory: bool = True,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        neuron = dict(theta_e=theta_e, theta_i=theta_i, beta=beta, half_width=half_width, inhibitory=inhibitory)
        layers: list[nn.Module] = []
        if arch == "mlp":
            layers.append(_Folded(nn.Flatten()))
            c = math.prod(self.input_shape)
            for h in hidden:
                layers += [_Folded(nn.Linear(c, h, bias=False)), _Folded(nn.BatchNorm1d(h)), EINeuron(**neuron)]
                c = h
        elif arch == "vgg11":
            c = self.input_shape[0]
            for v in _VGG11:
                if v == "M":
                    layers.append(_Folded(nn.AvgPool2d(2, ceil_mode=True)))
                else:
                    w = max(1, int(round(v * width)))
                    layers += [
                        _Folded(nn.Conv2d(c, w, 3, padding=1, bias=False)),
                        _Folded(nn.BatchNorm2d(w)),
                        EINeuron(**neuron),
                    ]
                    c = w
            layers += [_Folded(nn.AdaptiveAvgPool2d(1)), _Folded(nn.Flatten())]
        else:
            raise ParameterError(f"unknown EICIL arch {arch!r}; known: mlp, vgg11")
        self.features = nn.Sequential(*layers)
        self.readout = _Folded(nn.Linear(c, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 2 + len(self.input_shape):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ShapeError(f"EICILNet expects [T, B, {', '.join(map(str, self.input_shape))}], got {got}")
        return self.readout(self.features(x))


class EICILCycle:
    """Cycle iteration learning: alternate excitatory and inhibitory phases of ``cycle`` optimiser steps.

    Use :meth:`step` in place of ``optimizer.step()``.

    Parameters
    ----------
    model
        A model with :class:`EINeuron` layers.
    optimizer
        Any ``torch.optim`` optimiser over the model's parameters.
    cycle
        Optimiser steps per phase.
    weights
        ``"both"`` (weights learn in both phases) or ``"by_sign"`` (positive entries in the excitatory
        phase, non-positive entries in the inhibitory phase).
    first
        The phase that starts (``"excitatory"``).
    """

    PHASES = ("excitatory", "inhibitory")

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        cycle: int = 50,
        weights: str = "both",
        first: str = "excitatory",
    ) -> None:
        if isinstance(cycle, bool) or not isinstance(cycle, int) or cycle < 1:
            raise ParameterError(f"EICIL 'cycle' must be a positive integer, got {cycle!r}")
        if weights not in ("both", "by_sign"):
            raise ParameterError(f"EICIL 'weights' must be 'both' or 'by_sign', got {weights!r}")
        if first not in self.PHASES:
            raise ParameterError(f"EICIL 'first' must be one of {self.PHASES}, got {first!r}")
        self.model, self.optimizer = model, optimizer
        self.cycle, self.weights, self.first = cycle, weights, first
        self.iteration = 0
        neurons = [m for m in model.modules() if isinstance(m, EINeuron)]
        self._theta = {"excitatory": [n.theta_e for n in neurons], "inhibitory": [n.theta_i for n in neurons]}
        skip = {id(p) for ps in self._theta.values() for p in ps}
        self._weights = [
            m.weight
            for m in model.modules()
            if isinstance(m, (nn.Linear, nn.Conv2d))
            and id(m.weight) not in skip
            and m.weight.ndim >= 2
            and not any(m is r for r in getattr(model, "readout", nn.Module()).modules())
        ]

    def phase(self, iteration: int | None = None) -> str:
        """The phase of ``iteration`` (default: the next step)."""
        i = self.iteration if iteration is None else iteration
        k = (i // self.cycle) % 2
        return self.first if k == 0 else self.PHASES[1 - self.PHASES.index(self.first)]

    def step(self) -> str:
        """One optimiser step of the current phase; returns the phase. Frozen entries are restored."""
        phase = self.phase()
        other = self.PHASES[1 - self.PHASES.index(phase)]
        frozen = [(p, None) for p in self._theta[other]]
        if self.weights == "by_sign":
            for w in self._weights:
                keep = (w.detach() > 0) if phase == "excitatory" else (w.detach() <= 0)
                frozen.append((w, ~keep))
        saved = [(p, p.detach().clone(), mask) for p, mask in frozen]
        self.optimizer.step()
        with torch.no_grad():
            for p, old, mask in saved:
                if mask is None:
                    p.copy_(old)
                else:
                    p[mask] = old[mask]
        self.iteration += 1
        return phase


def eicil_train_loss(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the time-mean read-out. Returns ``(loss, output)``."""
    out = model(x)
    return F.cross_entropy(out.mean(0), target), out


def build_eicil(
    *,
    input_shape: Sequence[int] = (1, 8, 8),
    num_classes: int = 10,
    arch: str = "mlp",
    hidden: Sequence[int] = (256,),
    width: float = 1.0,
    theta_e: float = 1.0,
    theta_i: float = 1.0,
    beta: float = 1.0,
    inhibitory: bool = True,
) -> EICILNet:
    """Build an :class:`EICILNet` (biosnn's reading of EICIL; see the module docstring)."""
    return EICILNet(
        input_shape=input_shape,
        num_classes=num_classes,
        arch=arch,
        hidden=hidden,
        width=width,
        theta_e=theta_e,
        theta_i=theta_i,
        beta=beta,
        inhibitory=inhibitory,
    )


#: Paper-scale settings of biosnn's reading (the paper's own hyper-parameters are not public: all assumed).
PAPER_PRESETS: dict[str, dict[str, Any]] = {
    "eicil_cifar10": dict(
        model=dict(input_shape=(3, 32, 32), num_classes=10, arch="vgg11"),
        dataset="cifar10",
        encoder="direct",
        T=4,
        optimizer="sgd",
        momentum=0.9,
        lr=0.1,
        epochs=200,
        batch_size=64,
        cycle=dict(cycle=390, weights="both"),
        assumed=("everything: the paper's setup is not public",),
    ),
    "eicil_cifar100": dict(
        model=dict(input_shape=(3, 32, 32), num_classes=100, arch="vgg11"),
        dataset="cifar100",
        encoder="direct",
        T=4,
        optimizer="sgd",
        momentum=0.9,
        lr=0.1,
        epochs=200,
        batch_size=64,
        cycle=dict(cycle=390, weights="both"),
        assumed=("everything",),
    ),
    "eicil_synthetic": dict(
        model=dict(input_shape=(1, 8, 8), num_classes=10, arch="mlp", hidden=(64,)),
        dataset="digits",
        encoder="direct",
        T=2,
        optimizer="adam",
        lr=1e-3,
        epochs=1,
        batch_size=32,
        cycle=dict(cycle=5, weights="both"),
    ),
}
