"""Surrogate spike functions: Heaviside forward, pseudo-derivative backward equal to the relaxed model's."""

from __future__ import annotations

import pytest
import torch

from biosnn.errors import ParameterError, UnknownNameError
from biosnn.surrogate import SURROGATES, Surrogate, spike


@pytest.mark.parametrize("shape", list(SURROGATES))
def test_forward_is_heaviside_and_backward_is_relaxed_gradient(shape):
    v = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    s = spike(v, shape, 0.4)
    assert torch.equal(s.detach(), (v.detach() >= 0).double())
    (g,) = torch.autograd.grad(s.sum(), v)
    v2 = v.detach().clone().requires_grad_(True)
    (g_relaxed,) = torch.autograd.grad(Surrogate(shape, 0.4).relaxed(v2).sum(), v2)
    torch.testing.assert_close(g, g_relaxed, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", list(SURROGATES))
def test_pseudo_derivative_integrates_to_one(shape):
    v = torch.linspace(-400, 400, 800_001, dtype=torch.float64)
    d = SURROGATES[shape].derivative(v, 0.3)
    # fast sigmoid has heavy 1/v^2 tails: the mass beyond |v| = 400 is 2 * 0.3 / 400
    assert torch.trapezoid(d, v).item() == pytest.approx(1.0, abs=2e-3)


def test_bad_settings_are_named():
    with pytest.raises(UnknownNameError, match="surrogate gradient shape 'box'"):
        Surrogate("box")
    with pytest.raises(ParameterError, match="width"):
        Surrogate("arctan", width=0.0)
