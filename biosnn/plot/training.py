"""The hybrid-training figure: accuracy, sparsity and E/I balance against epoch, the phases shaded.

A hybrid run (EIHL and its relatives) alternates global periods (surrogate-gradient BPTT, "excitation")
and local periods (local plasticity, "inhibition"). :func:`training_timeline` reads the run's per-epoch
metrics table (a pandas DataFrame or the path of the metrics CSV that :mod:`biosnn.learning` writes into
the run directory) and draws the phase timeline behind every panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from biosnn.errors import DatasetNotFoundError, ParameterError
from biosnn.plot.style import PHASE_COLORS, new_figure

#: E/I balance as the metrics define it (:func:`biosnn.models.ei_balance`): over every masked layer,
#: E = sum of the positive effective weights, I = sum of |negative| ones.
EI_BALANCE_LABEL = "E/I balance\nsum w>0 / sum |w<0|"

#: Default panels: (title, y label, candidate columns -- the first present is drawn for each line).
DEFAULT_PANELS: tuple[tuple[str, str, tuple[tuple[str, ...], ...]], ...] = (
    ("accuracy", "accuracy (%)", (("train_accuracy", "train_acc"), ("test_accuracy", "test_acc", "accuracy"))),
    ("sparsity", "sparsity (%)\nsynapses removed", (("sparsity",),)),
    ("E/I balance", EI_BALANCE_LABEL, (("ei_balance", "ei_ratio", "balance"),)),
)

#: Columns given as fractions in [0, 1] are drawn in percent.
PERCENT_PANELS = ("accuracy", "sparsity")

#: Legend labels of the metric columns.
COLUMN_LABELS = {
    "train_accuracy": "train",
    "train_acc": "train",
    "test_accuracy": "test",
    "test_acc": "test",
    "accuracy": "test",
    "sparsity": "sparsity",
    "ei_balance": "E/I balance",
    "ei_ratio": "E/I balance",
    "balance": "E/I balance",
}

#: What a period of each phase is, per training method (the legend's words): a local-only run's "local"
#: epochs run the rule on the hidden layers while its readout trains by gradient; afterwards only the
#: readout trains.
PHASE_LABELS = {
    None: {
        "global": "global period (gradient, BPTT)",
        "local": "local period (plasticity rule)",
        "global+local": "global and local in one epoch",
    },
    "local": {
        "global+local": "local rule on hidden layers + readout by gradient",
        "global": "readout by gradient only (hidden layers fixed)",
    },
    "stbp": {"global": "gradient (BPTT) on every layer"},
}

#: Phases drawn as another phase, per method: a local-only run's "local" epochs also train its readout by
#: gradient, so they are shaded as both ("global+local"), not as a purely local period.
PHASE_AS = {"local": {"local": "global+local"}}

#: The figure's title per method (``{periods}``: the count of each period).
METHOD_TITLES = {
    "eihl": "EIHL hybrid training: {periods}",
    "stbp": "STBP (gradient on every layer, no local period)",
    "local": "local-only: plasticity rule on the hidden layers, readout by gradient",
}


def _count(n: int, what: str) -> str:
    return f"{n} {what} period{'s' if n != 1 else ''}"


def _title(method: str | None, spans: list[tuple[str, float, float]]) -> str:
    seen = list(dict.fromkeys(p for p, _, _ in spans))
    periods = ", ".join(_count(sum(1 for s in spans if s[0] == p), p) for p in seen)
    template = METHOD_TITLES.get(method or "", "{method} training: {periods}" if method else "training: {periods}")
    return template.format(method=method, periods=periods)


def read_metrics(metrics: pd.DataFrame | str | Path) -> pd.DataFrame:
    """The metrics table: ``metrics`` itself, or the CSV file at that path (a run directory is also accepted,
    in which case its ``metrics.csv`` is read).
    """
    if isinstance(metrics, pd.DataFrame):
        return metrics
    path = Path(metrics)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.is_file():
        raise DatasetNotFoundError(f"no metrics table at {path}")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ParameterError(f"metrics file {path} is not a readable CSV table: {exc}") from exc


def phase_spans(epochs: Sequence[float], phases: Sequence[str]) -> list[tuple[str, float, float]]:
    """Contiguous periods ``(phase, first, last)`` of a per-epoch phase column, in epoch order.

    A period spans ``[first - 1/2, last + 1/2]`` on the epoch axis when drawn.
    """
    order = np.argsort(np.asarray(epochs, dtype=float), kind="stable")
    ep = np.asarray(epochs, dtype=float)[order]
    ph = [str(phases[k]) for k in order]
    spans: list[tuple[str, float, float]] = []
    for e, p in zip(ep, ph):
        if spans and spans[-1][0] == p:
            spans[-1] = (p, spans[-1][1], e)
        else:
            spans.append((p, e, e))
    return spans


def _column(df: pd.DataFrame, candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in df.columns and df[c].notna().any()), None)


def training_timeline(
    metrics: pd.DataFrame | str | Path,
    *,
    epoch: str = "epoch",
    phase: str = "phase",
    title: str | None = None,
    method: str | None = None,
) -> matplotlib.figure.Figure:
    r"""Accuracy, sparsity and E/I balance against epoch, with the local and global periods shaded.

    E/I balance is the ratio :math:`E / I` of :func:`biosnn.models.ei_balance` over every masked layer,
    :math:`E = \sum_{w > 0} w`, :math:`I = \sum_{w < 0} |w|` (dotted line: 1, balanced).

    Parameters
    ----------
    metrics
        Per-epoch table (one row per epoch), or the path of its CSV file or of the run directory. Columns:
        ``epoch``, ``phase`` (``"global"``/``"local"``), and any of ``train_accuracy``, ``test_accuracy``,
        ``sparsity``, ``ei_balance`` (fractions in [0, 1] are drawn in percent). Panels without a column
        are left out; at least one must be present. A sparsity that is 0 at every epoch is not drawn as a
        panel (the title says "sparsity 0 % throughout").
    epoch, phase
        Names of the epoch and phase columns.
    title
        The figure's title (default: from ``method`` and the periods, :data:`METHOD_TITLES`).
    method
        The run's method (``"eihl"``, ``"stbp"``, ``"local"`` ...): chooses the title and the words of the
        periods in the legend (:data:`PHASE_LABELS`); a local-only run's "local" epochs train the readout by
        gradient too: they are shaded as ``"global+local"`` (:data:`PHASE_AS`), and the legend says so.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per panel sharing the epoch axis. Every period is an ``axvspan`` rectangle with ``gid``
        ``"phase:<name>"`` from ``first - 0.5`` to ``last + 0.5``; each metric line has its column as
        ``gid`` and a label from :data:`COLUMN_LABELS`.
    """
    df = read_metrics(metrics)
    for col in (epoch, phase):
        if col not in df.columns:
            raise ParameterError(f"the metrics table has no {col!r} column; columns: {list(df.columns)}")
    df = df.sort_values(epoch, kind="stable")
    if method in PHASE_AS:
        df = df.assign(**{phase: df[phase].astype(str).replace(PHASE_AS[method])})
    panels = [
        (name, label, [c for c in (_column(df, cands) for cands in lines) if c])
        for name, label, lines in DEFAULT_PANELS
    ]
    panels = [p for p in panels if p[2]]
    if not panels:
        wanted = sorted({c for _, _, lines in DEFAULT_PANELS for cands in lines for c in cands})
        raise ParameterError(f"the metrics table has none of the columns {wanted}; columns: {list(df.columns)}")
    flat_zero = [p for p in panels if p[0] == "sparsity" and all((df[c].fillna(0) == 0).all() for c in p[2])]
    if flat_zero and len(panels) > 1:
        panels = [p for p in panels if p not in flat_zero]
    spans = phase_spans(df[epoch].to_numpy(), df[phase].astype(str).to_numpy())
    words = {**PHASE_LABELS[None], **PHASE_LABELS.get(method or "", {})}
    fig, axes = new_figure(figsize=(7.5, 2.1 * len(panels) + 0.6), nrows=len(panels), sharex=True, squeeze=False)
    axes = axes[:, 0]
    x = df[epoch].to_numpy(dtype=float)
    for ax, (name, label, columns) in zip(axes, panels):
        for p, first, last in spans:
            ax.axvspan(first - 0.5, last + 0.5, color=PHASE_COLORS.get(p, "0.8"), alpha=0.15, lw=0, gid=f"phase:{p}")
        for col in columns:
            y = df[col].to_numpy(dtype=float)
            percent = name in PERCENT_PANELS and np.nanmax(np.abs(y)) <= 1.0
            ax.plot(x, 100 * y if percent else y, marker="o", ms=3, lw=1.2, gid=col, label=COLUMN_LABELS.get(col, col))
        if name == "E/I balance":
            ax.axhline(1.0, color="0.5", ls=":", lw=0.8)
        if name == "sparsity":
            ax.set_ylim(bottom=0.0, top=max(1.0, 1.15 * ax.get_ylim()[1]))  # never a +-0.04 % axis
        ax.set_ylabel(label)
    from matplotlib.patches import Patch

    seen = list(dict.fromkeys(p for p, _, _ in spans))
    axes[0].legend(
        handles=[
            *axes[0].get_legend_handles_labels()[0],
            *(Patch(color=PHASE_COLORS.get(p, "0.8"), alpha=0.3, label=words.get(p, f"{p} period")) for p in seen),
        ],
        loc="best",
        fontsize="small",
    )
    axes[-1].set_xlabel("epoch")
    heading = title or _title(method, spans)
    if flat_zero and len(panels) >= 1 and title is None:
        heading += "\nsparsity 0 % throughout (no synapse removed)"
    axes[0].set_title(heading)
    return fig
