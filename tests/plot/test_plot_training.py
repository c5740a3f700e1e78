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
    train(
        RunConfig(
            method="eihl",
            epochs=6,
            hidden=(16,),
            dale=True,
            max_batches=4,
            global_units=1,
            final_global_units=1,
            granularity="epoch",
            max_local_units=1,
        ),
        out_dir=out,
        plot=False,
    )
    return out


def test_training_timeline_shades_the_phases_of_a_real_eihl_run(eihl_run):
    metrics = pd.read_csv(eihl_run / "metrics.csv")
    assert set(metrics["phase"]) == {"global", "local"}  # the run alternated
    fig = plot.training_timeline(eihl_run)  # the run directory (its metrics.csv)
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "accuracy (%)",
        "sparsity (%)\nsynapses removed",
        "E/I balance\nsum w>0 / sum |w<0|",
    ]
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
    np.testing.assert_allclose(
        [ln for ln in sparsity.lines if ln.get_gid() == "sparsity"][0].get_ydata(), 100 * metrics["sparsity"]
    )
    np.testing.assert_allclose(
        [ln for ln in balance.lines if ln.get_gid() == "ei_balance"][0].get_ydata(), metrics["ei_balance"]
    )
    # sparsity grows only in local periods (the figure shows the mechanism)
    s = metrics["sparsity"].to_numpy()
    grew = np.flatnonzero(np.diff(s, prepend=0.0) > 0)
    assert all(metrics["phase"][k] == "local" for k in grew)


def plt_rgb(color):
    import matplotlib.colors as mcolors

    return mcolors.to_rgb(color)


def test_phase_spans_and_errors(tmp_path):
    assert phase_spans([3, 1, 2, 4], ["local", "global", "global", "global+local"]) == [
        ("global", 1.0, 2.0),
        ("local", 3.0, 3.0),
        ("global+local", 4.0, 4.0),
    ]
    table = pd.DataFrame({"epoch": [1, 2], "phase": ["global", "local"], "test_accuracy": [0.5, 0.6]})
    fig = plot.training_timeline(table)
    assert len(fig.axes) == 1  # only the columns present are drawn
    with pytest.raises(ParameterError, match="'phase'"):
        plot.training_timeline(table.drop(columns="phase"))
    with pytest.raises(ParameterError, match="none of the columns"):
        plot.training_timeline(table.drop(columns="test_accuracy"))
    with pytest.raises(DatasetNotFoundError):
        plot.training_timeline(tmp_path / "missing.csv")


# ----------------------------------------------------------------- words of the figure (issue 13, section 4)
def _run(tmp_path_factory, method, **kw):
    from biosnn.learning.run import RunConfig, train

    out = tmp_path_factory.mktemp(f"{method}_run")
    train(RunConfig(method=method, epochs=3, hidden=(16,), max_batches=3, **kw), out_dir=out)
    return out


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_eihl_figure_counts_its_periods_in_words(eihl_run):
    metrics = pd.read_csv(eihl_run / "metrics.csv")
    spans = phase_spans(metrics["epoch"], metrics["phase"])
    fig = plot.training_timeline(eihl_run, method="eihl")
    n_global, n_local = (sum(1 for p, _, _ in spans if p == k) for k in ("global", "local"))
    plural = {1: "period"}
    expected = (
        f"EIHL hybrid training: {n_global} global {plural.get(n_global, 'periods')}, {n_local} local "
        f"{plural.get(n_local, 'periods')}"
    )
    assert fig.axes[0].get_title() == expected
    assert _legend(fig.axes[0]) == ["train", "test", "global period (gradient, BPTT)", "local period (plasticity rule)"]
    assert [ln.get_label() for ln in fig.axes[1].lines] == ["sparsity"]
    assert fig.axes[1].get_ylim()[0] == 0.0 and fig.axes[1].get_ylim()[1] >= 1.0
    one = pd.DataFrame({"epoch": [1, 2], "phase": ["global", "global"], "test_accuracy": [0.5, 0.6]})
    assert plot.training_timeline(one, method="eihl").axes[0].get_title() == "EIHL hybrid training: 1 global period"


def test_stbp_figure_is_not_called_hybrid_and_hides_a_flat_zero_sparsity(tmp_path_factory):
    out = _run(tmp_path_factory, "stbp")
    metrics = pd.read_csv(out / "metrics.csv")
    assert (metrics["sparsity"] == 0).all()
    fig = plot.training_timeline(out, method="stbp")
    assert fig.axes[0].get_title() == (
        "STBP (gradient on every layer, no local period)\nsparsity 0 % throughout (no synapse removed)"
    )
    assert "hybrid" not in fig.axes[0].get_title()
    assert [ax.get_ylabel() for ax in fig.axes] == ["accuracy (%)", "E/I balance\nsum w>0 / sum |w<0|"]
    assert _legend(fig.axes[0]) == ["train", "test", "gradient (BPTT) on every layer"]


def test_local_only_figure_says_the_readout_trains_by_gradient(tmp_path_factory):
    out = _run(tmp_path_factory, "local", local_epochs=2)
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["phase"]) == ["local", "local", "global"]
    # plot_run (what a run draws) reads the method from config.json
    from biosnn.learning.run import plot_run

    fig = plot.training_timeline(out, method="local")
    assert fig.axes[0].get_title().startswith("local-only: plasticity rule on the hidden layers, readout by gradient")
    assert _legend(fig.axes[0]) == [
        "train",
        "test",
        "local rule on hidden layers + readout by gradient",
        "readout by gradient only (hidden layers fixed)",
    ]
    # the plastic epochs are not shaded as a purely local period: the readout trained by gradient in them
    assert [p for p, _, _ in _spans(fig.axes[0])] == ["global+local", "global"]
    assert _spans(fig.axes[0])[0][1:] == (0.5, 2.5)
    assert (out / "plots" / "training.png").stat().st_size > 10_000
    assert plot_run(out, metrics.to_dict("records")).is_file()
