"""Masked and Dale's-law layers: exact zeros, masked gradients, fixed signs, sparsity and E/I measures."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from biosnn.errors import ParameterError, ShapeError
from biosnn.models import MaskedConv2d, MaskedLinear, ei_balance, ei_currents, masked_layers, sparsity


def _layers():
    return [MaskedLinear(12, 7), MaskedConv2d(5, 4, 3, padding=1)]


def _input(layer, gen):
    if isinstance(layer, MaskedLinear):
        return torch.randn(3, 2, 12, generator=gen)
    return torch.randn(2, 5, 6, 6, generator=gen)


def _random_mask(layer, gen, keep=0.6):
    return torch.rand(layer.weight.shape, generator=gen) < keep


@pytest.mark.parametrize("index", [0, 1])
def test_forward_equals_dense_layer_with_masked_weight(index):
    gen = torch.Generator().manual_seed(0)
    layer = _layers()[index]
    mask = _random_mask(layer, gen)
    layer.set_mask(mask)
    x = _input(layer, gen)
    w = layer.weight * mask
    ref = F.linear(x, w, layer.bias) if index == 0 else F.conv2d(x, w, layer.bias, padding=1)
    assert torch.equal(layer.weight[~mask], torch.zeros(int((~mask).sum())))
    torch.testing.assert_close(layer(x), ref)


@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam", "adamw"])
def test_masked_weights_stay_exactly_zero_and_get_zero_gradient(index, optimizer):
    gen = torch.Generator().manual_seed(1)
    layer = _layers()[index]
    mask = _random_mask(layer, gen)
    layer.set_mask(mask)
    opt = {
        "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
        "adam": lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=1e-3),
        "adamw": lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=1e-2),
    }[optimizer](layer.parameters())
    for _ in range(5):
        opt.zero_grad()
        layer(_input(layer, gen)).square().sum().backward()
        assert torch.count_nonzero(layer.weight.grad[~mask]) == 0
        assert torch.count_nonzero(layer.weight.grad[mask]) > 0
        opt.step()
    assert torch.count_nonzero(layer.weight[~mask]) == 0
    assert sparsity(layer)["overall"] == pytest.approx(float((~mask).float().mean()))


def test_apply_mask_clears_weights_and_gradients_written_by_hand():
    layer = MaskedLinear(4, 3)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[0, :2] = False
    layer.set_mask(mask)
    with torch.no_grad():
        layer.weight.fill_(0.5)  # a local rule writing weights directly
    layer.weight.grad = torch.ones_like(layer.weight)
    layer.apply_mask_()
    assert torch.equal(layer.weight == 0, ~mask)
    assert torch.equal(layer.weight.grad == 0, ~mask)


def test_set_mask_rejects_bad_masks_and_changes_nothing():
    layer = MaskedLinear(4, 3)
    before = layer.weight.detach().clone()
    with pytest.raises(ShapeError, match=r"\(3, 4\)"):
        layer.set_mask(torch.ones(4, 3, dtype=torch.bool))
    with pytest.raises(ParameterError, match="0/1"):
        layer.set_mask(torch.full((3, 4), 0.5))
    with pytest.raises(ParameterError, match="NaN"):
        layer.set_mask(torch.full((3, 4), float("nan")))
    assert torch.equal(layer.weight, before) and bool(layer.mask.all())
    layer.set_mask(torch.eye(3, 4))  # 0/1 floats are accepted
    assert int(layer.mask.sum()) == 3


def test_prune_removes_the_requested_fraction_reproducibly():
    a, b = MaskedLinear(50, 40), MaskedLinear(50, 40)
    removed = a.prune_(0.25, generator=torch.Generator().manual_seed(3))
    b.prune_(0.25, generator=torch.Generator().manual_seed(3))
    assert removed == 500
    assert sparsity(a)["overall"] == pytest.approx(0.25)
    assert torch.equal(a.mask, b.mask)
    a.prune_(0.5, generator=torch.Generator().manual_seed(4))  # half of the remaining 1500
    assert int((~a.mask).sum()) == 500 + 750
    with pytest.raises(ParameterError, match="fraction"):
        a.prune_(1.5)


def test_sparsity_and_masked_layers_over_a_model():
    model = nn.Sequential(MaskedLinear(10, 10), nn.ReLU(), MaskedLinear(10, 5), nn.Linear(5, 2))
    m = torch.ones(10, 10, dtype=torch.bool)
    m[:, :3] = False
    model[0].set_mask(m)
    with torch.no_grad():
        model[2].weight[0, 0] = 0.0  # an exactly-zero weight counts too
    names = [name for name, _ in masked_layers(model)]
    s = sparsity(model)
    assert names == ["0", "2"]
    assert s["0"] == pytest.approx(0.3) and s["2"] == pytest.approx(0.02)
    assert s["overall"] == pytest.approx(31 / 150)
    with pytest.raises(ParameterError, match="no MaskedLinear"):
        sparsity(nn.Linear(3, 3))


@pytest.mark.parametrize("index", [0, 1])
def test_dale_signs_are_fixed_per_input_channel_through_training(index):
    gen = torch.Generator().manual_seed(2)
    layer = (
        MaskedLinear(10, 6, dale=True, excitatory_fraction=0.7)
        if index == 0
        else MaskedConv2d(10, 4, 3, padding=1, dale=True, excitatory_fraction=0.7)
    )
    x = torch.rand((8, 10) if index == 0 else (2, 10, 5, 5), generator=gen)
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    for _ in range(20):  # push every output towards large negative values, then positive ones
        for sign in (1.0, -1.0):
            opt.zero_grad()
            (sign * layer(x)).sum().backward()
            opt.step()
    w = layer.effective_weight().detach()
    w = w if index == 0 else w.sum(dim=(2, 3))
    assert layer.excitatory.tolist() == [True] * 7 + [False] * 3
    assert bool((w[:, :7] >= 0).all()) and bool((w[:, 7:] <= 0).all())
    assert bool((w[:, :7] > 0).any()) and bool((w[:, 7:] < 0).any())


def test_dale_initialisation_is_balanced_and_ei_measures_agree():
    torch.manual_seed(0)
    layer = MaskedLinear(400, 300, dale=True, excitatory_fraction=0.8)
    bal = ei_balance(layer)["overall"]
    assert abs(bal["index"]) < 0.02  # expected E and I totals are equal by construction
    w = layer.effective_weight().detach()
    assert bal["excitatory"] == pytest.approx(float(w[:, :320].sum()), rel=1e-5)
    assert bal["inhibitory"] == pytest.approx(float(-w[:, 320:].sum()), rel=1e-5)
    x = torch.rand(16, 400)
    e, i = ei_currents(layer, x)
    assert bool((e >= 0).all()) and bool((i >= 0).all())
    torch.testing.assert_close(e - i + layer.bias, layer(x).detach(), rtol=1e-5, atol=1e-5)
    assert ei_balance(MaskedLinear(5, 5, dale=True, excitatory_fraction=1.0))["overall"]["index"] == 1.0


def test_ei_currents_on_conv_and_unsigned_layers():
    gen = torch.Generator().manual_seed(4)
    conv = MaskedConv2d(3, 2, 3, bias=False)
    x = torch.rand(1, 3, 6, 6, generator=gen)
    e, i = ei_currents(conv, x)
    torch.testing.assert_close(e - i, conv(x).detach())
    bal = ei_balance(conv)["overall"]
    w = conv.weight.detach()
    assert bal["excitatory"] == pytest.approx(float(w.clamp(min=0).sum()), rel=1e-6)
    with pytest.raises(ParameterError):
        ei_currents(nn.Linear(2, 2), torch.zeros(1, 2))


def test_mask_travels_with_the_state_dict():
    a = MaskedLinear(6, 4)
    a.prune_(0.5, generator=torch.Generator().manual_seed(0))
    b = MaskedLinear(6, 4)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.mask, b.mask) and torch.equal(a.weight, b.weight)
