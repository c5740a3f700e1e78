"""One conformance test over every registered plasticity rule (new rules are covered automatically).

For each rule: it builds between two Brian2 groups and runs without NaN; its parameters round-trip;
wrong units and invalid values raise errors naming the parameter; and attaching it to groups whose
variables clash with the rule's internal names renames them consistently and gives weight trajectories
identical to the unrenamed case; and its declared ``learning_parameters`` switch learning off (weights
bit-identical through a run with pre- and postsynaptic activity) and on again (weights change).
"""

from __future__ import annotations

import brian2
import numpy as np
import pytest
from biosnn.plasticity import RULES, PlasticityRule, get_rule, set_learning
from biosnn.plasticity.base import rename_identifiers
from brian2 import Hz, ms, mV
from brian2.units.fundamentalunits import get_dimensions

from biosnn.errors import BiosnnError, NonFiniteError, ParameterError, UnitError, UnknownNameError

NAMES = sorted(RULES)
N_SRC, N_TGT = 4, 3
DT = 0.1 * ms
DURATION = 150 * ms


def _spikes(rng: np.random.Generator, duration=DURATION) -> brian2.TimedArray:
    steps = int(round(float(duration / DT))) + 1
    return brian2.TimedArray((rng.random((steps, N_SRC)) < 0.03).astype(float), dt=DT)


def _groups(rule: PlasticityRule, clash: tuple[str, ...]):
    """Source and target groups; every name in ``clash`` becomes a variable of both."""
    extra = "".join(f"\n{n} : 1" for n in clash)
    source = brian2.NeuronGroup(N_SRC, "dummy : 1" + extra, threshold="spk(t, i) > 0.5", dt=DT)
    req = rule.post_requirements()
    lines = ["dvm/dt = (-70.6*mV - vm) / (10*ms) + drive : volt (unless refractory)", "drive : volt/second"]
    for var, unit in req.items():
        if unit == "volt":  # a membrane potential that shows the spike (held at 29.4 mV for 2 ms)
            lines.append(f"{var} = vm * int(not_refractory) + 29.4*mV * (1 - int(not_refractory)) : volt")
        else:
            lines.append(f"{var} : {unit}")
    lines += [f"{n} : 1" for n in clash if n not in req]
    target = brian2.NeuronGroup(
        N_TGT,
        "\n".join(lines),
        threshold="vm > -50.4*mV",
        reset="vm = -70.6*mV",
        refractory=2 * ms,
        method="euler",
        dt=DT,
    )
    target.vm = -70.6 * mV
    target.drive = np.array([2.5, 3.0, 3.5]) * mV / ms
    return source, target


def _run(rule: PlasticityRule, clash: tuple[str, ...], user_model: str, seed: int = 7):
    brian2.seed(seed)
    spk = _spikes(np.random.default_rng(seed))
    source, target = _groups(rule, clash)
    unit = rule.weight_unit
    syn = rule.synapses(
        source, target, effect="vm_post += w * kick", model=user_model, namespace={"kick": 1 * mV / unit}, dt=DT
    )
    syn.connect()
    syn.w = 0.5 * unit
    mon = brian2.StateMonitor(syn, "w", record=True, dt=10 * ms)
    net = brian2.Network(source, target, syn, mon)
    net.run(DURATION, namespace={"spk": spk})
    return syn, np.asarray(mon.w / unit), np.asarray(syn.w[:] / unit)


@pytest.mark.parametrize("name", NAMES)
def test_builds_runs_and_renames_identically(name):
    rule = get_rule(name)()
    syn, traj, final = _run(rule, clash=(), user_model="")
    assert np.all(np.isfinite(traj)) and np.all(np.isfinite(final))
    assert traj.shape == (N_SRC * N_TGT, int(DURATION / (10 * ms)))
    assert syn.plasticity_rule == rule
    assert all(v == k for k, v in syn.plasticity_names.items())  # nothing to rename here

    internal = rule.internal_names()
    assert internal, "a rule without internal names cannot be checked for renaming"
    user_var = internal[0]
    clash = tuple(n for n in internal if n != user_var)
    syn2, traj2, final2 = _run(rule, clash=clash, user_model=f"{user_var} : 1")
    names = syn2.plasticity_names
    assert all(names[n] != n and names[n] in syn2.variables or names[n] in syn2.namespace for n in internal)
    assert all(names[n].startswith(n + "_") for n in internal)
    for n in rule.synaptic_variables():
        assert names[n] in syn2.variables
    np.testing.assert_array_equal(traj2, traj)
    np.testing.assert_array_equal(final2, final)


@pytest.mark.parametrize("name", NAMES)
def test_parameters_round_trip(name):
    cls = get_rule(name)
    rule = cls()
    params = rule.get_params()
    again = cls(**params)
    assert again == rule and hash(again) == hash(rule)
    assert type(rule).__name__ in repr(rule)
    assert isinstance(cls.reference, str) and len(cls.reference) > 20
    assert cls.__doc__ and cls.__module__.startswith("biosnn.plasticity.")
    # a changed parameter makes a different rule, which also round-trips
    changed = None
    for key, value in params.items():
        if (
            isinstance(value, (float, brian2.Quantity))
            and not isinstance(value, bool)
            and np.all(np.asarray(value) != 0)
        ):
            try:
                changed = cls(**{**params, key: value * 0.5})
            except BiosnnError:
                continue
            break
    assert changed is not None and changed != rule and cls(**changed.get_params()) == changed


def _wrong_unit(value):
    return value * brian2.amp  # amperes are used by no rule parameter


@pytest.mark.parametrize("name", NAMES)
def test_wrong_units_and_invalid_values_raise_naming_the_parameter(name):
    cls = get_rule(name)
    params = cls().get_params()
    checked = 0
    for key, value in params.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, str):
            with pytest.raises(ParameterError, match=key):
                cls(**{**params, key: "no-such-option"})
            checked += 1
            continue
        if not isinstance(value, (int, float, brian2.Quantity)):
            continue
        if key in cls.unit_parameters:
            # w_max sets the weight's units (any units are valid); amplitudes given in other units must
            # then fail naming w_max, or the rule takes the new units
            try:
                rule = cls(**{**params, key: _wrong_unit(value)})
            except UnitError as exc:
                assert key in str(exc)
            else:
                assert get_dimensions(rule.weight_unit) is get_dimensions(brian2.amp)
        else:
            with pytest.raises(UnitError, match=key):
                cls(**{**params, key: _wrong_unit(value)})
        nan = value * float("nan") if isinstance(value, brian2.Quantity) else float("nan")
        with pytest.raises((ParameterError, NonFiniteError), match=key):
            cls(**{**params, key: nan})
        checked += 1
    assert checked >= 2


def test_registry_lists_every_rule_by_its_fixed_name():
    for name in (
        "stdp_additive",
        "stdp_multiplicative",
        "stdp_triplet",
        "istdp_vogels",
        "clopath",
        "synaptic_scaling",
        "rstdp_izhikevich",
    ):
        assert RULES[name].name == name and issubclass(RULES[name], PlasticityRule)
    with pytest.raises(UnknownNameError, match="stdp_additive"):
        get_rule("stdp_nonexistent")


def test_invalid_values_raise_parameter_error():
    with pytest.raises(ParameterError, match="tau_plus"):
        get_rule("stdp_additive")(tau_plus=-5 * ms)
    with pytest.raises(ParameterError, match="mu"):
        get_rule("stdp_multiplicative")(mu=1.5)
    with pytest.raises(ParameterError, match="w_min"):
        get_rule("stdp_additive")(w_min=2.0, w_max=1.0)
    with pytest.raises(ParameterError, match="theta_plus"):
        get_rule("clopath")(theta_plus=-80 * mV)
    with pytest.raises(ParameterError, match="variant"):
        get_rule("stdp_triplet")(variant="quadruplet")
    with pytest.raises(UnitError, match="A_plus"):
        get_rule("stdp_additive")(w_max=10 * brian2.nS)  # amplitudes must then be in siemens too


def test_weight_with_units_runs_in_siemens():
    rule = get_rule("stdp_additive")(A_plus=0.05 * brian2.nS, A_minus=0.06 * brian2.nS, w_max=1 * brian2.nS)
    assert "siemens" in rule.model
    pre = brian2.SpikeGeneratorGroup(1, [0, 0], [5, 30] * ms)
    post = brian2.NeuronGroup(1, "dg/dt = -g / (5*ms) : siemens\nx : 1", threshold="abs(t - 10*ms) < 0.05*ms")
    syn = rule.synapses(pre, post, effect="g_post += w")
    syn.connect()
    syn.w = 0.5 * brian2.nS
    brian2.Network(pre, post, syn).run(40 * ms, namespace={})
    expected = 0.5 + 0.05 * np.exp(-5 / 20) - 0.06 * np.exp(-20 / 20)
    assert float(syn.w[0] / brian2.nS) == pytest.approx(expected, rel=1e-9)


def test_attach_errors_before_building():
    rule = get_rule("clopath")()
    pre = brian2.SpikeGeneratorGroup(1, [0], [1] * ms)
    no_v = brian2.NeuronGroup(1, "dvm/dt = -vm/(10*ms) : volt", threshold="vm > 1*mV", reset="vm = 0*mV")
    with pytest.raises(ParameterError, match="'v'"):
        rule.synapses(pre, no_v, effect="")
    wrong = brian2.NeuronGroup(1, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    with pytest.raises(UnitError, match="'v'"):
        rule.synapses(pre, wrong, effect="")
    target = brian2.NeuronGroup(1, "dv/dt = -v/(10*ms) : volt\nw : 1", threshold="v > 1*mV", reset="v = 0*mV")
    with pytest.raises(ParameterError, match="weight"):
        rule.synapses(pre, target, effect="")
    syn = rule.synapses(pre, target, effect="", weight="w_syn")
    assert syn.plasticity_names["w"] == "w_syn" and "w_syn" in syn.variables


def test_rename_identifiers():
    code = "dapre/dt = -apre/tau : 1 (event-driven)\nw = clip(w + apost, 0, wmax)\nx = apre_post + apre2"
    out = rename_identifiers(code, {"apre": "apre_stdp", "w": "g", "apost": "apre"})
    assert out == (
        "dapre_stdp/dt = -apre_stdp/tau : 1 (event-driven)\ng = clip(g + apre, 0, wmax)\nx = apre_post + apre2"
    )
    # a division by dt is not a derivative; names in it are renamed like any other
    assert rename_identifiers("y = apre/dt + dapre/dt", {"apre": "a2", "dapre": "d2"}) == "y = a2/dt + d2/dt"
    assert rename_identifiers("  dw/dt = -w/tau : 1", {"w": "g"}) == "  dg/dt = -g/tau : 1"
    assert get_dimensions(1 * Hz) is not get_dimensions(1 * ms)


@pytest.mark.parametrize("name", ["stdp_additive", "istdp_vogels"])
def test_recurrent_attachment_onto_one_group(name):
    # E->E (source is target) with a group that already uses the rule's trace names for its own variables
    rule = get_rule(name)()
    clash = rule.synaptic_variables()
    group = brian2.NeuronGroup(
        5,
        "dvm/dt = (drive - vm) / (10*ms) : volt\ndrive : volt" + "".join(f"\n{n} : 1" for n in clash),
        threshold="vm > 10*mV",
        reset="vm = 0*mV",
        method="exact",
        dt=DT,
    )
    group.drive = np.linspace(12, 20, 5) * mV
    syn = rule.synapses(group, group, effect="vm_post += 0.5*mV", dt=DT)
    syn.connect(condition="i != j")
    syn.w = 0.5
    brian2.Network(group, syn).run(100 * ms, namespace={})
    names = syn.plasticity_names
    assert all(names[n] == f"{n}_{rule.tag}" for n in clash)
    w = np.asarray(syn.w[:])
    assert np.all(np.isfinite(w)) and np.any(w != 0.5)
    assert np.all(np.asarray(group.variables[clash[0]].get_value()) == 0)  # the group's own variable untouched


# -- the generic learning switch -----------------------------------------------------------------------
def _dopamine(rule, syn):
    """Reward-modulated rules only move weights while dopamine is present: give some at every phase."""
    setattr(syn, syn.plasticity_names["d"], 1.0)


def _local_period(rule, syn):
    """The EIHL contraction acts during its local period only."""
    if not np.any(np.asarray(getattr(syn, syn.plasticity_names["local_active"])[:])):
        rule.begin_local_period(syn)  # once: the removal threshold stays frozen from then on


#: What a rule needs besides pre- and postsynaptic spikes to change its weights (called before every phase).
DRIVES = {"rstdp_izhikevich": _dopamine, "eihl_contraction": _local_period}


@pytest.mark.parametrize("name", NAMES)
def test_learning_switch_freezes_and_restores_the_weights(name):
    rule = get_rule(name)()
    assert rule.learning_parameters, f"rule {name!r} must declare its learning_parameters"
    reference = rule.namespace()
    assert set(rule.learning_parameters) <= set(reference)
    assert set(rule.learning_traces) <= set(rule.synaptic_variables())

    brian2.seed(11)
    source, target = _groups(rule, ())
    unit = rule.weight_unit
    syn = rule.synapses(source, target, effect="vm_post += w * kick", namespace={"kick": 1 * mV / unit}, dt=DT)
    syn.connect()
    syn.w = 0.5 * unit
    pre_mon, post_mon = brian2.SpikeMonitor(source), brian2.SpikeMonitor(target)
    net = brian2.Network(source, target, syn, pre_mon, post_mon)
    spk = _spikes(np.random.default_rng(11), duration=3 * DURATION)
    names = syn.plasticity_names
    drive = DRIVES.get(name, lambda rule, syn: None)

    def weights():
        return np.asarray(syn.w[:] / unit).copy()

    # off: the learning parameters read zero (in their units), every other entry is untouched
    set_learning(syn, False)
    for key, value in reference.items():
        stored = syn.namespace[names[key]]
        if key in rule.learning_parameters:
            assert get_dimensions(stored) is get_dimensions(value) and np.all(np.asarray(stored) == 0), key
        else:
            assert stored is value or np.all(np.asarray(stored) == np.asarray(value)), key
    drive(rule, syn)
    net.run(DURATION, namespace={"spk": spk})
    assert pre_mon.num_spikes > 10 and post_mon.num_spikes > 3  # pre and post activity happened
    np.testing.assert_array_equal(weights(), np.full(len(syn), 0.5))

    # on again: the rule's values are back, and the weights move
    rule.set_learning(syn, True)
    for key in rule.learning_parameters:
        assert np.all(np.asarray(syn.namespace[names[key]]) == np.asarray(reference[key])), key
        assert get_dimensions(syn.namespace[names[key]]) is get_dimensions(reference[key]), key
    n_post = post_mon.num_spikes
    drive(rule, syn)
    net.run(DURATION, namespace={"spk": spk})
    assert post_mon.num_spikes > n_post
    w_on = weights()
    assert np.all(np.isfinite(w_on)) and np.any(w_on != 0.5), f"{name}: learning on changed no weight"

    # off after learning, with the traces that carry the amplitudes reset: frozen at once (rules whose
    # weight can leave its bounds between spikes, Clopath's continuous LTP, still clip it at the next spike)
    set_learning(syn, False, reset_traces=True)
    for trace in rule.learning_traces:
        assert np.all(np.asarray(getattr(syn, names[trace])[:]) == 0), trace
    params = rule.get_params()
    if "w_max" in params:
        w_on = np.clip(w_on, float(params.get("w_min", 0.0) / unit), float(params["w_max"] / unit))
    drive(rule, syn)
    net.run(DURATION, namespace={"spk": spk})
    np.testing.assert_array_equal(weights(), w_on)


def test_learning_switch_errors():
    rule = get_rule("stdp_additive")()
    pre = brian2.SpikeGeneratorGroup(1, [0], [1] * ms)
    post = brian2.NeuronGroup(1, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    syn = rule.synapses(pre, post, effect="v_post += w")
    with pytest.raises(ParameterError, match="not built by this rule"):
        get_rule("stdp_additive")(A_plus=0.01).set_learning(syn, False)
    with pytest.raises(ParameterError, match="'on'"):
        rule.set_learning(syn, 0)
    plain = brian2.Synapses(pre, post, on_pre="v_post += 1")
    with pytest.raises(ParameterError, match="plasticity rule"):
        set_learning(plain, False)
    # a renamed amplitude is switched under its new name, the user's constant of the same name is untouched
    syn2 = rule.synapses(pre, post, effect="v_post += w * A_plus", namespace={"A_plus": 2.0})
    assert syn2.plasticity_names["A_plus"] == "A_plus_stdp"
    set_learning(syn2, False)
    assert float(syn2.namespace["A_plus_stdp"]) == 0.0 and syn2.namespace["A_plus"] == 2.0
    set_learning(syn2, True)
    assert float(syn2.namespace["A_plus_stdp"]) == 0.005
