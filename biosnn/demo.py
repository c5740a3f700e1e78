"""The main demo: hybrid local/global training on digits, EIHL vs STBP vs local-only, over three seeds.

``biosnn demo`` (``make demo``) trains the same spiking MLP (64-256-10 LIF neurons, Poisson-coded
scikit-learn digits, T = 12, 20 epochs, :data:`DEMO_CONFIG`) with the same budget (epochs x batches) by

* **EIHL** -- the hybrid controller with every setting at its default
  (:class:`~biosnn.plasticity.eihl_contraction.EIHLConfig`, read by :class:`RunConfig`: global STBP periods
  of at least an epoch that re-create synapses where the loss gradient says so, short local periods of
  STDP-driven contraction and removal under ``thresh(b)``, switched by connectivity and decided every
  iteration; no new local period above 25 % sparsity; the run ends with a global period),
* **STBP** -- surrogate-gradient BPTT only,
* **local** -- local learning only: competitive unsupervised STDP on the hidden layer (winner-take-all,
  adaptive thresholds, excitatory-only Dale layer; ``model="competitive_mlp"``,
  ``local_rule="stdp_competitive"``) during the first two epochs, then fixed, with a readout trained by
  STBP throughout,
* **local (random control)** -- the same network and readout with the rule's learning rate at 0: the hidden
  layer keeps its random initial strengths (the control a local rule has to beat; ``local_random``).

Poisson coding is used for all of them because the local rule (STDP) needs input spikes. For seeds
0, 1, 2 the demo prints a table of test accuracy (mean +- std over seeds), sparsity and time. Digits
ship with scikit-learn, so nothing is downloaded. The whole demo runs in a few minutes on two CPU cores.

The acceptance criterion of the project ("EIHL's mean test accuracy is at least STBP's minus one point, at
a sparsity of at least 15 %") is printed with the table, whatever the figures are.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from biosnn.errors import ParameterError
from biosnn.learning.run import RunConfig, RunResult, load_data, train, write_metrics_csv

#: The demo's run settings (shared by every method; only ``method`` and ``seed`` change). Every EIHL setting
#: (``a``, ``b``, ``x_growth``, ``tau_x``, the policy and its units) is RunConfig's default, which is
#: :class:`~biosnn.plasticity.eihl_contraction.EIHLConfig`'s: the defaults live in one place.
DEMO_CONFIG = RunConfig(
    method="eihl",
    model="mlp",
    dataset="digits",
    hidden=(256,),
    neuron="lif",
    encoder="poisson",
    steps=12,
    epochs=20,
    batch_size=64,
    lr=2e-3,
    local_epochs=2,
)

#: What each of the demo's arms changes in :data:`DEMO_CONFIG` (an arm is a training method, or a method with
#: a control's settings). A method of :data:`biosnn.learning.run.METHODS` that is not listed runs as itself.
_LOCAL: dict[str, object] = {"method": "local", "model": "competitive_mlp", "local_rule": "stdp_competitive"}
ARMS: dict[str, dict[str, object]] = {
    "eihl": {"method": "eihl"},
    "stbp": {"method": "stbp"},
    "local": _LOCAL,
    "local_random": {**_LOCAL, "local_lr": 0.0},
}

_LABELS = {"eihl": "EIHL", "stbp": "STBP", "local": "local-only", "local_random": "local (random)"}


def arm_config(config: RunConfig, arm: str) -> RunConfig:
    """``config`` with the settings of the demo arm ``arm`` (:data:`ARMS`; any other name is a method)."""
    return config.replace(**ARMS.get(arm, {"method": arm}))


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarize(results: dict[str, list[RunResult]]) -> list[dict[str, float | str | int]]:
    """One row per method: mean and std over seeds of the final test accuracy and sparsity, mean time."""
    rows = []
    for method, runs in results.items():
        acc = _mean_std([r.final["test_accuracy"] for r in runs])
        sp = _mean_std([r.final["sparsity"] for r in runs])
        seconds = statistics.fmean(sum(row["seconds"] for row in r.history) for r in runs)
        rows.append(
            {
                "method": method,
                "seeds": len(runs),
                "test_accuracy_mean": acc[0],
                "test_accuracy_std": acc[1],
                "sparsity_mean": sp[0],
                "sparsity_std": sp[1],
                "seconds_per_run": seconds,
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    """The summary as a plain-text table (percentages)."""
    lines = [f"{'method':<15} {'seeds':>5}  {'test accuracy (%)':>18}  {'sparsity (%)':>14}  {'s/run':>6}"]
    for r in rows:
        lines.append(
            f"{_LABELS.get(r['method'], r['method']):<15} {r['seeds']:>5}  "
            f"{100 * r['test_accuracy_mean']:>9.2f} +- {100 * r['test_accuracy_std']:<5.2f}  "
            f"{100 * r['sparsity_mean']:>6.2f} +- {100 * r['sparsity_std']:<4.2f}  "
            f"{r['seconds_per_run']:>6.1f}"
        )
    return "\n".join(lines)


def acceptance(rows: list[dict]) -> str | None:
    """The EIHL-vs-STBP criterion in words (``None`` when either method is missing)."""
    by = {r["method"]: r for r in rows}
    if "eihl" not in by or "stbp" not in by:
        return None
    gap = 100 * (by["eihl"]["test_accuracy_mean"] - by["stbp"]["test_accuracy_mean"])
    sp = 100 * by["eihl"]["sparsity_mean"]
    ok = gap >= -1.0 and sp >= 15.0
    return (
        f"EIHL - STBP = {gap:+.2f} points at {sp:.1f} % sparsity: criterion (>= -1 point at >= 15 %) "
        f"{'met' if ok else 'NOT met'}"
    )


def run_demo(
    *,
    seeds: int = 3,
    epochs: int | None = None,
    methods: Sequence[str] = ("eihl", "stbp", "local", "local_random"),
    out_dir: str | Path | None = None,
    threads: int | None = 1,
    config: RunConfig = DEMO_CONFIG,
    echo=print,
) -> list[dict]:
    """Train every method for every seed on digits, print the table, return its rows.

    Parameters
    ----------
    seeds
        Seeds ``0 .. seeds-1`` per method.
    epochs
        Epochs per run (default: ``config.epochs``).
    methods
        Arms to compare (:data:`ARMS`, or names in :data:`biosnn.learning.run.METHODS`).
    out_dir
        If given, write ``summary.csv`` and each run's ``<method>-seed<k>.csv`` metrics there.
    threads
        ``torch.set_num_threads`` for the demo (default 1: these small networks run fastest on one thread,
        and more threads oversubscribe a shared machine badly; ``None`` keeps torch's setting). The previous
        setting is restored afterwards.
    config
        The shared run settings.
    echo
        Where lines are printed.
    """
    import torch

    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ParameterError(f"parameter 'threads' must be a positive integer or None, got {threads!r}")
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run(seeds, epochs, methods, out_dir, config, echo)
    finally:
        torch.set_num_threads(previous_threads)


def _run(seeds, epochs, methods, out_dir, config, echo) -> list[dict]:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ParameterError(f"parameter 'seeds' must be a positive integer (the seeds 0 .. seeds-1), got {seeds!r}")
    methods = tuple(methods)
    if not methods:
        raise ParameterError("parameter 'methods' must name at least one training method")
    if out_dir is not None:  # checked first: a folder that cannot be written must not cost the training
        from biosnn.learning.run import _check_writable

        _check_writable(Path(out_dir))
    if epochs is not None:
        config = config.replace(epochs=epochs)
    for m in methods:
        arm_config(config, m)  # validates every arm before anything runs
    data = load_data(config)
    echo(
        f"biosnn demo: {config.model} {data.input_shape}->{'-'.join(map(str, config.hidden))}->{data.num_classes} "
        f"{config.neuron.upper()}, {config.dataset} ({len(data.train)} train / {len(data.test)} test), "
        f"{config.encoder} coding T={config.steps}, {config.epochs} epochs, seeds 0..{seeds - 1}"
    )
    results: dict[str, list[RunResult]] = {m: [] for m in methods}
    t0 = time.perf_counter()
    for method in methods:
        for seed in range(seeds):
            r = train(arm_config(config, method).replace(seed=seed), data=data)
            results[method].append(r)
            echo(
                f"  {_LABELS.get(method, method):<10} seed {seed}: test accuracy {100 * r.final['test_accuracy']:6.2f} %"  # noqa: E501
                f", sparsity {100 * r.final['sparsity']:5.1f} %  ({time.perf_counter() - t0:5.0f} s)"
            )
    rows = summarize(results)
    echo("")
    echo(format_table(rows))
    verdict = acceptance(rows)
    if verdict:
        echo(verdict)
    if out_dir is not None:
        out = Path(out_dir)
        try:
            write_metrics_csv(out / "summary.csv", rows)
            for method, runs in results.items():
                for seed, r in enumerate(runs):
                    write_metrics_csv(out / f"{method}-seed{seed}.csv", r.history)
        except OSError as exc:
            from biosnn.errors import RunFolderError

            raise RunFolderError(f"cannot write the demo's results to {str(out)!r}: {exc.strerror or exc}") from None
    return rows
