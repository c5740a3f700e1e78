r"""Losses for spiking classifiers, on spike counts or on membrane potentials.

A spiking classifier returns a time-major tensor ``[T, B, C]`` (one value per time step, sample and
class): output spikes :math:`S_t \in \{0, 1\}`, or the readout's membrane potential :math:`U_t`. A model
may also return a tuple ``(spikes, membrane)`` (snnTorch style); count losses then read the first element
and membrane losses the last.

Every loss has a *score* (the per-class evidence used for the prediction :math:`\hat y = \arg\max_c s_c`)
and a value:

* ``count_ce``: :math:`s_c = \sum_t S_{t,c}` (spike count); :math:`L = \mathrm{CE}(s, y)` (Wu et al.
  2018, STBP; Fang et al. 2021 use the rate :math:`s/T`, which only rescales the logits).
* ``rate_mse``: :math:`s_c = \frac{1}{T}\sum_t S_{t,c}`; :math:`L = \frac{1}{C}\sum_c (s_c - r_c)^2` with
  target rates :math:`r_c` = ``on_rate`` for the true class and ``off_rate`` otherwise (Shrestha & Orchard
  2018; snnTorch's ``mse_count_loss``).
* ``membrane_ce``: :math:`s_c = \frac{1}{T}\sum_t U_{t,c}` (mean membrane potential of a non-spiking
  readout); :math:`L = \mathrm{CE}(s, y)`.
* ``membrane_max_ce``: :math:`s_c = \max_t U_{t,c}`; :math:`L = \mathrm{CE}(s, y)`.

Losses live in :data:`LOSSES`; :func:`as_loss` accepts a name or a :class:`SpikeLoss`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from biosnn.errors import ParameterError, ShapeError
from biosnn.registry import Registry


def _spikes(output) -> torch.Tensor:
    out = output[0] if isinstance(output, (tuple, list)) else output
    return _check(out)


def _membrane(output) -> torch.Tensor:
    out = output[-1] if isinstance(output, (tuple, list)) else output
    return _check(out)


def _check(out) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise ShapeError(f"a spiking classifier must return a tensor [T, B, classes], got {type(out).__name__}")
    if out.dim() != 3:
        raise ShapeError(
            f"a spiking classifier must return a time-major tensor [T, B, classes], got shape {tuple(out.shape)}"
        )
    return out


def spike_count(output) -> torch.Tensor:
    r"""Spike counts :math:`\\sum_t S_{t,b,c}`, shape ``[B, C]``."""
    return _spikes(output).sum(0)


def spike_rate(output) -> torch.Tensor:
    r"""Firing rates per step :math:`\\frac{1}{T}\\sum_t S_{t,b,c}`, shape ``[B, C]``."""
    return _spikes(output).mean(0)


def membrane_mean(output) -> torch.Tensor:
    r"""Time-mean membrane potential :math:`\\frac{1}{T}\\sum_t U_{t,b,c}`, shape ``[B, C]``."""
    return _membrane(output).mean(0)


def membrane_max(output) -> torch.Tensor:
    r"""Maximum membrane potential over time :math:`\\max_t U_{t,b,c}`, shape ``[B, C]``."""
    return _membrane(output).max(0).values


def rate_mse(
    scores: torch.Tensor, target: torch.Tensor, *, on_rate: float = 1.0, off_rate: float = 0.0
) -> torch.Tensor:
    """Mean squared error between rates ``scores`` ``[B, C]`` and the target rates of labels ``target``."""
    wanted = torch.full_like(scores, float(off_rate))
    wanted.scatter_(1, target.view(-1, 1), float(on_rate))
    return F.mse_loss(scores, wanted)


@dataclass(frozen=True)
class SpikeLoss:
    """A loss on a spiking classifier's output: ``loss(output, target)``, ``loss.scores(output)``.

    Parameters
    ----------
    name
        The registered name.
    score
        Maps the model output to per-class evidence ``[B, C]`` (see the module docstring).
    criterion
        Maps ``(scores, target)`` to a scalar loss.
    """

    name: str
    score: Callable[[object], torch.Tensor]
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def scores(self, output) -> torch.Tensor:
        """Per-class evidence ``[B, C]``; the prediction is its arg-max."""
        return self.score(output)

    def __call__(self, output, target: torch.Tensor) -> torch.Tensor:
        s = self.score(output)
        if target.dim() != 1 or target.shape[0] != s.shape[0]:
            raise ShapeError(
                f"loss {self.name!r}: targets must be class indices of shape [{s.shape[0]}], got {tuple(target.shape)}"
            )
        return self.criterion(s, target)


LOSSES: Registry[SpikeLoss] = Registry("loss")
LOSSES.register("count_ce", SpikeLoss("count_ce", spike_count, F.cross_entropy))
LOSSES.register("rate_mse", SpikeLoss("rate_mse", spike_rate, rate_mse))
LOSSES.register("membrane_ce", SpikeLoss("membrane_ce", membrane_mean, F.cross_entropy))
LOSSES.register("membrane_max_ce", SpikeLoss("membrane_max_ce", membrane_max, F.cross_entropy))


def as_loss(value: SpikeLoss | str) -> SpikeLoss:
    """A :class:`SpikeLoss` from a registered name or an instance."""
    if isinstance(value, SpikeLoss):
        return value
    if isinstance(value, str):
        return LOSSES[value]
    raise ParameterError(
        f"loss must be a registered name ({', '.join(LOSSES)}) or a SpikeLoss, got {type(value).__name__}"
    )
