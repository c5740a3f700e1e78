"""Sweeps: one experiment over a grid of rules and parameters times several seeds, as a pandas table.

:func:`sweep` expands the grid (``rules`` x ``parameters`` x ``seeds``), sends every independent run to an
executor (:mod:`biosnn.ablation.executors`: this process, the local cores, or a Dask cluster given by its
scheduler address -- the call is otherwise the same), and collects one table row per run: the settings,
the seed, and the measured outcomes. Array outcomes (final weights, rates per neuron ...) are kept beside
the table as *artifacts* and drawn side by side by :meth:`SweepResult.plot_artifacts`.

Every run is deterministic given its settings and seed, whichever worker runs it: the worker selects the
caller's Brian2 code-generation target and default time step, and seeds every random source with the run's
seed (:func:`biosnn.seed`) before the experiment starts. So the same sweep gives the same table locally,
serially, and on a cluster.

Experiments whose runs can share one batched simulation (several seeds of the same circuit as one run of
the twin with a batch dimension) provide ``run_batch``; with ``batch_seeds=True`` the sweep sends one task
per grid point instead of one per seed.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import brian2
import numpy as np
import pandas as pd
from brian2.units.fundamentalunits import Quantity, get_dimensions

from biosnn.ablation.executors import open_executor
from biosnn.ablation.experiments import EXPERIMENTS, Experiment
from biosnn.errors import BiosnnError, ParameterError, UnitError

#: Table columns that the sweep itself writes (settings may not use these names).
RESERVED = ("run", "seed", "engine")


# ------------------------------------------------------------------------------------------------ tasks


@dataclass(frozen=True)
class Task:
    """Runs to execute in one worker: one grid point and one or more seeds (several when batched)."""

    experiment: str | Callable[..., Mapping[str, Any]]
    settings: tuple[tuple[str, Any], ...]
    seeds: tuple[int, ...]
    runs: tuple[int, ...]
    target: str
    dt: float
    batched: bool = False


@dataclass
class TaskResult:
    """Outcomes of a task's runs (in ``runs`` order) and the wall time the task took in its worker."""

    runs: tuple[int, ...]
    outcomes: list[dict[str, Any]]
    engine: str
    wall_s: float


def _resolve(experiment: str | Callable | Experiment) -> Experiment:
    if isinstance(experiment, Experiment):
        return experiment
    if isinstance(experiment, str):
        return EXPERIMENTS[experiment]
    if callable(experiment):
        return Experiment(name=getattr(experiment, "__name__", "experiment"), run=experiment)
    raise ParameterError(f"experiment must be a registered name, an Experiment or a callable, got {experiment!r}")


def execute(task: Task) -> TaskResult:
    """Run ``task`` in this process (the function every executor calls in its workers)."""
    import biosnn

    brian2.prefs["codegen.target"] = task.target
    brian2.defaultclock.dt = task.dt * brian2.second
    exp = _resolve(task.experiment)
    settings = dict(task.settings)
    start = time.perf_counter()
    if task.batched:
        biosnn.seed(task.seeds[0])
        outcomes = [dict(o) for o in exp.run_batch(seeds=list(task.seeds), **settings)]
        if len(outcomes) != len(task.seeds):
            raise BiosnnError(
                f"experiment {exp.name!r} returned {len(outcomes)} batched outcomes for {len(task.seeds)} seeds"
            )
        engine = exp.batch_engine
    else:
        biosnn.seed(task.seeds[0])
        outcomes = [dict(exp.run(seed=task.seeds[0], **settings))]
        engine = exp.engine
    return TaskResult(task.runs, outcomes, engine, time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------- result


def _display_value(name: str, values: Sequence[Any]) -> tuple[list[Any], str]:
    """Parameter values as table entries: quantities as floats in one shared unit, with its label."""
    if not any(isinstance(v, Quantity) for v in values):
        return list(values), ""
    dims = {str(get_dimensions(v)) for v in values}
    if len(dims) != 1:
        raise UnitError(f"parameter {name!r} mixes units: {list(values)}")
    arr = np.array([float(np.asarray(v)) for v in values])
    unit = Quantity(arr, dim=get_dimensions(values[0])).get_best_unit()
    return [float(v / unit) for v in values], str(unit)


def _scalar(value: Any) -> Any:
    """A table entry for an outcome, or ``None`` when the value is an array (kept as an artifact)."""
    if isinstance(value, (bool, np.bool_, str)):
        return value
    if isinstance(value, Quantity):
        arr = np.asarray(value, dtype=float)
        return float(arr) if arr.ndim == 0 else None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value.item() if hasattr(value, "item") else value
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    return arr.item() if arr.ndim == 0 and arr.dtype.kind in "biuf" else None


@dataclass
class SweepResult:
    """The table of a sweep (one row per run), its array outcomes, and plots of both.

    Attributes
    ----------
    table
        Columns: ``run`` (index), the settings (``rule`` and the parameters; quantities as floats in
        ``units``), ``seed``, ``engine`` (``"brian2"`` or ``"twin"``), then the scalar outcomes.
    artifacts
        ``artifacts[run][name]``: the array outcomes of each run (as NumPy arrays).
    settings
        The names of the setting columns, in grid order.
    units
        Unit labels of the setting columns given as Brian2 quantities.
    timings
        Wall time (s) of each task in its worker; kept out of the table, which is deterministic.
    """

    table: pd.DataFrame
    artifacts: dict[int, dict[str, np.ndarray]]
    settings: list[str]
    units: dict[str, str] = field(default_factory=dict)
    timings: list[float] = field(default_factory=list)

    @property
    def outcomes(self) -> list[str]:
        """Names of the scalar outcome columns."""
        skip = {*RESERVED, *self.settings}
        return [c for c in self.table.columns if c not in skip]

    def label(self, column: str) -> str:
        """A column name with its unit, for axis labels."""
        return f"{column} ({self.units[column]})" if self.units.get(column) else column

    def summary(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Mean and standard deviation over seeds of each outcome, per grid point."""
        metrics = (
            list(metrics)
            if metrics is not None
            else [c for c in self.outcomes if pd.api.types.is_numeric_dtype(self.table[c])]
        )
        missing = [m for m in metrics if m not in self.table.columns]
        if missing:
            raise ParameterError(f"no outcome columns {missing}; outcomes: {self.outcomes}")
        if not self.settings:
            return self.table[metrics].agg(["mean", "std"])
        return self.table.groupby(self.settings, sort=False)[metrics].agg(["mean", "std"])

    def plot(self, metric: str, *, x: str | None = None, hue: str | None = None):
        """``metric`` (mean +- s.d. over seeds) against setting ``x``, one line per value of ``hue``.

        Defaults: ``x`` the last numeric setting, ``hue`` the ``rule`` column (or the first other
        setting). Each line's ``gid`` is the hue value; its y data are the means.
        """
        from biosnn.plot.style import new_axes

        if metric not in self.table.columns:
            raise ParameterError(f"no outcome {metric!r}; outcomes: {self.outcomes}")
        numeric = [s for s in self.settings if pd.api.types.is_numeric_dtype(self.table[s])]
        x = x or (numeric[-1] if numeric else (self.settings[-1] if self.settings else None))
        others = [s for s in self.settings if s != x]
        hue = hue if hue is not None else ("rule" if "rule" in others else (others[0] if others else None))
        for name in (x, hue):
            if name is not None and name not in self.settings:
                raise ParameterError(f"{name!r} is not a setting of this sweep; settings: {self.settings}")
        fig, ax = new_axes(None, figsize=(5.5, 3.6))
        groups = self.table.groupby(hue, sort=False) if hue else [("all", self.table)]
        for key, df in groups:
            stats = df.groupby(x, sort=False)[metric].agg(["mean", "std"]) if x else df[metric].agg(["mean", "std"])
            xs = stats.index.to_numpy() if x else np.array([0])
            means = stats["mean"].to_numpy() if x else np.array([stats["mean"]])
            errs = (
                stats["std"].fillna(0).to_numpy()
                if x
                else np.array([0.0 if math.isnan(stats["std"]) else stats["std"]])
            )
            pos = xs if pd.api.types.is_numeric_dtype(xs) else np.arange(len(xs))
            line = ax.errorbar(pos, means, yerr=errs, marker="o", capsize=3, label=str(key))
            line.lines[0].set_gid(str(key))
            if not pd.api.types.is_numeric_dtype(xs):
                ax.set_xticks(pos, [str(v) for v in xs])
        ax.set_xlabel(self.label(x) if x else "")
        ax.set_ylabel(metric)
        n_seeds = self.table["seed"].nunique()
        ax.set_title(f"{metric} (mean +- s.d. over {n_seeds} seed{'s' if n_seeds != 1 else ''})")
        if hue:
            ax.legend(title=hue, fontsize="small")
        return fig

    def plot_artifacts(
        self,
        name: str,
        *,
        rows: str | None = None,
        columns: str | None = None,
        bins: int = 30,
        xlabel: str | None = None,
    ):
        """Histograms of the array outcome ``name`` side by side: one panel per grid point, seeds pooled.

        Panels are laid out with ``rows`` (default ``rule``) down and ``columns`` (default the other
        setting) across; each holds a step histogram (``gid`` ``"<row>|<column>"``) over shared bins.
        """
        from biosnn.plot.style import new_figure

        if not any(name in a for a in self.artifacts.values()):
            have = sorted({k for a in self.artifacts.values() for k in a})
            raise ParameterError(f"no artifact {name!r}; artifacts: {have}")
        rows = rows or ("rule" if "rule" in self.settings else (self.settings[0] if self.settings else None))
        columns = columns or next((s for s in self.settings if s != rows), None)
        row_vals = list(dict.fromkeys(self.table[rows])) if rows else [None]
        col_vals = list(dict.fromkeys(self.table[columns])) if columns else [None]
        pooled = {}
        for _, r in self.table.iterrows():
            key = (r[rows] if rows else None, r[columns] if columns else None)
            arr = self.artifacts.get(int(r["run"]), {}).get(name)
            if arr is not None:
                pooled.setdefault(key, []).append(np.asarray(arr, dtype=float).ravel())
        everything = np.concatenate([np.concatenate(v) for v in pooled.values()])
        everything = everything[np.isfinite(everything)]
        lo, hi = (float(everything.min()), float(everything.max())) if everything.size else (0.0, 1.0)
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        fig, axes = new_figure(
            figsize=(2.6 * len(col_vals) + 0.6, 2.1 * len(row_vals) + 0.6),
            nrows=len(row_vals),
            ncols=len(col_vals),
            sharex=True,
            squeeze=False,
        )
        for a, rv in enumerate(row_vals):
            for b, cv in enumerate(col_vals):
                ax = axes[a, b]
                data = np.concatenate(pooled.get((rv, cv), [np.array([])]))
                counts, _ = np.histogram(data[np.isfinite(data)], bins=edges)
                ax.stairs(counts, edges, fill=True, alpha=0.75, gid=f"{rv}|{cv}")
                if a == 0 and columns:
                    ax.set_title(
                        f"{self.label(columns)} = {cv:g}" if isinstance(cv, float) else f"{columns} = {cv}",
                        fontsize="small",
                    )
                if b == 0 and rows:
                    ax.set_ylabel(str(rv), fontsize="small")
                if a == len(row_vals) - 1:
                    ax.set_xlabel(xlabel or name)
        return fig

    def save(self, directory: str | Path, *, metrics: Sequence[str] | None = None) -> list[Path]:
        """Write ``table.csv``, ``summary.csv`` and one PNG per metric into ``directory``; return the paths."""
        from biosnn.plot.style import save_figure

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "table.csv", out / "summary.csv"]
        self.table.to_csv(paths[0], index=False)
        self.summary().to_csv(paths[1])
        for m in metrics or [c for c in self.outcomes if pd.api.types.is_numeric_dtype(self.table[c])]:
            paths.append(save_figure(self.plot(m), out / f"{m}.png"))
        return paths


# ------------------------------------------------------------------------------------------------ sweep


def grid_points(*, rules: Sequence[str] | None, parameters: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The grid in order: rules outermost, then the parameters in the order given (last fastest)."""
    axes: list[tuple[str, list[Any]]] = []
    if rules:
        axes.append(("rule", list(rules)))
    axes += [(k, list(v)) for k, v in parameters.items()]
    return [dict(zip([a for a, _ in axes], combo)) for combo in itertools.product(*(v for _, v in axes))]


def _check_inputs(rules, parameters, seeds, fixed) -> tuple[list[str] | None, dict, list[int], dict]:
    if isinstance(rules, str):
        raise ParameterError(f"parameter 'rules' must be a sequence of rule names, got the string {rules!r}")
    rules = list(rules) if rules is not None else None
    if rules is not None and (not rules or not all(isinstance(r, str) for r in rules)):
        raise ParameterError(f"parameter 'rules' must be a non-empty sequence of names, got {rules!r}")
    if not isinstance(parameters, Mapping):
        raise ParameterError(f"parameter 'parameters' must map names to sequences of values, got {parameters!r}")
    params = {}
    for k, v in parameters.items():
        if not isinstance(k, str) or k in RESERVED or k == "rule":
            raise ParameterError(f"parameter name {k!r} is not allowed (reserved: {RESERVED + ('rule',)})")
        values = list(v) if not isinstance(v, (str, bytes)) and np.ndim(v) > 0 else None
        if not values:
            raise ParameterError(f"parameter {k!r} needs a non-empty sequence of values, got {v!r}")
        params[k] = values
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in seeds):
        raise ParameterError(f"parameter 'seeds' must be a non-empty sequence of integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ParameterError(f"parameter 'seeds' has repeated values: {seeds}")
    fixed = dict(fixed or {})
    clash = set(fixed) & ({*params, "rule", *RESERVED})
    if clash:
        raise ParameterError(f"settings {sorted(clash)} are both fixed and swept (or reserved)")
    return rules, params, [int(s) for s in seeds], fixed


def sweep(
    experiment: str | Callable[..., Mapping[str, Any]] | Experiment,
    *,
    rules: Sequence[str] | None = None,
    parameters: Mapping[str, Sequence[Any]] | None = None,
    seeds: Sequence[int] = (0,),
    fixed: Mapping[str, Any] | None = None,
    executor: str | None = None,
    scheduler: str | None = None,
    max_workers: int | None = None,
    batch_seeds: bool = False,
    target: str | None = None,
    progress: bool = False,
    nproc: int | None = None,
) -> SweepResult:
    """Run ``experiment`` over ``rules`` x ``parameters`` x ``seeds`` and collect the results as a table.

    Parameters
    ----------
    experiment
        A name in :data:`biosnn.ablation.EXPERIMENTS` (``"plastic_population"``, ``"circuit"``, ...), an
        :class:`~biosnn.ablation.experiments.Experiment`, or a picklable module-level function
        ``f(*, seed, <settings>) -> {outcome: value}``. Scalar outcomes become table columns; arrays are
        kept as artifacts.
    rules
        Plasticity rules to compare (passed as ``rule=``); ``None`` for no rule axis.
    parameters
        ``{name: [values]}``: the parameter grid (Brian2 quantities allowed).
    seeds
        Seeds; every grid point runs once per seed.
    fixed
        Settings passed unchanged to every run (not swept).
    executor
        ``"process"`` (local cores, the default), ``"serial"``, ``"dask"`` (the default when ``scheduler``
        is given), or any name in :data:`biosnn.ablation.EXECUTORS`.
    scheduler
        Address of a ``dask.distributed`` scheduler (``"tcp://127.0.0.1:8786"``): sends the same sweep there.
    max_workers
        Local worker processes (default: all cores).
    batch_seeds
        Run all seeds of a grid point as one batched simulation (the twin's batch dimension), where the
        experiment supports it.
    target
        Brian2 code-generation target of the runs (default: this process's current target).
    progress
        Show a progress bar (tqdm).
    nproc
        Processes of each run, for experiments with an ``nproc`` setting (``"training"``: each run trains with
        DistributedDataParallel on ``nproc`` processes): passed to every run like a ``fixed`` setting. The
        sweep then uses ``max_workers x nproc`` processes; give ``max_workers`` accordingly.

    Returns
    -------
    SweepResult
        ``.table`` (one row per run, in grid order), ``.artifacts``, ``.summary()``, ``.plot(metric)``,
        ``.plot_artifacts(name)``.

    Raises
    ------
    UnknownNameError
        For an unknown experiment or executor (before anything runs).
    ParameterError
        For a malformed grid, or settings the experiment rejects (checked for every grid point before
        anything runs).
    """
    exp = _resolve(experiment)
    if nproc is not None:
        if "nproc" in (fixed or {}) or "nproc" in (parameters or {}):
            raise ParameterError("nproc is given both as the sweep's nproc and as a setting; give it once")
        fixed = {**dict(fixed or {}), "nproc": nproc}
    rules, params, seeds, fixed = _check_inputs(rules, parameters or {}, seeds, fixed)
    executor = executor or ("dask" if scheduler else "process")
    points = grid_points(rules=rules, parameters=params)
    for point in points:
        exp.check({**fixed, **point})
    if batch_seeds and exp.run_batch is None:
        raise ParameterError(f"experiment {exp.name!r} has no batched implementation; use batch_seeds=False")
    target = target or brian2.prefs["codegen.target"]
    dt = float(brian2.defaultclock.dt / brian2.second)
    spec = experiment  # a name, a module-level function or an Experiment: all pickle by reference
    tasks, rows = [], []
    for p, point in enumerate(points):
        runs = tuple(range(p * len(seeds), (p + 1) * len(seeds)))
        items = tuple({**fixed, **point}.items())
        rows += [(r, point, s) for r, s in zip(runs, seeds)]
        if batch_seeds:
            tasks.append(Task(spec, items, tuple(seeds), runs, target, dt, batched=True))
        else:
            tasks += [Task(spec, items, (s,), (r,), target, dt) for r, s in zip(runs, seeds)]
    results: dict[int, dict[str, Any]] = {}
    engines: dict[int, str] = {}
    timings: list[float] = []
    with open_executor(executor, max_workers=max_workers, scheduler=scheduler) as pool:
        futures = {pool.submit(execute, t): t for t in tasks}
        done = as_completed(futures)
        if progress:
            from tqdm.auto import tqdm

            done = tqdm(done, total=len(futures), desc=f"sweep {exp.name}")
        for fut in done:
            task = futures[fut]
            try:
                res = fut.result()
            except BiosnnError:
                raise
            except Exception as exc:
                raise BiosnnError(
                    f"run of {exp.name!r} with {dict(task.settings)} and seeds {task.seeds} "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from exc
            timings.append(res.wall_s)
            for r, out in zip(res.runs, res.outcomes):
                results[r], engines[r] = out, res.engine
    return _collect(rows, results, engines, list(points[0]) if points else [], params, rules, timings)


def _collect(rows, results, engines, settings, params, rules, timings) -> SweepResult:
    units: dict[str, str] = {}
    shown: dict[str, dict[int, Any]] = {}
    for name, values in params.items():
        disp, unit = _display_value(name, values)
        units[name] = unit
        shown[name] = {k: d for k, d in enumerate(disp)}
    records, artifacts = [], {}
    for run, point, seed in rows:
        rec: dict[str, Any] = {"run": run}
        for name in settings:
            if name == "rule":
                rec["rule"] = point["rule"]
            else:
                rec[name] = shown[name][_index_of(params[name], point[name])]
        rec["seed"] = seed
        rec["engine"] = engines[run]
        arts = {}
        for key, value in results[run].items():
            v = _scalar(value)
            if v is None:
                arts[key] = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
            else:
                rec[key] = v
        records.append(rec)
        if arts:
            artifacts[run] = arts
    table = pd.DataFrame.from_records(records)
    return SweepResult(table, artifacts, settings, {k: v for k, v in units.items() if v}, timings)


def _index_of(values: list[Any], value: Any) -> int:
    for k, v in enumerate(values):
        if v is value:
            return k
    for k, v in enumerate(values):
        try:
            if bool(np.all(v == value)):
                return k
        except Exception:  # noqa: BLE001 - incomparable values are simply not equal
            continue
    raise ParameterError(f"value {value!r} not in the grid")  # pragma: no cover - grid values come from the grid
