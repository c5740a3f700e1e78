"""Training on 2 processes (DistributedDataParallel, gloo on the CPU) equals training on one.

The runs are small digits runs (2 epochs of a 64-32-10 MLP, global batch 50: the epoch's last batch holds 37
samples, so the two shares are unequal and the gradient scale of ``biosnn.learning.distributed`` is used).

**Tolerance.** The weights of the 2-process run equal the one-process run's to ``ATOL = 1e-6`` (absolute, the
weights are of order 0.2; measured: at most 4.5e-8, 1.5 float32 ulps, on this machine). They cannot be equal
bit for bit: each rank sums its share's per-sample gradients inside the matrix products, the all-reduce adds
the two ranks' sums, and DDP divides by 2 first, while the one-process run sums the whole batch in one
product: the same real number, rounded in another order (about 1 ulp of each gradient per step). Adam
normalises each step, so the weights move by about ``lr`` times that relative error per step. Masks, EIHL's
decisions, the accuracy counts and the generators' states are equal exactly (a weight within 1e-6 of EIHL's
removal threshold would flip a mask; none is in these runs).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch.utils.data import DataLoader, TensorDataset

import biosnn.learning.checkpoint as checkpoint_module
import biosnn.learning.run as run_module
from biosnn.cli import main
from biosnn.errors import ParameterError
from biosnn.learning import distributed
from biosnn.learning.distributed import GlobalBatchEncoder, GlobalBatchShares, Shares, launch_env, launch_mode
from biosnn.learning.run import RunConfig, load_data, train

ATOL = 1e-6
STBP = RunConfig(method="stbp", hidden=(32,), epochs=2, batch_size=50, seed=0)
# iteration granularity: several local periods and regrowth decisions (every 10 global iterations) in 2 epochs
EIHL = RunConfig(
    method="eihl",
    hidden=(32,),
    epochs=2,
    batch_size=50,
    seed=0,
    granularity="iteration",
    global_units=12,
    max_local_units=2,
    final_global_units=2,
    # not the default 0.5: with it, one layer-0 synapse lies within round-off of the removal threshold at
    # iteration 41 (66 vs 67 removed), which the module docstring's premise excludes
    x_growth=0.4,
)

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def data():
    return load_data(STBP)


@pytest.fixture(scope="module")
def stbp_single(data):
    return train(STBP, data=data, plot=False)


@pytest.fixture(scope="module")
def eihl_single(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("eihl_single")
    result = train(EIHL, out_dir=out, data=data, plot=False)
    return result, _decisions(out)


def _decisions(out: Path) -> list[dict]:
    """The EIHL controller's decision log, from a run's checkpoint."""
    return torch.load(out / "checkpoints" / "last.pt", weights_only=True)["method"]["controller"]["decisions"]


def _assert_close(model, reference, atol=ATOL) -> float:
    """Float tensors within ``atol`` of the reference, the others (masks) equal; returns the largest difference."""
    worst = 0.0
    ref = reference.state_dict()
    for name, t in model.state_dict().items():
        if t.is_floating_point():
            diff = float((t - ref[name]).abs().max())
            assert diff <= atol, f"{name} differs by {diff:.3g} > {atol}"
            worst = max(worst, diff)
        else:
            assert torch.equal(t, ref[name]), f"{name} differs"
    return worst


def _assert_ranks_identical(result) -> None:
    assert result.world_size == 2 and sorted(result.rank_masks) == [0, 1]
    for name, mask in result.rank_masks[0].items():
        assert mask.dtype == torch.bool and torch.equal(mask, result.rank_masks[1][name]), name
    assert result.rank_digests[0] == result.rank_digests[1]


# ------------------------------------------------------------------------------------- no processes
@pytest.mark.parametrize("n, batch, world", [(1437, 50, 2), (11, 5, 3), (7, 4, 2), (10, 5, 1)])
def test_shares_are_the_one_process_batches_in_order(n, batch, world):
    """Concatenated over the ranks, each step's shares are the one-process loader's batch; the generator
    is left in the same state (two epochs)."""
    data = TensorDataset(torch.arange(n))
    g_single = torch.Generator().manual_seed(5)
    single = DataLoader(data, batch_size=batch, shuffle=True, generator=g_single)
    expected = [b[0].tolist() for _ in range(2) for b in single]
    per_rank, scales, states = [], [], []
    for rank in range(world):
        shares = Shares(rank, world)
        g = torch.Generator().manual_seed(5)
        loader = DataLoader(
            data,
            batch_sampler=GlobalBatchShares(torch.utils.data.RandomSampler(data, generator=g), batch, shares),
            generator=g,
        )
        got, sc = [], []
        for _ in range(2):
            for (x,) in loader:
                got.append((x.tolist(), shares.dummy))
                sc.append(shares.grad_scale / world)  # the weight DDP's mean gives this rank's mean gradient
        per_rank.append(got)
        scales.append(sc)
        states.append(g.get_state())
    assert all(torch.equal(s, g_single.get_state()) for s in states)
    for step, batch_indices in enumerate(expected):
        joined = [i for rank in range(world) if not per_rank[rank][step][1] for i in per_rank[rank][step][0]]
        assert joined == batch_indices
        # sum over the ranks of s_r / N = sum of b_r / |G| = 1: each sample's gradient weighs 1/|G|, as in the mean
        assert sum(scales[r][step] for r in range(world)) == pytest.approx(1.0, rel=1e-12)


def test_a_share_of_nothing_stands_in_with_no_gradient():
    shares = Shares(rank=0, world_size=3)  # a last global batch of 1 sample: ranks 0 and 1 hold nothing
    assert shares.take([7]) == [7] and shares.dummy and shares.grad_scale == 0.0 and not shares.counts
    holder = Shares(rank=2, world_size=3)
    assert holder.take([7]) == [7] and not holder.dummy and holder.grad_scale == 3.0 and holder.counts


def test_global_batch_encoder_draws_the_one_process_numbers():
    """A Poisson share coded inside the global batch equals those columns of the whole batch's coding."""
    from biosnn.data import ENCODERS

    x = torch.rand(9, 5, generator=torch.Generator().manual_seed(1))
    whole = ENCODERS["poisson"](x, steps=6, generator=torch.Generator().manual_seed(2))
    for rank in range(2):
        shares = Shares(rank, 2)
        idx = shares.take(list(range(9)))
        g = torch.Generator().manual_seed(2)
        part = GlobalBatchEncoder(ENCODERS["poisson"], shares)(x[idx], steps=6, generator=g)
        assert len(idx) in (4, 5) and torch.equal(part, whole[:, idx])
        reference = torch.Generator().manual_seed(2)
        ENCODERS["poisson"](x, steps=6, generator=reference)
        assert torch.equal(g.get_state(), reference.get_state())  # every rank's generator stays in step


def test_launch_settings_are_checked(monkeypatch):
    cpu = torch.device("cpu")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ParameterError, match="nproc"):
            launch_mode(bad, cpu)
    for name in distributed.ENV_VARS + ("LOCAL_WORLD_SIZE",):
        monkeypatch.delenv(name, raising=False)
    assert launch_mode(None, cpu) == "single" and launch_mode(1, cpu) == "single" and launch_mode(2, cpu) == "spawn"
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(ParameterError, match="LOCAL_RANK, MASTER_ADDR, MASTER_PORT are missing"):
        launch_env()
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    assert launch_env() == distributed.LaunchEnv(1, 4, 1, 2)
    assert launch_mode(None, cpu) == "launched" and launch_mode(2, cpu) == "launched"
    with pytest.raises(ParameterError, match="leave nproc"):
        launch_mode(4, cpu)


# --------------------------------------------------------------------------------- two processes
def test_stbp_two_processes_through_the_cli_equal_one_and_rank0_alone_writes(tmp_path, monkeypatch, stbp_single):
    """``biosnn train --nproc 2``: its checkpoint's weights equal the one-process run's (ATOL), and every
    file write and the folder lock come from rank 0 (the processes are forked, so they log through the
    wrappers installed here around the real functions)."""
    log = tmp_path / "writes.log"

    def logged(fn, what):
        def wrapper(*args, **kwargs):
            with open(log, "a") as f:
                f.write(json.dumps([os.environ.get("RANK"), what, str(args[0] if what == "write" else args[1])]) + "\n")
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(run_module, "write_atomic", logged(run_module.write_atomic, "write"))
    monkeypatch.setattr(checkpoint_module, "write_atomic", logged(checkpoint_module.write_atomic, "write"))
    monkeypatch.setattr(run_module._FolderLock, "__init__", logged(run_module._FolderLock.__init__, "lock"))
    out = tmp_path / "run"
    args = [
        "train",
        "--method",
        "stbp",
        "--hidden",
        "32",
        "--epochs",
        "2",
        "--batch-size",
        "50",
        "--seed",
        "0",
        "--out",
        str(out),
        "--no-progress",
        "--nproc",
        "2",
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert {rank for rank, _, _ in entries} == {"0"}
    written = {Path(p).relative_to(out).as_posix() for _, what, p in entries if what == "write"}
    assert written == {"config.json", "checkpoints/last.pt", "metrics.csv", "plots/training.png"}
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    reference = stbp_single.model.state_dict()
    for name, t in state["model"].items():
        if t.is_floating_point():
            assert float((t - reference[name]).abs().max()) <= ATOL, name
        else:
            assert torch.equal(t, reference[name]), name
    assert [r["test_accuracy"] for r in state["history"]] == [r["test_accuracy"] for r in stbp_single.history]
    assert [r["train_accuracy"] for r in state["history"]] == [r["train_accuracy"] for r in stbp_single.history]


def test_eihl_two_processes_resume_with_one_and_back(tmp_path, data, eihl_single):
    """EIHL: epoch 1 on 2 processes, epoch 2 resumed on 1, equals the one-process run (weights to ATOL,
    masks and every switching decision exactly); epoch 1 on 1 process, epoch 2 resumed on 2, too. The
    2-process runs' masks, gathered from both ranks, are bit-identical."""
    single, single_decisions = eihl_single
    two_then_one = tmp_path / "two_then_one"
    first = train(EIHL, out_dir=two_then_one, data=data, plot=False, stop_after=1, nproc=2)
    _assert_ranks_identical(first)
    assert first.final["local_iterations"] > 0 and first.final["sparsity"] > 0
    second = train(EIHL, out_dir=two_then_one, resume=True, data=data, plot=False)
    assert second.resumed_from == 1 and not hasattr(second, "world_size")
    worst = _assert_close(second.model, single.model)
    assert worst > 0  # not bit-identical: the all-reduce adds in another order (see the module docstring)

    one_then_two = tmp_path / "one_then_two"
    train(EIHL, out_dir=one_then_two, data=data, plot=False, stop_after=1)
    last = train(EIHL, out_dir=one_then_two, resume=True, data=data, plot=False, nproc=2)
    _assert_ranks_identical(last)
    assert last.resumed_from == 1
    _assert_close(last.model, single.model)
    keys = ("phase", "global_iterations", "local_iterations", "train_accuracy", "test_accuracy", "sparsity")
    expected = [{k: r[k] for k in keys} for r in single.history]
    regrowth = [d for d in single_decisions if d["phase_before"] == "global"]
    assert len({d["phase_after"] for d in single_decisions}) == 2 and regrowth
    for result, out in ((second, two_then_one), (last, one_then_two)):
        assert [{k: r[k] for k in keys} for r in result.history] == expected
        assert _decisions(out) == single_decisions

    # rank 0's messages come back once (when the processes end); nothing is left to do
    messages = []
    done = train(EIHL, out_dir=one_then_two, resume=True, data=data, plot=False, nproc=2, notify=messages.append)
    assert len(messages) == 1 and "nothing left to do" in messages[0] and done.history == last.history
    # an error in a process is raised here with its own class: fewer epochs than the run has done
    with pytest.raises(ParameterError, match="already done 2 epochs"):
        train(EIHL.replace(epochs=1), out_dir=one_then_two, resume=True, data=data, plot=False, nproc=2)


@pytest.mark.slow
def test_torchrun_launch_equals_one_process(tmp_path, stbp_single):
    """``torchrun --nproc-per-node 2 -m biosnn train`` (the launcher sets RANK, WORLD_SIZE, ...; each process
    joins the group they describe): rank 0's checkpoint equals the one-process run (ATOL)."""
    import subprocess
    import sys

    out = tmp_path / "torchrun"
    env = {k: v for k, v in os.environ.items() if k not in distributed.ENV_VARS}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "biosnn",
        "train",
        "--method",
        "stbp",
        "--hidden",
        "32",
        "--epochs",
        "2",
        "--batch-size",
        "50",
        "--seed",
        "0",
        "--out",
        str(out),
        "--no-progress",
        "--threads",
        "1",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    reference = stbp_single.model.state_dict()
    for name, t in state["model"].items():
        if t.is_floating_point():
            assert float((t - reference[name]).abs().max()) <= ATOL, name
        else:
            assert torch.equal(t, reference[name]), name


def test_local_only_two_processes_equal_one(data):
    """The local-only method: Poisson input drawn per share inside the global batch, the STDP updates of the
    ranks added before the step; the hidden layer learns (it moves from its initial weights) and equals the
    one-process run's to ATOL."""
    import biosnn
    from biosnn.learning.run import MODEL_BUILDERS

    config = RunConfig(method="local", hidden=(32,), epochs=1, batch_size=50, seed=0, local_lr=1e-4)
    single = train(config, data=data, plot=False)
    two = train(config, data=data, plot=False, nproc=2)
    _assert_ranks_identical(two)
    _assert_close(two.model, single.model)
    assert [r["test_accuracy"] for r in two.history] == [r["test_accuracy"] for r in single.history]
    biosnn.seed(config.seed)
    initial = MODEL_BUILDERS["mlp"](config, data.input_shape, data.num_classes).state_dict()
    assert float((single.model.state_dict()["layers.0.weight"] - initial["layers.0.weight"]).abs().max()) > 1e-4


def test_batch_norm_normalises_with_the_global_batch():
    """VGG11's batch-norm layers on 2 processes: the statistics of the whole global batch (one differentiable
    all-reduce per layer), so weights and running statistics equal the one-process run's (SGD, whose step is
    the gradient: with Adam, components whose gradient is a near-cancelling sum carry their relative
    round-off into a step of size lr, and the one-step difference grows to ~5e-5 on this silent network)."""
    config = RunConfig(
        method="stbp",
        model="vgg11",
        width=0.25,
        hidden=(),
        dataset="synthetic-cifar10",
        epochs=1,
        batch_size=10,
        steps=2,
        max_batches=2,
        optimizer="sgd",
        lr=0.5,
    )
    data = load_data(config)
    single = train(config, data=data, plot=False)
    two = train(config, data=data, plot=False, nproc=2)
    _assert_ranks_identical(two)
    assert any(k.endswith("bn.running_var") for k in two.rank_digests[0])
    _assert_close(two.model, single.model)
