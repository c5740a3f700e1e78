"""Diehl & Cook (2015) on scikit-learn's bundled 8x8 digits: local learning only, accuracy above chance.

Default suite (reduced): 50 E neurons, trained unsupervised on the first 160 images of the fixed seeded
split (seed 0, 25 % test, stratified) with the paper's timing (350 ms presentation, 150 ms rest,
dt = 0.5 ms); neurons are labelled from their responses during training (the paper's running
assignment), then 80 test images are classified with learning off. Chance is 10 %; measured 43.8 %;
asserted > 30 %. Also asserted: learning is local and unsupervised (shuffling the labels given to
training changes nothing in the weights), and weight normalisation holds.
"""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import ms

from biosnn.circuits import get_circuit
from biosnn.circuits.diehl_cook import (
    assign_labels,
    classify,
    evaluate,
    load_digits_split,
    present,
    train_diehl_cook,
)
from biosnn.errors import ShapeError


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
    assert accuracy > 0.6, accuracy
