"""Weight histograms and matrices, from a real simulation's plastic synapses."""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import nS

from biosnn import plot
from biosnn.errors import ParameterError, ShapeError


def _by_gid(artists, gid):
    found = [a for a in artists if a.get_gid() == gid]
    assert len(found) == 1
    return found[0]


def test_weight_histogram_counts_every_synapse(ei_net):
    w_now = np.asarray(ei_net.syn_in.w[:])
    fig = plot.weight_histogram(ei_net.syn_in, bins=20)
    ax = fig.axes[0]
    counts, edges, _ = _by_gid(ax.patches, "snapshot 0").get_data()
    assert counts.sum() == len(ei_net.syn_in) > 1000
    np.testing.assert_array_equal(counts, np.histogram(w_now, bins=edges)[0])
    assert edges[0] == pytest.approx(w_now.min()) and edges[-1] == pytest.approx(w_now.max())
    assert ax.get_xlabel() == "w" and ax.get_ylabel() == "synapses"


def test_weight_histogram_over_time_from_a_monitor(ei_net):
    w = ei_net.weights.w  # [synapses, times]
    fig = plot.weight_histogram(ei_net.weights, bins=15, snapshots=[0, -1])
    ax = fig.axes[0]
    first = _by_gid(ax.patches, "snapshot 0").get_data()
    last = _by_gid(ax.patches, f"snapshot {w.shape[1] - 1}").get_data()
    np.testing.assert_array_equal(first[0], np.histogram(w[:, 0], bins=first[1])[0])
    np.testing.assert_array_equal(last[0], np.histogram(w[:, -1], bins=last[1])[0])
    assert not np.array_equal(first[0], last[0])  # STDP moved the weights
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["t = 0 s", "t = 0.25 s"]
    with pytest.raises(ParameterError, match="snapshot 9"):
        plot.weight_histogram(ei_net.weights, snapshots=[9])


def test_weight_matrix_images_are_the_dense_matrices(ei_net):
    fig = plot.weight_matrix(ei_net.weights, snapshots=[0, 5])
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    img = _by_gid(panels[1].images, "snapshot 5").get_array()
    dense = np.full((80, 40), np.nan)
    dense[ei_net.syn_in.i[:], ei_net.syn_in.j[:]] = ei_net.weights.w[:, 5]
    np.testing.assert_array_equal(np.ma.filled(img, np.nan), dense)
    assert panels[0].get_xlabel() == "postsynaptic neuron" and panels[0].get_ylabel() == "presynaptic neuron"


def test_weights_from_arrays_quantities_and_tensors():
    import torch

    m = np.arange(6.0).reshape(2, 3)
    img = plot.weight_matrix(torch.tensor(m)).axes[0].images[0].get_array()
    np.testing.assert_array_equal(img, m)
    ax = plot.weight_histogram(np.array([1.0, 2.0, 2.0, 3.0]) * nS, bins=2).axes[0]
    counts, edges, _ = ax.patches[0].get_data()
    assert list(counts) == [1, 3] and ax.get_xlabel() == "w (nS)"
    with pytest.raises(ShapeError):
        plot.weight_histogram(np.zeros((2, 2, 2, 2)))


def test_weight_traces_follow_the_monitor(ei_net):
    ax = plot.weight_traces(ei_net.weights, synapses=5).axes[0]
    np.testing.assert_allclose(_by_gid(ax.lines, "mean").get_ydata(), ei_net.weights.w.mean(0))
    assert sum(str(ln.get_gid()).startswith("synapse") for ln in ax.lines) == 5
    with pytest.raises(ParameterError, match="over time"):
        plot.weight_traces(ei_net.syn_in)


def test_values_that_are_not_weights_get_their_own_words(ei_net):
    """A gradient drawn with the weight plots (notebook 04) says what it is: x label, title, colour bar."""
    w = np.asarray(ei_net.syn_in.w[:])
    grad = np.sin(np.arange(w.size))  # any per-synapse values
    fig = plot.weight_histogram(grad, bins=10, label="dN / dw (spikes/mV)", title="gradient distribution")
    assert fig.axes[0].get_xlabel() == "dN / dw (spikes/mV)" and fig.axes[0].get_title() == "gradient distribution"
    matrix = np.full((4, 3), np.nan)
    matrix[[0, 1, 3], [0, 2, 1]] = [0.1, -0.2, 0.3]
    fig = plot.weight_matrix(matrix, label="dN / dw (spikes/mV)")
    colorbar = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbar) == 1 and colorbar[0].get_ylabel() == "dN / dw (spikes/mV)"
    default = plot.weight_matrix(matrix)
    assert [ax for ax in default.axes if ax.get_label() == "<colorbar>"][0].get_ylabel() == "w"
