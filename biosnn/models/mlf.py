r"""Multi-level firing (MLF) neurons and the spiking DS-ResNet (Feng et al., IJCAI 2022).

Time-major tensors ``[T, B, ...]`` throughout; pure functions (:func:`mlf_step`, :func:`mlf_sequence`,
:func:`td_batch_norm`) hold the equations, the modules wrap them.

MLF neuron
----------
:math:`K` compartments receive the same input :math:`x_t`; compartment :math:`k` has threshold
:math:`V_{th,k}` (0.6, 1.6, 2.6 for :math:`K = 3`, i.e. :math:`V_{th,k} = V_{th,1} + (k-1)a`):

.. math::

    u_{k,t} &= \tau\, u_{k,t-1} (1 - o_{k,t-1}) + x_t, \qquad \tau = 0.25 \\
    o_{k,t} &= H(u_{k,t} - V_{th,k}) \quad (\text{strict}: u > V_{th,k}) \\
    o_t &= \textstyle\sum_k o_{k,t} \in \{0, \dots, K\}

with the rectangular surrogate of width :math:`a = 1` per level,
:math:`\partial o_{k}/\partial u_{k} = \mathbb{1}[|u_k - V_{th,k}| < a/2] / a` (the authors' code). The
reset's spike carries the surrogate too.

tdBN
----
Threshold-dependent batch normalisation (Zheng et al. 2021) as in the authors' code, statistics over batch
x time (x space for convolutions), biased variance, with :math:`\epsilon` added to the standard deviation:

.. math:: y = \gamma\,\frac{\alpha V_{th} (x - \mu)}{\sqrt{\sigma^2} + \epsilon} + \beta

with :math:`V_{th} = 0.6` and :math:`\alpha = 1`. Running statistics are kept as ``nn.BatchNorm2d`` does
(unbiased variance in the running estimate) and used in evaluation mode.

Spiking DS-ResNet
-----------------
The DS ("dimension-sequential"?, the paper's "modified") block moves the neuron before the addition:
``out = MLF(tdBN2(conv2(MLF(tdBN1(conv1(x)))))) + shortcut(x)``, with shortcut the identity, or
conv1x1(stride) -> tdBN -> MLF when the shape changes, so every block outputs a sum of spike counts. The
network: conv3x3(64) -> tdBN -> MLF, three stages of widths 64, 128, 256 (strides 1, 2, 2) with
``blocks`` blocks each (ResNet-20: 3, 3, 3; ResNet-14: 2, 2, 2), global average pool, Linear; the output
``[T, B, C]`` is read as its mean over time (``membrane_ce``). ``ds=False`` gives the plain spiking
ResNet (addition before the last neuron) for comparison; ``levels=1`` is MLF's ablation (a single
compartment, LIF with threshold 0.6).
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
    "level_spike",
    "mlf_step",
    "mlf_sequence",
    "td_batch_norm",
    "MLF",
    "TdBN",
    "DSBlock",
    "SpikingDSResNet",
    "build_mlf_dsresnet",
    "PAPER_PRESETS",
]

DEFAULT_THRESHOLDS = (0.6, 1.6, 2.6)


class _LevelSpike(torch.autograd.Function):
    """``u > th`` forward; ``1[|u - th| < a/2] / a`` backward."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, threshold: float, width: float) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.threshold, ctx.width = threshold, width
        return (u > threshold).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (u,) = ctx.saved_tensors
        a = ctx.width
        return grad_output * ((u - ctx.threshold).abs() < a / 2).to(u.dtype) / a, None, None


def level_spike(u: torch.Tensor, threshold: float, width: float = 1.0) -> torch.Tensor:
    r"""One MLF level: :math:`H(u - V_{th,k})`, gradient :math:`\mathbb{1}[|u - V_{th,k}| < a/2]/a`."""
    return _LevelSpike.apply(u, float(threshold), float(width))


def _check_thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    th = tuple(float(t) for t in thresholds)
    if not th or any(not math.isfinite(t) for t in th) or any(b <= a for a, b in zip(th, th[1:])):
        raise ParameterError(f"MLF thresholds must be a non-empty increasing sequence, got {tuple(thresholds)!r}")
    return th


def mlf_step(
    u: torch.Tensor,
    o: torch.Tensor,
    x: torch.Tensor,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    tau: float = 0.25,
    width: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One step of the MLF neuron.

    Parameters
    ----------
    u, o
        Membranes and spikes of the previous step, shape ``[K, ...]`` (one slice per compartment).
    x
        Input :math:`x_t` ``[...]``, shared by the compartments.
    thresholds
        :math:`V_{th,k}`, increasing (``len == K``).
    tau
        Decay (0.25).
    width
        Surrogate width :math:`a` (1).

    Returns
    -------
    (u_t, o_t)
        Both ``[K, ...]``; the neuron's output is ``o_t.sum(0)``.
    """
    u = tau * u * (1.0 - o) + x.unsqueeze(0)
    o = torch.stack([level_spike(u[k], th, width) for k, th in enumerate(thresholds)])
    return u, o


def mlf_sequence(
    x: torch.Tensor, *, thresholds: Sequence[float] = DEFAULT_THRESHOLDS, tau: float = 0.25, width: float = 1.0
) -> torch.Tensor:
    r"""Outputs :math:`\\sum_k o_{k,t}` ``[T, ...]`` of MLF neurons for inputs ``[T, ...]`` (zero state)."""
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        raise ShapeError("mlf_sequence needs a time-major tensor [T, ...]")
    th = _check_thresholds(thresholds)
    u = torch.zeros((len(th),) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
    o = torch.zeros_like(u)
    out = []
    for t in range(x.shape[0]):
        u, o = mlf_step(u, o, x[t], thresholds=th, tau=tau, width=width)
        out.append(o.sum(0))
    return torch.stack(out)


def td_batch_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    *,
    alpha: float = 1.0,
    v_th: float = 0.6,
    eps: float = 1e-5,
    mean: torch.Tensor | None = None,
    var: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""TdBN of ``x`` ``[T, B, C, ...]`` over every dimension but ``C``.

    .. math:: y = \gamma\,\alpha V_{th}(x - \mu)/(\sqrt{\sigma^2} + \epsilon) + \beta

    With ``mean``/``var`` given (evaluation), they replace the batch statistics. Returns ``(y, mu, var)``
    (the biased batch variance).
    """
    if x.ndim < 3:
        raise ShapeError(f"tdBN expects [T, B, C, ...], got shape {tuple(x.shape)}")
    dims = [d for d in range(x.ndim) if d != 2]
    shape = [1, 1, x.shape[2]] + [1] * (x.ndim - 3)
    if mean is None:
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
    y = alpha * v_th * (x - mean.view(shape)) / (torch.sqrt(var.view(shape)) + eps)
    if weight is not None:
        y = y * weight.view(shape) + bias.view(shape)
    return y, mean, var


class TdBN(nn.BatchNorm2d):
    """tdBN (:func:`td_batch_norm`) on ``[T, B, C, ...]``; parameters and running statistics of
    ``nn.BatchNorm2d``.
    """

    def __init__(
        self, channels: int, *, alpha: float = 1.0, v_th: float = 0.6, eps: float = 1e-5, momentum: float = 0.1
    ) -> None:
        super().__init__(channels, eps=eps, momentum=momentum)
        self.alpha, self.v_th = float(alpha), float(v_th)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self.training:
            y, mean, var = td_batch_norm(x, self.weight, self.bias, alpha=self.alpha, v_th=self.v_th, eps=self.eps)
            with torch.no_grad():
                n = x.numel() / x.shape[2]
                m = self.momentum
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * var * n / max(n - 1, 1))
                self.num_batches_tracked += 1
            return y
        return td_batch_norm(
            x,
            self.weight,
            self.bias,
            alpha=self.alpha,
            v_th=self.v_th,
            eps=self.eps,
            mean=self.running_mean,
            var=self.running_var,
        )[0]


class MLF(nn.Module):
    """MLF neurons on ``[T, B, ...]`` (:func:`mlf_sequence`). ``levels`` takes the first ``levels`` of
    ``V_th,1 + k * width`` (0.6, 1.6, 2.6, ...).
    """

    def __init__(self, *, levels: int = 3, v_th: float = 0.6, width: float = 1.0, tau: float = 0.25) -> None:
        super().__init__()
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ParameterError(f"MLF 'levels' must be a positive integer, got {levels!r}")
        self.thresholds = tuple(v_th + k * width for k in range(levels))
        self.tau, self.width = float(tau), float(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mlf_sequence(x, thresholds=self.thresholds, tau=self.tau, width=self.width)

    def extra_repr(self) -> str:
        return f"thresholds={self.thresholds}, tau={self.tau:g}, width={self.width:g}"


class _Conv(nn.Conv2d):
    """A Conv2d on ``[T, B, C, H, W]`` (time folded into the batch)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = super().forward(x.flatten(0, 1))
        return y.view(x.shape[0], x.shape[1], *y.shape[1:])


class DSBlock(nn.Module):
    """The DS block: ``MLF(BN2(conv2(MLF(BN1(conv1 x))))) + shortcut(x)`` (``ds=False``: the plain
    spiking ResNet block, ``MLF(BN2(conv2(...)) + shortcut(x))``).
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, *, ds: bool = True, neuron: dict | None = None) -> None:
        super().__init__()
        neuron = neuron or {}
        self.ds = ds
        self.conv1 = _Conv(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = TdBN(cout)
        self.mlf1 = MLF(**neuron)
        self.conv2 = _Conv(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = TdBN(cout)
        self.mlf2 = MLF(**neuron)
        if stride != 1 or cin != cout:
            parts: list[nn.Module] = [_Conv(cin, cout, 1, stride, bias=False), TdBN(cout)]
            if ds:
                parts.append(MLF(**neuron))
            self.shortcut: nn.Module = nn.Sequential(*parts)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.mlf1(self.bn1(self.conv1(x)))))
        if self.ds:
            return self.mlf2(out) + self.shortcut(x)
        return self.mlf2(out + self.shortcut(x))


class SpikingDSResNet(nn.Module):
    """Spiking DS-ResNet with MLF neurons on ``[T, B, C, H, W]``; output ``[T, B, classes]``.

    Parameters
    ----------
    in_channels, num_classes
        Input channels (3 for CIFAR, 2 for DVS frames) and classes.
    blocks
        Blocks per stage (ResNet-20: (3, 3, 3); ResNet-14: (2, 2, 2)).
    widths
        Stage widths (64, 128, 256); the stem has ``widths[0]`` channels.
    levels
        MLF compartments K (3; 1 is the single-level ablation).
    ds
        DS blocks (``True``) or the plain spiking ResNet block.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        blocks: Sequence[int] = (3, 3, 3),
        widths: Sequence[int] = (64, 128, 256),
        levels: int = 3,
        v_th: float = 0.6,
        width: float = 1.0,
        tau: float = 0.25,
        ds: bool = True,
    ) -> None:
        super().__init__()
        if len(blocks) != len(widths) or not blocks:
            raise ParameterError(f"'blocks' {tuple(blocks)} and 'widths' {tuple(widths)} must have the same length")
        neuron = dict(levels=levels, v_th=v_th, width=width, tau=tau)
        self.stem = nn.Sequential(_Conv(in_channels, widths[0], 3, 1, 1, bias=False), TdBN(widths[0]), MLF(**neuron))
        layers: list[nn.Module] = []
        c = widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths)):
            for j in range(n):
                layers.append(DSBlock(c, w, 2 if (i > 0 and j == 0) else 1, ds=ds, neuron=neuron))
                c = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 5:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ShapeError(f"SpikingDSResNet expects [T, B, C, H, W], got {got}")
        h = self.layers(self.stem(x))
        h = h.mean((3, 4))
        return self.fc(h)


def mlf_train_loss(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the time-mean output (the authors' read-out). Returns ``(loss, output)``."""
    out = model(x)
    return F.cross_entropy(out.mean(0), target), out


def build_mlf_dsresnet(
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    blocks: Sequence[int] = (3, 3, 3),
    widths: Sequence[int] = (64, 128, 256),
    levels: int = 3,
    v_th: float = 0.6,
    width: float = 1.0,
    tau: float = 0.25,
    ds: bool = True,
) -> SpikingDSResNet:
    """Build a :class:`SpikingDSResNet` (defaults: the paper's ResNet-20 at 64/128/256, K = 3)."""
    return SpikingDSResNet(
        in_channels=in_channels,
        num_classes=num_classes,
        blocks=blocks,
        widths=widths,
        levels=levels,
        v_th=v_th,
        width=width,
        tau=tau,
        ds=ds,
    )


#: Paper-scale settings (network from the authors' public code; optimiser settings assumed where marked).
PAPER_PRESETS: dict[str, dict[str, Any]] = {
    "mlf_dsresnet_cifar10": dict(
        model=dict(in_channels=3, num_classes=10, blocks=(3, 3, 3), widths=(64, 128, 256), levels=3),
        dataset="cifar10",
        encoder="direct",
        T=4,
        optimizer="sgd",
        momentum=0.9,
        lr=0.1,
        epochs=200,
        batch_size=64,
        assumed=("T", "lr", "epochs", "batch_size"),
    ),
    "mlf_dsresnet_dvs_cifar10": dict(
        model=dict(in_channels=2, num_classes=10, blocks=(2, 2, 2), widths=(64, 128, 256), levels=3),
        dataset="dvs_cifar10",
        encoder=None,
        T=10,
        optimizer="sgd",
        momentum=0.9,
        lr=0.1,
        epochs=200,
        batch_size=32,
        assumed=("ResNet-14 for DVS", "input size 48", "lr", "epochs", "batch_size"),
    ),
    "mlf_dsresnet_synthetic": dict(
        model=dict(in_channels=1, num_classes=10, blocks=(1, 1), widths=(8, 16)),
        dataset="digits",
        encoder="direct",
        T=2,
        optimizer="adam",
        lr=1e-3,
        epochs=1,
        batch_size=32,
    ),
}
