"""Start-up and thread-count bench for the command line (issue 13, section 4).

1. **Import times**, each in a fresh interpreter (median of ``--repeats`` runs): ``import biosnn``,
   ``import biosnn.cli``, ``import biosnn.learning``, ``import biosnn.learning.run``, ``biosnn --help`` and
   ``biosnn train --help``; the references, measured in the same run, are an empty interpreter
   (``python -c pass``), ``import torch`` and ``import brian2``. The target of the issue: ``import biosnn``
   under 0.5 s.
2. **Epoch time against the thread count** (``torch.set_num_threads``): one training epoch (median of
   ``--epochs`` epochs after a warm-up epoch) of the ``biosnn train`` defaults (EIHL, MLP 64-128-10 on
   digits, T = 8) and of a conv model (VGG11 at width 0.25 on synthetic CIFAR-10 shape, capped batches), at
   1, 2, ... threads up to the machine's cores and at torch's default; the ratio is to one thread's time.
   The thread count ``biosnn train`` chooses by default (:func:`biosnn.cli.default_threads`) is printed
   beside them. On a machine that other processes keep busy, more threads than free cores are far slower
   (the measurement says how busy the machine was: its load average is written with the results).

    .venv/bin/python bench/startup.py [--repeats 5] [--epochs 3] [--skip-epochs]

writes ``bench/results/startup.json`` and prints both tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "startup.json"

IMPORTS = {
    "python -c pass (reference)": "pass",
    "import torch (reference)": "import torch",
    "import brian2 (reference)": "import brian2",
    "import biosnn": "import biosnn",
    "import biosnn.cli": "import biosnn.cli",
    "import biosnn.learning": "import biosnn.learning",
    "import biosnn.learning.run": "import biosnn.learning.run",
}
COMMANDS = {
    "biosnn --help": ["--help"],
    "biosnn train --help": ["train", "--help"],
}


def _time_subprocess(args: list[str], repeats: int) -> float:
    """Median wall-clock seconds of ``args`` run ``repeats`` times, each in a fresh process."""
    times = []
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def import_times(repeats: int) -> dict[str, float]:
    out = {name: _time_subprocess([sys.executable, "-c", code], repeats) for name, code in IMPORTS.items()}
    for name, args in COMMANDS.items():
        out[name] = _time_subprocess([sys.executable, "-m", "biosnn.cli", *args], repeats)
    return out


def _epoch_times(config, threads: int, epochs: int) -> float:
    """Median seconds of a training epoch of ``config`` on ``threads`` threads (after one warm-up epoch)."""
    import torch

    from biosnn.learning.run import train

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        result = train(config.replace(epochs=epochs + 1), plot=False)
    finally:
        torch.set_num_threads(previous)
    return statistics.median(row["seconds"] for row in result.history[1:])


def thread_table(epochs: int) -> dict[str, dict]:
    import torch

    from biosnn.cli import default_threads
    from biosnn.learning.run import RunConfig

    cores = os.cpu_count() or 1
    torch_default = torch.get_num_threads()
    counts = sorted({1, 2, cores, torch_default} - {0})
    configs = {
        "eihl mlp/digits (biosnn train defaults)": RunConfig(),
        "stbp vgg11 width 0.25 / synthetic-cifar10, batch 16": RunConfig(
            method="stbp",
            model="vgg11",
            dataset="synthetic-cifar10",
            width=0.25,
            hidden=(),
            batch_size=16,
            steps=2,
            neuron="if",
        ),
    }
    table = {}
    for name, config in configs.items():
        seconds = {n: _epoch_times(config, n, epochs) for n in counts}
        table[name] = {
            "model": config.model,
            "threads": counts,
            "torch_default_threads": torch_default,
            "biosnn_default_threads": default_threads(config.model),
            "seconds_per_epoch": {str(n): round(s, 4) for n, s in seconds.items()},
            "ratio_to_1_thread": {str(n): round(s / seconds[1], 3) for n, s in seconds.items()},
        }
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh interpreters per import time (median)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per thread count (median)")
    parser.add_argument("--skip-epochs", action="store_true", help="import times only")
    args = parser.parse_args()
    load_before = os.getloadavg()
    imports = import_times(args.repeats)
    print(f"{'import / command (fresh process, median of ' + str(args.repeats) + ')':<52} {'seconds':>8}")
    for name, s in imports.items():
        print(f"{name:<52} {s:8.3f}")
    results = {
        "cores": os.cpu_count(),
        "load_average_before": load_before,
        "repeats": args.repeats,
        "import_seconds": {k: round(v, 4) for k, v in imports.items()},
        "import_biosnn_below_0_5_s": imports["import biosnn"] < 0.5,
        "import_biosnn_minus_python_startup": round(
            imports["import biosnn"] - imports["python -c pass (reference)"], 4
        ),
    }
    if not args.skip_epochs:
        table = thread_table(args.epochs)
        results["epochs"] = table
        print(f"\n{'run':<52} {'threads':>7} {'s/epoch':>8} {'ratio to 1':>10}")
        for name, row in table.items():
            for n in row["threads"]:
                mark = " (biosnn default)" if n == row["biosnn_default_threads"] else ""
                mark += " (torch default)" if n == row["torch_default_threads"] else ""
                print(
                    f"{name:<52} {n:7d} {row['seconds_per_epoch'][str(n)]:8.3f} "
                    f"{row['ratio_to_1_thread'][str(n)]:10.2f}{mark}"
                )
    results["load_average_after"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
