"""Benchmark: the twin with gradients (surrogate BPTT through a recurrent network) against Brian2.

CUBA (4000 neurons, p = 0.02) with a weight per synapse (``w : volt``, so every weight is an
``nn.Parameter``). One run: Brian2's Cython target simulates the duration (the reference); the twin runs
the same duration with autograd on (forward) and back-propagates the number of spikes to every weight
(backward). Brian2 runs ``--brian2-duration`` (1 s; the fastest of two runs, scaled to the twin's duration:
Brian2's per-run set-up of 0.25-0.4 s would otherwise count in its time of a short run, and the twin keeps
every step for the backward pass, so its runs stay short). Prints forward and backward time per step, and
ratios against Brian2's simulation time
(Brian2 time / twin time: > 1 means the twin is faster); writes ``bench/results/twin_gradients.json``.

The twin runs ``--iterations`` training iterations (reset, forward, backward), as a training loop does; the
figures are the medians of iterations 2 and later, the first is recorded apart (``iterations_s``, with its
page faults): autograd keeps what the backward pass needs in fresh memory, which the first iteration takes
from the operating system page by page (about 0.75 M minor page faults at B = 8, 0.1 s here, each far
dearer on this sandboxed machine than on bare Linux) and later iterations reuse.

Usage: ``python bench/twin_gradients.py [--duration 0.1] [--batch 8] [--iterations 4] [--threads 1]``
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import brian2 as b2
import click
import numpy as np
import torch
from brian2 import ms, second

import biosnn
from biosnn.twins import cmath

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from twin_vs_brian2 import cuba  # noqa: E402 - the same hand-written CUBA as the simulation benchmark


@click.command()
@click.option("--duration", default=0.1, show_default=True, help="biological time per run, seconds")
@click.option("--batch", default=8, show_default=True, help="trials per twin pass")
@click.option("--iterations", default=4, show_default=True, help="forward+backward iterations (the first apart)")
@click.option("--brian2-duration", default=1.0, show_default=True, help="Brian2's run, seconds (scaled)")
@click.option("--n", "n_neurons", default=4000, show_default=True, help="neurons")
@click.option("--threads", default=1, show_default=True, help="torch intra-op threads (0: torch's default)")
def main(duration: float, batch: int, iterations: int, brian2_duration: float, n_neurons: int, threads: int) -> None:
    if threads:
        torch.set_num_threads(threads)
    biosnn.seed(1234)
    b2.prefs["codegen.target"] = "cython"
    net = b2.Network(*cuba(n_neurons, 0.02, 1, weights=True))
    net.store("start")
    net.run(duration * second, namespace={})  # compiles or loads the Cython code
    brian_run_s = float("inf")
    for _ in range(2):  # the fastest of two runs of brian2_duration (its per-run set-up weighs little there)
        net.restore("start")
        t0 = time.perf_counter()
        net.run(brian2_duration * second, namespace={})
        brian_run_s = min(brian_run_s, time.perf_counter() - t0)
    brian_s = brian_run_s * duration / brian2_duration  # Brian2's time for the twin's duration

    b2.prefs["codegen.target"] = "numpy"
    tw = biosnn.twin(b2.Network(*cuba(n_neurons, 0.02, 1, weights=True)), batch_size=batch)
    tw.run(1 * ms)  # warm-up (first calls into torch)
    steps = int(round(duration / 1e-4))
    iterations_s = []
    for _ in range(iterations):  # as a training loop: reset, forward, backward, every iteration
        tw.reset()
        tw.zero_grad()
        faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        res = tw.run(duration * second)
        t1 = time.perf_counter()
        spikes = res.spike_trains["cuba"].sum()
        spikes.backward()
        t2 = time.perf_counter()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
        iterations_s.append({"forward_s": t1 - t0, "backward_s": t2 - t1, "page_faults": faults})
        del res
    first = iterations_s[0]
    later = iterations_s[1:] or iterations_s
    forward_s = float(np.median([it["forward_s"] for it in later]))
    backward_s = float(np.median([it["backward_s"] for it in later]))
    grad_norm = float(torch.cat([p.grad.reshape(-1) for p in tw.params.values() if p.grad is not None]).norm())
    out = {
        "duration_s": duration,
        "batch": batch,
        "n": n_neurons,
        "iterations": iterations,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "cpu": cmath.describe().split(";")[0],
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "brian2": b2.__version__,
        "brian2_duration_s": brian2_duration,
        "brian2_cython_run_s (of brian2_duration)": brian_run_s,
        "brian2_cython_s_for_duration (scaled)": brian_s,
        "iterations_s": iterations_s,
        "twin_first_iteration_s": first["forward_s"] + first["backward_s"],
        "twin_forward_s (median of iterations 2..)": forward_s,
        "twin_backward_s (median of iterations 2..)": backward_s,
        "twin_forward_ms_per_step": 1e3 * forward_s / steps,
        "twin_backward_ms_per_step": 1e3 * backward_s / steps,
        "gradient_bytes_per_step": tw.gradient_bytes_per_step,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "ratio_forward (brian2 / twin forward per trial)": brian_s / (forward_s / batch),
        "ratio_forward_backward (brian2 / twin forward+backward per trial)": brian_s
        / ((forward_s + backward_s) / batch),
        "ratio_forward_backward_first_iteration": brian_s / ((first["forward_s"] + first["backward_s"]) / batch),
        "spikes_per_trial": float(spikes.detach()) / batch,
        "weight_gradient_norm": grad_norm,
    }
    print(
        f"Brian2 cython {brian_s:.2f} s; twin with gradients, B={batch}, iterations 2..{iterations} (median): "
        f"forward {forward_s:.2f} s "
        f"({out['twin_forward_ms_per_step']:.2f} ms/step), backward {backward_s:.2f} s "
        f"({out['twin_backward_ms_per_step']:.2f} ms/step) -> per-trial ratio forward "
        f"{out['ratio_forward (brian2 / twin forward per trial)']:.3f}, forward+backward "
        f"{out['ratio_forward_backward (brian2 / twin forward+backward per trial)']:.3f}; first iteration "
        f"{out['twin_first_iteration_s']:.2f} s ({first['page_faults']} page faults, later "
        f"{later[-1]['page_faults']}) -> {out['ratio_forward_backward_first_iteration']:.3f}",
        flush=True,
    )
    folder = ROOT / "results"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "twin_gradients.json").write_text(json.dumps(out, indent=2))
    print(f"wrote {folder / 'twin_gradients.json'}")


if __name__ == "__main__":
    main()
