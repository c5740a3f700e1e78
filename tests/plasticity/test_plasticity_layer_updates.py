"""The PyTorch layer form of each spike-timing rule equals its Brian2 simulation (float64, round-off).

Same spike trains on the time grid: Brian2 runs the rule's own Synapses (one block of synapses per batch
sample); ``rule.layer_update`` runs the pure trace function on tensors. Amplitudes are large so that the
hard bounds clip during the run, which the two must also agree on.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from biosnn.plasticity import IstdpVogels, StdpAdditive, StdpMultiplicative, StdpTriplet
from biosnn.plasticity.istdp_vogels import vogels_stdp_sequential, vogels_stdp_update
from biosnn.plasticity.layers import within_bounds
from biosnn.plasticity.protocols import layer_update_in_brian2
from biosnn.plasticity.stdp_additive import additive_stdp_sequential, additive_stdp_update
from biosnn.plasticity.stdp_triplet import triplet_stdp_sequential, triplet_stdp_update
from brian2 import Hz, ms

from biosnn.errors import NonFiniteError, ParameterError, ShapeError, UnitError

T, B, I, O = 150, 2, 3, 2
DT = 0.5 * ms


def brian2_dw(rule, pre: np.ndarray, post: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Sum over the batch of Brian2's weight change; ``pre [T, B, I]``, ``post [T, B, O]``, ``weight [O, I]``."""
    return layer_update_in_brian2(rule, pre, post, weight, dt=DT)


RULES = [
    StdpAdditive(A_plus=0.2, A_minus=0.25, tau_plus=10 * ms, tau_minus=15 * ms),
    StdpAdditive(A_plus=0.2, A_minus=0.25, tau_plus=10 * ms, tau_minus=15 * ms, pairing="nearest"),
    StdpMultiplicative(lam=0.3, alpha=1.1, mu=0.6),
    StdpMultiplicative(lam=0.3, alpha=1.1, mu=0.0, pairing="nearest"),
    StdpTriplet(A2_plus=0.05, A3_plus=0.1, A2_minus=0.1, A3_minus=0.05),
    StdpTriplet(parameter_set="hippocampal", variant="nearest", A3_plus=0.2),
    IstdpVogels(eta=0.3, rho0=20 * Hz, w_max=1.0),
]


@pytest.mark.parametrize(
    "rule", RULES, ids=lambda r: f"{r.name}-{r.get_params().get('pairing', r.get_params().get('variant', ''))}"
)
def test_layer_update_equals_brian2(rule, rng):
    pre = (rng.random((T, B, I)) < 0.08).astype(float)
    post = (rng.random((T, B, O)) < 0.08).astype(float)
    pre[10, :, :] = 1.0  # simultaneous pre and post spikes in one step
    post[10, :, :] = 1.0
    weight = rng.uniform(0.2, 0.8, (O, I))
    expected = brian2_dw(rule, pre, post, weight)
    got = rule.layer_update(torch.tensor(pre), torch.tensor(post), torch.tensor(weight), dt=DT)
    assert got.dtype == torch.float64 and got.shape == (O, I)
    assert np.abs(expected).max() > 0.05  # the run really changed the weights
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_layer_update_hits_bounds_like_brian2(rng):
    rule = StdpAdditive(A_plus=0.5, A_minus=0.5)
    pre = np.zeros((20, 1, 1))
    post = np.zeros((20, 1, 1))
    pre[[2, 6, 10], 0, 0] = 1
    post[[3, 7, 11], 0, 0] = 1
    got = rule.layer_update(torch.tensor(pre), torch.tensor(post), torch.tensor([[0.5]]), dt=1 * ms)
    assert got.item() == pytest.approx(0.5)  # clipped at w_max = 1
    assert got.item() == pytest.approx(brian2_dw(rule, pre, post, np.array([[0.5]]))[0, 0])


def test_layer_update_through_weight_grad_and_optimizer(rng):
    rule = StdpTriplet()
    layer = torch.nn.Linear(I, O, bias=False, dtype=torch.float64)
    pre = torch.tensor((rng.random((T, B, I)) < 0.1).astype(float))
    post = torch.tensor((rng.random((T, B, O)) < 0.1).astype(float))
    before = layer.weight.detach().clone().clamp(0, 1)
    with torch.no_grad():
        layer.weight.copy_(before)
    dw = rule.layer_update(pre, post, layer.weight, dt=1 * ms)
    layer.weight.grad = -dw
    torch.optim.SGD(layer.parameters(), lr=1.0).step()
    assert torch.allclose(layer.weight, before + dw)
    assert dw.abs().sum() > 0


def test_layer_update_rejects_bad_input():
    rule = StdpAdditive()
    pre, post, w = torch.zeros(5, 1, 3), torch.zeros(5, 1, 2), torch.zeros(2, 3)
    with pytest.raises(ShapeError, match="weight"):
        rule.layer_update(pre, post, torch.zeros(3, 2), dt=1 * ms)
    with pytest.raises(ShapeError):
        rule.layer_update(pre[:, :, :, None], post, w, dt=1 * ms)
    with pytest.raises(ShapeError, match="differ"):
        rule.layer_update(pre, torch.zeros(4, 1, 2), w, dt=1 * ms)
    with pytest.raises(UnitError, match="'dt'"):
        rule.layer_update(pre, post, w, dt=1.0)
    with pytest.raises(ParameterError, match="'dt'"):
        rule.layer_update(pre, post, w, dt=-1 * ms)
    with pytest.raises(ParameterError, match="0/1"):
        rule.layer_update(pre + 0.5, post, w, dt=1 * ms)
    with pytest.raises(NonFiniteError):
        rule.layer_update(pre, post, w * float("nan"), dt=1 * ms)


# Small amplitudes: no sample can reach a bound, so the batch sum takes the einsum path; it must equal both
# the step-by-step path and Brian2.
FAST = [
    (
        StdpAdditive(A_plus=0.01, A_minus=0.012, tau_plus=10 * ms, tau_minus=15 * ms),
        additive_stdp_update,
        additive_stdp_sequential,
        dict(
            decay_plus=np.exp(-0.05),
            decay_minus=np.exp(-0.5 / 15),
            A_plus=0.01,
            A_minus=0.012,
            w_min=0.0,
            w_max=1.0,
            nearest=False,
        ),
    ),
    (
        StdpAdditive(A_plus=0.01, A_minus=0.012, tau_plus=10 * ms, tau_minus=15 * ms, pairing="nearest"),
        additive_stdp_update,
        additive_stdp_sequential,
        dict(
            decay_plus=np.exp(-0.05),
            decay_minus=np.exp(-0.5 / 15),
            A_plus=0.01,
            A_minus=0.012,
            w_min=0.0,
            w_max=1.0,
            nearest=True,
        ),
    ),
    (
        StdpTriplet(A2_plus=0.005, A3_plus=0.01, A2_minus=0.01, A3_minus=0.005, w_max=1.0),
        triplet_stdp_update,
        triplet_stdp_sequential,
        dict(
            decay_plus=np.exp(-0.5 / 16.8),
            decay_minus=np.exp(-0.5 / 33.7),
            decay_x=np.exp(-0.5 / 101),
            decay_y=np.exp(-0.5 / 125),
            A2_plus=0.005,
            A3_plus=0.01,
            A2_minus=0.01,
            A3_minus=0.005,
            w_min=0.0,
            w_max=1.0,
            nearest=False,
        ),
    ),
    (
        IstdpVogels(eta=0.01, rho0=20 * Hz, w_max=1.0),
        vogels_stdp_update,
        vogels_stdp_sequential,
        dict(decay=np.exp(-0.5 / 20), eta=0.01, alpha=2 * 20 * 0.02, w_min=0.0, w_max=1.0),
    ),
]


@pytest.mark.parametrize("case", FAST, ids=lambda c: f"{c[0].name}")
def test_batch_sum_path_equals_step_by_step_and_brian2(case, rng):
    rule, update, sequential, kwargs = case
    pre = (rng.random((T, B, I)) < 0.08).astype(float)
    post = (rng.random((T, B, O)) < 0.08).astype(float)
    weight = rng.uniform(0.3, 0.7, (O, I))
    p, q, w = torch.tensor(pre), torch.tensor(post), torch.tensor(weight)
    fast = update(p, q, w, **kwargs)
    slow = sequential(p, q, w, **kwargs)
    np.testing.assert_allclose(fast.numpy(), slow.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        rule.layer_update(p, q, w, dt=DT).numpy(), brian2_dw(rule, pre, post, weight), rtol=1e-10, atol=1e-13
    )
    assert np.abs(fast.numpy()).max() > 1e-3


def test_within_bounds_decides_the_path():
    w = torch.full((2, 2), 0.5)
    assert within_bounds(w, torch.full((2, 2), 0.4), torch.full((2, 2), -0.4), 0.0, 1.0)
    assert not within_bounds(w, torch.full((2, 2), 0.6), torch.zeros(2, 2), 0.0, 1.0)
    assert not within_bounds(w, torch.zeros(2, 2), torch.full((2, 2), -0.6), 0.0, 1.0)
    assert not within_bounds(w + 1.0, torch.zeros(2, 2), torch.zeros(2, 2), 0.0, 1.0)


def test_large_batch_runs_in_chunks_and_matches_small_batches(rng, monkeypatch):
    # clipping forces the step-by-step path; a tiny memory budget forces several chunks (4 + 2 samples)
    from biosnn.plasticity import layers

    monkeypatch.setattr(layers, "CHUNK_ELEMENTS", O * I * 4)
    rule = StdpAdditive(A_plus=0.3, A_minus=0.3)
    pre = torch.tensor((rng.random((40, 6, I)) < 0.2).astype(float))
    post = torch.tensor((rng.random((40, 6, O)) < 0.2).astype(float))
    w = torch.tensor(rng.uniform(0.2, 0.8, (O, I)))
    whole = rule.layer_update(pre, post, w, dt=DT)
    per_sample = sum(rule.layer_update(pre[:, b : b + 1], post[:, b : b + 1], w, dt=DT) for b in range(6))
    assert layers.batch_chunk(6, O, I) == 4
    np.testing.assert_allclose(whole.numpy(), per_sample.numpy(), rtol=1e-12, atol=1e-15)
