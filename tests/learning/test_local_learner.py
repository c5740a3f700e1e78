"""LocalLearner: plasticity rules as local updates on PyTorch layers, checked against Brian2 and by hand."""

from __future__ import annotations

import brian2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from biosnn.plasticity import RULES
from biosnn.plasticity.eihl_contraction import EIHLContraction, local_step, removal_threshold
from biosnn.plasticity.protocols import layer_update_in_brian2
from torch import nn

from biosnn.errors import ParameterError, ShapeError, UnknownNameError
from biosnn.learning.local import LocalLearner, conv_patches
from biosnn.models.layers import MaskedConv2d, MaskedLinear
from biosnn.models.neurons import LIF

TRACE_RULES = sorted(n for n in RULES if callable(getattr(RULES[n], "layer_update", None)))


class _Folded(nn.Module):
    """A conv layer on time-major input [T, B, C, H, W] (time folded into the batch)."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x):
        y = self.conv(x.flatten(0, 1))
        return y.view(x.shape[0], x.shape[1], *y.shape[1:])


def _linear_model(n_in=6, n_out=4, seed=0):
    torch.manual_seed(seed)
    layer = MaskedLinear(n_in, n_out, bias=False, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.uniform_(0.2, 0.8)
    return nn.Sequential(layer, LIF(beta=0.8, threshold=0.6))


def _input(shape, p=0.3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g, dtype=torch.float64) < p).to(torch.float64)


def _brian2_dw(rule, pre, post, weight, dt):
    """Brian2's weight change for the same spike trains: one block of synapses per batch sample, summed."""
    return torch.tensor(layer_update_in_brian2(rule, pre, post, weight, dt=dt))


@pytest.mark.parametrize("name", TRACE_RULES)
def test_linear_layer_update_equals_brian2(name):
    rule = RULES[name]()
    model = _linear_model()
    learner = LocalLearner(model, rule)
    x = _input((40, 3, 6))
    ((pre, post),) = learner.record(x).values()
    assert pre.shape == (40, 3, 6) and post.shape == (40, 3, 4)
    assert 5 < post.sum() < post.numel()  # the layer's neurons spike, not always
    dw = learner.updates(x)["0"]
    ref = _brian2_dw(rule, pre, post, model[0].weight.detach(), 1 * brian2.ms)
    assert dw.abs().max() > 0
    assert torch.allclose(dw, ref, rtol=1e-9, atol=1e-14)


def test_conv_update_equals_linear_update_on_patches():
    rule = RULES["stdp_additive"](A_plus=0.01, A_minus=0.012)
    torch.manual_seed(2)
    conv = MaskedConv2d(2, 3, 3, stride=2, padding=1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        conv.weight.uniform_(0.0, 0.5)
    model = nn.Sequential(_Folded(conv), LIF(beta=0.9, threshold=0.5))
    learner = LocalLearner(model, rule)
    x = _input((12, 2, 2, 7, 7), p=0.4)
    ((pre, post),) = learner.record(x).values()
    assert post.shape == (12, 2, 3, 4, 4) and post.sum() > 0
    dw = learner.updates(x)["0.conv"]
    # reference: every output position cut out by hand, the linear rule per position, summed (weight sharing)
    padded = F.pad(pre, (1, 1, 1, 1))
    w_lin = conv.weight.detach().reshape(3, -1)
    ref = torch.zeros_like(w_lin)
    for p in range(4):
        for q in range(4):
            patch = padded[:, :, :, 2 * p : 2 * p + 3, 2 * q : 2 * q + 3].reshape(12, 2, -1)
            ref += rule.layer_update(patch, post[:, :, :, p, q], w_lin, dt=1 * brian2.ms)
    assert dw.abs().max() > 0
    assert torch.allclose(dw, ref.reshape(conv.weight.shape), rtol=1e-12, atol=1e-15)
    # memory-bounded: the same update from chunks of 5 positions at a time
    chunked = LocalLearner(model, rule, chunk_elements=5 * conv.weight.numel()).updates(x)["0.conv"]
    assert torch.allclose(chunked, dw, rtol=1e-12, atol=1e-15)
    # the pure reshaping function gives B * L batch elements
    pre_lin, post_lin = conv_patches(pre, post, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))
    assert pre_lin.shape == (12, 2 * 16, 18) and post_lin.shape == (12, 2 * 16, 3)


def test_sgd_lr1_adds_dw_exactly_and_masks_are_respected():
    rule = RULES["stdp_additive"](A_plus=0.02, A_minus=0.021)
    model = _linear_model()
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[0, :3] = False
    mask[2, 5] = False
    model[0].set_mask(mask)
    learner = LocalLearner(model, rule, optimizer=torch.optim.SGD(model.parameters(), lr=1.0))
    x = _input((40, 3, 6))
    before = model[0].weight.detach().clone()
    dw = learner.step(x)["0"]
    after = model[0].weight.detach()
    assert torch.equal(after, before + dw)
    assert torch.all(dw[~mask] == 0) and torch.all(after[~mask] == 0)
    assert dw[mask].abs().max() > 0
    # another learning rate scales the update
    model2 = _linear_model()
    model2[0].set_mask(mask)
    learner2 = LocalLearner(model2, rule, lr=0.5)
    dw2 = learner2.step(x)["0"]
    assert torch.equal(dw2, dw)
    assert torch.allclose(model2[0].weight.detach(), before + 0.5 * dw, rtol=0, atol=1e-15)


def test_contraction_rule_on_layers_equals_local_step():
    rule = EIHLContraction(a=0.1, x_growth=0.2, b=0.5, drive=None)  # timing-free: D = 1
    torch.manual_seed(3)
    model = nn.Sequential(MaskedLinear(20, 10, bias=False, dtype=torch.float64), LIF())
    w, m = model[0].weight.detach().clone(), model[0].mask.clone()
    x = torch.zeros_like(w)
    learner = LocalLearner(model, rule)
    th = learner.begin_period()["0"]
    assert th == removal_threshold(w, m, b=0.5)
    for _ in range(4):
        learner.step()
        w, x, m = local_step(w, x, m, a=0.1, x_growth=0.2, threshold=th)
    assert torch.equal(model[0].weight.detach(), w) and torch.equal(model[0].mask, m)
    assert 0 < (~m).sum() < m.numel()
    learner.decay(3)
    assert torch.allclose(learner.x["0"], x * np.exp(-3 / rule.tau_x), rtol=1e-15)


def test_bad_input_raises():
    model = _linear_model()
    with pytest.raises(ParameterError, match="layer_update"):
        LocalLearner(model, object())
    with pytest.raises(UnknownNameError, match="nope"):
        LocalLearner(model, RULES["stdp_additive"](), layers=["nope"])
    learner = LocalLearner(model, RULES["stdp_additive"]())
    with pytest.raises(ShapeError, match="time-major"):
        learner.step(torch.zeros(6))
    before = model[0].weight.detach().clone()
    with pytest.raises(ShapeError, match="shape"):
        learner.apply({"0": torch.zeros(3, 3, dtype=torch.float64)})
    assert torch.equal(model[0].weight.detach(), before)


def test_dale_layers_learn_synaptic_strengths_with_fixed_signs():
    rule = RULES["stdp_additive"](A_plus=0.005, A_minus=0.006)
    torch.manual_seed(4)
    layer = MaskedLinear(6, 4, bias=False, dale=True, excitatory_fraction=0.5, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.uniform_(0.2, 0.8)  # magnitudes
    model = nn.Sequential(layer, LIF(beta=0.8, threshold=0.3))
    learner = LocalLearner(model, rule, optimizer=torch.optim.SGD(model.parameters(), lr=1.0))
    x = _input((40, 3, 6))
    ((pre, post),) = learner.record(x).values()
    eff_before = layer.effective_weight().detach().clone()
    strength = eff_before.abs()
    dw = rule.layer_update(pre, post, strength, dt=1 * brian2.ms)  # the rule on the synaptic strengths
    learner.step(x)
    assert dw.abs().max() > 0
    assert torch.allclose(layer.effective_weight().detach().abs(), strength + dw, rtol=0, atol=1e-15)
    assert torch.all(torch.sign(layer.effective_weight().detach()) == torch.sign(eff_before))
    assert (eff_before < 0).any()  # inhibitory channels were learned too


def test_every_conv_and_linear_layer_of_spiking_vgg11_learns_locally():
    from biosnn.models.networks import SpikingVGG11

    torch.manual_seed(5)
    model = SpikingVGG11(
        in_channels=2, num_classes=4, width=0.125, batch_norm=False, threshold=0.5, pool="max"
    )  # max-pooled spikes stay 0/1 (average pooling would give fractions)
    first = model.features[0].conv
    mask = torch.rand(first.weight.shape) > 0.3
    first.set_mask(mask)
    learner = LocalLearner(model, RULES["stdp_additive"](A_plus=0.01, A_minus=0.0))  # potentiation only
    x = _input((4, 2, 2, 8, 8), p=0.5).float()
    activity = learner.record(x)
    assert len(activity) == 9  # 8 convolutions + the readout
    for name, (pre, post) in activity.items():  # noqa: B007
        assert pre.shape[:2] == (4, 2) and post.shape[:2] == (4, 2)
    before = {n: m.weight.detach().clone() for n, m in learner.layers.items()}
    dws = learner.step(x)
    assert dws["features.0.conv"].abs().sum() > 0
    assert torch.all(dws["features.0.conv"][~mask] == 0) and torch.all(first.weight[~mask] == 0)
    for name, layer in learner.layers.items():
        assert torch.all(layer.weight.detach() >= before[name] - 1e-7)  # LTP only: no weight decreased
