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

import biosnn  # noqa: E402  (sets Brian2's cache folder)

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One intra-op thread per xdist worker: two workers with two threads each on two cores thrash, and
    # the small networks of the test suite run several times faster single-threaded.
    import torch

    torch.set_num_threads(1)


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
