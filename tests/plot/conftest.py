"""A small real E/I network simulated once per test module; the plots are checked against its monitors."""

from __future__ import annotations

from dataclasses import dataclass

import brian2
import numpy as np
import pytest
from brian2 import Hz, ms, mV, nS, pF, second


@dataclass
class EINetwork:
    network: brian2.Network
    E: brian2.NeuronGroup
    I: brian2.NeuronGroup
    inputs: brian2.SpikeGeneratorGroup
    syn_in: brian2.Synapses
    spikes_E: brian2.SpikeMonitor
    spikes_I: brian2.SpikeMonitor
    state_E: brian2.StateMonitor
    rate_E: brian2.PopulationRateMonitor
    weights: brian2.StateMonitor
    duration: brian2.Quantity


def simulate_ei(duration=300 * ms, seed=7) -> EINetwork:
    """40 E + 10 I conductance-based LIF neurons driven by 80 Poisson inputs through plastic STDP synapses."""
    brian2.seed(seed)
    rng = np.random.default_rng(seed)
    ns = {
        "C": 200 * pF,
        "gL": 10 * nS,
        "El": -70 * mV,
        "Ee": 0 * mV,
        "Ei": -80 * mV,
        "Vt": -50 * mV,
        "Vr": -60 * mV,
        "tau_e": 5 * ms,
        "tau_i": 10 * ms,
        "taupre": 20 * ms,
        "taupost": 20 * ms,
        "Apre": 0.01,
        "Apost": -0.0105,
        "wmax": 1.0,
    }
    eqs = """
    dv/dt = (gL*(El - v) + I_exc + I_inh) / C : volt (unless refractory)
    dge/dt = -ge / tau_e : siemens
    dgi/dt = -gi / tau_i : siemens
    I_exc = ge * (Ee - v) : amp
    I_inh = gi * (Ei - v) : amp
    """
    E = brian2.NeuronGroup(
        40, eqs, threshold="v > Vt", reset="v = Vr", refractory=2 * ms, method="euler", name="E", namespace=ns
    )
    I = brian2.NeuronGroup(
        10, eqs, threshold="v > Vt", reset="v = Vr", refractory=2 * ms, method="euler", name="I", namespace=ns
    )
    E.v = ns["El"] + rng.uniform(0, 15, 40) * mV
    I.v = ns["El"] + rng.uniform(0, 15, 10) * mV
    n_in, rate = 80, 25 * Hz
    times = rng.uniform(0, float(duration / second), rng.poisson(n_in * float(rate * duration)))
    idx = rng.integers(0, n_in, times.size)
    inputs = brian2.SpikeGeneratorGroup(n_in, idx, times * second, name="inputs")
    syn_in = brian2.Synapses(
        inputs,
        E,
        """w : 1
        dapre/dt = -apre / taupre : 1 (event-driven)
        dapost/dt = -apost / taupost : 1 (event-driven)""",
        on_pre="ge_post += w * 3 * nS\napre += Apre\nw = clip(w + apost, 0, wmax)",
        on_post="apost += Apost\nw = clip(w + apre, 0, wmax)",
        name="syn_in",
        namespace=ns,
    )
    syn_in.connect(p=0.5)
    syn_in.w = rng.uniform(0.3, 0.9, len(syn_in))
    syn_ie = brian2.Synapses(inputs, I, on_pre="ge_post += 1 * nS", name="syn_inI", namespace=ns)
    syn_ie.connect(p=0.5)
    syn_ei = brian2.Synapses(E, I, on_pre="ge_post += 2 * nS", name="syn_EI", namespace=ns)
    syn_ei.connect(p=0.3)
    syn_iE = brian2.Synapses(I, E, on_pre="gi_post += 4 * nS", name="syn_IE", namespace=ns)
    syn_iE.connect(p=0.5)
    spikes_E = brian2.SpikeMonitor(E, name="spikes_E")
    spikes_I = brian2.SpikeMonitor(I, name="spikes_I")
    state_E = brian2.StateMonitor(E, ["v", "I_exc", "I_inh"], record=range(12), dt=0.5 * ms, name="state_E")
    rate_E = brian2.PopulationRateMonitor(E, name="rate_E")
    weights = brian2.StateMonitor(syn_in, "w", record=True, dt=50 * ms, name="weights")
    net = brian2.Network(E, I, inputs, syn_in, syn_ie, syn_ei, syn_iE, spikes_E, spikes_I, state_E, rate_E, weights)
    net.run(duration, namespace=ns)
    return EINetwork(net, E, I, inputs, syn_in, spikes_E, spikes_I, state_E, rate_E, weights, duration)


@pytest.fixture(scope="session")
def ei_net() -> EINetwork:
    old = brian2.prefs["codegen.target"]
    brian2.prefs["codegen.target"] = "numpy"
    try:
        return simulate_ei()
    finally:
        brian2.prefs["codegen.target"] = old
