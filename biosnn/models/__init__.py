"""Deep spiking networks as plain PyTorch modules: IF/LIF neurons, masked and Dale's-law layers, networks.

The registry :data:`MODELS` names the networks (``"mlp"``, ``"vgg11"``, ``"resnet"``) so that configurations
and the command line choose them by name::

    from biosnn.models import MODELS
    net = MODELS["vgg11"](in_channels=2, num_classes=10, width=0.25)
    spikes = net(frames)                      # [T, B, 2, H, W] -> [T, B, 10]
"""

from __future__ import annotations

from torch import nn

from biosnn.models.layers import (
    MaskedConv2d,
    MaskedLinear,
    ei_balance,
    ei_currents,
    masked_layers,
    sparsity,
)
from biosnn.models.networks import (
    PAPER_SETUPS,
    PaperSetup,
    SpikingMLP,
    SpikingResNet,
    SpikingVGG11,
    make_neuron,
)
from biosnn.models.neurons import (
    IF,
    LIF,
    NEURONS,
    RESETS,
    beta_from_tau,
    if_sequence,
    if_step,
    lif_sequence,
    lif_step,
)
from biosnn.registry import Registry

MODELS: Registry[type[nn.Module]] = Registry("model")
MODELS.register("mlp", SpikingMLP)
MODELS.register("vgg11", SpikingVGG11)
MODELS.register("resnet", SpikingResNet)

__all__ = [
    "MODELS",
    "NEURONS",
    "RESETS",
    "PAPER_SETUPS",
    "PaperSetup",
    "LIF",
    "IF",
    "lif_step",
    "lif_sequence",
    "if_step",
    "if_sequence",
    "beta_from_tau",
    "make_neuron",
    "MaskedLinear",
    "MaskedConv2d",
    "masked_layers",
    "sparsity",
    "ei_balance",
    "ei_currents",
    "SpikingMLP",
    "SpikingVGG11",
    "SpikingResNet",
]
