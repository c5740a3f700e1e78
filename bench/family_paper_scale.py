"""Seconds per epoch and peak memory of the family's presets at the papers' widths (issue 11).

For each preset (``ltmd_cifar10``, ``mlf_dsresnet_cifar10``, ``stmixer_cifar10``, ``spide_cifar10``,
``eicil_cifar10``; the networks at ``width = 1``, the papers' T, optimiser and learning rate) a few real
training steps of the run method (``biosnn.learning.run.METHODS``, the code ``biosnn train --preset`` runs)
on random CIFAR10-shaped batches ([3, 32, 32], 10 classes), each preset in its own process:

* on CUDA (``--device cuda``, or ``auto`` when available): the preset's own batch size, ``--warmup`` steps
  then ``--batches`` timed steps (synchronised), peak memory ``torch.cuda.max_memory_allocated``;
* on the CPU: a small batch (``--batch``, default 4), fewer steps, peak memory the process's peak resident
  set (``ru_maxrss``; the baseline before the model is built, torch and biosnn imported, is given too).

Seconds per epoch are estimated as seconds per sample x 50 000 (CIFAR10's training set), which assumes a
step's time grows linearly with the batch (it grows more slowly on a GPU, so a small-batch estimate is an
upper bound there). The ratio column is each preset's time against ``eihl_cifar10`` (EIHL's Spiking VGG11
preset, same data, same measurement) run first.

    .venv/bin/python bench/family_paper_scale.py [--device auto] [--batch N] [--batches N] [--warmup N]

prints a table and writes ``bench/results/family_paper_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

PRESET_NAMES = (
    "eihl_cifar10",
    "ltmd_cifar10",
    "mlf_dsresnet_cifar10",
    "stmixer_cifar10",
    "spide_cifar10",
    "eicil_cifar10",
)
TRAIN_SIZE = 50_000


def measure(name: str, device: str, batch: int | None, batches: int, warmup: int) -> dict:
    """Time ``batches`` training steps of preset ``name`` (after ``warmup`` steps) in this process."""
    from biosnn.learning.run import METHODS, MODEL_BUILDERS, PRESETS

    if device == "cpu":
        torch.set_num_threads(1)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    preset = PRESETS[name]
    size = batch or preset.batch_size
    config = preset.replace(dataset="synthetic-cifar10", batch_size=size, device=device)
    dev = torch.device(device)
    torch.manual_seed(0)
    model = MODEL_BUILDERS[config.model](config, (3, 32, 32), 10).to(dev)
    steps = config.steps or 8
    trainer_kw = {"loss": config.loss, "encoder": "direct", "steps": steps, "seed": 1, "device": dev}
    method = METHODS[config.method](config, model, trainer_kw)
    g = torch.Generator().manual_seed(0)
    data = [
        (torch.rand(size, 3, 32, 32, generator=g), torch.randint(0, 10, (size,), generator=g))
        for _ in range(max(batches, 1))
    ]
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    if warmup:
        method.train_epoch(data[:1] * warmup, epochs_left=1)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    method.train_epoch(data[:batches], epochs_left=0)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = (time.perf_counter() - t0) / batches
    out = {
        "preset": name,
        "method": config.method,
        "model": config.model,
        "device": str(dev),
        "parameters": sum(p.numel() for p in model.parameters()),
        "T": steps,
        "batch": size,
        "preset_batch": preset.batch_size,
        "timed_batches": batches,
        "warmup_batches": warmup,
        "seconds_per_batch": seconds,
        "seconds_per_epoch": seconds / size * TRAIN_SIZE,
        "baseline_rss_mib": base_rss,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if dev.type == "cuda":
        out["peak_cuda_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
        out["gpu"] = torch.cuda.get_device_name(dev)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="cpu | cuda | auto")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: the preset's on CUDA, 4 on CPU)")
    ap.add_argument("--batches", type=int, default=None, help="timed steps (default 5 on CUDA, 1 on CPU)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 2 on CUDA, 0 on CPU)")
    ap.add_argument("--presets", default=",".join(PRESET_NAMES))
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # measure one preset, print JSON (subprocess)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "family_paper_scale.json"))
    args = ap.parse_args()
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    cuda = device.startswith("cuda")
    batch = args.batch if args.batch is not None else (None if cuda else 4)
    batches = args.batches if args.batches is not None else (5 if cuda else 1)
    warmup = args.warmup if args.warmup is not None else (2 if cuda else 0)
    if args.one is not None:
        print(json.dumps(measure(args.one, device, batch, batches, warmup)))
        return
    rows = []
    for name in args.presets.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--device",
            device,
            "--batches",
            str(batches),
            "--warmup",
            str(warmup),
        ] + (["--batch", str(batch)] if batch is not None else [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            rows.append({"preset": name, "error": proc.stderr.strip().splitlines()[-1:]})
            print(f"{name}: failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{name}: {r['seconds_per_batch']:.2f} s per batch of {r['batch']}", flush=True)
    ref = next((r for r in rows if r.get("preset") == "eihl_cifar10" and "error" not in r), None)
    memory = "peak_cuda_mib" if cuda else "peak_rss_mib"
    print(
        f"\n{'preset':<22} {'model':<14} {'params':>10} {'T':>3} {'batch':>5} {'s/batch':>8} {'s/epoch (est.)':>15} "
        f"{'x EIHL':>7} {memory:>13}"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['preset']:<22} failed")
            continue
        r["ratio_to_eihl"] = r["seconds_per_epoch"] / ref["seconds_per_epoch"] if ref else math.nan
        print(
            f"{r['preset']:<22} {r['model']:<14} {r['parameters']:>10,} {r['T']:>3} {r['batch']:>5} "
            f"{r['seconds_per_batch']:>8.2f} {r['seconds_per_epoch']:>15.0f} {r['ratio_to_eihl']:>7.2f} "
            f"{r[memory]:>13.0f}"
        )
    result = {
        "device": device,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "threads": 1 if not cuda else None,
        "train_size": TRAIN_SIZE,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
