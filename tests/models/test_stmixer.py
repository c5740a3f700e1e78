"""STMixer (issue 11): Dspike, LIF, token mixer, IPSPS and the SML loss on exact values."""

from __future__ import annotations

import math

import pytest
import torch

from biosnn.errors import ParameterError, ShapeError
from biosnn.models.stmixer import (
    IPSPS,
    PAPER_PRESETS,
    STMixerLIF,
    build_stmixer,
    dspike,
    sml_loss,
    stmixer_lif_sequence,
    stmixer_train_loss,
    token_mix,
)

D = torch.float64
G = 2.5
K = 1 / (2 * math.tanh(G))


def _d(u: float) -> float:
    return K * G * (1 - math.tanh(G * u) ** 2) if abs(u) <= 1 else 0.0


def test_dspike_exact_values_and_unit_area():
    us = [-1.2, -1.0, -0.5, 0.0, 0.3, 1.0, 1.01]
    u = torch.tensor(us, dtype=D, requires_grad=True)
    s = dspike(u)
    assert s.tolist() == [0, 0, 0, 1, 1, 1, 1]  # u >= 0
    s.sum().backward()
    assert u.grad.tolist() == pytest.approx([_d(v) for v in us], abs=1e-15)
    assert float(u.grad[3]) == pytest.approx(1.25 / math.tanh(2.5))  # k g at u = 0
    grid = torch.linspace(-1, 1, 20001, dtype=D, requires_grad=True)
    dspike(grid).sum().backward()
    assert float(torch.trapezoid(grid.grad, grid.detach())) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ParameterError):
        dspike(u, gamma=0.0)


def test_lif_recurrence_hard_and_soft_reset():
    x = torch.tensor([0.8, 0.8, 0.9], dtype=D).view(3, 1)
    # hard: m = 0.8 (0); 0.4 + 0.8 = 1.2 (1) -> 0; 0 + 0.9 (0)
    assert stmixer_lif_sequence(x).view(-1).tolist() == [0, 1, 0]
    # soft: ... 1.2 - 1 = 0.2; 0.1 + 0.9 = 1.0 (1)
    assert STMixerLIF(reset="soft")(x).view(-1).tolist() == [0, 1, 1]
    with pytest.raises(ParameterError, match="reset"):
        stmixer_lif_sequence(x, reset="zero")


def test_lif_gradient_closed_form():
    # x = (0.8, 0.8): s1 = H(0.5 * m0 (1 - s0) + 0.8 - 1); d s1/d x0 = D(0.2) * 0.5 * (1 - 0.8 D(-0.2))
    x = torch.tensor([0.8, 0.8], dtype=D).view(2, 1).requires_grad_()
    stmixer_lif_sequence(x)[1].sum().backward()
    want0 = _d(0.2) * 0.5 * (1 - 0.8 * _d(-0.2))
    assert x.grad.view(-1).tolist() == pytest.approx([want0, _d(0.2)], abs=1e-14)


def test_t1_fast_path():
    x = torch.tensor([[0.5, 1.0, 1.7]], dtype=D, requires_grad=True)
    s = stmixer_lif_sequence(x)
    assert s.tolist() == [[0, 1, 1]]
    s.sum().backward()
    assert x.grad.view(-1).tolist() == pytest.approx([_d(-0.5), _d(0.0), _d(0.7)], abs=1e-15)


def test_token_mix_per_head_exact():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 4, 3, generator=g, dtype=D)  # [B, C=4, N=3]
    w = torch.rand(2, 3, 3, generator=g, dtype=D)  # two heads
    y = token_mix(x, w)
    for b in range(2):
        for c in range(4):
            h = c // 2
            for m in range(3):
                want = sum(float(x[b, c, n] * w[h, m, n]) for n in range(3))  # Y_h = X_h W_h^T
                assert float(y[b, c, m]) == pytest.approx(want, abs=1e-14)
    with pytest.raises(ShapeError):
        token_mix(torch.rand(2, 3, 3, dtype=D), w)  # 3 channels, 2 heads


def test_ipsps_split_seven_eighths_spiking_one_eighth_shortcut():
    torch.manual_seed(0)
    emb = IPSPS(3, 64, downsample=2).double()
    conv = emb.shortcut.module[0]
    assert conv.kernel_size == (4, 4) and conv.stride == (4, 4) and conv.out_channels == 8
    assert emb.main_dims == 56
    x = torch.rand(2, 3, 3, 32, 32, dtype=D)
    out = emb(x)
    assert out.shape == (2, 3, 64, 64)
    assert torch.equal(out[:, :, :8], emb.shortcut(x).flatten(-2))
    assert torch.equal(out[:, :, 8:], emb.main(x).flatten(-2))
    assert IPSPS(2, 64, downsample=4).shortcut.module[0].stride == (16, 16)
    with pytest.raises(ParameterError):
        IPSPS(3, 60)


def test_sml_loss_exact_values():
    final = torch.tensor([[1.0, 0.0]], dtype=D)
    aux = [torch.tensor([[0.0, 1.0]], dtype=D)]
    y = torch.tensor([0])
    hard = 0.5 * (math.log(1 + math.exp(-1)) + math.log(1 + math.e))
    soft = 2 * math.tanh(1 / 6) / 3  # KL of two mirrored two-class softmaxes at logit gap 1/3, both ways
    want = 0.333 * soft + 0.667 * hard
    assert float(sml_loss(final, aux, y)) == pytest.approx(want, abs=1e-14)
    # alpha weights the auxiliary CE: alpha = 2, hard = (CE0 + 2 CE1) / 3
    hard2 = (math.log(1 + math.exp(-1)) + 2 * math.log(1 + math.e)) / 3
    assert float(sml_loss(final, aux, y, alpha=2.0, lam=0.0)) == pytest.approx(hard2, abs=1e-14)
    assert float(sml_loss(final, [], y)) == pytest.approx(math.log(1 + math.exp(-1)))


def test_sml_soft_targets_are_detached():
    final = torch.tensor([[1.0, 0.0], [0.2, 0.5]], dtype=D, requires_grad=True)
    aux = torch.tensor([[0.0, 1.0], [1.0, -1.0]], dtype=D, requires_grad=True)
    y = torch.tensor([0, 1])
    sml_loss(final, [aux], y, lam=1.0).backward()
    tau = 3.0
    # only KL(q_aux_detached || p_final) reaches `final`: (softmax(final/tau) - softmax(aux/tau)) / tau / B
    want_f = (torch.softmax(final.detach() / tau, 1) - torch.softmax(aux.detach() / tau, 1)) / tau / 2
    want_a = (torch.softmax(aux.detach() / tau, 1) - torch.softmax(final.detach() / tau, 1)) / tau / 2
    assert torch.allclose(final.grad, want_f, atol=1e-15) and torch.allclose(aux.grad, want_a, atol=1e-15)


def test_stmixer_reduced_builds_aux_heads_and_trains():
    torch.manual_seed(0)
    net = build_stmixer(dim=32, depth=4, heads=4, mlp_ratio=2.0)
    assert len(net.aux) == 2 and len(net.aux[0].encoder) == 2 and len(net.aux[1].encoder) == 1
    x = torch.rand(2, 2, 3, 32, 32)
    out, aux = net.forward_with_aux(x)
    assert out.shape == (2, 2, 10) and [a.shape for a in aux] == [(2, 10), (2, 10)]
    loss, _ = stmixer_train_loss(net, x, torch.tensor([0, 1]))
    loss.backward()
    assert net.aux[0].head.weight.grad is not None and net.patch_embed.shortcut.module[0].weight.grad.abs().sum() > 0
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net.forward_with_aux(x)[0])  # the aux heads do not touch the spiking path
    t1 = build_stmixer(in_channels=2, img_size=48, dim=32, depth=2, heads=4, sml=False)
    assert len(t1.aux) == 0 and t1(torch.rand(1, 2, 2, 48, 48)).shape == (1, 2, 10)  # T = 1, DVS frames


@pytest.mark.slow
def test_stmixer_paper_width_cifar_and_dvs():
    torch.manual_seed(0)
    for key, shape in (("stmixer_cifar10", (3, 32, 32)), ("stmixer_dvs_cifar10", (2, 48, 48))):
        net = build_stmixer(**PAPER_PRESETS[key]["model"])
        loss, out = stmixer_train_loss(net, torch.rand(2, 2, *shape), torch.tensor([0, 1]))
        loss.backward()
        assert out.shape == (2, 2, 10)


def test_one_dimensional_configuration_for_signals():
    """Height-1 signals (Breiman's waveforms, [1, 1, 21]): IPSPS never strides the height, the signal is
    zero-padded to 24 samples (6 patches), and the result equals the model run on the padded signal."""
    torch.manual_seed(0)
    net = build_stmixer(in_channels=1, num_classes=3, img_size=(1, 21), dim=32, depth=2, heads=4, mlp_ratio=2.0)
    assert net.num_patches == 6 and net.pad == 3
    shortcut = net.patch_embed.shortcut.module[0]
    assert shortcut.kernel_size == (1, 4) and shortcut.stride == (1, 4)
    x = torch.rand(2, 3, 1, 1, 21, dtype=torch.float64)
    net = net.double().eval()
    out = net(x)
    assert out.shape == (2, 3, 3)
    padded = torch.nn.functional.pad(x, (0, 3))
    h = net.patch_embed(padded)
    assert h.shape == (2, 3, 32, 6)
    for blk in net.blocks:
        h = blk(h)
    assert torch.equal(out, net.head(h.mean(-1)))
    net.train()
    loss, _ = stmixer_train_loss(net, x, torch.tensor([0, 1, 2]))
    loss.backward()
    assert net.patch_embed.shortcut.module[0].weight.grad.abs().sum() > 0
    with pytest.raises(ShapeError, match=r"\[T, B, C, 1, 21\]"):
        net(torch.rand(2, 3, 1, 1, 20, dtype=torch.float64))
    with pytest.raises(ParameterError, match=r"\(1, L\)"):
        build_stmixer(img_size=(2, 21))
