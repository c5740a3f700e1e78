"""One process against N: DistributedDataParallel training (issue 13, section 2) timed on this machine.

For each configuration, ``biosnn.learning.train`` runs with one process (the reference, measured in the same
run) and with ``--nproc`` processes (gloo on the CPU, the processes forked by ``train`` itself), in
alternating order, ``--repeats`` times each. Reported per configuration (medians):

* ``epoch_s``: rank 0's seconds per epoch (the ``seconds`` column of ``metrics.csv``: training, the
  evaluation and the state check of the epoch; no start-up);
* ``run_s``: the wall time of the whole ``train`` call (for N processes: starting them, each one building
  the model, the epochs, gathering the masks);
* ``epoch_speedup`` and ``run_speedup``: one process's time over N's;
* ``max_abs_weight_difference``: the largest difference of any weight between the two runs (round-off:
  the all-reduce sums in another order).

Each process uses one thread (``torch.set_num_threads(1)`` here, and ``train`` gives each of N processes
``max(1, threads // N)``), so the comparison is one core against N cores. The load average of the machine
is written with the results: on a machine other processes keep busy, N processes do not get N free cores.

    .venv/bin/python bench/ddp_scaling.py [--nproc 2] [--repeats 2] [--quick]

writes ``bench/results/ddp_scaling.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from biosnn.learning.run import RunConfig, load_data, train

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ddp_scaling.json"

CONFIGS = {
    "stbp mlp 64-128-10 digits, B=64": RunConfig(method="stbp", hidden=(128,), epochs=3, batch_size=64),
    "eihl mlp 64-128-10 digits, B=64": RunConfig(method="eihl", hidden=(128,), epochs=3, batch_size=64),
    "stbp mlp 64-1024-1024-10 digits, B=256": RunConfig(method="stbp", hidden=(1024, 1024), epochs=3, batch_size=256),
    "stbp vgg11 x0.25 synthetic-cifar10, B=32": RunConfig(
        method="stbp",
        model="vgg11",
        width=0.25,
        hidden=(),
        dataset="synthetic-cifar10",
        epochs=2,
        batch_size=32,
        steps=4,
    ),
}


def _time(config: RunConfig, data, nproc: int | None):
    t0 = time.perf_counter()
    result = train(config, data=data, plot=False, nproc=nproc)
    wall = time.perf_counter() - t0
    epochs = [row["seconds"] for row in result.history[1:]] or [result.history[-1]["seconds"]]
    return wall, statistics.median(epochs), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="the two small digits configurations only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    names = list(CONFIGS)[:2] if args.quick else list(CONFIGS)
    for name in names:
        config = CONFIGS[name]
        data = load_data(config)
        train(config.replace(epochs=1), data=data, plot=False)  # warm-up: lazy imports, first allocations
        one, many = [], []
        for r in range(args.repeats):
            order = (None, args.nproc) if r % 2 == 0 else (args.nproc, None)
            for n in order:
                (one if n is None else many).append(_time(config, data, n))
        a, b = one[-1][2].model.state_dict(), many[-1][2].model.state_dict()
        diff = max(float((a[k] - b[k]).abs().max()) for k in a if a[k].is_floating_point())
        row = {
            "config": name,
            "nproc": args.nproc,
            "epoch_s_1": statistics.median(e for _, e, _ in one),
            "epoch_s_n": statistics.median(e for _, e, _ in many),
            "run_s_1": statistics.median(w for w, _, _ in one),
            "run_s_n": statistics.median(w for w, _, _ in many),
            "test_accuracy_1": one[-1][2].final["test_accuracy"],
            "test_accuracy_n": many[-1][2].final["test_accuracy"],
            "max_abs_weight_difference": diff,
        }
        row["epoch_speedup"] = row["epoch_s_1"] / row["epoch_s_n"]
        row["run_speedup"] = row["run_s_1"] / row["run_s_n"]
        rows.append(row)
        print(
            f"{name:45s} epoch {row['epoch_s_1']:7.3f} s vs {row['epoch_s_n']:7.3f} s (x{row['epoch_speedup']:.2f}),"
            f" run {row['run_s_1']:7.2f} s vs {row['run_s_n']:7.2f} s (x{row['run_speedup']:.2f}),"
            f" max |dw| {diff:.2g}",
            flush=True,
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "cores": os.cpu_count(),
        "load_average_after": os.getloadavg(),
        "torch": torch.__version__,
        "repeats": args.repeats,
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
