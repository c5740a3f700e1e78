r"""EIHL: the excitation-inhibition hybrid controller for deep spiking PyTorch networks.

EIHL (Jiang et al., "EIHL: excitation-inhibition mechanism-assisted hybrid learning", ICLR 2024) alternates

* a **global period** ("excitation", LTP): surrogate-gradient BPTT (STBP, :class:`~biosnn.learning.Trainer`);
  the per-synapse variable :math:`x` decays by itself, :math:`x \leftarrow x e^{-n/\tau_x}` after
  :math:`n` iterations; every ``regrow_every`` iterations removed synapses whose loss gradient at weight
  zero is large are re-created (dynamic sparse training's regrowth, RigL, Evci et al. 2020):

  .. math::  m_{ij} \leftarrow 1 \quad\text{where}\quad m_{ij} = 0 \ \wedge\
             |\bar G_{ij}| > r\,\langle |\bar G| \rangle_{present}

  with :math:`\bar G = \partial L / \partial W_\mathrm{eff}` averaged over the last ``regrow_every``
  iterations (:meth:`biosnn.models.MaskedLinear.start_grad_probe`), :math:`r` = ``regrow_ratio``, at most
  ``regrow_max_fraction`` of a layer's removed synapses at once; a re-created synapse starts at weight 0
  (RigL; with Dale's law at a tiny magnitude, since :math:`|w|` has no gradient at 0).
* a **local period** ("inhibition", LTD and removal): every iteration runs the network on the batch, and
  each synapse is depressed from its own pre- and postsynaptic spikes
  (:meth:`biosnn.learning.local.LocalLearner.depression`: the drive rule's ``layer_update`` with its
  potentiation off, additive STDP by default):

  .. math::

      D_{ij} = L_{ij} / \langle L \rangle_{present},\quad x \leftarrow x + g\,D\,m,\quad
      w \leftarrow w\,\mathrm{clip}(1 - a x, 0, 1),\quad
      m \leftarrow m \wedge (|w| \ge \mathrm{thresh}(b)),\quad w \leftarrow w\,m

  with :math:`\mathrm{thresh}(b) = b \langle |w| \rangle_{present}` frozen per layer at the start of the
  period (:mod:`biosnn.plasticity.eihl_contraction`); the contraction of the synapses a period keeps is
  bounded, :math:`\sum_{kept} |w| \ge (1 - c) \sum_{present} |w|_{start}` with :math:`c` =
  ``max_contraction`` (:func:`~biosnn.plasticity.eihl_contraction.bounded_contraction`), so a period
  removes synapses without scaling a layer below its neurons' thresholds. So :math:`x` differs between
  synapses (it is the depression each synapse accumulated), and the removed synapses are those that were
  small *or* strongly depressed, not simply the smallest. With ``drive=None`` the drive is :math:`D = 1`
  (the timing-free contraction). Or, with ``local_learner``, a spike-timing-dependent rule
  (:class:`biosnn.learning.local.LocalLearner`) followed by the same removal under ``thresh(b)``;

and switches between them by the network's connectivity (current vs previous sparsity, the paper's
Algorithm 1), through a pluggable policy (:mod:`biosnn.learning.policies`) consulted at a chosen
granularity (every epoch or every iteration). With regrowth on, :math:`S_{pre}` in the global period is
the sparsity before the last regrowth decision: while the global period re-creates synapses,
:math:`S_{curr} < S_{pre}` and it goes on; once a regrowth decision re-creates nothing, the connectivity is
stable and the local period may start. Every decision is logged with its inputs in
:attr:`EIHLController.decisions` (:meth:`EIHLController.write_decisions` writes them as CSV).

Every setting is a field of one :class:`~biosnn.plasticity.eihl_contraction.EIHLConfig` (defaults in one
place, read by the controller and the rule); the keyword arguments of the controller override single
fields. The defaults are safe: any run of two epochs or more has a local period and ends with a global one.
:data:`EIHL_DEFAULTS` is a dict view of the per-step parameters, kept for older code.

The state of the local period (:math:`x`, the frozen thresholds, the pending decay) has one owner, the
contraction :class:`~biosnn.learning.local.LocalLearner` at :attr:`EIHLController.contraction`.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from biosnn.errors import ParameterError, UnknownNameError
from biosnn.learning.local import LocalLearner
from biosnn.learning.policies import (
    GLOBAL,
    LOCAL,
    PHASES,
    SWITCHING_POLICIES,
    PhaseView,
    SwitchingPolicy,
    as_policy,
)
from biosnn.learning.trainer import EpochResult, StepResult, Trainer, masked_modules, run_epoch
from biosnn.plasticity import eihl_contraction as contraction
from biosnn.plasticity.eihl_contraction import EIHLConfig, EIHLContraction
from biosnn.registry import Registry

#: Decision granularities: when the switching policy is consulted.
GRANULARITIES: Registry[str] = Registry("switching granularity")
GRANULARITIES.register("epoch", "epoch")
GRANULARITIES.register("iteration", "iteration")

#: The per-step defaults as a dict (read from :class:`EIHLConfig`; kept for older code).
EIHL_DEFAULTS: dict[str, float] = {k: getattr(EIHLConfig(), k) for k in ("a", "b", "x_growth", "tau_x")}

#: Columns of the decision log (:attr:`EIHLController.decisions`).
DECISION_COLUMNS = (
    "epoch",
    "unit",
    "iteration",
    "phase_before",
    "phase_after",
    "units_in_phase",
    "sparsity",
    "previous_sparsity",
    "test",
    "test_result",
    "outcome",
    "units_left",
    "regrown",
    "removed",
)


def _nonneg(name: str, value: float, *, positive: bool = False, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"EIHL parameter {name!r} must be a number, got {value!r}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf) or v < 0 or (positive and v == 0):
        raise ParameterError(
            f"EIHL parameter {name!r} must be {'> 0' if positive else '>= 0'} and finite, got {value!r}"
        )
    return v


class EIHLController:
    """Alternate global (STBP + regrowth) and local (activity-driven depression + removal) periods.

    Parameters
    ----------
    trainer
        The :class:`~biosnn.learning.Trainer` that runs the global period (its model is the network).
    config
        Every setting (:class:`~biosnn.plasticity.eihl_contraction.EIHLConfig`; default ``EIHLConfig()``).
    a, b, x_growth, tau_x, granularity
        Override the fields of ``config`` of the same names (``None``: keep).
    policy
        A switching policy: a name in :data:`~biosnn.learning.policies.SWITCHING_POLICIES` (built with the
        config's ``global_units``, ``max_local_units``, ``max_sparsity``, ``final_global_units``, resolved
        against the epoch length at the first epoch), an object with ``decide(view)``, or ``None``
        (``"connectivity"``).
    start_phase
        The first period, ``"global"`` (default) or ``"local"``.
    layers
        Names of the masked layers the local period acts on (default: every layer with a ``mask``).
    local_learner
        Optional local learner (``step(x_encoded)``) used instead of the contraction in the local period;
        removal under ``thresh(b)`` follows each of its steps.
    """

    def __init__(  # noqa: C901
        self,
        trainer: Trainer,
        config: EIHLConfig | None = None,
        *,
        a: float | None = None,
        b: float | None = None,
        x_growth: float | None = None,
        tau_x: float | None = None,
        policy: SwitchingPolicy | str | None = None,
        granularity: str | None = None,
        start_phase: str = GLOBAL,
        layers: Iterable[str] | None = None,
        local_learner: object | None = None,
    ) -> None:
        if not isinstance(trainer, Trainer):
            raise ParameterError(f"trainer must be a biosnn.learning.Trainer, got {type(trainer).__name__}")
        if config is None:
            config = EIHLConfig()
        if not isinstance(config, EIHLConfig):
            raise ParameterError(f"config must be an EIHLConfig, got {type(config).__name__}")
        for name, v in (("a", a), ("b", b), ("x_growth", x_growth)):
            if v is not None:
                _nonneg(name, v)
        if tau_x is not None:
            _nonneg("tau_x", tau_x, positive=True, allow_inf=True)
        if granularity is not None:
            GRANULARITIES[granularity]
        self.config = config.replace(a=a, b=b, x_growth=x_growth, tau_x=tau_x, granularity=granularity)
        cfg = self.config
        self.a, self.b, self.x_growth, self.tau_x = cfg.a, cfg.b, cfg.x_growth, cfg.tau_x
        self.granularity = GRANULARITIES[cfg.granularity]
        self._policy_spec = "connectivity" if policy is None else policy
        if isinstance(self._policy_spec, str):
            SWITCHING_POLICIES[self._policy_spec]  # unknown names fail now
            self.policy: SwitchingPolicy | None = None  # built at the first epoch (needs the epoch length)
        else:
            self.policy = as_policy(self._policy_spec)
        if start_phase not in PHASES:
            raise ParameterError(f"start_phase must be one of {PHASES}, got {start_phase!r}")
        available = dict(masked_modules(trainer.model))
        if not available:
            raise ParameterError(
                "EIHL needs a model with masked layers (a boolean 'mask' buffer beside "
                "'weight', e.g. biosnn.models.MaskedLinear); this model has none"
            )
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
        # regrowth needs the dense gradient probe of the Masked* layers (biosnn.models.layers)
        self._regrow = cfg.regrow and all(hasattr(m, "start_grad_probe") for m in self.layers.values())
        #: the one owner of x, the frozen thresholds and the pending decay
        self.contraction = LocalLearner(
            trainer.model,
            EIHLContraction.from_config(cfg),
            layers=names,
            seed=int(trainer.generator.initial_seed()) + 17,
        )
        self.phase = start_phase
        self.units_in_phase = 0
        self.units_done = 0
        self.epochs_done = 0
        self.local_iterations = 0
        self.global_since_regrow = 0
        self.regrown_total = 0
        self._regrown_since_decision = 0
        self._removed_since_decision = 0
        #: every decision of the switching policy with its inputs (dicts with :data:`DECISION_COLUMNS`)
        self.decisions: list[dict[str, Any]] = []
        self._overall: float | None = None  # cached overall sparsity; invalidated when masks change
        #: sum |w| of each layer's present synapses at the start of the current local period
        self._period_scale: dict[str, float] | None = None
        self.previous_sparsity = self._current_sparsity()
        if start_phase == LOCAL:
            self._begin_local()
        elif self._regrow:
            self._start_probes()

    # -- state owned by the contraction learner -----------------------------------------------------
    @property
    def x(self) -> dict[str, torch.Tensor]:
        """The per-synapse variable :math:`x` of every controlled layer."""
        return self.contraction.x

    @property
    def thresholds(self) -> dict[str, float]:
        """The removal thresholds frozen for the current (or last) local period (0 before the first)."""
        th = self.contraction.thresholds
        return {n: (0.0 if th is None else float(th[n])) for n in self.layers}

    @property
    def pending_decay(self) -> int:
        """Global iterations whose decay of :math:`x` is not applied yet (it is, at the next local period)."""
        return self.contraction.pending_decay

    @pending_decay.setter
    def pending_decay(self, value: int) -> None:
        self.contraction.pending_decay = int(value)

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

    def _resolve_policy(self, per_epoch: int | None) -> None:
        if self.policy is not None:
            return
        g, f = self.config.resolved_units(per_epoch or 1)
        cls = SWITCHING_POLICIES[self._policy_spec]
        settings = {
            "global_units": g,
            "max_local_units": self.config.max_local_units,
            "local_units": self.config.max_local_units,
            "max_sparsity": self.config.max_sparsity,
            "min_local_units": min(self.config.min_local_units, self.config.max_local_units),
            "final_global_units": f,
        }
        import dataclasses

        names = {fl.name for fl in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
        self.policy = cls(**{k: v for k, v in settings.items() if k in names})

    # -- the global period: regrowth ------------------------------------------------------------------
    def _start_probes(self) -> None:
        for m in self.layers.values():
            if hasattr(m, "start_grad_probe"):
                m.start_grad_probe()

    def _stop_probes(self) -> None:
        for m in self.layers.values():
            if hasattr(m, "stop_grad_probe"):
                m.stop_grad_probe()

    @torch.no_grad()
    def regrow(self) -> int:
        """One regrowth decision (:func:`~biosnn.plasticity.eihl_contraction.regrowth`) on every layer,
        from the dense gradients averaged since the last one; returns how many synapses were re-created.
        """
        cfg = self.config
        total = 0
        for m in self.layers.values():
            probe = m.grad_probe() if hasattr(m, "grad_probe") else None
            if probe is None:
                continue
            new = contraction.regrowth(m.mask, probe, ratio=cfg.regrow_ratio, max_fraction=cfg.regrow_max_fraction)
            n = int(new.sum())
            if n:
                m.mask.logical_or_(new)
                present = m.weight[m.mask & ~new].abs()
                init = 0.0
                if getattr(m, "sign", None) is not None:  # |w| has no gradient at 0: start tiny
                    init = 1e-3 * float(present.mean()) if present.numel() else 1e-6
                m.weight.masked_fill_(new, init)
                total += n
            m.start_grad_probe()
        if total:
            self._overall = None
        self.regrown_total += total
        self._regrown_since_decision += total
        return total

    # -- the local period ----------------------------------------------------------------------------
    @torch.no_grad()
    def _begin_local(self) -> None:
        """Apply the accumulated decay of x, freeze each layer's removal threshold thresh(b) and its scale
        (the floor of :func:`~biosnn.plasticity.eihl_contraction.bounded_contraction`).
        """
        self._stop_probes()
        self.contraction.begin_period()
        self._period_scale = {n: float(m.weight.detach()[m.mask].abs().sum()) for n, m in self.layers.items()}

    @torch.no_grad()
    def _bound_contraction(self, before: dict[str, torch.Tensor]) -> None:
        """Scale back this step's contraction of the kept synapses where a layer's scale fell under
        ``(1 - max_contraction)`` times its scale at the period's start.
        """
        c = self.config.max_contraction
        if c >= 1:
            return
        if self._period_scale is None:
            self._period_scale = {
                n: float(b[m.mask].abs().sum()) for (n, m), b in zip(self.layers.items(), before.values())
            }
        for n, m in self.layers.items():
            w = contraction.bounded_contraction(
                before[n], m.weight.detach(), m.mask, floor=(1 - c) * self._period_scale[n]
            )
            m.weight.copy_(w)

    @torch.no_grad()
    def local_update(self, x_encoded: torch.Tensor | None = None) -> None:
        """One local step on every controlled layer (activity-driven contraction, or the local learner,
        then removal under the frozen thresholds).
        """
        before = sum(int(m.mask.sum()) for m in self.layers.values())
        if self.local_learner is not None:
            if x_encoded is None:
                raise ParameterError("the local learner needs the encoded input of the batch")
            if self.contraction.thresholds is None:
                self.contraction.begin_period()
            self.local_learner.step(x_encoded)
            th = self.contraction.thresholds
            for n, m in self.layers.items():
                keep = m.mask & (m.weight.abs() >= th[n])
                m.mask.copy_(keep)
                m.weight.mul_(keep.to(m.weight.dtype))
        else:
            weights = {n: m.weight.detach().clone() for n, m in self.layers.items()}
            self.contraction.step(x_encoded)
            self._bound_contraction(weights)
        self.local_iterations += 1
        self._overall = None
        self._removed_since_decision += before - sum(int(m.mask.sum()) for m in self.layers.values())

    # -- one iteration -------------------------------------------------------------------------------
    def step(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        """One iteration in the current period: an STBP step (then, every ``regrow_every`` of them, a
        regrowth decision), or a local step (measured before it).
        """
        if self.phase == GLOBAL:
            result = self.trainer.train_step(x, y)
            self.contraction.note_global(1)
            if self._regrow:
                self.global_since_regrow += 1
                if self.global_since_regrow >= self.config.regrow_every:
                    before = self._current_sparsity()
                    self.regrow()
                    self.global_since_regrow = 0
                    # S_pre of the global period: the sparsity before this regrowth decision
                    self.previous_sparsity = before
            return result
        trainer = self.trainer
        y = y.to(trainer.device)
        x_t = trainer.encode(x)
        with torch.no_grad():
            output = trainer.model(x_t)
            result = trainer._measure(output, y, trainer.loss(output, y))
        needs_input = self.local_learner is not None or self.contraction.rule.drive is not None
        self.local_update(x_t if needs_input else None)
        return result

    def _decide(self, units_left: int | None) -> None:
        if self.policy is None:
            self._resolve_policy(None)
        self.units_in_phase += 1
        self.units_done += 1
        current = self._current_sparsity()
        view = PhaseView(
            phase=self.phase,
            units_in_phase=self.units_in_phase,
            sparsity=current,
            previous_sparsity=self.previous_sparsity,
            units_done=self.units_done,
            units_left=units_left,
        )
        nxt = self.policy.decide(view)
        if nxt not in PHASES:
            raise ParameterError(
                f"switching policy {type(self.policy).__name__} returned {nxt!r}; expected one of {PHASES}"
            )
        if self.phase == GLOBAL:
            test, result = "Curr S >= Pre S", current >= self.previous_sparsity
        else:
            test, result = "Curr S > Pre S", current > self.previous_sparsity
        self.decisions.append(
            {
                "epoch": self.epochs_done + 1,
                "unit": self.granularity,
                "iteration": self.trainer.iteration + self.local_iterations,
                "phase_before": self.phase,
                "phase_after": nxt,
                "units_in_phase": self.units_in_phase,
                "sparsity": current,
                "previous_sparsity": self.previous_sparsity,
                "test": test,
                "test_result": bool(result),
                "outcome": "switch" if nxt != self.phase else "stay",
                "units_left": units_left,
                "regrown": self._regrown_since_decision,
                "removed": self._removed_since_decision,
            }
        )
        self._regrown_since_decision = self._removed_since_decision = 0
        if not (self.phase == GLOBAL and self._regrow):
            self.previous_sparsity = current
        if nxt != self.phase:
            self.phase = nxt
            self.units_in_phase = 0
            self.previous_sparsity = current
            if nxt == LOCAL:
                self._begin_local()
            elif self._regrow:
                self.global_since_regrow = 0
                self._start_probes()

    def train_epoch(
        self, loader: Iterable, *, epochs_left: int | None = None, progress: Callable[[StepResult], None] | None = None
    ) -> tuple[EpochResult, dict[str, int]]:
        """One pass over ``loader``; returns the epoch's result and the iterations spent in each period.

        Parameters
        ----------
        loader
            Batches ``(x, y)``.
        epochs_left
            Epochs left after this one (lets the policy end the run with a global period; :meth:`fit`
            passes it).
        progress
            Called with every step's result.
        """
        counts = {GLOBAL: 0, LOCAL: 0}
        self._overall = None  # masks may have been changed from outside (pruning) since the last epoch
        per_epoch = len(loader) if hasattr(loader, "__len__") else None
        self._resolve_policy(per_epoch)

        def step(i: int, x: torch.Tensor, y: torch.Tensor) -> StepResult:
            counts[self.phase] += 1
            r = self.step(x, y)
            if self.granularity == "iteration":
                left = (
                    None
                    if (epochs_left is None or per_epoch is None)
                    else (epochs_left * per_epoch + per_epoch - i - 1)
                )
                self._decide(left)
            return r

        result = run_epoch(loader, step, progress=progress)
        if self.granularity == "epoch":
            self._decide(epochs_left)
        if self.trainer.scheduler is not None:
            self.trainer.scheduler.step()
        self.epochs_done += 1
        return result, counts

    def fit(self, train_loader: Iterable, *, epochs: int, test_loader: Iterable | None = None) -> list[dict[str, Any]]:
        """Train for ``epochs`` epochs (telling the policy how many are left); one dict per epoch with the
        iterations in each period, train loss/accuracy, sparsity and (with ``test_loader``) test accuracy.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ParameterError(f"epochs must be a positive integer, got {epochs!r}")
        history = []
        for e in range(epochs):
            tr, counts = self.train_epoch(train_loader, epochs_left=epochs - e - 1)
            row: dict[str, Any] = {
                "epoch": self.epochs_done,
                "global_iterations": counts[GLOBAL],
                "local_iterations": counts[LOCAL],
                "loss": tr.loss,
                "train_accuracy": tr.accuracy,
                "sparsity": self.sparsity()["overall"],
            }
            if test_loader is not None:
                te = self.trainer.evaluate(test_loader)
                row.update(test_loss=te.loss, test_accuracy=te.accuracy)
            history.append(row)
        return history

    def write_decisions(self, path: str | os.PathLike) -> Path:
        """Write :attr:`decisions` as CSV (columns :data:`DECISION_COLUMNS`); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(DECISION_COLUMNS), lineterminator="\n")
            w.writeheader()
            for row in self.decisions:
                w.writerow(row)
        return path

    # -- state ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Phase, counters, the decision log, the contraction learner's state (x, thresholds, pending
        decay) and the regrowth gradient probes (masks and weights live in the model).
        """
        probes = {}
        for n, m in self.layers.items():
            if getattr(m, "_grad_probe", None) is not None:
                probes[n] = (m._grad_probe.clone(), int(m._probe_count))
        return {
            "phase": self.phase,
            "units_in_phase": self.units_in_phase,
            "units_done": self.units_done,
            "epochs_done": self.epochs_done,
            "local_iterations": self.local_iterations,
            "previous_sparsity": self.previous_sparsity,
            "global_since_regrow": self.global_since_regrow,
            "regrown_total": self.regrown_total,
            "decisions": [dict(d) for d in self.decisions],
            "contraction": self.contraction.state_dict(),
            "probes": probes,
            "x": {n: t.clone() for n, t in self.x.items()},
            "thresholds": dict(self.thresholds),
            "period_scale": None if self._period_scale is None else dict(self._period_scale),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved."""
        if set(state["x"]) != set(self.x):
            raise ParameterError(
                f"controller state is for layers {sorted(state['x'])}, this controller controls {sorted(self.x)}"
            )
        self.phase = state["phase"]
        self.units_in_phase = int(state["units_in_phase"])
        self.units_done = int(state["units_done"])
        self.epochs_done = int(state.get("epochs_done", 0))
        self.local_iterations = int(state["local_iterations"])
        self.previous_sparsity = float(state["previous_sparsity"])
        self.global_since_regrow = int(state.get("global_since_regrow", 0))
        self.regrown_total = int(state.get("regrown_total", 0))
        self.decisions = [dict(d) for d in state.get("decisions", [])]
        self.contraction.load_state_dict(state["contraction"])
        scale = state.get("period_scale")
        self._period_scale = None if scale is None else {n: float(v) for n, v in scale.items()}
        self._stop_probes()
        for n, (g, c) in state.get("probes", {}).items():
            m = self.layers[n]
            m.start_grad_probe()
            m._grad_probe.copy_(g)
            m._probe_count = c
        self._overall = None
