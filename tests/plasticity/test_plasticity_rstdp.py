"""Reward-modulated STDP (Izhikevich 2007): no reward, no change; the change follows timing x reward."""

from __future__ import annotations

import brian2
import numpy as np
import pytest
from biosnn.plasticity import RstdpIzhikevich
from brian2 import ms, second

from biosnn.errors import ParameterError

DT = 0.5 * ms
T_REWARD, T_END = 100 * ms, 1200 * ms


def test_no_reward_no_change_and_sign_follows_timing_times_reward():
    rule = RstdpIzhikevich()
    # neuron 0: pre 10 ms, post 20 ms (delta_t = +10 ms); neuron 1: post 10 ms, pre 20 ms (delta_t = -10 ms)
    pre = brian2.SpikeGeneratorGroup(2, [0, 1], [10, 20] * ms, dt=DT)
    post = brian2.SpikeGeneratorGroup(2, [0, 1], [20, 10] * ms, dt=DT)
    reward = brian2.SpikeGeneratorGroup(1, [0], [T_REWARD], dt=DT)
    groups = {}
    objects = [pre, post, reward]
    for label, amount in (("reward", 0.5), ("punish", -0.5), ("none", None)):
        syn = rule.synapses(pre, post, effect="", dt=DT)
        syn.connect(j="i")
        syn.w = 2.0
        objects.append(syn)
        if amount is not None:
            objects.append(rule.reward_synapses(reward, syn, amount=amount))
        groups[label] = syn
    brian2.Network(*objects).run(T_END, namespace={})
    dw = {k: np.asarray(s.w[:]) - 2.0 for k, s in groups.items()}

    # no reward: eligibility was set but the weight did not move at all
    assert np.all(dw["none"] == 0.0)
    assert np.all(np.abs(np.asarray(groups["none"].c[:])) > 0.1)
    # sign = timing x reward
    assert dw["reward"][0] > 0 and dw["reward"][1] < 0
    assert dw["punish"][0] < 0 and dw["punish"][1] > 0
    np.testing.assert_allclose(dw["punish"], -dw["reward"], rtol=1e-12)

    # magnitude: dw = c(t_r) D tau_e / tau_s (1 - exp(-(T - t_r)/tau_e)), tau_e = (1/tau_c + 1/tau_d)^-1
    tau_c, tau_d, tau_s = 1.0, 0.2, 1.0
    tau_e = 1.0 / (1.0 / tau_c + 1.0 / tau_d)
    c0 = np.array([1.0, -1.5]) * np.exp(-10 / 20)  # A+ e^{-10/20}, -A- e^{-10/20}, set at t = 20 ms
    c_r = c0 * np.exp(-(float(T_REWARD / second) - 0.020) / tau_c)
    expected = c_r * 0.5 * tau_e / tau_s * (1 - np.exp(-float((T_END - T_REWARD) / second) / tau_e))
    np.testing.assert_allclose(dw["reward"], expected, rtol=1e-2)


def test_reward_synapses_needs_this_rules_synapses():
    rule = RstdpIzhikevich()
    pre = brian2.SpikeGeneratorGroup(1, [0], [1] * ms)
    other = RstdpIzhikevich(tau_c=2 * second).synapses(pre, pre, effect="")
    with pytest.raises(ParameterError, match="plastic"):
        rule.reward_synapses(pre, other)
