"""EIHL's local period learns from activity, the global period regrows, and the switching test decides.

Issue 10, points 1 and 2: x differs between synapses, the removed set is not magnitude pruning's, the
"Curr S >= Pre S" test comes out both ways, and the controller's own defaults end near STBP on digits.
The digits runs use the demo's network (64-256-10 LIF, Poisson coding, T = 12, batch 64, Adam 2e-3).
"""

from __future__ import annotations

import pytest
import torch
from biosnn.plasticity.eihl_contraction import EIHLConfig, depression_drive, regrowth
from torch.utils.data import DataLoader, TensorDataset

from biosnn.errors import ParameterError
from biosnn.learning.eihl import DECISION_COLUMNS, EIHLController
from biosnn.learning.policies import AlternatePolicy
from biosnn.learning.trainer import Trainer
from biosnn.models import SpikingMLP


@pytest.fixture(scope="module")
def digits():
    from biosnn.data import load_dataset

    return load_dataset("digits", train=True), load_dataset("digits", train=False)


def _digits_run(digits, seed, method, epochs=20):
    train_set, test_set = digits
    torch.manual_seed(seed)
    model = SpikingMLP((64, 256, 10))
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=2e-3), encoder="poisson", steps=12, seed=seed + 1)
    loader = DataLoader(train_set, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(seed + 2))
    test_loader = DataLoader(test_set, batch_size=256)
    if method == "stbp":
        return trainer.fit(loader, epochs=epochs, test_loader=test_loader)[-1]["test_accuracy"], None
    ctl = EIHLController(trainer)  # every setting at its default
    return ctl.fit(loader, epochs=epochs, test_loader=test_loader)[-1]["test_accuracy"], ctl


def test_depression_drive_and_regrowth_functions():
    mask = torch.tensor([[True, True, False], [True, True, True]])
    L = torch.tensor([[1.0, 3.0, 7.0], [0.0, 2.0, 4.0]], dtype=torch.float64)
    D = depression_drive(L, mask)
    assert D[mask].mean().item() == pytest.approx(1.0) and D[0, 2] == 0
    assert D[0, 1] / D[0, 0] == pytest.approx(3.0)
    assert torch.all(depression_drive(torch.zeros_like(L), mask) == 0)  # a silent layer: no drive
    G = torch.tensor([[1.0, -1.0, -50.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    assert regrowth(mask, G, ratio=10.0, max_fraction=1.0).tolist() == [[False, False, True], [False] * 3]
    assert not regrowth(mask, G, ratio=60.0, max_fraction=1.0).any()
    assert not regrowth(mask, G, ratio=10.0, max_fraction=0.5).any()  # floor(0.5 * 1 removed) = 0
    with pytest.raises(ParameterError, match="granularity"):
        EIHLConfig(granularity="batch")
    with pytest.raises(ParameterError, match="min_local_units"):
        EIHLConfig(min_local_units=0)


def test_safe_defaults_give_a_local_period_and_end_global():
    """Any run of >= 2 epochs with the defaults has a local period and ends with a global one."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 16, generator=g)
    y = (x[:, :8].sum(1) > x[:, 8:].sum(1)).long()
    for epochs in (2, 3):
        torch.manual_seed(0)
        model = SpikingMLP((16, 24, 2))
        trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), encoder="poisson", steps=6)
        ctl = EIHLController(trainer)
        loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(1))
        history = ctl.fit(loader, epochs=epochs)
        assert sum(r["local_iterations"] for r in history) > 0
        assert ctl.phase == "global" and ctl.decisions[-1]["phase_after"] == "global"
        assert ctl.decisions[-1]["phase_before"] == "global"  # the last unit itself was global
        assert set(ctl.decisions[0]) == set(DECISION_COLUMNS)


def test_local_period_is_activity_driven_not_magnitude_pruning(digits):
    """After one global epoch, a local period: x differs between present synapses, and the removed set
    overlaps magnitude pruning's (same count per layer, from the weights at the period's start) < 90 %."""
    train_set, _ = digits
    torch.manual_seed(0)
    model = SpikingMLP((64, 256, 10))
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=2e-3), encoder="poisson", steps=12, seed=1)
    ctl = EIHLController(trainer)
    loader = DataLoader(train_set, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(2))
    ctl._resolve_policy(len(loader))  # as train_epoch does: the default global period is one epoch
    batches = iter(loader)
    start = None
    for _ in range(200):
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        before = ctl.phase
        ctl.step(x, y)
        ctl._decide(1000)
        if before == "global" and ctl.phase == "local":
            start = {n: (m.weight.detach().abs().clone(), m.mask.clone()) for n, m in ctl.layers.items()}
        if before == "local" and ctl.phase == "global":
            break
    assert start is not None and ctl.phase == "global" and ctl.local_iterations >= ctl.config.min_local_units
    inter = total = 0
    for n, m in ctl.layers.items():
        present = m.mask
        assert torch.unique(ctl.x[n][present]).numel() > 100  # per-synapse, not one value per layer
        w0, m0 = start[n]
        removed = m0 & ~present
        k = int(removed.sum())
        if k == 0:
            continue
        score = torch.where(m0, w0, torch.full_like(w0, float("inf"))).flatten()
        magnitude = torch.zeros(score.numel(), dtype=torch.bool)
        magnitude[torch.topk(-score, k).indices] = True
        inter += int((magnitude.view_as(m0) & removed).sum())
        total += k
    assert total > 0
    assert inter / total < 0.9, f"overlap with magnitude pruning {inter / total:.3f}"


def test_defaults_on_digits_match_stbp_and_switching_decides(digits):
    """EIHLController(trainer) with its defaults, 20 epochs on digits: within 2 points of STBP; the switching
    test comes out both ways, sparsity falls as well as rises, and the schedule is no fixed alternation."""
    stbp, _ = _digits_run(digits, 0, "stbp")
    eihl, ctl = _digits_run(digits, 0, "eihl")
    assert eihl >= stbp - 0.02, (eihl, stbp)
    glob = [d for d in ctl.decisions if d["phase_before"] == "global" and d["test"] == "Curr S >= Pre S"]
    assert any(d["test_result"] for d in glob) and not all(d["test_result"] for d in glob)
    assert ctl.regrown_total > 0 and ctl.sparsity()["overall"] > 0.1
    sp = [d["sparsity"] for d in ctl.decisions]
    assert any(b < a for a, b in zip(sp, sp[1:])) and any(b > a for a, b in zip(sp, sp[1:]))
    # period lengths (in iterations) of the schedule; a fixed alternation has one global and one local length
    runs, phase, n = [], ctl.decisions[0]["phase_before"], 0
    for d in ctl.decisions:
        n += 1
        if d["phase_after"] != phase:
            runs.append((phase, n))
            phase, n = d["phase_after"], 0
    inner_global = {n for p, n in runs[1:] if p == "global"}  # complete global periods after the first
    local = {n for p, n in runs if p == "local"}
    assert len(inner_global) > 1 or len(local) > 1, runs


def test_defaults_are_safe_on_a_small_network_and_a_short_run(digits):
    """The scale where the earlier defaults failed (64 hidden, 5 epochs: EIHL 48.1 % vs STBP 94.4 %, each
    local period dropped accuracy to ~13 %): with EIHLConfig's defaults, over 5 seeds, EIHL's mean test
    accuracy is within 2 points of STBP's at >= 15 % mean sparsity, and no local period silences the net."""
    train_set, test_set = digits
    test_loader = DataLoader(test_set, batch_size=256)
    eihl, stbp, sparsity, worst = [], [], [], []
    for seed in range(5):
        for method in ("stbp", "eihl"):
            torch.manual_seed(seed)
            model = SpikingMLP((64, 64, 10))
            trainer = Trainer(
                model, torch.optim.Adam(model.parameters(), lr=2e-3), encoder="poisson", steps=12, seed=seed + 1
            )
            loader = DataLoader(
                train_set, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(seed + 2)
            )
            if method == "stbp":
                stbp.append(trainer.fit(loader, epochs=5, test_loader=test_loader)[-1]["test_accuracy"])
                continue
            ctl = EIHLController(trainer)
            history = ctl.fit(loader, epochs=5, test_loader=test_loader)
            eihl.append(history[-1]["test_accuracy"])
            sparsity.append(history[-1]["sparsity"])
            worst.append(min(r["test_accuracy"] for r in history[1:]))
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    assert mean(eihl) >= mean(stbp) - 0.02, (eihl, stbp)
    assert mean(sparsity) >= 0.15, sparsity
    assert min(worst) > 0.8, worst  # after the first epoch no epoch ends below 80 % (it was ~13 %)


def test_decisions_are_written_as_csv(tmp_path):
    torch.manual_seed(0)
    model = SpikingMLP((16, 24, 2))
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), encoder="poisson", steps=4)
    ctl = EIHLController(trainer, policy=AlternatePolicy(global_units=1, local_units=1), granularity="epoch")
    x = torch.rand(32, 16, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(x, (x[:, 0] > 0.5).long()), batch_size=8)
    ctl.fit(loader, epochs=3)
    path = ctl.write_decisions(tmp_path / "decisions.csv")
    lines = path.read_text().splitlines()
    assert lines[0].split(",") == list(DECISION_COLUMNS) and len(lines) == 4
    assert [d["phase_before"] for d in ctl.decisions] == ["global", "local", "global"]


def test_run_reads_eihl_config_defaults_and_writes_decisions(tmp_path):
    """RunConfig's EIHL settings default to EIHLConfig's; a run writes decisions.csv (every decision)."""
    import csv
    import dataclasses

    from biosnn.plasticity.eihl_contraction import EIHLConfig

    from biosnn.learning.run import RunConfig, eihl_config, train

    default = EIHLConfig()
    built = eihl_config(RunConfig())
    for f in dataclasses.fields(EIHLConfig):
        assert getattr(built, f.name) == getattr(default, f.name), f.name
    with pytest.raises(ParameterError, match="global_units"):
        eihl_config(RunConfig(method="eihl", global_units=0))
    config = RunConfig(method="eihl", hidden=(16,), epochs=2, batch_size=256, steps=4, encoder="poisson", seed=0)
    result = train(config, out_dir=tmp_path / "run", plot=False)
    rows = list(csv.DictReader(open(tmp_path / "run" / "decisions.csv")))
    assert list(rows[0]) == list(DECISION_COLUMNS)
    batches = sum(r["global_iterations"] + r["local_iterations"] for r in result.history)
    assert len(rows) == batches  # iteration granularity: one decision per batch
    assert {r["phase_before"] for r in rows} == {"global", "local"} and rows[-1]["phase_after"] == "global"


def test_synaptic_operations_count_spikes_times_fan_out():
    """SynOps by hand: a linear layer with a mask, input spikes given; and a conv layer's mean fan-out."""
    from biosnn.learning.metrics import SynapticOps
    from biosnn.models import MaskedConv2d, MaskedLinear

    layer = MaskedLinear(3, 2, bias=False)
    with torch.no_grad():
        layer.mask.copy_(torch.tensor([[True, False, True], [True, False, False]]))  # fan-out 2, 0, 1
    model = torch.nn.Sequential(layer)
    x = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]])  # [T=2, B=2, 3]
    with SynapticOps(model) as ops:
        model(x)
    # events per input: 2, 2, 2 -> 2*2 + 2*0 + 2*1 = 6 operations over 2 samples
    assert ops.samples == 2 and ops.per_sample == pytest.approx(3.0)
    conv = MaskedConv2d(1, 2, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.mask.zero_()
        conv.mask[0, 0, 1, 1] = True  # one synapse: each input position drives one output
    folded = torch.nn.Sequential(torch.nn.Flatten(0, 1), conv)
    with SynapticOps(folded) as ops:
        folded(torch.ones(1, 4, 1, 5, 5))  # [T=1, B=4, C, H, W]
    assert ops.samples == 4 and ops.per_sample == pytest.approx(25.0)


def test_the_controller_holds_one_local_update_owner_of_x():
    from biosnn.learning.local import LocalUpdate

    torch.manual_seed(0)
    model = SpikingMLP((16, 24, 2))
    ctl = EIHLController(Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), encoder="poisson", steps=4))
    assert isinstance(ctl.contraction, LocalUpdate)
    ctl.pending_decay = 3
    assert ctl.contraction.pending_decay == 3 and ctl.x is ctl.contraction.x  # one owner, no copies
