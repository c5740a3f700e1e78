"""Local-only features that learn? Competitive STDP features vs a frozen random layer, the same readout.

Runs :func:`biosnn.learning.local_features.compare_features` (digits and waveform, 5 seeds, each arm's
readout settings chosen on a validation split of the training split; seeds 1-5, because seed 0 was used to
choose the settings) and writes
``bench/results/local_features.json``; prints per data set the two arms' mean +- std test accuracy, the
mean paired difference with its standard error, and whether "learned > random by more than two standard
errors" holds.

    BIOSNN_CACHE_DIR=$PWD/.cache .venv/bin/python bench/local_features.py [--seeds 5] [--hidden 32]
    ... bench/local_features.py --hidden 64 --out bench/results/local_features_h64.json   (and 256)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from biosnn.learning.local_features import FeatureSettings, compare_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1, help="seed 0 was used to choose the settings")
    parser.add_argument("--hidden", type=int, default=FeatureSettings.hidden)
    parser.add_argument("--datasets", default="digits,waveform")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "local_features.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()

    def progress(name, arm, r):
        print(
            f"  {name:9s} {arm:8s} seed {r['seed']}: test {r['test_accuracy']:.4f} (validation "
            f"{r['validation_accuracy']:.4f}, readout {r['readout']}, {r['seconds']:.0f} s)",
            flush=True,
        )

    res = compare_features(
        args.datasets.split(","),
        range(args.first_seed, args.first_seed + args.seeds),
        settings=FeatureSettings(hidden=args.hidden),
        progress=progress,
    )
    res["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    for name, d in res["datasets"].items():
        lr, rr, df = d["learned"], d["random"], d["difference"]
        print(
            f"{name}: learned {100 * lr['mean']:.2f} +- {100 * lr['std']:.2f} %, random {100 * rr['mean']:.2f} +- "
            f"{100 * rr['std']:.2f} %, difference {100 * df['mean']:+.2f} +- {100 * df['sem']:.2f} (s.e.) points: "
            f"{'holds' if d['holds'] else 'does not hold'} (> 2 s.e.)"
        )
    print(f"written {out} in {res['seconds']:.0f} s")


if __name__ == "__main__":
    main()
