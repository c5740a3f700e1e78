"""Real kills: `biosnn train` SIGKILLed at ten moments, then `--resume`, ends bit-identical to an uninterrupted run.

The moments are chosen with a seeded RNG among every point of a tiny EIHL run on digits (3 epochs of 4
batches: global, local, global): its training batches (at least one in the first epoch, before any
checkpoint exists), and each kind of file write (config, checkpoint, metrics CSV, plot), before the write,
with the complete temporary file not yet renamed, or just after the rename. The process kills itself at
that exact point through the documented test hook ``BIOSNN_TEST_KILL_AT`` (see
:mod:`biosnn.learning.checkpoint`). After every kill the documented recipe is the same: the same command
with ``--resume`` (from the checkpoint; from the beginning when the run stopped before its first one). Every
case must end with the uninterrupted run's weights (``torch.equal``), history, metrics CSV and config,
the plot drawn, and no temporary file left.

The killed runs are real subprocesses; the resumes run in-process through click's ``CliRunner`` (the same
command, ``--threads 1`` as the subprocesses), which keeps the file well under 90 s of CPU time. A second
test starts a run, stops it mid-epoch (``SIGSTOP`` through the same hook), starts a second run on the same
folder (it must exit 1 naming the lock and change nothing), and lets the first one finish bit-identical
to the uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from biosnn.cli import main
from biosnn.learning.checkpoint import KILL_ENV
from biosnn.learning.run import CHECKPOINT, folder_state

ARGS = [
    "--method",
    "eihl",
    "--hidden",
    "16",
    "--epochs",
    "3",
    "--batch-size",
    "360",
    "--steps",
    "4",
    "--encoder",
    "poisson",
    "--global-units",
    "1",
    "--max-local-units",
    "1",
    "--final-global-units",
    "1",
    "--granularity",
    "epoch",
    "--threads",
    "1",
    "--no-progress",
]
EPOCHS, BATCHES = 3, 4  # digits: 1437 training images in batches of 360
PHASES = ("before", "tmp", "after")


def _choose_cases(n: int = 10, seed: int = 20261203) -> list[str]:
    """``n`` kill points ``kind:k:phase``: one per kind of write, one batch of the first epoch, the rest random."""
    rng = random.Random(seed)
    writes = {"config": 1, "checkpoint": EPOCHS, "metrics": EPOCHS + 1, "plot": 1}  # metrics: per epoch + final
    every = [f"batch:{b}:before" for b in range(1, EPOCHS * BATCHES + 1)]
    every += [f"{kind}:{k}:{p}" for kind, count in writes.items() for k in range(1, count + 1) for p in PHASES]
    cases = [f"batch:{rng.randint(1, BATCHES)}:before"]
    cases += [f"{kind}:{rng.randint(1, count)}:{rng.choice(PHASES)}" for kind, count in writes.items()]
    while len(cases) < n:
        point = rng.choice(every)
        if point not in cases:
            cases.append(point)
    return cases


CASES = _choose_cases()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    env.update(MPLBACKEND="Agg", **extra)
    return env


def _run(out: Path, *more: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "biosnn", "train", *ARGS, "--out", str(out), *more],
        env=_env(**env),
        cwd=out.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _load(out: Path) -> dict:
    return torch.load(out / CHECKPOINT, weights_only=True)


def _without_seconds(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def _csv_rows(out: Path) -> list[dict]:
    return _without_seconds(list(csv.DictReader(io.StringIO((out / "metrics.csv").read_text()))))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kill") / "uninterrupted"
    proc = _run(out)
    assert proc.returncode == 0, proc.stderr
    return out


def _assert_same_run(out: Path, reference: Path) -> None:
    a, b = _load(reference), _load(out)
    assert a["epoch"] == b["epoch"] == EPOCHS
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for name, x in a["method"]["controller"]["x"].items():
        assert torch.equal(x, b["method"]["controller"]["x"][name]), name
    assert _without_seconds(a["history"]) == _without_seconds(b["history"])
    assert _csv_rows(out) == _csv_rows(reference)
    assert (out / "config.json").read_bytes() == (reference / "config.json").read_bytes()
    assert (out / "plots" / "training.png").stat().st_size > 10_000
    assert not list(out.rglob("*.tmp")), "temporary files left behind"
    mode = 0o666 & ~_umask()
    for f in ("config.json", "metrics.csv", "checkpoints/last.pt", "plots/training.png"):
        assert (out / f).stat().st_mode & 0o777 == mode, f


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("point", CASES)
def test_killed_run_resumes_to_the_uninterrupted_weights(point, reference, tmp_path):
    out = tmp_path / "run"
    killed = _run(out, **{KILL_ENV: point})
    assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr[-2000:])
    state = folder_state(out)
    epoch = _load(out)["epoch"] if (out / CHECKPOINT).is_file() else 0
    temporary = len(list(out.rglob("*.tmp")))
    result = CliRunner().invoke(main, ["train", *ARGS, "--out", str(out), "--resume"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    if epoch == 0:
        assert "starting it from the beginning" in result.output
    elif epoch == EPOCHS:
        assert "nothing left to do" in result.output
    _assert_same_run(out, reference)
    outcome = "restarted" if epoch == 0 else "completed files" if epoch == EPOCHS else f"resumed from epoch {epoch}"
    print(
        f"KILL {point:<22} state {state:<8} checkpoint epoch {epoch}  temp files {temporary}  -> {outcome}, "
        f"bit-identical"
    )


def test_second_run_on_a_folder_in_use_exits_1_and_touches_nothing(reference, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    first = subprocess.Popen(
        [sys.executable, "-m", "biosnn", "train", *ARGS, "--out", str(out)],
        env=_env(**{KILL_ENV: "batch:2:before:STOP"}),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _, status = os.waitpid(first.pid, os.WUNTRACED)  # stopped in its first epoch, holding the lock
        assert os.WIFSTOPPED(status), status
        before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        second = _run(out)  # a real second process on the same folder
        assert second.returncode == 1, second.stderr
        errors = [line for line in second.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "is in use by another biosnn run" in errors[0], second.stderr
        assert "Traceback" not in second.stderr
        again = CliRunner().invoke(main, ["train", *ARGS, "--out", str(out), "--resume"])
        assert again.exit_code == 1 and "is in use by another biosnn run" in again.output, again.output
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    finally:
        os.kill(first.pid, signal.SIGCONT)
        first.wait(timeout=600)
    assert first.returncode == 0, first.stderr.read().decode()[-2000:]
    _assert_same_run(out, reference)
