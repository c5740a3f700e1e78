"""Shared test set-up: every random source seeded, Brian2 on its numpy target unless a test asks otherwise.

The numpy target needs no compilation, so the default suite does not pay Brian2's 10-20 s Cython compile per
model; tests that need Cython (speed, or Cython-vs-numpy comparisons) select it themselves.
"""

from __future__ import annotations

import os

import brian2
import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

import biosnn  # noqa: E402  (sets Brian2's cache folder)

# One intra-op thread in every test process: the suite's networks are small, run several times faster
# single-threaded, and two xdist workers with two threads each on two cores would thrash.
torch.set_num_threads(1)


def pytest_report_header(config):
    """Which kind of CPU the suite runs on, and how the twin's C kernels match NumPy's math on it."""
    from biosnn.twins import cmath, kernels

    if kernels.c_compiler() is None:
        return f"biosnn: CPU {cmath.cpu_kind()}; no C compiler (the C back end is not tested)"
    return "biosnn: " + cmath.describe()


@pytest.fixture(autouse=True)
def _brian_numpy_and_seeds():
    """Numpy target, default clock reset, all seeds fixed; restored afterwards."""
    old_target = brian2.prefs["codegen.target"]
    old_dt = brian2.defaultclock.dt
    brian2.prefs["codegen.target"] = "numpy"
    biosnn.seed(1234)
    yield
    brian2.prefs["codegen.target"] = old_target
    brian2.defaultclock.dt = old_dt


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator for test data."""
    return np.random.default_rng(1234)
