"""Write the biosnn notebooks (``notebooks/*.ipynb``) from the cell lists below, with nbformat.

Run ``.venv/bin/python notebooks/build.py`` after editing a notebook's cells here; the ``.ipynb`` files are
committed without outputs and executed top to bottom by ``tests/test_notebooks.py`` (nbclient), so a
notebook that breaks fails CI. Each notebook ends with a cell that asserts the figures its story states.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
import brian2
import numpy as np
from brian2 import Hz, mV, ms, second

import biosnn
from biosnn import plot
from biosnn.brian import use_target

%matplotlib inline
use_target("numpy")  # no compilation: every notebook runs in well under 3 minutes on 2 cores
biosnn.seed(2024)"""


def md(text: str):
    return new_markdown_cell(text.strip())


def code(text: str):
    return new_code_cell(text.strip())


# ----------------------------------------------------------------------------------------- 1. rule zoo

ZOO = [
    md("""
# 1. The plasticity zoo

Every rule in `biosnn.plasticity.RULES`, **measured** in Brian2 rather than drawn from its formula: one
synapse per protocol, each driven by its own pre- and postsynaptic spike generators, all in one network and
one `run`. Three views per rule:

* **window**: the weight change of one pre/post pair against $\\Delta t = t_\\mathrm{post} - t_\\mathrm{pre}$
  (the rule's closed form, where it has one, dashed on top);
* **weight dependence**: the change of a causal (+10 ms) and an acausal (-10 ms) pair against the initial
  weight;
* **frequency dependence**: the change after 10 pairings at 5-50 Hz (Sjöström, Turrigiano & Nelson 2001).
"""),
    code(SETUP),
    code("""
from biosnn.plasticity import RULES

rules = {name: RULES[name]() for name in RULES}
spike_driven = [n for n, r in rules.items() if not r.post_requirements()]
needs_voltage = [n for n, r in rules.items() if r.post_requirements()]
print("rules measured on spike generators:", spike_driven)
print("rules that read the membrane potential (not measured here):", needs_voltage)
"""),
    md("""
## The measured windows

Pair STDP (Song et al. 2000; multiplicative: van Rossum et al. 2000) has the classic asymmetric window;
the minimal triplet rule (Pfister & Gerstner 2006) barely potentiates with isolated pairs; Vogels'
inhibitory rule is symmetric (coincidence potentiates, every presynaptic spike depresses a little); the
timing-free rules (synaptic scaling, EIHL's contraction, reward-modulated STDP without reward) are flat.
"""),
    code("""
from matplotlib.figure import Figure

delta_t = np.linspace(-60, 60, 25) * ms
windows = {}
fig = Figure(figsize=(12, 2.6 * ((len(spike_driven) + 3) // 4)), layout="constrained")
axes = fig.subplots((len(spike_driven) + 3) // 4, 4, squeeze=False).ravel()
for ax, name in zip(axes, spike_driven):
    plot.stdp_window(rules[name], delta_t=delta_t, ax=ax)
    windows[name] = [ln for ln in ax.lines if ln.get_gid() == "measured"][0].get_ydata()
    ax.set_title(name, fontsize="small")
    ax.get_legend().remove()
for ax in axes[len(spike_driven):]:
    ax.set_visible(False)
fig
"""),
    md("## Weight dependence and frequency dependence of the pair and triplet rules"),
    code("""
compare = [n for n in ("stdp_additive", "stdp_multiplicative", "stdp_triplet") if n in spike_driven]
fig = Figure(figsize=(11, 3.0 * len(compare)), layout="constrained")
axes = fig.subplots(len(compare), 2, squeeze=False)
frequency = {}
for row, name in zip(axes, compare):
    plot.weight_dependence(rules[name], ax=row[0])
    plot.frequency_dependence(rules[name], frequencies=[5, 10, 20, 40, 50] * Hz, n_pairs=10, dt=0.5 * ms, ax=row[1])
    frequency[name] = {ln.get_gid(): ln.get_ydata() for ln in row[1].lines if ln.get_gid()}
fig
"""),
    md("""
The additive rule changes every weight by the same amount (flat lines); the multiplicative rule potentiates
weak synapses and depresses strong ones (its depression grows with $w$). At high pairing frequency the
pairs overlap: the triplet rule then potentiates **whatever the order** of pre and post, as in cortical
slices, while pair rules cannot.
"""),
    code("""
# what the figures show, checked
add, mult = windows["stdp_additive"], windows["stdp_multiplicative"]
x = delta_t / ms
assert np.all(add[x > 0] > 0) and np.all(add[x < 0] < 0)          # causal LTP, acausal LTD
assert np.allclose(windows["istdp_vogels"], windows["istdp_vogels"][::-1])  # symmetric window
assert np.allclose(windows["synaptic_scaling"][x < 0], windows["synaptic_scaling"][0])  # no timing
if "stdp_triplet" in frequency:
    tri = frequency["stdp_triplet"]
    assert tri["acausal"][-1] > 0 > tri["acausal"][0]  # post-pre pairs: LTD at 5 Hz, LTP at 50 Hz
print("checked: windows and frequency dependence as published")
"""),
]

# ------------------------------------------------------------------------------------------ 2. Song 2000

SONG = [
    md("""
# 2. Song, Miller & Abbott (2000): STDP makes a bimodal weight distribution

One conductance-based integrate-and-fire neuron receives 1000 excitatory Poisson inputs through additive
pair STDP with slightly stronger depression than potentiation ($A_-/A_+ = 1.05$), plus 200 fixed inhibitory
inputs (`biosnn.circuits.song2000`). The synapses compete: inputs that happen to cause output spikes grow,
the others shrink, and the weights split towards the two bounds. To fit the 3-minute budget we use a
larger learning rate than the paper ($A_+ = 0.1\\,\\bar g_{max}$ instead of $0.005$), which reaches the same
steady state in seconds instead of minutes, and a 0.5 ms time step.
"""),
    code(SETUP),
    code("""
from biosnn.circuits import CIRCUITS
from biosnn.circuits.analysis import bimodality

circuit = CIRCUITS["song2000"](a_plus=0.1, input_rate=15 * Hz, dt=0.5 * ms, seed=1)
syn = circuit.projections["input_output"]
g_max = circuit.parameters.get("g_max", 0.015)
w_start = np.asarray(syn.w[:]) / g_max
weights = brian2.StateMonitor(syn, "w", record=True, dt=1 * second, name="song_weights")
circuit.network.add(weights)
circuit.run(16 * second)
w_end = np.asarray(syn.w[:]) / g_max
print(circuit)
"""),
    code("""
plot.weight_histogram(weights, bins=20, snapshots=[0, len(weights.t) // 4, len(weights.t) - 1])
"""),
    code("""
plot.weight_traces(weights, synapses=30)
"""),
    code("""
plot.raster(circuit, time_unit=second)
"""),
    code("""
low, high = bimodality(w_end, 1.0, edge=0.2)
low0, high0 = bimodality(w_start, 1.0, edge=0.2)
print(f"start: {low0:.0%} weak, {high0:.0%} strong; end: {low:.0%} weak, {high:.0%} strong")
assert low + high > 0.6 and low + high > 1.5 * (low0 + high0)   # the distribution moved to the bounds
assert low > 0.1 and high > 0.1                                  # ... to both of them: bimodal
"""),
]

NOTEBOOKS = {
    "01_plasticity_zoo.ipynb": ZOO,
    "02_song2000_bimodal.ipynb": SONG,
}


def build(names: list[str] | None = None) -> list[Path]:
    """Write the notebooks (all, or those named) and return their paths."""
    out = []
    for name, cells in NOTEBOOKS.items():
        if names and name not in names:
            continue
        nb = new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        })
        path = HERE / name
        nbformat.write(nb, path)
        out.append(path)
    return out


if __name__ == "__main__":
    for p in build(sys.argv[1:] or None):
        print(p)
