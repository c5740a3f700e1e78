"""bench/twin_scaling.py at its smallest setting: the JSON it writes has every figure, and the figures agree.

The script runs in a subprocess, as a user runs it (tiny N, one B, 10 ms of biological time, no
cpp_standalone); the standalone path (a full C++ build, about 45 s here) is checked behind ``slow``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "twin_scaling.py"


def _run(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "scaling.json"
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(SCRIPT), "--ns", "200", "--batches", "2", "--batch-n", "200", "--duration", "0.01"]
    cmd += ["--repeats", "1", "--networks", "CUBA", "--out", str(out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text())


def _check_common(res: dict) -> dict:
    for key in ("duration_s", "ns", "batches", "batch_n", "k_syn", "cpu", "load_average_start", "torch", "brian2"):
        assert key in res, key
    assert res["ns"] == [200] and res["batches"] == [2] and res["duration_s"] == 0.01
    assert res["brainpy"].startswith(("no --brainpy-python", "CUBA at the standalone sizes"))
    net = res["networks"]["CUBA"]
    (row,) = net["scaling_n"]
    assert row["n"] == 200 and row["p"] == pytest.approx(80 / 200)
    for key in ("brian2_cython_run_s", "twin_as_called_run_s", "twin_no_grad_run_s", "twin_build_s"):
        assert row[key] > 0, key
    assert row["brian2_cython_1ms_run_s (per-run fixed cost)"] > 0
    assert row["twin_as_called_requires_grad"] is False  # nothing in CUBA is learnable
    # the same network from the same state: the twin's two single-trial paths spike identically, and it spikes
    assert row["spikes"]["twin_as_called"] == row["spikes"]["twin_no_grad"] > 0
    for engine, s in row["per_bio_s"].items():
        assert s > 0, engine
    assert row["ratios"]["brian2_cython / twin_as_called"] == pytest.approx(
        row["brian2_cython_run_s"] / row["twin_as_called_run_s"]
    )
    (brow,) = [r for r in net["scaling_b"] if r["threads"] == 1]
    assert brow["batch"] == 2 and brow["per_trial_s"] == pytest.approx(brow["run_s"] / 2) and brow["run_s"] > 0
    assert brow["ratios_per_trial"]["brian2_cython / twin_per_trial"] == pytest.approx(
        row["brian2_cython_run_s"] / brow["per_trial_s"]
    )
    assert net["summary"]["best_batch"] == 2
    return row


def test_scaling_bench_smallest_setting(tmp_path: Path) -> None:
    res = _run(tmp_path, "--no-standalone", "--threads", "1,2")
    row = _check_common(res)
    assert res["threads"] == [1, 2][: os.cpu_count() or 1]  # thread counts above the CPU count are left out
    assert sorted(r["threads"] for r in res["networks"]["CUBA"]["scaling_b"]) == res["threads"]
    assert "brian2_standalone" not in row and res["standalone_ns"] == []
    png = tmp_path / "scaling.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_scaling_bench_standalone(tmp_path: Path) -> None:
    res = _run(tmp_path, "--standalone-ns", "200", "--no-plot", "--threads", "1")
    row = _check_common(res)
    sa = row["brian2_standalone"]
    assert "error" not in sa, sa.get("error")
    assert 0 < sa["run_s"] < sa["build_and_run_s"]
    assert sa["timers"]["compile.make"] > 0
    assert row["ratios"]["brian2_standalone_run / twin_as_called"] == pytest.approx(
        sa["run_s"] / row["twin_as_called_run_s"]
    )
    # C++ and Cython both take exp from the C library: the same network spikes the same in both
    assert sa["spikes"] == row["spikes"]["brian2_cython"] > 0


@pytest.mark.skipif(not os.environ.get("BIOSNN_BRAINPY_PYTHON"), reason="no BrainPy interpreter (see brainpy_cuba.py)")
def test_scaling_bench_brainpy(tmp_path: Path) -> None:
    res = _run(tmp_path, "--no-standalone", "--standalone-ns", "200", "--no-plot", "--threads", "1")
    row = res["networks"]["CUBA"]["scaling_n"][0]
    bp = row["brainpy"]
    assert "error" not in bp, bp.get("error")
    assert bp["run_s"] > 0 and bp["spikes"] > 0 and bp["n"] == 200
    assert row["ratios"]["brainpy_run / twin_as_called"] == pytest.approx(bp["run_s"] / row["twin_as_called_run_s"])
