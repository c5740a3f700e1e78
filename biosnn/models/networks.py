r"""Deep spiking networks as plain PyTorch modules: a spiking MLP, Spiking VGG11 and a spiking ResNet.

Every network takes time-major input ``[T, B, *input_shape]`` (an encoded image, see
:mod:`biosnn.data.encoders`, or event frames) and returns the output layer's spikes ``[T, B, num_classes]``,
with ``return_membrane=True`` also the output neurons' membrane ``[T, B, num_classes]``; the read-out loss
(on spike counts or membrane) belongs to the trainer. Every weight layer is a
:class:`~biosnn.models.layers.MaskedLinear` or :class:`~biosnn.models.layers.MaskedConv2d`, so connectivity
can be pruned per synapse (EIHL) and measured with :func:`~biosnn.models.layers.sparsity`.

Convolutions, batch normalisation and pooling act on all time steps at once (time folded into the batch,
as in tdBN, Zheng et al. 2021); the neurons (:mod:`biosnn.models.neurons`) then run their recursion over
time. Pooling uses ``ceil_mode=True``, so small inputs (tests, 8x8 digits) never shrink below 1x1.

Dale's law (``dale=True``): every hidden population has its first ``excitatory_fraction`` channels
excitatory and the rest inhibitory; every layer that reads a hidden population uses fixed signs per input
channel (see :mod:`biosnn.models.layers`). The first layer reads the input (pixels, events), which is not a
neuron population, and stays unconstrained. Batch normalisation acts on the postsynaptic sums (a gain and an
offset per neuron) and does not change which presynaptic channels are excitatory. In the ResNet, an identity
shortcut becomes a signed identity (weight +1 from excitatory, -1 from inhibitory channels).

EIHL's Spiking VGG11 (Jiang et al., ICLR 2024) uses IF neurons; the paper's method section is not
available, so the layout here is the standard VGG11 ("configuration A", Simonyan & Zisserman 2015) with
batch norm after each convolution, average pooling after the spiking layer and an adaptive average pool
before the classifier; see :data:`PAPER_SETUPS` for the input shapes and time steps assumed.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from biosnn.errors import ParameterError, ShapeError
from biosnn.models.layers import MaskedConv2d, MaskedLinear, excitatory_count
from biosnn.models.neurons import LIF, NEURONS
from biosnn.registry import Registry
from biosnn.surrogate import Surrogate
from biosnn.units import check_range

__all__ = [
    "CompetitiveLIF",
    "competitive_mlp",
    "make_neuron",
    "SpikingMLP",
    "SpikingVGG11",
    "SpikingResNet",
    "VGG11_LAYOUT",
    "RESNET_ARCHS",
    "ResNetArch",
    "POOLS",
    "PaperSetup",
    "PAPER_SETUPS",
]


# ---------------------------------------------------------------------------------------------- helpers
def make_neuron(
    neuron: str,
    *,
    beta: float | None = None,
    tau: Any = None,
    dt: Any = None,
    threshold: float = 1.0,
    reset: str = "subtract",
    detach_reset: bool = False,
    surrogate: Surrogate | str | None = None,
) -> LIF:
    """Build a neuron module from :data:`~biosnn.models.neurons.NEURONS` by name (``"lif"`` or ``"if"``).

    ``beta`` / ``tau`` and ``dt`` set the LIF leak; giving them to a neuron without leak (``"if"``) raises
    :class:`~biosnn.errors.ParameterError`.
    """
    cls = NEURONS[neuron]
    decay = {k: v for k, v in (("beta", beta), ("tau", tau), ("dt", dt)) if v is not None}
    accepted = inspect.signature(cls).parameters
    unused = sorted(k for k in decay if k not in accepted)
    if unused:
        raise ParameterError(f"neuron {neuron!r} has no leak: do not pass {', '.join(unused)} (use neuron='lif')")
    return cls(threshold=threshold, reset=reset, detach_reset=detach_reset, surrogate=surrogate, **decay)


def _neuron_settings(neuron, beta, tau, dt, threshold, reset, detach_reset, surrogate) -> dict[str, Any]:
    settings = dict(
        beta=beta, tau=tau, dt=dt, threshold=threshold, reset=reset, detach_reset=detach_reset, surrogate=surrogate
    )
    make_neuron(neuron, **settings)  # validate once, before any layer is built
    return settings


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def _check_width(width: float) -> float:
    return check_range("width", width, low=0.0, low_inclusive=False)


def _check_input(x: torch.Tensor, ndim: int, what: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != ndim:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ShapeError(f"{what} expects time-major input of {ndim} dimensions, got {got}")


class _TimeFolded(nn.Module):
    """Apply a per-sample module to ``[T, B, ...]`` by folding time into the batch."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.module(x.flatten(0, 1))
        return y.view(x.shape[0], x.shape[1], *y.shape[1:])


POOLS: Registry[type[nn.Module]] = Registry("pooling")
POOLS.register("avg", nn.AvgPool2d)
POOLS.register("max", nn.MaxPool2d)


class _Readout(nn.Module):
    """Output layer: masked linear weights then spiking neurons; returns spikes (and membrane)."""

    def __init__(self, fc: MaskedLinear, neuron: LIF) -> None:
        super().__init__()
        self.fc = fc
        self.neuron = neuron

    def forward(self, x: torch.Tensor, return_membrane: bool):
        return self.neuron(self.fc(x), return_membrane=return_membrane)


# ------------------------------------------------------------------------------------------------- MLP
class SpikingMLP(nn.Module):
    r"""Fully connected spiking network: ``MaskedLinear -> neurons`` for every pair of ``sizes``.

    Parameters
    ----------
    sizes
        Layer widths, input first, classes last (``(784, 500, 10)``).
    neuron
        ``"lif"`` or ``"if"`` (:data:`~biosnn.models.neurons.NEURONS`).
    beta, tau, dt, threshold, reset, detach_reset, surrogate
        Neuron settings (see :class:`~biosnn.models.neurons.LIF`); the same for every layer.
    bias
        Whether the linear layers have biases.
    dale, excitatory_fraction
        Dale's law on every layer after the first (see the module docstring).

    Input ``[T, B, *shape]`` with ``prod(shape) == sizes[0]``; output spikes ``[T, B, sizes[-1]]``.
    The linear layers act on all ``T`` steps in one matrix product before each neuron's time loop.
    """

    def __init__(
        self,
        sizes: Sequence[int] = (784, 500, 10),
        neuron: str = "lif",
        *,
        beta: float | None = None,
        tau: Any = None,
        dt: Any = None,
        threshold: float = 1.0,
        reset: str = "subtract",
        detach_reset: bool = False,
        surrogate: Surrogate | str | None = None,
        bias: bool = True,
        dale: bool = False,
        excitatory_fraction: float = 0.8,
    ) -> None:
        super().__init__()
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ParameterError(f"sizes must list at least two positive layer widths, got {sizes}")
        settings = _neuron_settings(neuron, beta, tau, dt, threshold, reset, detach_reset, surrogate)
        self.sizes = sizes
        self.neuron_type = neuron
        self.layers = nn.ModuleList(
            MaskedLinear(n_in, n_out, bias=bias, dale=dale and i > 0, excitatory_fraction=excitatory_fraction)
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))
        )
        self.neurons = nn.ModuleList(make_neuron(neuron, **settings) for _ in sizes[1:])

    def forward(
        self, x: torch.Tensor, *, return_membrane: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(x, torch.Tensor) or x.ndim < 3:
            raise ShapeError("SpikingMLP expects time-major input [T, B, features...]")
        if x.ndim > 3:
            x = x.flatten(2)
        if x.shape[-1] != self.sizes[0]:
            raise ShapeError(f"SpikingMLP expects {self.sizes[0]} input features, got {x.shape[-1]}")
        for fc, neuron in zip(self.layers[:-1], self.neurons[:-1]):
            x = neuron(fc(x))
        return self.neurons[-1](self.layers[-1](x), return_membrane=return_membrane)


# ----------------------------------------------------------------------------------------------- VGG11
VGG11_LAYOUT: tuple[int | str, ...] = (64, "P", 128, "P", 256, 256, "P", 512, 512, "P", 512, 512, "P")
"""VGG11 configuration A: channel counts of the 8 convolutions, ``"P"`` for a 2x2 pooling."""


class _ConvBlock(nn.Module):
    """``MaskedConv2d(3x3) -> BatchNorm -> neurons`` on ``[T, B, C, H, W]``."""

    def __init__(self, c_in, c_out, neuron_module, *, stride, batch_norm, dale_in, excitatory_fraction):
        super().__init__()
        self.conv = MaskedConv2d(
            c_in,
            c_out,
            3,
            stride=stride,
            padding=1,
            bias=not batch_norm,
            dale=dale_in,
            excitatory_fraction=excitatory_fraction,
        )
        self.bn = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        self.neuron = neuron_module

    def currents(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x.flatten(0, 1)))
        return y.view(x.shape[0], x.shape[1], *y.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neuron(self.currents(x))


class SpikingVGG11(nn.Module):
    r"""Spiking VGG11 (the EIHL paper's network) with IF neurons by default.

    Eight ``MaskedConv2d(3x3) -> BatchNorm -> neurons`` blocks with five 2x2 poolings (configuration A),
    an adaptive average pool to 1x1, optional hidden spiking linear layers ``classifier``, and a spiking
    output layer of ``num_classes`` neurons.

    Parameters
    ----------
    in_channels
        Input channels (3 for CIFAR, 2 polarities for DVS-CIFAR10).
    num_classes
        Output neurons.
    neuron
        ``"if"`` (EIHL, STBP) or ``"lif"``.
    width
        Multiplier on every channel count (``width=0.125`` gives 8 ... 64 channels, for CPU tests).
    batch_norm
        Batch norm after each convolution (time folded into the batch, tdBN style).
    pool
        ``"avg"`` or ``"max"`` (:data:`POOLS`).
    classifier
        Widths of hidden spiking linear layers between the pooled features and the output layer.
    beta, tau, dt, threshold, reset, detach_reset, surrogate
        Neuron settings, shared by all layers.
    dale, excitatory_fraction
        Dale's law on every layer that reads a hidden population.

    Input ``[T, B, in_channels, H, W]``; output spikes ``[T, B, num_classes]``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        neuron: str = "if",
        *,
        width: float = 1.0,
        batch_norm: bool = True,
        pool: str = "avg",
        classifier: Sequence[int] = (),
        beta: float | None = None,
        tau: Any = None,
        dt: Any = None,
        threshold: float = 1.0,
        reset: str = "subtract",
        detach_reset: bool = False,
        surrogate: Surrogate | str | None = None,
        dale: bool = False,
        excitatory_fraction: float = 0.8,
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ParameterError(f"in_channels and num_classes must be positive, got {in_channels}, {num_classes}")
        width = _check_width(width)
        pool_cls = POOLS[pool]
        settings = _neuron_settings(neuron, beta, tau, dt, threshold, reset, detach_reset, surrogate)
        self.in_channels, self.num_classes, self.neuron_type = in_channels, num_classes, neuron
        features: list[nn.Module] = []
        c_in, first = in_channels, True
        for item in VGG11_LAYOUT:
            if item == "P":
                features.append(_TimeFolded(pool_cls(2, ceil_mode=True)))
                continue
            c_out = _scaled(int(item), width)
            features.append(
                _ConvBlock(
                    c_in,
                    c_out,
                    make_neuron(neuron, **settings),
                    stride=1,
                    batch_norm=batch_norm,
                    dale_in=dale and not first,
                    excitatory_fraction=excitatory_fraction,
                )
            )
            c_in, first = c_out, False
        features.append(_TimeFolded(nn.AdaptiveAvgPool2d(1)))
        self.features = nn.Sequential(*features)
        hidden: list[nn.Module] = []
        for n in classifier:
            hidden += [
                MaskedLinear(c_in, int(n), dale=dale, excitatory_fraction=excitatory_fraction),
                make_neuron(neuron, **settings),
            ]
            c_in = int(n)
        self.classifier = nn.Sequential(*hidden)
        self.readout = _Readout(
            MaskedLinear(c_in, num_classes, dale=dale, excitatory_fraction=excitatory_fraction),
            make_neuron(neuron, **settings),
        )

    def forward(
        self, x: torch.Tensor, *, return_membrane: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        _check_input(x, 5, "SpikingVGG11")
        if x.shape[2] != self.in_channels:
            raise ShapeError(f"SpikingVGG11 expects {self.in_channels} input channels, got {x.shape[2]}")
        x = self.features(x).flatten(2)
        return self.readout(self.classifier(x), return_membrane)


# ---------------------------------------------------------------------------------------------- ResNet
@dataclass(frozen=True)
class ResNetArch:
    """A spiking ResNet layout: stem width, stage widths, blocks per stage, hidden classifier widths."""

    stem: int
    channels: tuple[int, ...]
    blocks: tuple[int, ...]
    classifier: tuple[int, ...] = ()


RESNET_ARCHS: Registry[ResNetArch] = Registry("spiking ResNet layout")
RESNET_ARCHS.register("resnet18", ResNetArch(64, (64, 128, 256, 512), (2, 2, 2, 2)))
# ResNet-19 of Zheng et al. 2021 (tdBN): 3-3-2 blocks of 128-256-512 channels and a 256-unit hidden layer.
RESNET_ARCHS.register("resnet19", ResNetArch(128, (128, 256, 512), (3, 3, 2), (256,)))


class _SignedIdentity(nn.Module):
    """Identity shortcut with Dale's signs: +1 from excitatory, -1 from inhibitory channels."""

    def __init__(self, channels: int, excitatory_fraction: float) -> None:
        super().__init__()
        sign = torch.ones(channels)
        sign[excitatory_count(channels, excitatory_fraction) :] = -1.0
        self.register_buffer("sign", sign.view(channels, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sign


class _BasicBlock(nn.Module):
    """Spiking basic block: ``s = neuron(BN(conv(neuron(BN(conv(x))))) + shortcut(x))`` on currents."""

    def __init__(self, c_in, c_out, stride, neuron_factory, *, batch_norm, dale, excitatory_fraction):
        super().__init__()
        kw = dict(batch_norm=batch_norm, excitatory_fraction=excitatory_fraction)
        self.block1 = _ConvBlock(c_in, c_out, neuron_factory(), stride=stride, dale_in=dale, **kw)
        self.block2 = _ConvBlock(c_out, c_out, nn.Identity(), stride=1, dale_in=dale, **kw)
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                MaskedConv2d(
                    c_in,
                    c_out,
                    1,
                    stride=stride,
                    bias=not batch_norm,
                    dale=dale,
                    excitatory_fraction=excitatory_fraction,
                ),
                nn.BatchNorm2d(c_out) if batch_norm else nn.Identity(),
            )
        else:
            self.shortcut = _SignedIdentity(c_in, excitatory_fraction) if dale else nn.Identity()
        self.neuron = neuron_factory()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        current = self.block2.currents(self.block1(x))
        skip = self.shortcut(x.flatten(0, 1))
        return self.neuron(current + skip.view(current.shape))


class SpikingResNet(nn.Module):
    r"""Spiking ResNet (ResNet-18 by default, or ResNet-19 of Zheng et al. 2021) with a width option.

    A 3x3 stem ``MaskedConv2d -> BatchNorm -> neurons``, then stages of spiking basic blocks (the second
    convolution's current and the shortcut's are summed before the block's output neurons fire), an
    adaptive average pool, optional hidden spiking linear layers, and a spiking output layer.

    Parameters
    ----------
    in_channels, num_classes, neuron, width, batch_norm, beta, tau, dt, threshold, reset, detach_reset,
    surrogate, dale, excitatory_fraction
        As in :class:`SpikingVGG11` (default neuron here ``"lif"``).
    arch
        Layout name in :data:`RESNET_ARCHS` (``"resnet18"`` or ``"resnet19"``).

    Input ``[T, B, in_channels, H, W]``; output spikes ``[T, B, num_classes]``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        neuron: str = "lif",
        *,
        arch: str = "resnet18",
        width: float = 1.0,
        batch_norm: bool = True,
        beta: float | None = None,
        tau: Any = None,
        dt: Any = None,
        threshold: float = 1.0,
        reset: str = "subtract",
        detach_reset: bool = False,
        surrogate: Surrogate | str | None = None,
        dale: bool = False,
        excitatory_fraction: float = 0.8,
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ParameterError(f"in_channels and num_classes must be positive, got {in_channels}, {num_classes}")
        layout = RESNET_ARCHS[arch]
        width = _check_width(width)
        settings = _neuron_settings(neuron, beta, tau, dt, threshold, reset, detach_reset, surrogate)

        def factory() -> LIF:
            return make_neuron(neuron, **settings)

        self.in_channels, self.num_classes, self.neuron_type, self.arch = in_channels, num_classes, neuron, arch
        stem = _scaled(layout.stem, width)
        self.stem = _ConvBlock(
            in_channels,
            stem,
            factory(),
            stride=1,
            batch_norm=batch_norm,
            dale_in=False,
            excitatory_fraction=excitatory_fraction,
        )
        blocks: list[nn.Module] = []
        c_in = stem
        for stage, (channels, count) in enumerate(zip(layout.channels, layout.blocks)):
            c_out = _scaled(channels, width)
            for b in range(count):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(
                    _BasicBlock(
                        c_in,
                        c_out,
                        stride,
                        factory,
                        batch_norm=batch_norm,
                        dale=dale,
                        excitatory_fraction=excitatory_fraction,
                    )
                )
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = _TimeFolded(nn.AdaptiveAvgPool2d(1))
        hidden: list[nn.Module] = []
        for n in layout.classifier:
            n = _scaled(n, width)
            hidden += [MaskedLinear(c_in, n, dale=dale, excitatory_fraction=excitatory_fraction), factory()]
            c_in = n
        self.classifier = nn.Sequential(*hidden)
        self.readout = _Readout(
            MaskedLinear(c_in, num_classes, dale=dale, excitatory_fraction=excitatory_fraction), factory()
        )

    def forward(
        self, x: torch.Tensor, *, return_membrane: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        _check_input(x, 5, "SpikingResNet")
        if x.shape[2] != self.in_channels:
            raise ShapeError(f"SpikingResNet expects {self.in_channels} input channels, got {x.shape[2]}")
        x = self.pool(self.blocks(self.stem(x))).flatten(2)
        return self.readout(self.classifier(x), return_membrane)


# ------------------------------------------------------------------------------------ paper set-ups
@dataclass(frozen=True)
class PaperSetup:
    """A paper-scale configuration: model name, data set, input shape ``(C, H, W)``, classes, time steps."""

    model: str
    dataset: str
    input_shape: tuple[int, int, int]
    num_classes: int
    steps: int
    neuron: str = "if"


PAPER_SETUPS: Registry[PaperSetup] = Registry("paper set-up")
# EIHL (Jiang et al., ICLR 2024) trains Spiking VGG11 with IF neurons on CIFAR10/100 and DVS-CIFAR10. Its
# method section is unavailable; time steps and DVS frame size follow the common STBP-tdBN practice
# (static images: T = 4 direct-coded steps; DVS-CIFAR10: 10 frames of 2 x 48 x 48) and are assumptions.
PAPER_SETUPS.register("eihl_cifar10", PaperSetup("vgg11", "cifar10", (3, 32, 32), 10, 4))
PAPER_SETUPS.register("eihl_cifar100", PaperSetup("vgg11", "cifar100", (3, 32, 32), 100, 4))
PAPER_SETUPS.register("eihl_dvs_cifar10", PaperSetup("vgg11", "dvs_cifar10", (2, 48, 48), 10, 10))


# ---------------------------------------------------------------------------------- competitive layers
class CompetitiveLIF(nn.Module):
    r"""A population of LIF neurons with winner-take-all lateral inhibition and adaptive thresholds.

    The competitive hidden layer of Diehl & Cook (2015), in discrete time, for local (unsupervised) learning:

    .. math::

        v_t = \beta v_{t-1} + I_t - g_I \langle I_t \rangle_{pop},\qquad
        s_{t,i} = [\,v_{t,i} > V_{th} + \theta_i\,] \wedge [\,i \in \mathrm{top}_k(v_t - \theta)\,],\qquad
        v_t \leftarrow v_t (1 - s_t)

    Only the ``k`` neurons furthest above their thresholds fire in a step (the lateral inhibition of an
    inhibitory population, k-WTA; ``k = size`` switches it off), and a shared inhibitory current
    proportional to the population's mean drive (``inhibition`` :math:`g_I`, a global inhibitory
    interneuron) removes the drive's common mode; a neuron that fires is reset to 0. In training mode each spike raises
    that neuron's threshold, :math:`\theta_i \leftarrow \theta_i + \theta_+ \langle s_{t,i} \rangle_{batch}`,
    and thresholds relax, :math:`\theta \leftarrow \theta\, e^{-1/\tau_\theta}` per step (homeostasis: no
    neuron wins every input). ``adapt=False`` or ``eval()`` freezes :math:`\theta` (a buffer, saved with the
    model). No surrogate gradient: the layer learns locally only.

    Parameters
    ----------
    size
        Number of neurons.
    k
        Winners per time step (``1 <= k <= size``).
    beta
        Leak per step.
    threshold
        Base threshold :math:`V_{th}`.
    theta_plus
        Threshold increase per spike (batch mean).
    tau_theta
        Relaxation time constant of the thresholds, in steps.
    adapt
        Whether the thresholds adapt (in training mode).
    inhibition
        Gain :math:`g_I` of the shared inhibition (0: none).
    reset_all
        A spike resets every neuron of the population, not only the ones that fired (the strong lateral
        inhibition of Diehl & Cook: the runners-up lose what they integrated, so hard competition picks the
        neuron closest to the input over the steps since the last spike).
    centre_theta
        Use the thresholds' differences only, :math:`\theta_i - \langle\theta\rangle` (coding after
        learning: the mean level the learning phase's drive set is removed, the homeostatic differences stay).
    """

    def __init__(
        self,
        size: int,
        *,
        k: int = 5,
        beta: float = 0.9,
        threshold: float = 1.0,
        theta_plus: float = 0.05,
        tau_theta: float = 1e4,
        adapt: bool = True,
        inhibition: float = 0.0,
        reset_all: bool = False,
        centre_theta: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ParameterError(f"parameter 'size' must be a positive integer, got {size!r}")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= size:
            raise ParameterError(f"parameter 'k' must be an integer in [1, size={size}], got {k!r}")
        self.size, self.k = size, k
        self.beta = check_range("beta", beta, low=0.0, high=1.0)
        self.threshold = check_range("threshold", threshold, low=0.0, low_inclusive=False)
        self.theta_plus = check_range("theta_plus", theta_plus, low=0.0)
        self.tau_theta = check_range("tau_theta", tau_theta, low=0.0, low_inclusive=False)
        self.adapt = bool(adapt)
        self.inhibition = check_range("inhibition", inhibition, low=0.0)
        self.reset_all = bool(reset_all)
        self.centre_theta = bool(centre_theta)
        self.register_buffer("theta", torch.zeros(size))

    @torch.no_grad()
    def forward(self, current: torch.Tensor) -> torch.Tensor:
        if not isinstance(current, torch.Tensor) or current.ndim != 3 or current.shape[-1] != self.size:
            raise ShapeError(
                f"CompetitiveLIF expects [T, B, {self.size}] input current, got "
                f"{tuple(current.shape) if isinstance(current, torch.Tensor) else type(current).__name__}"
            )
        T, B, N = current.shape
        theta = self.theta.to(current.dtype)
        decay = float(torch.exp(torch.tensor(-1.0 / self.tau_theta)))
        learn = self.adapt and self.training
        offset = theta.mean() if self.centre_theta else 0.0
        v = current.new_zeros(B, N)
        out = current.new_zeros(T, B, N)
        for t in range(T):
            drive = current[t]
            if self.inhibition:
                drive = drive - self.inhibition * drive.mean(1, keepdim=True)
            v = self.beta * v + drive
            over = v - (self.threshold + (theta - offset))
            top = torch.topk(over, self.k, dim=1)
            s = torch.zeros_like(v).scatter_(1, top.indices, (top.values > 0).to(v.dtype))
            out[t] = s
            v = v * (1 - s.amax(1, keepdim=True)) if self.reset_all else v * (1 - s)
            if learn:
                theta = theta * decay + self.theta_plus * s.mean(0)
        if learn:
            self.theta.copy_(theta.to(self.theta.dtype))
        return out

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, k={self.k}, beta={self.beta:g}, threshold={self.threshold:g}, "
            f"theta_plus={self.theta_plus:g}, tau_theta={self.tau_theta:g}"
        )


def competitive_mlp(
    sizes: Sequence[int] = (64, 256, 10),
    *,
    k: int = 5,
    beta: float = 0.9,
    threshold: float = 1.0,
    theta_plus: float = 0.05,
    tau_theta: float = 1e4,
    readout: str = "lif",
    seed_scale: float = 1.0,
    inhibition: float = 0.0,
) -> SpikingMLP:
    """A :class:`SpikingMLP` whose hidden populations are :class:`CompetitiveLIF` (k-WTA, adaptive
    thresholds) driven through excitatory-only Dale's-law layers (``MaskedLinear(dale=True,
    excitatory_fraction=1)``: the stored weights are synaptic strengths, the sign +1 is fixed, so a local rule
    can never flip it); the readout stays a signed :class:`MaskedLinear` with LIF neurons trained by STBP.

    Each hidden layer's weights start as uniform random strengths whose rows sum to
    ``seed_scale * fan_in / 4`` (the sum that :class:`biosnn.learning.local.LocalLearner` with ``row_sum``
    keeps during learning, Diehl & Cook's weight normalisation).
    """
    sizes = tuple(int(s) for s in sizes)
    net = SpikingMLP(sizes, readout)
    for i in range(len(sizes) - 2):
        n_in, n_out = sizes[i], sizes[i + 1]
        layer = MaskedLinear(n_in, n_out, bias=False, dale=True, excitatory_fraction=1.0)
        with torch.no_grad():
            layer.weight.uniform_(0.0, 1.0)
            layer.weight.mul_(seed_scale * n_in / 4 / layer.weight.sum(1, keepdim=True))
        net.layers[i] = layer
        net.neurons[i] = CompetitiveLIF(
            n_out,
            k=min(k, n_out),
            beta=beta,
            threshold=threshold,
            theta_plus=theta_plus,
            tau_theta=tau_theta,
            inhibition=inhibition,
        )
    return net
