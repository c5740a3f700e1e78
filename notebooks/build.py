"""Write the biosnn notebooks (``notebooks/*.ipynb``) from the cell lists below, with nbformat.

Run ``.venv/bin/python notebooks/build.py`` after editing a notebook's cells here; the ``.ipynb`` files are
committed without outputs and executed top to bottom by ``tests/test_notebooks.py`` (nbclient), so a
notebook that breaks fails CI. Each notebook ends with a cell that asserts the figures its story states.
"""

from __future__ import annotations

import hashlib
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
one `run` (a rule that reads the membrane potential, Clopath et al. 2010, gets a postsynaptic neuron forced
to spike at the protocol's times). Three views per rule:

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
print("rules measured between spike generators:", spike_driven)
print("rules that read the membrane potential, measured on a forced neuron:", needs_voltage)
"""),
    md(r"""
## The measured windows

Pair STDP (Song et al. 2000; multiplicative: van Rossum et al. 2000) has the classic asymmetric window;
the minimal triplet rule (Pfister & Gerstner 2006) barely potentiates with isolated pairs; Vogels'
inhibitory rule is symmetric (coincidence potentiates, every presynaptic spike depresses a little); EIHL's
contraction and reward-modulated STDP without reward are flat at zero. Synaptic scaling has no pair-timing
term, yet its curve is not flat: it scales the weight up, continuously, while the postsynaptic rate
estimate is below its target, so the change is the same for every $\Delta t \le 0$ (about 1.6e-5) and grows
linearly with $\Delta t > 0$ (to about 6e-4 at +60 ms), because the postsynaptic spike comes $\Delta t$
later and the neuron stays silent longer: it measures time without postsynaptic activity, not the pair's
order. The voltage rule of Clopath et al. depresses when the presynaptic spike follows the postsynaptic one
(the depolarisation has passed) and potentiates in the other order.
"""),
    code("""
from matplotlib.figure import Figure

delta_t = np.linspace(-60, 60, 25) * ms
windows = {}
names = list(rules)
fig = Figure(figsize=(12, 2.6 * ((len(names) + 3) // 4)), layout="constrained")
axes = fig.subplots((len(names) + 3) // 4, 4, squeeze=False).ravel()
for ax, name in zip(axes, names):
    plot.stdp_window(rules[name], delta_t=delta_t, ax=ax, dt=0.2 * ms)
    windows[name] = [ln for ln in ax.lines if ln.get_gid() == "measured"][0].get_ydata()
    ax.set_title(name, fontsize="small")
    ax.get_legend().remove()
for ax in axes[len(names):]:
    ax.set_visible(False)
fig
"""),
    md("## Weight dependence and frequency dependence of the pair, triplet and voltage rules"),
    code("""
compare = [n for n in ("stdp_additive", "stdp_multiplicative", "stdp_triplet", "clopath") if n in rules]
fig = Figure(figsize=(11, 3.0 * len(compare)), layout="constrained")
axes = fig.subplots(len(compare), 2, squeeze=False)
frequency = {}
for row, name in zip(axes, compare):
    plot.weight_dependence(rules[name], ax=row[0])
    plot.frequency_dependence(rules[name], frequencies=[5, 10, 20, 40, 50] * Hz, n_pairs=10, dt=0.2 * ms, ax=row[1])
    frequency[name] = {ln.get_gid(): ln.get_ydata() for ln in row[1].lines if ln.get_gid()}
fig
"""),
    md("""
The additive rule changes every weight by the same amount (flat lines); the multiplicative rule potentiates
weak synapses and depresses strong ones (its depression grows with $w$). At high pairing frequency the
pairs overlap: the triplet rule and the voltage rule then potentiate **whatever the order** of pre and
post, as in cortical slices (Sjöström et al. 2001), while pair rules cannot.
"""),
    code("""
# what the figures show, checked
add, mult = windows["stdp_additive"], windows["stdp_multiplicative"]
x = delta_t / ms
assert np.all(add[x > 0] > 0) and np.all(add[x < 0] < 0)          # causal LTP, acausal LTD
assert np.allclose(windows["istdp_vogels"], windows["istdp_vogels"][::-1])  # symmetric window
scaling = windows["synaptic_scaling"]
assert np.allclose(scaling[x <= 0], scaling[0]) and scaling[0] > 0     # up-scaling, the same for every dt <= 0
steps = np.diff(scaling[x >= 0])
assert np.all(steps > 0) and steps.max() < 1.1 * steps.min()           # then linear in dt > 0 (silent time)
assert 4e-4 < scaling[-1] < 8e-4                                         # about 6e-4 at +60 ms
for name in ("eihl_contraction", "rstdp_izhikevich"):                    # no pair term, no reward: zero
    assert np.all(windows[name] == 0), name
if "stdp_triplet" in frequency:
    tri = frequency["stdp_triplet"]
    assert tri["acausal"][-1] > 0 > tri["acausal"][0]  # post-pre pairs: LTD at 5 Hz, LTP at 50 Hz
if "clopath" in frequency:
    cl = frequency["clopath"]
    assert cl["acausal"][-1] > 0 > cl["acausal"][0] and cl["causal"][-1] > 0
print("checked: windows and frequency dependence as published")
"""),
]

# ------------------------------------------------------------------------------------------ 2. Song 2000

SONG = [
    md("""
# 2. Song, Miller & Abbott (2000): STDP makes a bimodal weight distribution

One conductance-based integrate-and-fire neuron receives 1000 excitatory Poisson inputs (15 Hz) through
additive pair STDP whose depression slightly outweighs potentiation (`biosnn.circuits.song2000`, with the
parameters of Brian2's own version of this experiment: $\\tau_m$ = 10 ms, $V_{rest}$ = -74 mV,
$\\bar g_{max}$ = 0.01, no inhibitory inputs). The synapses compete: inputs that happen to cause output
spikes grow, the others shrink, and the weights split towards the two bounds.

Two changes make it fit the 3-minute budget:

* a larger learning rate, $A_+ = 0.05\\,\\bar g_{max}$ instead of $0.005$-$0.01$;
* a 0.5 ms time step. Brian2 counts a pre and a post spike in the same step as causal ($\\Delta t = 0^+$),
  which adds $A_+ r_{pre} r_{post}\\,dt$ of potentiation; raising $A_-/A_+$ from 1.05 to
  $1.05 + dt/\\tau_- = 1.075$ removes exactly that bias, so the net drift is the paper's.

With this learning rate every pairing moves a weight by 5 % of its range, so the noise keeps the two modes
broad: in 50 s of simulated time the mass leaves the middle and gathers at both bounds, but a crisp bimodal
distribution (most weights within 10 % of a bound) needs the paper's small steps and minutes of simulated
time. Set `FULL = True` below for that run ($A_+$ = 0.01, dt = 0.1 ms, 150 s on the Cython target: several minutes,
not part of the test run).
"""),
    code(SETUP),
    code("""
from biosnn.circuits import CIRCUITS
from biosnn.circuits.analysis import bimodality

FULL = False  # True: the paper's learning rate and time step (about 10 minutes)
G_MAX = 0.01
if FULL:
    use_target("cython")
    settings, duration = dict(a_plus=0.01, a_ratio=1.05, dt=0.1 * ms), 150 * second
else:
    settings, duration = dict(a_plus=0.05, a_ratio=1.05 + 0.5 / 20, dt=0.5 * ms), 50 * second
circuit = CIRCUITS["song2000"](input_rate=15 * Hz, tau_m=10 * ms, v_rest=-74 * mV, g_max=G_MAX, n_inh_inputs=1,
                               g_inh=0.0, seed=1, **settings)
syn = circuit.projections["input_output"]
weights = brian2.StateMonitor(syn, "w", record=True, dt=5 * second, name="song_weights")
circuit.network.add(weights)
circuit.run(duration)
w_start = np.asarray(weights.w[:, 0]) / G_MAX
w_end = np.asarray(syn.w[:]) / G_MAX
print(circuit)
"""),
    code("""
plot.weight_histogram(weights, bins=20, snapshots=[0, len(weights.t) // 2, len(weights.t) - 1])
"""),
    code("""
plot.weight_traces(weights, synapses=40)
"""),
    code("""
plot.population_rates(circuit, bin_width=2 * second, duration=duration, time_unit=second)
"""),
    code("""
edges = np.linspace(0, 1, 11)
before, _ = np.histogram(w_start, bins=edges)
after, _ = np.histogram(w_end, bins=edges)
print("weights per tenth of g_max, start:", before)
print("weights per tenth of g_max, end:  ", after)
# the mass leaves the middle and piles up at both bounds: the distribution splits into two modes
assert after[0] + after[-1] > 1.2 * (before[0] + before[-1])
assert after[0] > before[0] and after[-1] > before[-1]
assert after[3:7].sum() < 0.95 * before[3:7].sum()
"""),
    md("""
## The paper's figure beside the measured one

`PAPER_FIGURES` in `biosnn.circuits.song2000` states what Song et al. (2000) report for the paper's own
settings (1000 excitatory inputs at 10 Hz and 200 inhibitory ones, $A_+ = 0.005\\,\\bar g_{max}$,
$\\bar g_{max}$ = 0.015, dt = 0.1 ms) with this library's numeric reading of "bimodal". By default the table
below measures this notebook's short run, which is *not* at the paper's settings (so it is not expected to
meet them). Set `PAPER = True` for the paper's settings: 2000 s of simulated time on Brian2's C++ standalone
device (`biosnn.circuits.base.run_standalone`; a few minutes, most of it compiling), where the paper's
split is met (the module docstring and `tests/circuits/test_circuits_song2000.py -m slow` give the figures).
"""),
    code("""
from IPython.display import Markdown, display

from biosnn.circuits.base import paper_comparison, run_standalone
from biosnn.circuits.song2000 import PAPER_FIGURES, weight_statistics

PAPER = False  # True: the paper's own settings, 2000 s simulated (a few minutes)
if PAPER:
    measured = run_standalone(lambda: CIRCUITS["song2000"](seed=0), 2000 * second, weight_statistics)
    print("the paper's settings, 2000 s")
else:
    measured = weight_statistics(circuit)
    print(f"this notebook's run ({duration}, Brian2-example settings, A+ = {settings['a_plus']} g_max)")
display(Markdown(paper_comparison(PAPER_FIGURES, measured)))
"""),
]

# ----------------------------------------------------------------------------------------- 3. Vogels

VOGELS = [
    md("""
# 3. Vogels et al. (2011): inhibitory plasticity restores the E/I balance

A recurrent network of conductance-based excitatory and inhibitory neurons (`biosnn.circuits.vogels2011`,
reduced to 800 E + 200 I neurons with the paper's in-degree: $\\epsilon = 0.2$ instead of $0.02$). The
inhibitory-to-excitatory synapses start at zero and follow the symmetric inhibitory STDP rule: every
presynaptic spike depresses by $\\eta\\alpha$, every near-coincidence potentiates, so each excitatory
neuron's rate is driven to $\\rho_0$ = 3 Hz. Without plasticity the network fires at well over 100 Hz,
excitation unopposed; with plasticity on, inhibition grows until it cancels excitation: balance. We use a
large learning rate ($\\eta$ = 0.1) to see it within seconds.
"""),
    code(SETUP),
    code("""
from biosnn.circuits import CIRCUITS
from biosnn.circuits.analysis import balance_ratio
from biosnn.circuits.vogels2011 import set_learning_rate, synaptic_currents

circuit = CIRCUITS["vogels2011"](n_exc=800, n_inh=200, epsilon=0.2, n_record=20, record_dt=1 * ms, seed=1)
ie = circuit.projections["IE"]
rates = brian2.PopulationRateMonitor(circuit.populations["E"], name="rate_E")
circuit.network.add(rates)
T_OFF, T_ON = 0.3 * second, 2.5 * second
circuit.run(T_OFF)                 # plasticity off: excitation unopposed
set_learning_rate(circuit, 0.1)
circuit.run(T_ON)                  # inhibitory STDP on
print(circuit)
"""),
    code("""
plot.raster(circuit, neurons=200, time_unit=second)
"""),
    code("""
plot.population_rates({"E": rates}, bin_width=50 * ms, time_unit=second)
"""),
    md("""
The input currents onto the recorded excitatory neurons (background drive counted as excitation), before
and after learning: the inhibitory current grows to mirror the excitatory one.
"""),
    code("""
mon = circuit.monitors["state_E"]
i_exc, i_inh = synaptic_currents(circuit)
currents = plot.StateRecord(t=mon.t[:], variables={"I_exc": i_exc, "I_inh": i_inh})
plot.ei_balance(currents, excitatory="I_exc", inhibitory="I_inh", time_unit=second)
"""),
    code("""
plot.weight_histogram(ie, bins=30)
"""),
    code("""
t = np.asarray(mon.t / second)
early, late = t < float(T_OFF / second), t > float((T_OFF + T_ON) / second) - 0.5
before = balance_ratio(i_exc[:, early], i_inh[:, early])
after = balance_ratio(i_exc[:, late], i_inh[:, late])
spikes = circuit.monitors["spikes_E"]
st = np.asarray(spikes.t / second)
rate_before = np.sum(st < float(T_OFF / second)) / (800 * float(T_OFF / second))
rate_after = np.sum(st > float((T_OFF + T_ON) / second) - 0.5) / (800 * 0.5)
print(f"E rate {rate_before:.1f} Hz -> {rate_after:.1f} Hz (target 3 Hz); -I_inh/I_exc {before:.2f} -> {after:.2f}")
assert rate_before > 50 and rate_after < 15          # runaway excitation tamed towards rho0
assert after > before + 0.2 and 0.6 < after < 1.2    # inhibition now (nearly) cancels excitation
"""),
    md("""
## The paper's figure beside the measured one

`PAPER_FIGURES` in `biosnn.circuits.vogels2011`: the excitatory rate settles at $\\rho_0$ = 3 Hz and
inhibition balances excitation. By default the table measures this notebook's reduced run (800 + 200
neurons, $\\eta$ = 0.1, 2.5 s of learning). Set `PAPER = True` for the paper's network (8000 E + 2000 I,
$\\epsilon$ = 0.02) at the learning rate of Brian2's reproduction ($\\eta$ = 0.01): 1 s without plasticity,
then 9 s with it, on the Cython target (about 10 minutes on 2 cores). There the rate falls from about
167 Hz to about 8 Hz in those 10 s and the currents balance (0.76), but $\\rho_0$ is not reached: at this
learning rate the last approach takes minutes of simulated time (5.9 Hz after 30 s; the module docstring
has the whole trajectory).
"""),
    code("""
from IPython.display import Markdown, display

from biosnn.circuits.base import paper_comparison
from biosnn.circuits.vogels2011 import PAPER_FIGURES

PAPER = False  # True: the paper's network, 10 s simulated (about 10 minutes)
if PAPER:
    use_target("cython")
    full = CIRCUITS["vogels2011"](n_record=50, seed=1)
    full.run(1 * second)
    set_learning_rate(full, 0.01)
    full.run(9 * second)
    sp = full.monitors["spikes_E"]
    measured_rate = float(np.sum(np.asarray(sp.t / second) > 9.0)) / 8000
    measured_balance = balance_ratio(*synaptic_currents(full, start=9 * second))
    print("the paper's network, eta = 0.01, 1 s off + 9 s on")
else:
    measured_rate, measured_balance = rate_after, after
    print("this notebook's reduced run")
display(Markdown(paper_comparison(PAPER_FIGURES, {"rate": measured_rate, "balance": measured_balance})))
"""),
]

# ------------------------------------------------------------------------------------------ 4. twin

TWIN = [
    md("""
# 4. One model, two engines

A small E/I circuit written in plain Brian2 (40 input spike trains, 16 excitatory and 4 inhibitory LIF
neurons, inhibition onto E), run by Brian2 and by its PyTorch **twin** (`biosnn.twin`), which compiles the
same equations, with Brian2's own state updaters, into a `torch.nn.Module`. In float64 the twin's spikes
are Brian2's, spike for spike. Then, because the twin is differentiable (surrogate gradients at every
threshold), we ask it how the number of excitatory spikes depends on every synaptic weight, and check the
answer by changing the weights in Brian2.
"""),
    code(SETUP),
    code("""
import torch

rng = np.random.default_rng(1)
steps = np.sort(rng.choice(3000, 600, replace=False))
inputs = brian2.SpikeGeneratorGroup(40, rng.integers(0, 40, 600), steps * 0.1 * ms, name="input")
eqs = \"\"\"
dv/dt = (-70*mV - v + I) / (10*ms) : volt
dI/dt = -I / (5*ms) : volt
\"\"\"
E = brian2.NeuronGroup(16, eqs, threshold="v > -55*mV", reset="v = -65*mV", method="exact", name="E")
I = brian2.NeuronGroup(4, eqs, threshold="v > -55*mV", reset="v = -65*mV", method="exact", name="I")
E.v = -70 * mV
I.v = -70 * mV
in_E = brian2.Synapses(inputs, E, "w : volt", on_pre="I_post += w", name="in_E")
in_E.connect(p=0.3)
in_E.w = "(4 + 4*rand()) * mV"
in_I = brian2.Synapses(inputs, I, "w : volt", on_pre="I_post += w", name="in_I")
in_I.connect(p=0.3)
in_I.w = 6 * mV
I_E = brian2.Synapses(I, E, "w : volt", on_pre="I_post -= w", name="I_E")
I_E.connect()
I_E.w = 3 * mV
spikes_E, spikes_I = brian2.SpikeMonitor(E, name="spikes_E"), brian2.SpikeMonitor(I, name="spikes_I")
state_E = brian2.StateMonitor(E, "v", record=True, name="state_E")
net = brian2.Network(inputs, E, I, in_E, in_I, I_E, spikes_E, spikes_I, state_E)
net.store()

twin = biosnn.twin(net)          # compiled before Brian2 runs: same initial state
net.run(300 * ms)                # engine 1: Brian2
result = twin.run(300 * ms, record={"E": ["v"]})   # engine 2: PyTorch
print(dict(twin.named_parameters()).keys())
"""),
    md("## Spike for spike"),
    code("""
from matplotlib.figure import Figure

fig = Figure(figsize=(12, 3.4), layout="constrained")
left, right = fig.subplots(1, 2, sharey=True)
plot.raster({"E": spikes_E, "I": spikes_I}, ax=left)
left.set_title("Brian2")
plot.raster({g: result.spikes[g][0] for g in ("E", "I")}, ax=right)
right.set_title("twin (PyTorch)")
fig
"""),
    code("""
fig = Figure(figsize=(12, 3.0), layout="constrained")
left, right = fig.subplots(1, 2, sharey=True)
plot.membrane_traces(state_E, neurons=[0, 1], threshold=-55 * mV, ax=left)
left.set_title("Brian2 StateMonitor")
plot.membrane_traces(result, group="E", neurons=[0, 1], unit=mV, threshold=-55 * mV, ax=right)
right.set_title("twin record")
fig
"""),
    code("""
same_spikes = all(
    np.array_equal(np.asarray(mon.i[:]), result.spikes[g][0][0])
    and np.allclose(np.asarray(mon.t[:] / second), np.asarray(result.spikes[g][0][1] / second))
    for g, mon in (("E", spikes_E), ("I", spikes_I)))
v_gap = np.abs(result.states["E"]["v"][:, 0, :].detach().numpy().T - np.asarray(state_E.v[:] / brian2.volt)).max()
print(f"identical spikes: {same_spikes}; E: {spikes_E.num_spikes} spikes; largest voltage difference: {v_gap:.1e} V")
assert same_spikes and spikes_E.num_spikes > 50 and v_gap < 1e-9
"""),
    md("""
## A gradient through the circuit

The number of excitatory spikes is a sum of 0/1 spikes; its surrogate gradient with respect to every
synaptic weight comes from one `backward()`. Excitatory input weights should get positive gradients,
inhibitory weights (subtracted from the current) negative ones.
"""),
    code("""
n_spikes = result.spike_trains["E"].sum()
n_spikes.backward()
params = dict(twin.named_parameters())
grad_in = params["params.in_E__w"].grad.numpy() * 1e-3     # spikes per mV
grad_inh = params["params.I_E__w"].grad.numpy() * 1e-3
matrix = np.full((40, 16), np.nan)
matrix[np.asarray(in_E.i[:]), np.asarray(in_E.j[:])] = grad_in
GRADIENT = "d(E spike count) / dw (spikes/mV)"
fig = plot.weight_matrix(matrix, label=GRADIENT)
fig.axes[0].set_title("gradient of the E spike count, input -> E synapses")
fig
"""),
    code("""
fig = plot.weight_histogram(np.concatenate([grad_in, grad_inh]), bins=30, label=GRADIENT,
                            title=f"gradient distribution ({grad_in.size} input -> E, {grad_inh.size} I -> E synapses)")
fig
"""),
    md("Check the gradient in Brian2: move every input weight along its gradient and run again."),
    code("""
net.restore()
step = 0.5 * mV * grad_in / np.abs(grad_in).max()
in_E.w = in_E.w[:] + step
net.run(300 * ms)
print(f"E spikes: {result.spike_trains['E'].sum().item():.0f} before, {spikes_E.num_spikes} after the gradient step")
assert grad_in.mean() > 0 > grad_inh.mean()
assert spikes_E.num_spikes > result.spike_trains["E"].sum().item()
"""),
    md("""
## Poisson inputs, Brian2's random numbers, and many trials at once

A `PoissonGroup` draws random numbers. With `random="numpy"` the twin draws NumPy's numbers exactly as
Brian2's numpy target does, so after the same `brian2.seed(...)` a Poisson-driven recurrent circuit (with
refractoriness and a synaptic delay) spikes identically in both engines. Runs without gradients execute
Brian2's statements compiled into C loops over the tensors; `compiled_blocks()` says which blocks run that
way (random draws stay in tensor code). With `batch_size=32` one pass simulates 32 independent trials.
"""),
    code("""
import time

poisson = brian2.PoissonGroup(100, rates=30 * Hz, name="poisson")
P = brian2.NeuronGroup(200, eqs, threshold="v > -55*mV", reset="v = -65*mV", refractory=2 * ms,
                       method="exact", name="P")
P.v = -70 * mV
drive = brian2.Synapses(poisson, P, on_pre="I_post += 3*mV", name="drive")
drive.connect(p=0.3)
recurrent = brian2.Synapses(P, P, on_pre="I_post += 0.8*mV", delay=1.5 * ms, name="recurrent")
recurrent.connect(p=0.05)
spikes_P = brian2.SpikeMonitor(P, name="spikes_P")
net2 = brian2.Network(poisson, P, drive, recurrent, spikes_P)

twin2 = biosnn.twin(net2, random="numpy")
for block, how in twin2.compiled_blocks().items():
    print(f"{block:28s} {how}")
brian2.seed(7)
t0 = time.perf_counter()
net2.run(500 * ms)
brian_s = time.perf_counter() - t0
brian2.seed(7)
with torch.no_grad():
    t0 = time.perf_counter()
    res2 = twin2.run(500 * ms)
    twin_s = time.perf_counter() - t0
same = (np.array_equal(np.asarray(spikes_P.i[:]), res2.spikes["P"][0][0])
        and np.array_equal(np.asarray(spikes_P.t_[:]), np.asarray(res2.spikes["P"][0][1] / second)))
print(f"identical spikes: {same} ({spikes_P.num_spikes} spikes); "
      f"Brian2 (numpy target) {brian_s:.2f} s, twin {twin_s:.2f} s")
assert same and spikes_P.num_spikes > 500
"""),
    code("""
trials = biosnn.twin(net2, batch_size=32)   # the torch generator: 32 independent realisations
with torch.no_grad():
    t0 = time.perf_counter()
    many = trials.run(500 * ms)
    trials_s = time.perf_counter() - t0
rates = many.counts["P"].sum(dim=1).numpy() / (200 * 0.5)
print(f"32 trials in {trials_s:.2f} s; rate {rates.mean():.1f} +- {rates.std():.1f} Hz "
      f"(Brian2's run: {spikes_P.num_spikes / 100:.1f} Hz)")
fig = Figure(figsize=(6, 2.8), layout="constrained")
ax = fig.subplots()
ax.hist(rates, bins=12, color="0.5")
ax.axvline(spikes_P.num_spikes / 100, color="k", ls="--", label="Brian2 run")
ax.set_xlabel("population rate (Hz)")
ax.set_ylabel("trials")
ax.legend()
assert rates.std() > 0 and abs(rates.mean() - spikes_P.num_spikes / 100) < 4 * rates.std() + 1
fig
"""),
]

# ------------------------------------------------------------------------------------------ 5. EIHL

EIHL = [
    md("""
# 5. EIHL vs STBP vs local learning on digits

The same spiking MLP (64 inputs, 256 LIF hidden neurons, 10 outputs; Poisson-coded scikit-learn digits,
T = 12 steps, 20 epochs) trained three ways with the same budget (`biosnn.learning.run.train`, the network
and budget of `biosnn.demo.DEMO_CONFIG`):

* **STBP**: surrogate-gradient BPTT throughout;
* **EIHL** (ICLR 2024) with every EIHL setting at its default (`EIHLConfig()`, the controller's own): global
  STBP periods ("excitation", which also regrow synapses where the loss gradient is large) alternate with
  local periods ("inhibition": each synapse is depressed by its own STDP depression and removed under a
  threshold), switched by connectivity after every batch; a run always ends with a global period;
* **local**: additive STDP on the hidden layer, only the readout trained by gradients.

Each run writes its per-epoch metrics to `metrics.csv` in its run directory; `biosnn.plot.training_timeline`
reads that file.
"""),
    code(SETUP),
    code("""
import dataclasses
import tempfile
from pathlib import Path

import pandas as pd
import torch

from biosnn.demo import DEMO_CONFIG
from biosnn.learning.run import RunConfig, load_data, train

torch.set_num_threads(1)
EIHL_SETTINGS = ("a", "b", "x_growth", "tau_x", "granularity", "global_units", "max_local_units", "max_sparsity",
                 "final_global_units")  # RunConfig's defaults of these are EIHLConfig's
config = dataclasses.replace(DEMO_CONFIG, **{k: getattr(RunConfig(), k) for k in EIHL_SETTINGS})
data = load_data(config)
runs_dir = Path(tempfile.mkdtemp(prefix="biosnn_eihl_"))
runs = {m: train(dataclasses.replace(config, method=m), data=data, out_dir=runs_dir / m, plot=False)
        for m in ("eihl", "stbp", "local")}
final = pd.DataFrame({m: r.history[-1] for m, r in runs.items()}).T[["test_accuracy", "sparsity", "ei_balance"]]
final.astype(float).round(3)
"""),
    md("## The phase timeline of the EIHL run"),
    code("""
plot.training_timeline(runs_dir / "eihl")
"""),
    md("""
Every local period removes synapses (sparsity steps up) and costs some accuracy, which the following global
period wins back; the global period also re-creates synapses, so sparsity can fall. The E/I balance is the
total excitatory over inhibitory weight. Every switching decision, with its inputs, is in the run's
`decisions.csv`.
"""),
    code("""
from matplotlib.figure import Figure

fig = Figure(figsize=(11, 3.4), layout="constrained")
acc_ax, sp_ax = fig.subplots(1, 2)
for method, run in runs.items():
    h = pd.DataFrame(run.history)
    acc_ax.plot(h["epoch"], 100 * h["test_accuracy"], marker="o", ms=3, label=method)
    sp_ax.plot(h["epoch"], 100 * h["sparsity"], marker="o", ms=3, label=method)
acc_ax.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy")
sp_ax.set(xlabel="epoch", ylabel="sparsity (%)", title="sparsity (absent synapses)")
acc_ax.legend()
fig
"""),
    code("""
acc = final["test_accuracy"].astype(float)
sp = final["sparsity"].astype(float)
print(f"EIHL {100 * acc['eihl']:.1f} % at {100 * sp['eihl']:.0f} % sparsity; STBP {100 * acc['stbp']:.1f} %; "
      f"local {100 * acc['local']:.1f} %")
phases = pd.read_csv(runs_dir / "eihl" / "metrics.csv")["phase"]
assert phases.str.contains("local").any() and phases.iloc[-1] == "global"  # EIHL alternated, ended global
assert sp["eihl"] > 0.15 and sp["stbp"] == 0 and sp["local"] == 0
assert acc["eihl"] > acc["stbp"] - 0.02  # measured: 96.4 vs 96.9 % at 20 % sparsity
assert acc["local"] < acc["stbp"]                              # local learning alone falls behind
"""),
    md(
        "The runs were written to a temporary folder (checkpoints, metrics, the phase timeline); keep it to look "
        "further, or remove it:"
    ),
    code("""
import shutil

shutil.rmtree(runs_dir)
"""),
]

# -------------------------------------------------------------------------------------- 6. ablation

ABLATION = [
    md("""
# 6. A plasticity ablation: one circuit, four rules, a parameter grid

The same small circuit (100 Poisson inputs onto two conductance-based LIF neurons, the set-up of Song et
al. 2000 in miniature: `biosnn.ablation.EXPERIMENTS["plastic_population"]`) under four plasticity rules,
at two input rates, with two seeds each: 16 independent runs. `biosnn.ablation.sweep` sends them to the
local cores (a process pool) and returns one table row per run; giving `scheduler="tcp://host:8786"`
instead sends the very same sweep to a Dask cluster.
"""),
    code(SETUP),
    code("""
from biosnn.ablation import sweep

rules = ["stdp_additive", "stdp_multiplicative", "stdp_triplet", "synaptic_scaling"]
result = sweep(
    "plastic_population",
    rules=rules,
    parameters={"input_rate": [10, 40] * Hz},
    seeds=[0, 1],
    fixed={"n_inputs": 100, "g_max": 0.05, "duration": 0.5 * second},
    max_workers=2,
)
result.table.drop(columns=["engine"]).round(3)
"""),
    md("Mean and spread over the two seeds, per rule and input rate:"),
    code("""
result.summary(["rate_hz", "w_mean", "w_std"]).round(3)
"""),
    code("""
result.plot("rate_hz")
"""),
    code("""
result.plot("w_mean")
"""),
    md("""
The final weights of every run, side by side (rows: rules; columns: input rates; the two seeds pooled):
"""),
    code("""
result.plot_artifacts("weights", xlabel="w / w_max")
"""),
    code("""
# what the figures show, checked
table = result.table
assert len(table) == 4 * 2 * 2 and set(table["rule"]) == set(rules)
for rule in rules:
    rate = table[table["rule"] == rule].groupby("input_rate")["rate_hz"].mean()
    assert rate[40.0] > rate[10.0], rule          # more input drive, more output spikes, under every rule
    moved = [np.abs(result.artifacts[r]["weights"] - 0.5).mean() for r in table[table["rule"] == rule]["run"]]
    assert np.all(np.isfinite(moved))
assert table.groupby("rule")["w_mean"].mean().nunique() == 4  # the rules leave different weights
print(f"{len(table)} runs in {sum(result.timings):.0f} s of worker time")
"""),
]

# ------------------------------------------------------------------------------------- 7. the family

FAMILY = [
    md("""
# 7. EIHL's family on digits: LTMD, MLF, STMixer, SPIDE, EICIL against STBP and EIHL

Seven training methods of `biosnn.learning.run` (the code `biosnn train --method ...` runs), the same
scikit-learn digits, the same budget (3 epochs of 16 batches of 64, T = 4 direct-coded steps, Adam), one seed:

* **stbp** / **eihl**: biosnn's spiking MLP (hidden 64, LIF); EIHL with one global epoch, at most one local
  epoch, then a final global one;
* **ltmd** (NeurIPS 2022): learnable thresholds, moderate dropout, two-sample loss;
* **mlf** (IJCAI 2022): multi-level firing neurons in a spiking DS-ResNet (1/8 of the paper's widths);
* **stmixer** (NeurIPS 2024): spiking token mixer with surrogate module learning (1/8 width; its learning
  rate 1e-2, the others 3e-3: at 3e-3 it is still near chance after this budget);
* **spide** (Neural Networks 2023): a feedback SNN trained by implicit differentiation with spikes only
  (its own 30 forward and 250 backward steps);
* **eicil** (NeurIPS 2023): *biosnn's reading* (its equations are not public): neurons with an excitatory
  and an inhibitory threshold, ternary spikes, one epoch per phase.

The full comparison (3 seeds, digits and Breiman's waveforms, every method's ablation) is
`bench/family_digits.py`.
"""),
    code("""
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch

from biosnn.data.encoders import direct
from biosnn.learning.family import SpikeCounter
from biosnn.learning.run import RunConfig, load_data, train

torch.set_num_threads(1)
base = dict(dataset="digits", epochs=3, batch_size=64, seed=0, steps=4, lr=3e-3, max_batches=16)
configs = {
    "stbp": RunConfig(method="stbp", hidden=(64,), **base),
    "eihl": RunConfig(
        method="eihl",
        hidden=(64,),
        granularity="epoch",
        global_units=1,
        max_local_units=1,
        final_global_units=1,
        **base,
    ),
    "ltmd": RunConfig(method="ltmd", hidden=(64,), **base),
    "mlf": RunConfig(method="mlf", width=0.125, **base),
    "stmixer": RunConfig(method="stmixer", width=0.125, **{**base, "lr": 1e-2}),
    "spide": RunConfig(method="spide", hidden=(64,), **{**base, "steps": 30}),
    "eicil": RunConfig(method="eicil", hidden=(64,), **base),
}
data = load_data(configs["stbp"])
x_test = torch.stack([data.test[i][0] for i in range(len(data.test))])


def spikes_per_sample(result):
    model = result.model.eval()
    steps = 1 if result.config.method == "spide" else result.config.steps  # SPIDE runs its own 30 steps
    with torch.no_grad(), SpikeCounter(model) as counter:
        model(direct(x_test, steps=steps))
        counter.add_samples(len(x_test))
    return counter.per_sample


rows = {}
for name, config in configs.items():
    t0 = time.perf_counter()
    result = train(config, data=data, plot=False)
    rows[name] = {"model": config.model, "neuron": config.neuron, "test_accuracy": result.final["test_accuracy"],
                  "spikes_per_sample": spikes_per_sample(result), "sparsity": result.final["sparsity"],
                  "seconds": time.perf_counter() - t0}
table = pd.DataFrame(rows).T
print(table.to_string())
table
"""),
    md("""
## Accuracy and spikes

EIHL here is the negative result of notebook 5 again: its local epoch prunes about 10 % of the synapses
and one final global epoch does not recover the accuracy (about 39 % against STBP's 90 % on this machine);
with more epochs the gap narrows (`bench/family_digits.py`).

Spikes per test sample count every spiking population (LTMD's graded output layers emit membrane values
and are not counted; EICIL's inhibitory spikes count as spikes; SPIDE's figure covers its 30 forward steps,
the others' their 4).
"""),
    code("""
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.bar(table.index, 100 * table["test_accuracy"].astype(float), color="tab:blue")
ax1.axhline(10, color="grey", ls="--", lw=1, label="chance")
ax1.set_ylabel("test accuracy (%)")
ax1.legend()
ax2.bar(table.index, table["spikes_per_sample"].astype(float), color="tab:orange")
ax2.set_yscale("log")
ax2.set_ylabel("spikes per test sample")
for ax in (ax1, ax2):
    ax.tick_params(axis="x", rotation=45)
fig.tight_layout()
"""),
    code("""
# what the table shows, checked
assert list(table.columns) == ["model", "neuron", "test_accuracy", "spikes_per_sample", "sparsity", "seconds"]
assert list(table.index) == ["stbp", "eihl", "ltmd", "mlf", "stmixer", "spide", "eicil"]
acc = table["test_accuracy"].astype(float)
assert (acc > 0.3).all(), acc          # every method well above chance (10 %) after 48 iterations
assert (table["spikes_per_sample"].astype(float) > 0).all()
assert table.loc["eihl", "sparsity"] > 0 and table.loc["stbp", "sparsity"] == 0  # only EIHL removes synapses
assert table.loc["ltmd", "model"] == "ltmd_mlp" and table.loc["eicil", "neuron"] == "eicil_ei"
print(acc.round(3).to_dict())
"""),
]

NOTEBOOKS = {
    "01_plasticity_zoo.ipynb": ZOO,
    "02_song2000_bimodal.ipynb": SONG,
    "03_vogels2011_balance.ipynb": VOGELS,
    "04_one_model_two_engines.ipynb": TWIN,
    "05_eihl_digits.ipynb": EIHL,
    "06_plasticity_ablation.ipynb": ABLATION,
    "07_family_digits.ipynb": FAMILY,
}


def build(names: list[str] | None = None) -> list[Path]:
    """Write the notebooks (all, or those named) and return their paths."""
    out = []
    for name, cells in NOTEBOOKS.items():
        if names and name not in names:
            continue
        for i, cell in enumerate(cells):  # stable ids: rebuilding changes only the cells that changed
            cell["id"] = hashlib.sha1(f"{name}:{i}:{cell['source']}".encode()).hexdigest()[:8]
        nb = new_notebook(
            cells=cells,
            metadata={
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                "language_info": {"name": "python"},
            },
        )
        path = HERE / name
        nbformat.write(nb, path)
        out.append(path)
    return out


if __name__ == "__main__":
    for p in build(sys.argv[1:] or None):
        print(p)
