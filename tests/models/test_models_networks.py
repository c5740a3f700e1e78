"""Deep spiking networks: shapes, every weight layer masked, Dale's law through training, learning on digits,
and the paper-scale Spiking VGG11 at CIFAR10 / DVS-CIFAR10 shapes (reduced by default, full when slow)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import biosnn
from biosnn.data import encode, make_loaders
from biosnn.errors import ParameterError, ShapeError, UnknownNameError
from biosnn.models import (
    IF,
    LIF,
    MODELS,
    PAPER_SETUPS,
    MaskedConv2d,
    MaskedLinear,
    SpikingMLP,
    SpikingResNet,
    SpikingVGG11,
    ei_balance,
    make_neuron,
    masked_layers,
    sparsity,
)


def _small_models():
    return {
        "mlp": SpikingMLP((2 * 10 * 10, 20, 5)),
        "vgg11": SpikingVGG11(2, 5, width=0.0625, classifier=(16,)),
        "resnet18": SpikingResNet(2, 5, width=0.0625),
        "resnet19": SpikingResNet(2, 5, arch="resnet19", width=0.0625, neuron="if"),
    }


def test_registry_names_and_neuron_factory():
    assert set(MODELS) >= {"mlp", "vgg11", "resnet"}
    assert MODELS["vgg11"] is SpikingVGG11
    assert isinstance(make_neuron("if"), IF) and make_neuron("lif", beta=0.5).beta == 0.5
    with pytest.raises(ParameterError, match="no leak"):
        make_neuron("if", beta=0.9)
    with pytest.raises(UnknownNameError, match="lif"):
        SpikingMLP((4, 2), neuron="izhikevich")
    with pytest.raises(UnknownNameError, match="resnet19"):
        SpikingResNet(arch="resnet50")


@pytest.mark.parametrize("name", ["mlp", "vgg11", "resnet18", "resnet19"])
def test_time_major_shapes_membrane_and_every_weight_layer_masked(name):
    model = _small_models()[name]
    x = torch.rand(4, 3, 2, 10, 10)
    spikes, membrane = model(x, return_membrane=True)
    assert spikes.shape == (4, 3, 5) and membrane.shape == (4, 3, 5)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(model(x), spikes)  # deterministic, same without the membrane
    weight_layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert weight_layers and all(isinstance(m, (MaskedLinear, MaskedConv2d)) for m in weight_layers)
    assert len(list(masked_layers(model))) == len(weight_layers)
    # gradients reach every masked layer
    model.zero_grad()
    (membrane.sum() + spikes.sum()).backward()
    assert all(layer.weight.grad is not None for _, layer in masked_layers(model))
    assert sum(float(layer.weight.grad.abs().sum()) > 0 for _, layer in masked_layers(model)) >= len(weight_layers) - 1


def test_bad_input_shapes_are_named():
    with pytest.raises(ShapeError, match="input channels"):
        SpikingVGG11(3, 10, width=0.0625)(torch.zeros(2, 1, 2, 8, 8))
    with pytest.raises(ShapeError, match="time-major"):
        SpikingResNet(2, 10, width=0.0625)(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ShapeError, match="784"):
        SpikingMLP()(torch.zeros(2, 1, 100))
    with pytest.raises(ParameterError, match="width"):
        SpikingVGG11(width=0.0)


def test_mlp_lif_layer_equals_manual_composition():
    gen = torch.Generator().manual_seed(0)
    model = SpikingMLP((6, 5, 3), "lif", beta=0.8, threshold=0.5, surrogate="arctan")
    x = torch.rand(7, 2, 6, generator=gen)
    hidden = LIF(beta=0.8, threshold=0.5, surrogate="arctan")
    h = hidden(F.linear(x, model.layers[0].weight, model.layers[0].bias))
    s, v = hidden(F.linear(h, model.layers[1].weight, model.layers[1].bias), return_membrane=True)
    s2, v2 = model(x, return_membrane=True)
    assert torch.equal(s, s2) and torch.allclose(v, v2)


def test_pruned_network_keeps_zeros_through_training_and_reports_sparsity():
    model = SpikingVGG11(2, 5, width=0.0625)
    gen = torch.Generator().manual_seed(1)
    for _, layer in masked_layers(model):
        layer.prune_(0.5, generator=gen)
    before = sparsity(model)
    assert before["overall"] == pytest.approx(0.5, abs=0.01)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.rand(3, 2, 2, 16, 16, generator=gen), torch.tensor([0, 3])
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(model(x, return_membrane=True)[1].mean(0), y).backward()
        opt.step()
    after = sparsity(model)
    assert all(after[k] >= before[k] for k in before)  # pruned synapses stay exactly zero
    assert all(torch.count_nonzero(layer.weight[~layer.mask]) == 0 for _, layer in masked_layers(model))


def test_dale_network_keeps_signs_and_leaves_the_input_layer_free():
    torch.manual_seed(0)
    model = SpikingResNet(2, 4, width=0.0625, arch="resnet19", dale=True, excitatory_fraction=0.75)
    layers = dict(masked_layers(model))
    assert not layers["stem.conv"].dale and all(l.dale for n, l in layers.items() if n != "stem.conv")
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.rand(3, 2, 2, 12, 12), torch.tensor([1, 2])
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x, return_membrane=True)[1].sum(0), y).backward()
        opt.step()
    for name, layer in layers.items():
        if not layer.dale:
            continue
        w = layer.effective_weight().detach()
        w = w.flatten(2).sum(2) if w.ndim == 4 else w
        exc = layer.excitatory
        assert bool((w[:, exc] >= 0).all()) and bool((w[:, ~exc] <= 0).all()), name
    stem = layers["stem.conv"].weight.detach()
    assert bool((stem > 0).any()) and bool((stem < 0).any())
    # signed identity shortcuts: inhibitory channels enter the sum with weight -1
    block = model.blocks[1]
    assert block.shortcut.sign.flatten().tolist()[-1] == -1.0 and block.shortcut.sign.flatten()[0] == 1.0
    balance = ei_balance(model)
    assert balance["overall"]["excitatory"] > 0 and balance["overall"]["inhibitory"] > 0


def test_spiking_mlp_learns_digits():
    """BPTT on the bundled digits with direct coding: a real outcome (test accuracy), not a smoke test."""
    biosnn.seed(0)
    train, test = make_loaders("digits", batch_size=32, seed=0)
    model = SpikingMLP((64, 100, 10), "lif", beta=0.9)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    steps = 8
    for _ in range(2):
        for x, y in train:
            loss = F.cross_entropy(model(encode("direct", x, steps=steps)).sum(0), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    correct = total = 0
    with torch.no_grad():
        for x, y in test:
            correct += int((model(encode("direct", x, steps=steps)).sum(0).argmax(1) == y).sum())
            total += len(y)
    assert total == 360
    assert correct / total > 0.88


def _paper_iterations(key: str, batch: int, iterations: int, width: float = 1.0) -> list[float]:
    setup = PAPER_SETUPS[key]
    torch.manual_seed(0)
    model = MODELS[setup.model](setup.input_shape[0], setup.num_classes, setup.neuron, width=width)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(1)
    if setup.dataset == "dvs_cifar10":  # event frames: counts, framed [B, T, 2, H, W]
        frames = torch.poisson(torch.full((batch, setup.steps, *setup.input_shape), 0.3), generator=gen)
        x = encode("frames", frames, steps=setup.steps)
    else:  # images, direct coding
        x = encode("direct", torch.rand(batch, *setup.input_shape, generator=gen), steps=setup.steps)
    y = torch.randint(0, setup.num_classes, (batch,), generator=gen)
    layers = dict(masked_layers(model))
    assert len(layers) == 9  # 8 convolutions + the output layer
    for layer in layers.values():
        layer.prune_(0.1, generator=gen)
    losses = []
    for _ in range(iterations):
        opt.zero_grad()
        spikes, membrane = model(x, return_membrane=True)
        assert spikes.shape == (setup.steps, batch, setup.num_classes)
        loss = F.cross_entropy(membrane.mean(0), y)
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(layer.weight.grad).all() for layer in layers.values())
        assert all(torch.count_nonzero(layer.weight.grad[~layer.mask]) == 0 for layer in layers.values())
        opt.step()
        losses.append(float(loss.detach()))
    assert sparsity(model)["overall"] == pytest.approx(0.1, abs=1e-3)
    return losses


@pytest.mark.parametrize("key", ["eihl_cifar10", "eihl_dvs_cifar10"])
def test_paper_scale_vgg11_runs_iterations_at_the_real_shapes(key):
    """Full-width Spiking VGG11 at the paper's input shapes and time steps, batch 1, two iterations."""
    losses = _paper_iterations(key, batch=1, iterations=2)
    assert len(losses) == 2 and losses[1] != losses[0]


@pytest.mark.slow
@pytest.mark.parametrize("key", ["eihl_cifar10", "eihl_cifar100", "eihl_dvs_cifar10"])
def test_paper_scale_vgg11_fits_a_batch(key):
    """The full configuration at batch 8 learns a fixed batch: the loss falls over 15 iterations."""
    losses = _paper_iterations(key, batch=8, iterations=15)
    assert min(losses[-3:]) < losses[0]
