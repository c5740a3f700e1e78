"""The activity statistics and wiring helpers against analytic values."""

from __future__ import annotations

import numpy as np
import pytest
from biosnn.circuits.analysis import (
    balance_ratio,
    bimodality,
    dominant_frequency,
    firing_rates,
    isi_cv,
    mean_rate,
    population_fano_factor,
    population_rate,
    synchrony_chi,
)
from biosnn.circuits.base import PaperFigure, fixed_indegree_pairs, paper_comparison, random_pairs
from brian2 import Hz, ms, second

from biosnn.errors import ParameterError, ShapeError, UnitError


def test_rates_and_cv_of_regular_and_poisson_trains(rng):
    # neuron 0: clock at 10 Hz; neuron 1: Poisson at 50 Hz over 200 s
    regular = np.arange(0.05, 200, 0.1)
    poisson = np.cumsum(rng.exponential(1 / 50, size=12000))
    poisson = poisson[poisson < 200]
    t = np.concatenate([regular, poisson]) * second
    i = np.concatenate([np.zeros(len(regular), int), np.ones(len(poisson), int)])
    rates = firing_rates(i, t, 3, start=0 * second, stop=200 * second)
    assert float(rates[0] / Hz) == pytest.approx(10.0)
    assert float(rates[1] / Hz) == pytest.approx(50.0, rel=0.03)
    assert float(rates[2] / Hz) == 0.0
    assert float(mean_rate(i, t, 3, start=0 * second, stop=200 * second) / Hz) == pytest.approx(20.0, rel=0.02)
    cv = isi_cv(i, t, 3, start=0 * second, stop=200 * second)
    assert cv[0] == pytest.approx(0.0, abs=1e-9)
    assert cv[1] == pytest.approx(1.0, abs=0.03)  # exponential intervals
    assert np.isnan(cv[2])
    with pytest.raises(UnitError, match="start"):
        firing_rates(i, t, 3, start=0, stop=200 * second)
    with pytest.raises(ParameterError, match="indices"):
        firing_rates(i + 5, t, 3, start=0 * second, stop=200 * second)


def test_population_rate_and_fano(rng):
    t = np.sort(rng.uniform(0, 10, size=20000)) * second  # 100 Poisson neurons at 20 Hz, pooled
    centres, rate = population_rate(t, 100, start=0 * second, stop=10 * second, bin_size=100 * ms)
    assert len(centres) == 100 and float(np.mean(rate / Hz)) == pytest.approx(20.0)
    assert population_fano_factor(t, start=0 * second, stop=10 * second, bin_size=1 * ms) == pytest.approx(1.0, abs=0.1)
    # the same spikes packed into 2 ms bursts every 20 ms: strongly over-dispersed
    bursts = (np.floor(np.asarray(t / second) / 0.02) * 0.02 + rng.uniform(0, 0.002, len(t))) * second
    assert population_fano_factor(bursts, start=0 * second, stop=10 * second, bin_size=1 * ms) > 10


def test_synchrony_chi_limits(rng):
    common = np.sin(np.linspace(0, 20, 500))
    assert synchrony_chi(np.tile(common, (10, 1))) == pytest.approx(1.0)
    independent = rng.standard_normal((400, 2000))
    assert synchrony_chi(independent) == pytest.approx(1 / np.sqrt(400), rel=0.1)
    with pytest.raises(ShapeError):
        synchrony_chi(common)


def test_bimodality_and_balance():
    w = np.array([0.0, 0.05, 0.5, 0.95, 1.0])
    assert bimodality(w, 1.0, edge=0.1) == (0.4, 0.4)
    assert balance_ratio(np.array([2.0, 2.0]), np.array([-1.0, -2.0])) == pytest.approx(0.75)
    with pytest.raises(ParameterError):
        bimodality(w, 0.0)
    with pytest.raises(ShapeError):
        balance_ratio(np.ones(2), np.ones(3))


def test_wiring_helpers():
    gen = np.random.default_rng(0)
    i, j = random_pairs(gen, 300, 200, 0.1, autapses=False)
    assert abs(len(i) - 0.1 * 299 * 200) < 5 * np.sqrt(0.1 * 0.9 * 299 * 200)
    assert len(set(zip(i.tolist(), j.tolist()))) == len(i)  # no duplicates
    assert np.all(i[j < 300] != j[j < 300])
    i, j = fixed_indegree_pairs(gen, 50, 40, 7, autapses=False)
    assert np.all(np.bincount(j, minlength=40) == 7) and np.all(i != j)
    with pytest.raises(ParameterError):
        fixed_indegree_pairs(gen, 5, 5, 5, autapses=False)
    a = random_pairs(np.random.default_rng(3), 30, 30, 0.2)
    b = random_pairs(np.random.default_rng(3), 30, 30, 0.2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_dominant_frequency_finds_an_oscillation_in_poisson_noise(rng):
    # 200 neurons firing as an inhomogeneous Poisson process at 20 (1 + 0.8 sin(2 pi 40 Hz t)) Hz over 2 s
    dt = 1e-4
    grid = np.arange(0, 2, dt)
    rate = 20 * (1 + 0.8 * np.sin(2 * np.pi * 40 * grid))
    spikes = rng.random((200, grid.size)) < rate * dt
    t = np.concatenate([grid[row] for row in spikes]) * second
    f = dominant_frequency(t, start=0 * second, stop=2 * second, bin_size=1 * ms)
    assert float(f / Hz) == pytest.approx(40.0, abs=0.5)
    with pytest.raises(ParameterError, match="bin_size"):
        dominant_frequency(t, start=0 * second, stop=2 * second, bin_size=1 * second)
    assert np.isnan(float(dominant_frequency([] * second, start=0 * second, stop=1 * second, bin_size=1 * ms) / Hz))


def test_paper_comparison_judges_numbers_and_shows_descriptions():
    figures = {
        "rate": PaperFigure("E rate", 3.0, "Fig. 4", "Hz", low=2.0, high=4.0),
        "cv": PaperFigure("CV", 1.0, "text", low=0.8),
        "state": PaperFigure("state", "bimodal", "Fig. 2a"),
    }
    table = paper_comparison(figures, {"rate": 3.4, "cv": 0.5})
    lines = table.splitlines()
    assert lines[0].startswith("| quantity | paper |") and len(lines) == 5
    assert "| E rate | 3 Hz (accepted [2, 4]) | Fig. 4 | 3.4 Hz | yes |" in lines
    assert lines[3].endswith("| 0.5 | no |")
    assert lines[4] == "| state | bimodal | Fig. 2a | not measured | shown |"
    assert figures["rate"].met(4.5) is False and figures["state"].met(1.0) is None
    with pytest.raises(ParameterError, match="no paper figure"):
        paper_comparison(figures, {"rates": 3.0})
