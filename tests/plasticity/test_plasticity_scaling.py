"""Homeostatic synaptic scaling: the postsynaptic rate moves toward the target, weight ratios are kept."""

from __future__ import annotations

import brian2
import numpy as np
from biosnn.plasticity import SynapticScaling
from brian2 import Hz, ms, second

DT = 2 * ms
N_IN = 100


def test_rate_moves_toward_target_and_ratios_are_kept(rng):
    target = 10.0
    rule = SynapticScaling(rate_target=target * Hz, tau_rate=0.5 * second, tau_scaling=1 * second, w_max=5.0)
    inputs = brian2.PoissonGroup(N_IN, 10 * Hz, dt=DT)
    neurons = brian2.NeuronGroup(
        2,
        "dv/dt = -v / (10*ms) : volt (unless refractory)",
        threshold="v > 15*mV",
        reset="v = 0*mV",
        refractory=2 * ms,
        method="exact",
        dt=DT,
    )
    syn = rule.synapses(inputs, neurons, effect="v_post += w * 1*mV", dt=DT)
    syn.connect()
    w0 = rng.uniform(0.5, 1.5, N_IN * 2) * np.where(np.asarray(syn.j[:]) == 0, 3.0, 0.8)  # 0: too strong, 1: weak
    syn.w = w0
    spikes = brian2.SpikeMonitor(neurons)
    net = brian2.Network(inputs, neurons, syn, spikes)
    net.run(16 * second, namespace={})

    t, i = np.asarray(spikes.t / second), np.asarray(spikes.i)
    early = np.array([np.sum((i == k) & (t < 1)) / 1.0 for k in range(2)])  # first second
    late = np.array([np.sum((i == k) & (t >= 12)) / 4.0 for k in range(2)])
    assert early[0] > 2 * target and early[1] < target / 2  # one neuron far above, one far below target
    assert np.all(np.abs(late - target) < 0.35 * target)  # both end near the target
    assert np.all(np.abs(late - target) < 0.4 * np.abs(early - target))

    # multiplicative scaling: every input weight of a neuron is scaled by the same factor
    w = np.asarray(syn.w[:])
    j = np.asarray(syn.j[:])
    for k in range(2):
        ratio = w[j == k] / w0[j == k]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-10)
    assert (w[j == 0] / w0[j == 0])[0] < 0.8 and (w[j == 1] / w0[j == 1])[0] > 1.2
