"""Benchmark: the rules' layer updates through the trace engine vs the hand-written loops of an older commit.

The rule modules (``plasticity/stdp_additive.py`` ... ``stdp_competitive.py``) of revision ``--rev`` (default
87def6e, the last commit with one hand-written ``*_sequential`` loop per rule) are read with ``git show`` and
loaded beside the current ones in this process; both run the same ``*_stdp_update`` call on the same spike
trains, interleaved, ``--repeats`` times (the best time of each is kept). Two configurations: the defaults of
``bench/plasticity_layer_update.py`` (small amplitudes: additive, triplet and Vogels take the batch-sum
path, which did not change) and its ``--config clipping`` (every rule
runs step by step). Prints the ratio engine / old and whether the two results are bit-identical; writes
``bench/results/plasticity_engine_ab.json``.

    .venv/bin/python bench/plasticity_engine_ab.py [--rev 87def6e] [--repeats 5]
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import time
import types
from pathlib import Path

import numpy as np
import torch
from brian2 import ms, second
from plasticity_layer_update import CONFIGS  # bench/, the script's folder, is on sys.path

ROOT = Path(__file__).resolve().parent.parent
DT = 0.5 * ms
#: rule name -> (module, update function)
UPDATES = {
    "stdp_additive": ("stdp_additive", "additive_stdp_update"),
    "stdp_multiplicative": ("stdp_multiplicative", "multiplicative_stdp_update"),
    "stdp_triplet": ("stdp_triplet", "triplet_stdp_update"),
    "istdp_vogels": ("istdp_vogels", "vogels_stdp_update"),
    "stdp_competitive": ("stdp_competitive", "competitive_stdp_update"),
}


def old_module(rev: str, name: str) -> types.ModuleType:
    """``plasticity/<name>.py`` at ``rev``, executed as a module of its own (imports resolve to today's)."""
    src = subprocess.run(
        ["git", "show", f"{rev}:plasticity/{name}.py"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    module = types.ModuleType(f"old_{name}")
    exec(compile(src, f"{rev}:plasticity/{name}.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="87def6e")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--inputs", type=int, default=40)
    parser.add_argument("--outputs", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    step = float(DT / second)
    old = {rule: old_module(args.rev, mod) for rule, (mod, _) in UPDATES.items()}
    new = {rule: importlib.import_module(f"biosnn.plasticity.{mod}") for rule, (mod, _) in UPDATES.items()}
    results = {"config": vars(args) | {"dt_ms": float(DT / ms), "device": "cpu", "dtype": "float64"}, "runs": {}}
    for label, cfg in CONFIGS.items():
        rng = np.random.default_rng(1234)
        pre = torch.tensor((rng.random((args.steps, cfg["batch"], args.inputs)) < cfg["rate"]).astype(float))
        post = torch.tensor((rng.random((args.steps, cfg["batch"], args.outputs)) < cfg["rate"]).astype(float))
        weight = torch.tensor(rng.uniform(0.2, 0.8, (args.outputs, args.inputs)))
        print(f"== {label}: T={args.steps} B={cfg['batch']} I={args.inputs} O={args.outputs} rate={cfg['rate']}")
        rows = results["runs"][label] = {}
        for key, rule in cfg["rules"].items():
            fname = UPDATES[rule.name][1]
            kw = rule._layer_values(step)
            t_old, t_new = [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                a = getattr(old[rule.name], fname)(pre, post, weight, **kw)
                t_old.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                b = getattr(new[rule.name], fname)(pre, post, weight, **kw)
                t_new.append(time.perf_counter() - t0)
            rows[key] = {
                "old_s": min(t_old),
                "engine_s": min(t_new),
                "ratio_engine_over_old": min(t_new) / min(t_old),
                "bit_identical": bool(torch.equal(a, b)),
                "max_abs_diff": float((a - b).abs().max()),
            }
            r = rows[key]
            print(
                f"{key:24s} old {r['old_s']:7.4f} s   engine {r['engine_s']:7.4f} s   engine/old "
                f"{r['ratio_engine_over_old']:5.3f}   bit-identical {r['bit_identical']}"
            )
    out = ROOT / "bench" / "results" / "plasticity_engine_ab.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
