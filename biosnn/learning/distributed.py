r"""Training on many processes: torch.distributed DistributedDataParallel, equal to the one-process run.

:func:`biosnn.learning.train` (``nproc=N``) and ``biosnn train --nproc N`` train with
:class:`~torch.nn.parallel.DistributedDataParallel` (DDP): gloo on the CPU, NCCL on CUDA devices (each
process on ``cuda:LOCAL_RANK``). How the processes start:

* **under a launcher** (``torchrun``, or anything that sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``MASTER_ADDR`` and ``MASTER_PORT``): every process calls ``train`` itself and joins the process group
  those variables describe, so the same command runs on one machine or across several
  (``torchrun --nnodes 2 --nproc-per-node 4 -m biosnn train ...``);
* **without one** (``nproc=N > 1``): ``train`` starts N local processes itself through PyTorch's elastic
  launch API (:func:`torch.distributed.launcher.api.elastic_launch`, the code behind ``torchrun``), which sets
  the same variables. On the CPU the processes are forked (they start at once, with biosnn imported), on
  CUDA they are spawned (CUDA cannot be forked). The caller gets rank 0's :class:`DistributedRunResult`;
  an error raised in a process is raised again in the caller with its own class and message.

**The global batch.** ``batch_size`` is the global batch ``B``, split across the ``N`` ranks. The order of
the samples is the one-process run's: every rank draws the same permutation from the same seeded
generator, exactly as the one-process ``DataLoader(shuffle=True, generator=g)`` does (its base seed, then
``torch.randperm``; the generator's state after an epoch is the same, so a checkpoint resumes with any
``N``). :class:`GlobalBatchShares` cuts each global batch :math:`G_k` (``B`` samples, or fewer at the end of
the epoch) into contiguous shares, rank :math:`r` taking positions
:math:`[\lfloor r |G_k| / N \rfloor, \lfloor (r+1) |G_k| / N \rfloor)`. (``torch``'s ``DistributedSampler``
shards the epoch instead, ``r, r + N, ...``, draws its permutation from ``seed + epoch`` and pads the epoch
with repeated samples: its global batches are not the one-process run's.)

**The gradient.** The losses are means over the batch: :math:`L = \frac{1}{|G|}\sum_{i \in G} \ell_i`.
Rank :math:`r` computes the mean over its share :math:`S_r` (:math:`b_r = |S_r|` samples), and DDP averages
the ranks' gradients. For equal shares :math:`\frac{1}{N}\sum_r \nabla \frac{1}{b_r}\sum_{S_r}\ell_i =
\nabla L` exactly in real arithmetic; for unequal ones (the last batch of an epoch, ``B`` not divisible by
``N``) each rank's backward pass is scaled by :math:`s_r = N b_r / |G|` (the model's output passes its
gradient times :math:`s_r`; the loss and every measurement are unchanged), so that

.. math::  \frac{1}{N}\sum_r s_r \nabla \frac{1}{b_r}\sum_{i \in S_r}\ell_i
           = \sum_r \frac{b_r}{|G|}\,\frac{1}{b_r}\sum_{i \in S_r}\nabla\ell_i = \nabla L .

In floating point the sum runs in another order (each rank sums its share inside the matrix products, the
all-reduce adds the ranks' results, DDP divides by ``N`` first), so the weights agree with the one-process
run to round-off, not bit for bit (``tests/learning/test_distributed.py`` states the tolerance measured).
With SGD the step is the gradient and the difference stays at round-off (a 64-1024-1024-10 MLP on digits,
3 epochs: 4.5e-8). Adam divides each step by the gradient's running size, so a component whose gradient is
a near-cancelling sum carries its *relative* round-off into a step of size ``lr``: the same MLP differs by
5.6e-6 after 1 epoch and 3.3e-4 after 3 (equal test accuracies; ``bench/ddp_scaling.py``).
A share of zero samples (a last global batch smaller than ``N``) runs one sample with :math:`s_r = 0` and
is left out of every measurement. Stochastic encoders (Poisson) draw for the whole global batch on every
rank and keep their share (:class:`GlobalBatchEncoder`), so every rank draws the one-process run's numbers
and the encoders' generators stay equal on every rank.

**EIHL.** Its state (masks, :math:`x`, the frozen thresholds, the switching decisions) is the same on every
rank:

* the *local period* is activity-driven (the depression of each synapse comes from the batch's spikes,
  drawn from the learner's generator), so every rank runs each local iteration on the whole global batch
  (as the one-process run does: the same numbers), and the controlled layers' weights, masks and
  :math:`x` are then broadcast from rank 0 (a guard against ranks on different CPUs rounding differently);
* the *regrowth probes* (dense gradients at weight zero, local to each rank) are averaged over the ranks
  before every regrowth decision and before every checkpoint (the gradients are scaled as above, so the
  average is the one-process probe), and the masks are broadcast from rank 0 after each decision;
* the switching decisions follow from the masks, which are then equal: every rank decides the same.

The local-only method adds the ranks' weight changes (its rules' updates are sums over the batch) before
they are applied. At the end of every epoch a SHA-256 digest of every rank's model state and EIHL
:math:`x` is compared with rank 0's: a difference raises :class:`DistributedError` naming the tensors.

**Files.** Only rank 0 takes the folder's lock and writes (``config.json``, checkpoints, ``metrics.csv``,
plots); the other ranks wait at a barrier and learn its outcome (an error there is raised on every rank).
On resume rank 0 reads the checkpoint and broadcasts it, so the other ranks need no shared file system. A
checkpoint holds nothing that depends on ``N``: a run resumes with another number of processes, or with
one.

Batch-norm layers (VGG11, ResNet) normalise with the statistics of the whole global batch on every rank
(:func:`global_batch_norm`: one differentiable all-reduce of the per-channel sums, on the CPU and on CUDA),
so their running statistics too are the same on every rank and equal the one-process run's to round-off.

Limits: data loading runs in each training process (``num_workers=0``: the shares follow the training
state, and the local period's whole-batch loading is decided when the batch is fetched).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import os
import pickle
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

from biosnn.errors import BiosnnError, ParameterError
from biosnn.learning.run import RunResult
from biosnn.registry import Registry

#: What a launcher sets (``torchrun``, PyTorch's elastic agent): read when RANK and WORLD_SIZE are set.
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


class DistributedError(BiosnnError):
    """A multi-process run whose ranks disagree, or that cannot start."""


# ------------------------------------------------------------------------------------------ the launch
@dataclass(frozen=True)
class LaunchEnv:
    """The process's place in a launched job (from :data:`ENV_VARS`, as ``torchrun`` sets them)."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int


def launch_env(environ: Mapping[str, str] | None = None) -> LaunchEnv | None:
    """The launcher's settings of this process, or ``None`` when ``RANK`` and ``WORLD_SIZE`` are not set.

    Raises
    ------
    ParameterError
        When some of :data:`ENV_VARS` are set and others missing, or hold no valid numbers.
    """
    env = os.environ if environ is None else environ
    if "RANK" not in env and "WORLD_SIZE" not in env:
        return None
    missing = [k for k in ENV_VARS if not env.get(k)]
    if missing:
        raise ParameterError(
            f"a distributed launch needs {', '.join(ENV_VARS)} in the environment (as torchrun sets "
            f"them); {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing"
        )
    try:
        rank, size, local = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"])
        local_size = int(env.get("LOCAL_WORLD_SIZE", size))
    except ValueError:
        raise ParameterError(
            f"RANK, WORLD_SIZE, LOCAL_RANK must be integers, got {env['RANK']!r}, "
            f"{env['WORLD_SIZE']!r}, {env['LOCAL_RANK']!r}"
        ) from None
    if not (size >= 1 and 0 <= rank < size and 0 <= local < local_size):
        raise ParameterError(f"RANK={rank}, WORLD_SIZE={size}, LOCAL_RANK={local} do not describe a process of the job")
    return LaunchEnv(rank, size, local, local_size)


def launch_mode(nproc: int | None, device: torch.device) -> str:
    """``"single"`` (one process, no torch.distributed), ``"spawn"`` (start ``nproc`` local processes) or
    ``"launched"`` (this process is one of a launched job's); checks ``nproc`` against the device and the
    environment.

    Raises
    ------
    ParameterError
        For an ``nproc`` that is not a positive integer, one that contradicts the launcher's
        ``LOCAL_WORLD_SIZE``, more CUDA processes than CUDA devices, or a CUDA device index with several
        processes (each process trains on ``cuda:LOCAL_RANK``).
    """
    if nproc is not None and (isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1):
        raise ParameterError(f"nproc (the number of training processes) must be a positive integer, got {nproc!r}")
    env = launch_env()
    if env is not None:
        if nproc is not None and nproc != env.local_world_size:
            raise ParameterError(
                f"this process was launched as one of {env.local_world_size} on this machine "
                f"(LOCAL_WORLD_SIZE, {env.world_size} in all); nproc = {nproc} contradicts it: "
                f"leave nproc (--nproc) out under torchrun"
            )
        mode = "launched"
        many = env.world_size > 1
        count = env.local_world_size
    else:
        mode = "single" if nproc in (None, 1) else "spawn"
        many = mode == "spawn"
        count = nproc or 1
    if device.type == "cuda" and many:
        if device.index is not None:
            raise ParameterError(
                f"device {str(device)!r} names one CUDA device, but the run has several processes: "
                f"each trains on cuda:LOCAL_RANK; give device 'cuda'"
            )
        if count > torch.cuda.device_count():
            raise ParameterError(
                f"{count} processes asked for on CUDA, but only {torch.cuda.device_count()} CUDA "
                f"device(s) are available (one process per device)"
            )
    return mode


# --------------------------------------------------------------------------------------- global batches
@dataclass
class Shares:
    """The share of the current global batch held by this rank (set as each batch is fetched).

    ``offset`` and ``size`` locate the share in the global batch of ``global_size`` samples; ``full``: the
    rank holds the whole batch (EIHL's local period); ``dummy``: the share is empty and one sample stands
    in (gradient scale 0, left out of every measurement).
    """

    rank: int
    world_size: int
    offset: int = 0
    size: int = 0
    global_size: int = 0
    full: bool = False
    dummy: bool = False
    #: When it returns True, the next batch is fetched whole on every rank.
    full_when: Callable[[], bool] = field(default=lambda: False, repr=False)

    def take(self, batch: list[int], *, training: bool = True) -> list[int]:
        """The indices of the global batch ``batch`` that this rank holds (and record where they lie); ``full_when`` is
        asked for training batches only (evaluation is always shared).
        """
        g = len(batch)
        self.global_size = g
        self.full = training and bool(self.full_when())
        if self.full:
            self.offset, self.size, self.dummy = 0, g, False
            return list(batch)
        lo, hi = self.rank * g // self.world_size, (self.rank + 1) * g // self.world_size
        self.dummy = hi == lo
        self.offset, self.size = (0, 1) if self.dummy else (lo, hi - lo)
        return list(batch[self.offset : self.offset + self.size])

    @property
    def grad_scale(self) -> float:
        r""":math:`s_r = N b_r / |G|` (0 for a stand-in sample, 1 when every rank holds the whole batch)."""
        if self.full:
            return 1.0
        if self.dummy or not self.global_size:
            return 0.0
        return self.world_size * self.size / self.global_size

    @property
    def counts(self) -> bool:
        """Whether the current batch's measurements count on this rank (whole batches count on rank 0)."""
        return not self.dummy and (not self.full or self.rank == 0)


class GlobalBatchShares(Sampler[list[int]]):
    """A batch sampler: the one-process run's global batches, each cut to this rank's share.

    Parameters
    ----------
    sampler
        The sampler of the one-process run (``RandomSampler(data, generator=g)`` for training,
        ``SequentialSampler(data)`` for evaluation): its order is the global order.
    batch_size
        The global batch size ``B``.
    shares
        Where the current share is recorded (read by the encoder, the gradient scale and the measurements).
    training
        Training batches (whole on every rank when ``shares.full_when()`` says so) or evaluation ones.
    """

    def __init__(self, sampler: Sampler[int], batch_size: int, shares: Shares, *, training: bool = True) -> None:
        self.batches = BatchSampler(sampler, batch_size, drop_last=False)
        self.shares = shares
        self.training = training

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            yield self.shares.take(batch, training=self.training)

    def __len__(self) -> int:
        return len(self.batches)


def share_bounds(global_size: int, rank: int, world_size: int) -> tuple[int, int]:
    """``(lo, hi)``: the positions of rank ``rank``'s share of a global batch of ``global_size`` samples."""
    return rank * global_size // world_size, (rank + 1) * global_size // world_size


class GlobalBatchEncoder:
    """An encoder that draws for the whole global batch and keeps this rank's share.

    The share is placed at its position in a zero tensor of the global batch's shape, the wrapped encoder
    (``encoder(x, *, steps, generator)`` -> ``[T, B, ...]``, acting on each sample alone) codes it, and the
    share's columns are returned: a stochastic encoder draws exactly the one-process run's numbers for
    them, and its generator advances by the same amount on every rank.
    """

    def __init__(self, encoder: Callable[..., torch.Tensor], shares: Shares) -> None:
        self.encoder = encoder
        self.shares = shares

    def __call__(self, x: torch.Tensor, *, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
        sh = self.shares
        if sh.full or sh.global_size == x.shape[0]:
            return self.encoder(x, steps=steps, generator=generator)
        padded = x.new_zeros((sh.global_size, *x.shape[1:]))
        padded[sh.offset : sh.offset + x.shape[0]] = x
        return self.encoder(padded, steps=steps, generator=generator)[
            :, sh.offset : sh.offset + x.shape[0]
        ].contiguous()


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; the backward pass multiplies the gradient by ``scale``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.scale, None


def scale_grad(output: Any, scale: float) -> Any:
    """``output`` (a tensor, or a tuple/list of them) unchanged, with its gradient scaled by ``scale``."""
    if scale == 1.0 or not torch.is_grad_enabled():
        return output
    if isinstance(output, torch.Tensor):
        return _ScaleGrad.apply(output, scale) if output.requires_grad else output
    if isinstance(output, (tuple, list)):
        return type(output)(scale_grad(o, scale) for o in output)
    return output


# ------------------------------------------------------------------------------- measurements, combined
_FIELDS = ("loss_sum", "correct", "count", "output_spikes", "output_slots")


class StepLedger:
    """Adds up the step measurements of an epoch that count on this rank (its shares; whole batches on
    rank 0 only; stand-in samples never): the trainer's ``_measure`` reports every step to it.
    """

    def __init__(self, shares: Shares) -> None:
        self.shares = shares
        self.totals = [0.0] * len(_FIELDS)

    def __call__(self, result: Any) -> None:
        if self.shares.counts:
            for i, name in enumerate(_FIELDS):
                self.totals[i] += float(getattr(result, name))


def _sum_over_ranks(values: list[float], device: torch.device) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def _epoch_result(totals: list[float]):
    from biosnn.learning.trainer import EpochResult, StepResult

    loss_sum, correct, count, spikes, slots = totals
    return EpochResult.from_steps(
        [StepResult(loss_sum, int(round(correct)), int(round(count)), spikes, int(round(slots)))] if count else []
    )


# ------------------------------------------------------------------------------------------- the worlds
class SingleProcess:
    """The one-process run: every hook of :func:`biosnn.learning.train` is the identity."""

    rank = 0
    world_size = 1
    is_writer = True

    def device(self, device: torch.device) -> torch.device:
        return device

    def train_loader(self, data: Dataset, batch_size: int, generator: torch.Generator) -> DataLoader:
        return DataLoader(data, batch_size=batch_size, shuffle=True, generator=generator)

    def test_loader(self, data: Dataset, batch_size: int) -> DataLoader:
        return DataLoader(data, batch_size=batch_size)

    def adapt(self, method_name: str, method: Any, model: nn.Module) -> None:
        return None

    @contextlib.contextmanager
    def writer_turn(self) -> Iterator[None]:
        yield

    def broadcast_object(self, obj: Any) -> Any:
        return obj

    def barrier(self) -> None:
        return None

    def start_epoch(self) -> None:
        return None

    def epoch_result(self, result: Any) -> Any:
        return result

    def evaluate(self, trainer: Any, loader: Any) -> Any:
        return trainer.evaluate(loader)

    def pooled_rate(self, rates: Any) -> float:
        return rates.mean

    def end_epoch(self, model: nn.Module, epoch: int) -> None:
        return None

    def result(self, result: Any) -> Any:
        return result

    def close(self) -> None:
        return None


SINGLE = SingleProcess()


@dataclass
class DistributedRunResult(RunResult):
    """The result of a multi-process run: rank 0's :class:`~biosnn.learning.run.RunResult`, and what every rank
    held at its end.
    """

    world_size: int = 1
    rank: int = 0
    #: ``rank_masks[r][layer]``: every rank's masks at the end of the run, gathered with torch.distributed.
    rank_masks: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    #: ``rank_digests[r][tensor]``: SHA-256 of every rank's model state and EIHL x at the end of the run.
    rank_digests: dict[int, dict[str, str]] = field(default_factory=dict)


def state_digests(model: nn.Module, extra: Mapping[str, torch.Tensor] | None = None) -> dict[str, str]:
    """SHA-256 of the bytes of every tensor of ``model.state_dict()`` (and of ``extra``'s), by name."""
    out = {}
    items = list(model.state_dict().items()) + list((extra or {}).items())
    for name, t in items:
        if isinstance(t, torch.Tensor):
            data = t.detach().cpu().contiguous()
            raw = data.view(torch.uint8) if data.dtype == torch.bool else data
            out[name] = hashlib.sha256(
                raw.numpy().tobytes() if raw.dtype != torch.bfloat16 else raw.view(torch.int16).numpy().tobytes()
            ).hexdigest()
    return out


def _masks(model: nn.Module) -> dict[str, torch.Tensor]:
    from biosnn.learning.trainer import masked_modules

    return {n: torch.as_tensor(m.mask).detach().cpu().clone() for n, m in masked_modules(model)}


class ProcessGroup:
    """One rank of a multi-process run (the hooks of :func:`biosnn.learning.train`, see the module docstring).

    Parameters
    ----------
    env
        The launch (:func:`launch_env`).
    device
        The run's device setting: on CUDA this rank trains on ``cuda:LOCAL_RANK``.
    """

    def __init__(self, env: LaunchEnv, device: torch.device) -> None:
        self.rank, self.world_size, self.local_rank = env.rank, env.world_size, env.local_rank
        self.is_writer = self.rank == 0
        if device.type == "cuda":
            self._device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(self._device)
        else:
            self._device = torch.device("cpu")
        self.backend = "nccl" if self._device.type == "cuda" else "gloo"
        self.own_group = not dist.is_initialized()
        if self.own_group:
            dist.init_process_group(self.backend, init_method="env://", rank=self.rank, world_size=self.world_size)
        self.shares = Shares(self.rank, self.world_size)
        self.model: nn.Module | None = None
        self.ddp: nn.Module | None = None
        self._handles: list[Any] = []
        self._ledger: StepLedger | None = None
        self._patched: list[nn.Module] = []
        self._before_save: list[Callable[[], None]] = []
        self._extra_state: list[Callable[[], dict[str, torch.Tensor]]] = []

    # -- set-up -------------------------------------------------------------------------------------------
    def device(self, device: torch.device) -> torch.device:
        return self._device

    def train_loader(self, data: Any, batch_size: int, generator: torch.Generator) -> DataLoader:
        """The rank's loader: the one-process run's shuffled global batches (same generator use), its shares."""
        sampler = GlobalBatchShares(RandomSampler(data, generator=generator), batch_size, self.shares)
        return DataLoader(data, batch_sampler=sampler, generator=generator)

    def test_loader(self, data: Any, batch_size: int) -> DataLoader:
        return DataLoader(
            data, batch_sampler=GlobalBatchShares(SequentialSampler(data), batch_size, self.shares, training=False)
        )

    def adapt(self, method_name: str, method: Any, model: nn.Module) -> None:
        """Wrap the model in DDP and fit the method's learners to the shares (:data:`METHOD_ADAPTERS`)."""
        adapter = METHOD_ADAPTERS[method_name]
        self.model = model
        self._patched = _sync_batchnorm(model, self.shares)
        self._handles.append(model.register_forward_hook(self._scale_output))
        ids = None if self._device.type == "cpu" else [self._device.index]
        # buffers (the masks) are kept equal by the adapters, not broadcast before every forward pass
        self.ddp = nn.parallel.DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)
        trainer = method.trainer
        trainer.model = self.ddp
        trainer._measure = self._counted_measure(trainer._measure)  # every step's measurement, while armed
        if trainer.encoder is not None:
            trainer.encoder = GlobalBatchEncoder(trainer.encoder, self.shares)
        adapter(method, self)

    def _scale_output(self, module: nn.Module, args: Any, output: Any) -> Any:
        return scale_grad(output, self.shares.grad_scale)

    # -- collectives --------------------------------------------------------------------------------------
    def broadcast_object(self, obj: Any) -> Any:
        box = [obj if self.is_writer else None]
        dist.broadcast_object_list(box, src=0, device=self._device if self.backend == "nccl" else None)
        return box[0]

    @contextlib.contextmanager
    def writer_turn(self) -> Iterator[None]:
        """A block that rank 0 runs (the others skip it: they hold no folder) while the others wait at its
        end; an error rank 0 raises there is raised on every rank.
        """
        error: BaseException | None = None
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - raised again on every rank below
            error = exc
        theirs = self.broadcast_object(_picklable(error) if error is not None else None)
        if error is not None:
            raise error
        if theirs is not None:
            raise theirs

    def barrier(self) -> None:
        dist.barrier()

    def broadcast_tensors(self, tensors: list[torch.Tensor]) -> None:
        """Overwrite ``tensors`` (in place) with rank 0's."""
        with torch.no_grad():
            for t in tensors:
                dist.broadcast(t.view(torch.uint8) if t.dtype == torch.bool else t, src=0)

    def average(self, tensors: list[torch.Tensor]) -> None:
        """Replace each tensor by its mean over the ranks (in place)."""
        with torch.no_grad():
            for t in tensors:
                dist.all_reduce(t)
                t.div_(self.world_size)

    def sum(self, tensors: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for t in tensors:
                dist.all_reduce(t)

    # -- epochs -------------------------------------------------------------------------------------------
    def start_epoch(self) -> None:
        """Count, from now on, the training steps' measurements that belong to this rank."""
        self._ledger = StepLedger(self.shares)

    def epoch_result(self, result: Any) -> Any:
        """The epoch's loss and accuracy over the global batches (every rank's counted steps added)."""
        ledger, self._ledger = self._ledger, None
        assert ledger is not None, "epoch_result() without start_epoch()"
        return _epoch_result(_sum_over_ranks(ledger.totals, self._device))

    def _counted_measure(self, measure: Callable[..., Any]) -> Callable[..., Any]:
        def counted(output: Any, y: torch.Tensor, loss: torch.Tensor) -> Any:
            r = measure(output, y, loss)
            if self._ledger is not None:
                self._ledger(r)
            return r

        return counted

    def evaluate(self, trainer: Any, loader: Any) -> Any:
        """The test set's loss and accuracy: each rank evaluates its shares; the sums are added."""
        model = self.model
        assert model is not None, "evaluate() before adapt()"
        was_training = model.training
        model.eval()
        totals = [0.0] * len(_FIELDS)
        try:
            with torch.no_grad():
                for x, y in loader:
                    x_t = trainer.encode(x)  # also for a stand-in sample: the encoder's draws stay in step
                    if not self.shares.counts:
                        continue
                    y = y.to(trainer.device)
                    output = model(x_t)
                    r = trainer._measure(output, y, trainer.loss(output, y))
                    for i, name in enumerate(_FIELDS):
                        totals[i] += float(getattr(r, name))
        finally:
            model.train(was_training)
        return _epoch_result(_sum_over_ranks(totals, self._device))

    def pooled_rate(self, rates: Any) -> float:
        """:class:`~biosnn.learning.metrics.FiringRates`' pooled rate over every rank's share of the test set."""
        names = [n for n, m in rates.model.named_modules() if isinstance(m, rates.types)]  # recorded or not
        values = _sum_over_ranks(
            [rates.spikes.get(n, 0.0) for n in names] + [float(rates.slots.get(n, 0)) for n in names], self._device
        )
        spikes, slots = sum(values[: len(names)]), sum(values[len(names) :])
        return spikes / slots if slots else float("nan")

    def _extra(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for fn in self._extra_state:
            out.update(fn())
        return out

    def end_epoch(self, model: nn.Module, epoch: int) -> None:
        """Before the checkpoint: average the probes, then check that every rank holds rank 0's state."""
        for fn in self._before_save:
            fn()
        mine = state_digests(model, self._extra())
        everyone: list[Any] = [None] * self.world_size
        dist.all_gather_object(everyone, mine)
        differ = sorted({k for d in everyone for k in d if d.get(k) != everyone[0].get(k)})
        if differ:
            raise DistributedError(
                f"after epoch {epoch} the ranks hold different {', '.join(differ[:6])}"
                f"{' ...' if len(differ) > 6 else ''} (the run is no longer the one-process run; "
                f"report it with the command line)"
            )

    def result(self, result: Any) -> Any:
        """Rank 0's result with every rank's masks and digests, gathered with torch.distributed."""
        model = result.model
        mine = (_masks(model), state_digests(model, self._extra()))
        everyone: list[Any] = [None] * self.world_size
        dist.all_gather_object(everyone, mine)
        values = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        return DistributedRunResult(
            **values,
            world_size=self.world_size,
            rank=self.rank,
            rank_masks={r: m for r, (m, _) in enumerate(everyone)},
            rank_digests={r: d for r, (_, d) in enumerate(everyone)},
        )

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for module in self._patched:  # the model leaves as it came (and pickles)
            del module.forward
        self._patched.clear()
        if self.own_group and dist.is_initialized():
            dist.destroy_process_group()


def _picklable(exc: BaseException) -> BaseException:
    try:
        return pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - an exception class that does not pickle: its message still travels
        return DistributedError(f"{type(exc).__name__}: {exc}")


def global_batch_norm(bn: nn.modules.batchnorm._BatchNorm, shares: Shares) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""A forward pass for ``bn`` that normalises with the statistics of the whole global batch.

    In training mode each rank adds up, per channel, its share's :math:`n_r`, :math:`\sum x` and
    :math:`\sum x^2` (a stand-in sample counts 0), and one differentiable all-reduce
    (:func:`torch.distributed.nn.functional.all_reduce`, whose backward pass adds the ranks' gradients)
    gives the global batch's mean :math:`\mu = \sum x / n` and biased variance
    :math:`\sigma^2 = \sum x^2 / n - \mu^2`: :math:`y = (x - \mu)/\sqrt{\sigma^2 + \epsilon}\,w + b`, and the
    running statistics move as ``nn.BatchNorm`` moves them (the unbiased variance :math:`\sigma^2 n/(n-1)`),
    so they are the same on every rank. (``nn.SyncBatchNorm`` does this on CUDA only.) When every rank holds
    the whole batch, or in evaluation mode, the layer's own forward pass runs.
    """
    from torch.distributed.nn.functional import all_reduce as differentiable_all_reduce

    own = bn.forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        if not bn.training or shares.full:
            return own(x)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        weight = 0.0 if shares.dummy else 1.0
        local = torch.cat([x.sum(dims) * weight, (x * x).sum(dims) * weight, x.new_full((1,), weight * x.numel() / c)])
        total = differentiable_all_reduce(local)
        n = total[2 * c]
        mean = total[:c] / n
        var = total[c : 2 * c] / n - mean * mean
        with torch.no_grad():
            rm, rv, nb = bn.running_mean, bn.running_var, bn.num_batches_tracked
            if bn.track_running_stats and rm is not None and rv is not None and nb is not None:
                nb.add_(1)
                m = (1.0 / float(nb)) if bn.momentum is None else bn.momentum
                rm.mul_(1 - m).add_(mean.detach(), alpha=m)
                rv.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
        shape = (1, c) + (1,) * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + bn.eps)
        if bn.affine:
            y = y * bn.weight.view(shape) + bn.bias.view(shape)
        return y

    return forward


def _sync_batchnorm(model: nn.Module, shares: Shares) -> list[nn.Module]:
    """Every batch-norm layer normalises with the global batch's statistics (:func:`global_batch_norm`);
    returns the layers (``del layer.forward`` gives them their own forward pass back).
    """
    layers: list[nn.Module] = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            setattr(module, "forward", global_batch_norm(module, shares))  # noqa: B010 - an instance attribute
            layers.append(module)
    return layers


def open_world(mode: str, device: torch.device) -> SingleProcess | ProcessGroup:
    """:data:`SINGLE` for a one-process run, a :class:`ProcessGroup` for a rank of a launched job."""
    if mode == "single":
        return SINGLE
    env = launch_env()
    assert env is not None  # launch_mode said "launched"
    return ProcessGroup(env, device)


# ------------------------------------------------------------------------------------ method adapters
def _adapt_stbp(method: Any, world: ProcessGroup) -> None:
    """STBP: DDP averages the (scaled) gradients; nothing else is per rank."""


def _adapt_eihl(method: Any, world: ProcessGroup) -> None:
    """EIHL: whole batches in the local period, its state broadcast from rank 0, probes averaged."""
    from biosnn.learning.policies import LOCAL

    ctl = method.controller
    world.shares.full_when = lambda: ctl.phase == LOCAL

    def controlled(with_x: bool) -> list[torch.Tensor]:
        tensors = [t for m in ctl.layers.values() for t in (m.weight.data, m.mask)]
        return tensors + ([ctl.x[n] for n in sorted(ctl.x)] if with_x else [])

    def probes() -> list[torch.Tensor]:
        return [m._grad_probe for m in ctl.layers.values() if getattr(m, "_grad_probe", None) is not None]

    local_update = ctl.local_update
    regrow = ctl.regrow

    def synced_local_update(x_encoded: torch.Tensor | None = None) -> None:
        local_update(x_encoded)
        world.broadcast_tensors(controlled(with_x=True))

    def synced_regrow() -> int:
        world.average(probes())
        n = regrow()
        world.broadcast_tensors(controlled(with_x=False))
        return n

    ctl.local_update = synced_local_update
    ctl.regrow = synced_regrow
    world._before_save.append(lambda: world.average(probes()))
    world._extra_state.append(lambda: {f"eihl.x.{n}": t for n, t in ctl.x.items()})


def _adapt_local(method: Any, world: ProcessGroup) -> None:
    """Local-only: the rule's weight changes (sums over the batch) are added over the ranks before the step."""
    learner = method.learner
    updates = learner.updates

    def summed_updates(x_encoded: torch.Tensor) -> dict[str, torch.Tensor]:
        dws = updates(x_encoded)
        if world.shares.dummy:
            dws = {n: torch.zeros_like(d) for n, d in dws.items()}
        world.sum([dws[n] for n in sorted(dws)])
        return dws

    learner.updates = summed_updates


#: How each training method (:data:`biosnn.learning.run.METHODS`) runs on several processes.
METHOD_ADAPTERS: Registry[Callable[[Any, ProcessGroup], None]] = Registry("training method with multi-process support")
METHOD_ADAPTERS.register("stbp", _adapt_stbp)
METHOD_ADAPTERS.register("eihl", _adapt_eihl)
METHOD_ADAPTERS.register("local", _adapt_local)


# ------------------------------------------------------------------------------ starting N processes
def start_method(device: torch.device) -> str:
    """``"fork"`` on the CPU where the platform has it (processes start at once), else ``"spawn"``."""
    if device.type == "cpu" and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def _worker(arguments: dict[str, Any], threads: int, scratch: str) -> Any:
    """One process of a spawned run (its environment set by the elastic agent, as torchrun's is)."""
    from biosnn.learning.run import train

    rank = int(os.environ["RANK"])
    torch.set_num_threads(threads)
    messages = Path(scratch) / "messages.jsonl"

    def notify(message: str) -> None:
        if rank == 0:  # the others' messages repeat rank 0's
            with open(messages, "a") as f:
                f.write(json.dumps(message) + "\n")

    try:
        result = train(**arguments, notify=notify)
    except BaseException as exc:
        with open(Path(scratch) / f"error-{rank}.pickle", "wb") as f:
            pickle.dump(_picklable(exc), f)
        raise
    return result if rank == 0 else None


def spawn(config: Any, nproc: int, *, device: torch.device, notify: Callable[[str], None], **arguments: Any) -> Any:
    """Train ``config`` on ``nproc`` local processes (PyTorch's elastic launch, as ``torchrun`` would).

    ``arguments`` are :func:`biosnn.learning.train`'s (``out_dir``, ``resume``, ``progress``, ``data``, ...).
    Messages of rank 0 are passed to ``notify`` when the processes end. Each process uses
    ``max(1, torch.get_num_threads() // nproc)`` threads. Returns rank 0's :class:`DistributedRunResult`.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if multiprocessing.current_process().daemon:
        raise DistributedError(
            f"nproc = {nproc}: this process is a daemon (a Dask worker started by its nanny, a "
            f"multiprocessing.Pool worker), and daemons cannot start processes; on Dask set the "
            f"configuration distributed.worker.daemon to False (DASK_DISTRIBUTED__WORKER__DAEMON"
            f"=False) or start the workers with --no-nanny, or train with one process"
        )
    scratch = tempfile.mkdtemp(prefix="biosnn-nproc-")
    launch = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"biosnn-{uuid.uuid4().hex}",
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",
        max_restarts=0,
        monitor_interval=0.05,
        start_method=start_method(device),
        local_addr="127.0.0.1",
    )
    threads = max(1, torch.get_num_threads() // nproc)
    try:
        with _quiet_elastic():
            try:
                results = elastic_launch(launch, _worker)(dict(arguments, config=config), threads, scratch)
            except ChildFailedError as exc:
                raise _worker_error(exc, scratch) from None
            finally:
                _replay(Path(scratch) / "messages.jsonl", notify)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results[0]


def _replay(path: Path, notify: Callable[[str], None]) -> None:
    if path.is_file():
        for line in path.read_text().splitlines():
            notify(json.loads(line))


def _worker_error(exc: Exception, scratch: str) -> BaseException:
    """The error a process raised (its own class): a biosnn error of the lowest rank, else the first failure's."""
    errors = {}
    for p in Path(scratch).glob("error-*.pickle"):
        try:
            errors[int(p.stem.split("-")[1])] = pickle.loads(p.read_bytes())
        except Exception:  # noqa: BLE001 - unreadable: fall back to the launcher's report
            continue
    ours = [errors[r] for r in sorted(errors) if isinstance(errors[r], BiosnnError)]
    if ours:
        return ours[0]
    rank = exc.get_first_failure()[0] if hasattr(exc, "get_first_failure") else None
    if rank in errors:
        return errors[rank]
    return DistributedError(f"a training process failed: {exc}")


@contextlib.contextmanager
def _quiet_elastic():
    """Keep the elastic agent's log lines off the console while it runs our processes."""
    import logging

    names = ("torch.distributed.elastic", "torch.distributed.launcher", "torch.multiprocessing")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:  # a process's failure is raised again by spawn() with its own message
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


__all__ = [
    "ENV_VARS",
    "DistributedError",
    "LaunchEnv",
    "launch_env",
    "launch_mode",
    "Shares",
    "GlobalBatchShares",
    "GlobalBatchEncoder",
    "share_bounds",
    "scale_grad",
    "StepLedger",
    "SingleProcess",
    "SINGLE",
    "ProcessGroup",
    "DistributedRunResult",
    "state_digests",
    "open_world",
    "METHOD_ADAPTERS",
    "start_method",
    "spawn",
]
