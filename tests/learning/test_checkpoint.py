"""Checkpoints: atomic, checked on load, and complete enough to resume bit for bit (even after SIGKILL)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from biosnn.errors import CheckpointError, NonFiniteError
from biosnn.learning.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from biosnn.learning.run import CHECKPOINT, DataBundle, RunConfig, load_data, train
from biosnn.models import SpikingMLP

REPO = Path(__file__).resolve().parents[2]

# A small, fast EIHL run on digits that goes through global and local periods within a few epochs.
SMALL = RunConfig(method="eihl", hidden=(32,), epochs=5, batch_size=128, steps=4, encoder="poisson",
                  global_units=1, max_local_units=1, final_global_units=1)




def _same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _without_time(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_save_is_atomic_and_load_checks_the_file(tmp_path):
    model = SpikingMLP((8, 4, 2))
    path = save_checkpoint(tmp_path / "c.pt", {"epoch": 3}, model=model)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left behind
    state = load_checkpoint(path, model=SpikingMLP((8, 4, 2)))
    assert state["epoch"] == 3
    # a truncated file (as a kill during a non-atomic write would leave) is refused, naming the file
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt.*truncated or corrupt"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a biosnn checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_for_another_model_is_refused_and_the_model_untouched(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {}, model=SpikingMLP((8, 4, 2)))
    other = SpikingMLP((8, 5, 2))
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(CheckpointError, match="different model.*layers.0"):
        load_checkpoint(path, model=other)
    _same_weights(before, other.state_dict())
    with pytest.raises(CheckpointError, match="different config"):
        save_checkpoint(tmp_path / "d.pt", {"config": {"lr": 1}})
        load_checkpoint(tmp_path / "d.pt", expect={"config": {"lr": 2}})


def test_rng_state_round_trip():
    state = rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    data = load_data(SMALL)
    full = train(SMALL, out_dir=tmp_path / "full", data=data, plot=False)
    train(SMALL, out_dir=tmp_path / "part", data=data, plot=False, stop_after=2)
    resumed = train(SMALL, out_dir=tmp_path / "part", resume=True, data=data, plot=False)
    assert resumed.resumed_from == 2
    assert {"global", "local"} <= {row["phase"] for row in full.history}  # both periods were crossed
    _same_weights(full.model.state_dict(), resumed.model.state_dict())
    assert _without_time(full.history) == _without_time(resumed.history)
    full_metrics = (tmp_path / "full" / "metrics.csv").read_text().splitlines()
    part_metrics = (tmp_path / "part" / "metrics.csv").read_text().splitlines()
    assert len(full_metrics) == len(part_metrics) == SMALL.epochs + 1


def test_sigkilled_cli_run_resumes_to_the_same_weights(tmp_path):
    """A real kill: `biosnn train` killed with SIGKILL mid-run, then --resume, equals an uninterrupted run."""
    args = [sys.executable, "-m", "biosnn", "train", "--method", "eihl", "--hidden", "32", "--epochs", "6",
            "--batch-size", "128", "--steps", "4", "--encoder", "poisson", "--global-units", "1",
            "--max-local-units", "1", "--final-global-units", "1", "--no-progress", "--threads", "1"]
    env = dict(os.environ, MPLBACKEND="Agg")
    subprocess.run([*args, "--out", str(tmp_path / "full")], check=True, env=env, cwd=tmp_path,
                   capture_output=True, timeout=300)
    run = tmp_path / "killed"
    proc = subprocess.Popen([*args, "--out", str(run)], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (run / CHECKPOINT).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL  # it was killed, not finished
    epoch_at_kill = torch.load(run / CHECKPOINT, weights_only=False)["epoch"]
    assert 1 <= epoch_at_kill < 6
    subprocess.run([*args, "--out", str(run), "--resume"], check=True, env=env, cwd=tmp_path,
                   capture_output=True, timeout=300)
    a = torch.load(tmp_path / "full" / CHECKPOINT, weights_only=False)
    b = torch.load(run / CHECKPOINT, weights_only=False)
    assert a["epoch"] == b["epoch"] == 6
    _same_weights(a["model"], b["model"])
    assert _without_time(a["history"]) == _without_time(b["history"])
    for key in ("x",):
        for n in a["method"]["controller"][key]:
            assert torch.equal(a["method"]["controller"][key][n], b["method"]["controller"][key][n])


def test_nan_loss_stops_the_run_and_keeps_earlier_results(tmp_path):
    # no hidden layer and direct coding, so a NaN pixel reaches the readout membrane and the loss
    config = SMALL.replace(method="stbp", hidden=(), encoder="direct", loss="membrane_ce", epochs=1)
    data = load_data(config)
    out = tmp_path / "run"
    train(config, out_dir=out, data=data, plot=False)
    files = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    x = torch.stack([x for x, _ in data.train])
    x[:, 0, 0, 0] = float("nan")
    labels = torch.tensor([y for _, y in data.train])
    poisoned = DataBundle(torch.utils.data.TensorDataset(x, labels), data.test, data.input_shape,
                          data.num_classes, data.steps, data.encoder)
    with pytest.raises(NonFiniteError, match="NaN|nan"):
        train(config.replace(epochs=2), out_dir=out, resume=True, data=poisoned, plot=False)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == files
