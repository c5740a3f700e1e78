"""The EIHL contraction mathematics as pure torch functions: hand-computed values and invariants."""

from __future__ import annotations

import math

import brian2
import pytest
import torch
from biosnn.plasticity.eihl_contraction import (
    bounded_contraction,
    global_decay,
    local_step,
    removal_threshold,
    sparsity,
)

from biosnn.errors import NonFiniteError, ParameterError, ShapeError, UnitError


def test_removal_threshold_is_b_times_mean_present_magnitude():
    w = torch.tensor([[1.0, -3.0], [0.5, 10.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True], [True, False]])
    th = removal_threshold(w, mask, b=0.5)
    assert th.shape == ()
    assert th.item() == pytest.approx(0.5 * (1.0 + 3.0 + 0.5) / 3)
    # no synapse present -> threshold 0
    assert removal_threshold(w, torch.zeros_like(mask), b=0.5).item() == 0.0


def test_local_step_hand_computed_and_inputs_untouched():
    w = torch.tensor([2.0, -1.0, 0.3, 4.0], dtype=torch.float64)
    x = torch.tensor([0.0, 1.0, 0.0, 5.0], dtype=torch.float64)
    mask = torch.tensor([True, True, True, False])
    w0, x0, m0 = w.clone(), x.clone(), mask.clone()
    w1, x1, m1 = local_step(w, x, mask, a=0.1, x_growth=0.5, threshold=0.5)
    # x grows only where present
    assert torch.equal(x1, torch.tensor([0.5, 1.5, 0.5, 5.0], dtype=torch.float64))
    # contraction w * clip(1 - a x, 0, 1), then removal under the threshold (0.3*0.95 < 0.5), absent stays 0
    assert w1[0].item() == 2.0 * (1 - 0.1 * 0.5)
    assert w1[1].item() == -1.0 * (1 - 0.1 * 1.5)
    assert w1[2].item() == 0.0 and w1[3].item() == 0.0
    assert m1.tolist() == [True, True, False, False]
    assert torch.equal(w, w0) and torch.equal(x, x0) and torch.equal(mask, m0)


def test_contraction_never_flips_sign_and_large_ax_removes():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(50, 40, generator=g, dtype=torch.float64)
    x = torch.full_like(w, 30.0)
    mask = torch.ones_like(w, dtype=torch.bool)
    w1, _, m1 = local_step(w, x, mask, a=0.1, x_growth=0.0, threshold=1e-12)
    assert torch.all(w1 == 0) and not m1.any()  # clip(1 - 3, 0, 1) = 0 -> all removed
    w2, _, _ = local_step(w, torch.zeros_like(w), mask, a=0.2, x_growth=1.0, threshold=0.0)
    assert torch.all(torch.sign(w2) == torch.sign(w)) and torch.all(w2.abs() <= w.abs())


def test_sparsity_grows_monotonically_over_a_local_period():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(100, 100, generator=g, dtype=torch.float64)
    x = torch.zeros_like(w)
    mask = torch.ones_like(w, dtype=torch.bool)
    th = removal_threshold(w, mask, b=0.2)
    prev = sparsity(mask)
    for _ in range(10):
        w, x, mask = local_step(w, x, mask, a=0.05, x_growth=0.1, threshold=th)
        s = sparsity(mask)
        assert s >= prev
        assert sparsity(w) == s  # removed weights are exactly zero, present ones are not
        prev = s
    assert prev > 0.15


def test_bounded_contraction_hand_computed():
    """The kept synapses' sum |w| is brought back to the floor by one factor; removed ones stay at 0."""
    before = torch.tensor([2.0, -1.0, 0.5, 1.0], dtype=torch.float64)
    after = torch.tensor([1.0, -0.5, 0.0, 0.5], dtype=torch.float64)  # 0.5 was removed
    mask = torch.tensor([True, True, False, True])
    # kept: sum |before| = 4, sum |after| = 2; floor 3 -> lambda = (4 - 3) / (4 - 2) = 0.5
    w = bounded_contraction(before, after, mask, floor=3.0)
    assert w.tolist() == [1.5, -0.75, 0.0, 0.75] and w[mask].abs().sum().item() == 3.0
    assert torch.equal(bounded_contraction(before, after, mask, floor=2.0), after)  # bound not reached
    assert torch.equal(bounded_contraction(before, after, mask, floor=5.0), before * mask)  # lambda = 0
    with pytest.raises(ShapeError, match="after"):
        bounded_contraction(before, after[:2], mask, floor=1.0)
    from biosnn.plasticity.eihl_contraction import EIHLConfig

    with pytest.raises(ParameterError, match="max_contraction"):
        EIHLConfig(max_contraction=1.5)


def test_global_decay_matches_exponential_and_composes():
    x = torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64)
    y = global_decay(x, steps=3, tau_x=10.0)
    assert torch.allclose(y, x * math.exp(-0.3), rtol=0, atol=1e-15)
    z = global_decay(global_decay(x, steps=1, tau_x=10.0), steps=2, tau_x=10.0)
    assert torch.allclose(y, z, rtol=1e-14, atol=0)
    assert torch.equal(global_decay(x, steps=5, tau_x=math.inf), x)


def test_sparsity_of_masks_weights_and_collections():
    m = torch.tensor([True, False, False, True])
    w = torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    assert sparsity(m) == 0.5
    assert sparsity(w) == 4 / 6
    assert sparsity([m, w]) == (2 + 4) / 10
    assert sparsity({"a": m}) == 0.5


def test_bad_input_raises_naming_the_problem():
    w = torch.ones(3, 2, dtype=torch.float64)
    mask = torch.ones(3, 2, dtype=torch.bool)
    x = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ShapeError, match="mask"):
        local_step(w, x, mask[:2], a=0.1, x_growth=0.1, threshold=0.1)
    with pytest.raises(ParameterError, match="boolean"):
        removal_threshold(w, mask.float(), b=0.1)
    with pytest.raises(ParameterError, match="'a'"):
        local_step(w, x, mask, a=-1.0, x_growth=0.1, threshold=0.1)
    with pytest.raises(UnitError, match="x_growth"):
        local_step(w, x, mask, a=0.1, x_growth=1 * brian2.ms, threshold=0.1)
    bad = w.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="weight"):
        local_step(bad, x, mask, a=0.1, x_growth=0.1, threshold=0.1)
    with pytest.raises(ParameterError, match="tau_x"):
        global_decay(x, steps=1, tau_x=0.0)
