"""The hybrid-training figure, drawn from a real (tiny) EIHL run's metrics.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biosnn import plot
from biosnn.errors import DatasetNotFoundError, ParameterError
from biosnn.plot.style import PHASE_COLORS
from biosnn.plot.training import phase_spans


def _spans(ax):
    out = []
    for patch in ax.patches:
        gid = str(patch.get_gid())
        if gid.startswith("phase:"):
            out.append((gid.removeprefix("phase:"), patch.get_x(), patch.get_x() + patch.get_width()))
    return out


@pytest.fixture(scope="module")
def eihl_run(tmp_path_factory):
    from biosnn.learning.run import RunConfig, train

    out = tmp_path_factory.mktemp("eihl_run")
    train(RunConfig(method="eihl", epochs=6, hidden=(16,), dale=True, max_batches=4, global_units=1,
                    final_global_units=1), out_dir=out, plot=False)
    return out


def test_training_timeline_shades_the_phases_of_a_real_eihl_run(eihl_run):
    metrics = pd.read_csv(eihl_run / "metrics.csv")
    assert set(metrics["phase"]) == {"global", "local"}  # the run alternated
    fig = plot.training_timeline(eihl_run)  # the run directory (its metrics.csv)
    assert [ax.get_ylabel() for ax in fig.axes] == ["accuracy (%)", "sparsity (%)", "E/I balance"]
    expected = [(p, a - 0.5, b + 0.5) for p, a, b in phase_spans(metrics["epoch"], metrics["phase"])]
    assert len(expected) >= 3
    for ax in fig.axes:
        assert _spans(ax) == expected
    # local periods are shaded in the local colour
    local = [p for p in fig.axes[1].patches if p.get_gid() == "phase:local"]
    assert local and all(np.allclose(p.get_facecolor()[:3], plt_rgb(PHASE_COLORS["local"])) for p in local)
    acc, sparsity, balance = fig.axes
    test_line = [ln for ln in acc.lines if ln.get_gid() == "test_accuracy"][0]
    np.testing.assert_allclose(test_line.get_xdata(), metrics["epoch"])
    np.testing.assert_allclose(test_line.get_ydata(), 100 * metrics["test_accuracy"])
    np.testing.assert_allclose([ln for ln in sparsity.lines if ln.get_gid() == "sparsity"][0].get_ydata(),
                               100 * metrics["sparsity"])
    np.testing.assert_allclose([ln for ln in balance.lines if ln.get_gid() == "ei_balance"][0].get_ydata(),
                               metrics["ei_balance"])
    # sparsity grows only in local periods (the figure shows the mechanism)
    s = metrics["sparsity"].to_numpy()
    grew = np.flatnonzero(np.diff(s, prepend=0.0) > 0)
    assert all(metrics["phase"][k] == "local" for k in grew)


def plt_rgb(color):
    import matplotlib.colors as mcolors

    return mcolors.to_rgb(color)


def test_phase_spans_and_errors(tmp_path):
    assert phase_spans([3, 1, 2, 4], ["local", "global", "global", "global+local"]) == [
        ("global", 1.0, 2.0), ("local", 3.0, 3.0), ("global+local", 4.0, 4.0)]
    table = pd.DataFrame({"epoch": [1, 2], "phase": ["global", "local"], "test_accuracy": [0.5, 0.6]})
    fig = plot.training_timeline(table)
    assert len(fig.axes) == 1  # only the columns present are drawn
    with pytest.raises(ParameterError, match="'phase'"):
        plot.training_timeline(table.drop(columns="phase"))
    with pytest.raises(ParameterError, match="none of the columns"):
        plot.training_timeline(table.drop(columns="test_accuracy"))
    with pytest.raises(DatasetNotFoundError):
        plot.training_timeline(tmp_path / "missing.csv")
