r"""What a training run logs about the network besides loss and accuracy.

* :func:`connectivity` -- sparsity per masked layer and overall (fraction of effective weights exactly 0,
  :func:`biosnn.models.sparsity`, the EIHL paper's measure) and the E/I balance of the weights
  (:func:`biosnn.models.ei_balance`: total excitatory vs inhibitory weight, index
  :math:`(E - I)/(E + I)`).
* :class:`FiringRates` -- the mean firing rate of every spiking population (spikes per neuron per time
  step), recorded with forward hooks on the neuron modules during an evaluation pass.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _neuron_types() -> tuple[type, ...]:
    from biosnn.models.neurons import LIF

    return (LIF,)


def connectivity(model: nn.Module) -> dict[str, float]:
    """``sparsity`` (overall), ``sparsity/<layer>``, ``ei_index`` and ``ei_ratio`` (overall) of ``model``.

    Returns an empty dict for a model without masked layers.
    """
    from biosnn.models import ei_balance, masked_layers, sparsity

    if not any(True for _ in masked_layers(model)):
        return {}
    sp = sparsity(model)
    out = {"sparsity": sp.pop("overall")}
    out.update({f"sparsity/{name}": value for name, value in sp.items()})
    balance = ei_balance(model)["overall"]
    out["ei_index"] = balance["index"]
    out["ei_ratio"] = balance["ratio"] if math.isfinite(balance["ratio"]) else float("inf")
    return out


class FiringRates:
    """Record mean firing rates of a model's spiking populations (context manager).

    Every module of a neuron type (default: :class:`biosnn.models.LIF` and subclasses) gets a forward hook
    that adds up its output spikes and the number of neuron-steps. ``rates()`` then gives each
    population's mean rate (spikes per neuron per step) and ``mean`` the rate pooled over all neurons.

    Examples
    --------
    >>> with FiringRates(model) as fr:          # doctest: +SKIP
    ...     model(x)
    >>> fr.mean                                  # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, *, neuron_types: tuple[type, ...] | None = None) -> None:
        self.model = model
        self.types = neuron_types or _neuron_types()
        self.spikes: dict[str, float] = {}
        self.slots: dict[str, int] = {}
        self._handles: list = []

    def __enter__(self) -> FiringRates:
        for name, module in self.model.named_modules():
            if isinstance(module, self.types):
                self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, name: str):
        def hook(module, args, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            with torch.no_grad():
                self.spikes[name] = self.spikes.get(name, 0.0) + float(out.detach().sum())
                self.slots[name] = self.slots.get(name, 0) + out.numel()
        return hook

    def rates(self) -> dict[str, float]:
        """Mean rate per population (spikes per neuron per time step)."""
        return {n: self.spikes[n] / self.slots[n] for n in self.spikes if self.slots[n]}

    @property
    def mean(self) -> float:
        """Rate pooled over every recorded neuron-step (NaN if nothing was recorded)."""
        slots = sum(self.slots.values())
        return sum(self.spikes.values()) / slots if slots else float("nan")
