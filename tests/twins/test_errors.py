"""Unsupported constructs raise UnsupportedFeatureError naming the object and the construct, before any
simulation starts, and leave the user's Brian2 objects as they were."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import ms

import biosnn
from biosnn.errors import ParameterError, UnsupportedFeatureError


def _cells(name="cells"):
    G = b2.NeuronGroup(3, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact", name=name)
    G.v = [0.2, 0.4, 0.6]
    return G


def test_network_operation_is_rejected_by_name():
    G = _cells()

    @b2.network_operation(dt=1 * ms, name="my_python_op")
    def poke():
        G.v += 0.1

    with pytest.raises(UnsupportedFeatureError, match="my_python_op.*network_operation"):
        biosnn.twin(b2.Network(G, poke))
    np.testing.assert_array_equal(G.v[:], [0.2, 0.4, 0.6])


def test_function_without_tensor_implementation_is_rejected_by_name():
    @b2.implementation("numpy", discard_units=True)
    @b2.check_units(x=1, result=1)
    def squash(x):
        return x / (1 + abs(x))

    G = b2.NeuronGroup(2, "dv/dt = (squash(v) - v)/(10*ms) : 1", method="euler", name="squashed",
                       namespace={"squash": squash})
    with pytest.raises(UnsupportedFeatureError, match="squashed.*'squash'"):
        biosnn.twin(b2.Network(G))


def test_groups_on_different_clocks_are_rejected():
    G = _cells()
    H = b2.NeuronGroup(2, "dv/dt = -v/(10*ms) : 1", method="exact", dt=0.05 * ms, name="fast_cells")
    with pytest.raises(UnsupportedFeatureError, match="different clocks"):
        biosnn.twin(b2.Network(G, H))


def test_sequential_synaptic_statement_is_rejected_by_name():
    G = b2.NeuronGroup(3, """dv/dt = -v/(10*ms) : 1
    x : 1""", threshold="v > 1", reset="v = 0", method="exact", name="cells")
    S = b2.Synapses(G, G, "w : 1", on_pre="x_post = v_post*w\nv_post += 1", name="overwrite_syn")
    S.connect()
    with pytest.raises(UnsupportedFeatureError, match="overwrite_syn.*v_post"):
        biosnn.twin(b2.Network(G, S))


def test_bad_arguments():
    G = _cells()
    with pytest.raises(ParameterError, match="batch_size"):
        biosnn.twin(b2.Network(G), batch_size=0)
    with pytest.raises(ParameterError, match="dtype"):
        biosnn.twin(b2.Network(G), dtype=torch.int32)
    with pytest.raises(ParameterError, match="learnable"):
        biosnn.twin(b2.Network(G), learnable=("cells.nope",))
    with pytest.raises(ParameterError, match="learnable"):
        biosnn.twin(b2.Network(G), learnable=("nogroup.v",))
    with pytest.raises(ParameterError, match="Network or Brian2 objects"):
        biosnn.twin(42)
    with pytest.raises(biosnn.errors.UnknownNameError if hasattr(biosnn, "errors") else Exception,
                       match="surrogate"):
        biosnn.twin(b2.Network(G), surrogate="no_such_shape")


def test_monitors_are_ignored_and_objects_list_accepted():
    G = _cells()
    mon = b2.StateMonitor(G, "v", record=True, name="vmon")
    tw = biosnn.twin([G, mon])
    with torch.no_grad():
        res = tw.run(5 * ms, record={"cells": ["v"]})
    v = res.states["cells"]["v"][:, 0]
    # analytic: v(t) = v0 exp(-t/tau), sampled at the start of each step
    t = np.arange(50) * 1e-4
    np.testing.assert_allclose(v.numpy(), np.outer(np.exp(-t / 0.01), [0.2, 0.4, 0.6]), rtol=1e-12)
    # the objects can still be used in a network of their own
    net = b2.Network(G, mon)
    net.run(1 * ms, namespace={})
    assert mon.v.shape == (3, 10)
