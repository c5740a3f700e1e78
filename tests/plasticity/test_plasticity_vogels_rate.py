"""Vogels et al. 2011: plastic inhibition drives the postsynaptic rate to the target rate rho0.

Averaged over Poisson spike trains the rule gives d<w>/dt ~ rho_pre (rho_post - rho0), so the only
stable state is rho_post = rho0, whatever the excitatory drive.
"""

from __future__ import annotations

import brian2
import numpy as np
from biosnn.plasticity import IstdpVogels
from brian2 import Hz, ms, second

DT = 1 * ms


def test_inhibitory_plasticity_drives_rate_to_rho0():
    rho0 = 10.0
    rule = IstdpVogels(eta=0.2, rho0=rho0 * Hz)
    exc = brian2.PoissonGroup(200, 5 * Hz, dt=DT)
    inh = brian2.PoissonGroup(50, 10 * Hz, dt=DT)
    neuron = brian2.NeuronGroup(
        2,
        "dv/dt = -v / (20*ms) : volt (unless refractory)",
        threshold="v > 20*mV",
        reset="v = 0*mV",
        refractory=2 * ms,
        method="exact",
        dt=DT,
    )
    e_syn = brian2.Synapses(exc, neuron, "g : volt", on_pre="v_post += g", dt=DT)
    e_syn.connect()
    e_syn.g = "(1.4 + 0.4 * j) * mV"  # neuron 1 gets stronger excitation
    i_syn = rule.synapses(inh, neuron, effect="v_post -= w * 1*mV", dt=DT)
    i_syn.connect()
    i_syn.w = 0.0
    spikes = brian2.SpikeMonitor(neuron)
    brian2.Network(exc, inh, neuron, e_syn, i_syn, spikes).run(12 * second, namespace={})
    t, i = np.asarray(spikes.t / second), np.asarray(spikes.i)
    early = np.array([np.sum((i == k) & (t < 0.5)) for k in range(2)]) / 0.5
    late = np.array([np.sum((i == k) & (t >= 8)) for k in range(2)]) / 4.0
    assert np.all(early > 2 * rho0)  # before inhibition grows both fire far above target
    assert np.all(np.abs(late - rho0) < 0.3 * rho0)  # plastic inhibition brings both to rho0
    w = np.asarray(i_syn.w[:])
    j = np.asarray(i_syn.j[:])
    assert w[j == 1].mean() > w[j == 0].mean() > 0  # more excitation, more inhibition (balance)
