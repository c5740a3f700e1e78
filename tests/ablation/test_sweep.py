"""The ablation API: a grid of rules x parameters x seeds, run locally in parallel and on a Dask cluster."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
from brian2 import Hz, ms, mV, second

from biosnn.ablation import EXPERIMENTS, SweepResult, grid_points, sweep
from biosnn.errors import ParameterError, UnitError, UnknownNameError

RULES = ["stdp_additive", "stdp_multiplicative"]
RATES = [10, 25, 50] * Hz
FIXED = {"duration": 0.25 * second, "n_inputs": 100, "g_max": 0.05, "n_neurons": 2}


def _pid(*, seed: int, pause: float) -> dict:
    time.sleep(pause)
    return {"pid": os.getpid(), "draw": float(np.random.random())}


@pytest.fixture(scope="module")
def local_result() -> SweepResult:
    return sweep(
        "plastic_population",
        rules=RULES,
        parameters={"input_rate": RATES},
        seeds=[3, 4],
        fixed=FIXED,
        executor="process",
        max_workers=2,
        target="numpy",
    )


def test_grid_sweep_runs_locally_in_parallel_and_on_dask_with_the_same_table(local_result):
    distributed = pytest.importorskip("distributed")
    table = local_result.table
    assert len(table) == 2 * 3 * 2 and list(table["run"]) == list(range(12))
    assert list(table.columns[:5]) == ["run", "rule", "input_rate", "seed", "engine"]
    assert list(table["rule"]) == ["stdp_additive"] * 6 + ["stdp_multiplicative"] * 6
    assert list(table["input_rate"][:6]) == [10.0, 10.0, 25.0, 25.0, 50.0, 50.0]
    assert local_result.units == {"input_rate": "Hz"} and set(table["engine"]) == {"brian2"}
    # the outcomes are real measurements: more input drive, more output spikes; seeds differ
    by_rate = table.groupby("input_rate")["rate_hz"].mean()
    assert by_rate[50.0] > by_rate[10.0] and by_rate[50.0] > 1.0
    assert not np.allclose(table["w_mean"][::2].to_numpy(), table["w_mean"][1::2].to_numpy())
    assert all(local_result.artifacts[r]["weights"].shape == (200,) for r in range(12))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    ) as cluster:
        remote = sweep(
            "plastic_population",
            rules=RULES,
            parameters={"input_rate": RATES},
            seeds=[3, 4],
            fixed=FIXED,
            scheduler=cluster.scheduler_address,
            target="numpy",
        )
    pd.testing.assert_frame_equal(remote.table, table)
    for r in range(12):
        np.testing.assert_array_equal(remote.artifacts[r]["weights"], local_result.artifacts[r]["weights"])


def test_process_executor_uses_several_workers():
    result = sweep(_pid, parameters={"pause": [0.3] * 1}, seeds=list(range(6)), executor="process", max_workers=2)
    pids = set(result.table["pid"])
    assert len(pids) == 2 and os.getpid() not in pids
    # seeding happens in the worker, before the run: the same seed gives the same draw anywhere
    again = sweep(_pid, parameters={"pause": [0.0]}, seeds=list(range(6)), executor="serial")
    np.testing.assert_array_equal(result.table["draw"].to_numpy(), again.table["draw"].to_numpy())


def test_sweep_checks_every_setting_before_running():
    with pytest.raises(UnknownNameError, match="known:"):
        sweep("plastic_population", rules=["stdp_additive", "no_such_rule"], executor="serial")
    with pytest.raises(ParameterError, match="no setting"):
        sweep("plastic_population", parameters={"input_rat": [1, 2] * Hz}, executor="serial")
    with pytest.raises(UnitError, match="input_rate"):
        sweep("plastic_population", parameters={"input_rate": [1, 2] * mV}, executor="serial")
    with pytest.raises(ParameterError, match="tau_plus"):
        sweep("plastic_population", parameters={"rule.tau_plus": [10, 20] * mV}, executor="serial")
    with pytest.raises(ParameterError, match="seeds"):
        sweep("plastic_population", seeds=[1, 1])
    with pytest.raises(ParameterError, match="rules"):
        sweep("plastic_population", rules="stdp_additive")
    with pytest.raises(UnknownNameError, match="sweep executor"):
        sweep("plastic_population", fixed=FIXED, executor="threads")
    with pytest.raises(ParameterError, match="scheduler"):
        sweep("plastic_population", fixed=FIXED, executor="dask")
    with pytest.raises(ParameterError, match="batched"):
        sweep("circuit", fixed={"circuit": "cuba", "duration": 1 * ms}, batch_seeds=True)
    with pytest.raises(UnknownNameError, match="circuit"):
        sweep("circuit", fixed={"circuit": "no_such_circuit", "duration": 1 * ms})
    with pytest.raises(UnknownNameError, match="experiment"):
        sweep("no_such_experiment")
    assert "plastic_population" in EXPERIMENTS and "circuit" in EXPERIMENTS


def test_grid_order_rules_outermost():
    points = grid_points(rules=["a", "b"], parameters={"x": [1, 2], "y": ["p", "q"]})
    assert points[:3] == [
        {"rule": "a", "x": 1, "y": "p"},
        {"rule": "a", "x": 1, "y": "q"},
        {"rule": "a", "x": 2, "y": "p"},
    ]
    assert len(points) == 8


def test_rule_parameters_are_swept(tmp_path):
    result = sweep(
        "plastic_population",
        rules=["stdp_additive"],
        parameters={"rule.A_minus": [0.0, 0.02]},
        seeds=[0],
        fixed={**FIXED, "input_rate": 50 * Hz},
        executor="serial",
        target="numpy",
    )
    t = result.table
    assert list(t["rule.A_minus"]) == [0.0, 0.02]
    # without depression STDP can only potentiate; strong depression pulls the mean weight down
    assert t["w_mean"][0] > t["w_mean"][1]
    paths = result.save(tmp_path / "sweep")
    assert (tmp_path / "sweep" / "table.csv").is_file() and any(p.suffix == ".png" for p in paths)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "sweep" / "table.csv"), t, check_dtype=False)


def test_result_plots_show_the_table(local_result):
    fig = local_result.plot("rate_hz")
    ax = fig.axes[0]
    for rule in RULES:
        (line,) = [ln for ln in ax.lines if ln.get_gid() == rule]
        expected = local_result.table[local_result.table["rule"] == rule].groupby("input_rate")["rate_hz"].mean()
        np.testing.assert_allclose(line.get_xdata(), [10, 25, 50])
        np.testing.assert_allclose(line.get_ydata(), expected.to_numpy())
    assert ax.get_xlabel() == "input_rate (Hz)" and ax.get_legend().get_title().get_text() == "rule"
    grid = local_result.plot_artifacts("weights")
    panels = [a for a in grid.axes if a.patches]
    assert len(panels) == 6
    counts = [p.get_data()[0].sum() for a in panels for p in a.patches]
    assert counts == [2 * 200] * 6  # two seeds x 200 synapses pooled per panel
    summary = local_result.summary(["rate_hz"])
    assert summary.shape == (6, 2)
    with pytest.raises(ParameterError, match="no outcome"):
        local_result.plot("nothing")


def test_batched_seeds_run_as_one_twin_batch():
    fixed = {"duration": 0.1 * second, "n_inputs": 40, "g_max": 0.1, "n_neurons": 4, "input_rate": 40 * Hz}
    result = sweep(
        "plastic_population",
        rules=["stdp_additive"],
        seeds=[0, 1, 2],
        fixed=fixed,
        batch_seeds=True,
        executor="serial",
        target="numpy",
    )
    t = result.table
    assert list(t["seed"]) == [0, 1, 2] and set(t["engine"]) == {"twin"}
    assert len(result.timings) == 1  # one task for the three seeds
    # three independent realisations of the Poisson input: the same start, different spikes and weights
    assert t["rate_hz"].min() >= 0 and t["rate_hz"].max() > 0
    w = [result.artifacts[r]["weights"] for r in range(3)]
    assert all(x.shape == (160,) for x in w) and not np.array_equal(w[0], w[1])


def test_batched_trials_start_from_each_seeds_initial_weights():
    """With no time to learn, every trial of a batched run keeps the initial weights the unbatched run of
    its seed starts from."""
    from biosnn.ablation.experiments import plastic_population, plastic_population_batch

    settings = {"n_inputs": 30, "n_neurons": 2, "duration": 0.1 * ms}
    batched = plastic_population_batch(seeds=[3, 4], **settings)
    for seed, out in zip([3, 4], batched):
        single = plastic_population(seed=seed, **settings)
        np.testing.assert_allclose(out["weights"], single["weights"], rtol=0, atol=1e-12)
    assert not np.allclose(batched[0]["weights"], batched[1]["weights"])


def test_circuit_sweep_measures_every_population_and_plastic_projection():
    # Vogels et al. 2011, reduced: inhibitory STDP off (eta = 0) vs on; the plastic I->E weights grow only
    # when it is on, and inhibition then lowers the excitatory rate
    fixed = {
        "circuit": "vogels2011",
        "duration": 0.2 * second,
        "n_exc": 160,
        "n_inh": 40,
        "epsilon": 0.5,
        "n_record": 0,
    }
    result = sweep("circuit", parameters={"eta": [0.0, 0.5]}, seeds=[0], fixed=fixed, executor="serial", target="numpy")
    t = result.table
    assert {"rate_E", "rate_I", "cv_E", "w_mean_IE", "w_std_IE"} <= set(t.columns)
    assert t["w_mean_IE"][0] == pytest.approx(1e-10) and t["w_mean_IE"][1] > 0.1
    assert t["rate_E"][0] > t["rate_E"][1] > 0
    assert result.artifacts[1]["w_IE"].size > 1000
    with pytest.raises(ParameterError, match="no setting"):
        sweep("circuit", parameters={"eta": [0.0]}, fixed={**fixed, "n_excitatory": 10}, executor="serial")
