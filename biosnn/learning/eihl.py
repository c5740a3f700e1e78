r"""EIHL: the excitation-inhibition hybrid controller for deep spiking PyTorch networks.

EIHL (Jiang et al., "EIHL: excitation-inhibition mechanism-assisted hybrid learning", ICLR 2024) alternates

* a **global period** ("excitation"): surrogate-gradient BPTT (STBP, :class:`~biosnn.learning.Trainer`);
  the per-synapse variable :math:`x` decays by itself, :math:`x \leftarrow x e^{-n/\tau_x}` after
  :math:`n` iterations;
* a **local period** ("inhibition"): every iteration performs one local step on every controlled layer,
  the timing-free contraction of :mod:`biosnn.plasticity.eihl_contraction`

  .. math::

      x \leftarrow x + g\,m,\quad w \leftarrow w\,\mathrm{clip}(1 - a x, 0, 1),\quad
      m \leftarrow m \wedge (|w| \ge \mathrm{thresh}(b)),\quad w \leftarrow w\,m

  with :math:`\mathrm{thresh}(b) = b \langle |w| \rangle_{present}` computed per layer once at the start
  of the period and frozen; or, with ``local_learner``, a spike-timing-dependent rule
  (:class:`biosnn.learning.local.LocalLearner`) followed by the same removal under ``thresh(b)``;

and switches between them by the network's connectivity (current vs previous sparsity, the paper's
Algorithm 1), through a pluggable policy (:mod:`biosnn.learning.policies`) consulted at a chosen
granularity (every epoch or every iteration).

Every knob the paper leaves open is a setting here: ``a``, ``b``, ``x_growth`` (:math:`g`), ``tau_x``,
``policy`` and ``granularity``. The defaults (``a=0.01``, ``b=0.3``, ``x_growth=0.02``, ``tau_x=100``
iterations, ``connectivity`` policy, epoch granularity) were tuned on scikit-learn's digits so that EIHL
keeps STBP's accuracy (within one point) at a sparsity above 15 % (see ``biosnn demo``); they are ours,
not the paper's.

Removal is permanent: absent synapses keep ``mask == False`` and weight exactly 0 (the trainer re-applies
masks after every optimiser step, so momentum cannot revive them). The decay of :math:`x` is applied
lazily (accumulated iteration count, one exponential at the start of the next local period), which is
mathematically the same and costs nothing per global iteration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from biosnn.errors import ParameterError, UnknownNameError
from biosnn.learning.policies import GLOBAL, LOCAL, PHASES, PhaseView, SwitchingPolicy, as_policy
from biosnn.learning.trainer import EpochResult, StepResult, Trainer, masked_modules
from biosnn.plasticity import eihl_contraction as contraction
from biosnn.registry import Registry

#: Decision granularities: when the switching policy is consulted.
GRANULARITIES: Registry[str] = Registry("switching granularity")
GRANULARITIES.register("epoch", "epoch")
GRANULARITIES.register("iteration", "iteration")

#: Defaults of the controller's settings (tuned on digits; see the module docstring).
EIHL_DEFAULTS: dict[str, float] = {"a": 0.01, "b": 0.3, "x_growth": 0.02, "tau_x": 100.0}


def _nonneg(name: str, value: float, *, positive: bool = False, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"EIHL parameter {name!r} must be a number, got {value!r}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf) or v < 0 or (positive and v == 0):
        raise ParameterError(f"EIHL parameter {name!r} must be {'> 0' if positive else '>= 0'} and finite, "
                             f"got {value!r}")
    return v


class EIHLController:
    """Alternate global (STBP) and local (contraction + removal) periods on a deep spiking network.

    Parameters
    ----------
    trainer
        The :class:`~biosnn.learning.Trainer` that runs the global period (its model is the network).
    a
        Contraction factor (Eq. 7): the depression per step is :math:`w \\leftarrow w(1 - a x)`.
    b
        Removal threshold as a fraction of the mean magnitude of present weights (per layer, frozen for
        a local period).
    x_growth
        Growth :math:`g` of :math:`x` per local iteration.
    tau_x
        Decay time constant of :math:`x` during the global period, in iterations (``inf``: no decay).
    policy
        A switching policy: a name in :data:`~biosnn.learning.policies.SWITCHING_POLICIES` or an object
        with ``decide(view)``.
    granularity
        ``"epoch"`` (the policy is consulted after every epoch) or ``"iteration"`` (after every batch).
    start_phase
        The first period, ``"global"`` (default) or ``"local"``.
    layers
        Names of the masked layers the local period acts on (default: every layer with a ``mask``).
    local_learner
        Optional local learner (``step(x_encoded)``) used instead of the contraction in the local period;
        removal under ``thresh(b)`` follows each of its steps.
    """

    def __init__(self, trainer: Trainer, *, a: float = EIHL_DEFAULTS["a"], b: float = EIHL_DEFAULTS["b"],
                 x_growth: float = EIHL_DEFAULTS["x_growth"], tau_x: float = EIHL_DEFAULTS["tau_x"],
                 policy: SwitchingPolicy | str | None = "connectivity", granularity: str = "epoch",
                 start_phase: str = GLOBAL, layers: Iterable[str] | None = None,
                 local_learner: object | None = None) -> None:
        if not isinstance(trainer, Trainer):
            raise ParameterError(f"trainer must be a biosnn.learning.Trainer, got {type(trainer).__name__}")
        self.a = _nonneg("a", a)
        self.b = _nonneg("b", b)
        self.x_growth = _nonneg("x_growth", x_growth)
        self.tau_x = _nonneg("tau_x", tau_x, positive=True, allow_inf=True)
        self.policy = as_policy(policy)
        self.granularity = GRANULARITIES[granularity]
        if start_phase not in PHASES:
            raise ParameterError(f"start_phase must be one of {PHASES}, got {start_phase!r}")
        available = dict(masked_modules(trainer.model))
        if not available:
            raise ParameterError("EIHL needs a model with masked layers (a boolean 'mask' buffer beside "
                                 "'weight', e.g. biosnn.models.MaskedLinear); this model has none")
        if layers is None:
            names = list(available)
        else:
            names = list(layers)
            for n in names:
                if n not in available:
                    raise UnknownNameError(f"unknown masked layer {n!r}; known: {', '.join(available)}")
        if local_learner is not None and not callable(getattr(local_learner, "step", None)):
            raise ParameterError("local_learner must have a step(x_encoded) method")
        self.trainer = trainer
        self.local_learner = local_learner
        self.layers: dict[str, nn.Module] = {n: available[n] for n in names}
        self.x = {n: torch.zeros_like(m.weight, dtype=m.weight.dtype) for n, m in self.layers.items()}
        self.thresholds = {n: 0.0 for n in self.layers}
        self.phase = start_phase
        self.units_in_phase = 0
        self.units_done = 0
        self.pending_decay = 0
        self.local_iterations = 0
        self._overall: float | None = None  # cached overall sparsity; only local steps change the masks
        self.previous_sparsity = self._current_sparsity()
        if start_phase == LOCAL:
            self._begin_local()

    # -- connectivity --------------------------------------------------------------------------------
    def sparsity(self) -> dict[str, float]:
        """Fraction of absent synapses per controlled layer and pooled (``"overall"``)."""
        out = {n: contraction.sparsity(m.mask) for n, m in self.layers.items()}
        out["overall"] = contraction.sparsity([m.mask for m in self.layers.values()])
        return out

    def _current_sparsity(self) -> float:
        if self._overall is None:
            self._overall = contraction.sparsity([m.mask for m in self.layers.values()])
        return self._overall

    # -- the local period ----------------------------------------------------------------------------
    @torch.no_grad()
    def _begin_local(self) -> None:
        """Apply the accumulated decay of x and freeze each layer's removal threshold thresh(b)."""
        if self.pending_decay:
            for n in self.x:
                self.x[n] = contraction.global_decay(self.x[n], steps=self.pending_decay, tau_x=self.tau_x)
            self.pending_decay = 0
        for n, m in self.layers.items():
            self.thresholds[n] = float(contraction.removal_threshold(m.weight, m.mask, b=self.b))

    @torch.no_grad()
    def local_update(self, x_encoded: torch.Tensor | None = None) -> None:
        """One local step on every controlled layer (contraction, or the local learner, then removal)."""
        if self.local_learner is not None:
            if x_encoded is None:
                raise ParameterError("the local learner needs the encoded input of the batch")
            self.local_learner.step(x_encoded)
            for n, m in self.layers.items():
                keep = m.mask & (m.weight.abs() >= self.thresholds[n])
                m.mask.copy_(keep)
                m.weight.mul_(keep.to(m.weight.dtype))
        else:
            for n, m in self.layers.items():
                w, x, mask = contraction.local_step(m.weight, self.x[n], m.mask, a=self.a, x_growth=self.x_growth,
                                                    threshold=self.thresholds[n])
                m.weight.copy_(w)
                m.mask.copy_(mask)
                self.x[n] = x
        self.local_iterations += 1
        self._overall = None

    # -- one iteration -------------------------------------------------------------------------------
    def step(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        """One iteration in the current period: an STBP step, or a local step (measured before it)."""
        if self.phase == GLOBAL:
            result = self.trainer.train_step(x, y)
            self.pending_decay += 1
            return result
        trainer = self.trainer
        y = y.to(trainer.device)
        x_t = trainer.encode(x)
        with torch.no_grad():
            output = trainer.model(x_t)
            result = trainer._measure(output, y, trainer.loss(output, y))
        self.local_update(x_t if self.local_learner is not None else None)
        return result

    def _decide(self, units_left: int | None) -> None:
        self.units_in_phase += 1
        self.units_done += 1
        current = self._current_sparsity()
        view = PhaseView(phase=self.phase, units_in_phase=self.units_in_phase, sparsity=current,
                         previous_sparsity=self.previous_sparsity, units_done=self.units_done,
                         units_left=units_left)
        nxt = self.policy.decide(view)
        if nxt not in PHASES:
            raise ParameterError(f"switching policy {type(self.policy).__name__} returned {nxt!r}; "
                                 f"expected one of {PHASES}")
        self.previous_sparsity = current
        if nxt != self.phase:
            self.phase = nxt
            self.units_in_phase = 0
            if nxt == LOCAL:
                self._begin_local()

    def train_epoch(self, loader: Iterable, *, epochs_left: int | None = None,
                    progress: Callable[[StepResult], None] | None = None) -> tuple[EpochResult, dict[str, int]]:
        """One pass over ``loader``; returns the epoch's result and the iterations spent in each period.

        Parameters
        ----------
        loader
            Batches ``(x, y)``.
        epochs_left
            Epochs left after this one (lets policies end the run with a global period).
        progress
            Called with every step's result.
        """
        results = []
        counts = {GLOBAL: 0, LOCAL: 0}
        self._overall = None  # masks may have been changed from outside (pruning) since the last epoch
        per_epoch = len(loader) if hasattr(loader, "__len__") else None
        for i, (x, y) in enumerate(loader):
            counts[self.phase] += 1
            r = self.step(x, y)
            results.append(r)
            if progress is not None:
                progress(r)
            if self.granularity == "iteration":
                left = None if (epochs_left is None or per_epoch is None) else (
                    epochs_left * per_epoch + per_epoch - i - 1)
                self._decide(left)
        if self.granularity == "epoch":
            self._decide(epochs_left)
        if self.trainer.scheduler is not None:
            self.trainer.scheduler.step()
        return EpochResult.from_steps(results), counts

    # -- state ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Phase, counters, x and the frozen thresholds (masks and weights live in the model)."""
        return {
            "phase": self.phase, "units_in_phase": self.units_in_phase, "units_done": self.units_done,
            "pending_decay": self.pending_decay, "local_iterations": self.local_iterations,
            "previous_sparsity": self.previous_sparsity,
            "x": {n: t.clone() for n, t in self.x.items()}, "thresholds": dict(self.thresholds),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved."""
        if set(state["x"]) != set(self.x):
            raise ParameterError(f"controller state is for layers {sorted(state['x'])}, this controller "
                                 f"controls {sorted(self.x)}")
        self.phase = state["phase"]
        self.units_in_phase = int(state["units_in_phase"])
        self.units_done = int(state["units_done"])
        self.pending_decay = int(state["pending_decay"])
        self.local_iterations = int(state["local_iterations"])
        self.previous_sparsity = float(state["previous_sparsity"])
        self.x = {n: state["x"][n].to(self.x[n].device, self.x[n].dtype) for n in self.x}
        self.thresholds = {n: float(v) for n, v in state["thresholds"].items()}
        self._overall = None
