"""Benchmark: the step-by-step (clipping) path of every spike-timing rule's layer update vs Brian2.

The amplitudes are large, so the bounds clip and no rule can take its batch-sum (einsum) shortcut: every
``rule.layer_update`` runs the event-driven trace engine (:func:`biosnn.plasticity.engine.sequential_update`),
one weight copy per batch sample. The same spike trains run through Brian2 (numpy target; one block of
``O x I`` synapses per sample, one ``run``) as the reference measured in this run. Prints, per rule, the
best of ``--repeats`` timings of the layer update, Brian2's time, the ratio Brian2 / layer update and the
largest difference of the two weight changes; writes ``bench/results/plasticity_engine.json``.

    .venv/bin/python bench/plasticity_engine.py [--steps 400] [--batch 8] [--inputs 40] [--outputs 20] [--repeats 3]
"""  # noqa: E501

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import brian2
import numpy as np
import torch
from biosnn.plasticity import CompetitiveStdp, IstdpVogels, StdpAdditive, StdpMultiplicative, StdpTriplet
from biosnn.plasticity.protocols import layer_update_in_brian2
from brian2 import Hz, ms

import biosnn

DT = 0.5 * ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--inputs", type=int, default=40)
    parser.add_argument("--outputs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="timings of the layer update (the best is kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    biosnn.seed(1234)
    brian2.prefs["codegen.target"] = "numpy"
    rng = np.random.default_rng(1234)
    pre = (rng.random((args.steps, args.batch, args.inputs)) < 0.05).astype(float)
    post = (rng.random((args.steps, args.batch, args.outputs)) < 0.05).astype(float)
    weight = rng.uniform(0.2, 0.8, (args.outputs, args.inputs))
    rules = {
        "stdp_additive": StdpAdditive(A_plus=0.2, A_minus=0.25),
        "stdp_additive_nearest": StdpAdditive(A_plus=0.2, A_minus=0.25, pairing="nearest"),
        "stdp_multiplicative": StdpMultiplicative(lam=0.3, mu=0.5),
        "stdp_triplet": StdpTriplet(A2_plus=0.05, A3_plus=0.1, A2_minus=0.1, A3_minus=0.05),
        "istdp_vogels": IstdpVogels(eta=0.3, rho0=20 * Hz, w_max=1.0),
        "stdp_competitive": CompetitiveStdp(eta=0.2, x_tar=0.5),
    }
    results = {"config": vars(args) | {"dt_ms": float(DT / ms), "device": "cpu", "dtype": "float64"}, "rules": {}}
    p, q, w = torch.tensor(pre), torch.tensor(post), torch.tensor(weight)
    for name, rule in rules.items():
        layer_update_in_brian2(rule, pre[:5], post[:5], weight, dt=DT)  # warm-up: Brian2's symbolic set-up
        t0 = time.perf_counter()
        ref = layer_update_in_brian2(rule, pre, post, weight, dt=DT)
        t_brian = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            got = rule.layer_update(p, q, w, dt=DT).numpy()
            times.append(time.perf_counter() - t0)
        t_torch = min(times)
        diff = float(np.max(np.abs(got - ref)))
        results["rules"][name] = {
            "brian2_s": t_brian,
            "layer_update_s": t_torch,
            "layer_update_all_s": times,
            "ratio_brian2_over_torch": t_brian / t_torch,
            "max_abs_diff": diff,
            "max_abs_dw": float(np.max(np.abs(ref))),
        }
        print(
            f"{name:24s} brian2 {t_brian:7.3f} s   layer_update {t_torch:7.3f} s   ratio {t_brian / t_torch:6.1f}x"
            f"   max|diff| {diff:.2e}"
        )
    out = Path(__file__).resolve().parent / "results" / "plasticity_engine.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
