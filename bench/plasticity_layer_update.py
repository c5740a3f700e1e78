"""Benchmark: a spike-timing rule as a PyTorch layer update vs the same rule in Brian2.

For each pair/triplet rule, the same spike trains (``T`` steps, batch ``B``, ``I`` inputs, ``O`` outputs)
run through ``rule.layer_update`` (float64, CPU) and through Brian2 (numpy target; one block of
``O x I`` synapses per batch sample, one ``run``). Prints the seconds of each, the ratio
Brian2 / layer update (measured in this run), and the largest difference of the two weight changes;
writes everything to ``bench/results/plasticity_layer_update.json``.

``--config clipping`` takes large amplitudes, so the bounds clip and no rule can take its batch-sum (einsum)
shortcut: every ``rule.layer_update`` then runs the event-driven trace engine
(:func:`biosnn.plasticity.engine.sequential_update`), one weight copy per sample; it writes
``bench/results/plasticity_layer_update_clipping.json``. ``--repeats`` keeps the best of several timings.

    .venv/bin/python bench/plasticity_layer_update.py [--steps 400] [--batch 4] [--inputs 40] [--outputs 20] [--threads 1] [--config clipping] [--repeats 3]
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


#: The rule sets: spike rate, batch and rules (the clipping set drives every rule onto its step-by-step path).
CONFIGS = {
    "layer_update_defaults": dict(
        rate=0.02,
        batch=4,
        rules={
            "stdp_additive": StdpAdditive(),
            "stdp_additive_nearest": StdpAdditive(pairing="nearest"),
            "stdp_multiplicative": StdpMultiplicative(mu=0.5),
            "stdp_triplet": StdpTriplet(),
            "istdp_vogels": IstdpVogels(w_max=1.0),
        },
    ),
    "clipping": dict(
        rate=0.05,
        batch=8,
        rules={
            "stdp_additive": StdpAdditive(A_plus=0.2, A_minus=0.25),
            "stdp_additive_nearest": StdpAdditive(A_plus=0.2, A_minus=0.25, pairing="nearest"),
            "stdp_multiplicative": StdpMultiplicative(lam=0.3, mu=0.5),
            "stdp_triplet": StdpTriplet(A2_plus=0.05, A3_plus=0.1, A2_minus=0.1, A3_minus=0.05),
            "istdp_vogels": IstdpVogels(eta=0.3, rho0=20 * Hz, w_max=1.0),
            "stdp_competitive": CompetitiveStdp(eta=0.2, x_tar=0.5),
        },
    ),
}


def brian2_dw(rule, pre: np.ndarray, post: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return layer_update_in_brian2(rule, pre, post, weight, dt=DT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="layer_update_defaults")
    parser.add_argument("--batch", type=int, default=None, help="default: the config's (4, clipping 8)")
    parser.add_argument("--repeats", type=int, default=1, help="timings of the layer update (the best is kept)")
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
    config = CONFIGS[args.config]
    args.batch = config["batch"] if args.batch is None else args.batch
    shape_pre = (args.steps, args.batch, args.inputs)
    shape_post = (args.steps, args.batch, args.outputs)
    pre = (rng.random(shape_pre) < config["rate"]).astype(float)
    post = (rng.random(shape_post) < config["rate"]).astype(float)
    weight = rng.uniform(0.2, 0.8, (args.outputs, args.inputs))
    rules = config["rules"]
    results = {"config": vars(args) | {"dt_ms": float(DT / ms), "device": "cpu", "dtype": "float64"}, "rules": {}}
    for name, rule in rules.items():
        brian2_dw(rule, pre[:5], post[:5], weight)  # warm-up: Brian2's symbolic set-up of this rule
        t0 = time.perf_counter()
        ref = brian2_dw(rule, pre, post, weight)
        t_brian = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            got = rule.layer_update(torch.tensor(pre), torch.tensor(post), torch.tensor(weight), dt=DT).numpy()
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
    suffix = "" if args.config == "layer_update_defaults" else f"_{args.config}"
    out = Path(__file__).resolve().parent / "results" / f"plasticity_layer_update{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
