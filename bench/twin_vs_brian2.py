"""Benchmark: the twin against Brian2's Cython runtime on CUBA and COBA (4000 neurons, p = 0.02).

One run. For each network: Brian2 (Cython target; the first, compiling run is timed separately and
excluded), the twin with one trial (under ``torch.no_grad()``, and as a user calls it: ``tw.run(duration)``
without ``no_grad``), and the twin with B trials in one pass (per-trial time = time / B).
Both engines simulate the same duration from the same initial state (in the batched run, trials 1..B-1
start from voltages up to 1 mV higher, so they are different simulations); the twin runs without
autograd (the "as called" run too: nothing in these networks requires a gradient).
Prints ratios (Brian2 time / twin time: > 1 means the twin is faster) and writes
``bench/results/twin_vs_brian2.json``.

Targets (CPU): single trial no slower than 2x Brian2 (ratio >= 0.5); at B = 32 at least 4x Brian2's
per-trial throughput (ratio >= 4).

Usage: ``python bench/twin_vs_brian2.py [--duration 1.0] [--batch 32] [--n 4000] [--threads 1] [--backend auto]``

The twin runs with its default back end (``auto``: Brian2's statements compiled into C loops over the
tensors for these no-grad CPU float64 runs); ``--backend torch`` times the tensor operations alone.

Spike counts of the two engines are printed side by side. The twin reproduces Brian2's *numpy* target bit for
bit; the Cython target computes ``exp`` ... with the C library. On a CPU without AVX-512 the two agree; on one
with AVX-512 NumPy uses its own SIMD routines, which round differently in the last bit (``exp``: about 4 % of
inputs), so there the Cython target (and so this benchmark's Brian2 spike count) may differ from the numpy
target and from the twin, while the twin's C kernels stay equal to the numpy target (NumPy's loops called
from C, :mod:`biosnn.twins.cmath`); the JSON records which kind of CPU ran it (``cpu``).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import brian2 as b2
import click
import numpy as np
import torch
from brian2 import ms, mV, second

import biosnn
from biosnn.registry import Registry
from biosnn.twins import cmath

ROOT = Path(__file__).resolve().parent


def cuba(n: int, p: float, seed: int, weights: bool = False, connectivity: str = "dense"):
    """CUBA (Brette et al. 2007); ``weights=True`` gives every synapse its own weight ``w`` (a trainable
    parameter in the twin) with the same values; ``connectivity`` names the draw (``CONNECTIVITY``)."""
    ns = dict(
        taum=20 * ms,
        taue=5 * ms,
        taui=10 * ms,
        Vt=-50 * mV,
        Vr=-60 * mV,
        El=-49 * mV,
        we=(60 * 0.27 / 10) * mV,
        wi=(-20 * 4.5 / 10) * mV,
    )
    P = b2.NeuronGroup(
        n,
        """dv/dt = (ge + gi - (v - El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt""",
        threshold="v > Vt",
        reset="v = Vr",
        refractory=5 * ms,
        method="exact",
        namespace=ns,
        name="cuba",
    )
    P.v = ns["Vr"] + np.random.default_rng(seed).random(n) * (ns["Vt"] - ns["Vr"])
    ne = int(0.8 * n)
    if weights:
        Ce = b2.Synapses(P[:ne], P, "w : volt", on_pre="ge += w", namespace=ns, name="cuba_e")
        Ci = b2.Synapses(P[ne:], P, "w : volt", on_pre="gi += w", namespace=ns, name="cuba_i")
    else:
        Ce = b2.Synapses(P[:ne], P, on_pre="ge += we", namespace=ns, name="cuba_e")
        Ci = b2.Synapses(P[ne:], P, on_pre="gi += wi", namespace=ns, name="cuba_i")
    _connect(Ce, Ci, n, ne, p, seed, connectivity)
    if weights:
        Ce.w, Ci.w = ns["we"], ns["wi"]
    return [P, Ce, Ci]


CONNECTIVITY: Registry = Registry("connectivity draw")


@CONNECTIVITY.register("dense")
def _pairs_dense(rng: np.random.Generator, n_pre: int, n: int, p: float):
    """One uniform number per (pre, post) pair, connected where it is below ``p`` (this benchmark's results)."""
    return np.nonzero(rng.random((n_pre, n)) < p)


@CONNECTIVITY.register("sparse")
def _pairs_sparse(rng: np.random.Generator, n_pre: int, n: int, p: float):
    """The same law (each pair connected with probability ``p``, independently), drawn in time and memory
    proportional to the synapses: K ~ Binomial(n_pre n, p) pairs, chosen uniformly without replacement.
    A different stream from ``dense``; used by bench/twin_scaling.py, where ``dense`` at 64k neurons would
    draw 3.3e9 numbers (26 GB)."""
    k = rng.binomial(n_pre * n, p)
    return np.divmod(np.sort(rng.choice(n_pre * n, k, replace=False)), n)


def _connect(Ce, Ci, n, ne, p, seed, connectivity="dense"):
    """Random connectivity drawn with NumPy: the same network for Brian2's Cython target and the twin
    (Brian2's own ``connect(p=...)`` draws from a target-specific random stream)."""
    rng = np.random.default_rng(seed + 1000)
    for syn, n_pre in ((Ce, ne), (Ci, n - ne)):
        i, j = CONNECTIVITY[connectivity](rng, n_pre, n, p)
        syn.connect(i=i, j=j)


def coba(n: int, p: float, seed: int, connectivity: str = "dense"):
    ns = dict(
        taum=20 * ms,
        taue=5 * ms,
        taui=10 * ms,
        Vt=-50 * mV,
        Vr=-60 * mV,
        El=-60 * mV,
        Ee=0 * mV,
        Ei=-80 * mV,
        we=0.6,
        wi=6.7,
    )
    P = b2.NeuronGroup(
        n,
        """dv/dt = (ge*(Ee - v) + gi*(Ei - v) - (v - El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : 1
    dgi/dt = -gi/taui : 1""",
        threshold="v > Vt",
        reset="v = Vr",
        refractory=5 * ms,
        method="euler",
        namespace=ns,
        name="coba",
    )
    rng = np.random.default_rng(seed)
    P.v = (-60 + 5 * rng.standard_normal(n) - 5) * mV  # Brian2's COBA example initial state
    P.ge = 4 + 1.5 * rng.standard_normal(n)
    P.gi = 20 + 12 * rng.standard_normal(n)
    ne = int(0.8 * n)
    Ce = b2.Synapses(P[:ne], P, on_pre="ge += we", namespace=ns, name="coba_e")
    Ci = b2.Synapses(P[ne:], P, on_pre="gi += wi", namespace=ns, name="coba_i")
    _connect(Ce, Ci, n, ne, p, seed, connectivity)
    return [P, Ce, Ci]


def time_brian2(builder, n, p, duration, repeats):
    b2.prefs["codegen.target"] = "cython"
    objects = builder(n, p, 1)
    mon = b2.SpikeMonitor(objects[0])
    net = b2.Network(*objects, mon)
    net.store("start")
    t0 = time.perf_counter()
    net.run(duration * second, namespace={})  # first run: includes the Cython compilation (or cache load)
    first = time.perf_counter() - t0
    run_s = float("inf")
    for _ in range(repeats):
        net.restore("start")
        t0 = time.perf_counter()
        net.run(duration * second, namespace={})
        run_s = min(run_s, time.perf_counter() - t0)
    return first, run_s, len(mon.i)  # restore() also restores the monitor: spikes of the last run


def time_twin_as_called(builder, n, p, duration, repeats, backend):
    """One trial run as a user calls it: ``tw.run(duration)`` outside ``torch.no_grad()``. Nothing in Brian2's
    CUBA/COBA examples as written is learnable (no synaptic weight variable), so the twin takes the same path as
    under ``no_grad`` (the path follows what requires a gradient, not ``torch.is_grad_enabled()`` alone)."""
    b2.prefs["codegen.target"] = "numpy"
    objects = builder(n, p, 1)
    tw = biosnn.twin(b2.Network(*objects), batch_size=1, backend=backend)
    assert torch.is_grad_enabled()
    tw.run(1 * ms)  # warm-up
    run_s = float("inf")
    for _ in range(repeats):
        tw.reset()
        t0 = time.perf_counter()
        res = tw.run(duration * second)
        run_s = min(run_s, time.perf_counter() - t0)
    return run_s, float(res.counts[objects[0].name].sum()), tw.requires_grad()


def time_twin(builder, n, p, duration, batch, repeats, backend, threads=1):
    b2.prefs["codegen.target"] = "numpy"
    objects = builder(n, p, 1)
    t0 = time.perf_counter()
    tw = biosnn.twin(b2.Network(*objects), batch_size=batch, backend=backend, threads=threads)
    build = time.perf_counter() - t0
    # trials start from different voltages (trial 0: Brian2's), so the B trials are different simulations
    group = objects[0].name
    v0 = tw.variable(group, "v").detach().reshape(1, -1).expand(batch, -1).clone()
    v0[1:] += torch.as_tensor(np.random.default_rng(7).uniform(0, 1e-3, (batch - 1, n)))
    inputs = {group: {"v": v0}}
    with torch.no_grad():
        tw.run(1 * ms, inputs=inputs)  # warm-up (first calls into torch; compiles the C kernels or loads them)
        run_s = float("inf")
        for _ in range(repeats):
            tw.reset()
            t0 = time.perf_counter()
            res = tw.run(duration * second, inputs=inputs)
            run_s = min(run_s, time.perf_counter() - t0)
    counts = res.counts[group].sum(dim=1)
    spread = float(counts.float().std()) if len(counts) > 1 else 0.0
    return build, run_s, (float(counts[0]), float(counts.float().mean()), spread), tw.compiled_blocks()


@click.command()
@click.option("--duration", default=1.0, show_default=True, help="biological time per run, seconds")
@click.option("--batch", default=32, show_default=True, help="trials per twin pass")
@click.option("--n", "n_neurons", default=4000, show_default=True, help="neurons per network")
@click.option("--p", "p_connect", default=0.02, show_default=True, help="connection probability")
@click.option(
    "--backend",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "c", "torch"]),
    help="the twin's back end for runs without gradients (biosnn.twins.kernels.BACKENDS)",
)
@click.option("--repeats", default=2, show_default=True, help="timed runs per measurement (the fastest counts)")
@click.option(
    "--threads",
    default=1,
    show_default=True,
    help="torch intra-op threads (0: torch's default). One thread is the default: on a shared or "
    "oversubscribed CPU, torch's OpenMP threads wait for each other on every small kernel "
    "(measured here: 60 ms instead of 5 ms per step at B = 32 with 2 threads on a loaded "
    "2-core machine)",
)
def main(
    duration: float, batch: int, n_neurons: int, p_connect: float, backend: str, repeats: int, threads: int
) -> None:
    if threads:
        torch.set_num_threads(threads)
    biosnn.seed(1234)
    results = {
        "duration_s": duration,
        "batch": batch,
        "repeats": repeats,
        "n": n_neurons,
        "p": p_connect,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu": cmath.describe(),
        "torch": torch.__version__,
        "brian2": b2.__version__,
        "backend": backend,
        "networks": {},
    }
    for name, builder in (("CUBA", cuba), ("COBA", coba)):
        first, brian_s, brian_spikes = time_brian2(builder, n_neurons, p_connect, duration, repeats)
        build1, twin1_s, spikes1, blocks = time_twin(builder, n_neurons, p_connect, duration, 1, repeats, backend)
        buildB, twinB_s, spikesB, _ = time_twin(builder, n_neurons, p_connect, duration, batch, repeats, backend)
        called_s, called_spikes, called_grad = time_twin_as_called(
            builder, n_neurons, p_connect, duration, repeats, backend
        )
        r = {
            "brian2_cython_first_run_s (compile or cache load included)": first,
            "brian2_cython_run_s": brian_s,
            "twin_build_s": build1,
            "twin_single_trial_run_s": twin1_s,
            f"twin_B{batch}_run_s": twinB_s,
            f"twin_B{batch}_per_trial_s": twinB_s / batch,
            "ratio_single (brian2/twin, >=0.5 is the target)": brian_s / twin1_s,
            "twin_single_trial_as_called_run_s (tw.run() without no_grad)": called_s,
            "ratio_single_as_called (brian2/twin)": brian_s / called_s,
            "twin_as_called_requires_grad": called_grad,
            "spikes_twin_as_called": called_spikes,
            f"ratio_per_trial_B{batch} (brian2/(twin/B), >=4 is the target)": brian_s / (twinB_s / batch),
            "spikes_brian2": brian_spikes,
            "spikes_twin_single": spikes1[0],
            f"spikes_twin_B{batch}_trial0 (Brian2's initial state)": spikesB[0],
            f"spikes_twin_B{batch}_mean_std (perturbed initial voltages)": spikesB[1:],
            "twin_blocks": blocks,
        }
        results["networks"][name] = r
        print(
            f"{name}: Brian2 cython {brian_s:.2f} s (first run {first:.1f} s); twin B=1 {twin1_s:.2f} s "
            f"-> ratio {brian_s / twin1_s:.2f}; as called (no no_grad) {called_s:.2f} s -> ratio "
            f"{brian_s / called_s:.2f}; twin B={batch} {twinB_s:.2f} s = {twinB_s / batch:.3f} s/trial "
            f"-> per-trial ratio {brian_s / (twinB_s / batch):.2f}; spikes: Brian2 {brian_spikes}, "
            f"twin {spikes1[0]:.0f}, "
            f"B={batch} trials {spikesB[1]:.0f} +- {spikesB[2]:.0f}",
            flush=True,
        )
    out = ROOT / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "twin_vs_brian2.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {out / 'twin_vs_brian2.json'}")


if __name__ == "__main__":
    main()
