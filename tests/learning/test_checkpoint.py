"""Checkpoints: atomic, checked on load, and complete enough to resume bit for bit (even after SIGKILL)."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
import torch

from biosnn.errors import CheckpointError, NonFiniteError, ParameterError
from biosnn.learning.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from biosnn.learning.run import CHECKPOINT, DataBundle, RunConfig, load_data, train
from biosnn.learning.trainer import resolve_device
from biosnn.models import SpikingMLP

# A small, fast EIHL run on digits that goes through global and local periods within a few epochs.
SMALL = RunConfig(
    method="eihl",
    hidden=(32,),
    epochs=5,
    batch_size=128,
    steps=4,
    encoder="poisson",
    granularity="epoch",
    global_units=1,
    max_local_units=1,
    final_global_units=1,
)


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
    poisoned = DataBundle(
        torch.utils.data.TensorDataset(x, labels),
        data.test,
        data.input_shape,
        data.num_classes,
        data.steps,
        data.encoder,
    )
    with pytest.raises(NonFiniteError, match="NaN|nan"):
        train(config.replace(epochs=2), out_dir=out, resume=True, data=poisoned, plot=False)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == files


# ---------------------------------------------------------------------------------------------- device
TINY = RunConfig(method="eihl", hidden=(16,), epochs=1, batch_size=256, steps=4, lr=0.01)


def test_default_device_is_cpu_and_a_short_run_trains_there(tmp_path):
    assert RunConfig().device == "cpu" and TINY.device == "cpu"
    result = train(TINY, out_dir=tmp_path / "run", plot=False)
    assert result.device == torch.device("cpu")
    assert all(t.device.type == "cpu" for t in result.model.state_dict().values())
    assert result.final["test_accuracy"] > 0.1  # better than chance (0.1) after one epoch
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert state["device"] == "cpu" and "device" not in state["config"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["device"] == "cpu"


def test_auto_device_resolves_to_cpu_without_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"  # CI and this machine: no GPU, so "cpu"
    assert resolve_device("auto").type == expected
    result = train(TINY.replace(device="auto"), plot=False)
    assert result.device.type == expected
    assert next(result.model.parameters()).device.type == expected
    assert result.config.device == "auto"  # the setting is kept as given; the result says where it ran


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_a_gpu_is_refused_before_anything_is_written(tmp_path, device):
    out = tmp_path / "run"
    with pytest.raises(ParameterError, match="no CUDA device is available.*--device cpu"):
        train(TINY.replace(device=device), out_dir=out, plot=False)
    assert not out.exists()
    # nor does it touch an existing run when resuming it on a missing GPU
    train(TINY, out_dir=out, plot=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ParameterError, match="CUDA"):
        train(TINY.replace(epochs=2, device=device), out_dir=out, resume=True, plot=False)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_cuda_is_checked_before_the_data_is_loaded(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("checks the refusal on a machine without CUDA")
    # an on-disk data set that is missing: the device error comes first, so no data load was tried
    config = TINY.replace(dataset="mnist", data_root=str(tmp_path / "nothing-here"), device="cuda")
    with pytest.raises(ParameterError, match="CUDA"):
        train(config, out_dir=tmp_path / "run", plot=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("device", ["bogus", "gpu", "cuda:x", "mps", "", 0, None])
def test_unparsable_device_is_a_parameter_error(device):
    with pytest.raises(ParameterError, match="device"):
        RunConfig(device=device)
    with pytest.raises(ParameterError, match="device"):
        TINY.replace(device=device)


def test_device_settings_that_parse():
    for device in ("cpu", "cuda", "cuda:1", "auto", "cpu:0"):
        assert RunConfig(device=device).device == device
    assert RunConfig(device=torch.device("cpu")).device == "cpu"
    assert RunConfig.from_dict(RunConfig(device="auto").to_dict()).device == "auto"
    # a config.json written before the device setting existed reads as a CPU run
    legacy = {k: v for k, v in RunConfig().to_dict().items() if k != "device"}
    assert RunConfig.from_dict(legacy).device == "cpu"


def test_resume_on_another_device_string_is_accepted(tmp_path):
    """The device is a run setting that may change on resume: not a configuration mismatch."""
    config = SMALL.replace(epochs=3)
    data = load_data(config)
    full = train(config, out_dir=tmp_path / "full", data=data, plot=False)
    train(config, out_dir=tmp_path / "part", data=data, plot=False, stop_after=1)
    resumed = train(config.replace(device="auto"), out_dir=tmp_path / "part", resume=True, data=data, plot=False)
    assert resumed.resumed_from == 1 and resumed.device == torch.device("cpu")
    _same_weights(full.model.state_dict(), resumed.model.state_dict())  # same device underneath: bit-equal
    assert torch.load(tmp_path / "part" / CHECKPOINT, weights_only=True)["device"] == "cpu"
    # config.json keeps the run's original settings; other settings still must match
    assert json.loads((tmp_path / "part" / "config.json").read_text())["device"] == "cpu"
    with pytest.raises(CheckpointError, match=r"other settings \(lr\)"):
        train(
            config.replace(epochs=4, lr=0.5, device="auto"),
            out_dir=tmp_path / "part",
            resume=True,
            data=data,
            plot=False,
        )


def test_checkpoint_loads_onto_the_model_device_whatever_the_map_location(tmp_path):
    model = SpikingMLP((8, 4, 2))
    path = save_checkpoint(tmp_path / "c.pt", {"epoch": 1}, model=model)
    other = SpikingMLP((8, 4, 2))
    state = load_checkpoint(path, model=other)  # default map_location: the CPU
    assert all(t.device.type == "cpu" for t in state["model"].values())
    _same_weights(model.state_dict(), other.state_dict())
    state = load_checkpoint(path, model=SpikingMLP((8, 4, 2)), map_location=torch.device("cpu"))
    assert state["epoch"] == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here (CI runs CPU only)")
def test_tiny_run_on_cuda_and_resume_on_the_cpu(tmp_path):
    out = tmp_path / "run"
    config = TINY.replace(device="cuda", epochs=2)
    result = train(config, out_dir=out, plot=False, stop_after=1)
    assert result.device.type == "cuda"
    assert all(t.device.type == "cuda" for t in result.model.state_dict().values())
    assert result.final["test_accuracy"] > 0.1
    assert torch.load(out / CHECKPOINT, map_location="cpu", weights_only=True)["device"].startswith("cuda")
    # the checkpoint written on cuda resumes on the CPU (and the CPU one back on cuda)
    on_cpu = train(config.replace(device="cpu"), out_dir=out, resume=True, plot=False)
    assert on_cpu.resumed_from == 1 and on_cpu.device == torch.device("cpu")
    assert all(t.device.type == "cpu" for t in on_cpu.model.state_dict().values())
    back = train(config.replace(epochs=3), out_dir=out, resume=True, plot=False)
    assert back.resumed_from == 2 and next(back.model.parameters()).device.type == "cuda"
    assert [row["epoch"] for row in back.history] == [1, 2, 3]


# ------------------------------------------------------------------------------ safe loads and file modes
def test_files_get_the_umask_permissions_not_0600(tmp_path):
    from biosnn.learning.checkpoint import write_atomic

    old = os.umask(0o027)
    try:
        path = write_atomic(tmp_path / "a.txt", b"x")
        ckpt = save_checkpoint(tmp_path / "c.pt", {"epoch": 1}, model=SpikingMLP((8, 4, 2)))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640
    assert ckpt.stat().st_mode & 0o777 == 0o640


def test_checkpoints_hold_only_tensors_and_plain_containers(tmp_path):
    """What a run saves loads with weights_only=True; the RNG states round-trip through it."""
    np.random.seed(5)
    random.seed(5)
    path = save_checkpoint(tmp_path / "c.pt", {"rng": rng_state()}, model=SpikingMLP((8, 4, 2)))
    expected = (np.random.rand(3), random.random())
    state = torch.load(path, weights_only=True)
    set_rng_state(state["rng"])
    assert np.array_equal(np.random.rand(3), expected[0]) and random.random() == expected[1]


def test_a_crafted_checkpoint_does_not_run_code(tmp_path):
    marker = tmp_path / "created-by-unpickling"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"format": "biosnn-checkpoint-2", "model": Payload()}, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match=r"last\.pt.*holds objects other than tensors.*refusing to unpickle"):
        load_checkpoint(tmp_path / "last.pt", model=SpikingMLP((8, 4, 2)))
    assert not marker.exists()


def test_a_checkpoint_of_the_old_format_is_refused_naming_the_file(tmp_path):
    # the format-1 layout: NumPy's state tuple pickled as is
    torch.save({"format": "biosnn-checkpoint-1", "rng": {"numpy": np.random.get_state()}}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match=r"old\.pt.*not a biosnn-checkpoint-2 file"):
        load_checkpoint(tmp_path / "old.pt")
    torch.save({"format": "biosnn-checkpoint-1"}, tmp_path / "old-plain.pt")
    with pytest.raises(CheckpointError, match=r"old-plain\.pt.*found 'biosnn-checkpoint-1'"):
        load_checkpoint(tmp_path / "old-plain.pt")
