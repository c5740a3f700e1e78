r"""The rest of EIHL's family as training methods of a run: LTMD, MLF + DS-ResNet, STMixer, SPIDE and EICIL.

Each member (:data:`FAMILY`) is a method of :mod:`biosnn.learning.run` (``biosnn train --method ltmd``,
``mlf``, ``stmixer``, ``spide``, ``eicil``) with its own networks (registered in
:data:`~biosnn.learning.run.MODEL_BUILDERS`), its own neuron kinds (``--neuron``), and its own loss, as
written in its model module (:mod:`biosnn.models.ltmd`, :mod:`~biosnn.models.mlf`,
:mod:`~biosnn.models.stmixer`, :mod:`~biosnn.models.spide`, :mod:`~biosnn.models.eicil`):

=========  ====================================  ===================================  ==========================
method     models (``--model``)                  neuron kinds (``--neuron``)          training loss
=========  ====================================  ===================================  ==========================
ltmd       ``ltmd_mlp``, ``ltmd_densenet``       ``ltmd_lt`` (learnable threshold),   two dropout samples, CE +
                                                 ``ltmd_lif`` (fixed: the ablation)   symmetric KL
mlf        ``mlf_dsresnet``                      ``mlf_k3``, ``mlf_k2``, ``mlf_k1``   CE of the time mean
                                                 (K compartments; K = 1: ablation)
stmixer    ``stmixer``                           ``stmixer_hard``, ``stmixer_soft``   SML (auxiliary heads)
                                                 (reset)
spide      ``spide_mlp``, ``spide_conv``         ``spide_if``, ``spide_lif`` (leak    CE, implicit gradient from
                                                 0.95)                                a backward spiking run
eicil      ``eicil_mlp``, ``eicil_vgg11``        ``eicil_ei`` (two thresholds),       CE, excitatory/inhibitory
                                                 ``eicil_if`` (ablation)              cycles of one epoch
=========  ====================================  ===================================  ==========================

The first model and neuron kind of each row are the method's own: for a family method the run's generic
defaults ``model="mlp"`` and ``neuron="lif"`` stand for them (and are replaced by their names in the stored
configuration), and the loss is read out as ``membrane_ce`` (the cross-entropy of the time-mean output,
used for the test loss; the training loss is the method's own). Other combinations raise
:class:`~biosnn.errors.ParameterError` (:func:`resolve_settings`).

Sizes: ``hidden`` sets the MLP-like models' hidden layers; ``width`` multiplies the paper's widths of the
convolutional ones (1.0: the paper's network, see each module's ``PAPER_PRESETS``):

* ``ltmd_densenet``: DenseNet-BC, blocks (12, 12, 24), growth ``32 w``, ``256 w`` initial features, head
  ``256 w``; ``ltmd_mlp``: ``hidden`` then the 256-wide graded head.
* ``mlf_dsresnet``: ResNet-20 (3, 3, 3) at ``(64, 128, 256) w`` for static data, ResNet-14 (2, 2, 2) for
  event frames. On height-1 signals (``waveform``, ``[1, 1, 21]``) its 3x3 kernels act as 1-D kernels
  of width 3 (zero padding above and below; stride 2 halves the length only).
* ``stmixer``: 4 blocks of ``256 w`` channels (rounded to a multiple of 16), 16 heads, FFN x4, IPSPS with
  2 stride-2 stages (4 for inputs of 128 and more); signals ``[1, L]`` use the 1-D configuration of
  :class:`~biosnn.models.stmixer.IPSPS`.
* ``spide_conv``: the authors' CIFAR layout at ``(128, 256, 256, 512, 256) w`` channels; ``spide_mlp``:
  ``hidden`` with feedback from the last to the first layer. SPIDE runs its own forward simulation:
  ``steps`` (default 30) forward steps on a constant (direct) input, 250 backward steps.
* ``eicil_vgg11``: VGG11 at ``w`` times 64-128-256-256-512-512-512-512; ``eicil_mlp``: ``hidden``.

Knobs without a run setting (LTMD's dropout rate, STMixer's SML, SPIDE's gradient) are keyword arguments
of :func:`build_model` and of the method classes, for the ablations (``bench/family_digits.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from biosnn.errors import ParameterError
from biosnn.learning.policies import GLOBAL, LOCAL
from biosnn.learning.trainer import EpochResult, StepResult, Trainer
from biosnn.registry import Registry

__all__ = [
    "FamilyMember",
    "FAMILY",
    "FAMILY_MODELS",
    "build_model",
    "resolve_settings",
    "family_presets",
    "FamilyTrainer",
    "FamilyMethod",
    "LtmdMethod",
    "MlfMethod",
    "StmixerMethod",
    "SpideMethod",
    "EicilMethod",
    "SpikeCounter",
    "spide_bptt_loss",
]

#: Generic defaults of a run that stand for a family method's own model, neuron and read-out.
GENERIC_MODEL, GENERIC_NEURON, GENERIC_LOSS, READOUT_LOSS = "mlp", "lif", "count_ce", "membrane_ce"


@dataclass(frozen=True)
class FamilyMember:
    """One method of the family: its networks, its neuron kinds (name -> model keywords) and its loss.

    The first of ``models`` and of ``neurons`` are the method's own (the defaults).
    """

    method: str
    title: str
    models: tuple[str, ...]
    neurons: Mapping[str, Mapping[str, Any]]
    train_loss: Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

    @property
    def default_model(self) -> str:
        return self.models[0]

    @property
    def default_neuron(self) -> str:
        return next(iter(self.neurons))


def _loss(module: str, name: str):
    def loss(model, x, y):
        from importlib import import_module

        return getattr(import_module(f"biosnn.models.{module}"), name)(model, x, y)

    loss.__name__ = name
    return loss


FAMILY: Registry[FamilyMember] = Registry("family method")
FAMILY.register(
    "ltmd",
    FamilyMember(
        "ltmd",
        "LTMD (Wang et al., NeurIPS 2022)",
        ("ltmd_mlp", "ltmd_densenet"),
        {"ltmd_lt": {"learnable_threshold": True}, "ltmd_lif": {"learnable_threshold": False}},
        _loss("ltmd", "ltmd_train_loss"),
    ),
)
FAMILY.register(
    "mlf",
    FamilyMember(
        "mlf",
        "MLF + spiking DS-ResNet (Feng et al., IJCAI 2022)",
        ("mlf_dsresnet",),
        {"mlf_k3": {"levels": 3}, "mlf_k2": {"levels": 2}, "mlf_k1": {"levels": 1}},
        _loss("mlf", "mlf_train_loss"),
    ),
)
FAMILY.register(
    "stmixer",
    FamilyMember(
        "stmixer",
        "STMixer with surrogate module learning (Deng et al., NeurIPS 2024)",
        ("stmixer",),
        {"stmixer_hard": {"reset": "hard"}, "stmixer_soft": {"reset": "soft"}},
        _loss("stmixer", "stmixer_train_loss"),
    ),
)
FAMILY.register(
    "spide",
    FamilyMember(
        "spide",
        "SPIDE (Xiao et al., Neural Networks 2023)",
        ("spide_mlp", "spide_conv"),
        {"spide_if": {"leak": None}, "spide_lif": {"leak": 0.95}},
        _loss("spide", "spide_train_loss"),
    ),
)
FAMILY.register(
    "eicil",
    FamilyMember(
        "eicil",
        "EICIL, biosnn's reading (NeurIPS 2023; equations not public)",
        ("eicil_mlp", "eicil_vgg11"),
        {"eicil_ei": {"inhibitory": True}, "eicil_if": {"inhibitory": False}},
        _loss("eicil", "eicil_train_loss"),
    ),
)


def member_of_model(model: str) -> FamilyMember | None:
    """The family member whose network ``model`` is (``None`` for other models)."""
    return next((FAMILY[m] for m in FAMILY if model in FAMILY[m].models), None)


def _scaled(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


def _check_shape(model: str, shape: tuple[int, ...], ndim: int = 3) -> None:
    if len(shape) != ndim:
        raise ParameterError(f"model {model!r} needs inputs of shape [C, H, W], the data give {shape}")


# --------------------------------------------------------------------------------------------- networks
def _ltmd_mlp(shape, classes, *, hidden, width, steps, seed, events, **kw):
    from biosnn.models.ltmd import build_ltmd

    return build_ltmd(
        **{**dict(input_shape=shape, num_classes=classes, arch="mlp", hidden=hidden, head=256, seed=seed), **kw}
    )


def _ltmd_densenet(shape, classes, *, hidden, width, steps, seed, events, **kw):
    from biosnn.models.ltmd import build_ltmd

    _check_shape("ltmd_densenet", shape)
    return build_ltmd(
        **{
            **dict(
                input_shape=shape,
                num_classes=classes,
                arch="densenet",
                growth=_scaled(32, width),
                blocks=(12, 12, 24),
                init_features=_scaled(256, width),
                head=_scaled(256, width),
                seed=seed,
            ),
            **kw,
        }
    )


def _mlf_dsresnet(shape, classes, *, hidden, width, steps, seed, events, **kw):
    from biosnn.models.mlf import build_mlf_dsresnet

    _check_shape("mlf_dsresnet", shape)
    return build_mlf_dsresnet(
        **{
            **dict(
                in_channels=shape[0],
                num_classes=classes,
                blocks=(2, 2, 2) if events else (3, 3, 3),
                widths=tuple(_scaled(c, width) for c in (64, 128, 256)),
            ),
            **kw,
        }
    )


def _stmixer(shape, classes, *, hidden, width, steps, seed, events, **kw):
    from biosnn.models.stmixer import build_stmixer

    _check_shape("stmixer", shape)
    c, h, w = shape
    if h == 1:
        size: int | tuple[int, int] = (1, w)
    elif h == w:
        size = h
    else:
        raise ParameterError(f"model 'stmixer' takes square images or signals of height 1, the data give {shape}")
    downsample = 4 if h >= 128 else 2
    if isinstance(size, int) and size % 2**downsample:
        raise ParameterError(f"model 'stmixer' needs an image side divisible by {2**downsample}, the data give {shape}")
    dim = max(16, 16 * int(round(256 * width / 16)))
    return build_stmixer(
        **{
            **dict(
                in_channels=c,
                num_classes=classes,
                img_size=size,
                downsample=downsample,
                dim=dim,
                depth=4,
                heads=16,
                mlp_ratio=4.0,
            ),
            **kw,
        }
    )


def _spide(arch):
    def build(shape, classes, *, hidden, width, steps, seed, events, **kw):
        from biosnn.models.spide import build_spide

        if arch == "conv":
            _check_shape("spide_conv", shape)
            sizes = dict(channels=tuple(_scaled(c, width) for c in (128, 256, 256, 512, 256)))
        else:
            if not hidden:
                raise ParameterError("model 'spide_mlp' needs at least one hidden layer ('hidden')")
            sizes = dict(hidden=tuple(hidden))
        return build_spide(
            **{
                **dict(input_shape=shape, num_classes=classes, arch=arch, steps=steps or 30, steps_back=250, seed=seed),
                **sizes,
                **kw,
            }
        )

    return build


def _eicil(arch):
    def build(shape, classes, *, hidden, width, steps, seed, events, **kw):
        from biosnn.models.eicil import build_eicil

        if arch == "vgg11":
            _check_shape("eicil_vgg11", shape)
        return build_eicil(
            **{**dict(input_shape=shape, num_classes=classes, arch=arch, hidden=hidden, width=width), **kw}
        )

    return build


#: The family's networks by model name: ``build(input_shape, num_classes, *, hidden, width, steps, seed,
#: events, **model_keywords)``.
FAMILY_MODELS: Registry[Callable[..., nn.Module]] = Registry("family model")
FAMILY_MODELS.register("ltmd_mlp", _ltmd_mlp)
FAMILY_MODELS.register("ltmd_densenet", _ltmd_densenet)
FAMILY_MODELS.register("mlf_dsresnet", _mlf_dsresnet)
FAMILY_MODELS.register("stmixer", _stmixer)
FAMILY_MODELS.register("spide_mlp", _spide("fc"))
FAMILY_MODELS.register("spide_conv", _spide("conv"))
FAMILY_MODELS.register("eicil_mlp", _eicil("mlp"))
FAMILY_MODELS.register("eicil_vgg11", _eicil("vgg11"))

#: The models whose size ``width`` sets (the others take ``hidden``).
WIDTH_MODELS = frozenset({"ltmd_densenet", "mlf_dsresnet", "stmixer", "spide_conv", "eicil_vgg11"})


def build_model(
    name: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    neuron: str | None = None,
    hidden: tuple[int, ...] = (128,),
    width: float = 1.0,
    steps: int | None = None,
    seed: int = 0,
    events: bool = False,
    **overrides: Any,
) -> nn.Module:
    """Build the family network ``name`` for inputs of ``input_shape`` (one frame) and ``num_classes``.

    Parameters
    ----------
    name
        A name in :data:`FAMILY_MODELS`.
    neuron
        One of the member's neuron kinds (``None``: its own).
    hidden, width
        Hidden layers of the MLP-like models, multiplier of the paper's widths of the convolutional ones.
    steps
        SPIDE's forward simulation length (``None``: 30); the other models take any ``T``.
    seed, events
        Seed of the model's own random draws (LTMD's dropout, SPIDE's initial weights); event-frame data.
    overrides
        Keywords of the member's ``build_*`` function, replacing those the name and the sizes give
        (``drop_rate=0.0`` for LTMD without MD, ``sml=False`` for STMixer without SML, ``blocks=(1, 1)`` ...).
    """
    build = FAMILY_MODELS[name]
    member = member_of_model(name)
    kind = member.default_neuron if neuron is None else neuron
    if kind not in member.neurons:
        raise ParameterError(
            f"neuron {kind!r} is not one of the {member.method} method's kinds: {', '.join(member.neurons)}"
        )
    kw = {**member.neurons[kind], **overrides}
    return build(
        tuple(int(s) for s in input_shape),
        int(num_classes),
        hidden=tuple(hidden),
        width=float(width),
        steps=steps,
        seed=seed,
        events=events,
        **kw,
    )


def run_model_builder(name: str) -> Callable[[Any, tuple[int, ...], int], nn.Module]:
    """A :data:`~biosnn.learning.run.MODEL_BUILDERS` entry for the family network ``name``."""

    def build(config, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        from biosnn.learning.run import _dataset_kind

        return build_model(
            name,
            input_shape,
            num_classes,
            neuron=config.neuron,
            hidden=config.hidden,
            width=config.width,
            steps=config.steps,
            seed=config.seed,
            events=_dataset_kind(config.dataset) == "events",
        )

    build.__name__ = f"build_{name}"
    return build


# ------------------------------------------------------------------------------------ run settings
def resolve_settings(config) -> dict[str, Any]:
    """The settings a family run stores in place of the generic defaults, after checking its combination.

    For a family method: ``model="mlp"`` becomes the method's own network, ``neuron="lif"`` its own neuron
    kind, ``loss="count_ce"`` the read-out ``membrane_ce``. Raises :class:`ParameterError` for a model or
    neuron kind of another method, another loss, Dale's law, a ``width`` on an MLP-like model, and for a
    family model or neuron kind given to another method. Returns the settings to replace (may be empty).
    """
    member = FAMILY[config.method] if config.method in FAMILY else None
    owner = member_of_model(config.model)
    if member is None:
        if owner is not None:
            raise ParameterError(
                f"model {config.model!r} is trained by the {owner.method} method only (--method "
                f"{owner.method}), not by {config.method!r}"
            )
        return {}
    changes: dict[str, Any] = {}
    model = member.default_model if config.model == GENERIC_MODEL else config.model
    if model not in member.models:
        raise ParameterError(
            f"the {member.method} method trains its own networks ({', '.join(member.models)}), not "
            f"model {config.model!r}"
        )
    neuron = member.default_neuron if config.neuron == GENERIC_NEURON else config.neuron
    if neuron not in member.neurons:
        raise ParameterError(
            f"the {member.method} method's neuron kinds are {', '.join(member.neurons)}; "
            f"neuron {config.neuron!r} is not one of them"
        )
    loss = READOUT_LOSS if config.loss == GENERIC_LOSS else config.loss
    if loss != READOUT_LOSS:
        raise ParameterError(
            f"the {member.method} method trains with its own loss (its paper's), read out as "
            f"{READOUT_LOSS!r}; loss {config.loss!r} does not apply (leave it out)"
        )
    if config.dale:
        raise ParameterError(
            f"Dale's law (dale=True) applies to the mlp, vgg11 and resnet models only, not to the "
            f"{member.method} method's networks"
        )
    if model not in WIDTH_MODELS and config.width != 1.0:
        raise ParameterError(
            f"run setting 'width' ({config.width!r}) applies to the convolutional family models "
            f"({', '.join(sorted(WIDTH_MODELS))}), not to {model!r} (its layers are set by 'hidden')"
        )
    for name, value in (("model", model), ("neuron", neuron), ("loss", loss)):
        if getattr(config, name) != value:
            changes[name] = value
    return changes


def uses_setting(config, name: str) -> bool:
    """Whether a family run reads the size setting ``name`` (``"width"`` or ``"hidden"``)."""
    if member_of_model(config.model) is None:
        return False
    return (config.model in WIDTH_MODELS) == (name == "width")


#: The papers' run settings (from each model module's ``PAPER_PRESETS``; see there what is assumed).
_PRESET_MODELS = {
    "ltmd_cifar10": ("ltmd", "ltmd_densenet"),
    "mlf_dsresnet_cifar10": ("mlf", "mlf_dsresnet"),
    "stmixer_cifar10": ("stmixer", "stmixer"),
    "spide_cifar10": ("spide", "spide_conv"),
    "eicil_cifar10": ("eicil", "eicil_vgg11"),
}


def family_presets() -> dict[str, dict[str, Any]]:
    """RunConfig settings of the presets ``ltmd_cifar10``, ``mlf_dsresnet_cifar10``, ``stmixer_cifar10``,
    ``spide_cifar10`` and ``eicil_cifar10`` (the paper's network at ``width=1``, its T, optimiser, learning
    rate, weight decay, epochs and batch size).
    """
    from importlib import import_module

    out = {}
    for name, (method, model) in _PRESET_MODELS.items():
        paper = import_module(f"biosnn.models.{method}").PAPER_PRESETS[name]
        member = FAMILY[method]
        out[name] = dict(
            method=method,
            model=model,
            dataset=paper["dataset"],
            neuron=member.default_neuron,
            loss=READOUT_LOSS,
            steps=paper["T"] if method != "spide" else paper["model"]["steps"],
            optimizer=paper["optimizer"],
            lr=paper["lr"],
            weight_decay=paper.get("weight_decay", 0.0),
            epochs=paper["epochs"],
            batch_size=paper["batch_size"],
            hidden=(),
            width=1.0,
        )
    return out


# ----------------------------------------------------------------------------------------- training
class FamilyTrainer(Trainer):
    """A :class:`~biosnn.learning.trainer.Trainer` whose step uses a method's own loss and optimiser step.

    ``train_loss(model, x_t, y) -> (loss, output)`` replaces the spike loss in training (the spike loss,
    ``membrane_ce``, stays the read-out and the test loss); ``step()`` replaces ``optimizer.step()``
    (EICIL's phase-restricted step). The checks of the trainer are kept: a non-finite loss, gradient or
    parameter raises :class:`~biosnn.errors.NonFiniteError` naming it, before the weights change.
    """

    def __init__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, *, train_loss, step=None, **trainer_kw: Any
    ) -> None:
        super().__init__(model, optimizer, **trainer_kw)
        self.train_loss = train_loss
        self.step = step if step is not None else optimizer.step

    def _forward_loss(self, x_t: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Any]:
        return self.train_loss(self.model, x_t, y)

    def _optimizer_step(self) -> None:
        self.step()

    def _measure(self, output, y: torch.Tensor, loss: torch.Tensor) -> StepResult:
        r = super()._measure(output, y, loss)
        r.output_spikes, r.output_slots = 0.0, 0  # the outputs are logits, not spikes: no output rate
        return r


class FamilyMethod:
    """A family method on the run interface (:class:`~biosnn.learning.run.StbpMethod`'s): the model's own
    loss, the run's optimiser, one global (gradient) iteration per batch.

    Parameters
    ----------
    config
        The run's :class:`~biosnn.learning.run.RunConfig` (optimizer, lr, weight_decay).
    model
        The method's network (:func:`build_model`).
    trainer_kw
        Keywords of the trainer (encoder, steps, seed, device; ``loss`` is replaced by the read-out).
    """

    member: str = ""

    def __init__(self, config, model: nn.Module, trainer_kw: dict[str, Any]) -> None:
        from biosnn.learning.run import OPTIMIZERS

        self.model = model
        self.optimizer = OPTIMIZERS[config.optimizer](model.parameters(), config.lr, config.weight_decay)
        kw = {**trainer_kw, "loss": READOUT_LOSS}
        self.trainer = FamilyTrainer(model, self.optimizer, train_loss=self._train_loss(), step=self._step, **kw)

    def _train_loss(self):
        return FAMILY[self.member].train_loss

    def _step(self) -> None:
        self.optimizer.step()

    def _generators(self) -> list[torch.Generator]:
        return [m.generator for m in self.model.modules() if isinstance(getattr(m, "generator", None), torch.Generator)]

    def train_epoch(self, loader: Iterable, *, epochs_left: int, progress=None) -> tuple[EpochResult, dict]:
        r = self.trainer.train_epoch(loader, progress=progress)
        return r, {GLOBAL: len(loader) if hasattr(loader, "__len__") else 0, LOCAL: 0}

    def state_dict(self) -> dict:
        return {"trainer": self.trainer.state_dict(), "generators": [g.get_state() for g in self._generators()]}

    def load_state_dict(self, state: dict) -> None:
        self.trainer.load_state_dict(state["trainer"])
        for g, s in zip(self._generators(), state["generators"]):
            g.set_state(s)


class LtmdMethod(FamilyMethod):
    """LTMD: learnable thresholds, moderate dropout, two-sample loss (:mod:`biosnn.models.ltmd`)."""

    member = "ltmd"


class MlfMethod(FamilyMethod):
    """MLF neurons in the spiking DS-ResNet (:mod:`biosnn.models.mlf`)."""

    member = "mlf"


class StmixerMethod(FamilyMethod):
    """STMixer with surrogate module learning (:mod:`biosnn.models.stmixer`)."""

    member = "stmixer"


def spide_bptt_loss(model, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The BPTT reference for SPIDE (its ablation): cross-entropy of the read-out of the clamped rate map
    :func:`~biosnn.models.spide.rate_equilibrium` unrolled for ``model.steps`` iterations on the time-mean
    input, back-propagated through every iteration by autograd (no spikes). Returns ``(loss, output)``.
    """
    from biosnn.models.spide import rate_equilibrium

    rates = rate_equilibrium(
        x.mean(0), model.input_layer, model.layers, model.feedback, iterations=model.steps, v_th=model.v_th
    )
    out = model.readout(rates[-1].flatten(1)).unsqueeze(0)
    return F.cross_entropy(out[0], target), out


class SpideMethod(FamilyMethod):
    """SPIDE: the implicit gradient from a backward spiking simulation (:mod:`biosnn.models.spide`).

    A direct-coded (constant) input is given as one frame: the model runs its own ``steps`` forward steps.
    ``gradient="bptt"`` trains the same network by BPTT through the rate equilibrium instead
    (:func:`spide_bptt_loss`; evaluation still runs the spiking forward simulation): SPIDE's ablation.
    """

    member = "spide"

    def __init__(self, config, model: nn.Module, trainer_kw: dict[str, Any], *, gradient: str = "spide") -> None:
        if gradient not in ("spide", "bptt"):
            raise ParameterError(f"SPIDE 'gradient' must be 'spide' or 'bptt', got {gradient!r}")
        self.gradient = gradient
        if trainer_kw.get("encoder") == "direct":
            trainer_kw = {**trainer_kw, "steps": 1}
        super().__init__(config, model, trainer_kw)

    def _train_loss(self):
        return spide_bptt_loss if self.gradient == "bptt" else super()._train_loss()


class EicilMethod(FamilyMethod):
    """EICIL (biosnn's reading, :mod:`biosnn.models.eicil`): the optimiser steps go through
    :class:`~biosnn.models.eicil.EICILCycle`, one epoch per phase (``cycle`` = the batches of an epoch,
    fixed at the first epoch) unless ``cycle`` is given; ``weights`` is the cycle's weight rule.
    """

    member = "eicil"

    def __init__(
        self, config, model: nn.Module, trainer_kw: dict[str, Any], *, cycle: int | None = None, weights: str = "both"
    ) -> None:
        super().__init__(config, model, trainer_kw)
        self.cycle_length, self.weights = cycle, weights
        self.cycle = None if cycle is None else self._make_cycle(cycle)

    def _make_cycle(self, length: int):
        from biosnn.models.eicil import EICILCycle

        return EICILCycle(self.model, self.optimizer, cycle=int(length), weights=self.weights)

    def _step(self) -> None:
        self.cycle.step()

    def train_epoch(self, loader: Iterable, *, epochs_left: int, progress=None) -> tuple[EpochResult, dict]:
        if self.cycle is None:
            self.cycle = self._make_cycle(max(1, len(loader)))
        return super().train_epoch(loader, epochs_left=epochs_left, progress=progress)

    def state_dict(self) -> dict:
        state = super().state_dict()
        if self.cycle is not None:
            state["cycle"] = {"cycle": self.cycle.cycle, "iteration": self.cycle.iteration}
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if "cycle" in state:
            self.cycle = self._make_cycle(state["cycle"]["cycle"])
            self.cycle.iteration = int(state["cycle"]["iteration"])


#: The family's methods for :data:`~biosnn.learning.run.METHODS`.
FAMILY_METHODS: dict[str, type[FamilyMethod]] = {
    "ltmd": LtmdMethod,
    "mlf": MlfMethod,
    "stmixer": StmixerMethod,
    "spide": SpideMethod,
    "eicil": EicilMethod,
}


# ------------------------------------------------------------------------------------------ spikes
def _spiking_types() -> tuple[type, ...]:
    from biosnn.models.eicil import EINeuron
    from biosnn.models.ltmd import LTNeuron
    from biosnn.models.mlf import MLF
    from biosnn.models.neurons import LIF
    from biosnn.models.stmixer import STMixerLIF

    return (LIF, LTNeuron, MLF, STMixerLIF, EINeuron)


class SpikeCounter:
    """Count the spikes of every spiking population of a model while it runs (context manager).

    Hooks biosnn's LIF/IF neurons and the family's spiking neurons (LTMD's LT neurons, MLF neurons, whose
    output ``sum_k o_k`` is the number of compartments that fired, STMixer's LIF, EICIL's EI neurons,
    whose excitatory and inhibitory spikes both count: ``|s|``) and SPIDE's forward simulation (its spike
    counts). LTMD's graded output layers emit membrane values, not spikes, and are not counted; nor are
    STMixer's non-spiking shortcut and auxiliary heads. ``per_sample`` is the total over the samples seen
    (``add_samples``) divided by their number.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model, self.spikes, self.samples, self._handles = model, 0.0, 0, []

    def __enter__(self) -> SpikeCounter:
        from biosnn.models.spide import SPIDENet

        types = _spiking_types()
        for module in self.model.modules():
            if isinstance(module, SPIDENet):
                self._handles.append(module.register_forward_hook(self._spide_hook))
            elif isinstance(module, types):
                self._handles.append(module.register_forward_hook(self._hook))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, module, args, output) -> None:
        out = output[0] if isinstance(output, (tuple, list)) else output
        self.spikes += float(out.detach().abs().sum())

    def _spide_hook(self, module, args, output) -> None:
        self.spikes += float(sum(c.sum() for c in module.last_forward.counts))

    def add_samples(self, n: int) -> None:
        self.samples += int(n)

    @property
    def per_sample(self) -> float:
        return self.spikes / self.samples if self.samples else math.nan
