r"""Surrogate gradients for the spike non-linearity.

The forward pass is the Heaviside step :math:`S = \Theta(v)` of the distance to threshold :math:`v`
(``v = V - V_th``, in any consistent scale). The backward pass replaces :math:`\delta(v)` by a smooth
pseudo-derivative :math:`\sigma'(v)` whose width is a setting. Shapes (``width`` = :math:`\alpha`):

* ``fast_sigmoid`` (Zenke & Ganguli 2018, SuperSpike): :math:`\sigma'(v) = 1 / (2\alpha (1 + |v|/\alpha)^2)`
* ``arctan`` (Fang et al. 2021): :math:`\sigma'(v) = \frac{1}{\pi\alpha} \frac{1}{1 + (v/\alpha)^2}`
* ``triangle`` (Esser et al. 2016): :math:`\sigma'(v) = \max(0, 1 - |v|/\alpha) / \alpha`
* ``sigmoid``: :math:`\sigma'(v) = s(v/\alpha)(1 - s(v/\alpha)) / \alpha` with the logistic :math:`s`
* ``gaussian``: :math:`\sigma'(v) = \exp(-v^2 / 2\alpha^2) / (\sqrt{2\pi}\alpha)`

Each pseudo-derivative integrates to one over the real line, so ``width`` changes only how far from
threshold gradients reach, not their total mass. Each shape also has its *relaxed* forward function
:math:`\sigma(v)` (the integral of the pseudo-derivative), used to check gradients against finite
differences: the surrogate gradient is the exact gradient of the relaxed model.

The shapes live in :data:`SURROGATES`, a registry; :func:`spike` is the one entry point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from biosnn.errors import ParameterError
from biosnn.registry import Registry


@dataclass(frozen=True)
class SurrogateShape:
    """A surrogate: its pseudo-derivative and the relaxed (smooth) spike function it derives from."""

    name: str
    derivative: Callable[[torch.Tensor, float], torch.Tensor]
    relaxed: Callable[[torch.Tensor, float], torch.Tensor]


SURROGATES: Registry[SurrogateShape] = Registry("surrogate gradient shape")


def _register(name: str, derivative, relaxed) -> None:
    SURROGATES.register(name, SurrogateShape(name, derivative, relaxed))


_register(
    "fast_sigmoid",
    lambda v, a: 0.5 / (a * (1.0 + v.abs() / a) ** 2),
    lambda v, a: 0.5 * (1.0 + (v / a) / (1.0 + v.abs() / a)),
)
_register(
    "arctan",
    lambda v, a: 1.0 / (math.pi * a * (1.0 + (v / a) ** 2)),
    lambda v, a: 0.5 + torch.atan(v / a) / math.pi,
)
_register(
    "triangle",
    lambda v, a: torch.clamp(1.0 - v.abs() / a, min=0.0) / a,
    lambda v, a: torch.where(
        v < 0, 0.5 * torch.clamp(1.0 + v / a, min=0.0) ** 2, 1.0 - 0.5 * torch.clamp(1.0 - v / a, min=0.0) ** 2
    ),
)
_register(
    "sigmoid",
    lambda v, a: torch.sigmoid(v / a) * (1.0 - torch.sigmoid(v / a)) / a,
    lambda v, a: torch.sigmoid(v / a),
)
_register(
    "gaussian",
    lambda v, a: torch.exp(-0.5 * (v / a) ** 2) / (math.sqrt(2.0 * math.pi) * a),
    lambda v, a: 0.5 * (1.0 + torch.erf(v / (a * math.sqrt(2.0)))),
)


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward, surrogate pseudo-derivative backward."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, shape: SurrogateShape, width: float) -> torch.Tensor:
        ctx.save_for_backward(v)
        ctx.shape = shape
        ctx.width = width
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (v,) = ctx.saved_tensors
        return grad_output * ctx.shape.derivative(v, ctx.width), None, None


@dataclass(frozen=True)
class Surrogate:
    r"""A configured surrogate spike function: ``Surrogate("arctan", width=0.5)(v)``.

    Parameters
    ----------
    shape
        Name of a registered shape (see :data:`SURROGATES`).
    width
        The width :math:`\\alpha` of the pseudo-derivative, in the units of ``v``.
    """

    shape: str = "fast_sigmoid"
    width: float = 0.5

    def __post_init__(self) -> None:
        SURROGATES[self.shape]  # raises UnknownNameError listing the known shapes
        if not (isinstance(self.width, (int, float)) and math.isfinite(self.width) and self.width > 0):
            raise ParameterError(f"surrogate 'width' must be a positive finite number, got {self.width!r}")

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        return spike(v, self.shape, self.width)

    def relaxed(self, v: torch.Tensor) -> torch.Tensor:
        """The smooth spike function whose exact gradient is this surrogate's pseudo-derivative."""
        return SURROGATES[self.shape].relaxed(v, float(self.width))


def spike(v: torch.Tensor, shape: str = "fast_sigmoid", width: float = 0.5) -> torch.Tensor:
    r"""Heaviside step of ``v`` (1 where ``v >= 0``) with the named surrogate gradient.

    Parameters
    ----------
    v
        Distance to threshold, ``V - V_th`` (a spike is emitted where ``v >= 0``).
    shape
        Registered surrogate shape name.
    width
        Width :math:`\\alpha` of the pseudo-derivative.
    """
    return _SpikeFunction.apply(v, SURROGATES[shape], float(width))


def as_surrogate(value: Surrogate | str | None) -> Surrogate:
    """Accept a :class:`Surrogate`, a shape name, or ``None`` (the default fast sigmoid)."""
    if value is None:
        return Surrogate()
    if isinstance(value, Surrogate):
        return value
    if isinstance(value, str):
        return Surrogate(value)
    raise ParameterError(f"surrogate must be a Surrogate, a shape name or None, got {type(value).__name__}")
