"""Benchmark: a spike-timing rule as a PyTorch layer update vs the same rule in Brian2.

For each pair/triplet rule, the same spike trains (``T`` steps, batch ``B``, ``I`` inputs, ``O`` outputs)
run through ``rule.layer_update`` (float64, CPU) and through Brian2 (numpy target; one block of
``O x I`` synapses per batch sample, one ``run``). Prints the seconds of each, the ratio
Brian2 / layer update (measured in this run), and the largest difference of the two weight changes;
writes everything to ``bench/results/plasticity_layer_update.json``.

    .venv/bin/python bench/plasticity_layer_update.py [--steps 400] [--batch 4] [--inputs 40] [--outputs 20] [--threads 1]
"""  # noqa: E501

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import brian2
import numpy as np
import torch
from biosnn.plasticity import IstdpVogels, StdpAdditive, StdpMultiplicative, StdpTriplet
from biosnn.plasticity.protocols import layer_update_in_brian2
from brian2 import ms

import biosnn

DT = 0.5 * ms


def brian2_dw(rule, pre: np.ndarray, post: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return layer_update_in_brian2(rule, pre, post, weight, dt=DT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--inputs", type=int, default=40)
    parser.add_argument("--outputs", type=int, default=20)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (the update is many small ops; threads only add overhead)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    biosnn.seed(1234)
    brian2.prefs["codegen.target"] = "numpy"
    rng = np.random.default_rng(1234)
    shape_pre = (args.steps, args.batch, args.inputs)
    shape_post = (args.steps, args.batch, args.outputs)
    pre = (rng.random(shape_pre) < 0.02).astype(float)
    post = (rng.random(shape_post) < 0.02).astype(float)
    weight = rng.uniform(0.2, 0.8, (args.outputs, args.inputs))
    rules = {
        "stdp_additive": StdpAdditive(),
        "stdp_additive_nearest": StdpAdditive(pairing="nearest"),
        "stdp_multiplicative": StdpMultiplicative(mu=0.5),
        "stdp_triplet": StdpTriplet(),
        "istdp_vogels": IstdpVogels(w_max=1.0),
    }
    results = {"config": vars(args) | {"dt_ms": float(DT / ms), "device": "cpu", "dtype": "float64"}, "rules": {}}
    for name, rule in rules.items():
        brian2_dw(rule, pre[:5], post[:5], weight)  # warm-up: Brian2's symbolic set-up of this rule
        t0 = time.perf_counter()
        ref = brian2_dw(rule, pre, post, weight)
        t_brian = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = rule.layer_update(torch.tensor(pre), torch.tensor(post), torch.tensor(weight), dt=DT).numpy()
        t_torch = time.perf_counter() - t0
        diff = float(np.max(np.abs(got - ref)))
        results["rules"][name] = {
            "brian2_s": t_brian,
            "layer_update_s": t_torch,
            "ratio_brian2_over_torch": t_brian / t_torch,
            "max_abs_diff": diff,
            "max_abs_dw": float(np.max(np.abs(ref))),
        }
        print(
            f"{name:24s} brian2 {t_brian:7.3f} s   layer_update {t_torch:7.3f} s   ratio {t_brian / t_torch:6.1f}x"
            f"   max|diff| {diff:.2e}"
        )
    out = Path(__file__).resolve().parent / "results" / "plasticity_layer_update.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
