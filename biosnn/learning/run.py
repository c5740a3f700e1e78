"""A training run from a configuration: EIHL, STBP or local-only, logged, checkpointed and resumable.

:class:`RunConfig` holds every setting of a run (method, model, data set, optimiser, EIHL knobs ...) as
explicit fields with defaults; :func:`train` builds the model, data, trainer and method from it and runs
the epochs. The command line (``biosnn train``) and the demo (``biosnn demo``) are thin layers on these.

Methods (registry :data:`METHODS`), all with the same network, data and budget (epochs x batches):

* ``stbp``: surrogate-gradient BPTT on every layer (:class:`~biosnn.learning.trainer.Trainer`);
* ``eihl``: the hybrid controller (:class:`~biosnn.learning.eihl.EIHLController`);
* ``local``: local learning only: a plasticity rule (``local_rule``, default ``stdp_additive``) on every
  hidden layer through :class:`biosnn.learning.local.LocalLearner`, and the trainer on the readout layer
  only (the hidden weights get no gradient).

Per epoch a row of metrics is logged: ``epoch, phase, global_iterations, local_iterations, loss,
train_accuracy, test_loss, test_accuracy, sparsity, sparsity/<layer>..., ei_balance`` (total excitatory /
inhibitory weight), ``ei_index``, ``firing_rate`` (mean over every spiking population on the test set),
``output_rate``, ``seconds``.

Results directory (``out_dir``): ``config.json``, ``metrics.csv``, ``checkpoints/last.pt`` (written
atomically after every epoch, holding everything needed to resume bit for bit: model with masks, optimiser,
controller with ``x`` and thresholds, every RNG state, the data-loader generator and the metrics history),
and ``plots/training.png`` at the end. A run killed at any moment resumes (``resume=True``) from its last
checkpoint and ends with exactly the weights of an uninterrupted run. Bad input (unknown names, a data set
missing on disk, a checkpoint for another model, NaN in the loss) raises a :class:`~biosnn.errors.BiosnnError`
naming the problem and leaves earlier results as they were.

The run trains on ``config.device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``): the model, the
trainer and every tensor of the run live there, while the data sets and the random generators of the
encoder and the data loader stay on the CPU (so the random streams do not depend on the device). The
device is checked before anything else happens, and it may differ on resume (checkpoints load on any
device; the bit-for-bit guarantee of a resume holds on the device that wrote the checkpoint).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import biosnn
from biosnn.errors import BiosnnError, CheckpointError, ParameterError
from biosnn.learning.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state, write_atomic
from biosnn.learning.eihl import EIHL_DEFAULTS, EIHLController
from biosnn.learning.metrics import FiringRates, connectivity
from biosnn.learning.policies import GLOBAL, LOCAL, SWITCHING_POLICIES
from biosnn.learning.trainer import EpochResult, Trainer, parse_device, resolve_device
from biosnn.registry import Registry

CHECKPOINT = Path("checkpoints") / "last.pt"
DEFAULT_STEPS = 8  # time steps of static data sets when neither the run nor the data set says
#: (method, data set's default encoder) -> encoder used when the run names none: local rules need spikes.
DEFAULT_ENCODERS = {("local", "direct"): "poisson"}


# ------------------------------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class RunConfig:
    """Every setting of a training run (see :func:`train`).

    Parameters
    ----------
    method
        ``"eihl"``, ``"stbp"`` or ``"local"`` (:data:`METHODS`).
    model
        ``"mlp"``, ``"vgg11"`` or ``"resnet"`` (:data:`MODEL_BUILDERS`).
    dataset
        A data set in :data:`biosnn.data.DATASETS` (``"digits"`` ships with scikit-learn) or a synthetic
        one of a paper's shape (:data:`SYNTHETIC_DATASETS`: ``"synthetic-cifar10"``,
        ``"synthetic-dvs-cifar10"`` ...).
    epochs, batch_size, seed
        Budget and seed (every random source is seeded from ``seed``).
    steps
        Time steps ``T`` (``None``: the data set's default, e.g. the paper's).
    encoder
        ``"direct"``, ``"poisson"``, ``"latency"``, ``"frames"``; ``None``: the data set's default (direct
        current for static images, frames for event data), except that the local-only method codes static
        images as Poisson spikes (its rules need presynaptic spikes).
    loss
        A name in :data:`biosnn.learning.losses.LOSSES`.
    optimizer, lr, weight_decay
        A name in :data:`OPTIMIZERS` (``"adam"``, ``"adamw"``, ``"sgd"``), learning rate, weight decay.
    hidden
        Hidden layer widths of the MLP.
    width
        Channel multiplier of VGG11/ResNet.
    neuron
        ``"lif"`` or ``"if"``.
    dale
        Dale's law (fixed-sign E and I populations) in the hidden layers.
    a, b, x_growth, tau_x
        EIHL's contraction factor, removal threshold fraction, growth and decay of ``x``.
    policy, granularity, global_units, max_local_units, max_sparsity, final_global_units
        EIHL's switching policy (:data:`~biosnn.learning.policies.SWITCHING_POLICIES`) and its settings
        (``max_local_units`` is the ``alternate`` policy's ``local_units``).
    local_rule, local_lr, local_epochs
        Plasticity rule and learning rate of the local-only baseline, and the number of (first) epochs in
        which the rule runs (``None``: all; afterwards the hidden layers are fixed and only the readout
        trains, the usual protocol of unsupervised STDP features plus a supervised readout).
    max_batches
        Cap on the batches per epoch (train and test), for smoke runs of paper-scale configurations.
    data_root
        Folder of on-disk data sets (``None``: biosnn's default).
    size
        Event data sets: downsample the sensor to ``size x size`` (the EIHL set-up uses 48 for DVS-CIFAR10).
    device
        Where the run trains: ``"cpu"`` (default), ``"cuda"``, ``"cuda:1"`` (a CUDA device by index), or
        ``"auto"`` (CUDA when ``torch.cuda.is_available()``, else the CPU). A string that is none of these
        raises :class:`~biosnn.errors.ParameterError` here; a CUDA device on a machine without one raises it
        when :func:`train` starts, before any data is loaded or any file is written. Not part of the
        settings a resumed run must share with its checkpoint: a run may continue on another device.
    """

    method: str = "eihl"
    model: str = "mlp"
    dataset: str = "digits"
    epochs: int = 16
    batch_size: int = 64
    seed: int = 0
    steps: int | None = None
    encoder: str | None = None
    loss: str = "count_ce"
    optimizer: str = "adam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    hidden: tuple[int, ...] = (128,)
    width: float = 1.0
    neuron: str = "lif"
    dale: bool = False
    a: float = EIHL_DEFAULTS["a"]
    b: float = EIHL_DEFAULTS["b"]
    x_growth: float = EIHL_DEFAULTS["x_growth"]
    tau_x: float = EIHL_DEFAULTS["tau_x"]
    policy: str = "connectivity"
    granularity: str = "epoch"
    global_units: int = 2
    max_local_units: int = 1
    max_sparsity: float = 0.5
    final_global_units: int = 3
    local_rule: str = "stdp_additive"
    local_lr: float = 1e-5
    local_epochs: int | None = None
    max_batches: int | None = None
    data_root: str | None = None
    size: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        METHODS[self.method]
        MODEL_BUILDERS[self.model]
        SWITCHING_POLICIES[self.policy]
        OPTIMIZERS[self.optimizer]
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "device", parse_device(self.device))
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ParameterError(f"run setting {name!r} must be a positive integer, got {v!r}")
        for name in ("steps", "max_batches", "local_epochs", "size"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ParameterError(f"run setting {name!r} must be a positive integer or None, got {v!r}")
        for name in ("lr", "weight_decay", "a", "b", "x_growth", "tau_x", "local_lr", "width", "max_sparsity"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or v < 0:
                raise ParameterError(f"run setting {name!r} must be a number >= 0, got {v!r}")
        if not self.lr > 0:
            raise ParameterError(f"run setting 'lr' must be > 0, got {self.lr!r}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """The inverse of :meth:`to_dict`; unknown keys raise :class:`ParameterError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParameterError(f"unknown run settings {unknown}; known: {sorted(known)}")
        data = dict(data)
        if "hidden" in data:
            data["hidden"] = tuple(data["hidden"])
        return cls(**data)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)


# ----------------------------------------------------------------------------------------------- data
@dataclass
class DataBundle:
    """Train and test sets with what the model needs to know about them."""

    train: Dataset
    test: Dataset
    input_shape: tuple[int, ...]
    num_classes: int
    steps: int
    encoder: str  # the default encoder: "direct" for static inputs, "frames" for event frames [T, ...]


@dataclass(frozen=True)
class SyntheticSpec:
    """Random data of a paper configuration's shape (for smoke runs of paper-scale models)."""

    input_shape: tuple[int, ...]
    num_classes: int
    steps: int
    events: bool  # True: samples are [T, C, H, W] 0/1 frames; False: static images in [0, 1]
    train_size: int = 32
    test_size: int = 16


SYNTHETIC_DATASETS: Registry[SyntheticSpec] = Registry("synthetic data set")


def _register_paper_shapes() -> None:
    from biosnn.models import PAPER_SETUPS

    for name in PAPER_SETUPS:
        setup = PAPER_SETUPS[name]
        SYNTHETIC_DATASETS.register(
            f"synthetic-{setup.dataset.replace('_', '-')}",
            SyntheticSpec(setup.input_shape, setup.num_classes, setup.steps, events=setup.dataset.startswith("dvs")))


_register_paper_shapes()


def _synthetic(spec: SyntheticSpec, seed: int) -> DataBundle:
    g = torch.Generator().manual_seed(int(seed) + 7919)

    def make(n: int) -> TensorDataset:
        shape = ((spec.steps,) if spec.events else ()) + tuple(spec.input_shape)
        x = torch.rand((n, *shape), generator=g)
        if spec.events:
            x = (x < 0.1).float()
        return TensorDataset(x, torch.randint(0, spec.num_classes, (n,), generator=g))

    return DataBundle(make(spec.train_size), make(spec.test_size), tuple(spec.input_shape), spec.num_classes,
                      spec.steps, "frames" if spec.events else "direct")


def load_data(config: RunConfig) -> DataBundle:
    """The train and test sets named by ``config.dataset`` (synthetic ones generated from the seed).

    Raises
    ------
    UnknownNameError
        For a name neither :data:`SYNTHETIC_DATASETS` nor :data:`biosnn.data.DATASETS` knows.
    DatasetNotFoundError
        For an on-disk data set that is missing (biosnn never downloads at run time).
    """
    if config.dataset in SYNTHETIC_DATASETS:
        return _synthetic(SYNTHETIC_DATASETS[config.dataset], config.seed)
    from biosnn.data import dataset_info, load_dataset

    info = dataset_info(config.dataset)
    events = info.kind == "events"
    steps = config.steps or info.default_steps or DEFAULT_STEPS
    extra = {"steps": steps, "size": config.size} if events else {}
    train_set = load_dataset(config.dataset, root=config.data_root, train=True, **extra)
    test_set = load_dataset(config.dataset, root=config.data_root, train=False, **extra)
    shape = tuple(info.input_shape)
    if events and config.size is not None:
        shape = (shape[0], config.size, config.size)
    return DataBundle(train_set, test_set, shape, int(info.num_classes), steps, "frames" if events else "direct")


def _presets() -> Registry[RunConfig]:
    """Named configurations: the EIHL paper's set-ups (Spiking VGG11 with IF neurons, the paper's time
    steps; see :data:`biosnn.models.PAPER_SETUPS`), each also on synthetic data of the same shape."""
    from biosnn.models import PAPER_SETUPS

    presets: Registry[RunConfig] = Registry("preset")
    for name in PAPER_SETUPS:
        setup = PAPER_SETUPS[name]
        events = setup.dataset.startswith("dvs")
        base = RunConfig(method="eihl", model=setup.model, dataset=setup.dataset, neuron=setup.neuron,
                         steps=setup.steps, batch_size=32, epochs=100, lr=1e-3, hidden=(),
                         size=setup.input_shape[-1] if events else None)
        presets.register(name, base)
        presets.register(f"{name}_synthetic", base.replace(dataset=f"synthetic-{setup.dataset.replace('_', '-')}",
                                                           size=None))
    return presets



# --------------------------------------------------------------------------------------------- models
def _mlp(config: RunConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from biosnn.models import MODELS

    return MODELS["mlp"]((math.prod(input_shape), *config.hidden, num_classes), config.neuron, dale=config.dale)


def _vgg11(config: RunConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from biosnn.models import MODELS

    return MODELS["vgg11"](input_shape[0], num_classes, config.neuron, width=config.width, dale=config.dale)


def _resnet(config: RunConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from biosnn.models import MODELS

    return MODELS["resnet"](input_shape[0], num_classes, config.neuron, width=config.width, dale=config.dale)


#: How each model is built from a configuration and the data's input shape and classes.
MODEL_BUILDERS: Registry[Callable[[RunConfig, tuple[int, ...], int], nn.Module]] = Registry("model")
MODEL_BUILDERS.register("mlp", _mlp)
MODEL_BUILDERS.register("vgg11", _vgg11)
MODEL_BUILDERS.register("resnet", _resnet)

#: Optimisers by name: ``factory(params, lr, weight_decay)``.
OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.register("adam", lambda params, lr, wd: torch.optim.Adam(params, lr=lr, weight_decay=wd))
OPTIMIZERS.register("adamw", lambda params, lr, wd: torch.optim.AdamW(params, lr=lr, weight_decay=wd))
OPTIMIZERS.register("sgd", lambda params, lr, wd: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd))


# -------------------------------------------------------------------------------------------- methods
class StbpMethod:
    """STBP on every layer."""

    def __init__(self, config: RunConfig, model: nn.Module, trainer_kw: dict[str, Any]) -> None:
        opt = OPTIMIZERS[config.optimizer](model.parameters(), config.lr, config.weight_decay)
        self.trainer = Trainer(model, opt, **trainer_kw)

    def train_epoch(self, loader: Iterable, *, epochs_left: int, progress=None) -> tuple[EpochResult, dict]:
        r = self.trainer.train_epoch(loader, progress=progress)
        return r, {GLOBAL: self._batches(loader), LOCAL: 0}

    @staticmethod
    def _batches(loader) -> int:
        return len(loader) if hasattr(loader, "__len__") else 0

    def state_dict(self) -> dict:
        return {"trainer": self.trainer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.trainer.load_state_dict(state["trainer"])


class EihlMethod:
    """The EIHL hybrid controller around an STBP trainer."""

    def __init__(self, config: RunConfig, model: nn.Module, trainer_kw: dict[str, Any]) -> None:
        opt = OPTIMIZERS[config.optimizer](model.parameters(), config.lr, config.weight_decay)
        self.trainer = Trainer(model, opt, **trainer_kw)
        self.controller = EIHLController(self.trainer, a=config.a, b=config.b, x_growth=config.x_growth,
                                         tau_x=config.tau_x, policy=_policy(config), granularity=config.granularity)

    def train_epoch(self, loader: Iterable, *, epochs_left: int, progress=None) -> tuple[EpochResult, dict]:
        return self.controller.train_epoch(loader, epochs_left=epochs_left, progress=progress)

    def state_dict(self) -> dict:
        return {"trainer": self.trainer.state_dict(), "controller": self.controller.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.trainer.load_state_dict(state["trainer"])
        self.controller.load_state_dict(state["controller"])


def _policy(config: RunConfig):
    cls = SWITCHING_POLICIES[config.policy]
    settings = {"global_units": config.global_units, "max_local_units": config.max_local_units,
                "local_units": config.max_local_units, "max_sparsity": config.max_sparsity,
                "final_global_units": config.final_global_units}
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in settings.items() if k in names})


class LocalMethod:
    """Local learning on the hidden layers (a plasticity rule) and STBP on the readout layer only."""

    def __init__(self, config: RunConfig, model: nn.Module, trainer_kw: dict[str, Any]) -> None:
        from biosnn.learning.local import LocalLearner
        from biosnn.models import masked_layers
        from biosnn.plasticity import get_rule

        names = [n for n, _ in masked_layers(model)]
        readout_name = names[-1]
        readout = model.get_submodule(readout_name)
        readout_params = {id(p) for p in readout.parameters()}
        for p in model.parameters():
            if id(p) not in readout_params:
                p.requires_grad_(False)  # the hidden layers learn locally only
        opt = OPTIMIZERS[config.optimizer](list(readout.parameters()), config.lr, config.weight_decay)
        self.trainer = Trainer(model, opt, **trainer_kw)
        self.learner = LocalLearner(model, get_rule(config.local_rule)(), layers=names[:-1], lr=config.local_lr)
        self.local_epochs = config.local_epochs
        self.epochs_done = 0

    def train_epoch(self, loader: Iterable, *, epochs_left: int, progress=None) -> tuple[EpochResult, dict]:
        results = []
        plastic = self.local_epochs is None or self.epochs_done < self.local_epochs
        for x, y in loader:
            x_t = self.trainer.encode(x)
            if plastic:
                self.learner.step(x_t)
            r = self.trainer.train_step_encoded(x_t, y)
            results.append(r)
            if progress is not None:
                progress(r)
        if self.trainer.scheduler is not None:
            self.trainer.scheduler.step()
        self.epochs_done += 1
        # the readout's STBP steps are counted as global iterations, the local rule's as local ones
        return EpochResult.from_steps(results), {GLOBAL: 0 if plastic else len(results),
                                                 LOCAL: len(results) if plastic else 0}

    def state_dict(self) -> dict:
        return {"trainer": self.trainer.state_dict(), "learner_optimizer": self.learner.optimizer.state_dict(),
                "epochs_done": self.epochs_done}

    def load_state_dict(self, state: dict) -> None:
        self.trainer.load_state_dict(state["trainer"])
        self.learner.optimizer.load_state_dict(state["learner_optimizer"])
        self.epochs_done = int(state["epochs_done"])


METHODS: Registry[type] = Registry("training method")
METHODS.register("stbp", StbpMethod)
METHODS.register("eihl", EihlMethod)
METHODS.register("local", LocalMethod)


# ------------------------------------------------------------------------------------------------ run
@dataclass
class RunResult:
    """What :func:`train` returns: the configuration, the metrics history and the trained model."""

    config: RunConfig
    history: list[dict[str, Any]]
    model: nn.Module
    out_dir: Path | None = None
    resumed_from: int = 0  # epochs already done when the run (re)started
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # where it trained

    @property
    def final(self) -> dict[str, Any]:
        """The last epoch's metrics."""
        return self.history[-1]


class _Limited:
    """A loader capped at ``n`` batches (keeps ``len``)."""

    def __init__(self, loader: DataLoader, n: int | None) -> None:
        self.loader, self.n = loader, n

    def __iter__(self):
        return iter(self.loader) if self.n is None else itertools.islice(self.loader, self.n)

    def __len__(self) -> int:
        return len(self.loader) if self.n is None else min(self.n, len(self.loader))


def _phase_label(counts: dict[str, int]) -> str:
    used = [p for p in (GLOBAL, LOCAL) if counts.get(p)]
    return "+".join(used) if used else GLOBAL


def write_metrics_csv(path: Path, history: list[dict[str, Any]]) -> None:
    """Write the metrics history as CSV (atomically; columns in first-seen order)."""
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow(row)
    write_atomic(path, buf.getvalue().encode("utf-8"))


def _comparable(config: RunConfig) -> dict[str, Any]:
    """The settings a checkpoint must share with the run resuming it (``epochs`` may grow, ``device`` may
    change: a run started on a GPU may continue on the CPU and the other way round)."""
    d = config.to_dict()
    d.pop("epochs")
    d.pop("device")
    return d


def plot_run(out_dir: Path, history: list[dict[str, Any]]) -> Path:
    """Draw the hybrid-training figure (accuracy, sparsity, E/I balance vs epoch, periods shaded)."""
    import pandas as pd

    from biosnn.plot import save_figure
    from biosnn.plot.training import training_timeline

    return save_figure(training_timeline(pd.DataFrame(history)), out_dir / "plots" / "training.png")


def train(config: RunConfig, *, out_dir: str | os.PathLike | None = None, resume: bool = False,
          progress: bool = False, data: DataBundle | None = None, plot: bool = True,
          stop_after: int | None = None) -> RunResult:
    """Run (or resume) the training run described by ``config``.

    Parameters
    ----------
    config
        The run's settings.
    out_dir
        Results directory (config, metrics CSV, checkpoints, plots); ``None``: nothing is written.
        A new run refuses a directory that already holds a run (use ``resume``), so earlier results are
        never overwritten.
    resume
        Continue the run in ``out_dir`` from its last checkpoint (its ``config.json`` must match
        ``config`` except for ``epochs``, which may grow, and ``device``, which may differ).
    progress
        Show tqdm progress bars.
    data
        Pre-loaded data (otherwise :func:`load_data`); lets several runs share one loaded data set.
    plot
        Draw ``plots/training.png`` at the end (with ``out_dir``).
    stop_after
        Stop (resumably) once this epoch is done, as if the run had been interrupted there; the schedule
        is still that of ``config.epochs``.

    Returns
    -------
    RunResult

    Raises
    ------
    ParameterError
        For a device that is not there (``"cuda"`` without CUDA), before anything is loaded or written.
    """
    device = resolve_device(config.device)  # first: a bad device must not cost a data load or a file
    out = Path(out_dir) if out_dir is not None else None
    ckpt_path = out / CHECKPOINT if out is not None else None
    if resume:
        if out is None:
            raise ParameterError("resume needs the results directory of the run (out_dir)")
        if not ckpt_path.is_file():
            raise CheckpointError(f"nothing to resume in {str(out)!r}: no checkpoint {str(ckpt_path)!r}")
        stored = _read_config(out)
        if _comparable(stored) != _comparable(config):
            diff = sorted(k for k, v in _comparable(config).items() if _comparable(stored).get(k) != v)
            raise CheckpointError(f"the run in {str(out)!r} was made with other settings ({', '.join(diff)}); "
                                  f"resume it with its own configuration")
    elif out is not None and (out / "config.json").exists():
        raise ParameterError(f"{str(out)!r} already holds a run; resume it (--resume) or choose another directory")

    # Everything is built from the seed, identically for a fresh and a resumed run.
    biosnn.seed(config.seed)
    bundle = data if data is not None else load_data(config)
    steps = config.steps or bundle.steps
    encoder_name = config.encoder if config.encoder is not None else DEFAULT_ENCODERS.get(
        (config.method, bundle.encoder), bundle.encoder)
    encoder = encoder_name
    # built on the CPU (same initial weights on every device), then moved before the optimiser, the
    # controller's x and the local learner's state are created from its parameters
    model = MODEL_BUILDERS[config.model](config, bundle.input_shape, bundle.num_classes).to(device)
    trainer_kw = {"loss": config.loss, "encoder": encoder, "steps": steps, "seed": config.seed + 1,
                  "device": device}
    method = METHODS[config.method](config, model, trainer_kw)
    loader_gen = torch.Generator().manual_seed(config.seed + 2)
    train_loader = _Limited(DataLoader(bundle.train, batch_size=config.batch_size, shuffle=True,
                                       generator=loader_gen), config.max_batches)
    test_loader = _Limited(DataLoader(bundle.test, batch_size=max(config.batch_size, 256)), config.max_batches)

    history: list[dict[str, Any]] = []
    start = 0
    if resume:
        state = load_checkpoint(ckpt_path, model=model, expect={"config": _comparable(config)})
        for stale in ckpt_path.parent.glob(f".{ckpt_path.name}.*.tmp"):  # left by a kill during a write
            stale.unlink()
        method.load_state_dict(state["method"])
        loader_gen.set_state(state["loader_generator"])
        set_rng_state(state["rng"])
        history = list(state["history"])
        start = int(state["epoch"])
    elif out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "config.json", (json.dumps(config.to_dict(), indent=2) + "\n").encode("utf-8"))

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, initial=start, desc=f"{config.method} {config.model}/{config.dataset}",
                   unit="epoch")
    try:
        last = config.epochs if stop_after is None else min(config.epochs, int(stop_after))
        for epoch in range(start, last):
            t0 = time.perf_counter()
            result, counts = method.train_epoch(train_loader, epochs_left=config.epochs - epoch - 1)
            trainer = method.trainer
            with FiringRates(model) as rates:
                test = trainer.evaluate(test_loader)
            row: dict[str, Any] = {
                "epoch": epoch + 1, "phase": _phase_label(counts), "global_iterations": counts.get(GLOBAL, 0),
                "local_iterations": counts.get(LOCAL, 0), "loss": result.loss, "train_accuracy": result.accuracy,
                "test_loss": test.loss, "test_accuracy": test.accuracy,
            }
            conn = connectivity(model)
            row["sparsity"] = conn.pop("sparsity", 0.0)
            row["ei_balance"] = conn.pop("ei_ratio", float("nan"))
            row["ei_index"] = conn.pop("ei_index", float("nan"))
            row.update(conn)
            row["firing_rate"] = rates.mean
            row["output_rate"] = test.output_rate
            row["seconds"] = round(time.perf_counter() - t0, 3)
            history.append(row)
            if out is not None:
                save_checkpoint(ckpt_path, {
                    "config": _comparable(config), "device": str(device), "epoch": epoch + 1,
                    "history": history, "method": method.state_dict(), "loader_generator": loader_gen.get_state(),
                    "rng": rng_state(),
                }, model=model)
                write_metrics_csv(out / "metrics.csv", history)
            if bar is not None:
                bar.set_postfix(phase=row["phase"], acc=f"{row['test_accuracy']:.3f}", sparsity=f"{row['sparsity']:.2f}")
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if out is not None:
        if history:
            write_metrics_csv(out / "metrics.csv", history)
        if plot and history:
            plot_run(out, history)
    return RunResult(config, history, model, out, start, device)


def _read_config(out: Path) -> RunConfig:
    path = out / "config.json"
    try:
        return RunConfig.from_dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise CheckpointError(f"cannot read the run configuration {str(path)!r}: {exc}") from exc


def read_config(out_dir: str | os.PathLike) -> RunConfig:
    """The configuration of the run stored in ``out_dir`` (for ``--resume``)."""
    return _read_config(Path(out_dir))


#: Named run configurations (``biosnn train --preset eihl_dvs_cifar10``; ``..._synthetic`` variants run
#: on random data of the paper's shape).
PRESETS: Registry[RunConfig] = _presets()

__all__ = ["RunConfig", "RunResult", "DataBundle", "PRESETS", "METHODS", "MODEL_BUILDERS", "OPTIMIZERS",
           "SYNTHETIC_DATASETS", "load_data", "train", "read_config", "write_metrics_csv", "plot_run",
           "BiosnnError"]
