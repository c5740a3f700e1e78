"""The interim main demo (``make demo`` -> ``biosnn demo``): two published plasticity results, in about a minute.

1. Vogels et al. (2011): a recurrent E/I network whose inhibitory weights start at zero fires at well over
   100 Hz; switching on inhibitory STDP brings the excitatory rate down to the target rho0 = 3 Hz and makes
   inhibition cancel most of the excitation (E/I balance).
2. Song, Miller & Abbott (2000): additive STDP turns a uniform distribution of input weights into a bimodal
   one (synapses end near 0 or near g_max) while the output rate settles.

Both run at reduced size (see ``tests/circuits``) on Brian2's numpy target. The demo prints the figures and
writes ``runs/demo/circuits_demo.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

import brian2
import numpy as np
from brian2 import Hz, ms, second

from biosnn.brian import seed as seed_everything
from biosnn.circuits import get_circuit
from biosnn.circuits.analysis import balance_ratio, bimodality, mean_rate, population_rate
from biosnn.circuits.base import check_seed
from biosnn.circuits.vogels2011 import set_learning_rate, synaptic_currents

__all__ = ["run_demo"]

OUTPUT = Path("runs") / "demo"


def _vogels(seed: int) -> dict:
    n_exc = 400
    circuit = get_circuit("vogels2011")(n_exc=n_exc, n_inh=100, epsilon=0.4, n_record=40, seed=seed)
    circuit.run(0.5 * second)
    i_exc, i_inh = synaptic_currents(circuit, start=0.2 * second)
    before = dict(rate=mean_rate(circuit.monitors["spikes_E"].i[:], circuit.monitors["spikes_E"].t[:], n_exc,
                                 start=0.2 * second, stop=0.5 * second),
                  balance=balance_ratio(i_exc, i_inh))
    set_learning_rate(circuit, 0.2)
    circuit.run(4.0 * second)
    end = circuit.t
    mon = circuit.monitors["spikes_E"]
    i_exc, i_inh = synaptic_currents(circuit, start=end - 2 * second)
    after = dict(rate=mean_rate(mon.i[:], mon.t[:], n_exc, start=end - 2 * second, stop=end),
                 balance=balance_ratio(i_exc, i_inh))
    t, rate = population_rate(mon.t[:], n_exc, start=0 * second, stop=end, bin_size=100 * ms)
    state = circuit.monitors["state_E"]
    currents = synaptic_currents(circuit)
    return dict(before=before, after=after, t=np.asarray(t / second), rate=np.asarray(rate / Hz),
                state_t=np.asarray(state.t / second), i_exc=np.asarray(currents[0][0]) * 1e12,
                i_inh=np.asarray(currents[1][0]) * 1e12)


def _song(seed: int) -> dict:
    g_max = 0.075
    circuit = get_circuit("song2000")(n_inputs=200, n_inh_inputs=40, g_max=g_max, g_inh=0.25, a_plus=0.025,
                                      a_ratio=1.2, dt=0.5 * ms, seed=seed)
    syn = circuit.projections["input_output"]
    w0 = np.asarray(syn.w[:]).copy()
    circuit.run(60 * second)
    w1 = np.asarray(syn.w[:])
    times = np.asarray(circuit.monitors["spikes_output"].t[:] / second)
    edges = np.arange(0, 61, 5.0)
    rate = np.histogram(times, bins=edges)[0] / 5.0
    return dict(w0=w0 / g_max, w1=w1 / g_max, edges=edges, rate=rate,
                ends_before=sum(bimodality(w0, g_max, edge=0.2)), ends_after=sum(bimodality(w1, g_max, edge=0.2)))


def run_demo(seed: int = 0) -> None:
    """Run the two circuit demos, print their figures and write ``runs/demo/circuits_demo.png``."""
    seed = check_seed(seed)
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    seed_everything(seed)
    brian2.prefs["codegen.target"] = "numpy"  # no compiler needed, no compile wait
    start = time.time()
    print("biosnn demo: circuits with local plasticity (Brian2, explicit networks)")
    print("[1/2] Vogels et al. 2011: inhibitory STDP restores E/I balance (400 E + 100 I neurons) ...", flush=True)
    v = _vogels(seed)
    print(f"      before iSTDP: E rate {float(v['before']['rate'] / Hz):6.1f} Hz, "
          f"balance -<I_inh>/<I_exc> = {v['before']['balance']:.2f}")
    print(f"      after 4 s   : E rate {float(v['after']['rate'] / Hz):6.1f} Hz (target 3 Hz), "
          f"balance = {v['after']['balance']:.2f}")
    print("[2/2] Song, Miller & Abbott 2000: STDP makes input weights bimodal (200 inputs, 60 s) ...", flush=True)
    s = _song(seed)
    print(f"      weights within 20 % of 0 or g_max: {100 * s['ends_before']:.0f} % at start (uniform), "
          f"{100 * s['ends_after']:.0f} % after 60 s")
    print(f"      output rate: {s['rate'][0]:.1f} Hz in the first 5 s, {s['rate'][-1]:.1f} Hz in the last 5 s")

    fig, ax = plt.subplots(2, 2, figsize=(11, 7))
    ax[0, 0].plot(v["t"], v["rate"], color="C3")
    ax[0, 0].axvline(0.5, color="k", ls=":", lw=1)
    ax[0, 0].axhline(3, color="k", ls="--", lw=1, label="rho0 = 3 Hz")
    ax[0, 0].set(yscale="log", xlabel="time (s)", ylabel="E rate (Hz)", title="Vogels 2011: iSTDP on at 0.5 s")
    ax[0, 0].legend()
    ax[0, 1].plot(v["state_t"], v["i_exc"], lw=0.5, color="C3", label="excitatory + background")
    ax[0, 1].plot(v["state_t"], -v["i_inh"], lw=0.5, color="C0", label="- inhibitory")
    ax[0, 1].set(xlabel="time (s)", ylabel="current (pA)", title="one E neuron: inhibition comes to track excitation")
    ax[0, 1].legend(loc="upper right")
    bins = np.linspace(0, 1, 21)
    ax[1, 0].hist(s["w0"], bins=bins, alpha=0.6, label="start")
    ax[1, 0].hist(s["w1"], bins=bins, alpha=0.6, label="after 60 s")
    ax[1, 0].set(xlabel="w / g_max", ylabel="synapses", title="Song 2000: weights become bimodal")
    ax[1, 0].legend()
    ax[1, 1].step(s["edges"][1:], s["rate"], where="pre")
    ax[1, 1].set(xlabel="time (s)", ylabel="output rate (Hz)", title="Song 2000: output rate")
    fig.tight_layout()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / "circuits_demo.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path} ({time.time() - start:.0f} s)")
