"""A sweep whose runs each train on 2 processes (DistributedDataParallel), sent to the local executor."""

from __future__ import annotations

import pytest
import torch

from biosnn.ablation import EXPERIMENTS, sweep
from biosnn.errors import ParameterError
from biosnn.learning.run import RunConfig, train

SETTINGS = {"method": "stbp", "hidden": (32,), "epochs": 1, "batch_size": 50}


def test_each_run_of_a_sweep_trains_on_two_processes():
    """The process pool's worker starts the run's 2 processes; the table equals a one-process run of the same
    seed (the accuracy counts; the weights agree to round-off, tests/learning/test_distributed.py)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # the one-process reference first: the pool's forked worker then starts with everything imported
        single = train(RunConfig(**SETTINGS, lr=2e-3, seed=0), plot=False).final
        result = sweep(
            "training", parameters={"lr": [2e-3]}, fixed=SETTINGS, seeds=[0], executor="process", max_workers=1, nproc=2
        )
    finally:
        torch.set_num_threads(previous)
    row = result.table.iloc[0]
    assert row["processes"] == 2 and row["engine"] == "torch" and row["seed"] == 0
    assert row["test_accuracy"] == single["test_accuracy"] and row["train_accuracy"] == single["train_accuracy"]
    assert row["loss"] == pytest.approx(single["loss"], rel=1e-6)


def test_nproc_is_refused_where_it_does_not_apply():
    with pytest.raises(ParameterError, match="give it once"):
        sweep("training", fixed={**SETTINGS, "nproc": 2}, nproc=2, executor="serial")
    with pytest.raises(ParameterError, match="nproc"):  # the plastic population has no processes to split
        sweep("plastic_population", rules=["stdp_additive"], nproc=2, executor="serial")
    with pytest.raises(ParameterError, match="nproc"):
        EXPERIMENTS["training"].check({**SETTINGS, "nproc": 0})
    with pytest.raises(ParameterError):
        EXPERIMENTS["training"].check({**SETTINGS, "widht": 2.0})
