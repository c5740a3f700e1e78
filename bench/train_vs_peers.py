"""Training speed: biosnn vs snnTorch vs SpikingJelly on the same spiking MLP, and an EIHL vs an STBP epoch.

Part 1 -- one BPTT training iteration of the same network in three libraries:
784-500-10 LIF (beta = 0.9, threshold 1, reset by subtraction, arctan surrogate with the same slope),
T = 25, batch 128, Adam (lr 1e-3), cross-entropy on output spike counts, on the CPU. All three start
from the same weights and see the same Poisson input. Each iteration is timed separately; the libraries
are interleaved round-robin (so a change in machine load hits all of them alike), after a warm-up, and
the median is reported. Reference: the faster peer, measured in the same run.

Part 2 -- one epoch of EIHL vs one epoch of STBP on the same network and batches (biosnn's trainer and
controller): a global EIHL epoch (STBP plus the controller's bookkeeping) and a local EIHL epoch
(contraction/removal), interleaved, median of several epochs. Reference: the STBP epoch.

Targets (issue 4): biosnn at least as fast per iteration as the faster peer; an EIHL epoch at most 10 %
slower than an STBP epoch. The threads used are stated (``--threads``, default torch's choice).

Run: ``.venv/bin/python bench/train_vs_peers.py`` (``--quick`` for fewer repetitions). Prints the ratios and
writes ``bench/results/train_vs_peers.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

SIZES, T, BATCH, BETA, LR = (784, 500, 10), 25, 128, 0.9, 1e-3
ATAN_ALPHA = 2.0  # snnTorch/SpikingJelly ATan(alpha=2): derivative 1 / (1 + (pi v)^2); biosnn width 1/pi


# ------------------------------------------------------------------------------------------ networks
def biosnn_net():
    from biosnn.models import SpikingMLP
    from biosnn.surrogate import Surrogate

    return SpikingMLP(
        SIZES, "lif", beta=BETA, threshold=1.0, reset="subtract", surrogate=Surrogate("arctan", width=1.0 / math.pi)
    )


class SnnTorchNet(nn.Module):
    def __init__(self):
        super().__init__()
        import snntorch
        from snntorch import surrogate

        self.fc1, self.fc2 = nn.Linear(SIZES[0], SIZES[1]), nn.Linear(SIZES[1], SIZES[2])
        grad = surrogate.atan(alpha=ATAN_ALPHA)
        self.lif1 = snntorch.Leaky(beta=BETA, threshold=1.0, spike_grad=grad, reset_mechanism="subtract")
        self.lif2 = snntorch.Leaky(beta=BETA, threshold=1.0, spike_grad=grad, reset_mechanism="subtract")

    def forward(self, x):
        m1, m2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = []
        for x_t in x:
            s1, m1 = self.lif1(self.fc1(x_t), m1)
            s2, m2 = self.lif2(self.fc2(s1), m2)
            out.append(s2)
        return torch.stack(out)


class SpikingJellyNet(nn.Module):
    """SpikingJelly multi-step LIF with decay_input=False and soft reset: v <- (1 - 1/tau) v + x."""

    def __init__(self):
        super().__init__()
        from spikingjelly.activation_based import layer, neuron, surrogate

        tau = 1.0 / (1.0 - BETA)
        kw = dict(
            tau=tau,
            decay_input=False,
            v_threshold=1.0,
            v_reset=None,
            surrogate_function=surrogate.ATan(alpha=ATAN_ALPHA),
            step_mode="m",
        )
        self.fc1 = layer.Linear(SIZES[0], SIZES[1], step_mode="m")
        self.fc2 = layer.Linear(SIZES[1], SIZES[2], step_mode="m")
        self.lif1, self.lif2 = neuron.LIFNode(**kw), neuron.LIFNode(**kw)

    def forward(self, x):
        from spikingjelly.activation_based import functional

        functional.reset_net(self)
        return self.lif2(self.fc2(self.lif1(self.fc1(x))))


def _copy_weights(src, dst_fc1, dst_fc2):
    with torch.no_grad():
        for s, d in ((src.layers[0], dst_fc1), (src.layers[1], dst_fc2)):
            d.weight.copy_(s.weight)
            d.bias.copy_(s.bias)


# ------------------------------------------------------------------------------------------- part 1
def bench_peers(reps: int, warmup: int) -> dict:
    from biosnn.learning.trainer import Trainer

    torch.manual_seed(0)
    x = (torch.rand(T, BATCH, SIZES[0]) < 0.2).float()
    y = torch.randint(0, SIZES[-1], (BATCH,))
    ref = biosnn_net()
    stn, sjn = SnnTorchNet(), SpikingJellyNet()
    _copy_weights(ref, stn.fc1, stn.fc2)
    _copy_weights(ref, sjn.fc1, sjn.fc2)
    trainer = Trainer(ref, torch.optim.Adam(ref.parameters(), lr=LR), encoder=None, steps=T)

    def peer_step(net, opt):
        def step():
            loss = F.cross_entropy(net(x).sum(0), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return step

    steps = {
        "biosnn": lambda: trainer.train_step(x, y),
        "snntorch": peer_step(stn, torch.optim.Adam(stn.parameters(), lr=LR)),
        "spikingjelly": peer_step(sjn, torch.optim.Adam(sjn.parameters(), lr=LR)),
    }
    # same forward on the same weights: the three agree on the output spikes before training
    with torch.no_grad():
        agree = {k: float((net(x) == ref(x)).float().mean()) for k, net in (("snntorch", stn), ("spikingjelly", sjn))}
    times = {k: [] for k in steps}
    for i in range(warmup + reps):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            dt = time.perf_counter() - t0
            if i >= warmup:
                times[name].append(dt)
    med = {k: statistics.median(v) for k, v in times.items()}
    faster_peer = min(("snntorch", "spikingjelly"), key=lambda k: med[k])
    return {
        "median_s_per_iteration": med,
        "all_s": times,
        "output_spike_agreement_with_biosnn": agree,
        "faster_peer": faster_peer,
        "ratio_biosnn_over_faster_peer": med["biosnn"] / med[faster_peer],
        "target_met": med["biosnn"] <= med[faster_peer],
    }


# ------------------------------------------------------------------------------------------- part 2
def bench_eihl_epoch(reps: int, batches: int) -> dict:
    from biosnn.learning.eihl import EIHLController
    from biosnn.learning.policies import AlternatePolicy
    from biosnn.learning.trainer import Trainer

    torch.manual_seed(1)
    data = [((torch.rand(T, BATCH, SIZES[0]) < 0.2).float(), torch.randint(0, 10, (BATCH,))) for _ in range(batches)]
    base = biosnn_net()
    stbp_net, eihl_net = copy.deepcopy(base), copy.deepcopy(base)
    stbp = Trainer(stbp_net, torch.optim.Adam(stbp_net.parameters(), lr=LR), encoder=None, steps=T)
    eihl_trainer = Trainer(eihl_net, torch.optim.Adam(eihl_net.parameters(), lr=LR), encoder=None, steps=T)
    # a policy that stays global: every EIHL epoch timed here is a global (excitation) epoch
    ctl = EIHLController(eihl_trainer, policy=AlternatePolicy(global_units=10**9, local_units=1))
    local_net = copy.deepcopy(base)
    local_ctl = EIHLController(
        Trainer(local_net, torch.optim.Adam(local_net.parameters(), lr=LR), encoder=None, steps=T),
        policy=AlternatePolicy(global_units=1, local_units=10**9),
        start_phase="local",
    )
    runs = {
        "stbp": lambda: stbp.train_epoch(data),
        "eihl_global": lambda: ctl.train_epoch(data),
        "eihl_local": lambda: local_ctl.train_epoch(data),
    }
    for run in runs.values():  # warm-up
        run()
    times = {k: [] for k in runs}
    for _ in range(reps):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "batches_per_epoch": batches,
        "median_s_per_epoch": med,
        "all_s": times,
        "ratio_eihl_global_over_stbp": med["eihl_global"] / med["stbp"],
        "ratio_eihl_local_over_stbp": med["eihl_local"] / med["stbp"],
        "target_met": med["eihl_global"] <= 1.10 * med["stbp"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    reps, warmup, epochs, batches = (5, 2, 3, 4) if args.quick else (15, 3, 5, 8)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    peers = bench_peers(reps, warmup)
    med = peers["median_s_per_iteration"]
    print(f"one BPTT iteration, 784-500-10 LIF, T={T}, batch {BATCH}, Adam (median of {reps}):")
    for name, s in med.items():
        print(f"  {name:<13} {1000 * s:8.1f} ms")
    print(
        f"  biosnn / {peers['faster_peer']} = {peers['ratio_biosnn_over_faster_peer']:.3f} "
        f"(target <= 1: {'met' if peers['target_met'] else 'NOT met'})"
    )
    print(f"  output spikes equal to biosnn's before training: {peers['output_spike_agreement_with_biosnn']}")
    epoch = bench_eihl_epoch(epochs, batches)
    med = epoch["median_s_per_epoch"]
    print(
        f"one epoch of {batches} batches (median of {epochs}): STBP {med['stbp']:.3f} s, EIHL global "
        f"{med['eihl_global']:.3f} s, EIHL local {med['eihl_local']:.3f} s"
    )
    print(
        f"  EIHL global / STBP = {epoch['ratio_eihl_global_over_stbp']:.3f} (target <= 1.10: "
        f"{'met' if epoch['target_met'] else 'NOT met'}); EIHL local / STBP = {epoch['ratio_eihl_local_over_stbp']:.3f}"
    )
    out = Path(__file__).resolve().parent / "results" / "train_vs_peers.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "T": T,
                "batch": BATCH,
                "sizes": SIZES,
                "peers": peers,
                "epoch": epoch,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {out}")


if __name__ == "__main__":
    main()
