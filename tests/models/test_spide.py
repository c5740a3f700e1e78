"""SPIDE (issue 11): forward/backward spiking simulations on hand-computed values, the implicit gradient
against BPTT through the equilibrium, and updates computed from spikes only."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from biosnn.errors import ParameterError, ShapeError
from biosnn.models.spide import (
    PAPER_PRESETS,
    build_spide,
    rate_equilibrium,
    spide_backward,
    spide_forward,
    spide_if_step,
    spide_ternary_step,
    spide_train_loss,
    spide_weight_grads,
)

D = torch.float64


def _lin(w: float, bias: bool = True) -> nn.Linear:
    layer = nn.Linear(1, 1, bias=bias).double()
    with torch.no_grad():
        layer.weight.fill_(w)
        if bias:
            layer.bias.zero_()
    return layer


def test_if_neuron_reset_by_subtraction_of_two_thresholds():
    u = torch.zeros(1, dtype=D)
    spikes, mems = [], []
    for _ in range(4):  # constant 0.5: 0.5; 1.0 -> spike, 1 - 2 = -1; -0.5; 0
        u, s = spide_if_step(u, torch.tensor([0.5], dtype=D))
        spikes.append(float(s))
        mems.append(float(u))
    assert spikes == [0, 1, 0, 0] and mems == [0.5, -1.0, -0.5, 0.0]
    u, s = spide_if_step(torch.tensor([0.5], dtype=D), torch.tensor([0.7], dtype=D), leak=0.5)
    assert float(s) == 1 and float(u) == pytest.approx((1.2 - 2) * 0.5)


def test_ternary_backward_spikes():
    u, s = spide_ternary_step(torch.zeros(3, dtype=D), torch.tensor([1.5, -1.2, 0.4], dtype=D))
    assert s.tolist() == [2.0, -2.0, 0.0] and u.tolist() == pytest.approx([-0.5, 0.8, 0.4])


def _tiny():
    return _lin(1.0), [_lin(1.0)], _lin(0.5, bias=False)


def test_forward_equilibrium_hand_computed():
    inp, layers, fb = _tiny()
    x = torch.full((1, 1, 1), 0.6, dtype=D)
    fwd = spide_forward(x, inp, layers, fb, steps=3)
    # t0: u1 = 0.6 (0), u2 = 0 (0); t1: u1 = 1.2 (1) -> -0.8, u2 = 1 (1) -> -1; t2: u1 = -0.8 + 0.6 + 0.5 = 0.3 (0)
    assert [float(c) for c in fwd.counts] == [1.0, 1.0]
    assert [float(a) for a in fwd.rates] == pytest.approx([1 / 3, 1 / 3])
    assert [float(m) for m in fwd.masks] == [1.0, 1.0]
    with pytest.raises(ParameterError):
        spide_forward(x, inp, layers, fb, steps=0)
    with pytest.raises(ShapeError):
        spide_forward(torch.ones(3), inp, layers, fb)


def test_backward_simulation_and_local_updates_hand_computed():
    inp, layers, fb = _tiny()
    x = torch.full((1, 1, 1), 0.6, dtype=D)
    fwd = spide_forward(x, inp, layers, fb, steps=3)
    bwd = spide_backward(torch.full((1, 1), 1.5, dtype=D), layers, fb, fwd, steps=3)
    scaled = spide_backward(torch.full((1, 1), 0.75, dtype=D), layers, fb, fwd, steps=3, scale=2.0)
    assert [float(b) for b in scaled.beta] == pytest.approx([2 / 3, 1.0])  # same spikes, rates / 2
    # t0: layer 2: u = 1.5 -> +2, -0.5; layer 1: 0.5 * (2) = 1 -> +2, -1
    # t1: layer 2: -0.5 + 1.5 + 0.5 * 0.5 * 2 = 1.5 -> +2, -0.5; layer 1: -1 + 1 = 0
    # t2: layer 2: -0.5 + 1.5 + 0 = 1.0 -> +2, -1; layer 1: 0 + 1 = 1 -> +2
    assert [float(c) for c in bwd.signed] == [2.0, 3.0]
    assert [float(b) for b in bwd.beta] == pytest.approx([4 / 3, 2.0])
    spide_weight_grads(inp, layers, fb, fwd, bwd.beta)
    # grad W = (beta_post * m_post) * a_pre / (V_th - u_rest) = .../2
    assert float(layers[0].weight.grad) == pytest.approx(0.5 * 2.0 * (1 / 3))
    assert float(layers[0].bias.grad) == pytest.approx(0.5 * 2.0)
    assert float(fb.weight.grad) == pytest.approx(0.5 * (4 / 3) * (1 / 3))
    assert float(inp.weight.grad) == pytest.approx(0.5 * (4 / 3) * 0.6)
    assert float(inp.bias.grad) == pytest.approx(0.5 * (4 / 3))


def _grads(net):
    ps = [*net.input_layer.parameters(), *net.layers.parameters(), *net.feedback.parameters()]
    return torch.cat([p.grad.flatten() for p in ps])


def _probe_net(steps: int, steps_back: int):
    net = build_spide(
        input_shape=(16,), hidden=(24, 16), num_classes=4, steps=steps, steps_back=steps_back, seed=1
    ).double()
    with torch.no_grad():
        net.feedback.weight.mul_(0.3)
        net.input_layer[1].weight.mul_(3.0)
    g = torch.Generator().manual_seed(2)
    return net, torch.rand(1, 8, 16, generator=g, dtype=D), torch.randint(0, 4, (8,), generator=g)


@pytest.mark.parametrize(("steps", "steps_back", "bound"), [(30, 250, 0.9), (300, 1000, 0.99)])
def test_implicit_gradient_matches_bptt_through_the_equilibrium(steps, steps_back, bound):
    # measured (backward_scale="auto"): cosine 0.932 at the paper's T = 30/250, 1.000 at T = 300/1000;
    # with the fixed backward threshold ("none"): 0.938 and 0.998
    net, x, y = _probe_net(steps, steps_back)
    loss, _ = spide_train_loss(net, x, y)
    net.zero_grad()
    loss.backward()
    spide = _grads(net)
    net.zero_grad()
    a = rate_equilibrium(x[0], net.input_layer, net.layers, net.feedback, iterations=60)
    nn.functional.cross_entropy(net.readout(a[-1]), y).backward()
    bptt = _grads(net)
    cos = float(spide @ bptt / (spide.norm() * bptt.norm()))
    assert cos > bound, cos
    assert float((net.last_forward.rates[-1] - a[-1].detach()).abs().max()) < 0.05


def test_updates_use_spikes_only():
    net, x, y = _probe_net(30, 250)
    loss, _ = spide_train_loss(net, x, y)
    net.zero_grad()
    loss.backward()
    fwd, bwd = net.last_forward, net.last_backward
    # spike counts are integers; the rates are the counts over time; beta is the signed count times
    # 2 V_b / (T_b k), k the backward scale (0.5 V_b / max |dL/da|)
    k = bwd.scale
    assert k == pytest.approx(0.5 / _peak_grad(net, x, y))
    for c, a in zip(fwd.counts, fwd.rates):
        assert torch.equal(c, c.round()) and torch.allclose(a, c / 30)
    for s, b in zip(bwd.signed, bwd.beta):
        assert torch.equal(s, s.round()) and torch.allclose(b, s * 2.0 / (250 * k))
    assert sum(float(e.sum()) for e in bwd.events) > 100  # the backward neurons do spike
    # the update of F_1 (layer 1 -> 2) from the recorded spike counts alone equals what was applied
    m2 = ((fwd.counts[1] > 0) & (fwd.counts[1] < 30)).to(D)
    beta2 = bwd.signed[1] * 2.0 / (250 * k)
    want = 0.5 * (beta2 * m2).t() @ (fwd.counts[0] / 30)
    assert torch.allclose(net.layers[0].weight.grad, want, atol=1e-15)
    fb_want = 0.5 * ((bwd.signed[0] * 2.0 / (250 * k)) * fwd.masks[0]).t() @ (fwd.counts[1] / 30)
    assert torch.allclose(net.feedback.weight.grad, fb_want, atol=1e-15)


def _peak_grad(net, x, y) -> float:
    """max |dL/da_n| for the read-out of the last forward rates (what drives the backward simulation)."""
    a = net.last_forward.rates[-1].detach().requires_grad_(True)
    (g,) = torch.autograd.grad(nn.functional.cross_entropy(net.readout(a), y), a)
    return float(g.abs().max())


def test_spidenet_trains_with_an_optimiser_and_eval_has_no_backward():
    torch.manual_seed(0)
    net = build_spide(input_shape=(1, 8, 8), hidden=(32, 16), steps=10, steps_back=20)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.rand(1, 4, 1, 8, 8)
    y = torch.tensor([0, 1, 2, 3])
    before = net.layers[0].weight.detach().clone()
    loss, out = spide_train_loss(net, x, y)
    assert out.shape == (1, 4, 10)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert not torch.equal(before, net.layers[0].weight) and net.spikes_per_sample() > 0
    net.eval()
    net.last_backward = None
    with torch.no_grad():
        net(x)
    assert net.last_backward is None
    frames = torch.rand(5, 2, 1, 8, 8)  # event frames: one per step
    net.train()
    assert net(frames).shape == (1, 2, 10) and net.last_forward.steps == 5
    with pytest.raises(ParameterError, match="leak"):
        build_spide(leak=1.5)


def test_spide_lif_variant_weighted_rates():
    inp, layers, fb = _tiny()
    fwd = spide_forward(torch.full((1, 1, 1), 0.6, dtype=D), inp, layers, fb, steps=3, leak=0.5)
    # t0: u1 = 0.6 -> 0.3 after leak; t1: 0.3 + 0.6 = 0.9 (0) -> 0.45; t2: 1.05 (1): a1 = 1 / (1 + .5 + .25)
    assert float(fwd.rates[0]) == pytest.approx(1 / 1.75)


def test_spide_conv_reduced_builds_and_backprops():
    torch.manual_seed(0)
    net = build_spide(input_shape=(3, 32, 32), arch="conv", channels=(8, 8, 8, 8, 8), steps=4, steps_back=8)
    loss, out = spide_train_loss(net, torch.rand(1, 2, 3, 32, 32), torch.tensor([0, 1]))
    loss.backward()
    assert out.shape == (1, 2, 10) and net.feedback.weight.grad is not None


@pytest.mark.slow
def test_spide_conv_paper_width_cifar_and_dvs():
    torch.manual_seed(0)
    for key, shape in (("spide_cifar10", (3, 32, 32)), ("spide_dvs_cifar10", (2, 48, 48))):
        cfg = dict(PAPER_PRESETS[key]["model"], steps=4, steps_back=8)
        net = build_spide(**cfg)
        loss, out = spide_train_loss(net, torch.rand(1, 2, *shape), torch.tensor([0, 1]))
        loss.backward()
        assert out.shape == (1, 2, 10)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (nn.Linear(5, 7), (3, 5)),
        (nn.Conv2d(3, 4, 3, 2, 1), (2, 3, 9, 9)),
        (nn.Conv2d(3, 4, 3, 2, 1), (2, 3, 8, 8)),  # the transposed conv would give 7x7: falls back to the VJP
        (nn.ConvTranspose2d(4, 3, 3, 2, 1, output_padding=1), (2, 4, 4, 4)),
    ],
)
def test_transposed_maps_equal_the_vector_jacobian_product(layer, shape):
    from biosnn.models.spide import _transpose

    torch.manual_seed(0)
    layer = layer.double()
    v = torch.rand_like(layer(torch.zeros(shape, dtype=D)))
    z = torch.zeros(shape, dtype=D, requires_grad=True)
    (want,) = torch.autograd.grad(layer(z), z, v)
    assert torch.allclose(_transpose(layer, v, torch.Size(shape)), want, atol=1e-14)
