"""EICIL, biosnn's reading (issue 11): the EI neuron's ternary recurrence and surrogate, and the cycle."""

from __future__ import annotations

import pytest
import torch

from biosnn.errors import ParameterError
from biosnn.models.eicil import EICILCycle, EINeuron, build_eicil, ei_sequence, eicil_train_loss

D = torch.float64


def test_ei_neuron_ternary_recurrence_hand_computed():
    # theta_E = 1, theta_I = 0.5, IF: h = 0.6 (0); 1.2 (+1) -> 0.2; 0.2 - 0.9 = -0.7 (-1) -> -0.2; -0.2 + 0.1 (0)
    x = torch.tensor([0.6, 0.6, -0.9, 0.1], dtype=D).view(4, 1)
    assert ei_sequence(x, 1.0, 0.5).view(-1).tolist() == [0, 1, -1, 0]
    # without the inhibitory threshold: plain IF with subtraction, -0.7 stays
    assert ei_sequence(x, 1.0, 0.5, inhibitory=False).view(-1).tolist() == [0, 1, 0, 0]
    # leak 0.5: 0.6; 0.3 + 0.6 = 0.9 (0); 0.45 - 0.9 = -0.45 (0); -0.225 + 0.1 (0)
    assert ei_sequence(x, 1.0, 0.5, beta=0.5).view(-1).tolist() == [0, 0, 0, 0]


def test_ei_surrogate_and_threshold_gradients_closed_form():
    h = torch.tensor([[0.8, -0.3, 1.6, -0.9]], dtype=D, requires_grad=True)  # one step, T = 1
    te = torch.tensor(1.0, dtype=D, requires_grad=True)
    ti = torch.tensor(0.5, dtype=D, requires_grad=True)
    s = ei_sequence(h, te, ti)
    assert s.view(-1).tolist() == [0, 0, 1, -1]
    s.sum().backward()
    # ds/dh = (1[|h - 1| < .5] + 1[|h + .5| < .5]) / 1: 0.8 -> 1, -0.3 -> 1, 1.6 -> 0, -0.9 -> 1
    assert h.grad.view(-1).tolist() == [1.0, 1.0, 0.0, 1.0]
    assert float(te.grad) == -1.0  # only 0.8 is inside the excitatory window
    assert float(ti.grad) == 2.0  # -0.3 and -0.9 inside the inhibitory window: d(-H(-h - ti))/d ti = +1


def test_ei_reset_gradient_through_two_steps():
    # x = (0.8, 0.5): h0 = 0.8 (0, window of theta_E); h1 = u0 + 0.5 = 1.3 (+1, window)
    # d s1/d x0 = sg(h1) * d u0/d x0 = 1 * (1 - theta_E * sg(h0)) = 1 - 1 = 0 ; d s1/d x1 = 1
    x = torch.tensor([0.8, 0.5], dtype=D).view(2, 1).requires_grad_()
    s = ei_sequence(x, 1.0, 0.5)
    assert s.view(-1).tolist() == [0, 1]
    s[1].sum().backward()
    assert x.grad.view(-1).tolist() == [0.0, 1.0]


def test_cycle_alternates_and_freezes_exactly_with_adam():
    torch.manual_seed(0)
    net = build_eicil(hidden=(16,))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    cyc = EICILCycle(net, opt, cycle=2)
    assert [cyc.phase(i) for i in range(6)] == ["excitatory"] * 2 + ["inhibitory"] * 2 + ["excitatory"] * 2
    neuron = next(m for m in net.modules() if isinstance(m, EINeuron))
    x = torch.rand(2, 8, 1, 8, 8)
    y = torch.arange(8)
    log = []
    for _ in range(4):
        te, ti = neuron.theta_e.item(), neuron.theta_i.item()
        loss, _ = eicil_train_loss(net, x, y)
        opt.zero_grad()
        loss.backward()
        phase = cyc.step()
        log.append((phase, neuron.theta_e.item() != te, neuron.theta_i.item() != ti))
    assert log == [
        ("excitatory", True, False),
        ("excitatory", True, False),
        ("inhibitory", False, True),
        ("inhibitory", False, True),
    ]


def test_cycle_by_sign_moves_only_one_population_of_weights():
    torch.manual_seed(0)
    net = build_eicil(hidden=(16,))
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    cyc = EICILCycle(net, opt, cycle=1, weights="by_sign")
    w = net.features[1].module.weight
    before = w.detach().clone()
    loss, _ = eicil_train_loss(net, torch.rand(2, 8, 1, 8, 8), torch.arange(8))
    loss.backward()
    assert cyc.step() == "excitatory"
    neg = before <= 0
    assert torch.equal(w.detach()[neg], before[neg]) and not torch.equal(w.detach()[~neg], before[~neg])
    readout = net.readout.module.weight
    assert readout.requires_grad and all(readout is not p for p in cyc._weights)
    with pytest.raises(ParameterError):
        EICILCycle(net, opt, weights="all")


def test_eicil_vgg11_reduced_and_dvs_shapes():
    torch.manual_seed(0)
    net = build_eicil(input_shape=(3, 32, 32), arch="vgg11", width=0.125)
    loss, out = eicil_train_loss(net, torch.rand(2, 2, 3, 32, 32), torch.tensor([0, 1]))
    loss.backward()
    assert out.shape == (2, 2, 10)
    dvs = build_eicil(input_shape=(2, 48, 48), arch="vgg11", width=0.125)
    assert dvs(torch.rand(2, 2, 2, 48, 48)).shape == (2, 2, 10)


@pytest.mark.slow
def test_eicil_vgg11_paper_width():
    torch.manual_seed(0)
    for shape in ((3, 32, 32), (2, 48, 48)):
        net = build_eicil(input_shape=shape, arch="vgg11")
        loss, out = eicil_train_loss(net, torch.rand(2, 2, *shape), torch.tensor([0, 1]))
        loss.backward()
        assert out.shape == (2, 2, 10)
