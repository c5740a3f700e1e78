"""biosnn's Brian2 set-up: seeding and the "never included in a network" warning for twin-run objects."""

from __future__ import annotations

import gc
import logging

import brian2 as b2
import numpy as np
import torch

import biosnn


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _unused_warnings(make) -> list[str]:
    logger = logging.getLogger("brian2.core.base.unused_brian_object")
    handler = _Collect()
    logger.addHandler(handler)
    try:
        make()
        gc.collect()
    finally:
        logger.removeHandler(handler)
    return handler.messages


def test_objects_run_by_a_twin_do_not_warn_but_unused_ones_still_do():
    def unused():
        b2.NeuronGroup(3, "dv/dt = -v/(10*ms) : 1", method="exact", name="brian_test_unused")

    def twin_only():
        G = b2.NeuronGroup(3, "dv/dt = -v/(10*ms) : 1", method="exact", name="brian_test_twin")
        tw = biosnn.twin([G])
        with torch.no_grad():
            tw.run(1 * b2.ms)

    assert any("brian_test_unused" in m for m in _unused_warnings(unused)), "Brian2's own warning must stay"
    assert not any("brian_test_twin" in m for m in _unused_warnings(twin_only))


def test_seed_seeds_every_source():
    biosnn.seed(5)
    a = (np.random.rand(), torch.rand(1).item())
    biosnn.seed(5)
    assert (np.random.rand(), torch.rand(1).item()) == a
