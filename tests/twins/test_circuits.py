"""The twin accepts the circuits of biosnn.circuits (plain Brian2 objects in an explicit Network)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brian2 import ms

import biosnn

circuits = pytest.importorskip("biosnn.circuits")


@pytest.mark.parametrize(
    "name,kwargs", [("cuba", dict(n_exc=160, n_inh=40, p=0.1)), ("coba", dict(n_exc=160, n_inh=40, p=0.1))]
)
def test_library_circuit_twin_spikes_identically(name, kwargs):
    c = circuits.get_circuit(name)(**kwargs)
    tw = biosnn.twin(c.network, namespace=c.namespace)
    with torch.no_grad():
        res = tw.run(50 * ms)
    c.run(50 * ms)
    compared = 0
    for key, mon in c.monitors.items():
        if not key.startswith("spikes_"):
            continue
        group = mon.source.name
        if group not in res.spikes:
            continue
        i, t = res.spikes[group][0]
        np.testing.assert_array_equal(i, np.asarray(mon.i[:]))
        np.testing.assert_array_equal(np.asarray(t), np.asarray(mon.t_[:]))
        compared += len(i)
    assert compared > 0
