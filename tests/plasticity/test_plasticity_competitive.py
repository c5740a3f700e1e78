"""Competitive STDP (pre-trace target, Diehl & Cook 2015): the layer update against Brian2, by hand and with
the bounds clipping; the rule turns a WTA layer's weights into prototypes of the inputs each neuron wins."""

from __future__ import annotations

import brian2
import numpy as np
import pytest
import torch
from biosnn.plasticity import RULES, CompetitiveStdp
from biosnn.plasticity.protocols import layer_update_in_brian2
from biosnn.plasticity.stdp_competitive import competitive_stdp_sequential, competitive_stdp_update

from biosnn.errors import ParameterError


def _spikes(shape, p, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g, dtype=torch.float64) < p).to(torch.float64)


def test_hand_computed_update_with_simultaneous_spikes():
    # one input, one neuron, dt = 1 ms, tau_trace = 1 ms / ln 2: the trace halves per step
    rule = CompetitiveStdp(eta=0.1, x_tar=0.25, tau_trace=1 * brian2.ms / np.log(2), w_max=10.0)
    pre = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64).view(4, 1, 1)
    post = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64).view(4, 1, 1)
    dw = rule.layer_update(pre, post, torch.full((1, 1), 5.0, dtype=torch.float64), dt=1 * brian2.ms)
    # step 1: trace 0.5 -> 0.1 (0.5 - 0.25); step 2: trace 0.25 + 1 (pre first) -> 0.1 (1.25 - 0.25)
    assert dw.item() == pytest.approx(0.1 * 0.25 + 0.1 * 1.0, abs=1e-12)
    ref = layer_update_in_brian2(rule, pre, post, torch.full((1, 1), 5.0, dtype=torch.float64), dt=1 * brian2.ms)
    assert float(ref[0, 0]) == pytest.approx(dw.item(), abs=1e-12)


@pytest.mark.parametrize("x_tar, w0", [(0.0, 0.3), (0.8, 0.02)])  # free, and depression clipped at w_min = 0
def test_layer_update_equals_brian2(x_tar, w0):
    rule = CompetitiveStdp(eta=0.05, x_tar=x_tar, tau_trace=5 * brian2.ms, w_max=1.0)
    pre, post = _spikes((30, 3, 5), 0.3, 1), _spikes((30, 3, 4), 0.15, 2)
    weight = torch.full((4, 5), w0, dtype=torch.float64)
    dw = rule.layer_update(pre, post, weight, dt=1 * brian2.ms)
    ref = torch.tensor(layer_update_in_brian2(rule, pre, post, weight, dt=1 * brian2.ms))
    assert dw.abs().max() > 0
    assert torch.allclose(dw, ref, rtol=1e-9, atol=1e-13)
    kw = dict(decay=float(np.exp(-1 / 5)), eta=0.05, x_tar=x_tar, w_min=0.0, w_max=1.0)
    seq = competitive_stdp_sequential(pre, post, weight, **kw)
    assert torch.allclose(competitive_stdp_update(pre, post, weight, **kw), seq, rtol=1e-12, atol=1e-14)
    if w0 < 0.1:  # the bounds acted: the unclipped sum differs from Brian2's
        x = pre.clone()
        for t in range(1, 30):
            x[t] += x[t - 1] * kw["decay"]
        raw = 0.05 * (torch.einsum("tbo,tbi->oi", post, x) - x_tar * post.sum((0, 1))[:, None])
        assert not torch.allclose(raw, dw)


def test_winner_moves_toward_its_input_only():
    """One input pattern, the first neuron spikes: its weights turn toward the pattern, the others' stay."""
    rule = CompetitiveStdp(eta=0.02, tau_trace=3 * brian2.ms, w_max=10.0)
    pattern = torch.tensor([0.9, 0.9, 0.05, 0.05], dtype=torch.float64)
    pre = (torch.rand(200, 8, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64) < pattern).to(
        torch.float64
    )
    post = torch.zeros(200, 8, 3, dtype=torch.float64)
    post[::4, :, 0] = 1.0
    weight = torch.full((3, 4), 0.5, dtype=torch.float64)
    new = weight + rule.layer_update(pre, post, weight, dt=1 * brian2.ms)
    new = new / new.norm(dim=1, keepdim=True) * weight.norm(dim=1, keepdim=True)  # l2 normalisation
    cos = torch.nn.functional.cosine_similarity(new, pattern.expand(3, 4), dim=1)
    cos0 = torch.nn.functional.cosine_similarity(weight, pattern.expand(3, 4), dim=1)
    assert cos[0] > 0.95 > cos0[0] and torch.allclose(cos[1:], cos0[1:])


def test_registered_and_bad_values_raise():
    assert RULES["stdp_competitive"] is CompetitiveStdp
    with pytest.raises(ParameterError, match="x_tar"):
        CompetitiveStdp(x_tar=-0.1)
    with pytest.raises(ParameterError, match="eta"):
        CompetitiveStdp(eta=-1.0)
