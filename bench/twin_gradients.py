"""Benchmark: the twin with gradients (surrogate BPTT through a recurrent network) against Brian2.

CUBA (4000 neurons, p = 0.02) with a weight per synapse (``w : volt``, so every weight is an
``nn.Parameter``). One run: Brian2's Cython target simulates the duration (the reference); the twin runs
the same duration with autograd on (forward) and back-propagates the number of spikes to every weight
(backward). Prints forward and backward time per step, and ratios against Brian2's simulation time
(Brian2 time / twin time: > 1 means the twin is faster); writes ``bench/results/twin_gradients.json``.

Usage: ``python bench/twin_gradients.py [--duration 0.1] [--batch 1] [--threads 1]``
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
import torch
from brian2 import ms, second

import biosnn

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from twin_vs_brian2 import cuba  # noqa: E402 - the same hand-written CUBA as the simulation benchmark


@click.command()
@click.option("--duration", default=0.1, show_default=True, help="biological time per run, seconds")
@click.option("--batch", default=1, show_default=True, help="trials per twin pass")
@click.option("--n", "n_neurons", default=4000, show_default=True, help="neurons")
@click.option("--threads", default=1, show_default=True, help="torch intra-op threads (0: torch's default)")
def main(duration: float, batch: int, n_neurons: int, threads: int) -> None:
    if threads:
        torch.set_num_threads(threads)
    biosnn.seed(1234)
    b2.prefs["codegen.target"] = "cython"
    net = b2.Network(*cuba(n_neurons, 0.02, 1, weights=True))
    net.store("start")
    net.run(duration * second, namespace={})  # compiles or loads the Cython code
    net.restore("start")
    t0 = time.perf_counter()
    net.run(duration * second, namespace={})
    brian_s = time.perf_counter() - t0

    b2.prefs["codegen.target"] = "numpy"
    tw = biosnn.twin(b2.Network(*cuba(n_neurons, 0.02, 1, weights=True)), batch_size=batch)
    tw.run(1 * ms)  # warm-up
    tw.reset()
    t0 = time.perf_counter()
    res = tw.run(duration * second)
    forward_s = time.perf_counter() - t0
    spikes = res.spike_trains["cuba"].sum()
    t0 = time.perf_counter()
    spikes.backward()
    backward_s = time.perf_counter() - t0
    steps = int(round(duration / 1e-4))
    grad_norm = float(torch.cat([p.grad.reshape(-1) for p in tw.params.values() if p.grad is not None]).norm())
    out = {
        "duration_s": duration,
        "batch": batch,
        "n": n_neurons,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "brian2": b2.__version__,
        "brian2_cython_run_s": brian_s,
        "twin_forward_s": forward_s,
        "twin_backward_s": backward_s,
        "twin_forward_ms_per_step": 1e3 * forward_s / steps,
        "twin_backward_ms_per_step": 1e3 * backward_s / steps,
        "ratio_forward (brian2 / twin forward per trial)": brian_s / (forward_s / batch),
        "ratio_forward_backward (brian2 / twin forward+backward per trial)": brian_s
        / ((forward_s + backward_s) / batch),
        "spikes_per_trial": float(spikes.detach()) / batch,
        "weight_gradient_norm": grad_norm,
    }
    print(
        f"Brian2 cython {brian_s:.2f} s; twin with gradients, B={batch}: forward {forward_s:.2f} s "
        f"({out['twin_forward_ms_per_step']:.2f} ms/step), backward {backward_s:.2f} s "
        f"({out['twin_backward_ms_per_step']:.2f} ms/step) -> per-trial ratio forward "
        f"{out['ratio_forward (brian2 / twin forward per trial)']:.3f}, forward+backward "
        f"{out['ratio_forward_backward (brian2 / twin forward+backward per trial)']:.3f}",
        flush=True,
    )
    folder = ROOT / "results"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "twin_gradients.json").write_text(json.dumps(out, indent=2))
    print(f"wrote {folder / 'twin_gradients.json'}")


if __name__ == "__main__":
    main()
