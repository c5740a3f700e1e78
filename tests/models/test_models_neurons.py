"""IF/LIF neurons: analytic solutions, the fused sequence against autograd, the module against the function,
and biosnn against SpikingJelly's LIF neuron (an independent implementation)."""

from __future__ import annotations

import math

import brian2
import pytest
import torch

from biosnn.errors import ParameterError, ShapeError, UnitError, UnknownNameError
from biosnn.models import IF, LIF, NEURONS, RESETS, beta_from_tau, if_sequence, lif_sequence, lif_step
from biosnn.surrogate import SURROGATES, Surrogate


def test_if_constant_input_spike_count_is_floor_of_charge():
    # IF with reset by subtraction conserves charge: after t+1 steps of input c it has fired floor((t+1)c/theta).
    c, theta, steps = 0.25, 1.0, 40
    x = torch.full((steps, 1), c, dtype=torch.float64)
    spikes, membrane = if_sequence(x, threshold=theta, return_membrane=True)
    expected = torch.floor(torch.arange(1, steps + 1, dtype=torch.float64) * c / theta)
    assert torch.equal(spikes[:, 0].cumsum(0), expected)
    # and the remaining membrane is the charge not yet spent
    assert torch.allclose(membrane[:, 0], torch.arange(1, steps + 1) * c - expected * theta)


def test_lif_subthreshold_membrane_matches_closed_form():
    # h_t = c (1 - beta^(t+1)) / (1 - beta) for constant input c without spikes.
    beta, c, steps = 0.8, 0.15, 30  # steady state c / (1 - beta) = 0.75 < threshold
    x = torch.full((steps, 2), c, dtype=torch.float64)
    spikes, membrane = lif_sequence(x, beta=beta, return_membrane=True)
    t = torch.arange(steps, dtype=torch.float64)
    assert spikes.sum() == 0
    assert torch.allclose(membrane[:, 0], c * (1 - beta ** (t + 1)) / (1 - beta), atol=1e-14)


def test_lif_zero_reset_fires_periodically_at_the_analytic_time():
    # With reset to zero and constant input, the neuron restarts from 0 after each spike: period = n + 1, where
    # n is the first step with c (1 - beta^(n+1)) / (1 - beta) >= theta.
    beta, c, theta, steps = 0.9, 0.3, 1.0, 60
    n = next(k for k in range(100) if c * (1 - beta ** (k + 1)) / (1 - beta) >= theta)
    x = torch.full((steps, 1), c, dtype=torch.float64)
    spikes = lif_sequence(x, beta=beta, threshold=theta, reset="zero")[:, 0]
    times = torch.nonzero(spikes).flatten().tolist()
    assert times == list(range(n, steps, n + 1))


def test_beta_from_tau_is_exp_minus_dt_over_tau():
    assert beta_from_tau(20 * brian2.ms, 0.5 * brian2.ms) == pytest.approx(math.exp(-0.025), rel=1e-15)
    lif = LIF(tau=10 * brian2.ms, dt=1 * brian2.ms)
    assert lif.beta == pytest.approx(math.exp(-0.1), rel=1e-15)


@pytest.mark.parametrize("reset", sorted(RESETS))
@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("shape", sorted(SURROGATES))
def test_fused_sequence_equals_autograd_loop_of_steps(reset, detach, shape):
    """The hand-written backward pass equals autograd through a loop of lif_step (values and gradients)."""
    gen = torch.Generator().manual_seed(7)
    steps, batch, n = 17, 3, 6
    x = (0.9 * torch.randn(steps, batch, n, generator=gen, dtype=torch.float64) + 0.35).requires_grad_()
    v0 = torch.randn(batch, n, generator=gen, dtype=torch.float64).requires_grad_()
    w_s = torch.randn(steps, batch, n, generator=gen, dtype=torch.float64)
    w_m = torch.randn(steps, batch, n, generator=gen, dtype=torch.float64)
    sur = Surrogate(shape, 0.7)
    kw = dict(beta=0.85, threshold=1.1, reset=reset, surrogate=sur, detach_reset=detach)

    spikes, membrane = lif_sequence(x, v0=v0, return_membrane=True, **kw)
    gx, gv = torch.autograd.grad((spikes * w_s).sum() + (membrane * w_m).sum(), (x, v0))

    v, s_list, m_list = v0, [], []
    for t in range(steps):
        v, s = lif_step(v, x[t], **kw)
        s_list.append(s)
        m_list.append(v)
    ref_s, ref_m = torch.stack(s_list), torch.stack(m_list)
    rx, rv = torch.autograd.grad((ref_s * w_s).sum() + (ref_m * w_m).sum(), (x, v0))

    assert 0.1 < spikes.mean() < 0.9  # the test exercises both spiking and silent steps
    assert torch.equal(spikes, ref_s)
    torch.testing.assert_close(membrane, ref_m, rtol=0, atol=1e-13)
    torch.testing.assert_close(gx, rx, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gv, rv, rtol=1e-12, atol=1e-12)


def test_gradient_through_spikes_only_and_float32():
    gen = torch.Generator().manual_seed(3)
    x = (torch.randn(12, 4, 5, generator=gen) + 0.5).requires_grad_()
    (g,) = torch.autograd.grad(lif_sequence(x, beta=0.9).sum(), x)
    v, acc = None, []
    for t in range(12):
        v, s = lif_step(torch.zeros(4, 5) if v is None else v, x[t], beta=0.9)
        acc.append(s)
    (ref,) = torch.autograd.grad(torch.stack(acc).sum(), x)
    assert g.dtype == torch.float32
    torch.testing.assert_close(g, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("v_reset", "reset"), [(None, "subtract"), (0.0, "zero")])
@pytest.mark.parametrize("detach", [False, True])
def test_lif_equals_spikingjelly_lifnode(v_reset, reset, detach):
    """SpikingJelly's LIFNode (decay_input=False) is H = (1 - 1/tau) V + X: our LIF with beta = 1 - 1/tau."""
    from spikingjelly.activation_based import neuron, surrogate

    gen = torch.Generator().manual_seed(11)
    x = (0.7 * torch.randn(30, 3, 5, generator=gen, dtype=torch.float64) + 0.4).requires_grad_()
    peer = neuron.LIFNode(
        tau=5.0,
        decay_input=False,
        v_reset=v_reset,
        detach_reset=detach,
        step_mode="m",
        surrogate_function=surrogate.Sigmoid(alpha=4.0),
    ).to(torch.float64)
    w = torch.randn(30, 3, 5, generator=gen, dtype=torch.float64)
    s_peer = peer(x)
    (g_peer,) = torch.autograd.grad((s_peer * w).sum(), x)
    ours = LIF(beta=1 - 1 / 5.0, reset=reset, detach_reset=detach, surrogate=Surrogate("sigmoid", 1 / 4.0))
    s_ours = ours(x)
    (g_ours,) = torch.autograd.grad((s_ours * w).sum(), x)
    assert s_ours.sum() > 10
    assert torch.equal(s_ours, s_peer)
    torch.testing.assert_close(g_ours, g_peer, rtol=1e-12, atol=1e-12)


def test_module_equals_function():
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(10, 2, 3, 4, 4, generator=gen) * 0.8
    lif = LIF(tau=5 * brian2.ms, dt=1 * brian2.ms, threshold=0.7, reset="zero", surrogate="arctan")
    s, m = lif(x, return_membrane=True)
    s2, m2 = lif_sequence(x, beta=math.exp(-0.2), threshold=0.7, reset="zero", surrogate="arctan", return_membrane=True)
    assert s.shape == x.shape
    assert torch.equal(s, s2) and torch.equal(m, m2)
    assert torch.equal(IF(threshold=0.7)(x), if_sequence(x, threshold=0.7))
    assert torch.equal(IF()(x), LIF(beta=1.0)(x))
    assert set(NEURONS) == {"if", "lif"}


def test_bad_parameters_raise_named_errors():
    with pytest.raises(UnitError, match="tau"):
        LIF(tau=10 * brian2.mV, dt=1 * brian2.ms)
    with pytest.raises(ParameterError, match="not both"):
        LIF(beta=0.9, tau=10 * brian2.ms, dt=1 * brian2.ms)
    with pytest.raises(ParameterError, match="both 'tau' and 'dt'"):
        LIF(tau=10 * brian2.ms)
    with pytest.raises(ParameterError, match="beta"):
        LIF(beta=1.5)
    with pytest.raises(ParameterError, match="threshold"):
        LIF(threshold=float("nan"))
    with pytest.raises(UnknownNameError, match="subtract"):
        LIF(reset="soft")
    with pytest.raises(UnknownNameError, match="fast_sigmoid"):
        LIF(surrogate="relu")
    with pytest.raises(ShapeError, match="v0"):
        lif_sequence(torch.zeros(5, 2, 3), beta=0.9, v0=torch.zeros(3))
    with pytest.raises(ParameterError, match="floating"):
        lif_sequence(torch.zeros(5, 2, dtype=torch.long), beta=0.9)
