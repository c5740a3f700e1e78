"""Ablations: sweep a circuit or a training run over rules and parameters, several seeds, as a table.

>>> from biosnn.ablation import sweep
>>> result = sweep("plastic_population", rules=["stdp_additive", "stdp_multiplicative"],
...                parameters={"input_rate": [10, 20, 40] * brian2.Hz}, seeds=[0, 1])   # doctest: +SKIP
>>> result.table                      # one row per run: rule, input_rate, seed, outcomes   # doctest: +SKIP
>>> result.plot("w_std"); result.plot_artifacts("weights")                              # doctest: +SKIP

Runs go to the local cores by default (a process pool); ``scheduler="tcp://host:8786"`` sends the same sweep
to a ``dask.distributed`` cluster. ``batch_seeds=True`` runs all seeds of a grid point as one batched run of
the twin (``plastic_population``: 8 seeds of 1 s, 200 inputs, about 2x faster than 8 separate Brian2 runs on
the numpy target, measured on the 2-core development machine). See :func:`biosnn.ablation.sweep.sweep`.
"""

from __future__ import annotations

from biosnn.ablation.executors import EXECUTORS, SerialExecutor, open_executor
from biosnn.ablation.experiments import EXPERIMENTS, Experiment, circuit_run, plastic_population
from biosnn.ablation.sweep import SweepResult, execute, grid_points, sweep

__all__ = [
    "EXECUTORS",
    "EXPERIMENTS",
    "Experiment",
    "SerialExecutor",
    "SweepResult",
    "circuit_run",
    "execute",
    "grid_points",
    "open_executor",
    "plastic_population",
    "sweep",
]
