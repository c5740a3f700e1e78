"""The `biosnn` command line: train (results directory, resume, paper-scale smoke run), errors, commands."""

from __future__ import annotations

import dataclasses
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
    for column in (
        "phase",
        "loss",
        "train_accuracy",
        "test_accuracy",
        "sparsity",
        "sparsity/layers.0",
        "sparsity/layers.1",
        "ei_balance",
        "firing_rate",
    ):
        assert column in metrics.columns
    assert metrics["test_accuracy"].iloc[-1] > 0.3  # it learned something in two epochs (chance: 0.1)
    assert (out / CHECKPOINT).is_file()
    assert (out / "plots" / "training.png").stat().st_size > 10_000


def test_unknown_method_fails_cleanly(tmp_path):
    result = _invoke("train", "--method", "backprop", *FAST, "--out", str(tmp_path / "run"))
    assert result.exit_code == 1
    from biosnn.learning.run import METHODS

    assert f"unknown training method 'backprop'; known: {', '.join(sorted(METHODS))}" in result.output
    assert not (tmp_path / "run").exists()


def test_missing_dataset_fails_cleanly(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _invoke(
        "train", "--dataset", "mnist", "--data-root", str(tmp_path / "empty"), *FAST, "--out", str(tmp_path / "run")
    )
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
    result = _invoke(
        "train",
        "--preset",
        "eihl_dvs_cifar10_synthetic",
        "--batch-size",
        "2",
        "--max-batches",
        "2",
        "--epochs",
        "1",
        "--no-progress",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert (config["model"], config["neuron"], config["steps"], config["dataset"]) == (
        "vgg11",
        "if",
        10,
        "synthetic-dvs-cifar10",
    )
    row = pd.read_csv(out / "metrics.csv").iloc[0]
    assert row["global_iterations"] == 2 and math.isfinite(row["loss"])
    assert sum(c.startswith("sparsity/features.") for c in row.index) == 8  # the eight convolutions
    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert state["model"]["features.0.conv.weight"].shape == (64, 2, 3, 3)


@pytest.mark.slow
def test_paper_scale_vgg11_cifar10_runs_on_synthetic_data(tmp_path):
    out = tmp_path / "vgg"
    result = _invoke(
        "train",
        "--model",
        "vgg11",
        "--dataset",
        "synthetic-cifar10",
        "--neuron",
        "if",
        "--batch-size",
        "4",
        "--max-batches",
        "2",
        "--epochs",
        "2",
        "--no-progress",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(out / "metrics.csv")["epoch"]) == [1, 2]


def test_paper_preset_on_real_data_needs_the_files(tmp_path):
    result = _invoke(
        "train",
        "--preset",
        "eihl_dvs_cifar10",
        "--data-root",
        str(tmp_path),
        "--no-progress",
        "--out",
        str(tmp_path / "run"),
    )
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
    for phrase in (
        "locked while a run uses it",
        "stopped before its first checkpoint",
        "nothing to do, exit 0",
        "are refused",
        "exit status 1",
    ):
        assert phrase in help_text, phrase


# ------------------------------------------------------------------ issue 13 section 4: help, threads, progress
def _unwrap(text: str) -> str:
    """Help text with its line wrapping undone (click may wrap after a hyphen)."""
    import re

    return re.sub(r"-\s+", "-", " ".join(text.split()))


def _help_words(*args: str) -> str:
    return _unwrap(_invoke(*args, "--help").output)


def _option_helps(*args: str) -> dict[str, str]:
    """Each option's entry in the help (``"--lr"`` -> its unwrapped text), from click's option list."""
    import re

    options = _invoke(*args, "--help").output.split("\nOptions:\n", 1)[1]
    entries = re.split(r"\n  (?=-)", "\n" + options)
    return {e.split()[0].rstrip(","): _unwrap(e) for e in entries if e.strip()}


def test_train_help_lists_every_registry_name_and_every_default():
    from biosnn.plasticity import RULES

    from biosnn.data import DATASETS, ENCODERS
    from biosnn.learning.eihl import GRANULARITIES
    from biosnn.learning.losses import LOSSES
    from biosnn.learning.policies import SWITCHING_POLICIES
    from biosnn.learning.run import (
        METHODS,
        MODEL_BUILDERS,
        OPTIMIZERS,
        PRESETS,
        SYNTHETIC_DATASETS,
        RunConfig,
        layer_rules,
    )
    from biosnn.models import NEURONS

    text = _help_words("train")
    helps = _option_helps("train")
    registries = {
        "--preset": PRESETS,
        "--method": METHODS,
        "--model": MODEL_BUILDERS,
        "--dataset": [*DATASETS, *SYNTHETIC_DATASETS],
        "--encoder": ENCODERS,
        "--loss": LOSSES,
        "--optimizer": OPTIMIZERS,
        "--neuron": NEURONS,
        "--policy": SWITCHING_POLICIES,
        "--granularity": GRANULARITIES,
        "--local-rule": layer_rules(),
    }
    for option, names in registries.items():
        part = helps[option]
        for name in names:
            assert f" {name}," in part or f" {name}." in part, (option, name, part)
    assert "frames" in helps["--encoder"]
    # only the rules that can run on layers are offered (clopath has no layer update)
    assert "clopath" in RULES and "clopath" not in layer_rules()
    assert "clopath" not in helps["--local-rule"]
    for f in dataclasses.fields(RunConfig):
        option = "--" + f.name.replace("_", "-")
        if f.default is None or option not in text:
            continue
        shown = (
            ("--dale" if f.default else "--no-dale")
            if isinstance(f.default, bool)
            else ",".join(map(str, f.default))
            if isinstance(f.default, tuple)
            else str(f.default)
        )
        assert f"[default: {shown}]" in helps[option], (option, shown)
    for option in ("--lr", "--loss", "--optimizer", "--a", "--b", "--x-growth", "--tau-x", "--local-rule"):
        assert "[default: " in helps[option], option
    for phrase in ("BIOSNN_DATA_DIR", "BIOSNN_CACHE_DIR", "package.module:factory"):
        assert phrase in text
    assert "[default: $BIOSNN_DATA_DIR when set, else ./data]" in helps["--data-root"]
    assert "1 for the mlp model" in helps["--threads"]


def test_top_level_help_does_not_import_torch_or_brian2():
    import subprocess
    import sys

    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom biosnn.cli import main\n"
        "r = CliRunner().invoke(main, ['--help'])\nassert r.exit_code == 0 and 'train' in r.output\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'brian2', 'matplotlib'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_local_rule_without_a_layer_update_is_refused_at_set_up(tmp_path):
    result = _invoke("train", "--method", "local", *FAST, "--local-rule", "clopath", "--out", str(tmp_path / "r"))
    assert result.exit_code == 1
    assert "plasticity rule 'clopath' has no update for PyTorch layers" in result.output
    assert "rules that have one: eihl_contraction, istdp_vogels, stdp_additive" in result.output
    assert not (tmp_path / "r").exists()
    result = _invoke("train", "--method", "local", *FAST, "--local-rule", "bogus", "--out", str(tmp_path / "r"))
    assert result.exit_code == 1 and "unknown plasticity rule 'bogus'" in result.output
    assert "clopath" not in result.output


FACTORY = '''
"""A user's data set: three Gaussian clusters in 16 dimensions (a real, learnable set)."""
import json, os
import torch
from torch.utils.data import TensorDataset

from biosnn.learning import DataBundle


def _clusters(seed, n):
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand((3, 16), generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    x = (centres[y] + 0.05 * torch.randn((n, 16), generator=g)).clamp(0, 1)
    return x, y


def make(config):
    with open(os.environ["FACTORY_LOG"], "a") as log:  # what the run looked like when it called us
        log.write(json.dumps({"threads": torch.get_num_threads(), "seed": config.seed}) + "\\n")
    x, y = _clusters(config.seed, 400)
    return {"train": TensorDataset(x[:300], y[:300]), "test": TensorDataset(x[300:], y[300:]),
            "input_shape": (16,), "num_classes": 3, "steps": 4}


def make_bundle(config):
    x, y = _clusters(config.seed, 200)
    return DataBundle(TensorDataset(x[:150], y[:150]), TensorDataset(x[150:], y[150:]), (16,), 3, 4, "direct")


def wrong_type(config):
    return [1, 2, 3]


def wrong_shape(config):
    x, y = _clusters(config.seed, 40)
    return {"train": TensorDataset(x, y), "test": TensorDataset(x, y), "input_shape": (4, 4), "num_classes": 3}


def missing_key(config):
    return {"train": None, "test": None, "input_shape": (16,)}


NOT_CALLABLE = 3
'''


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    """A data-set factory module written into tmp_path and put on sys.path (a unique name per test)."""
    import uuid

    name = f"user_data_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("FACTORY_LOG", str(tmp_path / "factory.log"))
    return name


def test_custom_dataset_factory_trains_from_the_command_line(tmp_path, factory_module, monkeypatch):
    out = tmp_path / "run"
    result = _invoke(
        "train",
        "--method",
        "stbp",
        "--dataset",
        f"{factory_module}:make",
        "--hidden",
        "32",
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--lr",
        "0.01",
        "--no-progress",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["test_accuracy"].iloc[-1] > 0.8  # three well-separated clusters (chance: 1/3)
    assert json.loads((out / "config.json").read_text())["dataset"] == f"{factory_module}:make"
    calls = [json.loads(line) for line in (tmp_path / "factory.log").read_text().splitlines()]
    assert calls == [{"threads": 1, "seed": 0}]  # the mlp's default thread count is set before the data load
    # --resume calls the factory again and continues the same run
    result = _invoke("train", "--resume", "--out", str(out), "--epochs", "4", "--no-progress")
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(out / "metrics.csv")["epoch"]) == [1, 2, 3, 4]
    # --threads overrides the default; the default run folder names the factory without a colon
    monkeypatch.chdir(tmp_path)
    result = _invoke(
        "train",
        "--method",
        "stbp",
        "--dataset",
        f"{factory_module}:make",
        "--epochs",
        "1",
        "--threads",
        "2",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert f"runs/stbp-mlp-{factory_module}.make-seed0" in result.output
    assert json.loads((tmp_path / "factory.log").read_text().splitlines()[-1])["threads"] == 2


def test_custom_dataset_through_the_python_api(factory_module):
    from biosnn.learning import DataBundle, RunConfig, load_data, train

    config = RunConfig(
        method="stbp", dataset=f"{factory_module}:make_bundle", hidden=(16,), epochs=3, lr=0.01, batch_size=16
    )
    bundle = load_data(config)
    assert isinstance(bundle, DataBundle) and bundle.input_shape == (16,) and bundle.num_classes == 3
    assert len(bundle.train) == 150 and bundle.steps == 4 and bundle.encoder == "direct"
    result = train(config)
    assert result.final["test_accuracy"] > 0.6
    local = RunConfig(method="local", dataset=f"{factory_module}:make", hidden=(16,), epochs=1)
    assert train(local).history[0]["local_iterations"] > 0  # static data coded as Poisson spikes for the rule


@pytest.mark.parametrize(
    "reference, message",
    [
        ("no_such_module_xyz:make", "cannot import module 'no_such_module_xyz'"),
        ("{m}:absent", "has no attribute 'absent' (its callables: "),
        ("{m}:NOT_CALLABLE", "'NOT_CALLABLE' in '{m}' is a int, not a callable"),
        ("{m}:", "a custom data set is given as 'package.module:factory'"),
        ("{m}:wrong_type", "the factory returned a list; it must return a biosnn.learning.DataBundle or a mapping"),
        ("{m}:missing_key", "the factory returned a mapping without num_classes"),
        ("{m}:wrong_shape", "a training sample has shape (16,), but input_shape (4, 4) says (4, 4)"),
    ],
)
def test_custom_dataset_errors_name_the_problem(tmp_path, factory_module, reference, message):
    reference, message = reference.format(m=factory_module), message.format(m=factory_module)
    out = tmp_path / "run"
    result = _invoke(
        "train", "--method", "stbp", "--dataset", reference, "--epochs", "1", "--no-progress", "--out", str(out)
    )
    assert result.exit_code == 1, result.output
    assert "ParameterError" in result.output and message in " ".join(result.output.split()), result.output
    assert not (out / "metrics.csv").exists()


def test_progress_shows_the_set_up_and_every_batch_and_no_progress_silences_it(tmp_path):
    args = ["train", "--method", "stbp", "--hidden", "16", "--epochs", "2", "--batch-size", "256", "--steps", "4"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert "biosnn: loading data set digits ..." in err and "biosnn: building model mlp (stbp) on cpu ..." in err
    assert err.index("loading data set") < err.index("building model") < err.index("batch")
    from biosnn.learning import RunConfig, load_data

    batches = 2 * math.ceil(len(load_data(RunConfig()).train) / 256)  # every batch of both epochs counted
    assert "epoch 2/2" in err and f"{batches}/{batches} [" in err
    assert "test_acc=" in err
    quiet = CliRunner().invoke(main, [*args, "--no-progress", "--out", str(tmp_path / "b")], catch_exceptions=False)
    assert quiet.exit_code == 0 and quiet.stderr == ""
