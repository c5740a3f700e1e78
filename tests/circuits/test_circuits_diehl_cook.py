"""Diehl & Cook (2015) on scikit-learn's bundled 8x8 digits: local learning only, accuracy above chance.

Default suite (reduced): 50 E neurons, trained unsupervised on the first 160 images of the fixed seeded
split (seed 0, 25 % test, stratified) with the paper's timing (350 ms presentation, 150 ms rest,
dt = 0.5 ms); neurons are labelled from their responses during training (the paper's running
assignment), then 80 test images are classified with learning off. Chance is 10 %; measured 43.8 %;
asserted > 30 %. Also asserted: learning is local and unsupervised (shuffling the labels given to
training changes nothing in the weights), and weight normalisation holds.

Plasticity rule choice (``rule=``): the default is the paper's rule with unchanged results (weights after a
short training equal those of the code before ``rule=`` existed); additive STDP by name or instance learns,
keeps the weights in [0, 1] and freezes them with learning off; bad rules raise errors naming the problem.
"""

from __future__ import annotations

import brian2
import numpy as np
import pytest
from biosnn.circuits import get_circuit
from biosnn.circuits.diehl_cook import (
    assign_labels,
    classify,
    evaluate,
    load_digits_split,
    present,
    set_learning,
    train_diehl_cook,
)
from biosnn.plasticity import StdpAdditive, StdpTriplet
from brian2 import ms

from biosnn.errors import ParameterError, ShapeError, UnknownNameError


def test_digits_split_is_fixed_and_stratified():
    a, b = load_digits_split(seed=0), load_digits_split(seed=0)
    assert np.array_equal(a.train_images, b.train_images) and np.array_equal(a.test_labels, b.test_labels)
    assert a.train_images.shape[1] == 64 and len(a.train_images) + len(a.test_images) == 1797
    assert np.all(np.bincount(a.test_labels) >= 40)


def test_classify_readout_by_hand():
    counts = np.array([[5, 0, 1], [0, 4, 4], [1, 1, 0]])
    assignments = np.array([2, 0, 0])
    # image 0: label 2 -> 5, label 0 -> mean(0, 1) = 0.5; image 1: 0 vs 4; image 2: 1 vs 0.5
    assert classify(counts, assignments, n_labels=3).tolist() == [2, 0, 2]
    with pytest.raises(ShapeError):
        classify(counts, np.array([0, 1]), n_labels=3)


def test_learns_digits_above_chance_from_local_learning():
    data = load_digits_split(seed=0)
    circuit = get_circuit("diehl_cook2015")(n_exc=50, seed=0)
    x, y = data.train_images[:160], data.train_labels[:160]
    counts = train_diehl_cook(circuit, x, y)
    w = np.asarray(circuit.projections["input_E"].w[:])
    sums = np.bincount(circuit.projections["input_E"].j[:], weights=w)
    assert np.all(np.abs(sums - 20.0) < 2.0)  # renormalised after each presentation, then one more image moved them
    assert np.mean(counts.sum(axis=1) >= 5) > 0.9  # the network responds to (almost) every image
    assignments = assign_labels(circuit, x, y, counts=counts)
    assert len(set(assignments.tolist())) >= 8  # neurons specialise on most classes
    accuracy = evaluate(circuit, data.test_images[:80], data.test_labels[:80], assignments)
    print(f"Diehl & Cook reduced: test accuracy {accuracy:.3f} on 80 images (chance 0.1)")
    assert accuracy > 0.30, accuracy


def test_learning_does_not_see_labels():
    data = load_digits_split(seed=0)
    x, y = data.train_images[:6], data.train_labels[:6]
    a = get_circuit("diehl_cook2015")(n_exc=5, presentation=100 * ms, rest=50 * ms, seed=3)
    b = get_circuit("diehl_cook2015")(**a.parameters)
    train_diehl_cook(a, x, y)
    train_diehl_cook(b, x, np.random.default_rng(0).permutation(y))
    assert np.array_equal(np.asarray(a.projections["input_E"].w[:]), np.asarray(b.projections["input_E"].w[:]))
    assert not np.allclose(np.asarray(a.projections["input_E"].w[:]), 0.3 / 2, atol=0.2)  # weights did move
    assert present(a, x[:2]).shape == (2, 5)
    with pytest.raises(ShapeError):
        present(a, np.zeros((2, 63)))


@pytest.mark.slow
def test_full_network_accuracy():
    """100 E neurons, 800 training images, labels from a separate frozen pass, the whole 450-image test set
    (measured 70.4 %)."""
    data = load_digits_split(seed=0)
    circuit = get_circuit("diehl_cook2015")(n_exc=100, seed=0)
    train_diehl_cook(circuit, data.train_images[:800], data.train_labels[:800])
    assignments = assign_labels(circuit, data.train_images[:800], data.train_labels[:800])
    accuracy = evaluate(circuit, data.test_images, data.test_labels, assignments)
    from biosnn.circuits.base import paper_comparison
    from biosnn.circuits.diehl_cook import PAPER_FIGURES

    print(paper_comparison(PAPER_FIGURES, {"accuracy_100": 100 * accuracy}), "(8x8 digits, not MNIST)")
    assert accuracy > 0.6, accuracy


# ------------------------------------------------------------------------------------------ rule=
SMALL = dict(n_exc=5, presentation=100 * ms, rest=50 * ms, seed=3)


def _w(circuit):
    return np.asarray(circuit.projections["input_E"].w[:]).copy()


def test_default_rule_is_the_papers_and_results_are_unchanged():
    data = load_digits_split(seed=0)
    circuit = get_circuit("diehl_cook2015")(**SMALL)
    assert circuit.parameters["rule"] is None
    assert circuit.projections["input_E"].plasticity_rule == StdpTriplet(
        variant="nearest_minimal",
        tau_plus=20 * ms,
        tau_minus=20 * ms,
        tau_y=40 * ms,
        A2_plus=0.0,
        A3_plus=1e-2,
        A2_minus=1e-4,
        A3_minus=0.0,
        w_min=0.0,
        w_max=1.0,
    )
    counts = train_diehl_cook(circuit, data.train_images[:4], data.train_labels[:4])
    w = _w(circuit)
    # measured with the code before rule= existed (same seeds, numpy target): bit-identical there
    assert int(counts.sum()) == 14
    np.testing.assert_allclose(
        w[:4], [0.05263753739350834, 0.13857008409678417, 0.5347416833380748, 0.34860838890926604], rtol=1e-12, atol=0
    )
    np.testing.assert_allclose(
        [w.sum(), np.sum(w * np.arange(len(w)))], [100.16670718221432, 16130.655389468951], rtol=1e-12, atol=0
    )
    np.testing.assert_allclose(
        float(np.sum(circuit.populations["E"].theta[:] / brian2.volt)), 0.0006999769879753233, rtol=1e-12, atol=0
    )


@pytest.mark.parametrize(
    "rule", ["stdp_additive", StdpAdditive(A_plus=0.01, A_minus=0.0105, pairing="nearest")], ids=["name", "instance"]
)
def test_custom_rule_learns_in_bounds_and_freezes_with_learning_off(rule):
    data = load_digits_split(seed=0)
    circuit = get_circuit("diehl_cook2015")(**SMALL, rule=rule)
    syn = circuit.projections["input_E"]
    assert isinstance(syn.plasticity_rule, StdpAdditive)
    if not isinstance(rule, str):
        assert syn.plasticity_rule is rule
    assert float(syn.plasticity_rule.get_params()["w_max"]) == 1.0
    x = data.train_images[:3]

    # learning off from the start: nothing moves
    w0 = _w(circuit)
    set_learning(circuit, False)
    present(circuit, x[:1])
    np.testing.assert_array_equal(_w(circuit), w0)

    # training: the weights move, stay in [0, 1] and are normalised
    train_diehl_cook(circuit, x)
    w1 = _w(circuit)
    assert np.any(w1 != w0)
    assert w1.min() >= 0.0 and w1.max() <= 1.0
    sums = np.bincount(np.asarray(syn.j[:]), weights=w1)
    assert np.all(np.abs(sums - 20.0) < 2.0)  # normalised after each presentation (one image has moved them since)

    # learning off after training (traces still charged): the weights stay exactly as they are
    counts = present(circuit, x[:2])
    assert counts.sum() > 0
    np.testing.assert_array_equal(_w(circuit), w1)
    # ... and the circuit rebuilds from its parameters with the same rule
    again = get_circuit("diehl_cook2015")(**circuit.parameters)
    assert again.projections["input_E"].plasticity_rule == syn.plasticity_rule
    np.testing.assert_array_equal(_w(again), w0)


def test_bad_rules_raise_naming_the_problem():
    build = get_circuit("diehl_cook2015")
    with pytest.raises(UnknownNameError, match="stdp_additive"):
        build(n_exc=2, rule="stdp_nonexistent")
    with pytest.raises(ParameterError, match="w_max"):
        build(n_exc=2, rule="eihl_contraction")  # no weight bound
    with pytest.raises(ParameterError, match="units"):
        build(n_exc=2, rule=StdpAdditive(A_plus=0.005 * brian2.nS, A_minus=0.005 * brian2.nS, w_max=1 * brian2.nS))
    with pytest.raises(ParameterError, match="w_max"):
        build(n_exc=2, rule=StdpAdditive(w_max=3.0))
    with pytest.raises(ParameterError, match="nu_pre"):
        build(n_exc=2, rule="stdp_additive", nu_pre=1e-3)
    with pytest.raises(ParameterError, match="tau_post2"):
        build(n_exc=2, rule=StdpAdditive(), tau_post2=30 * ms)
    with pytest.raises(ParameterError, match="rule"):
        build(n_exc=2, rule=42)
    with pytest.raises(ParameterError, match="weight_sum"):
        build(n_exc=2, n_inputs=64, weight_sum=40.0, rule=StdpAdditive(w_max=0.5, A_plus=0.001, A_minus=0.001))
