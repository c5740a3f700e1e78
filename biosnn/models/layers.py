r"""Weight layers with per-synapse connectivity masks and optional Dale's-law sign constraints.

Masks
-----
:class:`MaskedLinear` and :class:`MaskedConv2d` are :class:`torch.nn.Linear` / :class:`torch.nn.Conv2d`
with a boolean buffer ``mask`` of the weight's shape: ``mask[i, j] = False`` means that the synapse does
not exist. The layer computes with the *effective* weight

.. math:: W_\mathrm{eff} = M \odot W \quad\text{(or, with Dale's law,}\quad
          W_\mathrm{eff} = M \odot |W| \odot \mathrm{sign}_\mathrm{pre}\text{)},

so the gradient reaching a removed synapse is exactly zero (:math:`\partial W_\mathrm{eff}/\partial W = M`).
:meth:`~_MaskedMixin.set_mask` and :meth:`~_MaskedMixin.prune_` also set the stored weights of removed
synapses to exactly zero, so :func:`sparsity` (the fraction of effective weights that are exactly zero, the
EIHL paper's measure) sees them, and optimisers (SGD, Adam, AdamW; zero gradient, zero weight) keep them
there. Code that writes weights or ``weight.grad`` directly (local learning rules) calls
:meth:`~_MaskedMixin.apply_mask_` afterwards.

Dale's law
----------
With ``dale=True`` every *presynaptic* (input) channel is either excitatory or inhibitory: the first
``round(excitatory_fraction * in_channels)`` input channels are excitatory (sign +1), the rest inhibitory
(sign -1). The parameter ``weight`` then holds magnitudes, and the layer uses
:math:`|W| \cdot \mathrm{sign}_j` for input channel :math:`j`, so no training step can flip a synapse's
sign (a magnitude that crosses zero bounces back through the absolute value). At initialisation the
magnitudes are the absolute values of PyTorch's default initialisation, with the inhibitory ones scaled by
:math:`n_E / n_I`, so that each output neuron's expected total excitatory and inhibitory weights are equal
(a balanced network, van Vreeswijk & Sompolinsky 1996). In a network, the output channels of a layer are
the input channels of the next, so the same ``excitatory_fraction`` makes the first channels of every
population excitatory (Cornford et al. 2021, "Learning to live with Dale's principle").

:func:`ei_balance` measures the total excitatory against the total inhibitory weight of every layer
(for layers without Dale's law: positive against negative weights), and :func:`ei_currents` splits a
layer's input current into its excitatory and inhibitory parts for given presynaptic activity.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from biosnn.errors import ParameterError, ShapeError
from biosnn.units import check_range

__all__ = [
    "MaskedLinear",
    "MaskedConv2d",
    "masked_layers",
    "sparsity",
    "ei_balance",
    "ei_currents",
    "excitatory_count",
]


# the mixin is a plain class at run time (nn.Linear / nn.Conv2d bring nn.Module); the type checker sees nn.Module
if TYPE_CHECKING:
    _ModuleBase = nn.Module
else:
    _ModuleBase = object


def excitatory_count(channels: int, excitatory_fraction: float) -> int:
    """Number of excitatory channels among ``channels`` (the first ones): ``round(fraction * channels)``."""
    return int(round(excitatory_fraction * channels))


class _MaskedMixin(_ModuleBase):
    """Mask, Dale's-law signs and the helpers shared by :class:`MaskedLinear` and :class:`MaskedConv2d`."""

    weight: torch.Tensor
    mask: torch.Tensor
    sign: torch.Tensor | None

    def _init_masked(self, dale: bool, excitatory_fraction: float) -> None:
        self.dale = bool(dale)
        self.excitatory_fraction = check_range("excitatory_fraction", excitatory_fraction, low=0.0, high=1.0)
        self.register_buffer("mask", torch.ones_like(self.weight, dtype=torch.bool))
        self._grad_probe: torch.Tensor | None = None
        self._probe_count = 0
        if self.dale:
            n_in = self.weight.shape[1]
            n_e = excitatory_count(n_in, self.excitatory_fraction)
            sign = torch.ones(n_in, dtype=self.weight.dtype, device=self.weight.device)
            sign[n_e:] = -1.0
            shape = [1, n_in] + [1] * (self.weight.ndim - 2)
            self.register_buffer("sign", sign.view(shape), persistent=False)
            with torch.no_grad():
                self.weight.abs_()
                if 0 < n_e < n_in:
                    self.weight[:, n_e:] *= n_e / (n_in - n_e)
        else:
            self.sign = None

    # ------------------------------------------------------------------ weights
    def effective_weight(self) -> torch.Tensor:
        """The weight the layer computes with: ``mask * weight`` (Dale: ``mask * |weight| * sign``)."""
        w = self.weight
        if self.sign is not None:
            w = w.abs() * self.sign
        w_eff = w * self.mask
        if getattr(self, "_grad_probe", None) is not None and w_eff.requires_grad and torch.is_grad_enabled():
            w_eff.register_hook(self._accumulate_probe)
        return w_eff

    # ------------------------------------------------------------------ dense gradient probe
    def start_grad_probe(self) -> None:
        r"""Start summing :math:`\partial L / \partial W_\mathrm{eff}` over backward passes, removed synapses
        included.

        The gradient reaching ``weight`` is masked (zero at removed synapses); the gradient with respect to
        the *effective* weight is not: at a removed synapse it is the loss gradient at weight 0, which is
        what dynamic sparse training (RigL) ranks regrowth candidates by. Read it with
        :meth:`grad_probe` (the mean over the backward passes since the start).
        """
        self._grad_probe = torch.zeros_like(self.weight, dtype=self.weight.dtype).detach()
        self._probe_count = 0

    def _accumulate_probe(self, grad: torch.Tensor) -> None:
        if self._grad_probe is not None:
            self._grad_probe.add_(grad.detach().to(self._grad_probe.dtype))
            self._probe_count += 1

    def grad_probe(self) -> torch.Tensor | None:
        """The mean dense gradient since :meth:`start_grad_probe` (``None`` when no probe runs; zeros
        before the first backward pass).
        """
        probe = getattr(self, "_grad_probe", None)
        if probe is None:
            return None
        return probe / max(1, self._probe_count)

    def stop_grad_probe(self) -> None:
        """Stop the probe (no hook is registered from now on)."""
        self._grad_probe = None
        self._probe_count = 0

    @property
    def excitatory(self) -> torch.Tensor:
        """Boolean vector over input channels: ``True`` where the channel is excitatory.

        Without Dale's law every channel is reported as excitatory (signs are then per synapse).
        """
        n_in = self.weight.shape[1]
        if self.sign is None:
            return torch.ones(n_in, dtype=torch.bool, device=self.weight.device)
        return self.sign.reshape(n_in) > 0

    # ------------------------------------------------------------------ masks
    @torch.no_grad()
    def set_mask(self, mask: torch.Tensor) -> None:
        """Replace the connectivity mask (``True`` = the synapse exists) and zero removed weights.

        Raises :class:`~biosnn.errors.ShapeError` if the shape differs from the weight's and
        :class:`~biosnn.errors.ParameterError` if the values are not boolean (0/1); nothing changes then.
        """
        if not isinstance(mask, torch.Tensor):
            raise ParameterError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
        if tuple(mask.shape) != tuple(self.weight.shape):
            raise ShapeError(f"mask has shape {tuple(mask.shape)}, expected the weight's {tuple(self.weight.shape)}")
        if mask.dtype != torch.bool:
            if mask.is_floating_point() and not torch.isfinite(mask).all():
                raise ParameterError("mask holds NaN or infinite values; expected booleans (0/1)")
            if not ((mask == 0) | (mask == 1)).all():
                raise ParameterError("mask must hold only 0/1 (or booleans)")
            mask = mask != 0
        self.mask.copy_(mask.to(self.mask.device))
        self.apply_mask_()

    @torch.no_grad()
    def apply_mask_(self) -> None:
        """Set the weights (and any gradient) of removed synapses to exactly zero, in place."""
        self.weight.masked_fill_(~self.mask, 0.0)
        if self.weight.grad is not None:
            self.weight.grad.masked_fill_(~self.mask, 0.0)

    @torch.no_grad()
    def prune_(self, fraction: float, *, generator: torch.Generator | None = None) -> int:
        """Remove ``fraction`` of the existing synapses, chosen uniformly at random; return how many.

        Used for the EIHL robustness experiment (random pruning at several levels).
        """
        fraction = check_range("fraction", fraction, low=0.0, high=1.0)
        alive = self.mask.flatten().nonzero().flatten()
        n = int(round(fraction * alive.numel()))
        if n == 0:
            return 0
        order = torch.randperm(alive.numel(), generator=generator, device="cpu")[:n].to(alive.device)
        flat = self.mask.flatten().clone()
        flat[alive[order]] = False
        self.set_mask(flat.view_as(self.mask))
        return n

    def _masked_repr(self) -> str:
        extra = f", dale=True, excitatory_fraction={self.excitatory_fraction:g}" if self.dale else ""
        return f", connected={int(self.mask.sum())}/{self.mask.numel()}{extra}"


class MaskedLinear(_MaskedMixin, nn.Linear):
    """:class:`torch.nn.Linear` with a per-synapse boolean ``mask`` and optional Dale's law.

    Parameters
    ----------
    in_features, out_features, bias, device, dtype
        As in :class:`torch.nn.Linear`.
    dale
        Fixed signs per input feature (first ``excitatory_fraction`` excitatory, the rest inhibitory).
    excitatory_fraction
        Fraction of excitatory input features when ``dale`` (0.8, the cortical ratio, by default).

    The layer accepts any number of leading dimensions (``[T, B, in_features]`` included) and applies
    the weight to all of them in one matrix product.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dale: bool = False,
        excitatory_fraction: float = 0.8,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self._init_masked(dale, excitatory_fraction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._masked_repr()


class MaskedConv2d(_MaskedMixin, nn.Conv2d):
    """:class:`torch.nn.Conv2d` with a per-synapse boolean ``mask`` and optional Dale's law.

    The mask has the weight's shape ``[out_channels, in_channels / groups, kH, kW]``; with ``dale`` the
    sign is fixed per input channel. Input ``[N, C, H, W]`` (fold time into the batch for ``[T, B, ...]``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        *,
        dale: bool = False,
        excitatory_fraction: float = 0.8,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
            device=device,
            dtype=dtype,
        )
        if dale and groups != 1:
            raise ParameterError("Dale's law on MaskedConv2d needs groups=1 (signs are per input channel)")
        self._init_masked(dale, excitatory_fraction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + self._masked_repr()


MASKED_TYPES = (MaskedLinear, MaskedConv2d)


def masked_layers(model: nn.Module) -> Iterator[tuple[str, MaskedLinear | MaskedConv2d]]:
    """Every :class:`MaskedLinear` / :class:`MaskedConv2d` in ``model``, with its qualified name."""
    for name, module in model.named_modules():
        if isinstance(module, MASKED_TYPES):
            yield name, module


@torch.no_grad()
def sparsity(model: nn.Module) -> dict[str, float]:
    """Fraction of synapses whose effective weight is exactly zero, per masked layer and ``"overall"``.

    This is the EIHL paper's connectivity measure (dense STBP/STDP networks score 0). ``"overall"`` pools
    all weights of all masked layers. A model without masked layers raises
    :class:`~biosnn.errors.ParameterError`.
    """
    out: dict[str, float] = {}
    zeros = total = 0
    for name, layer in masked_layers(model):
        w = layer.effective_weight()
        z = int((w == 0).sum())
        out[name or "."] = z / w.numel()
        zeros += z
        total += w.numel()
    if total == 0:
        raise ParameterError(f"{type(model).__name__} has no MaskedLinear/MaskedConv2d layers to measure")
    out["overall"] = zeros / total
    return out


@torch.no_grad()
def ei_balance(model: nn.Module) -> dict[str, dict[str, float]]:
    r"""Total excitatory against total inhibitory synaptic weight, per masked layer and ``"overall"``.

    For each layer, :math:`E = \sum_{W_\mathrm{eff} > 0} W_\mathrm{eff}` and
    :math:`I = \sum_{W_\mathrm{eff} < 0} |W_\mathrm{eff}|` (with Dale's law these are exactly the weights
    leaving excitatory and inhibitory channels). Returns, per layer, ``{"excitatory": E,
    "inhibitory": I, "ratio": E / I, "index": (E - I) / (E + I)}``; the index is 0 for a balanced layer,
    +1 for a purely excitatory one. ``ratio`` is ``inf`` when ``I = 0``.
    """
    out: dict[str, dict[str, float]] = {}
    e_all = i_all = 0.0
    for name, layer in masked_layers(model):
        w = layer.effective_weight()
        e = float(w.clamp(min=0).sum())
        i = float((-w).clamp(min=0).sum())
        out[name or "."] = _balance(e, i)
        e_all += e
        i_all += i
    if not out:
        raise ParameterError(f"{type(model).__name__} has no MaskedLinear/MaskedConv2d layers to measure")
    out["overall"] = _balance(e_all, i_all)
    return out


def _balance(e: float, i: float) -> dict[str, float]:
    total = e + i
    return {
        "excitatory": e,
        "inhibitory": i,
        "ratio": e / i if i > 0 else math.inf,
        "index": (e - i) / total if total > 0 else 0.0,
    }


def ei_currents(layer: MaskedLinear | MaskedConv2d, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Split the synaptic input of ``layer`` for presynaptic activity ``x`` into its E and I parts.

    Returns ``(excitatory, inhibitory)``, both nonnegative and of the layer's output shape, with
    ``layer(x) - bias = excitatory - inhibitory``: the current through positive and through negative
    effective weights.
    """
    if not isinstance(layer, MASKED_TYPES):
        raise ParameterError(f"ei_currents needs a MaskedLinear or MaskedConv2d, got {type(layer).__name__}")
    with torch.no_grad():
        w = layer.effective_weight()
        w_e, w_i = w.clamp(min=0), (-w).clamp(min=0)
        if isinstance(layer, MaskedLinear):
            return F.linear(x, w_e), F.linear(x, w_i)
        return layer._conv_forward(x, w_e, None), layer._conv_forward(x, w_i, None)
