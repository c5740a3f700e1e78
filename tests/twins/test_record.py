"""Recording like a StateMonitor: state variables and subexpressions (nested ones, namespace constants,
synaptic subexpressions reading the postsynaptic state), equal to Brian2's, with gradients."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import ms, mV, nS

import biosnn
from biosnn.errors import ParameterError
from tests.twins.helpers import BACKENDS

E_EXC = 0 * mV


def _cobalike(with_monitor: bool):
    """Five conductance-based neurons driven by a spike generator; currents written as subexpressions."""
    b2.seed(11)
    G = b2.NeuronGroup(
        5,
        """dv/dt = (-(v + 70*mV) + I_total / (10*nS)) / (10*ms) : volt (unless refractory)
           dge/dt = -ge / (5*ms) : siemens
           I_syn = ge * (E_exc - v) : amp
           I_total = I_syn + I_ext : amp
           I_ext : amp""",
        threshold="v > -50*mV",
        reset="v = -65*mV",
        refractory=2 * ms,
        method="euler",
        name="cells",
        namespace={"E_exc": E_EXC},
    )
    G.v = "-70*mV + rand() * 10*mV"
    G.I_ext = "rand() * 300*pA"
    P = b2.SpikeGeneratorGroup(2, [0, 1, 0, 1], [1, 3, 7, 12] * ms, name="src")
    S = b2.Synapses(
        P,
        G,
        "w : siemens\ndrive = w * (E_exc - v_post) : amp",
        on_pre="ge_post += w",
        name="syn",
        namespace={"E_exc": E_EXC},
    )
    S.connect()
    S.w = "rand() * 5*nS"
    objects = [G, P, S]
    if with_monitor:
        objects.append(b2.StateMonitor(G, ["I_syn", "I_total", "v"], record=True, name="currents"))
    return b2.Network(*objects), S


@pytest.mark.parametrize("backend", BACKENDS)
def test_recorded_subexpressions_equal_brian2_statemonitor(backend):
    net, S = _cobalike(with_monitor=True)
    tw = biosnn.twin(net, backend=backend)
    with torch.no_grad():
        res = tw.run(20 * ms, record={"cells": ["I_syn", "I_total", "v"], "syn": ["drive"]})
    net.run(20 * ms, namespace={})
    mon = net["currents"]
    for name in ("I_syn", "I_total", "v"):
        brian = np.asarray(getattr(mon, name + "_")).T  # [T, N]
        twin = res.states["cells"][name][:, 0].numpy()
        assert twin.shape == brian.shape == (200, 5)
        np.testing.assert_array_equal(twin, brian)  # bit-identical, nested subexpression included
    assert np.abs(res.states["cells"]["I_syn"].numpy()).max() > 1e-12  # the synapses did drive the cells
    assert int(res.counts["cells"].sum()) > 0  # and spiked: refractoriness and resets are in the records
    # a synaptic subexpression reading the postsynaptic voltage: one value per synapse and step
    drive = res.states["syn"]["drive"][:, 0].numpy()
    v = res.states["cells"]["v"][:, 0].numpy()
    expected = np.asarray(S.w_)[None, :] * (float(E_EXC) - v[:, np.asarray(S.j)])
    assert drive.shape == (200, len(S))
    np.testing.assert_array_equal(drive, expected)


def test_recorded_subexpression_is_batched_and_carries_gradients():
    net, _ = _cobalike(with_monitor=False)
    tw = biosnn.twin(net, batch_size=2, backend="torch")
    res = tw.run(15 * ms, record={"cells": "I_syn"})
    current = res.states["cells"]["I_syn"]
    assert current.shape == (150, 2, 5)
    torch.testing.assert_close(current[:, 0], current[:, 1], rtol=0, atol=0)  # same inputs, same trials
    current.sum().backward()
    grad = tw.params["syn__w"].grad
    assert grad is not None and torch.all(grad != 0)  # every synapse's weight moves the current


@pytest.mark.parametrize(
    "name, match",
    [("nope", "no state variable or subexpression 'nope'"), ("N", "no state variable or subexpression 'N'")],
)
def test_recording_something_that_is_not_a_variable_names_it(name, match):
    net, _ = _cobalike(with_monitor=False)
    tw = biosnn.twin(net)
    with pytest.raises(ParameterError, match=match):
        tw.run(1 * ms, record={"cells": [name]})


def test_recording_chosen_elements_gives_those_columns_in_that_order():
    net, _ = _cobalike(with_monitor=False)
    tw = biosnn.twin(net)
    with torch.no_grad():
        full = tw.run(5 * ms, record={"cells": ["v", "I_syn"], "syn": ["w"]})
    net2, _ = _cobalike(with_monitor=False)
    tw2 = biosnn.twin(net2)
    with torch.no_grad():
        part = tw2.run(5 * ms, record={"cells": {"v": [4, 0], "I_syn": True}, "syn": {"w": np.array([1])}})
    torch.testing.assert_close(part.states["cells"]["v"], full.states["cells"]["v"][:, :, [4, 0]], rtol=0, atol=0)
    torch.testing.assert_close(part.states["cells"]["I_syn"], full.states["cells"]["I_syn"], rtol=0, atol=0)
    assert part.states["syn"]["w"].shape == (50, 1, 1)


@pytest.mark.parametrize(
    "which, match",
    [
        ([5], r"indices \[5\] are outside 0..4"),
        ([-1], r"indices \[-1\] are outside"),
        ([0.5], "integer indices"),
        (False, "integer indices"),
    ],
)
def test_recording_bad_indices_names_them(which, match):
    net, _ = _cobalike(with_monitor=False)
    tw = biosnn.twin(net)
    with pytest.raises(ParameterError, match=match):
        tw.run(1 * ms, record={"cells": {"v": which}})


def test_recorded_subexpression_follows_a_pull_after_brian2_changed_the_synapses():
    net, S = _cobalike(with_monitor=False)
    tw = biosnn.twin(net)
    with torch.no_grad():
        before = tw.run(2 * ms, record={"syn": ["drive"]}).states["syn"]["drive"]
    S.connect(i=0, j=[0, 1])  # two more synapses in Brian2, then a pull
    S.w[-2:] = 2 * nS
    tw.pull()
    with torch.no_grad():
        res = tw.run(2 * ms, record={"syn": ["drive"], "cells": ["v"]})
    drive, v = res.states["syn"]["drive"][:, 0].numpy(), res.states["cells"]["v"][:, 0].numpy()
    assert before.shape[-1] == 10 and drive.shape[-1] == 12
    np.testing.assert_array_equal(drive, np.asarray(S.w_)[None, :] * (float(E_EXC) - v[:, np.asarray(S.j)]))
