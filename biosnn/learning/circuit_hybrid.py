r"""EIHL on a Brian2 E/I circuit: the local period in Brian2, the global period in the twin.

The EIHL hybrid (ICLR 2024) alternates a global period (surrogate-gradient training, "excitation") and a
local period (timing-free contraction and removal of synapses, "inhibition"), switching by the network's
connectivity. Here the network is an ordinary Brian2 circuit, and each period runs in the engine that
suits it:

* the **local period** is simulated by Brian2 itself, with the plasticity rule
  :class:`~biosnn.plasticity.eihl_contraction.EIHLContraction` on the input synapses (its
  ``run_regularly`` step contracts the weights, grows ``x`` and removes synapses under ``thresh(b)``);
* the **global period** trains the circuit's PyTorch twin (:func:`biosnn.twin`) by surrogate-gradient
  BPTT on the spike counts of class-labelled excitatory groups;
* at every switch **weights and masks cross the bridge**: ``twin.push()`` before a local period writes the
  trained weights (and the mask as the rule's ``absent`` variable) into Brian2, ``twin.pull()`` after it
  brings Brian2's contracted weights and removals back. A removed synapse stays in the connectivity of
  both engines as absent, with weight exactly 0; the twin's gradient steps keep it at 0.

The controller is the deep-net one, reused as is: :class:`biosnn.learning.eihl.EIHLController` with its
switching policies (:mod:`biosnn.learning.policies`) drives a :class:`~biosnn.learning.trainer.Trainer`
over :class:`TwinReadout` (the twin as a spiking classifier) and, in its local period, calls
:class:`BrianLocalPeriod` as its ``local_learner``; the controller's frozen ``thresh(b)`` is handed to
Brian2, so both engines remove exactly the same synapses.

The circuit (:func:`eihl_circuit`) is a small Diehl & Cook (2015)-style network, written in plain Brian2:
Poisson input (one neuron per pixel; the spike trains are sampled once, with a seeded torch generator,
and given to both engines) -> excitatory LIF population ``E`` (plastic, EIHL rule) with
one-to-one ``E -> I`` excitation and all-to-all-but-self ``I -> E`` lateral inhibition. Each class owns
``n_per_class`` excitatory neurons; the prediction is the class whose neurons spike most (the label
assignment of Diehl & Cook, fixed in advance so that the global period can train towards it).

Time bookkeeping: one local iteration is one Brian2 run of ``local_duration`` (an integer number of the
rule's ``interval``; ``x`` grows by ``x_growth`` per interval); during the global period ``x`` decays by
:math:`e^{-n/\tau_x}` for the ``n`` intervals of simulated training time, applied when the next local
period starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import brian2
import numpy as np
import torch
from torch import nn

from biosnn.errors import ParameterError, ShapeError
from biosnn.plasticity.eihl_contraction import EIHLContraction, global_decay
from biosnn.units import check_quantity, to_float

__all__ = [
    "EIHLCircuit",
    "eihl_circuit",
    "rest",
    "poisson_spikes",
    "TwinReadout",
    "SynapseMask",
    "BrianLocalPeriod",
    "CircuitEIHL",
    "CIRCUIT_POLICY",
    "CIRCUIT_RULE",
    "digits_rates",
]


#: Defaults of the circuit variant, tuned on digits (320 training samples, 160 test samples, 5 epochs,
#: seed 0; the slow test ``test_hybrid_training_on_digits_keeps_stbp_accuracy_at_high_sparsity``): the
#: connectivity policy with these settings, ``local_duration = 2 ms`` and the rule with ``b = 0.3`` reach
#: 71.9 % test accuracy at 42.3 % sparsity, where STBP alone in the same twin reaches 73.8 % (0 %).
CIRCUIT_POLICY: dict[str, Any] = {"global_units": 8, "max_local_units": 3, "max_sparsity": 0.4}
CIRCUIT_RULE: dict[str, Any] = {"b": 0.3}


# --------------------------------------------------------------------------------------------------------
# the circuit (plain Brian2)
# --------------------------------------------------------------------------------------------------------
@dataclass
class EIHLCircuit:
    """A Brian2 E/I circuit whose input synapses run the EIHL contraction rule.

    Attributes
    ----------
    network
        The explicit :class:`brian2.Network` holding every object.
    inputs, exc, inh
        The input group (``"input"``, a ``SpikeGeneratorGroup`` fed with Poisson spike trains sampled by
        :func:`poisson_spikes`, so that Brian2 and the twin see the same input spikes), the excitatory and
        the inhibitory populations.
    input_exc
        The plastic ``input -> E`` synapses (``"input_E"``), built by ``rule.synapses``.
    rule
        The :class:`EIHLContraction` rule of ``input_exc``.
    n_classes, n_per_class
        ``E`` neuron ``j`` belongs to class ``j // n_per_class``.
    parameters
        The builder's arguments.
    """

    network: brian2.Network
    inputs: brian2.SpikeGeneratorGroup
    exc: brian2.NeuronGroup
    inh: brian2.NeuronGroup
    input_exc: brian2.Synapses
    rule: EIHLContraction
    n_classes: int
    n_per_class: int
    parameters: dict[str, Any] = field(default_factory=dict)


_NEURON_EQS = """
dv/dt = (v_rest - v + ge - gi) / tau_m : volt
dge/dt = -ge / tau_e : volt
dgi/dt = -gi / tau_i : volt
"""


def eihl_circuit(
    *,
    n_inputs: int = 64,
    n_classes: int = 10,
    n_per_class: int = 2,
    rule: EIHLContraction | None = None,
    dt: brian2.Quantity = 0.5 * brian2.ms,
    tau_m: brian2.Quantity = 10 * brian2.ms,
    tau_e: brian2.Quantity = 5 * brian2.ms,
    tau_i: brian2.Quantity = 5 * brian2.ms,
    v_rest: brian2.Quantity = -65 * brian2.mV,
    v_threshold: brian2.Quantity = -55 * brian2.mV,
    v_reset: brian2.Quantity = -65 * brian2.mV,
    w_input_max: float = 2.5,
    w_exc_inh: brian2.Quantity = 20 * brian2.mV,
    w_inh_exc: brian2.Quantity = 3 * brian2.mV,
    seed: int = 0,
) -> EIHLCircuit:
    """Build the Diehl & Cook-style circuit (see the module docstring) with explicit Brian2 objects.

    Parameters
    ----------
    n_inputs
        Poisson input neurons (64 for the 8x8 digits).
    n_classes, n_per_class
        Excitatory neurons: ``n_classes * n_per_class``, as many inhibitory ones.
    rule
        The EIHL rule of the input synapses (default ``EIHLContraction(**CIRCUIT_RULE)``); its ``weight_unit`` must be
        dimensionless (a weight of 1 adds 1 mV to ``ge``).
    dt
        Simulation time step.
    tau_m, tau_e, tau_i, v_rest, v_threshold, v_reset
        LIF membrane and synaptic time constants and voltages (both populations).
    w_input_max
        Initial input weights are uniform in ``[0, w_input_max]`` (mV per spike).
    w_exc_inh, w_inh_exc
        Fixed ``E -> I`` (one-to-one) and ``I -> E`` (all but self) weights.
    seed
        Seed of the initial weights (NumPy generator).
    """
    rule = EIHLContraction(**CIRCUIT_RULE) if rule is None else rule
    if not isinstance(rule, EIHLContraction):
        raise ParameterError(f"parameter 'rule' must be an EIHLContraction, got {type(rule).__name__}")
    if not brian2.get_dimensions(rule.weight_unit).is_dimensionless:
        raise ParameterError(
            "parameter 'rule': the circuit's input weights are dimensionless (mV per spike); "
            f"got weight_unit={rule.get_params()['weight_unit']!r}"
        )
    for name, value in (("n_inputs", n_inputs), ("n_classes", n_classes), ("n_per_class", n_per_class)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"parameter {name!r} must be a positive integer, got {value!r}")
    dt = check_quantity("dt", dt, brian2.second)
    ns = {
        "tau_m": check_quantity("tau_m", tau_m, brian2.second),
        "tau_e": check_quantity("tau_e", tau_e, brian2.second),
        "tau_i": check_quantity("tau_i", tau_i, brian2.second),
        "v_rest": check_quantity("v_rest", v_rest, brian2.volt),
        "v_threshold": check_quantity("v_threshold", v_threshold, brian2.volt),
        "v_reset": check_quantity("v_reset", v_reset, brian2.volt),
    }
    w_ei = check_quantity("w_exc_inh", w_exc_inh, brian2.volt)
    w_ie = check_quantity("w_inh_exc", w_inh_exc, brian2.volt)
    w_max = to_float("w_input_max", w_input_max, 1)
    n_exc = n_classes * n_per_class
    inputs = brian2.SpikeGeneratorGroup(
        n_inputs, np.zeros(0, dtype=int), np.zeros(0) * brian2.second, dt=dt, name="input"
    )
    exc = brian2.NeuronGroup(
        n_exc,
        _NEURON_EQS,
        threshold="v > v_threshold",
        reset="v = v_reset",
        method="exact",
        namespace=dict(ns),
        dt=dt,
        name="E",
    )
    inh = brian2.NeuronGroup(
        n_exc,
        _NEURON_EQS,
        threshold="v > v_threshold",
        reset="v = v_reset",
        method="exact",
        namespace=dict(ns),
        dt=dt,
        name="I",
    )
    exc.v = ns["v_rest"]
    inh.v = ns["v_rest"]
    input_exc = rule.synapses(
        inputs, exc, effect="ge_post += w * mV", name="input_E", dt=dt, namespace={"mV": brian2.mV}
    )
    input_exc.connect()
    input_exc.w = np.random.default_rng(seed).uniform(0.0, w_max, size=len(input_exc))
    exc_inh = brian2.Synapses(exc, inh, on_pre="ge_post += w_ei", namespace={"w_ei": w_ei}, dt=dt, name="E_I")
    exc_inh.connect(j="i")
    inh_exc = brian2.Synapses(inh, exc, on_pre="gi_post += w_ie", namespace={"w_ie": w_ie}, dt=dt, name="I_E")
    inh_exc.connect(condition="i != j")
    net = brian2.Network(inputs, exc, inh, input_exc, exc_inh, inh_exc, name="eihl_circuit")
    params = dict(
        n_inputs=n_inputs,
        n_classes=n_classes,
        n_per_class=n_per_class,
        rule=rule,
        dt=dt,
        **ns,
        w_input_max=w_max,
        w_exc_inh=w_ei,
        w_inh_exc=w_ie,
        seed=seed,
    )
    return EIHLCircuit(net, inputs, exc, inh, input_exc, rule, n_classes, n_per_class, params)


# --------------------------------------------------------------------------------------------------------
# the twin as a classifier, with a masked view of the plastic synapses
# --------------------------------------------------------------------------------------------------------
def poisson_spikes(
    rates: torch.Tensor, *, steps: int, dt: brian2.Quantity, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Poisson spike trains on the time grid: ``spikes[t, b, i] ~ Bernoulli(rates[b, i] * dt)``.

    ``rates`` in Hz (``[B, N]``); returns ``[steps, B, N]`` 0/1 in the rates' dtype. ``rates * dt`` must
    not exceed 1.
    """
    p = rates * to_float("dt", dt, brian2.second)
    if bool((p > 1).any()) or bool((p < 0).any()) or not bool(torch.isfinite(p).all()):
        raise ParameterError("input rates must be finite, >= 0 and at most 1/dt")
    u = torch.rand((steps, *rates.shape), generator=generator, dtype=rates.dtype)
    return (u < p.unsqueeze(0)).to(rates.dtype)


def rest(circuit: EIHLCircuit) -> None:
    """Put both populations of ``circuit`` at rest (``v = v_rest``, no synaptic input), in Brian2."""
    for group in (circuit.exc, circuit.inh):
        group.v = circuit.parameters["v_rest"]
        group.ge = 0 * brian2.volt
        group.gi = 0 * brian2.volt


class SynapseMask(nn.Module):
    """A masked-layer view of one plastic Synapses of a twin: ``weight`` (the twin's parameter) and ``mask``.

    ``weight`` is the very ``nn.Parameter`` of the twin (one entry per synapse, in Brian2's order), so the
    trainer's optimiser and the controller's local steps act on the twin; ``mask`` is a boolean buffer,
    ``True`` where the synapse is present (Brian2: ``absent == 0``).
    """

    def __init__(self, weight: nn.Parameter, mask: torch.Tensor) -> None:
        super().__init__()
        self.weight = weight
        self.register_buffer("mask", mask.clone().to(torch.bool))


class TwinReadout(nn.Module):
    """The twin of an :class:`EIHLCircuit` as a spiking classifier.

    ``forward(rates[B', n_inputs])`` (input rates in Hz, ``B' <= B``) restores the twin to its last
    :meth:`~biosnn.twins.Twin.pull` state, simulates ``duration`` with Poisson spike trains at those rates
    (sampled with the module's seeded ``generator``) and returns the excitatory spikes summed per class,
    ``[T, B', n_classes]`` (differentiable through the surrogate).
    """

    def __init__(self, circuit: EIHLCircuit, tw: nn.Module, *, duration: brian2.Quantity, seed: int = 0) -> None:
        super().__init__()
        self.circuit = circuit
        self.twin = tw
        self.duration = check_quantity("duration", duration, brian2.second)
        self.dt = circuit.inputs.clock.dt
        self.steps = int(round(float(self.duration / self.dt)))
        self.generator = torch.Generator().manual_seed(int(seed))
        name = circuit.input_exc.name
        mask = torch.as_tensor(circuit.rule.mask(circuit.input_exc))
        self.input_exc = SynapseMask(tw.parameter(name, "w"), mask)
        n_exc = circuit.n_classes * circuit.n_per_class
        groups = torch.zeros(n_exc, circuit.n_classes, dtype=tw.dtype)
        groups[torch.arange(n_exc), torch.arange(n_exc) // circuit.n_per_class] = 1.0
        self.register_buffer("groups", groups)
        self.trained_intervals = 0  # simulated rule intervals of training runs (x decays over them)

    def forward(self, rates: torch.Tensor) -> torch.Tensor:
        B = self.twin.batch_size
        if not isinstance(rates, torch.Tensor) or rates.dim() != 2 or rates.shape[1] != len(self.circuit.inputs):
            raise ShapeError(
                f"TwinReadout expects input rates [B, {len(self.circuit.inputs)}] in Hz, got "
                f"{tuple(getattr(rates, 'shape', ()))}"
            )
        n = rates.shape[0]
        if n > B:
            raise ShapeError(f"batch of {n} samples is larger than the twin's batch_size {B}")
        full = torch.zeros(B, rates.shape[1], dtype=self.twin.dtype)
        full[:n] = rates.detach().cpu().to(self.twin.dtype)
        spikes_in = poisson_spikes(full, steps=self.steps, dt=self.dt, generator=self.generator)
        self.twin.reset()
        result = self.twin.run(self.duration, inputs={self.circuit.inputs.name: {"spikes": spikes_in}})
        if torch.is_grad_enabled() and self.training:
            self.trained_intervals += int(round(float(self.duration / self.circuit.rule.interval)))
        spikes = result.spike_trains[self.circuit.exc.name][:, :n]
        return spikes @ self.groups


# --------------------------------------------------------------------------------------------------------
# the local period in Brian2, as the controller's local learner
# --------------------------------------------------------------------------------------------------------
class BrianLocalPeriod:
    """One local iteration of EIHL simulated by Brian2, with the bridge crossed on both sides.

    ``step(x)`` (``x``: the batch's input rates ``[B, n_inputs]`` in Hz):

    1. twin -> Brian2: the twin is restored to its pulled state, ``absent`` is set from the mask, ``x`` of
       the rule decays for the training time since the last local iteration, and ``twin.push()`` writes
       weights, ``x`` and ``absent`` into Brian2;
    2. Brian2 runs ``local_duration`` with the rule's local period on (``local_active = 1``) and the
       controller's frozen ``thresh(b)``, the input spiking at the rates of the batch's first sample (the
       rule is timing-free: the input only keeps the circuit's activity realistic);
    3. the circuit is put at rest (:func:`rest`), then Brian2 -> twin: ``twin.pull()`` brings the
       contracted weights, ``x`` and ``absent`` back, and the mask follows ``absent``; every later global
       iteration starts from that resting state.
    """

    def __init__(self, readout: TwinReadout, *, local_duration: brian2.Quantity, layer: str = "input_exc") -> None:
        self.readout = readout
        self.circuit = readout.circuit
        self.local_duration = check_quantity("local_duration", local_duration, brian2.second)
        ratio = float(self.local_duration / self.circuit.rule.interval)
        if ratio < 1 or abs(ratio - round(ratio)) > 1e-9:
            raise ParameterError(
                f"parameter 'local_duration' ({local_duration}) must be a positive multiple of "
                f"the rule's interval ({self.circuit.rule.interval})"
            )
        self.layer = layer
        self.controller = None  # set by CircuitEIHL: the controller whose thresholds are used
        self.decayed_at = 0
        self.iterations = 0

    def _names(self) -> dict[str, str]:
        return self.circuit.input_exc.plasticity_names

    def to_brian(self) -> None:
        """Write the twin's weights, ``x`` and mask (as ``absent``) into Brian2 (after restoring the twin)."""
        tw, syn, names = self.readout.twin, self.circuit.input_exc, self._names()
        mask = self.readout.input_exc.mask
        tw.reset()
        with torch.no_grad():
            tw.parameter(syn.name, names["absent"]).copy_((~mask).to(tw.dtype))
            pending = self.readout.trained_intervals - self.decayed_at
            if pending:
                x = tw.parameter(syn.name, names["x"])
                x.copy_(global_decay(x.detach(), steps=pending, tau_x=self.circuit.rule.tau_x))
                self.decayed_at = self.readout.trained_intervals
        tw.push()

    def to_twin(self) -> None:
        """Bring Brian2's weights, ``x`` and ``absent`` into the twin; the mask follows ``absent``."""
        tw = self.readout.twin
        tw.pull()
        self.readout.input_exc.mask.copy_(torch.as_tensor(self.circuit.rule.mask(self.circuit.input_exc)))

    def step(self, x_encoded: torch.Tensor) -> None:
        rule, syn = self.circuit.rule, self.circuit.input_exc
        self.to_brian()
        threshold = None
        if self.controller is not None:
            threshold = float(self.controller.thresholds[self.layer])
        rule.begin_local_period(syn, threshold=threshold)
        rates = x_encoded.reshape(-1, x_encoded.shape[-1])[:1].detach().cpu().to(torch.float64)
        steps = int(round(float(self.local_duration / self.readout.dt)))
        spikes = poisson_spikes(rates, steps=steps, dt=self.readout.dt, generator=self.readout.generator)[:, 0]
        t_idx, i_idx = np.nonzero(spikes.numpy())
        net = self.circuit.network
        start = int(round(float(net.t / self.readout.dt)))
        self.circuit.inputs.set_spikes(i_idx, (start + t_idx) * self.readout.dt)
        try:
            net.run(self.local_duration)
        finally:
            rule.end_local_period(syn)
            rest(self.circuit)
        self.to_twin()
        self.iterations += 1


# --------------------------------------------------------------------------------------------------------
# putting it together
# --------------------------------------------------------------------------------------------------------
def digits_rates(
    *, max_rate: brian2.Quantity = 100 * brian2.Hz, seed: int = 0, n_train: int | None = None, n_test: int | None = None
):
    """scikit-learn's digits as Poisson rates: ``(train, test)`` ``TensorDataset``s of ``(rates[64] in Hz, label)``.

    Pixel intensities (0..16) are scaled to ``[0, max_rate]``; the split (75 % / 25 %) is seeded.
    """
    from sklearn.datasets import load_digits
    from torch.utils.data import TensorDataset

    rate = to_float("max_rate", max_rate, brian2.Hz)
    d = load_digits()
    x = torch.tensor(d.data / 16.0 * rate, dtype=torch.float64)
    y = torch.tensor(d.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(int(seed)))
    cut = int(0.75 * len(y))
    train, test = order[:cut], order[cut:]
    if n_train is not None:
        train = train[:n_train]
    if n_test is not None:
        test = test[:n_test]
    return TensorDataset(x[train], y[train]), TensorDataset(x[test], y[test])


class CircuitEIHL:
    """EIHL on a Brian2 circuit: Brian2 local periods, twin global periods, the deep-net controller.

    Parameters
    ----------
    circuit
        An :class:`EIHLCircuit` (:func:`eihl_circuit`).
    batch_size
        Trials per twin run (the loaders' batch size; smaller last batches are padded).
    duration
        Presentation time of one sample in the twin.
    local_duration
        Simulated Brian2 time per local iteration (a multiple of the rule's ``interval``).
    lr
        Adam learning rate of the global period (on the input weights).
    policy, granularity
        Switching policy and decision granularity of :class:`biosnn.learning.eihl.EIHLController`
        (the controller's ``a``, ``b``, ``x_growth``, ``tau_x`` are the circuit rule's). Default: the
        ``connectivity`` policy with :data:`CIRCUIT_POLICY`, consulted every iteration.
    surrogate
        Surrogate gradient of the twin (default: the twin's).
    seed
        Seed of the twin's random streams.
    """

    def __init__(
        self,
        circuit: EIHLCircuit,
        *,
        batch_size: int = 16,
        duration: brian2.Quantity = 30 * brian2.ms,
        local_duration: brian2.Quantity = 2 * brian2.ms,
        lr: float = 0.2,
        policy: Any = None,
        granularity: str = "iteration",
        surrogate: Any = None,
        seed: int = 0,
    ) -> None:
        import biosnn
        from biosnn.learning.eihl import EIHLController
        from biosnn.learning.policies import ConnectivityPolicy
        from biosnn.learning.trainer import Trainer

        if not isinstance(circuit, EIHLCircuit):
            raise ParameterError(f"circuit must be an EIHLCircuit (see eihl_circuit()), got {type(circuit).__name__}")
        lr = float(lr)
        if not (math.isfinite(lr) and lr > 0):
            raise ParameterError(f"parameter 'lr' must be a positive number, got {lr}")
        self.circuit = circuit
        self.twin = biosnn.twin(
            circuit.network, batch_size=batch_size, dtype=torch.float64, surrogate=surrogate, seed=seed
        )
        self.model = TwinReadout(circuit, self.twin, duration=duration, seed=seed)
        self.learner = BrianLocalPeriod(self.model, local_duration=local_duration)
        self.optimizer = torch.optim.Adam([self.model.input_exc.weight], lr=lr)
        self.trainer = Trainer(self.model, self.optimizer, loss="count_ce", encoder=None, seed=seed)
        if policy is None:
            policy = ConnectivityPolicy(**CIRCUIT_POLICY)
        rule = circuit.rule
        self.controller = EIHLController(
            self.trainer,
            a=rule.a,
            b=rule.b,
            x_growth=rule.x_growth,
            tau_x=rule.tau_x,
            policy=policy,
            granularity=granularity,
            layers=["input_exc"],
            local_learner=self.learner,
        )
        self.learner.controller = self.controller

    @property
    def mask(self) -> torch.Tensor:
        """The input synapses' mask (``True`` = present), as the twin side sees it."""
        return self.model.input_exc.mask

    def sparsity(self) -> float:
        """Fraction of input synapses removed."""
        return self.controller.sparsity()["overall"]

    def fit(self, train_loader: Iterable, *, epochs: int, test_loader: Iterable | None = None) -> list[dict]:
        """Train for ``epochs`` epochs; one record per epoch (iterations per phase, loss, accuracies, sparsity)."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ParameterError(f"parameter 'epochs' must be a positive integer, got {epochs!r}")
        history = []
        for epoch in range(epochs):
            result, counts = self.controller.train_epoch(train_loader, epochs_left=epochs - epoch - 1)
            row = {
                "epoch": epoch + 1,
                "global_iterations": counts["global"],
                "local_iterations": counts["local"],
                "loss": result.loss,
                "train_accuracy": result.accuracy,
                "sparsity": self.sparsity(),
            }
            if test_loader is not None:
                row["test_accuracy"] = self.evaluate(test_loader)
            history.append(row)
        return history

    def evaluate(self, loader: Iterable) -> float:
        """Test accuracy of the twin (class of the most active excitatory group)."""
        return self.trainer.evaluate(loader).accuracy
