"""A circuit's explicit network runs as a Brian2 user would run it (issue 13, section 4).

``circuit.network.run(duration)`` without a namespace used to fail with Brian2's "identifier could not be
resolved": the constants lived in the :class:`~biosnn.circuits.base.Circuit` only. Every group now holds
them (:func:`~biosnn.circuits.base.share_namespace`); the run gives the spikes of ``circuit.run``.
"""

from __future__ import annotations

import brian2
import numpy as np
import pytest
from biosnn.circuits import CIRCUITS
from brian2 import ms
from test_circuits_conformance import REDUCED, _state_arrays


def _monitored(circuit):
    """The circuit with a spike monitor on every population (inputs included: some reduced circuits' own
    neurons stay silent in a short run)."""
    for role, group in circuit.populations.items():
        monitor = brian2.SpikeMonitor(group, name=f"test_spikes_{circuit.name}_{role}*")
        circuit.network.add(monitor)
        circuit.monitors[f"test_{role}"] = monitor
    return circuit


def _spikes(circuit):
    return {
        name: (np.asarray(m.i[:]).copy(), np.asarray(m.t[:] / ms).copy())
        for name, m in sorted(circuit.monitors.items())
        if isinstance(m, brian2.SpikeMonitor)
    }


def _state(circuit):
    return {key: values.copy() for key, values in _state_arrays(circuit)}


def _plain_brian2_run(circuit, duration):
    """What a Brian2 user writes: no namespace, nothing of the circuit's in the caller's local variables."""
    circuit.network.run(duration)


#: Circuits that stay at rest until their input is presented (diehl_cook2015's input rates are zero until
#: ``present``); for them the test shows that every name resolves and the states agree.
AT_REST = {"diehl_cook2015"}


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_network_run_without_namespace_gives_the_circuit_run_spikes(name):
    """Same spikes and the same final state, bit for bit.

    The first circuit is deleted before the second is built, so that both get the same Brian2 names:
    Brian2 runs objects of the same schedule slot in the order of their names, and a ``*`` name numbered
    ``_1`` while an older circuit is alive sorts differently (song2000's two Poisson groups then draw their
    random numbers in the other order).
    """
    import gc

    brian2.prefs["codegen.target"] = "numpy"
    duration = 20 * ms
    runs = []
    for plain in (False, True):
        circuit = _monitored(CIRCUITS[name](**REDUCED[name], seed=3))
        before = _state(circuit)
        if plain:
            brian2.seed(3)  # Circuit.run seeds Brian2 with the circuit's seed on its first call
            _plain_brian2_run(circuit, duration)
        else:
            circuit.run(duration)
        assert abs(float(circuit.t / ms) - float(duration / ms)) < 1e-9
        runs.append((_spikes(circuit), _state(circuit), before, sorted(o.name for o in circuit.network.objects)))
        del circuit
        gc.collect()
    (a, state_a, before, names_a), (b, state_b, _, names_b) = runs
    assert names_a == names_b
    assert a.keys() == b.keys() and state_a.keys() == state_b.keys()
    moved = sum(len(i) for i, _ in a.values()) + sum(not np.array_equal(state_a[k], before[k]) for k in before)
    if name not in AT_REST:
        assert moved > 0, "nothing spiked and nothing changed: the comparison would say nothing"
    for key in a:
        assert np.array_equal(a[key][0], b[key][0]) and np.array_equal(a[key][1], b[key][1]), key
    for key in state_a:
        assert np.array_equal(state_a[key], state_b[key]), key


def test_a_namespace_change_reaches_the_plain_network_run():
    """Groups hold the circuit's namespace itself (not a copy): a constant changed between runs applies to
    ``network.run`` as it does to ``circuit.run``."""
    brian2.prefs["codegen.target"] = "numpy"
    circuit = CIRCUITS["cuba"](**REDUCED["cuba"], seed=1)
    group = circuit.populations["E"]
    assert group.namespace is circuit.namespace and "v_threshold" in circuit.namespace
    _plain_brian2_run(circuit, 10 * ms)
    active = len(circuit.monitors["spikes_E"].i[:])
    assert active > 0
    circuit.namespace["v_threshold"] = 1 * brian2.volt  # out of reach: no neuron can spike any more
    _plain_brian2_run(circuit, 10 * ms)
    assert len(circuit.monitors["spikes_E"].i[:]) == active
