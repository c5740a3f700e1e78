"""EIHL's family on two offline data sets (issue 11): STBP, EIHL, LTMD, MLF + DS-ResNet, STMixer, SPIDE and
EICIL (biosnn's reading), each method's own contribution ablated once, 3 seeds, the same iteration budget.

Every method runs through its run-interface class (``biosnn.learning.run.METHODS``: the code ``biosnn train``
runs), on the same data, batches (``--epochs`` x at most ``--batches`` batches of 64), seeds, optimiser
(Adam, one learning rate) and time steps (T = 4, direct-coded input), with one thread:

* ``stbp``, ``eihl``: biosnn's SpikingMLP, hidden 128, LIF, spike-count loss (EIHL: its controller's
  defaults, connectivity policy);
* ``ltmd``: ``ltmd_mlp`` (hidden 128, LT neurons, the 256-wide graded head, moderate dropout r = 0.2);
* ``mlf``: ``mlf_dsresnet`` with one DS block per stage at widths 16, 32 (K = 3 levels);
* ``stmixer``: 2 encoder blocks of 32 channels, 4 heads, FFN x2, SML heads;
* ``spide``: ``spide_mlp`` hidden (128, 64) with feedback, its own 30 forward / 250 backward steps;
* ``eicil``: ``eicil_mlp`` hidden 128, EI neurons, one epoch per phase.

The ablations: ``ltmd_without_md`` (LT neurons, no moderate dropout: one sample, plain CE), ``mlf_k1``
(one compartment), ``stmixer_without_sml`` (no auxiliary heads), ``spide_bptt`` (the same network trained
by BPTT through the clamped rate map, 30 iterations; evaluated with the spiking forward run) and
``eicil_without_inhibition`` (IF neurons, no inhibitory threshold). Also the cosine similarity of SPIDE's
spike-based gradient with BPTT through the equilibrium at initialisation (one batch per seed).

Data: ``digits`` (8x8 images, 10 classes; 1437 train / 360 test) and ``waveform`` (Breiman's waveforms,
[1, 1, 21], 3 classes). The convolutional models read the waveform as a 1 x 21 image: the DS-ResNet's 3x3
kernels act as 1-D kernels of width 3 (zero padding above and below; stride 2 halves the length only) and
STMixer uses its 1-D configuration (IPSPS never strides the height; the signal is zero-padded to 24 samples,
6 patches).

Columns: test accuracy (mean +- std over seeds), spikes per test sample (every spiking population, see
:class:`biosnn.learning.family.SpikeCounter`; SPIDE: its 30 forward steps, so not comparable per step with
T = 4), seconds per training epoch (training only, mean over epochs and seeds) and its ratio to STBP's in
the same run.

    .venv/bin/python bench/family_digits.py [--seeds 3] [--epochs 4] [--batches 23] [--datasets digits,waveform]

writes ``bench/results/family_digits.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from biosnn.learning.family import SpikeCounter, build_model
from biosnn.learning.run import METHODS, MODEL_BUILDERS, RunConfig, load_data

STEPS = 4
LR = 3e-3
BATCH = 64
HIDDEN = (128,)

#: EIHL's schedule for a 4-epoch budget: the run's defaults (2 global units first, 3 final ones) would leave no
#: local period at all, so one global epoch, at most one local epoch, one final global epoch.
EIHL_SETTINGS = dict(granularity="epoch", global_units=1, max_local_units=1, final_global_units=1)  # units: epochs
#: name -> (method, family model or None for the run's own model builder, model overrides, method keywords)
RUNS = {
    "stbp": ("stbp", None, {}, {}),
    "eihl": ("eihl", None, {}, {}),
    "ltmd": ("ltmd", "ltmd_mlp", {}, {}),
    "mlf": ("mlf", "mlf_dsresnet", dict(blocks=(1, 1), widths=(16, 32)), {}),
    "stmixer": ("stmixer", "stmixer", dict(dim=32, depth=2, heads=4, mlp_ratio=2.0), {}),
    "spide": ("spide", "spide_mlp", dict(hidden=(128, 64), steps=30, steps_back=250), {}),
    "eicil": ("eicil", "eicil_mlp", {}, {}),
}
ABLATIONS = {
    "ltmd_without_md": ("ltmd", "ltmd_mlp", dict(drop_rate=0.0), {}),
    "mlf_k1": ("mlf", "mlf_dsresnet", dict(blocks=(1, 1), widths=(16, 32), levels=1), {}),
    "stmixer_without_sml": ("stmixer", "stmixer", dict(dim=32, depth=2, heads=4, mlp_ratio=2.0, sml=False), {}),
    "spide_bptt": ("spide", "spide_mlp", dict(hidden=(128, 64), steps=30, steps_back=250), dict(gradient="bptt")),
    "eicil_without_inhibition": ("eicil", "eicil_mlp", dict(inhibitory=False), {}),
}


def run(name: str, dataset: str, data, seed: int, epochs: int, batches: int) -> dict:
    method_name, model_name, overrides, method_kw = {**RUNS, **ABLATIONS}[name]
    config = RunConfig(
        method=method_name,
        dataset=dataset,
        epochs=epochs,
        batch_size=BATCH,
        seed=seed,
        steps=STEPS,
        lr=LR,
        hidden=HIDDEN,
        max_batches=batches,
        **(EIHL_SETTINGS if method_name == "eihl" else {}),
    )
    torch.manual_seed(seed)
    if model_name is None:
        model = MODEL_BUILDERS[config.model](config, data.input_shape, data.num_classes)
    else:
        model = build_model(
            model_name, data.input_shape, data.num_classes, seed=seed, **{"hidden": HIDDEN, "steps": STEPS, **overrides}
        )
    trainer_kw = {"loss": config.loss, "encoder": "direct", "steps": STEPS, "seed": seed + 1, "device": "cpu"}
    method = METHODS[method_name](config, model, trainer_kw, **method_kw)
    gen = torch.Generator().manual_seed(seed + 2)
    loader = DataLoader(data.train, batch_size=BATCH, shuffle=True, generator=gen)
    limited = _Capped(loader, batches)
    times, phases = [], []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        _, counts = method.train_epoch(limited, epochs_left=epochs - epoch - 1)
        times.append(time.perf_counter() - t0)
        phases.append("+".join(p for p, n in counts.items() if n) or "none")
    trainer = method.trainer
    test = DataLoader(data.test, batch_size=256)
    with SpikeCounter(model) as counter:
        result = trainer.evaluate(_Counted(test, counter))
    return {
        "test_accuracy": result.accuracy,
        "spikes_per_sample": counter.per_sample,
        "seconds_per_epoch": statistics.fmean(times),
        "iterations": trainer.iteration,
        "parameters": sum(p.numel() for p in model.parameters()),
        "phases": phases,
        "sparsity": _sparsity(model),
    }


def _sparsity(model) -> float:
    from biosnn.models import masked_layers, sparsity

    return sparsity(model)["overall"] if any(True for _ in masked_layers(model)) else 0.0


class _Capped:
    def __init__(self, loader, n):
        self.loader, self.n = loader, n

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i >= self.n:
                return
            yield batch

    def __len__(self):
        return min(self.n, len(self.loader))


class _Counted:
    def __init__(self, loader, counter):
        self.loader, self.counter = loader, counter

    def __iter__(self):
        for x, y in self.loader:
            self.counter.add_samples(len(y))
            yield x, y


def spide_vs_bptt(data, seed: int) -> float:
    """Cosine similarity of SPIDE's spike-based gradient and BPTT through the rate equilibrium (one batch of
    64 at initialisation, float64, 30 forward / 250 backward steps, 60 equilibrium iterations)."""
    from biosnn.models.spide import rate_equilibrium, spide_train_loss

    torch.manual_seed(seed)
    net = build_model(
        "spide_mlp", data.input_shape, data.num_classes, hidden=(128, 64), steps=30, seed=seed, steps_back=250
    ).double()
    x, y = next(
        iter(DataLoader(data.train, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(seed)))
    )
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


def _row(name: str, rs: list[dict], stbp_time: float) -> dict:
    acc = [r["test_accuracy"] for r in rs]
    sec = statistics.fmean(r["seconds_per_epoch"] for r in rs)
    return {
        "method": name,
        "seeds": len(rs),
        "test_accuracy_mean": statistics.fmean(acc),
        "test_accuracy_std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
        "spikes_per_sample": statistics.fmean(r["spikes_per_sample"] for r in rs),
        "sparsity": statistics.fmean(r["sparsity"] for r in rs),
        "seconds_per_epoch": sec,
        "time_ratio_to_stbp": sec / stbp_time,
        "iterations": rs[0]["iterations"],
        "parameters": rs[0]["parameters"],
        "runs": rs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batches", type=int, default=23, help="batches per epoch (digits has 23 of 64)")
    ap.add_argument("--datasets", default="digits,waveform")
    ap.add_argument("--no-ablations", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "family_digits.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = list(RUNS) + ([] if args.no_ablations else list(ABLATIONS))
    t_start = time.perf_counter()
    result = {
        "epochs": args.epochs,
        "batches_per_epoch": args.batches,
        "batch_size": BATCH,
        "lr": LR,
        "steps": STEPS,
        "threads": 1,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "datasets": {},
    }
    for dataset in args.datasets.split(","):
        data = load_data(RunConfig(method="stbp", dataset=dataset))
        runs: dict[str, list[dict]] = {n: [] for n in names}
        for seed in range(args.seeds):
            for name in names:
                runs[name].append(run(name, dataset, data, seed, args.epochs, args.batches))
                r = runs[name][-1]
                print(
                    f"{dataset} seed {seed} {name:<25} acc {100 * r['test_accuracy']:6.2f} %  "
                    f"{r['seconds_per_epoch']:6.2f} s/epoch  {r['spikes_per_sample']:9.1f} spikes/sample",
                    flush=True,
                )
        stbp_time = statistics.fmean(r["seconds_per_epoch"] for r in runs["stbp"])
        rows = [_row(n, rs, stbp_time) for n, rs in runs.items()]
        cos = [spide_vs_bptt(data, s) for s in range(args.seeds)]
        result["datasets"][dataset] = {
            "classes": data.num_classes,
            "input_shape": list(data.input_shape),
            "train_size": len(data.train),
            "test_size": len(data.test),
            "rows": rows,
            "spide_vs_bptt_cosine": cos,
        }
        print(f"\n{dataset}: {args.seeds} seeds, {rows[0]['iterations']} iterations of {BATCH}, T = {STEPS}")
        print(f"{'method':<26} {'test acc (%)':>16} {'spikes/sample':>14} {'s/epoch':>8} {'x STBP':>7} {'sparsity':>8}")
        for row in rows:
            acc, std = 100 * row["test_accuracy_mean"], 100 * row["test_accuracy_std"]
            print(
                f"{row['method']:<26} {acc:>8.2f} +- {std:<4.2f} {row['spikes_per_sample']:>14.1f} "
                f"{row['seconds_per_epoch']:>8.2f} {row['time_ratio_to_stbp']:>7.2f} {100 * row['sparsity']:>7.1f}%"
            )
        print(f"SPIDE vs BPTT through the equilibrium, gradient cosine: {', '.join(f'{c:.3f}' for c in cos)}\n")
    result["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out} ({result['wall_seconds']} s)")


if __name__ == "__main__":
    main()
