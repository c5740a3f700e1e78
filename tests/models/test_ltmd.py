"""LTMD (issue 11): neuron recurrence, surrogate, graded output, moderate dropout and loss on exact values."""

from __future__ import annotations

import math
import time

import pytest
import torch

from biosnn.errors import ParameterError, ShapeError
from biosnn.models.ltmd import (
    PAPER_PRESETS,
    GradedOutput,
    LTNeuron,
    build_ltmd,
    graded_output_sequence,
    ltmd_loss,
    ltmd_sequence,
    ltmd_train_loss,
    moderate_dropout,
    moderate_dropout_keep,
    rectangular_spike,
    symmetric_kl,
)

D = torch.float64
VTH = math.tanh(0.5)


def test_rectangular_surrogate_exact_values():
    v = torch.tensor([-0.6, -0.5, -0.49, 0.0, 0.2, 0.49, 0.5, 0.7], dtype=D, requires_grad=True)
    s = rectangular_spike(v, 0.5)
    assert s.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]  # strict: v > 0
    s.sum().backward()
    assert v.grad.tolist() == [0, 0, 1, 1, 1, 1, 0, 0]  # 1[|v| < 0.5] / (2 * 0.5)
    v2 = torch.tensor([0.1, 0.3], dtype=D, requires_grad=True)
    rectangular_spike(v2, 0.25).sum().backward()
    assert v2.grad.tolist() == [2.0, 0.0]
    with pytest.raises(ParameterError, match="half_width"):
        rectangular_spike(v2, 0.0)


def test_ltmd_recurrence_hand_computed():
    # u0 = 0.3; u1 = 0.25*0.3 + 0.3 = 0.375; u2 = 0.25*0.375 + 0.5 = 0.59375 > tanh(0.5) -> spike;
    # u3 = 0.25*0.59375*(1 - 1) + 0.1 = 0.1
    x = torch.tensor([0.3, 0.3, 0.5, 0.1], dtype=D).view(4, 1)
    assert ltmd_sequence(x, VTH).view(-1).tolist() == [0, 0, 1, 0]
    # a smaller threshold: u1 = 0.375 > 0.35 spikes, then u2 = 0 + 0.5 spikes, u3 = 0.1
    assert ltmd_sequence(x, 0.35).view(-1).tolist() == [0, 1, 1, 0]


def test_ltmd_gradients_closed_form():
    # T = 2, I = (0.3, 0.5): u0 = 0.3 (o0 = 0), u1 = 0.575 (o1 = 1); both inside the surrogate window.
    # do1/dI0 = s1 * (tau (1 - o0) - tau u0 s0) = 0.25 - 0.075 = 0.175, do1/dI1 = s1 = 1.
    x = torch.tensor([[0.3], [0.5]], dtype=D, requires_grad=True)
    neuron = LTNeuron().double()
    out = neuron(x)
    assert out.view(-1).tolist() == [0.0, 1.0]
    out[1].sum().backward()
    assert x.grad.view(-1).tolist() == pytest.approx([0.175, 1.0], abs=1e-15)
    # threshold: o1 = H(tau u0 (1 - o0) + I1 - V), o0 = H(I0 - V): do1/dV = s1 * (-1 + tau u0 s0) = -0.925
    # and dV/dw = 1 - tanh^2 w
    assert float(neuron.w.grad) == pytest.approx(-0.925 * (1 - VTH**2), abs=1e-14)


def test_ltneuron_fixed_threshold_is_a_buffer():
    n = LTNeuron(learnable=False)
    assert list(n.parameters()) == [] and float(n.threshold) == pytest.approx(VTH)


def test_graded_output_hand_computed_and_gradient():
    # I = (0.3, 0.5, 0.2): u0 = 0.3 -> 0; u1 = 0.075 + 0.5 = 0.575 -> 0.575; u1 fired: u2 = 0.2 -> 0.
    x = torch.tensor([0.3, 0.5, 0.2], dtype=D).view(3, 1, 1).requires_grad_()
    o = graded_output_sequence(x, torch.zeros_like(x), VTH)
    assert o.view(-1).tolist() == pytest.approx([0.0, 0.575, 0.0], abs=1e-15)
    o.sum().backward()
    # straight-through where u >= V_th - 0.5 (all three here): d o0/d I0 = 1 (although o0 = 0), and
    # d o1/d I0 = tau (1 - 0) = 0.25; the reset indicator of u1 carries no gradient.
    assert x.grad.view(-1).tolist() == pytest.approx([1.25, 1.0, 1.0], abs=1e-15)
    y = torch.tensor([-0.2]).view(1, 1, 1).double().requires_grad_()
    graded_output_sequence(y, torch.zeros_like(y), VTH).sum().backward()
    assert float(y.grad) == 0.0  # below V_th - a: no gradient


def test_graded_output_lateral_conv():
    torch.manual_seed(0)
    layer = GradedOutput().double()
    assert layer.lateral.kernel_size == (5,) and layer.lateral.padding == (2,) and layer.lateral.bias is None
    x = torch.rand(3, 2, 7, dtype=D)
    lat = torch.nn.functional.conv1d(x.reshape(6, 1, 7), layer.lateral.weight, padding=2).view(3, 2, 7)
    assert torch.equal(layer(x), graded_output_sequence(x, lat, VTH))


def test_moderate_dropout_keep_probabilities_exact():
    x = torch.tensor([0.0, 1.0, 2.0, 4.0], dtype=D).view(1, 1, 4).expand(2, 1, 4)
    q = moderate_dropout_keep(x, 0.2)
    # d = (0, 1, 2, 4), p = (0, .25, .5, 1), mean p = 0.4375, q = 1 - (1 - p) * 0.2 / 0.5625
    want = [1 - (1 - p) * 0.2 / 0.5625 for p in (0.0, 0.25, 0.5, 1.0)]
    assert q.view(-1).tolist() == pytest.approx(want, abs=1e-15)
    # all equal: p = 0, q = 1 - r
    assert moderate_dropout_keep(torch.ones(2, 1, 3, dtype=D), 0.2).view(-1).tolist() == pytest.approx([0.8] * 3)
    with pytest.raises(ParameterError, match="rate"):
        moderate_dropout_keep(x, 1.0)
    with pytest.raises(ShapeError):
        moderate_dropout_keep(torch.ones(3, 4), 0.2)


def test_moderate_dropout_mask_shared_over_time_and_unbiased():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(4, 64, 50, generator=g, dtype=D)
    y, m = moderate_dropout(x, 0.2, generator=g)
    q = moderate_dropout_keep(x, 0.2)
    assert torch.equal(y, x * m.unsqueeze(0))  # one mask for every time step
    kept = m > 0
    assert torch.allclose(m[kept], 1.0 / q[kept])  # Bernoulli(q) / q
    means = torch.stack([moderate_dropout(x, 0.2, generator=g)[1] for _ in range(400)]).mean(0)
    assert float((means - 1).abs().mean()) < 0.06  # E[m] = 1


def test_ltmd_loss_exact_values():
    z1 = torch.tensor([[1.0, 0.0]], dtype=D)
    z2 = torch.tensor([[0.0, 1.0]], dtype=D)
    y = torch.tensor([0])
    ce = 0.5 * (math.log(1 + math.exp(-1)) + math.log(1 + math.e))
    sym = 2 * math.tanh(0.5)  # KL between (s(1), s(-1)) and its mirror is tanh(0.5), each way
    assert float(symmetric_kl(z1, z2)) == pytest.approx(sym, abs=1e-14)
    assert float(ltmd_loss(z1, z2, y)) == pytest.approx(ce + 0.5 * sym / 2, abs=1e-14)


def test_ltmd_train_loss_uses_two_dropout_samples():
    torch.manual_seed(0)
    net = build_ltmd(hidden=(16,), head=32, seed=1).double()
    x = torch.rand(2, 4, 1, 8, 8, dtype=D)
    y = torch.tensor([0, 1, 2, 3])
    loss, out = ltmd_train_loss(net, x, y)
    assert out.shape == (2, 4, 10) and torch.isfinite(loss)
    loss.backward()
    assert net.fc1.module.weight.grad.abs().sum() > 0
    net.eval()
    loss_eval, out_eval = ltmd_train_loss(net, x, y)
    want = torch.nn.functional.cross_entropy(out_eval.mean(0), y)
    assert float(loss_eval.detach()) == pytest.approx(float(want.detach()))


def _fwd_bwd(net, shape, steps=2, batch=2):
    x = torch.rand(steps, batch, *shape)
    t0 = time.perf_counter()
    out = net(x)
    out.mean(0).sum().backward()
    return out, time.perf_counter() - t0


@pytest.mark.slow
def test_ltmd_densenet_paper_width_cifar_and_dvs():
    torch.manual_seed(0)
    for key in ("ltmd_cifar10", "ltmd_dvs_cifar10"):
        cfg = PAPER_PRESETS[key]["model"]
        net = build_ltmd(**cfg)
        out, _ = _fwd_bwd(net, cfg["input_shape"])
        assert out.shape == (2, 2, 10)


def test_ltmd_densenet_reduced_width_runs():
    torch.manual_seed(0)
    net = build_ltmd(input_shape=(3, 32, 32), arch="densenet", growth=8, blocks=(2, 2, 2), init_features=16)
    out, seconds = _fwd_bwd(net, (3, 32, 32))
    assert out.shape == (2, 2, 10) and seconds < 10
    net2 = build_ltmd(input_shape=(2, 48, 48), arch="densenet", growth=8, blocks=(2, 2), init_features=16)
    out2, _ = _fwd_bwd(net2, (2, 48, 48))
    assert out2.shape == (2, 2, 10)
