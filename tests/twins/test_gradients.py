"""Gradients: autograd through the twin equals finite differences of the surrogate-relaxed model (weights
and a time constant), and surrogate gradients reach every weight of the spiking (hard) model."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import ms

import biosnn
from biosnn.surrogate import Surrogate
from tests.twins.models import poisson_spike_list


def _two_layer(surrogate="sigmoid", width=0.2, learnable=("hidden.tau",)):
    inp = b2.SpikeGeneratorGroup(10, *poisson_spike_list(10, 50.0, 0.05, 1), name="g_in")
    H = b2.NeuronGroup(
        5,
        "dv/dt = -v/tau : 1",
        threshold="v > 1",
        reset="v = 0",
        method="exact",
        namespace={"tau": 10 * ms},
        name="hidden",
    )
    O = b2.NeuronGroup(2, "dv/dt = -v/(15*ms) : 1", threshold="v > 1", reset="v = 0", method="exact", name="out")
    S1 = b2.Synapses(inp, H, "w : 1", on_pre="v_post += w", name="in_hidden")
    S1.connect()
    S1.w = np.random.default_rng(0).uniform(0, 0.6, len(S1))
    S2 = b2.Synapses(H, O, "w : 1", on_pre="v_post += w", name="hidden_out")
    S2.connect()
    S2.w = np.random.default_rng(1).uniform(0, 0.8, len(S2))
    net = b2.Network(inp, H, O, S1, S2)
    return biosnn.twin(net, surrogate=Surrogate(surrogate, width), learnable=learnable)


def _relaxed_loss(tw):
    tw.reset()
    res = tw.run(30 * ms, relaxed=True)
    return res.spike_trains["out"].sum() + 0.1 * res.spike_trains["hidden"].sum()


@pytest.mark.parametrize("shape", ["sigmoid", "arctan"])
def test_autograd_matches_finite_differences_of_relaxed_model(shape):
    tw = _two_layer(shape)
    loss = _relaxed_loss(tw)
    loss.backward()
    checks = [
        (tw.parameter("in_hidden", "w"), 3),
        (tw.parameter("in_hidden", "w"), 27),
        (tw.parameter("hidden_out", "w"), 4),
        (tw.parameter("hidden", "tau"), 0),
    ]
    for param, k in checks:
        grad = float(param.grad.reshape(-1)[k])
        flat = param.data.view(-1)
        h = 1e-6 * max(1.0, abs(float(flat[k])))
        with torch.no_grad():
            flat[k] += h
            up = float(_relaxed_loss(tw))
            flat[k] -= 2 * h
            down = float(_relaxed_loss(tw))
            flat[k] += h
        fd = (up - down) / (2 * h)
        assert abs(grad) > 1e-6
        assert grad == pytest.approx(fd, rel=1e-5, abs=1e-8), (param.shape, k, grad, fd)


def test_surrogate_gradients_reach_every_weight_of_the_hard_model():
    tw = _two_layer("fast_sigmoid", 0.5)
    res = tw.run(50 * ms)
    spikes = res.spike_trains["out"]
    assert set(torch.unique(spikes.detach()).tolist()) <= {0.0, 1.0}  # hard spikes forward
    loss = spikes.sum() + res.spike_trains["hidden"].sum()
    loss.backward()
    for name in ("in_hidden", "hidden_out"):
        g = tw.parameter(name, "w").grad
        assert torch.isfinite(g).all()
        assert (g != 0).float().mean() > 0.9, name
    assert torch.isfinite(tw.parameter("hidden", "tau").grad)
    # the surrogate width changes the gradient, not the forward pass
    tw2 = _two_layer("fast_sigmoid", 2.0)
    res2 = tw2.run(50 * ms)
    assert torch.equal(res2.spike_trains["out"].detach(), spikes.detach())
    (res2.spike_trains["out"].sum() + res2.spike_trains["hidden"].sum()).backward()
    assert not torch.allclose(tw2.parameter("in_hidden", "w").grad, tw.parameter("in_hidden", "w").grad)


def test_learnable_threshold_gets_a_gradient():
    inp = b2.SpikeGeneratorGroup(10, *poisson_spike_list(10, 80.0, 0.05, 4), name="th_in")
    H = b2.NeuronGroup(
        4,
        """dv/dt = -v/(10*ms) : 1
    vt : 1""",
        threshold="v > vt",
        reset="v = 0",
        method="exact",
        name="th_cells",
    )
    H.vt = 1.0
    S = b2.Synapses(inp, H, "w : 1", on_pre="v_post += w", name="th_syn")
    S.connect()
    S.w = 0.4
    tw = biosnn.twin(b2.Network(inp, H, S), learnable=("th_cells.vt",))
    res = tw.run(50 * ms)
    res.spike_trains["th_cells"].sum().backward()
    g = tw.parameter("th_cells", "vt").grad
    assert g.shape == (4,) and torch.all(g < 0)  # a higher threshold gives fewer spikes


@pytest.mark.parametrize("batch", [3, 6])
@pytest.mark.parametrize("f_shape", ["scalar", "per_synapse", "per_trial_and_synapse"])
@pytest.mark.parametrize("per_source", [True, False])
def test_dense_gradient_term_has_the_gradient_of_the_dense_sum(f_shape, per_source, batch):
    """The zero-valued term of a pathway: its gradient equals that of index_add(f * v[pre]) for 0/1
    presynaptic spikes (B = 6 takes the sparse-matrix path for the presynaptic gradient)."""
    from biosnn.twins.runtime import DenseGradient, SynapseLinks

    g = torch.Generator().manual_seed(3)
    B, n_pre, n_post, S = batch, 7, 5, 40
    source = torch.randint(0, n_pre, (S,), generator=g)
    target = torch.randint(0, n_post, (S,), generator=g)
    shape = {"scalar": (), "per_synapse": (S,), "per_trial_and_synapse": (B, S)}[f_shape]
    f = torch.rand(shape, generator=g, dtype=torch.float64, requires_grad=True)
    values = (torch.rand((B, n_pre) if per_source else (B, S), generator=g) < 0.4).to(torch.float64)
    values.requires_grad_(True)
    upstream = torch.rand(B, n_post, generator=g, dtype=torch.float64)
    links = SynapseLinks(source if per_source else None, target, n_pre)
    out = DenseGradient.apply(f, values, links, n_post)
    assert torch.equal(out, torch.zeros(B, n_post, dtype=torch.float64))
    got = torch.autograd.grad((out * upstream).sum(), (f, values))
    sv = values[:, source] if per_source else values
    dense = torch.zeros(B, n_post, dtype=torch.float64).index_add(1, target, (f * sv).expand(B, S))
    want = torch.autograd.grad((dense * upstream).sum(), (f, values))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_dense_gradient_matrix_is_rebuilt_when_the_weights_change():
    """The backward pass keeps its sparse matrix while the weights are the same tensor, unchanged; an
    optimiser step (in place) or other weights give a new one."""
    from biosnn.twins.runtime import DenseGradient, SynapseLinks

    g = torch.Generator().manual_seed(5)
    source = torch.randint(0, 6, (30,), generator=g)
    target = torch.randint(0, 4, (30,), generator=g)
    links = SynapseLinks(source, target, 6)
    w = torch.rand(30, generator=g, dtype=torch.float64, requires_grad=True)
    values = torch.ones(2, 6, dtype=torch.float64, requires_grad=True)

    def presynaptic_grad(weights):
        out = DenseGradient.apply(weights, values, links, 4)
        return torch.autograd.grad(out.sum(), values)[0]

    def expected(weights):
        return torch.zeros(2, 6, dtype=torch.float64).index_add(1, source, weights.detach().expand(2, 30))

    torch.testing.assert_close(presynaptic_grad(w), expected(w), rtol=0, atol=1e-15)
    first = links._matrix[2]
    presynaptic_grad(w)
    assert links._matrix[2] is first  # same weights: kept
    with torch.no_grad():
        w.mul_(2.0)  # an optimiser step
    torch.testing.assert_close(presynaptic_grad(w), expected(w), rtol=0, atol=1e-15)
    assert links._matrix[2] is not first
    for constant in (0.5, 0.5, 0.25):  # one value for every synapse
        c = torch.tensor(constant, dtype=torch.float64)
        torch.testing.assert_close(presynaptic_grad(c), expected(c), rtol=0, atol=1e-15)
