r"""Encoders: turn a batch of static inputs ``x[B, ...]`` into time-major network input ``[T, B, ...]``.

Every encoder has the signature ``encode(x, *, steps, generator=None) -> Tensor[T, B, ...]`` and lives in the
registry :data:`ENCODERS`:

* ``"poisson"`` (rate coding): at every step an independent Bernoulli spike with probability
  :math:`p = \min(1, g\,x)` for intensity :math:`x \in [0, 1]` and gain :math:`g`, so the expected count
  over :math:`T` steps is :math:`T p` (Poisson in the limit of small :math:`p`). Seeded through a
  ``torch.Generator``.
* ``"latency"`` (time-to-first-spike): one spike per input, earlier for stronger input; linear code
  :math:`t(x) = \mathrm{round}((1 - x)(T - 1))` for :math:`x > 0`, no spike for :math:`x = 0`
  (Thorpe et al. 2001; the linear variant of snnTorch's ``spikegen.latency(linear=True)``).
* ``"direct"`` (direct current, Rueckauer et al. 2017; Wu et al. 2019): the analogue value is fed
  unchanged at every step as input current; the first layer does the encoding.
* ``"frames"``: input that already has time, ``x[B, T, ...]`` (event frames from
  :mod:`biosnn.data.datasets`), returned time-major ``[T, B, ...]``; ``T`` must equal ``steps``.

Inputs are validated before anything is drawn: NaN/inf raise :class:`~biosnn.errors.NonFiniteError`,
intensities outside :math:`[0, 1]` (``poisson``, ``latency``) :class:`~biosnn.errors.ParameterError`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from biosnn.errors import NonFiniteError, ParameterError, ShapeError
from biosnn.registry import Registry
from biosnn.units import check_range

__all__ = ["ENCODERS", "poisson", "latency", "direct", "frames", "encode"]

Encoder = Callable[..., torch.Tensor]
ENCODERS: Registry[Encoder] = Registry("encoder")


def _check(x: torch.Tensor, steps: int, *, unit_interval: bool, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        raise ShapeError(f"the {name} encoder needs a batch tensor x[B, ...], got {type(x).__name__}")
    if not x.is_floating_point():
        raise ParameterError(f"the {name} encoder needs floating-point input, got dtype {x.dtype}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ParameterError(f"parameter 'steps' must be a positive integer, got {steps!r}")
    if not bool(torch.isfinite(x).all()):
        raise NonFiniteError(f"the {name} encoder got NaN or infinite input values")
    if unit_interval and x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise ParameterError(
            f"the {name} encoder needs intensities in [0, 1], got values in [{float(x.min()):g}, {float(x.max()):g}]"
        )


@ENCODERS.register("poisson")
def poisson(
    x: torch.Tensor, *, steps: int, generator: torch.Generator | None = None, gain: float = 1.0
) -> torch.Tensor:
    """Rate code: ``spikes[t] ~ Bernoulli(min(1, gain * x))`` independently for every step and element."""
    _check(x, steps, unit_interval=True, name="poisson")
    gain = check_range("gain", gain, low=0.0)
    p = (x * gain).clamp_(max=1.0)
    u = torch.rand((steps, *x.shape), generator=generator, dtype=x.dtype, device=x.device)
    return (u < p).to(x.dtype)


@ENCODERS.register("latency")
def latency(x: torch.Tensor, *, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Time-to-first-spike code: one spike at step ``round((1 - x) * (steps - 1))``; none where ``x == 0``.

    Deterministic (``generator`` is accepted for the common signature and not used).
    """
    _check(x, steps, unit_interval=True, name="latency")
    t_spike = torch.round((1.0 - x) * (steps - 1)).long()
    t = torch.arange(steps, device=x.device).view(steps, *([1] * x.ndim))
    return ((t == t_spike.unsqueeze(0)) & (x > 0).unsqueeze(0)).to(x.dtype)


@ENCODERS.register("direct")
def direct(x: torch.Tensor, *, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Direct (current) code: ``x`` repeated at every step, ``[T, B, ...]`` (a read-only expanded view)."""
    _check(x, steps, unit_interval=False, name="direct")
    return x.unsqueeze(0).expand(steps, *x.shape)


@ENCODERS.register("frames")
def frames(x: torch.Tensor, *, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Event frames ``x[B, T, ...]`` to time-major ``[T, B, ...]`` (``T`` must equal ``steps``)."""
    _check(x, steps, unit_interval=False, name="frames")
    if x.ndim < 2 or x.shape[1] != steps:
        raise ShapeError(f"frames encoder expects x[B, T={steps}, ...], got shape {tuple(x.shape)}")
    return x.transpose(0, 1)


def encode(name: str, x: torch.Tensor, *, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Encode ``x`` with the encoder registered as ``name`` (see :data:`ENCODERS`)."""
    return ENCODERS[name](x, steps=steps, generator=generator)
