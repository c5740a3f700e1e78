"""Bad input to the twin, the bridge, the plasticity rules and biosnn's Brian2 set-up: one table.

Every row provokes one bad input and expects a :class:`biosnn.errors.BiosnnError` subclass whose message
names the problem; rows that touch the user's Brian2 objects also check that nothing of theirs changed.
Each row records what the input gave *before* the fix of issue 9 (measured by running the same row
against the code of commit 44f1720):

* ``CLEAR``: already a biosnn error naming the problem;
* ``UNCLEAR``: a raw traceback (AttributeError, TypeError, a torch or Brian2 error, Brian2's banner);
* ``SILENT``: accepted, with a wrong or meaningless result (NaN voltages, zero spikes, a cast, a
  variable written that Brian2 refuses to write);
* ``DATA-LOSS``: the user's Brian2 objects were changed (NaN written into them).

A row is a generator function: the code before its ``yield`` builds what it needs and yields the bad call;
the code after it runs once the call raised (the checks that nothing changed).
"""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch
from biosnn.plasticity import RULES
from brian2 import Hz, ms, mV

import biosnn
from biosnn.brian import mark_used
from biosnn.errors import NonFiniteError, ParameterError, ShapeError, UnitError, UnsupportedFeatureError

NAN = float("nan")


# ------------------------------------------------------------------------------------------- helpers
def _net(n: int = 3, *, extra: str = "", threshold: str = "v > 1"):
    """Three cells and all-to-all synapses; the cells are driven over threshold."""
    G = b2.NeuronGroup(
        n,
        f"""dv/dt = (1.5 - v)/(10*ms) : 1
                             {extra}""",
        threshold=threshold,
        reset="v = 0",
        method="exact",
        name="cells",
    )
    G.v = np.linspace(0.1, 0.9, n)
    S = b2.Synapses(G, G, "w : 1", on_pre="v_post += w", name="syn")
    S.connect()
    S.w = 0.05
    mark_used([G, S])  # built to be refused: no "never included in a network" warning
    return b2.Network(G, S), G, S


def _snapshot(net: b2.Network) -> dict:
    """Every public variable of every group and synapses of ``net``, and its time."""
    out = {"t": float(net.t_)}
    for obj in net.objects:
        for name, var in getattr(obj, "variables", {}).items():
            if name.startswith("_") or not hasattr(var, "get_value") or getattr(var.owner, "name", None) != obj.name:
                continue
            out[(obj.name, name)] = np.array(var.get_value(), copy=True)
    return out


def _assert_unchanged(net: b2.Network, before: dict) -> None:
    after = _snapshot(net)
    assert after.keys() == before.keys()
    for key, value in before.items():
        equal_nan = isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)
        assert np.array_equal(after[key], value, equal_nan=equal_nan), f"{key} changed"


# ---------------------------------------------------------------------------------- NaN and infinity
def nan_state_in_brian2():
    net, G, _S = _net()
    G.v[1] = NAN
    before = _snapshot(net)
    yield lambda: biosnn.twin(net)
    _assert_unchanged(net, before)


def nan_weight_in_brian2():
    net, _G, S = _net()
    S.w[4] = NAN
    yield lambda: biosnn.twin(net)


def inf_state_in_brian2():
    net, G, _S = _net(extra="dge/dt = -ge/(5*ms) : 1")
    G.ge = np.inf  # a state the twin updates (not a constant, where inf may mean "never")
    yield lambda: biosnn.twin(net)


def nan_namespace_constant_made_learnable():
    G = b2.NeuronGroup(
        2,
        "dv/dt = (1.5 - v)/tau : 1",
        threshold="v > 1",
        reset="v = 0",
        method="exact",
        name="cells",
        namespace={"tau": NAN * ms},
    )
    yield lambda: biosnn.twin(b2.Network(G), learnable=("cells.tau",))


def nan_parameter_before_run():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    with torch.no_grad():
        tw.params["syn__w"][2] = NAN
    yield lambda: tw.run(1 * ms)


def nan_during_run():
    G = b2.NeuronGroup(2, "dv/dt = log(2 - t/ms)/ms : 1", method="euler", name="cells")
    tw = biosnn.twin(b2.Network(G))

    def run():
        with torch.no_grad(), np.errstate(invalid="ignore", divide="ignore"):
            tw.run(3 * ms)

    yield run


def nan_state_pushed():
    net, _G, _S = _net()
    tw = biosnn.twin(net, batch_size=2)
    with torch.no_grad():
        tw.run(1 * ms)
    tw.variable("cells", "v")[1, 2] = NAN  # trial 1: push(1) must refuse it
    before = _snapshot(net)
    yield lambda: tw.push(batch_index=1)
    _assert_unchanged(net, before)


def nan_weight_pushed():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    with torch.no_grad():
        tw.params["syn__w"][0] = NAN
    before = _snapshot(net)
    yield lambda: tw.push()
    _assert_unchanged(net, before)


def nan_in_brian2_at_second_pull():
    net, G, _S = _net()
    tw = biosnn.twin(net)
    v = tw.variable("cells", "v").clone()
    G.v[0] = NAN
    yield lambda: tw.pull()
    assert torch.equal(tw.variable("cells", "v"), v)  # the twin kept its state


def nan_in_inputs():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"cells": {"v": torch.tensor([[0.1, NAN, 0.2]], dtype=torch.float64)}})


def nan_duration():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(NAN * ms)


# ------------------------------------------------------------------------------------------ inputs=
def input_to_index_i():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"cells": {"i": torch.zeros(1, 3)}})


def input_to_clock_t():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"cells": {"t": torch.zeros(1, 1)}})


def input_to_constant_N():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"cells": {"N": torch.zeros(1, 1)}})


def input_to_internal_spikespace():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"cells": {"_spikespace": torch.zeros(1, 4)}})


def input_to_synaptic_index_j():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"syn": {"j": torch.zeros(1, 9)}})


def input_to_postsynaptic_variable_through_synapses():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"syn": {"v_post": torch.zeros(1, 3)}})


def input_per_step_to_constant_parameter():
    net, _G, _S = _net(extra="gain : 1 (constant)")
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"cells": {"gain": torch.zeros(10, 1, 3)}})


def input_non_integral_to_integer_variable():
    net, _G, _S = _net(extra="k : integer")
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"cells": {"k": torch.full((1, 3), 0.5)}})


def input_non_boolean_to_boolean_variable():
    net, _G, _S = _net(extra="flag : boolean")
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"cells": {"flag": torch.full((1, 3), 0.5)}})


def input_as_brian2_quantity():
    P = b2.PoissonGroup(3, rates=10 * Hz, name="input")
    tw = biosnn.twin(b2.Network(P))
    yield lambda: tw.run(1 * ms, inputs={"input": {"rates": np.full((1, 3), 20.0) * Hz}})


def input_spikes_not_zero_or_one():
    gen = b2.SpikeGeneratorGroup(3, [0, 1], [1, 2] * ms, name="gen")
    tw = biosnn.twin(b2.Network(gen))
    yield lambda: tw.run(1 * ms, inputs={"gen": {"spikes": torch.full((10, 1, 3), 0.5)}})


def input_timed_array_as_quantity():
    stim = b2.TimedArray([1.0, 2.0], dt=1 * ms, name="stim")
    H = b2.NeuronGroup(2, "dv/dt = (stim(t) - v)/(10*ms) : 1", method="euler", name="cells")
    tw = biosnn.twin(b2.Network(H), namespace={"stim": stim})
    yield lambda: tw.run(1 * ms, inputs={"stim": np.zeros((2, 1)) * mV})


def input_unknown_group():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"nosuchgroup": {"v": torch.zeros(1, 3)}})


def input_unknown_variable():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"cells": {"vv": torch.zeros(1, 3)}})


def input_wrong_shape():
    net, _G, _S = _net()
    tw = biosnn.twin(net, batch_size=2)
    yield lambda: tw.run(1 * ms, inputs={"cells": {"v": torch.zeros(3, 2)}})


def input_not_a_mapping():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs=torch.zeros(1, 3))


def input_group_not_a_mapping():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"cells": torch.zeros(1, 3)})


def input_of_strings():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"cells": {"v": [["a", "b", "c"]]}})


def input_complex_tensor():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, inputs={"cells": {"v": torch.zeros(1, 3, dtype=torch.complex128)}})


# ------------------------------------------------------------------------------------ record= and run
def record_unknown_group():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, record={"nosuchgroup": ["v"]})


def record_unknown_variable():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, record={"cells": ["nope"]})


def record_index_out_of_range():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, record={"cells": {"v": [0, 7]}})


def record_a_list():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, record=["v"])


def record_names_not_strings():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(1 * ms, record={"cells": 5})


def duration_without_units():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(5)


def duration_negative():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run(-1 * ms)


def duration_an_array():
    net, _G, _S = _net()
    tw = biosnn.twin(net)
    yield lambda: tw.run([1, 2] * ms)


# ------------------------------------------------------------------------------------------- push/pull
def push_fractional_batch_index():
    net, _G, _S = _net()
    tw = biosnn.twin(net, batch_size=2)
    before = _snapshot(net)
    yield lambda: tw.push(batch_index=1.5)
    _assert_unchanged(net, before)


def push_negative_batch_index():
    net, _G, _S = _net()
    tw = biosnn.twin(net, batch_size=2)
    before = _snapshot(net)
    yield lambda: tw.push(batch_index=-1)
    _assert_unchanged(net, before)


def push_batch_index_out_of_range():
    net, _G, _S = _net()
    tw = biosnn.twin(net, batch_size=2)
    yield lambda: tw.push(batch_index=2)


def push_batch_index_a_string():
    net, _G, _S = _net()
    tw = biosnn.twin(net, batch_size=2)
    before = _snapshot(net)
    yield lambda: tw.push(batch_index="0")
    _assert_unchanged(net, before)


def push_after_synapses_were_added_in_brian2():
    net, _G, S = _net()
    tw = biosnn.twin(net)
    with torch.no_grad():
        tw.run(2 * ms)
    S.connect(i=0, j=0)  # a second synapse 0 -> 0: the twin's arrays no longer fit
    before = _snapshot(net)
    yield lambda: tw.push()
    _assert_unchanged(net, before)


def variable_batch_index_out_of_range():
    net, _G, _S = _net()
    tw = biosnn.twin(net, batch_size=2)
    yield lambda: tw.variable("cells", "v", batch_index=5)


# ------------------------------------------------------------------------------------------- twin()
def device_cuda_without_gpu():
    net, _G, _S = _net()
    yield lambda: biosnn.twin(net, device="cuda")


def device_not_a_device():
    net, _G, _S = _net()
    yield lambda: biosnn.twin(net, device="gpu")


def twin_seed_negative():
    net, _G, _S = _net()
    yield lambda: biosnn.twin(net, seed=-1)


def twin_seed_a_string():
    net, _G, _S = _net()
    yield lambda: biosnn.twin(net, seed="abc")


def twin_namespace_not_a_mapping():
    net, _G, _S = _net()
    yield lambda: biosnn.twin(net, namespace=5)


def twin_learnable_not_a_sequence():
    net, _G, _S = _net()
    yield lambda: biosnn.twin(net, learnable=5)


def twin_exact_not_a_bool():
    net, _G, _S = _net()
    yield lambda: biosnn.twin(net, exact="yes")


def network_with_undefined_identifier():
    G = b2.NeuronGroup(2, "dv/dt = -v/tau_missing : 1", method="exact", name="cells")
    yield lambda: biosnn.twin(b2.Network(G))


def network_with_unit_mismatch():
    G = b2.NeuronGroup(
        2, "dv/dt = -v/(10*ms) : volt", threshold="v > 1", reset="v = 0*mV", method="exact", name="cells"
    )
    yield lambda: biosnn.twin(b2.Network(G))


def network_with_python_operation():
    net, G, _S = _net()

    @b2.network_operation(dt=1 * ms, name="my_python_op")
    def poke():
        G.v += 0.1

    net.add(poke)
    yield lambda: biosnn.twin(net)


def twin_of_a_number():
    yield lambda: biosnn.twin(42)


# -------------------------------------------------------------------------------------------- rules
def _rule_groups():
    P = b2.PoissonGroup(5, rates=10 * Hz, name="input")
    E = b2.NeuronGroup(
        2,
        """dv/dt = (-70*mV - v + ge*60*mV)/(20*ms) : volt
                             dge/dt = -ge/(5*ms) : 1""",
        threshold="v > -54*mV",
        reset="v = -60*mV",
        method="exact",
        name="E",
    )
    mark_used([P, E])
    return P, E


def rule_source_a_string():
    _P, E = _rule_groups()
    yield lambda: RULES["stdp_additive"]().synapses("notagroup", E, effect="ge_post += w")


def rule_target_a_synapses_object():
    P, E = _rule_groups()
    S = b2.Synapses(P, E, "g : 1", on_pre="ge_post += g", name="plain")
    mark_used([S])
    yield lambda: RULES["stdp_additive"]().synapses(P, S, effect="ge_post += w")


def rule_effect_unknown_post_variable():
    P, E = _rule_groups()
    yield lambda: RULES["stdp_additive"]().synapses(P, E, effect="gx_post += w")


def rule_effect_unknown_unsuffixed_variable():
    P, E = _rule_groups()
    yield lambda: RULES["stdp_additive"]().synapses(P, E, effect="gx += w")


def rule_effect_reads_unknown_pre_variable():
    P, E = _rule_groups()
    yield lambda: RULES["stdp_additive"]().synapses(P, E, effect="ge_post += w * u_pre")


def _conductance_groups():
    P = b2.PoissonGroup(5, rates=10 * Hz, name="input")
    E = b2.NeuronGroup(
        2,
        """dv/dt = (-70*mV - v)/(20*ms) + ge*60*mV/(20*ms*nS) : volt
                             dge/dt = -ge/(5*ms) : siemens""",
        threshold="v > -54*mV",
        reset="v = -60*mV",
        method="exact",
        name="E",
        namespace={"nS": b2.nS},
    )
    mark_used([P, E])
    return P, E


def rule_effect_in_wrong_units():
    P, E = _conductance_groups()
    yield lambda: RULES["stdp_additive"]().synapses(P, E, effect="ge_post += w")  # siemens += 1


def rule_effect_syntax_error():
    P, E = _conductance_groups()
    yield lambda: RULES["stdp_additive"]().synapses(P, E, effect="ge_post += w*")


def rule_model_not_equations():
    P, E = _conductance_groups()
    yield lambda: RULES["stdp_additive"]().synapses(P, E, effect="ge_post += w*nS", model="x = 1")


def rule_namespace_nan():
    P, E = _conductance_groups()
    yield lambda: RULES["stdp_additive"]().synapses(P, E, effect="ge_post += w*g", namespace={"g": NAN * b2.nS})


def rule_delay_without_units():
    P, E = _conductance_groups()
    yield lambda: RULES["stdp_additive"]().synapses(P, E, effect="ge_post += w*nS", delay=5)


def rule_dt_without_units():
    P, E = _conductance_groups()
    yield lambda: RULES["stdp_additive"]().synapses(P, E, effect="ge_post += w*nS", dt=5)


def rule_unknown_method():
    P, E = _conductance_groups()
    yield lambda: RULES["stdp_additive"]().synapses(P, E, effect="ge_post += w*nS", method="nope")


def rule_name_not_a_string():
    P, E = _conductance_groups()
    yield lambda: RULES["stdp_additive"]().synapses(P, E, effect="ge_post += w*nS", name=5)


def rule_model_not_a_string():
    P, E = _rule_groups()
    yield lambda: RULES["stdp_additive"]().synapses(P, E, effect="ge_post += w", model=5)


def rule_nan_parameter():
    yield lambda: RULES["stdp_additive"](tau_plus=NAN * ms)


def rule_parameter_without_units():
    yield lambda: RULES["stdp_additive"](tau_plus=20)


def rule_parameter_wrong_units():
    yield lambda: RULES["stdp_additive"](tau_plus=20 * mV)


# --------------------------------------------------------------------------------------------- seed
def seed_negative():
    yield lambda: biosnn.seed(-1)


def seed_too_large():
    yield lambda: biosnn.seed(2**32)


def seed_a_float():
    yield lambda: biosnn.seed(1.5)


def seed_a_bool():
    yield lambda: biosnn.seed(True)


def seed_none():
    yield lambda: biosnn.seed(None)


_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")

#: (id, provoking generator, error class, phrase of the message, category before the fix)
CASES = [
    ("nan_state_in_brian2", nan_state_in_brian2, NonFiniteError, "cells.v: 1 of 3 values", "SILENT"),
    ("nan_weight_in_brian2", nan_weight_in_brian2, NonFiniteError, "syn.w: 1 of 9 values", "SILENT"),
    ("inf_state_in_brian2", inf_state_in_brian2, NonFiniteError, "cells.ge: 3 of 3 values", "SILENT"),
    ("nan_namespace_constant", nan_namespace_constant_made_learnable, NonFiniteError, "cells.tau", "SILENT"),
    ("nan_parameter_before_run", nan_parameter_before_run, NonFiniteError, "parameter 'syn__w'", "SILENT"),
    ("nan_during_run", nan_during_run, NonFiniteError, "became non-finite during the run", "SILENT"),
    ("nan_state_pushed", nan_state_pushed, NonFiniteError, "nothing was written to Brian2", "DATA-LOSS"),
    ("nan_weight_pushed", nan_weight_pushed, NonFiniteError, "syn.w", "DATA-LOSS"),
    ("nan_at_second_pull", nan_in_brian2_at_second_pull, NonFiniteError, "in Brian2", "SILENT"),
    ("nan_in_inputs", nan_in_inputs, NonFiniteError, "1 NaN", "CLEAR"),
    ("nan_duration", nan_duration, NonFiniteError, "duration", "CLEAR"),
    ("input_to_index_i", input_to_index_i, ParameterError, "'i' of 'cells' is read-only", "SILENT"),
    ("input_to_clock_t", input_to_clock_t, ParameterError, "'t' of 'cells' is read-only", "SILENT"),
    ("input_to_constant_N", input_to_constant_N, ParameterError, "no state variable 'N'", "CLEAR"),
    ("input_to_spikespace", input_to_internal_spikespace, ParameterError, "read-only", "SILENT"),
    ("input_to_synaptic_index_j", input_to_synaptic_index_j, ParameterError, "'j' of 'syn' is read-only", "SILENT"),
    (
        "input_v_post_through_synapses",
        input_to_postsynaptic_variable_through_synapses,
        ParameterError,
        "give it under its own group",
        "SILENT",
    ),
    ("input_per_step_to_constant", input_per_step_to_constant_parameter, ParameterError, "(constant)", "SILENT"),
    ("input_fraction_to_integer", input_non_integral_to_integer_variable, ParameterError, "integer variable", "SILENT"),
    ("input_fraction_to_boolean", input_non_boolean_to_boolean_variable, ParameterError, "is boolean", "SILENT"),
    ("input_as_quantity", input_as_brian2_quantity, UnitError, "base SI units", "CLEAR"),
    ("input_spikes_not_zero_or_one", input_spikes_not_zero_or_one, ParameterError, "0 or 1", "SILENT"),
    ("input_timed_array_as_quantity", input_timed_array_as_quantity, UnitError, "(TimedArray)", "SILENT"),
    ("input_unknown_group", input_unknown_group, ParameterError, "'nosuchgroup'", "CLEAR"),
    ("input_unknown_variable", input_unknown_variable, ParameterError, "no state variable 'vv'", "CLEAR"),
    ("input_wrong_shape", input_wrong_shape, ShapeError, "expected [2, 3]", "CLEAR"),
    ("input_not_a_mapping", input_not_a_mapping, ParameterError, "inputs must map", "UNCLEAR"),
    ("input_group_not_a_mapping", input_group_not_a_mapping, ParameterError, "must map variable names", "CLEAR"),
    ("input_of_strings", input_of_strings, ShapeError, "tensor or array", "CLEAR"),
    ("input_complex", input_complex_tensor, ParameterError, "real numbers", "SILENT"),
    ("record_unknown_group", record_unknown_group, ParameterError, "'nosuchgroup'", "CLEAR"),
    ("record_unknown_variable", record_unknown_variable, ParameterError, "'nope'", "CLEAR"),
    ("record_index_out_of_range", record_index_out_of_range, ParameterError, "[7]", "CLEAR"),
    ("record_a_list", record_a_list, ParameterError, "record must map group names", "UNCLEAR"),
    ("record_names_not_strings", record_names_not_strings, ParameterError, "needs variable names", "UNCLEAR"),
    ("duration_without_units", duration_without_units, UnitError, "duration", "CLEAR"),
    ("duration_negative", duration_negative, ParameterError, "non-negative", "CLEAR"),
    ("duration_an_array", duration_an_array, ParameterError, "single time", "UNCLEAR"),
    ("push_fractional_batch_index", push_fractional_batch_index, ParameterError, "got 1.5", "SILENT"),
    ("push_negative_batch_index", push_negative_batch_index, ParameterError, "got -1", "CLEAR"),
    ("push_batch_index_out_of_range", push_batch_index_out_of_range, ParameterError, "0..1", "CLEAR"),
    ("push_batch_index_a_string", push_batch_index_a_string, ParameterError, "got '0'", "UNCLEAR"),
    (
        "push_after_synapses_added",
        push_after_synapses_were_added_in_brian2,
        ParameterError,
        "call tw.pull() first",
        "DATA-LOSS",
    ),
    ("variable_batch_index_out_of_range", variable_batch_index_out_of_range, ParameterError, "got 5", "SILENT"),
    pytest.param(
        "device_cuda_without_gpu",
        device_cuda_without_gpu,
        ParameterError,
        "no CUDA device is available",
        "UNCLEAR",
        marks=_no_cuda,
        id="device_cuda_without_gpu",
    ),
    ("device_not_a_device", device_not_a_device, ParameterError, "'gpu'", "UNCLEAR"),
    ("twin_seed_negative", twin_seed_negative, ParameterError, "got -1", "SILENT"),
    ("twin_seed_a_string", twin_seed_a_string, ParameterError, "got 'abc'", "UNCLEAR"),
    ("twin_namespace_not_a_mapping", twin_namespace_not_a_mapping, ParameterError, "namespace", "UNCLEAR"),
    ("twin_learnable_not_a_sequence", twin_learnable_not_a_sequence, ParameterError, "learnable", "UNCLEAR"),
    ("twin_exact_not_a_bool", twin_exact_not_a_bool, ParameterError, "exact", "SILENT"),
    (
        "network_undefined_identifier",
        network_with_undefined_identifier,
        ParameterError,
        '"tau_missing" could not be resolved',
        "UNCLEAR",
    ),
    ("network_unit_mismatch", network_with_unit_mismatch, UnitError, "DimensionMismatchError", "UNCLEAR"),
    ("network_python_operation", network_with_python_operation, UnsupportedFeatureError, "my_python_op", "CLEAR"),
    ("twin_of_a_number", twin_of_a_number, ParameterError, "got int", "CLEAR"),
    ("rule_source_a_string", rule_source_a_string, ParameterError, "parameter 'source'", "UNCLEAR"),
    ("rule_target_synapses", rule_target_a_synapses_object, ParameterError, "parameter 'target'", "UNCLEAR"),
    (
        "rule_effect_unknown_post_variable",
        rule_effect_unknown_post_variable,
        ParameterError,
        "'gx_post' names a variable 'gx' of the target group 'E'",
        "SILENT",
    ),
    (
        "rule_effect_unknown_unsuffixed",
        rule_effect_unknown_unsuffixed_variable,
        ParameterError,
        "writes 'gx'",
        "SILENT",
    ),
    (
        "rule_effect_unknown_pre_variable",
        rule_effect_reads_unknown_pre_variable,
        ParameterError,
        "'u' of the source group 'input'",
        "SILENT",
    ),
    ("rule_effect_in_wrong_units", rule_effect_in_wrong_units, UnitError, "inconsistent units", "SILENT"),
    ("rule_effect_syntax_error", rule_effect_syntax_error, ParameterError, "'ge_post += w*' is not valid", "SILENT"),
    ("rule_model_not_equations", rule_model_not_equations, ParameterError, "parameter 'model'", "UNCLEAR"),
    ("rule_namespace_nan", rule_namespace_nan, NonFiniteError, "'g' is not finite", "SILENT"),
    ("rule_delay_without_units", rule_delay_without_units, UnitError, "'delay'", "UNCLEAR"),
    ("rule_dt_without_units", rule_dt_without_units, UnitError, "'dt'", "UNCLEAR"),
    ("rule_unknown_method", rule_unknown_method, ParameterError, "'nope' is not a Brian2 integration method", "SILENT"),
    ("rule_name_not_a_string", rule_name_not_a_string, ParameterError, "parameter 'name'", "UNCLEAR"),
    ("rule_model_not_a_string", rule_model_not_a_string, ParameterError, "parameter 'model'", "UNCLEAR"),
    ("rule_nan_parameter", rule_nan_parameter, NonFiniteError, "tau_plus", "CLEAR"),
    ("rule_parameter_without_units", rule_parameter_without_units, UnitError, "tau_plus", "CLEAR"),
    ("rule_parameter_wrong_units", rule_parameter_wrong_units, UnitError, "tau_plus", "CLEAR"),
    ("seed_negative", seed_negative, ParameterError, "got -1", "UNCLEAR"),
    ("seed_too_large", seed_too_large, ParameterError, "got 4294967296", "UNCLEAR"),
    ("seed_a_float", seed_a_float, ParameterError, "got 1.5", "UNCLEAR"),
    ("seed_a_bool", seed_a_bool, ParameterError, "got True", "SILENT"),
    ("seed_none", seed_none, ParameterError, "got None", "UNCLEAR"),
]

CATEGORIES = ("CLEAR", "UNCLEAR", "SILENT", "DATA-LOSS")


def _row(case):
    return case.values if hasattr(case, "values") else case


@pytest.mark.parametrize(
    "case_id, provoke, error, phrase, before", [c if hasattr(c, "values") else pytest.param(*c, id=c[0]) for c in CASES]
)
def test_bad_input_gives_a_clear_error(case_id, provoke, error, phrase, before):
    assert before in CATEGORIES
    steps = provoke()
    bad_call = next(steps)
    with pytest.raises(error) as info:
        bad_call()
    message = str(info.value)
    assert phrase in message, message
    assert "\n" not in message.strip(), "one line"
    for _ in steps:  # the row's checks that nothing of the user's changed
        pass


def test_table_is_counted():
    """The closing note counts the rows by category; every id is unique."""
    rows = [_row(c) for c in CASES]
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids))
    counts = {k: sum(r[4] == k for r in rows) for k in CATEGORIES}
    assert sum(counts.values()) == len(rows) >= 30


@pytest.mark.parametrize("backend", ["torch", "c"])
def test_integer_and_boolean_inputs_keep_brian2s_types(backend):
    """An input takes its variable's type, as setting the variable in Brian2 does: integral values into an
    integer variable stay integers, booleans into a float variable become 0.0/1.0."""
    G = b2.NeuronGroup(
        3,
        """dv/dt = k/ms : 1
                             k : integer""",
        method="euler",
        name="cells",
    )
    net = b2.Network(G)
    tw = biosnn.twin(net, backend=backend)
    with torch.no_grad():
        tw.run(
            1 * ms, inputs={"cells": {"k": torch.tensor([[1.0, 2.0, 3.0]]), "v": torch.tensor([[True, False, True]])}}
        )
    G.k = [1, 2, 3]
    G.v = [1.0, 0.0, 1.0]
    net.run(1 * ms, namespace={})
    assert not tw.variable("cells", "k").is_floating_point()
    np.testing.assert_array_equal(tw.variable("cells", "v", batch_index=0).numpy(), G.v[:])
