"""Encoders: rate statistics, exact latency times, direct repetition, frames to time-major, validation."""

from __future__ import annotations

import pytest
import torch

from biosnn.data import ENCODERS, direct, encode, frames, latency, poisson
from biosnn.errors import NonFiniteError, ParameterError, ShapeError, UnknownNameError


def test_registry_names():
    assert set(ENCODERS) == {"poisson", "latency", "direct", "frames"}
    with pytest.raises(UnknownNameError, match="poisson"):
        encode("rank_order", torch.zeros(2), steps=3)


def test_poisson_rate_matches_intensity_and_is_seeded():
    x = torch.tensor([[0.0, 0.1, 0.5, 0.9, 1.0]])
    steps = 4000
    s = poisson(x, steps=steps, generator=torch.Generator().manual_seed(0))
    assert s.shape == (steps, 1, 5)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    rate = s.mean(0)[0]
    sd = torch.sqrt(x[0] * (1 - x[0]) / steps)
    assert rate[0] == 0 and rate[4] == 1
    assert bool((rate - x[0]).abs().le(5 * sd + 1e-12).all())
    again = poisson(x, steps=steps, generator=torch.Generator().manual_seed(0))
    other = poisson(x, steps=steps, generator=torch.Generator().manual_seed(1))
    assert torch.equal(s, again) and not torch.equal(s, other)
    # gain scales the probability, capped at 1
    g = poisson(torch.full((1, 3), 0.3), steps=steps, generator=torch.Generator().manual_seed(2), gain=2.0)
    assert abs(float(g.mean()) - 0.6) < 5 * (0.24 / (3 * steps)) ** 0.5
    assert float(poisson(torch.full((2,), 0.7), steps=50, gain=3.0).mean()) == 1.0


def test_latency_spike_times_are_exact():
    x = torch.tensor([[1.0, 0.5, 0.25, 0.0, 0.1]])
    s = latency(x, steps=9)
    assert s.shape == (9, 1, 5)
    assert s.sum(0).tolist() == [[1.0, 1.0, 1.0, 0.0, 1.0]]
    times = [int(torch.nonzero(s[:, 0, i]).flatten()[0]) for i in (0, 1, 2, 4)]
    assert times == [0, 4, 6, round(0.9 * 8)]


def test_direct_repeats_the_input_and_frames_transposes():
    x = torch.rand(3, 2, 4)
    d = direct(x, steps=5)
    assert d.shape == (5, 3, 2, 4)
    assert all(torch.equal(d[t], x) for t in range(5))
    ev = torch.rand(3, 6, 2, 4, 4)
    f = frames(ev, steps=6)
    assert f.shape == (6, 3, 2, 4, 4) and torch.equal(f[2, 1], ev[1, 2])
    with pytest.raises(ShapeError, match="T=5"):
        frames(ev, steps=5)


def test_bad_input_is_rejected_before_drawing():
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        poisson(torch.tensor([0.5, 1.5]), steps=3, generator=gen)
    assert torch.equal(gen.get_state(), state)
    with pytest.raises(NonFiniteError):
        poisson(torch.tensor([float("nan")]), steps=3)
    with pytest.raises(ParameterError, match="steps"):
        direct(torch.zeros(2), steps=0)
    with pytest.raises(ParameterError, match="floating"):
        latency(torch.zeros(2, dtype=torch.long), steps=3)
    with pytest.raises(ParameterError, match="gain"):
        poisson(torch.zeros(2), steps=3, gain=-1.0)
