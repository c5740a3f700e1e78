"""EIHL on a Brian2 circuit: local periods in Brian2, global periods in the twin, exact across the bridge."""

from __future__ import annotations

import brian2
import numpy as np
import pytest
import torch
from biosnn.plasticity import RULES
from biosnn.plasticity.eihl_contraction import EIHLContraction, local_step

from biosnn.errors import ParameterError, ShapeError
from biosnn.learning.circuit_hybrid import CircuitEIHL, digits_rates, eihl_circuit, poisson_spikes
from biosnn.learning.policies import AlternatePolicy


def _hybrid(**kwargs):
    rule = EIHLContraction(a=0.05, x_growth=0.1, tau_x=20.0, b=0.5, interval=1 * brian2.ms)
    circuit = eihl_circuit(n_per_class=1, rule=rule, seed=1)
    policy = AlternatePolicy(global_units=1, local_units=1)  # global, local, global, ... every iteration
    return circuit, CircuitEIHL(
        circuit,
        batch_size=8,
        duration=20 * brian2.ms,
        local_duration=5 * brian2.ms,
        lr=0.05,
        policy=policy,
        granularity="iteration",
        seed=0,
        **kwargs,
    )


def _brian(circuit, name):
    return np.asarray(getattr(circuit.input_exc, circuit.input_exc.plasticity_names[name])[:]).copy()


def test_weights_and_masks_cross_the_bridge_exactly():
    circuit, hybrid = _hybrid()
    train, _ = digits_rates(n_train=24, n_test=1)
    batches = [(train.tensors[0][k : k + 8], train.tensors[1][k : k + 8]) for k in (0, 8, 16)]
    w_param = hybrid.model.input_exc.weight
    w_init = _brian(circuit, "w")
    assert np.array_equal(w_param.detach().numpy(), w_init)  # twin starts from Brian2's weights

    # 1. global period in the twin: weights change there, not (yet) in Brian2
    hybrid.controller.step(*batches[0])
    hybrid.controller._decide(None)
    assert hybrid.controller.phase == "local"
    w_trained = w_param.detach().clone()
    assert not torch.equal(w_trained, torch.as_tensor(w_init))
    assert np.array_equal(_brian(circuit, "w"), w_init)
    # weights trained in the twin reach Brian2, bit for bit
    hybrid.learner.to_brian()
    assert np.array_equal(_brian(circuit, "w"), w_trained.numpy())
    assert np.all(_brian(circuit, "absent") == 0)

    # 2. local period in Brian2: contraction + removal by Brian2's plasticity, brought back into the twin
    x_before = torch.as_tensor(_brian(circuit, "x"))
    hybrid.controller.step(*batches[1])
    threshold = hybrid.controller.thresholds["input_exc"]
    w_brian, absent = _brian(circuit, "w"), _brian(circuit, "absent")
    # what Brian2 did is the rule's mathematics on the trained weights: 5 steps of 1 ms
    w, x, m = w_trained, x_before, torch.ones_like(w_trained, dtype=torch.bool)
    for _ in range(5):
        w, x, m = local_step(w, x, m, a=0.05, x_growth=0.1, threshold=threshold)
    assert np.array_equal(w_brian, w.numpy()) and np.array_equal(absent == 0, m.numpy())
    removed = absent == 1
    assert 0 < removed.sum() < removed.size
    # ... and reached the twin exactly, masks intact
    assert np.array_equal(w_param.detach().numpy(), w_brian)
    assert np.array_equal(hybrid.mask.numpy(), ~removed)
    assert np.array_equal(
        hybrid.twin.variable("input_E", circuit.input_exc.plasticity_names["absent"]).detach().numpy(), absent
    )
    assert np.all(w_brian[removed] == 0) and np.all(w_param.detach().numpy()[removed] == 0)
    assert hybrid.sparsity() == removed.mean()

    # 3. the next global period trains the present synapses only; removed ones stay exactly 0 and absent
    hybrid.controller._decide(None)
    assert hybrid.controller.phase == "global"
    hybrid.controller.step(*batches[2])
    w_new = w_param.detach().numpy()
    assert not np.array_equal(w_new[~removed], w_brian[~removed])
    assert np.all(w_new[removed] == 0) and np.array_equal(hybrid.mask.numpy(), ~removed)
    hybrid.learner.to_brian()
    assert np.array_equal(_brian(circuit, "w"), w_new)
    assert np.array_equal(_brian(circuit, "absent"), removed.astype(float))
    assert np.array_equal(np.asarray(circuit.input_exc.present[:]), (~removed).astype(float))


def test_poisson_spikes_are_seeded_with_the_right_rate():
    rates = torch.full((4, 50), 200.0, dtype=torch.float64)
    a = poisson_spikes(rates, steps=2000, dt=0.5 * brian2.ms, generator=torch.Generator().manual_seed(0))
    b = poisson_spikes(rates, steps=2000, dt=0.5 * brian2.ms, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (2000, 4, 50)
    assert abs(a.mean().item() - 0.1) < 0.005  # p = 200 Hz * 0.5 ms
    with pytest.raises(ParameterError, match="rates"):
        poisson_spikes(torch.full((1, 2), 3000.0), steps=2, dt=0.5 * brian2.ms)


def test_bad_input_raises():
    with pytest.raises(ParameterError, match="EIHLContraction"):
        eihl_circuit(rule=RULES["stdp_additive"]())
    with pytest.raises(ParameterError, match="n_per_class"):
        eihl_circuit(n_per_class=0)
    with pytest.raises(ParameterError, match="EIHLCircuit"):
        CircuitEIHL(object())
    circuit, hybrid = _hybrid()
    with pytest.raises(ShapeError, match="rates"):
        hybrid.model(torch.zeros(3, 5))
    with pytest.raises(ShapeError, match="batch_size"):
        hybrid.model(torch.zeros(9, 64))


def _fit(policy, *, n_train, n_test, epochs):
    from torch.utils.data import DataLoader

    circuit = eihl_circuit()
    hybrid = CircuitEIHL(circuit, policy=policy, seed=0)
    train, test = digits_rates(n_train=n_train, n_test=n_test)
    train_loader = DataLoader(train, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    test_loader = DataLoader(test, batch_size=16)
    before = hybrid.trainer.evaluate(test_loader)
    history = hybrid.fit(train_loader, epochs=epochs)
    after = hybrid.trainer.evaluate(test_loader)
    return circuit, hybrid, before, after, history


def test_hybrid_training_on_digits_reduced():
    """Reduced default version: a short EIHL run learns (test loss falls) and removes synapses, masks intact."""
    circuit, hybrid, before, after, history = _fit(
        AlternatePolicy(global_units=3, local_units=1), n_train=96, n_test=48, epochs=1
    )
    assert history[0]["local_iterations"] >= 1 and history[0]["global_iterations"] >= 4
    assert after.loss < before.loss
    assert after.accuracy > before.accuracy
    assert 0 < hybrid.sparsity() < 1
    hybrid.learner.to_brian()
    present = circuit.rule.mask(circuit.input_exc)
    assert np.array_equal(present, hybrid.mask.numpy())
    assert np.all(np.asarray(circuit.input_exc.w[:])[~present] == 0)


@pytest.mark.slow
def test_hybrid_training_on_digits_keeps_stbp_accuracy_at_high_sparsity():
    """Default settings, 320 digits x 5 epochs: EIHL on the circuit vs STBP alone in the same twin."""
    _, eihl, _, eihl_after, _ = _fit(None, n_train=320, n_test=160, epochs=5)
    _, _, _, stbp_after, _ = _fit("global_only", n_train=320, n_test=160, epochs=5)
    assert eihl.sparsity() >= 0.15
    assert eihl_after.accuracy > 0.55
    assert eihl_after.accuracy >= stbp_after.accuracy - 0.08
