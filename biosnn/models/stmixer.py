r"""STMixer: the spiking token mixer (Deng et al., NeurIPS 2024), with surrogate module learning (SML).

Tensors are time-major: images ``[T, B, C, H, W]``, tokens ``[T, B, C, N]`` with :math:`N` patches.
Pure functions (:func:`dspike`, :func:`stmixer_lif_step`, :func:`stmixer_lif_sequence`,
:func:`token_mix`, :func:`sml_loss`) hold the equations; the modules are thin wrappers.

Neuron
------
LIF with decay 0.5, threshold :math:`V_{th} = 1` and hard reset (the issue's reading; the authors' public
demo code leaves a ``soft_reset`` switch on, available here as ``reset="soft"``):

.. math::

    m_t = 0.5\, m'_{t-1} + x_t, \quad s_t = H(m_t - V_{th}) \ (m_t \ge V_{th}), \quad
    m'_t = m_t (1 - s_t)\ \text{(hard)} \ \text{or}\ m_t - V_{th} s_t\ \text{(soft)}.

With :math:`T = 1` the fast path is :math:`s = H(x - V_{th})` (no state). The surrogate is Dspike
(Li et al. 2021) of the distance to threshold :math:`u = m - V_{th}`:

.. math:: \frac{\partial s}{\partial u} = k\,g\,(1 - \tanh^2(g u))\,\mathbb{1}[|u| \le 1], \qquad
          k = \frac{1}{2\tanh(g)}, \quad g = 2.5

(region 1, so the pseudo-derivative integrates to 1 over :math:`[-1, 1]`). The reset's spike is not
detached.

Token mixer
-----------
Per head :math:`h` (channels split into ``heads`` groups of :math:`C/h`), a learned :math:`N \times N`
matrix mixes the patches, :math:`Y_h = X_h W_h^\top` with :math:`X_h \in \mathbb{R}^{(C/h) \times N}`
(no bias, Kaiming-normal fan-out initialisation). Blocks:

* TokenMixer = LIF -> Conv1d 1x1 -> BN -> LIF -> STM -> LIF -> Conv1d 1x1 -> BN;
* FFN = LIF -> Conv1d 1x1 (C -> rC) -> BN -> LIF -> Conv1d 1x1 (rC -> C) -> BN;
* encoder: ``x = x + TokenMixer(x); x = x + FFN(x)``;
* head: mean over tokens -> Linear per time step; the read-out is the mean over T (the model returns the
  per-step logits ``[T, B, classes]``, read with ``membrane_ce``).

IPSPS patch splitting: 7/8 of the embedding channels come from a conv3x3 -> BN -> LIF stack (channels
C/8, C/4, C/2, C, then 7C/8; ``downsample`` = 2 or 4 stride-2 convolutions, the last conv followed by BN
only) and 1/8 from a *non-spiking* shortcut conv of kernel = stride = :math:`2^{\text{downsample}}` + BN on
the input, concatenated (shortcut first) along channels and flattened into tokens.

Surrogate module learning
-------------------------
Non-spiking auxiliary heads (GELU networks: mean over T -> Conv1d 1x1 -> BN -> GELU -> ``num_layer``
GELU encoders with the same token mixer and an FFN of expansion 4 -> mean over tokens -> Linear) read the
patch embedding and the output of every second block (blocks 2, 4, ...; ``depth // 2`` heads, with
``max(L - i, 1)`` encoder layers for head ``i``, L = 1, 2, 3, 3, 3 for depth 2, 4, 6, 8, >= 10, as the
authors' code). Their gradients reach the backbone (not detached). With the final logits :math:`z_0`
(time mean) and the auxiliary logits :math:`z_1 \dots z_{n-1}`:

.. math::

    L_{hard} &= \frac{\mathrm{CE}(z_0) + \alpha \sum_{i \ge 1} \mathrm{CE}(z_i)}{(n - 1)\alpha + 1} \\
    L_{soft} &= \frac{1}{n-1}\sum_{i \ge 1} \big[\mathrm{KL}(\sigma(\bar z_i/\tau) \,\|\, \sigma(z_0/\tau))
              + \mathrm{KL}(\sigma(\bar z_0/\tau) \,\|\, \sigma(z_i/\tau))\big] \\
    L &= \lambda L_{soft} + (1 - \lambda) L_{hard}

with :math:`\bar z` detached (targets), :math:`\sigma` the softmax, each KL averaged over the batch,
:math:`\alpha = 1`, :math:`\lambda = 0.333`, :math:`\tau = 3`. The issue gives the symmetric KL with
detached targets; the mean over the auxiliary heads and the absence of a :math:`\tau^2` factor are
biosnn's reading. Evaluation uses the spiking path only.
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
    "dspike",
    "stmixer_lif_step",
    "stmixer_lif_sequence",
    "token_mix",
    "sml_loss",
    "STMixerLIF",
    "STM",
    "TokenMixer",
    "FFN",
    "Encoder",
    "IPSPS",
    "AuxHead",
    "STMixer",
    "stmixer_train_loss",
    "build_stmixer",
    "PAPER_PRESETS",
]


class _Dspike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: torch.Tensor, gamma: float, region: float) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.gamma, ctx.region = gamma, region
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (u,) = ctx.saved_tensors
        g, r = ctx.gamma, ctx.region
        k = 1.0 / (2.0 * math.tanh(g * r))
        d = k * g * (1.0 - torch.tanh(g * u) ** 2) * (u.abs() <= r).to(u.dtype)
        return grad_output * d, None, None


def dspike(u: torch.Tensor, gamma: float = 2.5, region: float = 1.0) -> torch.Tensor:
    r"""Spike :math:`H(u)` (1 where :math:`u \ge 0`) with the Dspike pseudo-derivative
    :math:`k g (1 - \tanh^2(g u)) \mathbb{1}[|u| \le r]`, :math:`k = 1/(2\tanh(g r))`.
    """
    if not (isinstance(gamma, (int, float)) and gamma > 0 and isinstance(region, (int, float)) and region > 0):
        raise ParameterError(f"Dspike needs positive 'gamma' and 'region', got {gamma!r}, {region!r}")
    return _Dspike.apply(u, float(gamma), float(region))


_RESETS = ("hard", "soft")


def stmixer_lif_step(
    mem: torch.Tensor,
    x: torch.Tensor,
    *,
    tau: float = 0.5,
    threshold: float = 1.0,
    reset: str = "hard",
    gamma: float = 2.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LIF step: ``m = tau*mem + x``, ``s = Dspike(m - V_th)``, reset. Returns ``(mem after reset, s)``."""
    m = tau * mem + x
    s = dspike(m - threshold, gamma)
    m = m * (1.0 - s) if reset == "hard" else m - threshold * s
    return m, s


def stmixer_lif_sequence(
    x: torch.Tensor, *, tau: float = 0.5, threshold: float = 1.0, reset: str = "hard", gamma: float = 2.5
) -> torch.Tensor:
    """Spikes ``[T, ...]`` for inputs ``[T, ...]`` from zero state; ``T = 1`` takes the fast path
    ``Dspike(x - V_th)``.
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        raise ShapeError("stmixer_lif_sequence needs a time-major tensor [T, ...]")
    if reset not in _RESETS:
        raise ParameterError(f"unknown reset {reset!r}; known: {', '.join(_RESETS)}")
    if x.shape[0] == 1:
        return dspike(x - threshold, gamma)
    mem = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        mem, s = stmixer_lif_step(mem, x[t], tau=tau, threshold=threshold, reset=reset, gamma=gamma)
        out.append(s)
    return torch.stack(out)


def token_mix(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    r"""Spiking token mixing :math:`Y_h = X_h W_h^\top` for tokens ``x`` ``[..., C, N]`` and per-head
    matrices ``weight`` ``[heads, N, N]`` (channel group :math:`h` = channels ``h*C/heads ...``).
    """
    heads, n, n2 = weight.shape
    if n != n2 or x.shape[-1] != n or x.shape[-2] % heads:
        raise ShapeError(f"token_mix: tokens {tuple(x.shape)} do not fit {heads} heads of {n}x{n2} matrices")
    xs = x.reshape(*x.shape[:-2], heads, x.shape[-2] // heads, n)
    return torch.einsum("...hcn,hmn->...hcm", xs, weight).reshape(x.shape)


def _kl(target_logits: torch.Tensor, logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return F.kl_div(
        F.log_softmax(logits / temperature, dim=1),
        F.log_softmax(target_logits / temperature, dim=1),
        reduction="batchmean",
        log_target=True,
    )


def sml_loss(
    final: torch.Tensor,
    aux: Sequence[torch.Tensor],
    target: torch.Tensor,
    *,
    alpha: float = 1.0,
    lam: float = 0.333,
    temperature: float = 3.0,
) -> torch.Tensor:
    """Surrogate module learning loss (module docstring) on final logits ``[B, C]`` and auxiliary logits."""
    aux = list(aux)
    if not aux:
        return F.cross_entropy(final, target)
    n = len(aux) + 1
    hard = (F.cross_entropy(final, target) + alpha * sum(F.cross_entropy(a, target) for a in aux)) / (
        (n - 1) * alpha + 1
    )
    soft = sum(_kl(a.detach(), final, temperature) + _kl(final.detach(), a, temperature) for a in aux) / (n - 1)
    return lam * soft + (1.0 - lam) * hard


# ------------------------------------------------------------------------------------------- modules
class _Folded(nn.Module):
    """Apply a per-sample module to ``[T, B, ...]`` with time folded into the batch."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.module(x.flatten(0, 1))
        return y.view(x.shape[0], x.shape[1], *y.shape[1:])


class STMixerLIF(nn.Module):
    """STMixer's LIF neurons on ``[T, B, ...]`` (:func:`stmixer_lif_sequence`)."""

    def __init__(self, *, tau: float = 0.5, threshold: float = 1.0, reset: str = "hard", gamma: float = 2.5) -> None:
        super().__init__()
        if reset not in _RESETS:
            raise ParameterError(f"unknown reset {reset!r}; known: {', '.join(_RESETS)}")
        self.tau, self.threshold, self.reset, self.gamma = float(tau), float(threshold), reset, float(gamma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stmixer_lif_sequence(x, tau=self.tau, threshold=self.threshold, reset=self.reset, gamma=self.gamma)


def _conv1(cin: int, cout: int) -> nn.Module:
    return _Folded(nn.Sequential(nn.Conv1d(cin, cout, 1, bias=False), nn.BatchNorm1d(cout)))


class STM(nn.Module):
    """The spiking token mixer: per-head ``N x N`` matrices over the patches (:func:`token_mix`)."""

    def __init__(self, dim: int, num_patches: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ParameterError(f"embedding dim {dim} is not divisible by heads {heads}")
        self.weight = nn.Parameter(torch.empty(heads, num_patches, num_patches))
        for h in range(heads):
            nn.init.kaiming_normal_(self.weight.data[h], mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return token_mix(x, self.weight)


class TokenMixer(nn.Module):
    """LIF -> Conv1d -> BN -> LIF -> STM -> LIF -> Conv1d -> BN (on ``[T, B, C, N]``)."""

    def __init__(self, dim: int, num_patches: int, heads: int, neuron: dict | None = None) -> None:
        super().__init__()
        neuron = neuron or {}
        self.body = nn.Sequential(
            STMixerLIF(**neuron),
            _conv1(dim, dim),
            STMixerLIF(**neuron),
            STM(dim, num_patches, heads),
            STMixerLIF(**neuron),
            _conv1(dim, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class FFN(nn.Module):
    """LIF -> Conv1d (C -> rC) -> BN -> LIF -> Conv1d (rC -> C) -> BN."""

    def __init__(self, dim: int, ratio: float, neuron: dict | None = None) -> None:
        super().__init__()
        neuron = neuron or {}
        mid = int(dim * ratio)
        self.body = nn.Sequential(STMixerLIF(**neuron), _conv1(dim, mid), STMixerLIF(**neuron), _conv1(mid, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Encoder(nn.Module):
    """``x = x + TokenMixer(x); x = x + FFN(x)``."""

    def __init__(self, dim: int, num_patches: int, heads: int, ratio: float, neuron: dict | None = None) -> None:
        super().__init__()
        self.token_mix = TokenMixer(dim, num_patches, heads, neuron)
        self.ffn = FFN(dim, ratio, neuron)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mix(x)
        return x + self.ffn(x)


class IPSPS(nn.Module):
    """IPSPS patch splitting: a spiking conv stack for 7/8 of the channels, a non-spiking shortcut conv
    (kernel = stride = 2**downsample) + BN for 1/8; output tokens ``[T, B, dim, N]``.

    ``flat_height=True`` is the 1-D configuration (inputs of height 1, such as a signal ``[1, 1, L]``): the
    height is never strided, so the 3x3 kernels act as 1-D kernels of width 3 along the signal (zero
    padding above and below) and the shortcut's kernel is ``1 x 2**downsample``.
    """

    def __init__(
        self, in_channels: int, dim: int, downsample: int = 2, neuron: dict | None = None, *, flat_height: bool = False
    ) -> None:
        super().__init__()
        if downsample not in (2, 4):
            raise ParameterError(f"IPSPS 'downsample' must be 2 or 4, got {downsample!r}")
        if dim % 8:
            raise ParameterError(f"embedding dim must be a multiple of 8, got {dim}")
        neuron = neuron or {}
        chans = [in_channels, dim // 8, dim // 4, dim // 2, dim]
        strides = [1, 1, 1, 2] if downsample == 2 else [1, 2, 2, 2]

        def stride(s: int) -> tuple[int, int]:
            return (1, s) if flat_height else (s, s)

        layers: list[nn.Module] = []
        for cin, cout, s in zip(chans[:-1], chans[1:], strides):
            layers += [
                _Folded(nn.Sequential(nn.Conv2d(cin, cout, 3, stride(s), 1, bias=False), nn.BatchNorm2d(cout))),
                STMixerLIF(**neuron),
            ]
        self.main_dims, self.short_dims = dim // 8 * 7, dim // 8
        layers.append(
            _Folded(
                nn.Sequential(
                    nn.Conv2d(dim, self.main_dims, 3, stride(2), 1, bias=False), nn.BatchNorm2d(self.main_dims)
                )
            )
        )
        self.main = nn.Sequential(*layers)
        k = stride(2**downsample)
        self.shortcut = _Folded(
            nn.Sequential(nn.Conv2d(in_channels, self.short_dims, k, k, bias=False), nn.BatchNorm2d(self.short_dims))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.shortcut(x), self.main(x)], dim=2).flatten(-2)


class _GeluMixer(nn.Module):
    def __init__(self, dim: int, num_patches: int, heads: int) -> None:
        super().__init__()
        self.fc1 = nn.Sequential(nn.GELU(), nn.Conv1d(dim, dim, 1, bias=False), nn.BatchNorm1d(dim), nn.GELU())
        self.stm = STM(dim, num_patches, heads)
        self.fc2 = nn.Sequential(nn.GELU(), nn.Conv1d(dim, dim, 1, bias=False), nn.BatchNorm1d(dim))
        self.ffn = nn.Sequential(
            nn.GELU(),
            nn.Conv1d(dim, 4 * dim, 1, bias=False),
            nn.BatchNorm1d(4 * dim),
            nn.GELU(),
            nn.Conv1d(4 * dim, dim, 1, bias=False),
            nn.BatchNorm1d(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.fc2(self.stm(self.fc1(x)))
        return x + self.ffn(x)


class AuxHead(nn.Module):
    """A non-spiking surrogate module: mean over T, Conv1d -> BN -> GELU, GELU encoders, mean over tokens,
    Linear. Input tokens ``[T, B, C, N]``, output logits ``[B, classes]``.
    """

    def __init__(self, dim: int, num_patches: int, heads: int, num_classes: int, num_layer: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Conv1d(dim, dim, 1, bias=False), nn.BatchNorm1d(dim), nn.GELU())
        self.encoder = nn.Sequential(*[_GeluMixer(dim, num_patches, heads) for _ in range(num_layer)])
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.proj(x.mean(0))).mean(-1))


_SML_LAYERS = {2: 1, 4: 2, 6: 3, 8: 3}


class STMixer(nn.Module):
    """STMixer on ``[T, B, C, H, W]``; returns per-step logits ``[T, B, classes]``.

    Parameters
    ----------
    in_channels, num_classes, img_size
        Input channels (3 images, 2 events), classes and the input size: an int (square images), or
        ``(1, L)`` for signals of length ``L`` (the 1-D configuration: IPSPS never strides the height, see
        :class:`IPSPS`, and the signal is zero-padded on the right to a multiple of ``2**downsample``).
    downsample
        2 or 4 stride-2 stages in IPSPS (patches ``(img_size / 2**downsample)**2``, or
        ``ceil(L / 2**downsample)`` for a signal).
    dim, depth, heads, mlp_ratio
        Embedding width, encoder blocks, token-mixer heads, FFN expansion.
    sml
        Build the auxiliary heads of surrogate module learning (used by :meth:`forward_with_aux`).
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        img_size: int | tuple[int, int] = 32,
        downsample: int = 2,
        dim: int = 256,
        depth: int = 4,
        heads: int = 16,
        mlp_ratio: float = 4.0,
        sml: bool = True,
        tau: float = 0.5,
        threshold: float = 1.0,
        reset: str = "hard",
        gamma: float = 2.5,
    ) -> None:
        super().__init__()
        factor = 2**downsample
        if isinstance(img_size, (tuple, list)):
            if len(img_size) != 2 or int(img_size[0]) != 1 or int(img_size[1]) < 1:
                raise ParameterError(f"img_size must be an int (square images) or (1, L) (signals), got {img_size!r}")
            self.input_hw = (1, int(img_size[1]))
            self.pad = (-self.input_hw[1]) % factor
            self.num_patches = (self.input_hw[1] + self.pad) // factor
            flat = True
        else:
            side = img_size / factor
            if side != int(side) or side < 1:
                raise ParameterError(f"img_size {img_size} is not divisible by 2**downsample = {factor}")
            self.input_hw = (int(img_size), int(img_size))
            self.pad = 0
            self.num_patches = int(side) ** 2
            flat = False
        self.img_size = self.input_hw[1] if flat else int(img_size)
        neuron = dict(tau=tau, threshold=threshold, reset=reset, gamma=gamma)
        self.patch_embed = IPSPS(in_channels, dim, downsample, neuron, flat_height=flat)
        self.blocks = nn.ModuleList(Encoder(dim, self.num_patches, heads, mlp_ratio, neuron) for _ in range(depth))
        self.head = nn.Linear(dim, num_classes)
        self.aux = nn.ModuleList()
        if sml and depth >= 2:
            top = _SML_LAYERS.get(depth - depth % 2, 3)
            for i in range(depth // 2):
                self.aux.append(AuxHead(dim, self.num_patches, heads, num_classes, max(top - i, 1)))
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv1d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 5 or tuple(x.shape[-2:]) != self.input_hw:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ShapeError(f"STMixer expects [T, B, C, {self.input_hw[0]}, {self.input_hw[1]}], got {got}")
        return F.pad(x, (0, self.pad)) if self.pad else x

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Per-step logits ``[T, B, classes]`` and the auxiliary heads' logits (patch embedding, then
        blocks 2, 4, ...).
        """
        x = self._check(x)
        aux: list[torch.Tensor] = []
        h = self.patch_embed(x)
        if len(self.aux):
            aux.append(self.aux[0](h))
        for i, blk in enumerate(self.blocks):
            h = blk(h)
            j = (i + 1) // 2
            if i % 2 == 1 and j < len(self.aux):
                aux.append(self.aux[j](h))
        return self.head(h.mean(-1)), aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check(x)
        h = self.patch_embed(x)
        for blk in self.blocks:
            h = blk(h)
        return self.head(h.mean(-1))


def stmixer_train_loss(
    model: STMixer,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    alpha: float = 1.0,
    lam: float = 0.333,
    temperature: float = 3.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SML training loss (plain CE without auxiliary heads or in eval mode). Returns ``(loss, output)``."""
    if model.training and len(model.aux):
        out, aux = model.forward_with_aux(x)
        return sml_loss(out.mean(0), aux, target, alpha=alpha, lam=lam, temperature=temperature), out
    out = model(x)
    return F.cross_entropy(out.mean(0), target), out


def build_stmixer(
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    img_size: int | tuple[int, int] = 32,
    downsample: int = 2,
    dim: int = 256,
    depth: int = 4,
    heads: int = 16,
    mlp_ratio: float = 4.0,
    sml: bool = True,
    reset: str = "hard",
) -> STMixer:
    """Build an :class:`STMixer` (defaults: the authors' CIFAR demo, 256 wide, 4 blocks, 16 heads, r = 4)."""
    return STMixer(
        in_channels=in_channels,
        num_classes=num_classes,
        img_size=img_size,
        downsample=downsample,
        dim=dim,
        depth=depth,
        heads=heads,
        mlp_ratio=mlp_ratio,
        sml=sml,
        reset=reset,
    )


#: Paper-scale settings: the network of the authors' CIFAR demo (img 32, downsample 2, 256 wide, depth 4,
#: 16 heads, FFN x4); optimiser and schedule assumed (timm-style AdamW training).
PAPER_PRESETS: dict[str, dict[str, Any]] = {
    "stmixer_cifar10": dict(
        model=dict(
            in_channels=3,
            num_classes=10,
            img_size=32,
            downsample=2,
            dim=256,
            depth=4,
            heads=16,
            mlp_ratio=4.0,
            sml=True,
        ),
        dataset="cifar10",
        encoder="direct",
        T=4,
        optimizer="adamw",
        lr=1e-3,
        weight_decay=0.06,
        epochs=300,
        batch_size=64,
        sml=dict(alpha=1.0, lam=0.333, temperature=3.0),
        assumed=("T", "optimizer", "lr", "weight_decay", "epochs", "batch_size"),
    ),
    "stmixer_dvs_cifar10": dict(
        model=dict(
            in_channels=2,
            num_classes=10,
            img_size=48,
            downsample=2,
            dim=256,
            depth=4,
            heads=16,
            mlp_ratio=4.0,
            sml=True,
        ),
        dataset="dvs_cifar10",
        encoder=None,
        T=10,
        optimizer="adamw",
        lr=1e-3,
        epochs=200,
        batch_size=16,
        sml=dict(alpha=1.0, lam=0.333, temperature=3.0),
        assumed=("input 48x48 (paper: 128x128 with downsample 4)", "T", "optimizer", "lr", "epochs", "batch_size"),
    ),
    "stmixer_synthetic": dict(
        model=dict(
            in_channels=1, num_classes=10, img_size=8, downsample=2, dim=32, depth=2, heads=4, mlp_ratio=2.0, sml=True
        ),
        dataset="digits",
        encoder="direct",
        T=1,
        optimizer="adam",
        lr=1e-3,
        epochs=1,
        batch_size=32,
    ),
}
