"""The rest of the family on digits (issue 11): LTMD, MLF + DS-ResNet, STMixer, SPIDE and EICIL (biosnn's
reading) against STBP, same data, same iteration budget (epochs x batches), same seeds, one thread.

STBP is biosnn's SpikingMLP 64-256-10 (LIF) trained by :class:`biosnn.learning.trainer.Trainer` on spike
counts; every other method trains its own model (sizes below, about the same hidden width) with its own loss
(``<method>_train_loss``) and Adam at the same learning rate. All inputs are direct-coded (the image as a
constant current) with T = 4, except SPIDE, whose forward simulation runs its own 30 steps on the constant
input (and 250 backward steps). Accuracy is the test split's (360 digits); time per epoch is the mean
wall-clock time of a training epoch; the ratio is to STBP's time per epoch measured in the same run.
With ``--ablations`` each method's own contribution is ablated once (LT without MD; MLF with K = 1; STMixer
without SML; EICIL without inhibitory threshold; SPIDE's spike-based gradient against BPTT through the rate
equilibrium, cosine similarity on one batch).

    .venv/bin/python bench/family_digits.py [--seeds 3] [--epochs 10] [--ablations]

writes ``bench/results/family_digits.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from biosnn.data import load_dataset
from biosnn.data.encoders import direct
from biosnn.learning.trainer import Trainer
from biosnn.models import SpikingMLP
from biosnn.models.eicil import EICILCycle, build_eicil, eicil_train_loss
from biosnn.models.ltmd import build_ltmd, ltmd_train_loss
from biosnn.models.mlf import build_mlf_dsresnet, mlf_train_loss
from biosnn.models.spide import build_spide, rate_equilibrium, spide_train_loss
from biosnn.models.stmixer import build_stmixer, stmixer_train_loss

STEPS = 4
LR = 2e-3
BATCH = 64


def _builders():
    return {
        "ltmd": (lambda: build_ltmd(hidden=(256,), head=256), ltmd_train_loss, STEPS),
        "mlf_dsresnet": (lambda: build_mlf_dsresnet(in_channels=1, blocks=(1, 1), widths=(16, 32)), mlf_train_loss,
                         STEPS),
        "stmixer": (lambda: build_stmixer(in_channels=1, img_size=8, downsample=2, dim=64, depth=2, heads=4,
                                          mlp_ratio=2.0), stmixer_train_loss, STEPS),
        "spide": (lambda: build_spide(hidden=(256, 128), steps=30, steps_back=250), spide_train_loss, 1),
        "eicil": (lambda: build_eicil(hidden=(256,)), eicil_train_loss, STEPS),
    }


def _ablations():
    return {
        "ltmd_without_md": (lambda: build_ltmd(hidden=(256,), head=256, drop_rate=0.0), ltmd_train_loss, STEPS),
        "mlf_k1": (lambda: build_mlf_dsresnet(in_channels=1, blocks=(1, 1), widths=(16, 32), levels=1),
                   mlf_train_loss, STEPS),
        "stmixer_without_sml": (lambda: build_stmixer(in_channels=1, img_size=8, downsample=2, dim=64, depth=2,
                                                      heads=4, mlp_ratio=2.0, sml=False), stmixer_train_loss, STEPS),
        "eicil_without_inhibition": (lambda: build_eicil(hidden=(256,), inhibitory=False), eicil_train_loss, STEPS),
    }


def _loaders(seed: int):
    train, test = load_dataset("digits", train=True), load_dataset("digits", train=False)
    g = torch.Generator().manual_seed(seed)
    return DataLoader(train, batch_size=BATCH, shuffle=True, generator=g), DataLoader(test, batch_size=256)


def run_stbp(seed: int, epochs: int) -> dict:
    torch.manual_seed(seed)
    model = SpikingMLP((64, 256, 10), "lif")
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=LR), loss="count_ce", encoder="direct",
                      steps=STEPS, seed=seed)
    train, test = _loaders(seed)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        trainer.train_epoch(train)
        times.append(time.perf_counter() - t0)
    return {"test_accuracy": trainer.evaluate(test).accuracy, "seconds_per_epoch": statistics.fmean(times),
            "iterations": trainer.iteration}


def run_method(name: str, build, loss_fn, steps: int, seed: int, epochs: int) -> dict:
    torch.manual_seed(seed)
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    cycle = EICILCycle(model, opt, cycle=23) if name.startswith("eicil") else None  # one epoch per phase
    train, test = _loaders(seed)
    times, iterations = [], 0
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
        for x, y in train:
            loss, _ = loss_fn(model, direct(x, steps=steps), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            cycle.step() if cycle is not None else opt.step()
            iterations += 1
        times.append(time.perf_counter() - t0)
    model.eval()
    correct = count = 0
    with torch.no_grad():
        for x, y in test:
            out = model(direct(x, steps=steps))
            correct += int((out.mean(0).argmax(1) == y).sum())
            count += len(y)
    return {"test_accuracy": correct / count, "seconds_per_epoch": statistics.fmean(times), "iterations": iterations}


def spide_vs_bptt(seed: int) -> float:
    """Cosine similarity of SPIDE's spike-based gradient and BPTT through the rate equilibrium (one batch)."""
    torch.manual_seed(seed)
    net = build_spide(hidden=(256, 128), steps=30, steps_back=250).double()
    x, y = next(iter(_loaders(seed)[0]))
    x = x.double().unsqueeze(0)
    loss, _ = spide_train_loss(net, x, y)
    net.zero_grad()
    loss.backward()
    params = [*net.input_layer.parameters(), *net.layers.parameters(), *net.feedback.parameters()]
    a = torch.cat([p.grad.flatten() for p in params])
    net.zero_grad()
    rates = rate_equilibrium(x[0], net.input_layer, net.layers, net.feedback, iterations=60)
    torch.nn.functional.cross_entropy(net.readout(rates[-1]), y).backward()
    b = torch.cat([p.grad.flatten() for p in params])
    return float(a @ b / (a.norm() * b.norm()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--ablations", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "family_digits.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    methods = dict(_builders(), **(_ablations() if args.ablations else {}))
    runs: dict[str, list[dict]] = {"stbp": []}
    for name in methods:
        runs[name] = []
    for seed in range(args.seeds):
        runs["stbp"].append(run_stbp(seed, args.epochs))
        for name, (build, loss_fn, steps) in methods.items():
            runs[name].append(run_method(name, build, loss_fn, steps, seed, args.epochs))
            print(f"seed {seed} {name}: {runs[name][-1]}", flush=True)
    stbp_time = statistics.fmean(r["seconds_per_epoch"] for r in runs["stbp"])
    rows = []
    print(f"\n{'method':<26} {'seeds':>5} {'test acc (%)':>16} {'s/epoch':>8} {'x STBP':>7}")
    for name, rs in runs.items():
        acc = [r["test_accuracy"] for r in rs]
        sec = statistics.fmean(r["seconds_per_epoch"] for r in rs)
        row = {"method": name, "seeds": len(rs), "test_accuracy_mean": statistics.fmean(acc),
               "test_accuracy_std": statistics.stdev(acc) if len(acc) > 1 else 0.0, "seconds_per_epoch": sec,
               "time_ratio_to_stbp": sec / stbp_time, "iterations": rs[0]["iterations"], "runs": rs}
        rows.append(row)
        acc_mean, acc_std = 100 * row["test_accuracy_mean"], 100 * row["test_accuracy_std"]
        print(f"{name:<26} {len(rs):>5} {acc_mean:>8.2f} +- {acc_std:<4.2f} {sec:>8.2f} "
              f"{row['time_ratio_to_stbp']:>7.2f}")
    result = {"epochs": args.epochs, "batch_size": BATCH, "lr": LR, "steps": STEPS, "threads": 1, "rows": rows}
    if args.ablations:
        cos = [spide_vs_bptt(s) for s in range(args.seeds)]
        result["spide_vs_bptt_cosine"] = cos
        print(f"SPIDE vs BPTT through the equilibrium, gradient cosine: {', '.join(f'{c:.3f}' for c in cos)}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
