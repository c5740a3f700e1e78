"""A training run from a configuration: EIHL, STBP or local-only, logged, checkpointed and resumable.

:class:`RunConfig` holds every setting of a run (method, model, data set, optimiser, EIHL knobs ...) as
explicit fields with defaults; :func:`train` builds the model, data, trainer and method from it and runs
the epochs. The command line (``biosnn train``) and the demo (``biosnn demo``) are thin layers on these.

Methods (registry :data:`METHODS`), all with the same network, data and budget (epochs x batches):

* ``stbp``: surrogate-gradient BPTT on every layer (:class:`~biosnn.learning.trainer.Trainer`);
* ``eihl``: the hybrid controller (:class:`~biosnn.learning.eihl.EIHLController`);
* ``local``: local learning only: a plasticity rule (``local_rule``, default ``stdp_additive``) on every
  hidden layer through :class:`biosnn.learning.local.LocalLearner`, and the trainer on the readout layer
  only (the hidden weights get no gradient). With ``model="competitive_mlp"`` and
  ``local_rule="stdp_competitive"`` it is competitive unsupervised STDP (winner-take-all, adaptive
  thresholds, excitatory-only Dale layers; Diehl & Cook 2015), the local learning that learns.

Per epoch a row of metrics is logged: ``epoch, phase, global_iterations, local_iterations, loss,
train_accuracy, test_loss, test_accuracy, sparsity, sparsity/<layer>..., ei_balance`` (total excitatory /
inhibitory weight), ``ei_index``, ``firing_rate`` (mean over every spiking population on the test set),
``output_rate``, ``seconds``.

Results directory (``out_dir``): ``config.json``, ``metrics.csv``, ``checkpoints/last.pt`` (written
atomically after every epoch, holding everything needed to resume bit for bit: model with masks, optimiser,
controller with ``x`` and thresholds, every RNG state, the data-loader generator and the metrics history),
and ``plots/training.png`` at the end; every file is written atomically (:func:`~biosnn.learning.checkpoint.write_atomic`,
with the umask's permissions). A run killed at any moment resumes (``resume=True``) from its last checkpoint
and ends with exactly the weights of an uninterrupted run (``tests/learning/test_kill_resume.py`` kills real
runs at ten moments, every kind of file write included).

**Folder rules** (the same for the library and ``biosnn train``; details in :func:`train`). A run holds an
exclusive ``fcntl.flock`` on ``out_dir/.lock`` while it runs: a second run on the folder stops with
:class:`~biosnn.errors.RunFolderError` and touches nothing. A new run refuses a folder that holds results
(a checkpoint, ``metrics.csv`` or plots, whether or not ``config.json`` is there) and starts anew, saying
so, in one that holds only what a run writes before its first checkpoint (``config.json``, temporary files,
the lock). ``resume`` continues from the checkpoint, or starts from the beginning (saying so) when the run
stopped before its first checkpoint; ``epochs`` may change on resume (fewer than the epochs done: an error;
as many: nothing left to do; the new count is written to ``config.json``), every other setting but
``device`` must be the run's own. The temporary files a kill left are removed on every start.

Bad input (unknown names, settings that contradict each other or do not apply to the run, a data set
missing or corrupt on disk, a checkpoint for another model or not safely loadable, NaN or infinite values in
the loss, a gradient or a weight) raises a :class:`~biosnn.errors.BiosnnError` naming the problem, checked
when the run is set up wherever it can be (before any file is written), and leaves earlier results as they
were: a run that diverges stops naming the parameter, the epoch and the iteration, and its last good
checkpoint is kept.

The run trains on ``config.device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``): the model, the
trainer and every tensor of the run live there, while the data sets and the random generators of the
encoder and the data loader stay on the CPU (so the random streams do not depend on the device). The
device is checked before anything else happens, and it may differ on resume (checkpoints load on any
device; the bit-for-bit guarantee of a resume holds on the device that wrote the checkpoint).
"""  # noqa: E501

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import biosnn
from biosnn.errors import BiosnnError, CheckpointError, NonFiniteError, ParameterError, RunFolderError
from biosnn.learning import family as _family
from biosnn.learning.checkpoint import (
    kill_point,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    write_atomic,
)
from biosnn.learning.eihl import EIHLController
from biosnn.learning.family import FAMILY_METHODS
from biosnn.learning.metrics import FiringRates, SynapticOps, connectivity
from biosnn.learning.policies import GLOBAL, LOCAL, SWITCHING_POLICIES
from biosnn.learning.trainer import EpochResult, Trainer, parse_device, resolve_device
from biosnn.plasticity.eihl_contraction import EIHLConfig
from biosnn.registry import Registry

CHECKPOINT = Path("checkpoints") / "last.pt"
_EIHL_CONFIG = EIHLConfig()  # the defaults of RunConfig's EIHL settings
DEFAULT_STEPS = 8  # time steps of static data sets when neither the run nor the data set says
#: (method, data set's default encoder) -> encoder used when the run names none: local rules need spikes.
DEFAULT_ENCODERS = {("local", "direct"): "poisson"}


MAX_SEED = 2**32 - 1  # what NumPy and Brian2 accept as a seed
#: Encoders that give 0/1 spikes, which the local rules need.
SPIKE_ENCODERS = ("poisson", "latency")


#: The kind of a user's data set (``dataset="package.module:factory"``): static or event data, known only once
#: the factory has run (:func:`load_data` checks the encoder against the bundle then).
CUSTOM = "custom"


def is_custom_dataset(name: str) -> bool:
    """Whether ``name`` refers to a user's data-set factory (``"package.module:factory"``) rather than a name."""
    return isinstance(name, str) and ":" in name


def dataset_factory(reference: str) -> Callable[[RunConfig], Any]:
    """The user's data-set factory that ``reference`` (``"package.module:factory"``) names.

    The module is imported as ``import package.module`` would (from ``sys.path``: an installed package, or
    a module in the current folder, or on ``PYTHONPATH``), and ``factory`` is looked up in it (dotted
    attributes such as ``module:Class.method`` are followed).

    Raises
    ------
    ParameterError
        When the reference is not of the form ``module:attribute``, the module cannot be imported (named,
        with the import error), the attribute is missing, or it is not callable.
    """
    import importlib

    module_name, _, attribute = reference.partition(":")
    if not module_name.strip() or not attribute.strip() or ":" in attribute:
        raise ParameterError(
            f"data set {reference!r}: a custom data set is given as 'package.module:factory' "
            f"(a module on sys.path and a callable in it)"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ParameterError(
            f"data set {reference!r}: cannot import module {module_name!r} ({exc}); it must be "
            f"importable from sys.path (installed, in the current folder, or on PYTHONPATH)"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            known = sorted(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n)))
            raise ParameterError(
                f"data set {reference!r}: module {module_name!r} has no attribute {attribute!r}"
                f" (its callables: {', '.join(known) or 'none'})"
            )
        target = getattr(target, part)
    if not callable(target):
        raise ParameterError(
            f"data set {reference!r}: {attribute!r} in {module_name!r} is a "
            f"{type(target).__name__}, not a callable that returns the data"
        )
    return target


def _dataset_kind(name: str) -> str:
    """``"static"`` or ``"events"`` for a synthetic or registered data set, :data:`CUSTOM` for a user's
    factory (checked to be importable and callable); unknown names raise.
    """
    if name in SYNTHETIC_DATASETS:
        return "events" if SYNTHETIC_DATASETS[name].events else "static"
    if is_custom_dataset(name):
        dataset_factory(name)
        return CUSTOM
    from biosnn.data import dataset_info

    return dataset_info(name).kind


def _on_disk(name: str) -> bool:
    """Whether a data set is read from files (digits and waveform are bundled or generated). A user's factory
    counts as on disk: it receives ``data_root`` through the configuration and may use it.
    """
    if is_custom_dataset(name):
        return True
    from biosnn.data import dataset_info

    return name not in SYNTHETIC_DATASETS and bool(dataset_info(name).folder)


#: The fully connected models (their layers take ``hidden``; the local-only method runs on them).
MLP_MODELS = ("mlp", "competitive_mlp")


def layer_rules() -> list[str]:
    """The plasticity rules that can run on PyTorch layers (the local-only method's ``local_rule``): those with
    a ``layer_update`` or a layer kind that needs none (:data:`biosnn.learning.local.LAYER_KINDS`).
    """
    from biosnn.learning.local import LAYER_KINDS
    from biosnn.plasticity import RULES

    def runs_on_layers(rule: type) -> bool:
        kind = getattr(rule, "layer_kind", "traces")
        return kind in LAYER_KINDS and (
            not LAYER_KINDS[kind].needs_spikes or callable(getattr(rule, "layer_update", None))
        )

    return sorted(name for name, rule in RULES.items() if runs_on_layers(rule))


def _check_names(config: RunConfig) -> None:
    """Every registered name a configuration holds is known (UnknownNameError naming it otherwise); the local
    rule must have an update for PyTorch layers (:func:`layer_rules`); a custom data set's factory must be
    importable and callable (:func:`dataset_factory`).
    """
    from biosnn.errors import UnknownNameError
    from biosnn.learning.eihl import GRANULARITIES
    from biosnn.learning.losses import LOSSES
    from biosnn.models import NEURONS

    if not isinstance(config.dataset, str):
        raise ParameterError(f"run setting 'dataset' must be a name, got {config.dataset!r}")
    _dataset_kind(config.dataset)
    LOSSES[config.loss]
    if config.method not in FAMILY_METHODS:  # the family's neuron kinds: checked in _check_combination
        NEURONS[config.neuron]
    GRANULARITIES[config.granularity]
    if config.encoder is not None:
        from biosnn.data import ENCODERS

        ENCODERS[config.encoder]
    from biosnn.plasticity import RULES

    usable = layer_rules()
    if config.local_rule not in usable:
        if config.local_rule not in RULES:
            raise UnknownNameError(
                f"unknown plasticity rule {config.local_rule!r} for run setting 'local_rule'; "
                f"rules that run on PyTorch layers: {', '.join(usable)}"
            )
        raise ParameterError(
            f"plasticity rule {config.local_rule!r} has no update for PyTorch layers (no "
            f"layer_update), so it cannot be the local-only method's rule; rules that have one: "
            f"{', '.join(usable)}"
        )


def _check_combination(config: RunConfig) -> None:
    """Settings that contradict each other (or that a run would store and ignore) raise ParameterError."""
    from biosnn.learning.family import resolve_settings

    for name, value in resolve_settings(config).items():  # a family method's own model, neuron and read-out
        object.__setattr__(config, name, value)
    kind = _dataset_kind(config.dataset)
    if config.model == "mlp" and config.width != 1.0:
        raise ParameterError(
            f"run setting 'width' ({config.width!r}) applies to the vgg11 and resnet models only, "
            f"not to model 'mlp' (its layers are set by 'hidden')"
        )
    if config.size is not None and (kind != "events" or not _on_disk(config.dataset)):
        raise ParameterError(
            f"run setting 'size' ({config.size!r}) applies to on-disk event data sets only "
            f"(nmnist, dvs_cifar10), not to {config.dataset!r}"
        )
    encoder = config.encoder if config.encoder is not None else ("frames" if kind == "events" else "direct")
    if kind == "events" and encoder != "frames":
        raise ParameterError(
            f"data set {config.dataset!r} holds event frames: its encoder is 'frames', not {encoder!r}"
        )
    if kind == "static" and encoder == "frames":
        raise ParameterError(
            f"data set {config.dataset!r} holds static images: the 'frames' encoder is for event "
            f"data; use direct, poisson or latency"
        )
    if config.method == "local" and config.encoder is not None and encoder not in SPIKE_ENCODERS:
        raise ParameterError(
            f"the local-only method needs 0/1 input spikes for its plasticity rule: encoder "
            f"{' or '.join(SPIKE_ENCODERS)}, not {encoder!r}"
        )
    if config.method == "local" and config.model not in MLP_MODELS:
        raise ParameterError(
            f"the local-only method runs its plasticity rule on the mlp and competitive_mlp models' layers only; "
            f"{config.model}'s pooling turns spikes into non-binary inputs for the next layer"
        )
    if config.model == "competitive_mlp" and config.method != "local":
        raise ParameterError(
            f"model 'competitive_mlp' learns locally only (its winner-take-all populations pass no gradient): "
            f"use it with method 'local', not {config.method!r}"
        )
    if config.method == "local" and (config.local_rule == "stdp_competitive") != (config.model == "competitive_mlp"):
        raise ParameterError(
            "local_rule 'stdp_competitive' and model 'competitive_mlp' go together (the rule needs "
            "winner-take-all populations, the populations a competitive rule); got local_rule "
            f"{config.local_rule!r} with model {config.model!r}"
        )
    if config.dataset in SYNTHETIC_DATASETS and config.steps is not None:
        spec = SYNTHETIC_DATASETS[config.dataset]
        if spec.events and config.steps != spec.steps:
            raise ParameterError(
                f"data set {config.dataset!r} holds {spec.steps} frames per sample; steps = "
                f"{config.steps} does not match (leave it out, or give {spec.steps})"
            )
    if config.method == "local" and kind == "events":
        raise ParameterError(
            f"the local-only method needs 0/1 input spikes (poisson or latency coding of static "
            f"images); data set {config.dataset!r} gives event counts per frame"
        )


#: Which runs each setting applies to, for options given explicitly (``biosnn train``): a setting given
#: for a run it does not apply to is refused (:func:`inapplicable_settings`) instead of stored and ignored.
_APPLIES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "width": (
        lambda c: c.model in ("vgg11", "resnet") or _family_uses(c, "width"),
        "the vgg11 and resnet models and the family's convolutional models",
    ),
    "hidden": (
        lambda c: c.model in MLP_MODELS or _family_uses(c, "hidden"),
        "the mlp and competitive_mlp models and the family's MLP-like models",
    ),
    "loss": (
        lambda c: c.method not in FAMILY_METHODS,
        "the stbp, eihl and local methods (the family methods train with their papers' losses)",
    ),
    "dale": (lambda c: c.method not in FAMILY_METHODS, "the mlp, vgg11 and resnet models"),
    "size": (
        lambda c: _dataset_kind(c.dataset) == "events" and _on_disk(c.dataset),
        "on-disk event data sets (nmnist, dvs_cifar10)",
    ),
    "data_root": (lambda c: _on_disk(c.dataset), "data sets read from disk (not digits or synthetic ones)"),
    **{
        k: (lambda c: c.method == "local", "the local-only method (--method local)")
        for k in ("local_rule", "local_lr", "local_epochs")
    },
    **{
        k: (lambda c: c.method == "eihl", "the eihl method")
        for k in ("a", "b", "x_growth", "tau_x", "policy", "granularity")
    },
}


def _family_uses(config: RunConfig, name: str) -> bool:
    from biosnn.learning.family import uses_setting

    return uses_setting(config, name)


_POLICY_SETTINGS = {
    "global_units": "global_units",
    "max_local_units": "local_units",
    "max_sparsity": "max_sparsity",
    "final_global_units": "final_global_units",
}


def inapplicable_settings(config: RunConfig, names: Iterable[str]) -> list[str]:
    """For each of ``names`` (settings given explicitly) that ``config``'s run would ignore, why.

    ``width`` applies to vgg11/resnet, ``hidden`` to the MLP, ``size`` to on-disk event data,
    ``data_root`` to on-disk data, ``local_*`` to the local-only method, EIHL's knobs to ``eihl`` (and the
    policy settings to the policies that read them: ``max_local_units`` is ``alternate``'s ``local_units``
    and ``connectivity``'s ``max_local_units``).
    """
    problems = []
    for name in names:
        if name in _APPLIES:
            applies, where = _APPLIES[name]
            if not applies(config):
                problems.append(f"{name} applies to {where} only")
        elif name in _POLICY_SETTINGS:
            if config.method != "eihl":
                problems.append(f"{name} applies to the eihl method only")
                continue
            fields = {f.name for f in dataclasses.fields(SWITCHING_POLICIES[config.policy])}
            if name not in fields and _POLICY_SETTINGS[name] not in fields:
                problems.append(f"{name} is not used by the {config.policy!r} switching policy")
    return problems


# ------------------------------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class RunConfig:
    """Every setting of a training run (see :func:`train`).

    Parameters
    ----------
    method
        ``"eihl"``, ``"stbp"`` or ``"local"``, or one of the family (:mod:`biosnn.learning.family`):
        ``"ltmd"``, ``"mlf"``, ``"stmixer"``, ``"spide"``, ``"eicil"`` (:data:`METHODS`).
    model
        ``"mlp"``, ``"vgg11"`` or ``"resnet"``, or a family method's network (``"ltmd_mlp"``,
        ``"ltmd_densenet"``, ``"mlf_dsresnet"``, ``"stmixer"``, ``"spide_mlp"``, ``"spide_conv"``,
        ``"eicil_mlp"``, ``"eicil_vgg11"``; :data:`MODEL_BUILDERS`). With a family method the default ``"mlp"``
        stands for the method's own network.
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
        ``"lif"`` or ``"if"``; a family method's neuron kinds are its own (``"ltmd_lt"``, ``"ltmd_lif"``,
        ``"mlf_k3"`` ... ``"mlf_k1"``, ``"stmixer_hard"``, ``"stmixer_soft"``, ``"spide_if"``, ``"spide_lif"``,
        ``"eicil_ei"``, ``"eicil_if"``; :data:`biosnn.learning.family.FAMILY`), and the default ``"lif"`` stands
        for the method's own.
    dale
        Dale's law (fixed-sign E and I populations) in the hidden layers.
    a, b, x_growth, tau_x
        EIHL's contraction factor, removal threshold fraction, growth and decay of ``x``.
    policy, granularity, global_units, max_local_units, max_sparsity, final_global_units
        EIHL's switching policy (:data:`~biosnn.learning.policies.SWITCHING_POLICIES`) and its settings
        (``max_local_units`` is the ``alternate`` policy's ``local_units``). Every EIHL setting defaults to
        the field of :class:`~biosnn.plasticity.eihl_contraction.EIHLConfig` of the same name (one place for
        the defaults, which are safe: any run of two epochs or more has a local period and ends with a
        global one); ``None`` for ``global_units`` / ``final_global_units`` means one epoch / half an epoch
        of iterations (:meth:`EIHLConfig.resolved_units`). The run builds one ``EIHLConfig`` from them
        (:func:`eihl_config`) and writes every switching decision to ``decisions.csv``.
    local_rule, local_lr, local_epochs
        Plasticity rule and learning rate of the local-only baseline (``None``: the rule's own, 1e-5 for the
        trace rules, 0.05 per postsynaptic spike for ``stdp_competitive``; 0 keeps the random initial
        strengths, the frozen random control), and the number of (first) epochs in
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
    a: float = _EIHL_CONFIG.a
    b: float = _EIHL_CONFIG.b
    x_growth: float = _EIHL_CONFIG.x_growth
    tau_x: float = _EIHL_CONFIG.tau_x
    policy: str = "connectivity"
    granularity: str = _EIHL_CONFIG.granularity
    global_units: int | None = _EIHL_CONFIG.global_units
    max_local_units: int = _EIHL_CONFIG.max_local_units
    max_sparsity: float = _EIHL_CONFIG.max_sparsity
    final_global_units: int | None = _EIHL_CONFIG.final_global_units
    local_rule: str = "stdp_additive"
    local_lr: float | None = None
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
        _check_names(self)
        try:
            hidden = tuple(int(h) for h in self.hidden)
        except (TypeError, ValueError):
            raise ParameterError(
                f"run setting 'hidden' must be a sequence of positive integers, got {self.hidden!r}"
            ) from None
        if any(h < 1 for h in hidden):
            raise ParameterError(f"run setting 'hidden' must hold positive layer widths, got {hidden!r}")
        object.__setattr__(self, "hidden", hidden)
        object.__setattr__(self, "device", parse_device(self.device))
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ParameterError(f"run setting {name!r} must be a positive integer, got {v!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed <= MAX_SEED:
            raise ParameterError(f"run setting 'seed' must be an integer in [0, {MAX_SEED}], got {self.seed!r}")
        for name in ("steps", "max_batches", "local_epochs", "size"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ParameterError(f"run setting {name!r} must be a positive integer or None, got {v!r}")
        for name in ("lr", "weight_decay", "a", "b", "x_growth", "tau_x", "local_lr", "width", "max_sparsity"):
            v = getattr(self, name)
            if v is None and name == "local_lr":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ParameterError(f"run setting {name!r} must be a finite number >= 0, got {v!r}")
        for name in ("lr", "width"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"run setting {name!r} must be > 0, got {getattr(self, name)!r}")
        if self.dale not in (True, False):
            raise ParameterError(f"run setting 'dale' must be True or False, got {self.dale!r}")
        _check_combination(self)

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
            SyntheticSpec(setup.input_shape, setup.num_classes, setup.steps, events=setup.dataset.startswith("dvs")),
        )


_register_paper_shapes()


def _synthetic(spec: SyntheticSpec, seed: int) -> DataBundle:
    g = torch.Generator().manual_seed(int(seed) + 7919)

    def make(n: int) -> TensorDataset:
        shape = ((spec.steps,) if spec.events else ()) + tuple(spec.input_shape)
        x = torch.rand((n, *shape), generator=g)
        if spec.events:
            x = (x < 0.1).float()
        return TensorDataset(x, torch.randint(0, spec.num_classes, (n,), generator=g))

    return DataBundle(
        make(spec.train_size),
        make(spec.test_size),
        tuple(spec.input_shape),
        spec.num_classes,
        spec.steps,
        "frames" if spec.events else "direct",
    )


#: What a custom data-set factory may return instead of a :class:`DataBundle`: a mapping with these keys
#: (``steps`` and ``encoder`` optional: :data:`DEFAULT_STEPS` and ``"direct"``).
CUSTOM_KEYS = ("train", "test", "input_shape", "num_classes")


def _custom_bundle(config: RunConfig) -> DataBundle:
    """Call the user's factory named by ``config.dataset`` and check what it returns (see :func:`load_data`)."""
    from collections.abc import Mapping

    from biosnn.data import ENCODERS

    reference = config.dataset
    made = dataset_factory(reference)(config)
    if isinstance(made, Mapping):
        missing = [k for k in CUSTOM_KEYS if k not in made]
        unknown = sorted(set(made) - set(CUSTOM_KEYS) - {"steps", "encoder"})
        if missing or unknown:
            raise ParameterError(
                f"data set {reference!r}: the factory returned a mapping "
                f"{'without ' + ', '.join(missing) if missing else ''}"
                f"{'; ' if missing and unknown else ''}"
                f"{'with unknown keys ' + ', '.join(unknown) if unknown else ''}; expected keys "
                f"{', '.join(CUSTOM_KEYS)} (and optionally steps, encoder)"
            )
        made = DataBundle(
            made["train"],
            made["test"],
            made["input_shape"],
            made["num_classes"],
            made.get("steps", DEFAULT_STEPS),
            made.get("encoder", "direct"),
        )
    if not isinstance(made, DataBundle):
        raise ParameterError(
            f"data set {reference!r}: the factory returned a {type(made).__name__}; it must "
            f"return a biosnn.learning.DataBundle or a mapping with keys {', '.join(CUSTOM_KEYS)}"
        )
    for part in ("train", "test"):
        d = getattr(made, part)
        if not (hasattr(d, "__getitem__") and hasattr(d, "__len__")) or len(d) == 0:
            raise ParameterError(
                f"data set {reference!r}: its {part} set must be a non-empty map-style "
                f"torch.utils.data.Dataset (with __getitem__ and __len__), got {type(d).__name__}"
            )
    try:
        shape = tuple(int(n) for n in made.input_shape)
    except (TypeError, ValueError):
        shape = ()
    if not shape or any(n < 1 for n in shape):
        raise ParameterError(
            f"data set {reference!r}: input_shape must be a tuple of positive integers (one "
            f"sample's shape without time), got {made.input_shape!r}"
        )
    for name in ("num_classes", "steps"):
        v = getattr(made, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < (2 if name == "num_classes" else 1):
            raise ParameterError(
                f"data set {reference!r}: {name} must be an integer >= {2 if name == 'num_classes' else 1}, got {v!r}"
            )
    ENCODERS[made.encoder]
    if made.encoder not in ("direct", "frames"):
        raise ParameterError(
            f"data set {reference!r}: its encoder must be 'direct' (static samples) or 'frames' "
            f"(event frames [T, ...]), got {made.encoder!r}"
        )
    chosen = config.encoder
    if chosen is not None and (chosen == "frames") != (made.encoder == "frames"):
        holds = "event frames" if made.encoder == "frames" else "static samples"
        raise ParameterError(f"data set {reference!r} holds {holds}: encoder {chosen!r} does not apply to it")
    if made.encoder == "frames" and config.method == "local":
        raise ParameterError(
            f"the local-only method needs 0/1 input spikes (poisson or latency coding of static "
            f"samples); data set {reference!r} gives event frames"
        )
    x, y = made.train[0]
    frames = made.encoder == "frames"
    expected = ((made.steps,) if frames else ()) + shape
    if tuple(getattr(x, "shape", ())) != expected:
        raise ParameterError(
            f"data set {reference!r}: a training sample has shape {tuple(getattr(x, 'shape', ()))}"
            f", but input_shape {shape}{f' with {made.steps} frames' if frames else ''} says "
            f"{expected}"
        )
    if not 0 <= int(y) < made.num_classes:
        raise ParameterError(
            f"data set {reference!r}: a training label is {int(y)}, outside 0 .. "
            f"{made.num_classes - 1} (num_classes = {made.num_classes})"
        )
    return DataBundle(made.train, made.test, shape, made.num_classes, made.steps, made.encoder)


def load_data(config: RunConfig) -> DataBundle:
    r"""The train and test sets named by ``config.dataset`` (synthetic ones generated from the seed).

    **A user's own data set**: ``dataset="package.module:factory"`` (``biosnn train --dataset
    mypkg.data:make``) imports ``package.module`` from ``sys.path`` and calls ``factory(config)`` with the
    run's :class:`RunConfig` (so it may read ``seed``, ``steps``, ``data_root`` ...). It returns either a
    :class:`DataBundle` or a mapping with the keys ``train``, ``test`` (map-style
    :class:`torch.utils.data.Dataset`\ s of ``(x, label)`` pairs, labels ``0 .. num_classes - 1``),
    ``input_shape`` (one sample's shape, without time) and ``num_classes``, and optionally ``steps``
    (default :data:`DEFAULT_STEPS`) and ``encoder`` (``"direct"``, the default, for static samples, coded
    by the run's encoder; ``"frames"`` for event frames of shape ``[steps, *input_shape]``). The factory must
    give the same data every time it is called with the same configuration (a resumed run calls it again).
    What it returns is checked (types, shapes, the first sample and label against them) before training.

    >>> # mypkg/data.py
    >>> def make(config):                                                          # doctest: +SKIP
    ...     x, y = torch.rand(100, 16), torch.randint(0, 4, (100,))
    ...     return {"train": TensorDataset(x[:80], y[:80]), "test": TensorDataset(x[80:], y[80:]),
    ...             "input_shape": (16,), "num_classes": 4}

    Raises
    ------
    UnknownNameError
        For a name neither :data:`SYNTHETIC_DATASETS` nor :data:`biosnn.data.DATASETS` knows.
    DatasetNotFoundError
        For an on-disk data set that is missing (biosnn never downloads at run time).
    ParameterError
        For a custom data set whose module cannot be imported, whose factory is missing or not callable, or
        whose factory returns something else than described above (named in the message).
    """
    if config.dataset in SYNTHETIC_DATASETS:
        return _synthetic(SYNTHETIC_DATASETS[config.dataset], config.seed)
    if is_custom_dataset(config.dataset):
        return _custom_bundle(config)
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
    steps; see :data:`biosnn.models.PAPER_SETUPS`), each also on synthetic data of the same shape.
    """
    from biosnn.models import PAPER_SETUPS

    presets: Registry[RunConfig] = Registry("preset")
    for name in PAPER_SETUPS:
        setup = PAPER_SETUPS[name]
        events = setup.dataset.startswith("dvs")
        base = RunConfig(
            method="eihl",
            model=setup.model,
            dataset=setup.dataset,
            neuron=setup.neuron,
            steps=setup.steps,
            batch_size=32,
            epochs=100,
            lr=1e-3,
            hidden=(),
            size=setup.input_shape[-1] if events else None,
        )
        presets.register(name, base)
        presets.register(
            f"{name}_synthetic", base.replace(dataset=f"synthetic-{setup.dataset.replace('_', '-')}", size=None)
        )
    from biosnn.learning.family import family_presets

    for name, settings in family_presets().items():  # the family's papers (issue 11)
        base = RunConfig(**settings)
        presets.register(name, base)
        presets.register(f"{name}_synthetic", base.replace(dataset=f"synthetic-{base.dataset.replace('_', '-')}"))
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


def _competitive_mlp(config: RunConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from biosnn.learning.local_features import competitive_network

    return competitive_network((math.prod(input_shape), *config.hidden, num_classes))


#: How each model is built from a configuration and the data's input shape and classes.
MODEL_BUILDERS: Registry[Callable[[RunConfig, tuple[int, ...], int], nn.Module]] = Registry("model")
MODEL_BUILDERS.register("mlp", _mlp)
MODEL_BUILDERS.register("competitive_mlp", _competitive_mlp)
MODEL_BUILDERS.register("vgg11", _vgg11)
MODEL_BUILDERS.register("resnet", _resnet)
for _name in _family.FAMILY_MODELS:  # LTMD, MLF, STMixer, SPIDE and EICIL networks (biosnn.learning.family)
    MODEL_BUILDERS.register(_name, _family.run_model_builder(_name))

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
        self.controller = EIHLController(self.trainer, eihl_config(config), policy=config.policy)

    def train_epoch(self, loader: Iterable, *, epochs_left: int, progress=None) -> tuple[EpochResult, dict]:
        return self.controller.train_epoch(loader, epochs_left=epochs_left, progress=progress)

    def state_dict(self) -> dict:
        return {"trainer": self.trainer.state_dict(), "controller": self.controller.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.trainer.load_state_dict(state["trainer"])
        self.controller.load_state_dict(state["controller"])

    def write_logs(self, out: Path) -> None:
        """Write every switching decision so far, with its inputs, to ``out/decisions.csv``."""
        write_atomic(out / "decisions.csv", _decisions_bytes(self.controller.decisions))


def _decisions_bytes(decisions: list[dict[str, Any]]) -> bytes:
    from biosnn.learning.eihl import DECISION_COLUMNS

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(DECISION_COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(decisions)
    return buf.getvalue().encode("utf-8")


def eihl_config(config: RunConfig) -> EIHLConfig:
    """The one :class:`~biosnn.plasticity.eihl_contraction.EIHLConfig` of an EIHL run.

    Its settings come from ``config``, every other field keeps its default.
    """
    return EIHLConfig(
        a=config.a,
        b=config.b,
        x_growth=config.x_growth,
        tau_x=config.tau_x,
        granularity=config.granularity,
        global_units=config.global_units,
        max_local_units=config.max_local_units,
        max_sparsity=config.max_sparsity,
        final_global_units=config.final_global_units,
        min_local_units=min(_EIHL_CONFIG.min_local_units, config.max_local_units),
    )


def _policy(config: RunConfig, per_epoch: int = 1):
    """The switching policy of ``config`` (its unit counts resolved for epochs of ``per_epoch`` iterations)."""
    cls = SWITCHING_POLICIES[config.policy]
    g, f = eihl_config(config).resolved_units(per_epoch)
    settings = {
        "global_units": g,
        "max_local_units": config.max_local_units,
        "local_units": config.max_local_units,
        "max_sparsity": config.max_sparsity,
        "final_global_units": f,
        "min_local_units": eihl_config(config).min_local_units,
    }
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in settings.items() if k in names})


class LocalMethod:
    """Local learning on the hidden layers (a plasticity rule) and STBP on the readout layer only.

    On a network with competitive hidden populations (``model="competitive_mlp"``,
    :class:`~biosnn.models.CompetitiveLIF`, with ``local_rule="stdp_competitive"``) each batch is first
    presented in the ``learning`` phase of :data:`biosnn.learning.local_features.COMPETITION` (one winner,
    adaptive thresholds; the rule updates the winners' input strengths, renormalised per neuron, L2) and then
    read in the ``coding`` phase (soft competition) by the readout's STBP step: competitive unsupervised
    STDP with excitatory-only Dale layers (``bench/local_features.py`` measures these features against a
    frozen random layer). Other rules run on the network's own hidden layers with the rule's bounds.
    """

    def __init__(self, config: RunConfig, model: nn.Module, trainer_kw: dict[str, Any]) -> None:
        from biosnn.learning.local import LocalLearner
        from biosnn.models import masked_layers
        from biosnn.models.networks import CompetitiveLIF

        names = [n for n, _ in masked_layers(model)]
        readout_name = names[-1]
        readout = model.get_submodule(readout_name)
        readout_params = {id(p) for p in readout.parameters()}
        for p in model.parameters():
            if id(p) not in readout_params:
                p.requires_grad_(False)  # the hidden layers learn locally only
        opt = OPTIMIZERS[config.optimizer](list(readout.parameters()), config.lr, config.weight_decay)
        self.trainer = Trainer(model, opt, **trainer_kw)
        self.populations = [m for m in model.modules() if isinstance(m, CompetitiveLIF)]
        competitive = bool(self.populations)  # model competitive_mlp, rule stdp_competitive (checked at set-up)
        if competitive:
            from biosnn.learning.local_features import competitive_rule

            rule = competitive_rule(config.local_lr)
            self.learner = LocalLearner(model, rule, layers=names[:-1], lr=1.0, normalize="l2", seed=config.seed)
        else:
            from biosnn.plasticity import get_rule

            lr = 1e-5 if config.local_lr is None else config.local_lr
            self.learner = LocalLearner(model, get_rule(config.local_rule)(), layers=names[:-1], lr=lr)
        self.local_epochs = config.local_epochs
        self.epochs_done = 0

    def _local_step(self, x_t: torch.Tensor) -> None:
        if not self.populations:
            self.learner.step(x_t)
            return
        from biosnn.learning.local_features import set_competition

        set_competition(self.populations, "learning")
        self.trainer.model.train()  # the thresholds adapt in training mode
        try:
            self.learner.step(x_t)
        finally:
            set_competition(self.populations, "coding")

    def train_epoch(self, loader: Iterable, *, epochs_left: int, progress=None) -> tuple[EpochResult, dict]:
        from biosnn.learning.trainer import run_epoch

        plastic = self.local_epochs is None or self.epochs_done < self.local_epochs
        batches = [0]

        def step(i: int, x: torch.Tensor, y: torch.Tensor):
            x_t = self.trainer.encode(x)
            if plastic:
                self._local_step(x_t)
            batches[0] += 1
            return self.trainer.train_step_encoded(x_t, y)

        result = run_epoch(loader, step, progress=progress, scheduler=self.trainer.scheduler)
        self.epochs_done += 1
        # the readout's STBP steps are counted as global iterations, the local rule's as local ones
        return result, {GLOBAL: 0 if plastic else batches[0], LOCAL: batches[0] if plastic else 0}

    def state_dict(self) -> dict:
        return {
            "trainer": self.trainer.state_dict(),
            "learner_optimizer": self.learner.optimizer.state_dict(),
            "epochs_done": self.epochs_done,
        }

    def load_state_dict(self, state: dict) -> None:
        self.trainer.load_state_dict(state["trainer"])
        self.learner.optimizer.load_state_dict(state["learner_optimizer"])
        self.epochs_done = int(state["epochs_done"])


METHODS: Registry[type] = Registry("training method")
METHODS.register("stbp", StbpMethod)
METHODS.register("eihl", EihlMethod)
METHODS.register("local", LocalMethod)
for _name, _method in FAMILY_METHODS.items():  # ltmd, mlf, stmixer, spide, eicil (biosnn.learning.family)
    METHODS.register(_name, _method)


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
    """A loader capped at ``n`` batches (keeps ``len``); with ``kill_hook`` each batch passes the kill
    tests' hook (:func:`biosnn.learning.checkpoint.kill_point` ``"batch"``).
    """

    def __init__(self, loader: DataLoader, n: int | None, *, kill_hook: bool = False) -> None:
        self.loader, self.n, self.kill_hook = loader, n, kill_hook

    def __iter__(self):
        batches = iter(self.loader) if self.n is None else itertools.islice(self.loader, self.n)
        if not self.kill_hook:
            return batches
        return self._hooked(batches)

    @staticmethod
    def _hooked(batches):
        for batch in batches:
            kill_point("batch", "before")
            yield batch

    def __len__(self) -> int:
        return len(self.loader) if self.n is None else min(self.n, len(self.loader))


def _phase_label(counts: dict[str, int]) -> str:
    used = [p for p in (GLOBAL, LOCAL) if counts.get(p)]
    return "+".join(used) if used else GLOBAL


def _finish_files(out: Path, history: list[dict[str, Any]], plot: bool) -> None:
    """Write what a run killed after its last checkpoint did not: ``metrics.csv`` when it is missing or
    stale, the plot when it is missing (files already right are not touched).
    """
    for stale in _temporary_files(out):
        stale.unlink()
    csv_path = out / "metrics.csv"
    if not csv_path.is_file() or csv_path.read_bytes() != _metrics_bytes(history):
        write_metrics_csv(csv_path, history)
    if plot and history and not (out / PLOT).is_file():
        plot_run(out, history)


def _metrics_bytes(history: list[dict[str, Any]]) -> bytes:
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow(row)
    return buf.getvalue().encode("utf-8")


def write_metrics_csv(path: Path, history: list[dict[str, Any]]) -> None:
    """Write the metrics history as CSV (atomically; columns in first-seen order)."""
    write_atomic(path, _metrics_bytes(history))


def _comparable(config: RunConfig) -> dict[str, Any]:
    """The settings a checkpoint must share with the run resuming it (``epochs`` may grow, ``device`` may
    change: a run started on a GPU may continue on the CPU and the other way round).
    """
    d = config.to_dict()
    d.pop("epochs")
    d.pop("device")
    return d


def plot_run(out_dir: Path, history: list[dict[str, Any]], method: str | None = None) -> Path:
    """Draw the training figure (accuracy, sparsity, E/I balance vs epoch, periods shaded).

    Its title and legend follow the run's method (``method``, default: the one in ``out_dir/config.json``;
    see :func:`biosnn.plot.training.training_timeline`). Written atomically (``write_atomic``) to
    ``plots/training.png``, like every file of a run.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    from biosnn.plot.training import training_timeline

    if method is None:
        try:
            method = json.loads((Path(out_dir) / "config.json").read_text()).get("method")
        except (OSError, ValueError, AttributeError):
            method = None  # the figure is still drawn, with neutral words
    fig = training_timeline(pd.DataFrame(history), method=method)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=120)
    finally:
        plt.close(fig)
    return write_atomic(Path(out_dir) / PLOT, buffer.getvalue())


# ---------------------------------------------------------------------------------- the results folder
#: Everything a run writes into its folder, besides the lock file: a new run refuses a folder holding
#: any of the results (``metrics.csv``, ``checkpoints/``, ``plots/``).
RESULTS = ("metrics.csv", "checkpoints", "plots")
LOCK = ".lock"
PLOT = Path("plots") / "training.png"
#: The temporary files of the atomic writes (``write_atomic``), per subfolder: removed on every start.
_TEMPORARY = {"": ("config.json", "metrics.csv"), "checkpoints": ("last.pt",), "plots": ("training.png",)}


def _temporary_files(out: Path) -> list[Path]:
    return [p for sub, names in _TEMPORARY.items() for name in names for p in (out / sub).glob(f".{name}.*.tmp")]


def folder_state(out_dir: str | os.PathLike, *, ignore_lock: bool = False) -> str:
    """What a results folder holds, for the start rules of :func:`train`.

    ``"none"``: no folder, or one with nothing a run writes (other files are left alone);
    ``"started"``: only what a run writes before its first checkpoint (``config.json``, temporary files,
    the lock file): a run that stopped during its first epoch;
    ``"results"``: a checkpoint, ``metrics.csv`` or plots (with or without ``config.json``).
    """
    out = Path(out_dir)
    if not out.is_dir():
        return "none"
    temporary = set(_temporary_files(out))
    for name in RESULTS:
        p = out / name
        if p.is_file() or (p.is_dir() and any(q not in temporary for q in p.rglob("*"))):
            return "results"
    if (out / "config.json").exists() or temporary or (not ignore_lock and (out / LOCK).exists()):
        return "started"
    return "none"


def _check_writable(out: Path) -> None:
    """A results folder that cannot be created or written raises RunFolderError (before anything is written)."""
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise RunFolderError(f"cannot create the results directory {str(out)!r}: {str(probe)!r} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunFolderError(f"cannot write the results directory {str(out)!r}: {str(probe)!r} is not writable")


class _FolderLock:
    """An exclusive ``fcntl.flock`` on ``<out>/.lock`` for the whole run (released on exit, even on a crash)."""

    def __init__(self, out: Path) -> None:
        import fcntl

        try:
            out.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise RunFolderError(f"cannot write the results directory {str(out)!r}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise RunFolderError(
                f"{str(out)!r} is in use by another biosnn run (it holds the lock "
                f"{str(out / LOCK)!r}); wait for it to end or choose another directory"
            ) from None

    def release(self) -> None:
        os.close(self.fd)  # closing the descriptor releases the flock


def _start_mode(config: RunConfig, out: Path, resume: bool, *, ignore_lock: bool = False) -> str:
    """``"new"``, ``"restart"`` (a run that stopped before its first checkpoint, started anew) or
    ``"resume"``; raises for a folder the rules refuse (see :func:`train`).
    """
    state = folder_state(out, ignore_lock=ignore_lock)
    ckpt = out / CHECKPOINT
    if not resume:
        if state == "results":
            found = [n for n in ("config.json", *RESULTS) if (out / n).exists()]
            raise ParameterError(
                f"{str(out)!r} already holds a run ({', '.join(found)}); resume it (--resume) or "
                f"choose another directory"
            )
        return "restart" if state == "started" else "new"
    if state == "none":
        raise CheckpointError(f"nothing to resume in {str(out)!r}: no checkpoint {str(ckpt)!r} and no trace of a run")
    if (out / "config.json").is_file():
        stored = _read_config(out)
        if _comparable(stored) != _comparable(config):
            diff = sorted(k for k, v in _comparable(config).items() if _comparable(stored).get(k) != v)
            raise CheckpointError(
                f"the run in {str(out)!r} was made with other settings ({', '.join(diff)}); "
                f"resume it with its own configuration"
            )
    if ckpt.is_file():
        if not (out / "config.json").is_file():
            raise CheckpointError(f"cannot resume the run in {str(out)!r}: its config.json is missing")
        return "resume"
    if state == "results":
        raise CheckpointError(
            f"nothing to resume in {str(out)!r}: no checkpoint {str(ckpt)!r}, but the folder "
            f"holds results (metrics or plots); refusing to overwrite them"
        )
    return "restart"


def _default_notify(message: str) -> None:
    print(f"biosnn: {message}", file=sys.stderr)


def train(
    config: RunConfig,
    *,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = False,
    data: DataBundle | None = None,
    plot: bool = True,
    stop_after: int | None = None,
    notify: Callable[[str], None] | None = None,
    nproc: int | None = None,
) -> RunResult:
    """Run (or resume) the training run described by ``config``.

    **Start rules** (one rule for the command line and the library). The folder is locked for the whole
    run (an exclusive ``fcntl.flock`` on ``out_dir/.lock``, released by the OS when the process ends, even
    when it is killed): a second run on the same folder raises :class:`~biosnn.errors.RunFolderError` and
    touches nothing. Then, by what the folder holds (:func:`folder_state`):

    * nothing a run writes: a new run starts; ``resume`` raises ``CheckpointError`` ("nothing to resume");
    * only what a run writes before its first checkpoint (``config.json``, temporary files, the lock: a run
      that failed or was killed during its first epoch): a new run, and ``resume`` too, start from the
      beginning, saying so through ``notify`` (``resume`` needs the settings of ``config.json`` when it is
      there);
    * results (a checkpoint, ``metrics.csv`` or plots, with or without ``config.json``): a new run raises
      ``ParameterError`` ("already holds a run"); ``resume`` continues from the checkpoint (none:
      ``CheckpointError``, the results are never overwritten).

    On every start the temporary files a kill during a write left behind are removed. On resume every
    setting but ``epochs`` and ``device`` must equal ``config.json``'s (the differing ones are named);
    ``epochs`` fewer than the epochs done raises ``ParameterError``; equal to them, nothing is left to do
    (said through ``notify``; nothing is written); any other value is written to ``config.json``
    (atomically) before training goes on.

    Parameters
    ----------
    config
        The run's settings.
    out_dir
        Results directory (config, metrics CSV, checkpoints, plots); ``None``: nothing is written.
    resume
        Continue the run in ``out_dir`` (start rules above).
    progress
        Show tqdm progress bars.
    data
        Pre-loaded data (otherwise :func:`load_data`); lets several runs share one loaded data set.
    plot
        Draw ``plots/training.png`` at the end (with ``out_dir``).
    stop_after
        Stop (resumably) once this epoch is done, as if the run had been interrupted there; the schedule
        is still that of ``config.epochs``.
    notify
        Where messages about the start go (default: standard error).
    nproc
        Train on this many processes with DistributedDataParallel (:mod:`biosnn.learning.distributed`: the
        global batch ``batch_size`` split across them, gloo on the CPU, NCCL on CUDA; the result equals the
        one-process run's to round-off). Without a launcher, ``nproc > 1`` starts the processes here; under
        ``torchrun`` (``RANK``, ``WORLD_SIZE`` ... set) every process calls ``train`` and ``nproc`` is left
        out. ``None`` or 1 without a launcher: one process, as before. Rank 0 alone writes ``out_dir``.

    Returns
    -------
    RunResult
        With several processes a :class:`~biosnn.learning.distributed.DistributedRunResult` (rank 0's, when
        ``train`` started them), which also holds every rank's masks.

    Raises
    ------
    ParameterError
        For a device that is not there (``"cuda"`` without CUDA), a folder that already holds a run,
        ``epochs`` below the epochs done; before anything is loaded or written.
    RunFolderError
        For a folder in use by another run, or one that cannot be written.
    NonFiniteError
        When the loss, a gradient or a weight becomes NaN or infinite: the run stops naming the parameter,
        the epoch and the iteration; the last good checkpoint is kept.
    """
    notify = notify or _default_notify
    device = resolve_device(config.device)  # first: a bad device must not cost a data load or a file
    from biosnn.learning import distributed

    launch = distributed.launch_mode(nproc, device)
    out = Path(out_dir) if out_dir is not None else None
    if resume and out is None:
        raise ParameterError("resume needs the results directory of the run (out_dir)")
    if launch == "spawn":  # refusals before any process starts; each process then calls train itself
        if out is not None:
            _check_writable(out)
            _start_mode(config, out, resume)
        return distributed.spawn(
            config,
            nproc,
            device=device,
            notify=notify,
            out_dir=out_dir,
            resume=resume,
            progress=progress,
            data=data,
            plot=plot,
            stop_after=stop_after,
        )
    world = distributed.open_world(launch, device)
    try:
        return _train(world, config, world.device(device), out, resume, progress, data, plot, stop_after, notify)
    finally:
        world.close()


def _train(
    world,
    config: RunConfig,
    device: torch.device,
    out: Path | None,
    resume: bool,
    progress: bool,
    data: DataBundle | None,
    plot: bool,
    stop_after: int | None,
    notify: Callable[[str], None],
) -> RunResult:
    """The body of :func:`train` on one process (``world``: the one-process run, or one rank of several)."""
    result_dir = out
    out = out if world.is_writer else None  # rank 0 alone touches the folder; the others wait for it
    notify = notify if world.is_writer else (lambda message: None)  # and rank 0 alone speaks
    ckpt_path = out / CHECKPOINT if out is not None else None
    with world.writer_turn():  # an error there is raised on every rank
        if out is not None:
            _check_writable(out)
            _start_mode(config, out, resume)  # refusals before the data is loaded (checked again under the lock)

    # Everything is built from the seed, identically for a fresh and a resumed run.
    biosnn.seed(config.seed)
    if progress and data is None:
        notify(f"loading data set {config.dataset} ...")
    bundle = data if data is not None else load_data(config)
    steps = config.steps or bundle.steps
    encoder_name = (
        config.encoder
        if config.encoder is not None
        else DEFAULT_ENCODERS.get((config.method, bundle.encoder), bundle.encoder)
    )
    if config.method == "local" and encoder_name not in SPIKE_ENCODERS:
        raise ParameterError(
            f"the local-only method needs 0/1 input spikes for its plasticity rule: encoder "
            f"{' or '.join(SPIKE_ENCODERS)}, not {encoder_name!r}"
        )
    encoder = encoder_name
    # built on the CPU (same initial weights on every device), then moved before the optimiser, the
    # controller's x and the local learner's state are created from its parameters
    if progress:
        notify(f"building model {config.model} ({config.method}) on {device} ...")
    model = MODEL_BUILDERS[config.model](config, bundle.input_shape, bundle.num_classes).to(device)
    trainer_kw = {"loss": config.loss, "encoder": encoder, "steps": steps, "seed": config.seed + 1, "device": device}
    method = METHODS[config.method](config, model, trainer_kw)
    loader_gen = torch.Generator().manual_seed(config.seed + 2)
    train_loader = _Limited(
        world.train_loader(bundle.train, config.batch_size, loader_gen), config.max_batches, kill_hook=True
    )
    test_loader = _Limited(world.test_loader(bundle.test, max(config.batch_size, 256)), config.max_batches)
    world.adapt(config.method, method, model)  # several processes: DDP, and the method's state kept equal

    history: list[dict[str, Any]] = []
    start = 0
    lock_existed = out is not None and (out / LOCK).exists()
    with world.writer_turn():
        lock = _FolderLock(out) if out is not None else None
    record = None
    try:
        state, finished = None, False
        with world.writer_turn():
            if out is not None:
                state, finished, record = _open_folder(config, out, resume, lock_existed, model, plot, notify)
        state, finished = world.broadcast_object((state, finished))  # rank 0 read the checkpoint for everyone
        if state is not None:
            if not world.is_writer:
                model.load_state_dict(state["model"])
            method.load_state_dict(state["method"])
            loader_gen.set_state(state["loader_generator"])
            set_rng_state(state["rng"])
            history = list(state["history"])
            start = int(state["epoch"])
        if not finished:
            history = _epochs(
                config,
                method,
                model,
                train_loader,
                test_loader,
                loader_gen,
                history,
                start,
                out,
                ckpt_path,
                device,
                progress and world.is_writer,
                stop_after,
                record,
                world=world,
            )
            with world.writer_turn():
                if out is not None:
                    if history:
                        write_metrics_csv(out / "metrics.csv", history)
                    if plot and history:
                        plot_run(out, history)
    except OSError as exc:
        if isinstance(exc, BiosnnError):
            raise
        raise RunFolderError(
            f"the run in {str(out)!r} stopped on a file error: {exc.strerror or exc}"
            f"{' (' + str(exc.filename) + ')' if exc.filename else ''}"
        ) from exc
    finally:
        if lock is not None:
            lock.release()
    return world.result(RunResult(config, history, model, result_dir, start, device))


def _open_folder(
    config: RunConfig,
    out: Path,
    resume: bool,
    lock_existed: bool,
    model: nn.Module,
    plot: bool,
    notify: Callable[[str], None],
) -> tuple[dict[str, Any] | None, bool, RunConfig | None]:
    """Under the lock, by the start rules of :func:`train`: ``(checkpoint state or None, nothing left to do,
    configuration to write with the first new checkpoint or None)``; the model gets the checkpoint's weights.
    """
    ckpt_path = out / CHECKPOINT
    state, finished, record = None, False, None
    mode = _start_mode(config, out, resume, ignore_lock=not lock_existed)  # our own new lock is no trace
    if mode == "resume":
        state = load_checkpoint(ckpt_path, model=model, expect={"config": _comparable(config)})
        done = int(state["epoch"])
        if config.epochs < done:
            raise ParameterError(
                f"the run in {str(out)!r} has already done {done} epochs; epochs = "
                f"{config.epochs} is fewer (give at least {done} to resume it)"
            )
        if config.epochs == done:
            notify(
                f"the run in {str(out)!r} has done all its {done} epochs: nothing left to do "
                f"(give more epochs to continue it)"
            )
            _finish_files(out, list(state["history"]), plot)  # a kill after the last checkpoint
            finished = True
    elif mode == "restart":
        notify(f"{str(out)!r} holds a run that stopped before its first checkpoint: starting it from the beginning")
    if not finished:
        for stale in _temporary_files(out):  # left by a kill during a write
            stale.unlink()
        if mode != "resume":
            _write_config(out, config)
        else:
            stored = _read_config(out)
            if stored.epochs != config.epochs:  # written with the first new checkpoint
                record = stored.replace(epochs=config.epochs)
    return state, finished, record


def _check_finite_state(model: nn.Module, epoch: int) -> None:
    from biosnn.learning.trainer import first_non_finite

    bad = first_non_finite(model.state_dict().items())
    if bad is not None:
        raise NonFiniteError(
            f"{bad!r} holds NaN or infinite values after epoch {epoch} (the learning rate is "
            f"far too high, or the data are not finite)"
        )


def _write_config(out: Path, config: RunConfig) -> None:
    write_atomic(out / "config.json", (json.dumps(config.to_dict(), indent=2) + "\n").encode("utf-8"))


def _epochs(
    config,
    method,
    model,
    train_loader,
    test_loader,
    loader_gen,
    history,
    start,
    out,
    ckpt_path,
    device,
    progress,
    stop_after,
    record=None,
    world=None,
) -> list[dict[str, Any]]:
    if world is None:
        from biosnn.learning.distributed import SINGLE as world
    bar, batch_progress = None, {}
    if progress:  # one bar over every training batch of the run; the epoch's figures in its postfix
        import inspect

        from tqdm.auto import tqdm

        per_epoch = len(train_loader)
        bar = tqdm(
            total=config.epochs * per_epoch,
            initial=start * per_epoch,
            unit="batch",
            desc=f"{config.method} {config.model}/{config.dataset}",
        )
        if "progress" in inspect.signature(method.train_epoch).parameters:
            batch_progress = {"progress": lambda step: bar.update(1)}
    try:
        last = config.epochs if stop_after is None else min(config.epochs, int(stop_after))
        for epoch in range(start, last):
            t0 = time.perf_counter()
            if bar is not None:
                bar.set_description(
                    f"{config.method} {config.model}/{config.dataset} epoch {epoch + 1}/{config.epochs}"
                )
            world.start_epoch()
            try:
                result, counts = method.train_epoch(
                    train_loader, epochs_left=config.epochs - epoch - 1, **batch_progress
                )
                result = world.epoch_result(result)  # several processes: the ranks' steps added up
                _check_finite_state(model, epoch + 1)  # local rules too; before anything is saved
            except NonFiniteError as exc:
                kept = (
                    f"the last good checkpoint (epoch {epoch}) in {str(out)!r} is kept"
                    if epoch and out is not None
                    else "nothing was saved"
                )
                raise NonFiniteError(f"training diverged in epoch {epoch + 1}: {exc}; {kept}") from None
            trainer = method.trainer
            with FiringRates(model) as rates, SynapticOps(model) as synops:
                test = world.evaluate(trainer, test_loader)
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "phase": _phase_label(counts),
                "global_iterations": counts.get(GLOBAL, 0),
                "local_iterations": counts.get(LOCAL, 0),
                "loss": result.loss,
                "train_accuracy": result.accuracy,
                "test_loss": test.loss,
                "test_accuracy": test.accuracy,
            }
            conn = connectivity(model)
            row["sparsity"] = conn.pop("sparsity", 0.0)
            row["ei_balance"] = conn.pop("ei_ratio", float("nan"))
            row["ei_index"] = conn.pop("ei_index", float("nan"))
            row.update(conn)
            row["firing_rate"] = world.pooled_rate(rates)
            row["synops"] = synops.per_sample  # synaptic operations per test sample (this rank's share)
            row["output_rate"] = test.output_rate
            row["seconds"] = round(time.perf_counter() - t0, 3)
            history.append(row)
            world.end_epoch(model, epoch + 1)  # several processes: every rank holds rank 0's state (checked)
            if out is not None:
                if record is not None:  # resumed with another epoch count: config.json says so from now on
                    _write_config(out, record)
                    record = None
                save_checkpoint(
                    ckpt_path,
                    {
                        "config": _comparable(config),
                        "device": str(device),
                        "epoch": epoch + 1,
                        "history": history,
                        "method": method.state_dict(),
                        "loader_generator": loader_gen.get_state(),
                        "rng": rng_state(),
                    },
                    model=model,
                )
                write_metrics_csv(out / "metrics.csv", history)
                getattr(method, "write_logs", lambda out: None)(out)
            world.barrier()  # the other ranks wait while rank 0 writes
            if bar is not None:
                bar.set_postfix(
                    phase=row["phase"],
                    loss=f"{row['loss']:.3f}",
                    test_acc=f"{row['test_accuracy']:.3f}",
                    sparsity=f"{row['sparsity']:.2f}",
                )
                bar.update((epoch + 1) * len(train_loader) - bar.n)  # methods that do not report batches
    finally:
        if bar is not None:
            bar.close()
    return history


def _read_config(out: Path) -> RunConfig:
    path = out / "config.json"
    if not path.is_file():
        raise CheckpointError(f"nothing to resume in {str(out)!r}: no run configuration {str(path)!r}")
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        return RunConfig.from_dict(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
        raise CheckpointError(f"cannot read the run configuration {str(path)!r}: {exc}") from None


def read_config(out_dir: str | os.PathLike) -> RunConfig:
    """The configuration of the run stored in ``out_dir`` (for ``--resume``)."""
    return _read_config(Path(out_dir))


#: Named run configurations (``biosnn train --preset eihl_dvs_cifar10``; ``..._synthetic`` variants run
#: on random data of the paper's shape).
PRESETS: Registry[RunConfig] = _presets()

__all__ = [
    "RunConfig",
    "RunResult",
    "DataBundle",
    "PRESETS",
    "METHODS",
    "MODEL_BUILDERS",
    "OPTIMIZERS",
    "SYNTHETIC_DATASETS",
    "load_data",
    "train",
    "read_config",
    "write_metrics_csv",
    "plot_run",
    "folder_state",
    "inapplicable_settings",
    "BiosnnError",
]
