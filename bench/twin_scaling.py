"""Benchmark: the twin against Brian2 (Cython and cpp_standalone) on CUBA and COBA, with scaling curves.

One run measures, for each network (CUBA, COBA; the builders of ``bench/twin_vs_brian2.py``):

- **Brian2 Cython**: the first (compiling or cache-loading) run is timed separately and excluded; the fastest
  of ``--repeats`` runs after ``Network.restore`` counts.
  At N = ``--batch-n`` a run of 1 ms is timed too: Brian2's cost per ``run()`` call apart from the steps
  (0.25-0.4 s measured here, most of a 0.2 s run). ``brian2_cython_marginal_per_bio_s`` subtracts it; the
  summary gives the ratios against it too, which are what longer runs approach.
- **Brian2 cpp_standalone**: each measurement in its own subprocess, where
  ``brian2.set_device("cpp_standalone", directory=<fresh temporary directory>)`` starts a fresh device (no
  object files reused, OpenMP off: one thread, as the twin). *Run time* is ``device._last_run_time``,
  which the binary writes itself: the time of its simulation loop, without loading or writing arrays.
  *Build + run* is the wall time of the ``net.run()`` call (code generation, C++ compilation with
  ``make -j`` on all cores, running the binary, reading the results back). Building the Python objects
  (drawing the connectivity) is excluded, as for the other engines. Brian2's ``device.timers``
  (``run_binary``: the binary's wall time as seen from Python, ``compile`` ...) are recorded too.
- **The twin, one trial as a user calls it**: ``tw.run(duration)`` outside ``torch.no_grad()``; nothing in
  these networks is learnable (``tw.requires_grad()`` is recorded).
- **The twin, one trial under** ``torch.no_grad()``, timed separately.
- **The twin, B trials in one pass** (``torch.no_grad()``; per-trial cost = time / B; trials 1..B-1 start
  from voltages up to 1 mV higher, so they are different simulations).

Scaling curves (seconds of wall time per biological second):

- against N = 1k, 4k, 16k, 64k neurons at B = 1, with the connection probability scaled as p = 80 / N
  (``--k-syn``), so that each neuron keeps about 80 incoming synapses (64 excitatory and 16 inhibitory on
  average) at every N, as Brunel-type scalings keep the in-degree fixed. Population rates then stay
  comparable across N and the cost per neuron should stay flat;
- against B = 1, 2, 4, ..., 128 trials per pass at N = 4000 (p = 0.02), per trial.

The connectivity is drawn with ``connectivity="sparse"`` (``twin_vs_brian2.CONNECTIVITY``): the same law as
twin_vs_brian2.py's dense draw (each pair with probability p), drawn in time proportional to the synapses,
hence a different stream; the networks at N = 4000 here are not those of ``twin_vs_brian2.json`` (the same
in distribution).

Ratios printed and recorded are reference time / twin time: > 1 means the twin is faster. Writes
``bench/results/twin_scaling.json`` (every figure, the machine: CPU kind, load average, versions) and
``bench/results/twin_scaling.png`` (two panels: seconds per biological second against N, log-log, one line
per engine; per-trial cost against B, with Brian2's single-run costs at N = 4000 as horizontal lines).

- **BrainPy** (CUBA only, at the standalone sizes) when ``--brainpy-python`` (or ``$BIOSNN_BRAINPY_PYTHON``)
  names an interpreter with BrainPy 2.8, JAX and Numba (``bench/brainpy_cuba.py`` says how to make one;
  nothing is installed by this script): the warm run (``bm.for_loop``, jit-compiled) after a first one
  that compiles; otherwise the JSON records why it was skipped.

Usage: ``python bench/twin_scaling.py [--duration 0.2] [--quick] [--ns 1000,4000,16000,64000]
[--batches 1,2,4,8,16,32,64,128] [--no-standalone]``
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import brian2 as b2
import click
import numpy as np
import torch
from brian2 import second

import biosnn
from biosnn.twins import cmath

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from twin_vs_brian2 import coba, cuba, time_brian2, time_twin, time_twin_as_called  # noqa: E402

BUILDERS = {"CUBA": cuba, "COBA": coba}
CONNECTIVITY = "sparse"
QUICK = dict(ns=(1000, 4000), batches=(1, 8, 32), duration=0.05, repeats=1)  # standalone at --batch-n only


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise click.BadParameter(f"expected positive integers, got {text!r}")
    return values


def builder_for(name: str):
    """The network builder of twin_vs_brian2.py with this benchmark's connectivity draw."""
    return functools.partial(BUILDERS[name], connectivity=CONNECTIVITY)


def time_standalone(name: str, n: int, p: float, duration: float, timeout: float) -> dict:
    """Brian2 cpp_standalone in a fresh subprocess (fresh device, fresh build directory: a full build).

    Returns ``{"run_s": device._last_run_time, "build_and_run_s": wall time of net.run(), "timers": ...,
    "spikes": ...}`` or ``{"error": ...}`` when the build or the run failed.
    """
    with tempfile.TemporaryDirectory(prefix="biosnn-standalone-") as tmp:
        out = Path(tmp) / "result.json"
        spec = json.dumps(dict(name=name, n=n, p=p, duration=duration, directory=str(Path(tmp) / "build")))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--standalone-worker", spec, "--out", str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if proc.returncode or not out.exists():
            return {"error": f"exit status {proc.returncode}: {(proc.stderr or proc.stdout)[-600:]}"}
        return json.loads(out.read_text())


def standalone_worker(spec: dict, out: Path) -> None:
    """Runs in the subprocess: one cpp_standalone build and run, figures written to ``out``."""
    b2.set_device("cpp_standalone", directory=spec["directory"], build_on_run=True)
    b2.prefs["devices.cpp_standalone.openmp_threads"] = 0
    objects = builder_for(spec["name"])(spec["n"], spec["p"], 1)
    mon = b2.SpikeMonitor(objects[0])
    net = b2.Network(*objects, mon)
    t0 = time.perf_counter()
    net.run(spec["duration"] * second, namespace={})
    total = time.perf_counter() - t0
    device = b2.get_device()
    result = {
        "run_s": float(device._last_run_time),
        "build_and_run_s": total,
        "timers": _flat_timers(device.timers),
        "spikes": int(mon.num_spikes),
    }
    shutil.rmtree(spec["directory"], ignore_errors=True)
    out.write_text(json.dumps(result))


def _flat_timers(timers: dict, prefix: str = "") -> dict[str, float]:
    """Brian2's nested ``device.timers`` as ``{"compile.make": seconds, ...}``."""
    out: dict[str, float] = {}
    for key, value in timers.items():
        if isinstance(value, dict):
            out.update(_flat_timers(value, f"{prefix}{key}."))
        elif isinstance(value, float):
            out[prefix + key] = value
    return out


def brainpy_status(python: str | None) -> str:
    """BrainPy is optional and never installed by this script: it runs in its own interpreter ``python``."""
    if not python:
        return "no --brainpy-python (BrainPy's own interpreter, see bench/brainpy_cuba.py): skipped"
    return f"CUBA at the standalone sizes with {python} (bench/brainpy_cuba.py); COBA is not written for BrainPy"


def time_brainpy(python: str, n: int, p: float, duration: float, timeout: float) -> dict:
    """BrainPy's CUBA (``bench/brainpy_cuba.py``) in ``python``: ``{"run_s": warm run, ...}`` or ``{"error"}``."""
    cmd = [python, str(ROOT / "brainpy_cuba.py"), "--n", str(n), "--p", str(p), "--duration", str(duration)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (subprocess.TimeoutExpired, OSError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        return {"error": f"exit status {proc.returncode}: {(proc.stderr or proc.stdout)[-600:]}"}
    return json.loads(lines[-1])


def per_bio_s(seconds: float, duration: float) -> float:
    return seconds / duration


def measure_n(
    name: str,
    n: int,
    k_syn: float,
    duration: float,
    repeats: int,
    standalone: bool,
    timeout: float,
    fixed: bool,
    brainpy_python: str | None = None,
):
    """Every engine at one size, B = 1; seconds of wall time and seconds per biological second.

    ``fixed=True`` also times Brian2 Cython's run of 1 ms: its cost per ``run()`` call apart from the steps
    (set-up of the code objects, about 0.1-0.2 s), which weighs on short runs.
    """
    p = min(1.0, k_syn / n)
    builder = builder_for(name)
    first, cython_s, cython_spikes = time_brian2(builder, n, p, duration, repeats)
    fixed_s = time_brian2(builder, n, p, 0.001, repeats)[1] if fixed else None
    called_s, called_spikes, called_grad = time_twin_as_called(builder, n, p, duration, repeats, "auto")
    build_s, nograd_s, nograd_spikes, blocks = time_twin(builder, n, p, duration, 1, repeats, "auto")
    row = {
        "n": n,
        "p": p,
        "brian2_cython_first_run_s": first,
        "brian2_cython_run_s": cython_s,
        "brian2_cython_1ms_run_s (per-run fixed cost)": fixed_s,
        "twin_build_s": build_s,
        "twin_as_called_run_s": called_s,
        "twin_as_called_requires_grad": called_grad,
        "twin_no_grad_run_s": nograd_s,
        "spikes": {"brian2_cython": cython_spikes, "twin_as_called": called_spikes, "twin_no_grad": nograd_spikes[0]},
        "twin_blocks": blocks,
    }
    if brainpy_python and name == "CUBA":
        row["brainpy"] = time_brainpy(brainpy_python, n, p, duration, timeout)
    if standalone:
        sa = time_standalone(name, n, p, duration, timeout)
        row["brian2_standalone"] = sa
        if "error" not in sa:
            row["spikes"]["brian2_standalone"] = sa["spikes"]
    row["per_bio_s"] = {k: per_bio_s(v, duration) for k, v in engine_seconds(row).items()}
    if fixed_s is not None and cython_s > fixed_s:
        # Brian2 Cython without its per-run set-up: the cost of the steps alone, what a long run approaches
        row["brian2_cython_marginal_per_bio_s"] = (cython_s - fixed_s) / (duration - 0.001)
    row["ratios"] = ratios(engine_seconds(row), twin_keys=("twin_as_called", "twin_no_grad"))
    return row


def engine_seconds(row: dict) -> dict[str, float]:
    """The wall times of one N row, by engine."""
    out = {
        "brian2_cython": row["brian2_cython_run_s"],
        "twin_as_called": row["twin_as_called_run_s"],
        "twin_no_grad": row["twin_no_grad_run_s"],
    }
    if "run_s" in row.get("brainpy", {}):
        out["brainpy_run"] = row["brainpy"]["run_s"]
    sa = row.get("brian2_standalone", {})
    if "run_s" in sa:
        out["brian2_standalone_run"] = sa["run_s"]
        out["brian2_standalone_build_and_run"] = sa["build_and_run_s"]
    return out


def ratios(seconds: dict[str, float], twin_keys: tuple[str, ...]) -> dict[str, float]:
    """reference / twin for every Brian2 reference and twin measurement (> 1: the twin is faster)."""
    refs = [k for k in seconds if k.startswith(("brian2", "brainpy"))]
    return {f"{ref} / {tw}": seconds[ref] / seconds[tw] for ref in refs for tw in twin_keys}


def measure_b(name: str, n: int, k_syn: float, batches, duration: float, repeats: int, threads: int) -> list[dict]:
    """The twin's per-trial cost against the number of trials per pass, with ``threads`` C threads."""
    p = min(1.0, k_syn / n)
    rows = []
    for batch in batches:
        _, run_s, (_, mean, spread), _ = time_twin(
            builder_for(name), n, p, duration, batch, repeats, "auto", threads=threads
        )
        rows.append(
            {
                "batch": batch,
                "threads": threads,
                "run_s": run_s,
                "per_trial_s": run_s / batch,
                "per_trial_per_bio_s": run_s / batch / duration,
                "spikes_mean_std": [mean, spread],
            }
        )
        per_trial = run_s / batch
        print(f"  {name} N={n} B={batch} threads={threads}: {run_s:.3f} s per pass, {per_trial:.4f} s per trial")
    return rows


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_n, ax_b) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"CUBA": "-", "COBA": "--"}
    engines = [
        ("brian2_cython", "Brian2 Cython", "C0"),
        ("brian2_standalone_run", "Brian2 standalone (run)", "C1"),
        ("brian2_standalone_build_and_run", "Brian2 standalone (build+run)", "C4"),
        ("twin_as_called", "twin B=1 as called", "C2"),
        ("twin_no_grad", "twin B=1 no_grad", "C3"),
        ("brainpy_run", "BrainPy (JAX jit, warm)", "C9"),
    ]
    for name, net in results["networks"].items():
        rows = net["scaling_n"]
        for key, label, color in engines:
            pts = [(r["n"], r["per_bio_s"][key]) for r in rows if key in r["per_bio_s"]]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax_n.plot(xs, ys, styles[name], color=color, marker="o", ms=3, label=f"{label} ({name})")
        for threads, color in zip(results.get("threads", [1]), ("C3", "C5", "C6", "C8"), strict=False):
            brows = [r for r in net["scaling_b"] if r.get("threads", 1) == threads]
            ax_b.plot(
                [r["batch"] for r in brows],
                [r["per_trial_per_bio_s"] for r in brows],
                styles[name],
                color=color,
                marker="o",
                ms=3,
                label=f"twin per trial, {threads} thread{'s' if threads > 1 else ''} ({name})",
            )
        ref = next((r for r in rows if r["n"] == results["batch_n"]), None)
        if ref is not None:
            for key, label, color in engines[:2]:
                if key in ref["per_bio_s"]:
                    ax_b.axhline(ref["per_bio_s"][key], ls=styles[name], color=color, lw=0.8, label=f"{label} ({name})")
            if "brian2_cython_marginal_per_bio_s" in ref:
                ax_b.axhline(
                    ref["brian2_cython_marginal_per_bio_s"],
                    ls=styles[name],
                    color="C7",
                    lw=0.8,
                    label=f"Brian2 Cython minus its per-run set-up ({name})",
                )
    ax_n.set(xscale="log", yscale="log", xlabel="neurons N (p = 80/N, B = 1)", ylabel="wall s per biological s")
    ax_b.set(
        xscale="log",
        yscale="log",
        xlabel=f"trials per pass B (N = {results['batch_n']})",
        ylabel="wall s per biological s, per trial",
    )
    ax_b.set_xscale("log", base=2)
    for ax in (ax_n, ax_b):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(f"twin vs Brian2, {results['duration_s']} s biological, dt 0.1 ms, {results['cpu_short']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@click.command()
@click.option("--duration", default=0.2, show_default=True, help="biological time per run, seconds")
@click.option("--ns", default="1000,4000,16000,64000", show_default=True, help="network sizes (B = 1)")
@click.option("--batches", default="1,2,4,8,16,32,64,128", show_default=True, help="trials per pass")
@click.option("--batch-n", default=4000, show_default=True, help="network size of the B curve")
@click.option("--k-syn", default=80.0, show_default=True, help="synapses per neuron on average: p = k_syn / N")
@click.option("--repeats", default=2, show_default=True, help="timed runs per measurement (the fastest counts)")
@click.option("--threads", "thread_counts", default="1,2", show_default=True, help="C threads of the B curves")
@click.option("--networks", default="CUBA,COBA", show_default=True, help="comma-separated: CUBA, COBA")
@click.option("--standalone/--no-standalone", default=True, show_default=True, help="time Brian2 cpp_standalone")
@click.option(
    "--standalone-ns",
    default="4000,64000",
    show_default=True,
    help="sizes at which cpp_standalone is built and run (a fresh build costs ~45 s on the loaded 2-core machine)",
)
@click.option(
    "--brainpy-python",
    default=lambda: os.environ.get("BIOSNN_BRAINPY_PYTHON"),
    help="an interpreter with BrainPy 2.8 (bench/brainpy_cuba.py): BrainPy's CUBA at the standalone sizes",
)
@click.option("--standalone-timeout", default=240.0, show_default=True, help="seconds per standalone subprocess")
@click.option("--quick", is_flag=True, help="N = 1k, 4k; B = 1, 8, 32; 0.05 s; one repeat; standalone at --batch-n")
@click.option("--out", "out_path", default=None, type=click.Path(path_type=Path), help="results JSON path")
@click.option("--plot/--no-plot", "make_plot", default=True, show_default=True, help="write the PNG beside the JSON")
@click.option("--standalone-worker", default=None, hidden=True, help="internal: run one standalone measurement")
def main(
    duration: float,
    ns: str,
    batches: str,
    batch_n: int,
    k_syn: float,
    repeats: int,
    thread_counts: str,
    networks: str,
    standalone: bool,
    standalone_ns: str,
    standalone_timeout: float,
    brainpy_python: str | None,
    quick: bool,
    out_path: Path | None,
    make_plot: bool,
    standalone_worker: str | None,
) -> None:
    if standalone_worker is not None:
        standalone_worker_main(json.loads(standalone_worker), out_path)
        return
    n_list, b_list, sa_list = _ints(ns), _ints(batches), _ints(standalone_ns)
    threads_list = [t for t in _ints(thread_counts) if t <= (os.cpu_count() or 1)] or [1]
    if quick:
        n_list, b_list, duration, repeats = QUICK["ns"], QUICK["batches"], QUICK["duration"], QUICK["repeats"]
        sa_list = (batch_n,)
    names = [s.strip().upper() for s in networks.split(",") if s.strip()]
    unknown = sorted(set(names) - set(BUILDERS))
    if unknown:
        raise click.BadParameter(f"unknown networks {unknown}; known: {sorted(BUILDERS)}")
    torch.set_num_threads(1)
    biosnn.seed(1234)
    out_path = out_path or ROOT / "results" / "twin_scaling.json"
    t_start = time.perf_counter()
    results = {
        "duration_s": duration,
        "dt_ms": float(b2.defaultclock.dt / b2.ms),
        "ns": list(n_list),
        "batches": list(b_list),
        "batch_n": batch_n,
        "k_syn": k_syn,
        "p_rule": "p = k_syn / N (in-degree ~ k_syn at every N, Brunel-type scaling)",
        "connectivity": CONNECTIVITY,
        "standalone_ns": list(sa_list) if standalone else [],
        "repeats": repeats,
        "threads": threads_list,
        "quick": quick,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu": cmath.describe(),
        "cpu_short": cmath.describe().split(";")[0].split(" (")[0],
        "torch": torch.__version__,
        "brian2": b2.__version__,
        "numpy": np.__version__,
        "brainpy": brainpy_status(brainpy_python),
        "standalone_run_time_source": "device._last_run_time (the binary's own timer of its simulation loop)",
        "standalone_build_and_run_source": "wall time of net.run() with build_on_run=True, fresh directory",
        "networks": {},
    }
    for name in names:
        net = {"scaling_n": [], "scaling_b": []}
        results["networks"][name] = net
        for n in n_list:
            row = measure_n(
                name,
                n,
                k_syn,
                duration,
                repeats,
                standalone and n in sa_list,
                standalone_timeout,
                n == batch_n,
                brainpy_python if n in sa_list else None,
            )
            net["scaling_n"].append(row)
            pb = row["per_bio_s"]
            print(
                f"{name} N={n}: "
                + ", ".join(f"{k} {v:.3f}" for k, v in pb.items())
                + " s per bio s; "
                + ", ".join(f"{k} {v:.2f}" for k, v in row["ratios"].items()),
                flush=True,
            )
            if "error" in row.get("brian2_standalone", {}):
                print(f"  standalone failed: {row['brian2_standalone']['error']}", flush=True)
        net["scaling_b"] = []
        for threads in threads_list:
            net["scaling_b"] += measure_b(name, batch_n, k_syn, b_list, duration, repeats, threads)
        ref = next((r for r in net["scaling_n"] if r["n"] == batch_n), None)
        if ref is not None:
            refs = {k: v for k, v in engine_seconds(ref).items() if k.startswith("brian2")}
            for r in net["scaling_b"]:
                r["ratios_per_trial"] = {f"{k} / twin_per_trial": v / r["per_trial_s"] for k, v in refs.items()}
        net["summary"] = summary(net, batch_n)
        print(f"{name} summary: " + json.dumps(net["summary"]), flush=True)
    results["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    results["wall_s"] = time.perf_counter() - t_start
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2))
    print(f"wrote {out_path} ({results['wall_s']:.0f} s)")
    if make_plot:
        png = out_path.with_suffix(".png")
        plot(results, png)
        print(f"wrote {png}")


def summary(net: dict, batch_n: int) -> dict:
    """The acceptance figures of issue 12 at N = batch_n: one trial as called vs standalone run; B = 32 vs Cython."""
    out: dict = {}
    ref = next((r for r in net["scaling_n"] if r["n"] == batch_n), None)
    if ref is None:
        return out
    for key in (
        "brian2_standalone_run / twin_as_called",
        "brian2_cython / twin_as_called",
        "brian2_cython / twin_no_grad",
        "brian2_standalone_run / twin_no_grad",
        "brainpy_run / twin_as_called",
    ):
        if key in ref["ratios"]:
            out[key] = ref["ratios"][key]
    marginal = ref.get("brian2_cython_marginal_per_bio_s")
    if marginal is not None:
        out["brian2_cython_marginal / twin_as_called"] = marginal / ref["per_bio_s"]["twin_as_called"]
        for r in net["scaling_b"]:
            if r["batch"] == 32:
                suffix = "" if r.get("threads", 1) == 1 else f", {r['threads']} threads"
                out[f"B32{suffix}: brian2_cython_marginal / twin_per_trial"] = marginal / r["per_trial_per_bio_s"]
    for r in net["scaling_b"]:
        if r["batch"] == 32 and "ratios_per_trial" in r:
            suffix = "" if r.get("threads", 1) == 1 else f", {r['threads']} threads"
            out[f"B32{suffix}: brian2_cython / twin_per_trial"] = r["ratios_per_trial"].get(
                "brian2_cython / twin_per_trial"
            )
    best = min(net["scaling_b"], key=lambda r: r["per_trial_s"])
    out["best_batch"] = best["batch"]
    out["best_batch_threads"] = best.get("threads", 1)
    if "ratios_per_trial" in best:
        out["best_batch: brian2_cython / twin_per_trial"] = best["ratios_per_trial"].get(
            "brian2_cython / twin_per_trial"
        )
    return out


def standalone_worker_main(spec: dict, out: Path | None) -> None:
    if out is None:
        raise click.UsageError("--standalone-worker needs --out")
    standalone_worker(spec, out)


if __name__ == "__main__":
    main()
