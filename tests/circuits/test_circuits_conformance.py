"""One conformance test over every registered circuit (the scikit-learn ``check_estimator`` idea).

For each builder in ``CIRCUITS``, at a reduced size: it builds a :class:`Circuit` whose network holds every
listed object; a short run leaves every state variable finite; ``parameters`` holds every keyword argument
and rebuilds an identical circuit (same wiring, same weights); every unit-carrying argument given in
other units raises :class:`UnitError` naming it; every count given as -1 raises :class:`ParameterError`
naming it; a NaN time step raises :class:`NonFiniteError`; an unknown name raises :class:`UnknownNameError`.
"""

from __future__ import annotations

import inspect

import brian2
import numpy as np
import pytest
from biosnn.circuits import CIRCUITS, Circuit, get_circuit
from brian2 import ms
from brian2.units.fundamentalunits import Quantity

from biosnn.errors import NonFiniteError, ParameterError, UnitError, UnknownNameError

#: Reduced sizes for every registered circuit (a new circuit must add its entry here).
REDUCED = {
    "cuba": dict(n_exc=80, n_inh=20, p=0.1),
    "coba": dict(n_exc=80, n_inh=20, p=0.1),
    "brunel2000": dict(n_exc=200, n_record=5),
    "song2000": dict(n_inputs=50, n_inh_inputs=10),
    "vogels2011": dict(n_exc=80, n_inh=20, epsilon=0.1),
    "diehl_cook2015": dict(n_exc=10),
}

NAMES = sorted(CIRCUITS)


def test_every_circuit_of_the_issue_is_registered():
    assert {"cuba", "coba", "brunel2000", "song2000", "vogels2011", "diehl_cook2015"} <= set(CIRCUITS)
    assert set(CIRCUITS) <= set(REDUCED), "add a reduced size for every new circuit to REDUCED"


def test_unknown_circuit_name_lists_known_ones():
    with pytest.raises(UnknownNameError, match="cuba"):
        get_circuit("cubba")


def _state_arrays(circuit: Circuit):
    for role, obj in list(circuit.populations.items()) + list(circuit.projections.items()):
        for var_name, var in obj.variables.items():
            if (
                var_name.startswith("_")
                or not isinstance(var, brian2.core.variables.ArrayVariable)
                or np.dtype(var.dtype).kind != "f"
            ):
                continue
            if getattr(var, "scalar", False) or var_name in ("dt", "t", "lastspike", "lastupdate"):
                continue
            yield f"{role}.{var_name}", np.asarray(var.get_value())


@pytest.mark.parametrize("name", NAMES)
def test_builds_runs_finite_and_round_trips(name):
    builder = CIRCUITS[name]
    circuit = builder(**REDUCED[name])
    assert isinstance(circuit, Circuit) and circuit.name == name
    assert isinstance(circuit.network, brian2.Network)
    held = set(id(o) for o in circuit.network.objects)
    for obj in [*circuit.populations.values(), *circuit.projections.values(), *circuit.monitors.values()]:
        assert id(obj) in held, obj.name
    assert len(circuit.populations) >= 1 and len(circuit.monitors) >= 1

    # every keyword argument is recorded, and rebuilding from the record gives the same circuit
    signature = inspect.signature(builder)
    assert set(circuit.parameters) == set(signature.parameters)
    for key, value in REDUCED[name].items():
        assert circuit.parameters[key] == value
    twin = builder(**circuit.parameters)
    assert twin.parameters.keys() == circuit.parameters.keys()
    for key in circuit.projections:
        a, b = circuit.projections[key], twin.projections[key]
        assert np.array_equal(a.i[:], b.i[:]) and np.array_equal(a.j[:], b.j[:]), key
        if "w" in a.variables:
            assert np.array_equal(np.asarray(a.w[:]), np.asarray(b.w[:])), key

    circuit.run(20 * ms)
    assert abs(float(circuit.t / ms) - 20.0) < 1e-9
    for label, values in _state_arrays(circuit):
        assert np.all(np.isfinite(values)), f"{name}: {label} has non-finite values"


def _wrong_units(value: Quantity):
    """A value with other dimensions: plain number for dimensioned quantities."""
    return float(np.asarray(value)) if float(np.asarray(value)) != 0 else 1.0


@pytest.mark.parametrize("name", NAMES)
def test_wrong_units_and_invalid_values_name_the_parameter(name):
    builder = CIRCUITS[name]
    checked_units = checked_counts = 0
    for pname, param in inspect.signature(builder).parameters.items():
        default = param.default
        if isinstance(default, Quantity) and not default.dimensions.is_dimensionless:
            kwargs = dict(REDUCED[name], **{pname: _wrong_units(default)})
            with pytest.raises(UnitError, match=pname):
                builder(**kwargs)
            kwargs[pname] = default * brian2.metre  # right magnitude, wrong dimensions
            with pytest.raises(UnitError, match=pname):
                builder(**kwargs)
            checked_units += 1
        elif isinstance(default, int) and not isinstance(default, bool):
            kwargs = dict(REDUCED[name], **{pname: -1})
            with pytest.raises(ParameterError, match=pname):
                builder(**kwargs)
            checked_counts += 1
    assert checked_units >= 1 and checked_counts >= 1
    with pytest.raises(ParameterError, match="dt"):
        builder(**dict(REDUCED[name], dt=-0.1 * ms))
    with pytest.raises(NonFiniteError, match="dt"):
        builder(**dict(REDUCED[name], dt=float("nan") * ms))
