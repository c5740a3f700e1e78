"""The EIHL contraction rule in Brian2 equals its torch functions bit for bit (float64, numpy target)."""

from __future__ import annotations

import gc

import brian2
import numpy as np
import pytest
import torch
from biosnn.plasticity.eihl_contraction import EIHLContraction, global_decay, local_step, removal_threshold
from brian2.utils.logger import catch_logs

from biosnn.errors import ParameterError, UnitError


def _circuit(rule, *, n_pre=6, n_post=5, weight_scale=1.0, effect="v_post += w", target_extra=""):
    src = brian2.NeuronGroup(
        n_pre, "dv/dt = -v / (10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact", name="src"
    )
    tgt = brian2.NeuronGroup(n_post, "dv/dt = -v / (10*ms) : 1\n" + target_extra, method="exact", name="tgt")
    syn = rule.synapses(src, tgt, effect=effect, name="syn")
    syn.connect()
    w0 = np.random.default_rng(3).normal(size=n_pre * n_post)
    syn.w = w0 * weight_scale
    return brian2.Network(src, tgt, syn), syn, w0


def _torch_state(w0):
    w = torch.tensor(w0, dtype=torch.float64)
    return w, torch.zeros_like(w), torch.ones_like(w, dtype=torch.bool)


def test_local_then_global_period_equals_torch_functions_exactly():
    rule = EIHLContraction(a=0.08, x_growth=0.2, tau_x=5.0, b=0.5, interval=1 * brian2.ms)
    net, syn, w0 = _circuit(rule, target_extra="x : 1")  # target owns 'x': the rule's x is renamed
    assert syn.plasticity_names["x"] != "x"
    xs = syn.plasticity_names["x"]
    w, x, m = _torch_state(w0)
    th = rule.begin_local_period(syn)
    assert float(th) == pytest.approx(float(removal_threshold(w, m, b=0.5)), rel=1e-12)
    net.run(12 * brian2.ms)  # 12 local steps
    for _ in range(12):
        w, x, m = local_step(w, x, m, a=rule.a, x_growth=rule.x_growth, threshold=float(th))
    assert np.array_equal(syn.w[:], w.numpy())
    assert np.array_equal(getattr(syn, xs)[:], x.numpy())
    assert np.array_equal(rule.mask(syn), m.numpy())
    assert np.array_equal(syn.present[:], m.numpy().astype(float))
    assert 0 < (~m).sum() < m.numel()  # some, not all, synapses removed
    assert np.all(syn.w[:][~rule.mask(syn)] == 0)
    # global period: weights frozen, x decays as global_decay step by step, removed synapses stay removed
    rule.end_local_period(syn)
    w_before = syn.w[:].copy()
    net.run(7 * brian2.ms)
    for _ in range(7):
        x = global_decay(x, steps=1, tau_x=rule.tau_x)
    assert np.array_equal(syn.w[:], w_before)
    assert np.array_equal(getattr(syn, xs)[:], x.numpy())
    assert np.array_equal(rule.mask(syn), m.numpy())


def test_interval_sets_the_step_and_weights_with_units():
    rule = EIHLContraction(a=0.1, x_growth=0.1, b=0.0, interval=2 * brian2.ms, weight_unit=brian2.nS)
    src = brian2.NeuronGroup(3, "dv/dt = -v / (10*ms) : volt", threshold="v > 1*volt", method="exact", name="src2")
    tgt = brian2.NeuronGroup(2, "dg/dt = -g / (5*ms) : siemens", method="exact", name="tgt2")
    syn = rule.synapses(src, tgt, effect="g_post += w", name="syn2")
    syn.connect()
    syn.w = 2 * brian2.nS
    net = brian2.Network(src, tgt, syn)
    rule.begin_local_period(syn)
    net.run(6 * brian2.ms)  # 3 steps of 2 ms: factors (1 - 0.01)(1 - 0.02)(1 - 0.03)
    expected = 2.0 * (1 - 0.01) * (1 - 0.02) * (1 - 0.03)
    assert np.allclose(syn.w[:] / brian2.nS, expected, rtol=1e-12)
    assert rule.mask(syn).all()  # b = 0: nothing removed


def test_local_period_is_off_by_default():
    rule = EIHLContraction()
    net, syn, w0 = _circuit(rule)
    net.run(5 * brian2.ms)
    assert np.array_equal(syn.w[:], w0)
    assert rule.mask(syn).all()


def test_parameters_round_trip_and_bad_values_raise():
    rule = EIHLContraction(a=0.2, x_growth=0.3, tau_x=7.0, b=0.1, interval=5 * brian2.ms, weight_unit=brian2.nS)
    assert type(rule)(**rule.get_params()) == rule
    assert rule.growth_rate == 0.3 / (5 * brian2.ms)
    assert rule.tau_x_time == 35 * brian2.ms
    with pytest.raises(ParameterError, match="'a'"):
        EIHLContraction(a=-0.1)
    with pytest.raises(ParameterError, match="tau_x"):
        EIHLContraction(tau_x=0.0)
    with pytest.raises(UnitError, match="interval"):
        EIHLContraction(interval=1.0)
    with pytest.raises(UnitError, match="x_growth"):
        EIHLContraction(x_growth=1 * brian2.Hz)
    with catch_logs():  # the plain objects are never run; Brian2 would warn about that when they are deleted
        p1, p2 = brian2.NeuronGroup(1, "v : 1", name="p1"), brian2.NeuronGroup(1, "v : 1", name="p2")
        plain = brian2.Synapses(p1, p2, "w : 1", name="plain")
        with pytest.raises(ParameterError, match="EIHLContraction"):
            rule.begin_local_period(plain)
        del p1, p2, plain
        gc.collect()


def test_the_twin_runs_the_same_rule_as_brian2():
    """The rule's Brian2 text compiles into the twin: a local period there equals Brian2's, bit for bit."""
    import biosnn

    rule = EIHLContraction(a=0.08, x_growth=0.2, tau_x=5.0, b=0.5, interval=1 * brian2.ms)
    net, syn, w0 = _circuit(rule)
    th = rule.begin_local_period(syn)
    tw = biosnn.twin(net, batch_size=1, dtype=torch.float64)
    tw.run(6 * brian2.ms)  # the twin first, from the same state
    net.run(6 * brian2.ms)
    names = syn.plasticity_names
    for var in ("w", "x", "absent"):
        assert np.array_equal(
            tw.variable("syn", names[var], batch_index=0).detach().numpy(), np.asarray(getattr(syn, names[var])[:])
        ), var
    assert 0 < (~rule.mask(syn)).sum() and float(th) > 0
