"""The `biosnn` command line: train (results directory, resume, paper-scale smoke run), errors, commands."""

from __future__ import annotations

import json
import math
import shutil

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from biosnn.cli import main
from biosnn.learning.run import CHECKPOINT

FAST = ["--hidden", "16", "--epochs", "2", "--batch-size", "256", "--steps", "4", "--lr", "0.01", "--no-progress"]




def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_commands_are_listed():
    out = _invoke("--help").output
    for command in ("train", "demo", "circuit-demo"):
        assert command in out
    assert "--resume" in _invoke("train", "--help").output


def test_train_writes_a_results_directory(tmp_path):
    out = tmp_path / "run"
    result = _invoke("train", "--method", "eihl", *FAST, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "eihl mlp/digits: epoch 2, test accuracy" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == "eihl" and config["hidden"] == [16] and config["epochs"] == 2
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2]
    for column in ("phase", "loss", "train_accuracy", "test_accuracy", "sparsity", "sparsity/layers.0",
                   "sparsity/layers.1", "ei_balance", "firing_rate"):
        assert column in metrics.columns
    assert metrics["test_accuracy"].iloc[-1] > 0.3  # it learned something in two epochs (chance: 0.1)
    assert (out / CHECKPOINT).is_file()
    assert (out / "plots" / "training.png").stat().st_size > 10_000


def test_unknown_method_fails_cleanly(tmp_path):
    result = _invoke("train", "--method", "backprop", *FAST, "--out", str(tmp_path / "run"))
    assert result.exit_code == 1
    assert "unknown training method 'backprop'; known: eihl, local, stbp" in result.output
    assert not (tmp_path / "run").exists()


def test_missing_dataset_fails_cleanly(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _invoke("train", "--dataset", "mnist", "--data-root", str(tmp_path / "empty"), *FAST,
                     "--out", str(tmp_path / "run"))
    assert result.exit_code == 1
    assert "DatasetNotFoundError" in result.output and "mnist" in result.output.lower()
    assert not (tmp_path / "run").exists()


def test_existing_run_is_never_overwritten(tmp_path):
    out = tmp_path / "run"
    assert _invoke("train", "--method", "stbp", *FAST, "--out", str(out)).exit_code == 0
    before = _snapshot(out)
    result = _invoke("train", "--method", "stbp", *FAST, "--out", str(out))
    assert result.exit_code == 1 and "already holds a run" in result.output
    assert _snapshot(out) == before
    # resuming with a different model is refused too, naming the setting
    result = _invoke("train", "--resume", "--out", str(out), "--model", "vgg11")
    assert result.exit_code == 1 and "other settings (model)" in result.output
    assert _snapshot(out) == before


def test_checkpoint_from_another_model_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _invoke("train", "--method", "stbp", *FAST, "--out", str(a)).exit_code == 0
    assert _invoke("train", "--method", "stbp", *FAST[:1], "32", *FAST[2:], "--out", str(b)).exit_code == 0
    shutil.copy(a / CHECKPOINT, b / CHECKPOINT)  # a 64-16-10 checkpoint in a 64-32-10 run
    before = _snapshot(b)
    result = _invoke("train", "--resume", "--out", str(b), "--epochs", "3")
    assert result.exit_code == 1
    assert "CheckpointError" in result.output and "different model" in result.output
    assert _snapshot(b) == before


def test_resume_extends_a_finished_run(tmp_path):
    out = tmp_path / "run"
    assert _invoke("train", "--method", "stbp", *FAST, "--out", str(out)).exit_code == 0
    result = _invoke("train", "--resume", "--out", str(out), "--epochs", "3", "--no-progress")
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(out / "metrics.csv")["epoch"]) == [1, 2, 3]


def test_paper_scale_vgg11_dvs_cifar10_runs_on_synthetic_data(tmp_path):
    """Spiking VGG11 (full width, IF neurons) on 2x48x48 event frames with T=10: two EIHL iterations."""
    out = tmp_path / "vgg"
    result = _invoke("train", "--preset", "eihl_dvs_cifar10_synthetic", "--batch-size", "2", "--max-batches", "2",
                     "--epochs", "1", "--no-progress", "--out", str(out))
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert (config["model"], config["neuron"], config["steps"], config["dataset"]) == (
        "vgg11", "if", 10, "synthetic-dvs-cifar10")
    row = pd.read_csv(out / "metrics.csv").iloc[0]
    assert row["global_iterations"] == 2 and math.isfinite(row["loss"])
    assert sum(c.startswith("sparsity/features.") for c in row.index) == 8  # the eight convolutions
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert state["model"]["features.0.conv.weight"].shape == (64, 2, 3, 3)


@pytest.mark.slow
def test_paper_scale_vgg11_cifar10_runs_on_synthetic_data(tmp_path):
    out = tmp_path / "vgg"
    result = _invoke("train", "--model", "vgg11", "--dataset", "synthetic-cifar10", "--neuron", "if",
                     "--batch-size", "4", "--max-batches", "2", "--epochs", "2", "--no-progress", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(out / "metrics.csv")["epoch"]) == [1, 2]


def test_paper_preset_on_real_data_needs_the_files(tmp_path):
    result = _invoke("train", "--preset", "eihl_dvs_cifar10", "--data-root", str(tmp_path), "--no-progress",
                     "--out", str(tmp_path / "run"))
    assert result.exit_code == 1 and "DatasetNotFoundError" in result.output and "never downloads" in result.output
    assert not (tmp_path / "run").exists()
    result = _invoke("train", "--preset", "eihl_mnist")
    assert result.exit_code == 1 and "unknown preset 'eihl_mnist'" in result.output


def test_device_option_is_documented():
    help_text = " ".join(_invoke("train", "--help").output.split())
    assert "--device" in help_text
    for choice in ("cpu", "cuda", "cuda:<index>", "auto"):
        assert choice in help_text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_device_cuda_without_a_gpu_exits_1_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    result = _invoke("train", "--method", "stbp", *FAST, "--device", "cuda", "--out", str(out))
    assert result.exit_code == 1
    assert "ParameterError" in result.output and "no CUDA device is available" in result.output
    assert "--device cpu" in result.output
    assert not out.exists()


def test_unparsable_device_exits_1_naming_it(tmp_path):
    out = tmp_path / "run"
    result = _invoke("train", *FAST, "--device", "bogus", "--out", str(out))
    assert result.exit_code == 1
    assert "ParameterError" in result.output and "cannot parse device 'bogus'" in result.output
    assert not out.exists()


def test_resume_with_another_device_is_accepted(tmp_path):
    out = tmp_path / "run"
    assert _invoke("train", "--method", "stbp", *FAST, "--device", "cpu", "--out", str(out)).exit_code == 0
    result = _invoke("train", "--resume", "--out", str(out), "--epochs", "3", "--device", "auto", "--no-progress")
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(out / "metrics.csv")["epoch"]) == [1, 2, 3]
    assert json.loads((out / "config.json").read_text())["device"] == "cpu"  # the run's record is unchanged


def test_resume_with_more_epochs_records_them_in_config_json(tmp_path):
    out = tmp_path / "run"
    assert _invoke("train", "--method", "stbp", *FAST, "--out", str(out)).exit_code == 0
    result = _invoke("train", "--resume", "--out", str(out), "--epochs", "3", "--no-progress")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["epochs"] == 3
    # resuming a finished run with its own epoch count: nothing to do, said, exit 0, nothing written
    before = _snapshot(out)
    result = _invoke("train", "--resume", "--out", str(out), "--no-progress")
    assert result.exit_code == 0 and "nothing left to do" in result.output
    assert _snapshot(out) == before
    result = _invoke("train", "--resume", "--out", str(out), "--epochs", "2", "--no-progress")
    assert result.exit_code == 1 and "has already done 3 epochs" in result.output
    assert _snapshot(out) == before


def test_a_run_that_stopped_in_its_first_epoch_is_restarted(tmp_path):
    """A folder holding only config.json (and temporary files): --resume and a new run both start anew."""
    out = tmp_path / "run"
    assert _invoke("train", "--method", "stbp", *FAST, "--out", str(out)).exit_code == 0
    reference = torch.load(out / CHECKPOINT, weights_only=True)["model"]
    for folder in ("resumed", "new"):
        stopped = tmp_path / folder
        stopped.mkdir()
        shutil.copy(out / "config.json", stopped / "config.json")
        (stopped / ".metrics.csv.x1y2.tmp").write_text("half a file")
        args = ["--resume"] if folder == "resumed" else ["--method", "stbp", *FAST]
        result = _invoke("train", *args, "--out", str(stopped), "--no-progress")
        assert result.exit_code == 0, result.output
        assert "stopped before its first checkpoint: starting it from the beginning" in result.output
        assert not list(stopped.rglob("*.tmp"))
        state = torch.load(stopped / CHECKPOINT, weights_only=True)["model"]
        assert all(torch.equal(state[k], reference[k]) for k in reference)
    # but a folder with results and no config.json is never overwritten
    (out / "config.json").unlink()
    before = _snapshot(out)
    result = _invoke("train", "--method", "stbp", *FAST, "--out", str(out))
    assert result.exit_code == 1 and "already holds a run" in result.output
    assert _snapshot(out) == before


def test_help_documents_the_folder_rules_and_refused_options():
    help_text = " ".join(_invoke("train", "--help").output.split())
    for phrase in ("locked while a run uses it", "stopped before its first checkpoint", "nothing to do, exit 0",
                   "are refused", "exit status 1"):
        assert phrase in help_text, phrase
