r"""What a training run logs about the network besides loss and accuracy.

* :func:`connectivity` -- sparsity per masked layer and overall (fraction of effective weights exactly 0,
  :func:`biosnn.models.sparsity`, the EIHL paper's measure) and the E/I balance of the weights
  (:func:`biosnn.models.ei_balance`: total excitatory vs inhibitory weight, index
  :math:`(E - I)/(E + I)`).
* :class:`FiringRates` -- the mean firing rate of every spiking population (spikes per neuron per time
  step), recorded with forward hooks on the neuron modules during an evaluation pass.
* :class:`SynapticOps` -- synaptic operations per sample (the energy proxy of sparse spiking networks):
  every non-zero presynaptic value (a spike) reaching a masked layer costs one operation per present
  synapse it drives, :math:`\mathrm{SynOps} = \frac{1}{N} \sum_{t, n, i} [s_{t n i} \ne 0]\, f_i` with
  :math:`f_i` the fan-out of input :math:`i` (present synapses in the mask's column :math:`i`).
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
                hooked: nn.Module = module  # type: ignore[assignment]  # self.types are nn.Module subclasses
                self._handles.append(hooked.register_forward_hook(self._hook(name)))
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


def _fan_out(module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Present synapses each input feature (channel) drives, per input element."""
    mask = torch.as_tensor(module.mask)
    if isinstance(module, nn.Conv2d):
        # per input channel: present kernel entries over every output channel, spread over the output
        # positions (each input position is in (kh kw H' W') / (H W) windows on average)
        per_channel = mask.sum(dim=(0, 2, 3)).to(torch.float64)
        return per_channel * (out.shape[-1] * out.shape[-2]) / (x.shape[-1] * x.shape[-2])
    return mask.sum(0).to(torch.float64)


class SynapticOps:
    r"""Count synaptic operations per sample during forward passes (context manager).

    Every masked layer (``mask`` beside ``weight``) gets a forward hook: the non-zero entries of its input
    (spikes; any non-zero analog value, such as a directly coded pixel, counts as one event) times their
    fan-out in the mask (:func:`_fan_out`; for convolutions the mean fan-out of a position of the input
    channel). The model's own input gives the number of samples (its dimension 1, time-major ``[T, B, ...]``).
    :attr:`per_sample` is the total over layers divided by the samples; :meth:`layers` per layer.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.ops: dict[str, float] = {}
        self.samples = 0
        self._handles: list = []

    def __enter__(self) -> SynapticOps:
        from biosnn.learning.trainer import masked_modules

        self._handles.append(self.model.register_forward_pre_hook(self._count_samples))
        for name, module in masked_modules(self.model):
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _count_samples(self, module, args):
        x = args[0] if args else None
        if isinstance(x, torch.Tensor) and x.dim() >= 2:
            self.samples += int(x.shape[1])

    def _hook(self, name: str):
        def hook(module, args, output):
            x = args[0].detach()
            with torch.no_grad():
                fan = _fan_out(module, x, output)
                if isinstance(module, nn.Conv2d):
                    events = (x != 0).flatten(-2).sum(-1).reshape(-1, x.shape[-3]).sum(0).to(torch.float64)
                else:
                    events = (x != 0).reshape(-1, x.shape[-1]).sum(0).to(torch.float64)
                self.ops[name] = self.ops.get(name, 0.0) + float((events * fan).sum())

        return hook

    def layers(self) -> dict[str, float]:
        """Synaptic operations per sample of each masked layer."""
        return {n: v / self.samples for n, v in self.ops.items()} if self.samples else {}

    @property
    def per_sample(self) -> float:
        """Synaptic operations per sample over every masked layer (NaN if nothing was recorded)."""
        return sum(self.ops.values()) / self.samples if self.samples else float("nan")
