"""Bad input to training runs: every error a user can cause is a one-line message, and nothing on disk changes.

One table (``ROWS``): an id, what the input did before this table existed (``before``: CLEAR = a one-line
message naming the problem; UNCLEAR = a raw traceback, a message that does not say what is wrong, or an
error only once training had started; SILENT = accepted and ignored or wrong without a word; DATA-LOSS =
earlier results overwritten or mixed), how to provoke it, what is expected now (an exit status for the
command line, an error class for the library), a phrase the message must contain, and whether everything
on disk must stay as it was. Every row is CLEAR now. The ``before`` column was measured against the code
before the fixes (the commit before ``e5436e8``) with the same inputs; :func:`test_table_counts` keeps the
counts in one place.

Command-line rows run in-process through click's ``CliRunner``; two (``seed-negative-subprocess`` and
``nmnist-corrupt-subprocess``) run as real ``python -m biosnn train`` processes, where Brian2's exception
hook would print its banner for an uncaught error.
"""

from __future__ import annotations

import collections
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from biosnn.cli import main
from biosnn.errors import BiosnnError, CheckpointError, NonFiniteError, ParameterError, RunFolderError
from biosnn.learning.checkpoint import load_checkpoint
from biosnn.learning.run import LOCK, RunConfig, train

FAST = ["--hidden", "16", "--epochs", "1", "--batch-size", "512", "--steps", "2", "--no-progress"]
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Row:
    id: str
    before: str  # CLEAR / UNCLEAR / SILENT / DATA-LOSS
    provoke: Callable  # tmp_path -> CLI args (list) | a callable raising the error
    expect: int | type  # exit status (CLI rows) or error class (library rows)
    phrase: str  # the message must contain this
    unchanged: bool = True  # nothing under tmp_path changed (files and their bytes)
    subprocess: bool = False


# ------------------------------------------------------------------------------------------ set-ups
def _train(*args: str) -> Callable:
    return lambda tmp: ["train", *FAST, "--out", str(tmp / "run"), *args]


def _corrupt_cifar(tmp: Path) -> list[str]:
    (tmp / "data").mkdir()
    (tmp / "data" / "cifar-10-python.tar.gz").write_bytes(b"garbage" * 10)
    return ["train", *FAST, "--dataset", "cifar10", "--data-root", str(tmp / "data"), "--out", str(tmp / "run")]


def _corrupt_nmnist(tmp: Path) -> list[str]:
    for split in ("Train", "Test"):
        folder = tmp / "data" / "NMNIST" / split / "0"
        folder.mkdir(parents=True)
        (folder / "good.bin").write_bytes(bytes([3, 4, 0x80, 0, 10]) * 20)  # 20 whole 5-byte events
        (folder / "zbad.bin").write_bytes(b"\x01\x02\x03")  # 3 bytes: truncated (read second: mid-epoch before)
    return [
        "train",
        *FAST,
        "--dataset",
        "nmnist",
        "--data-root",
        str(tmp / "data"),
        "--batch-size",
        "1",
        "--out",
        str(tmp / "run"),
    ]


def _corrupt_aedat(tmp: Path) -> list[str]:
    for name in ("airplane", "automobile"):
        folder = tmp / "data" / "CIFAR10DVS" / name
        folder.mkdir(parents=True)
        for k in range(2):
            (folder / f"{k}.aedat").write_bytes(b"junk")
    return ["train", *FAST, "--dataset", "dvs_cifar10", "--data-root", str(tmp / "data"), "--out", str(tmp / "run")]


def _unwritable(tmp: Path) -> list[str]:
    (tmp / "a-file").write_text("not a folder")
    return ["train", *FAST, "--out", str(tmp / "a-file" / "run")]


_FINISHED: dict[str, Path] = {}


def _finished_run(tmp: Path) -> Path:
    """A copy of one finished 2-epoch run (trained once per session) at ``tmp/run``."""
    if "run" not in _FINISHED:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="biosnn-finished-")) / "run"
        result = CliRunner().invoke(
            main,
            ["train", "--method", "stbp", *FAST[:2], "--epochs", "2", *FAST[4:], "--out", str(folder)],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        _FINISHED["run"] = folder
    shutil.copytree(_FINISHED["run"], tmp / "run")
    return tmp / "run"


def _resume(*args: str) -> Callable:
    def provoke(tmp: Path) -> list[str]:
        out = _finished_run(tmp)
        return ["train", "--resume", "--no-progress", "--out", str(out), *args]

    return provoke


def _broken_config(tmp: Path) -> list[str]:
    out = _finished_run(tmp)
    (out / "config.json").write_text("[1, 2")
    return ["train", "--resume", "--no-progress", "--out", str(out)]


def _results_without_config(tmp: Path) -> list[str]:
    out = _finished_run(tmp)
    (out / "config.json").unlink()
    return ["train", "--method", "stbp", *FAST, "--out", str(out)]


_HELD: list[int] = []


def _locked(tmp: Path) -> list[str]:
    out = tmp / "run"
    out.mkdir()
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run holds the folder (flock: per open file)
    _HELD.append(fd)
    return ["train", *FAST, "--out", str(out)]


def _crafted_checkpoint(tmp: Path) -> Callable:
    marker = tmp / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))  # unpickling would create the file

    path = tmp / "last.pt"
    torch.save({"format": "biosnn-checkpoint-2", "payload": Payload()}, path)

    def provoke():
        try:
            load_checkpoint(path)
        finally:
            assert not marker.exists(), "the crafted checkpoint ran code"

    return provoke


def _py(f: Callable[[Path], object]) -> Callable:
    return lambda tmp: lambda: f(tmp)


def _digits(**kw) -> Callable:
    from biosnn.data import load_dataset

    return _py(lambda tmp: load_dataset("digits", **kw))


def _demo(**kw) -> Callable:
    from biosnn.demo import run_demo

    return _py(lambda tmp: run_demo(epochs=1, echo=lambda *a: None, **kw))


def _diverging_resume(tmp: Path) -> Callable:
    """SGD at lr 3e38 stays finite for two epochs and diverges in the third: the epoch-2 results stay."""
    config = RunConfig(
        method="stbp", hidden=(16,), epochs=4, batch_size=256, steps=4, lr=3e38, optimizer="sgd", max_batches=2
    )
    train(config, out_dir=tmp / "run", plot=False, stop_after=2)
    return lambda: train(config, out_dir=tmp / "run", resume=True, plot=False)


def _demo_under_a_file(tmp: Path) -> Callable:
    """Before: the demo trained, then failed writing its table with a raw NotADirectoryError."""
    from biosnn.demo import run_demo

    (tmp / "a-file").write_text("x")
    return lambda: run_demo(seeds=1, epochs=1, methods=("stbp",), out_dir=tmp / "a-file" / "out", echo=lambda *a: None)


def _train_under_a_file(tmp: Path) -> Callable:
    (tmp / "a-file").write_text("x")
    config = RunConfig(method="stbp", hidden=(8,), epochs=1, batch_size=512, steps=2)
    return lambda: train(config, out_dir=tmp / "a-file" / "run", plot=False)


# ------------------------------------------------------------------------------------------- the table
ROWS = [
    # numbers out of range
    Row("seed-negative", "UNCLEAR", _train("--seed", "-1"), 2, "'--seed': -1 is not in the range"),
    Row("seed-too-large", "UNCLEAR", _train("--seed", str(2**40)), 2, "'--seed'"),
    Row("seed-negative-subprocess", "UNCLEAR", _train("--seed", "-1"), 2, "'--seed'", subprocess=True),
    Row("threads-zero", "UNCLEAR", _train("--threads", "0"), 2, "'--threads': 0 is not in the range"),
    Row("lr-inf", "SILENT", _train("--lr", "inf"), 1, "run setting 'lr' must be a finite number"),
    Row("lr-nan", "CLEAR", _train("--lr", "nan"), 1, "run setting 'lr' must be a finite number"),
    Row("weight-decay-inf", "SILENT", _train("--weight-decay", "inf"), 1, "'weight_decay' must be a finite number"),
    Row(
        "local-lr-inf",
        "UNCLEAR",
        _train("--method", "local", "--local-lr", "inf"),
        1,
        "'local_lr' must be a finite number",
    ),
    Row(
        "lr-overflows-adam",
        "UNCLEAR",
        _train("--method", "stbp", "--lr", "1e38"),
        1,
        "optimiser step of iteration 0 overflowed",
        unchanged=False,
    ),
    Row(
        "weight-decay-diverges-sgd",
        "SILENT",
        _train("--method", "stbp", "--optimizer", "sgd", "--weight-decay", "1e30"),
        1,
        "training diverged in epoch 1: parameter 'layers.0.weight' holds NaN or infinite values after the "
        "optimiser step of iteration 1",
        unchanged=False,
    ),
    Row(
        "diverges-in-epoch-3-keeps-checkpoint",
        "SILENT",
        _diverging_resume,
        NonFiniteError,
        "training diverged in epoch 3: parameter 'layers.1.bias' holds NaN or infinite values",
    ),
    Row("steps-zero", "CLEAR", _train("--steps", "0"), 1, "'steps' must be a positive integer"),
    Row("batch-size-zero", "CLEAR", _train("--batch-size", "0"), 1, "'batch_size' must be a positive integer"),
    Row("hidden-empty-piece", "SILENT", _train("--hidden", "16,,32"), 2, "expected comma-separated integers"),
    Row("out-empty", "SILENT", lambda tmp: ["train", *FAST, "--out", ""], 2, "expected a folder name"),
    Row(
        "steps-vs-synthetic-frames",
        "UNCLEAR",
        lambda tmp: [
            "train",
            "--no-progress",
            "--epochs",
            "1",
            "--dataset",
            "synthetic-dvs-cifar10",
            "--model",
            "vgg11",
            "--steps",
            "5",
            "--out",
            str(tmp / "run"),
        ],
        1,
        "holds 10 frames per sample; steps = 5 does not match",
    ),
    Row(
        "local-with-vgg11",
        "UNCLEAR",
        lambda tmp: [
            "train",
            "--no-progress",
            "--epochs",
            "1",
            "--method",
            "local",
            "--model",
            "vgg11",
            "--dataset",
            "synthetic-cifar10",
            "--out",
            str(tmp / "run"),
        ],
        1,
        "the local-only method runs its plasticity rule on the mlp and competitive_mlp models' layers only",
    ),
    Row(
        "competitive-rule-on-plain-mlp",
        "CLEAR",
        _train("--method", "local", "--local-rule", "stdp_competitive"),
        1,
        "local_rule 'stdp_competitive' and model 'competitive_mlp' go together",
    ),
    Row(
        "competitive-mlp-with-stbp",
        "CLEAR",
        _train("--method", "stbp", "--model", "competitive_mlp"),
        1,
        "model 'competitive_mlp' learns locally only",
    ),
    Row("hidden-negative", "CLEAR", _train("--hidden", "-3"), 1, "'hidden' must hold positive layer widths"),
    Row("hidden-empty", "SILENT", _train("--hidden", ""), 2, "at least one hidden layer width"),
    Row("max-sparsity-above-1", "CLEAR", _train("--max-sparsity", "2"), 1, "'max_sparsity' must lie in [0, 1]"),
    # names
    Row("method-unknown", "CLEAR", _train("--method", "backprop"), 1, "unknown training method 'backprop'"),
    Row("encoder-unknown", "CLEAR", _train("--encoder", "bogus"), 1, "unknown encoder 'bogus'"),
    Row("dataset-unknown", "CLEAR", _train("--dataset", "bogus"), 1, "unknown data set 'bogus'"),
    Row(
        "local-rule-unknown",
        "CLEAR",
        _train("--method", "local", "--local-rule", "bogus"),
        1,
        "unknown plasticity rule 'bogus'",
    ),
    # options that do not apply (stored and ignored before)
    Row("width-with-mlp", "SILENT", _train("--width", "2"), 1, "'width' (2.0) applies to the vgg11 and resnet"),
    Row("size-on-digits", "SILENT", _train("--size", "4"), 1, "'size' (4) applies to on-disk event data sets"),
    Row(
        "local-rule-with-stbp",
        "SILENT",
        _train("--method", "stbp", "--local-rule", "stdp_additive"),
        1,
        "local_rule applies to the local-only method",
    ),
    Row(
        "local-epochs-with-stbp",
        "SILENT",
        _train("--method", "stbp", "--local-epochs", "2"),
        1,
        "local_epochs applies to the local-only method",
    ),
    Row(
        "x-growth-with-stbp",
        "SILENT",
        _train("--method", "stbp", "--x-growth", "0.5"),
        1,
        "x_growth applies to the eihl method",
    ),
    Row(
        "local-units-with-global-only",
        "SILENT",
        _train("--policy", "global_only", "--max-local-units", "3"),
        1,
        "max_local_units is not used by the 'global_only' switching policy",
    ),
    Row(
        "data-root-with-digits",
        "SILENT",
        _train("--data-root", "/nonexistent"),
        1,
        "data_root applies to data sets read from disk",
    ),
    Row(
        "hidden-with-vgg11",
        "SILENT",
        _train("--model", "vgg11", "--dataset", "synthetic-cifar10"),
        1,
        "hidden applies to the mlp and competitive_mlp models",
    ),
    # combinations that failed at the first step, after files were written
    Row(
        "local-with-direct-coding",
        "UNCLEAR",
        _train("--method", "local", "--encoder", "direct"),
        1,
        "the local-only method needs 0/1 input spikes",
    ),
    Row(
        "frames-encoder-on-digits",
        "UNCLEAR",
        _train("--encoder", "frames"),
        1,
        "the 'frames' encoder is for event data",
    ),
    Row(
        "direct-on-event-data",
        "UNCLEAR",
        lambda tmp: [
            "train",
            "--no-progress",
            "--epochs",
            "1",
            "--dataset",
            "synthetic-dvs-cifar10",
            "--model",
            "vgg11",
            "--encoder",
            "direct",
            "--out",
            str(tmp / "run"),
        ],
        1,
        "holds event frames: its encoder is 'frames', not 'direct'",
    ),
    # files
    Row("out-under-a-file", "UNCLEAR", _unwritable, 1, "is not a directory"),
    Row("cifar-archive-corrupt", "UNCLEAR", _corrupt_cifar, 1, "cifar-10-python.tar.gz' is corrupt or truncated"),
    Row("nmnist-bin-corrupt", "UNCLEAR", _corrupt_nmnist, 1, "zbad.bin' is corrupt or truncated: 3 bytes"),
    Row(
        "nmnist-corrupt-subprocess",
        "UNCLEAR",
        _corrupt_nmnist,
        1,
        "not a whole number of 5-byte events",
        subprocess=True,
    ),
    Row("aedat-corrupt", "UNCLEAR", _corrupt_aedat, 1, "0.aedat' is not an AER-DAT file"),
    # results folders
    Row("results-without-config", "DATA-LOSS", _results_without_config, 1, "already holds a run (metrics.csv"),
    Row("folder-in-use", "DATA-LOSS", _locked, 1, "is in use by another biosnn run"),
    Row("resume-fewer-epochs", "SILENT", _resume("--epochs", "1"), 1, "has already done 2 epochs"),
    Row("resume-same-epochs", "SILENT", _resume("--epochs", "2"), 0, "nothing left to do"),
    Row("resume-other-lr", "CLEAR", _resume("--lr", "0.5"), 1, "other settings (lr)"),
    Row(
        "resume-with-preset", "SILENT", _resume("--preset", "eihl_cifar10"), 2, "--preset does not apply with --resume"
    ),
    Row(
        "resume-nothing-there",
        "CLEAR",
        lambda tmp: ["train", "--resume", "--out", str(tmp / "nothing")],
        1,
        "nothing to resume in",
    ),
    Row("resume-config-not-json", "CLEAR", _broken_config, 1, "cannot read the run configuration"),
    Row("resume-without-out", "CLEAR", lambda tmp: ["train", "--resume"], 2, "--resume needs --out"),
    Row(
        "crafted-checkpoint",
        "SILENT",
        _crafted_checkpoint,
        CheckpointError,
        "holds objects other than tensors and plain containers",
        unchanged=False,
    ),
    # library calls
    Row(
        "load-dataset-train-string",
        "SILENT",
        _digits(train="false"),
        ParameterError,
        "'train' must be True (training split) or False",
    ),
    Row("load-dataset-md5-string", "SILENT", _digits(check_md5="no"), ParameterError, "'check_md5' must be True"),
    Row(
        "load-dataset-split-seed-negative",
        "UNCLEAR",
        _digits(split_seed=-1),
        ParameterError,
        "'split_seed' must be a non-negative integer",
    ),
    Row(
        "runconfig-seed-negative",
        "UNCLEAR",
        _py(lambda tmp: RunConfig(seed=-1)),
        ParameterError,
        "'seed' must be an integer in [0, 4294967295]",
    ),
    Row(
        "runconfig-dale-string",
        "SILENT",
        _py(lambda tmp: RunConfig(dale="yes")),
        ParameterError,
        "'dale' must be True or False",
    ),
    Row(
        "runconfig-hidden-letters",
        "UNCLEAR",
        _py(lambda tmp: RunConfig(hidden=("a",))),
        ParameterError,
        "'hidden' must be a sequence of positive integers",
    ),
    Row("train-out-under-a-file", "UNCLEAR", _train_under_a_file, RunFolderError, "is not a directory"),
    Row("demo-seeds-zero", "UNCLEAR", _demo(seeds=0), ParameterError, "'seeds' must be a positive integer"),
    Row("demo-no-methods", "SILENT", _demo(seeds=1, methods=()), ParameterError, "at least one training method"),
    Row("demo-threads-zero", "UNCLEAR", _demo(seeds=1, threads=0), ParameterError, "'threads' must be a positive"),
    Row("demo-out-under-a-file", "UNCLEAR", _demo_under_a_file, RunFolderError, "is not a directory"),
    Row("demo-cli-seeds-zero", "UNCLEAR", lambda tmp: ["demo", "--seeds", "0"], 2, "'--seeds': 0 is not in the range"),
    Row("demo-cli-threads-zero", "UNCLEAR", lambda tmp: ["demo", "--threads", "0"], 2, "'--threads'"),
]


def _snapshot(folder: Path) -> dict:
    return {p: (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_gives_one_clear_line(row: Row, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        provoked = row.provoke(tmp_path)
        before = _snapshot(tmp_path)
        if isinstance(provoked, list):
            if row.subprocess:
                env = dict(os.environ, MPLBACKEND="Agg")
                proc = subprocess.run(
                    [sys.executable, "-m", "biosnn", *provoked],
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=tmp_path,
                    timeout=300,
                )
                code, output = proc.returncode, proc.stdout + proc.stderr
            else:
                result = CliRunner().invoke(main, provoked)
                assert result.exception is None or isinstance(result.exception, SystemExit), (
                    f"uncaught {type(result.exception).__name__}: {result.exception}"
                )
                code, output = result.exit_code, result.output
            assert code == row.expect, output
            assert row.phrase in " ".join(output.split()), output
            assert "Traceback" not in output and "Brian 2 encountered" not in output, output
            errors = [line for line in output.splitlines() if line.startswith("Error:")]
            assert len(errors) == (1 if code else 0), output  # one line says what is wrong
        else:
            with pytest.raises(row.expect) as info:
                provoked()
            assert isinstance(info.value, BiosnnError)
            message = str(info.value)
            assert row.phrase in message and "\n" not in message, message
        if row.unchanged:
            assert _snapshot(tmp_path) == before, "files changed"
    finally:
        while _HELD:
            os.close(_HELD.pop())


def test_table_counts():
    """The categories before the fixes (the closing note counts them); every row is CLEAR now."""
    counts = collections.Counter(r.before for r in ROWS)
    assert set(counts) <= {"CLEAR", "UNCLEAR", "SILENT", "DATA-LOSS"}
    assert len({r.id for r in ROWS}) == len(ROWS)
    print(dict(counts), "of", len(ROWS))
    assert counts["UNCLEAR"] + counts["SILENT"] + counts["DATA-LOSS"] >= 30
