"""The circuit demo (``biosnn circuit-demo``): two published plasticity results in Brian2, in about a minute.

1. Vogels et al. (2011): a recurrent E/I network whose inhibitory weights start at zero fires at well over
   100 Hz; switching on inhibitory STDP brings the excitatory rate down to the target rho0 = 3 Hz and makes
   inhibition cancel most of the excitation (E/I balance).
2. Song, Miller & Abbott (2000): additive STDP turns a uniform distribution of input weights into a bimodal
   one (synapses end near 0 or near g_max) while the output rate settles.

Both run at reduced size (see ``tests/circuits``) on Brian2's numpy target, as plain Brian2 circuits (no
PyTorch twin, no training; ``biosnn demo`` is the hybrid-training demo). The demo prints the figures and
writes ``circuits_demo.png`` into ``out_dir`` (default :data:`OUTPUT`, ``runs/circuit-demo``).
"""

from __future__ import annotations

import time
from pathlib import Path

import brian2
import numpy as np
from biosnn.circuits import get_circuit
from biosnn.circuits.analysis import balance_ratio, bimodality, mean_rate, population_rate
from biosnn.circuits.base import check_seed
from biosnn.circuits.vogels2011 import set_learning_rate, synaptic_currents
from brian2 import Hz, ms, second

from biosnn.brian import seed as seed_everything

__all__ = ["run_demo", "demo_figure", "OUTPUT"]

#: The default results folder (relative to the current directory).
OUTPUT = Path("runs") / "circuit-demo"


def _vogels(seed: int, *, before=0.5 * second, after=4.0 * second) -> dict:
    n_exc = 400
    circuit = get_circuit("vogels2011")(n_exc=n_exc, n_inh=100, epsilon=0.4, n_record=40, seed=seed)
    circuit.run(before)
    i_exc, i_inh = synaptic_currents(circuit, start=0.2 * second)
    start_figures = dict(
        rate=mean_rate(
            circuit.monitors["spikes_E"].i[:], circuit.monitors["spikes_E"].t[:], n_exc, start=0.2 * second, stop=before
        ),
        balance=balance_ratio(i_exc, i_inh),
    )
    set_learning_rate(circuit, 0.2)
    circuit.run(after)
    end = circuit.t
    mon = circuit.monitors["spikes_E"]
    window = min(2 * second, after)
    i_exc, i_inh = synaptic_currents(circuit, start=end - window)
    ending = dict(
        rate=mean_rate(mon.i[:], mon.t[:], n_exc, start=end - window, stop=end), balance=balance_ratio(i_exc, i_inh)
    )
    t, rate = population_rate(mon.t[:], n_exc, start=0 * second, stop=end, bin_size=100 * ms)
    state = circuit.monitors["state_E"]
    currents = synaptic_currents(circuit)
    return dict(
        before=start_figures,
        after=ending,
        on=float(before / second),
        duration=float(after / second),
        t=np.asarray(t / second),
        rate=np.asarray(rate / Hz),
        state_t=np.asarray(state.t / second),
        i_exc=np.asarray(currents[0][0]) * 1e12,
        i_inh=np.asarray(currents[1][0]) * 1e12,
    )


def _song(seed: int, *, duration: float = 60.0, bin_s: float = 5.0) -> dict:
    g_max = 0.075
    circuit = get_circuit("song2000")(
        n_inputs=200, n_inh_inputs=40, g_max=g_max, g_inh=0.25, a_plus=0.025, a_ratio=1.2, dt=0.5 * ms, seed=seed
    )
    syn = circuit.projections["input_output"]
    w0 = np.asarray(syn.w[:]).copy()
    circuit.run(duration * second)
    w1 = np.asarray(syn.w[:])
    times = np.asarray(circuit.monitors["spikes_output"].t[:] / second)
    edges = np.arange(0, duration + bin_s / 2, bin_s)  # bins of bin_s seconds from 0 to duration
    rate = np.histogram(times, bins=edges)[0] / bin_s
    return dict(
        w0=w0 / g_max,
        w1=w1 / g_max,
        edges=edges,
        rate=rate,
        duration=duration,
        bin_s=bin_s,
        ends_before=sum(bimodality(w0, g_max, edge=0.2)),
        ends_after=sum(bimodality(w1, g_max, edge=0.2)),
    )


def demo_figure(v: dict, s: dict):
    """The demo's four panels from the results of the two runs (a :class:`matplotlib.figure.Figure`).

    Top: Vogels 2011's excitatory rate (100 ms bins, log scale, iSTDP switched on at the dotted line) and one
    E neuron's excitatory and inhibitory currents. Bottom: Song 2000's weights at the start and the end
    (``w / g_max``) and its output rate in bins of ``bin_s`` seconds, each bin drawn over its whole width
    (``stairs``: the first bin spans 0 .. ``bin_s``).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7))
    ax = fig.subplots(2, 2)
    ax[0, 0].plot(v["t"], v["rate"], color="C3", label="E population rate")
    ax[0, 0].axvline(v["on"], color="k", ls=":", lw=1, label=f"iSTDP on ({v['on']:g} s)")
    ax[0, 0].axhline(3, color="k", ls="--", lw=1, label="target rho0 = 3 Hz")
    ax[0, 0].set(
        yscale="log",
        xlabel="time (s)",
        ylabel="E rate (Hz, 100 ms bins)",
        title=f"Vogels 2011: iSTDP on at {v['on']:g} s",
    )
    ax[0, 0].legend(fontsize="small")
    ax[0, 1].plot(v["state_t"], v["i_exc"], lw=0.5, color="C3", label="excitatory + background")
    ax[0, 1].plot(v["state_t"], -v["i_inh"], lw=0.5, color="C0", label="inhibitory (sign flipped)")
    ax[0, 1].set(xlabel="time (s)", ylabel="current (pA)", title="one E neuron: inhibition comes to track excitation")
    ax[0, 1].legend(loc="upper right", fontsize="small")
    bins = np.linspace(0, 1, 21)
    ax[1, 0].hist(s["w0"], bins=bins, alpha=0.6, label="start (uniform)")
    ax[1, 0].hist(s["w1"], bins=bins, alpha=0.6, label=f"after {s['duration']:g} s")
    ax[1, 0].set(xlabel="w / g_max", ylabel="synapses", title="Song 2000: weights become bimodal")
    ax[1, 0].legend(fontsize="small")
    ax[1, 1].stairs(s["rate"], s["edges"], color="C0", lw=1.5)
    ax[1, 1].set(
        xlabel="time (s)",
        ylabel=f"output rate (Hz, {s['bin_s']:g} s bins)",
        title="Song 2000: output rate",
        xlim=(s["edges"][0], s["edges"][-1]),
    )
    fig.tight_layout()
    return fig


def run_demo(seed: int = 0, out_dir: str | Path | None = None) -> Path:
    """Run the two circuit demos, print their figures and write ``circuits_demo.png`` into ``out_dir``.

    Plain Brian2 (numpy target, explicit networks): no PyTorch twin and no training is involved.

    Parameters
    ----------
    seed
        Seed of every random source.
    out_dir
        Folder of the figure (created when missing; default :data:`OUTPUT`, ``runs/circuit-demo``).

    Returns
    -------
    Path
        The figure's path.
    """
    seed = check_seed(seed)
    out = Path(OUTPUT if out_dir is None else out_dir)
    if out.exists() and not out.is_dir():
        from biosnn.errors import ParameterError

        raise ParameterError(f"the circuit demo's output folder {str(out)!r} is a file, not a folder")
    seed_everything(seed)
    brian2.prefs["codegen.target"] = "numpy"  # no compiler needed, no compile wait
    start = time.time()
    print(
        "biosnn circuit-demo: two published plasticity results, run in Brian2 (numpy target, explicit "
        "networks; no PyTorch twin, no training)"
    )
    print("[1/2] Vogels et al. 2011: inhibitory STDP restores E/I balance (400 E + 100 I neurons) ...", flush=True)
    v = _vogels(seed)
    print(
        f"      before iSTDP: E rate {float(v['before']['rate'] / Hz):6.1f} Hz, "
        f"balance -<I_inh>/<I_exc> = {v['before']['balance']:.2f}"
    )
    print(
        f"      after {v['duration']:g} s   : E rate {float(v['after']['rate'] / Hz):6.1f} Hz (target 3 Hz), "
        f"balance = {v['after']['balance']:.2f}"
    )
    print("[2/2] Song, Miller & Abbott 2000: STDP makes input weights bimodal (200 inputs, 60 s) ...", flush=True)
    s = _song(seed)
    print(
        f"      weights within 20 % of 0 or g_max: {100 * s['ends_before']:.0f} % at start (uniform), "
        f"{100 * s['ends_after']:.0f} % after {s['duration']:g} s"
    )
    print(
        f"      output rate: {s['rate'][0]:.1f} Hz in the first {s['bin_s']:g} s, {s['rate'][-1]:.1f} Hz in the "
        f"last {s['bin_s']:g} s"
    )
    fig = demo_figure(v, s)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "circuits_demo.png"
    fig.savefig(path, dpi=110)
    print(f"wrote {path} ({time.time() - start:.0f} s)")
    return path
