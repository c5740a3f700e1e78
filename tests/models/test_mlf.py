"""MLF neurons, tdBN and the spiking DS-ResNet (issue 11), on hand-computed values."""

from __future__ import annotations

import pytest
import torch

from biosnn.errors import ParameterError, ShapeError
from biosnn.models.mlf import (
    MLF,
    PAPER_PRESETS,
    DSBlock,
    TdBN,
    build_mlf_dsresnet,
    level_spike,
    mlf_sequence,
    mlf_train_loss,
    td_batch_norm,
)

D = torch.float64


def test_level_surrogate_width_one():
    u = torch.tensor([0.0, 0.11, 0.6, 0.61, 1.09, 1.1, 2.0], dtype=D, requires_grad=True)
    s = level_spike(u, 0.6, 1.0)
    assert s.tolist() == [0, 0, 0, 1, 1, 1, 1]  # strict u > 0.6
    s.sum().backward()
    assert u.grad.tolist() == [0, 1, 1, 1, 1, 0, 0]  # 1[|u - 0.6| < 0.5] / 1


def test_mlf_recurrence_hand_computed():
    # x = 2.0 then 0.5: t0 u_k = 2 for every k -> levels 0.6, 1.6 fire (2.6 does not): output 2.
    # t1: u_1 = 0.25*2*(1-1) + 0.5 = 0.5 (no), u_2 = 0.5 (no), u_3 = 0.25*2 + 0.5 = 1.0 (no): output 0.
    # t2 with x = 3: u_1 = 0.25*0.5 + 3 = 3.125, u_2 = 3.125, u_3 = 0.25 + 3 = 3.25: output 3.
    x = torch.tensor([2.0, 0.5, 3.0], dtype=D).view(3, 1)
    assert mlf_sequence(x).view(-1).tolist() == [2.0, 0.0, 3.0]
    assert MLF(levels=1)(x).view(-1).tolist() == [1.0, 0.0, 1.0]


def test_mlf_gradient_closed_form():
    # x = (1.5, 0.5): t0 u = 1.5 for all k; s-window: |1.5-0.6|=0.9 no, |1.5-1.6| = 0.1 yes, |1.5-2.6| no.
    # o0 = 1 + 0 + 0. t1: u_1 = 0 + 0.5, u_2 = 0.375 + 0.5 = 0.875, u_3 = 0.875.
    # windows at t1: |0.5-0.6| yes, |0.875-1.6| no, |0.875-2.6| no.
    # d out1 / d x1 = 1 (level 1); d out1/d x0 through level 1's reset: d u_1,1/d x0 = tau (1 - o) - tau u s
    #   = 0.25*(1-1) - 0.25*1.5*0 = 0; level 2 has no window at t1. So d out1/d x0 = 0, d out0/d x0 = 1.
    x = torch.tensor([1.5, 0.5], dtype=D).view(2, 1).requires_grad_()
    out = mlf_sequence(x)
    assert out.view(-1).tolist() == [1.0, 0.0]
    out[1].sum().backward()
    assert x.grad.view(-1).tolist() == [0.0, 1.0]
    x.grad = None
    out = mlf_sequence(x)
    out[0].sum().backward()
    assert x.grad.view(-1).tolist() == [1.0, 0.0]
    # through the reset of level 2: x = (1.5, 1.2): t1 u_2 = 0.375 + 1.2 = 1.575 (window), d u_2,1/d x0 =
    # tau (1 - o_2,0) - tau u_2,0 * s_2,0 = 0.25 - 0.375 = -0.125; level 1 at t1: u = 1.2, |0.6| no;
    # level 3: u_3 = 1.575, |1.025| no. So d out1/d x0 = -0.125, d out1 / d x1 = 1.
    x2 = torch.tensor([1.5, 1.2], dtype=D).view(2, 1).requires_grad_()
    mlf_sequence(x2)[1].sum().backward()
    assert x2.grad.view(-1).tolist() == pytest.approx([-0.125, 1.0], abs=1e-15)
    with pytest.raises(ParameterError, match="increasing"):
        mlf_sequence(x2, thresholds=(1.0, 0.5))


def test_td_batch_norm_exact():
    # [T=2, B=1, C=1]: values 1, 3 -> mean 2, biased var 1: y = 0.6 * (x - 2) / (1 + eps)
    x = torch.tensor([1.0, 3.0], dtype=D).view(2, 1, 1)
    y, mean, var = td_batch_norm(x, None, None, eps=1e-5)
    assert float(mean) == 2.0 and float(var) == 1.0
    assert y.view(-1).tolist() == pytest.approx([-0.6 / (1 + 1e-5), 0.6 / (1 + 1e-5)], abs=1e-15)
    bn = TdBN(1, alpha=0.5).double()
    with torch.no_grad():
        bn.weight.fill_(2.0)
        bn.bias.fill_(0.1)
    x4 = torch.tensor([1.0, 3.0, 1.0, 3.0], dtype=D).view(2, 2, 1, 1, 1)  # stats over T x B x H x W
    out = bn(x4)
    assert out.view(-1).tolist() == pytest.approx([2 * 0.5 * 0.6 * v / (1 + 1e-5) + 0.1 for v in (-1, 1, -1, 1)])
    # running stats: mean 0.1 * 2, var 0.9 + 0.1 * (1 * 4/3)
    assert float(bn.running_mean) == pytest.approx(0.2) and float(bn.running_var) == pytest.approx(0.9 + 0.4 / 3)
    bn.eval()
    ev = bn(x4)
    want = 2 * 0.5 * 0.6 * (x4 - 0.2) / ((0.9 + 0.4 / 3) ** 0.5 + 1e-5) + 0.1
    assert torch.allclose(ev, want)
    with pytest.raises(ShapeError):
        td_batch_norm(torch.ones(3, 2), None, None)


def test_ds_block_structure():
    torch.manual_seed(0)
    blk = DSBlock(4, 8, 2).double()
    x = torch.rand(2, 3, 4, 8, 8, dtype=D)
    with torch.no_grad():
        want = blk.mlf2(blk.bn2(blk.conv2(blk.mlf1(blk.bn1(blk.conv1(x)))))) + blk.shortcut(x)
        got = blk(x)
    assert torch.equal(got, want) and got.shape == (2, 3, 8, 4, 4)
    assert isinstance(blk.shortcut[2], MLF)  # conv1x1 -> tdBN -> MLF
    ident = DSBlock(4, 4, 1).double()
    assert isinstance(ident.shortcut, torch.nn.Identity)
    # output: MLF counts (0..3) plus shortcut spike counts: integers in [0, 6]
    assert torch.equal(got, got.round()) and float(got.max()) <= 6 and float(got.min()) >= 0


def _fwd_bwd(net, shape, steps=2, batch=2):
    x = torch.rand(steps, batch, *shape)
    loss, out = mlf_train_loss(net, x, torch.tensor([0, 1]))
    loss.backward()
    return out


@pytest.mark.slow
def test_dsresnet20_paper_width_cifar_and_dvs():
    torch.manual_seed(0)
    for key, shape in (("mlf_dsresnet_cifar10", (3, 32, 32)), ("mlf_dsresnet_dvs_cifar10", (2, 48, 48))):
        net = build_mlf_dsresnet(**PAPER_PRESETS[key]["model"])
        assert _fwd_bwd(net, shape).shape == (2, 2, 10)


def test_dsresnet_reduced_width_builds_and_trains():
    torch.manual_seed(0)
    net = build_mlf_dsresnet(widths=(8, 16, 32))
    out = _fwd_bwd(net, (3, 32, 32))
    assert out.shape == (2, 2, 10)
    assert net.stem[0].weight.grad.abs().sum() > 0
    assert len(net.layers) == 9  # ResNet-20: 3 stages of 3 blocks
    dvs = build_mlf_dsresnet(in_channels=2, blocks=(2, 2, 2), widths=(8, 16, 32), levels=1)
    assert _fwd_bwd(dvs, (2, 48, 48)).shape == (2, 2, 10)
