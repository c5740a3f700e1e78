r"""Competitive Hebbian learning with pair STDP: many Poisson inputs onto one neuron (Song et al. 2000).

Song S, Miller KD, Abbott LF (2000) Competitive Hebbian learning through spike-timing-dependent synaptic
plasticity. Nat Neurosci 3:919-926 (Fig. 1 and 2).

One conductance-based integrate-and-fire neuron,

.. math::

    \tau_m \dot V = V_{rest} - V + g_{ex} (E_{ex} - V) + g_{in} (E_{in} - V), \qquad
    \tau_{ex} \dot g_{ex} = -g_{ex}, \qquad \tau_{in} \dot g_{in} = -g_{in}

(conductances in units of the leak conductance), with :math:`\tau_m = 20` ms, :math:`V_{rest} = -70` mV,
:math:`E_{ex} = 0` mV, :math:`E_{in} = -70` mV, threshold -54 mV, reset -60 mV,
:math:`\tau_{ex} = \tau_{in} = 5` ms. It receives :math:`N_{ex} = 1000` excitatory Poisson inputs at 10 Hz
whose peak conductances :math:`g_a \in [0, \bar g_{max}]`, :math:`\bar g_{max} = 0.015`, follow additive
pair STDP (``biosnn.plasticity`` rule ``"stdp_additive"``):

.. math::

    \Delta g_a = \bar g_{max} A_+ e^{-\Delta t/\tau_+} \ (\Delta t > 0), \qquad
    \Delta g_a = -\bar g_{max} A_- e^{\Delta t/\tau_-} \ (\Delta t < 0),

:math:`A_+ = 0.005`, :math:`A_-/A_+ = 1.05`, :math:`\tau_\pm = 20` ms, all-to-all pairing, hard bounds.
200 inhibitory Poisson inputs at 10 Hz with fixed conductance 0.05 complete the input.

The paper's results (:data:`PAPER_FIGURES`): the steady-state weight distribution is bimodal (most
synapses near 0 or near :math:`\bar g_{max}`), and the output rate is stabilised (it depends only weakly on
the input rate).

What was measured at the paper's own settings (``song2000(seed=0)``, every default above, dt = 0.1 ms,
run for 5000 s on Brian2's C++ standalone device, :func:`~biosnn.circuits.base.run_standalone`; fractions
of the 1000 weights within 10 % of 0 / of :math:`\bar g_{max}` / in 0.3-0.7 :math:`\bar g_{max}`):

========== ====== ====== ====== ====== ====== ====== ====== ====== ======
time (s)   0      100    300    600    800    1000   1500   2000   3000-5000
near 0     0.09   0.10   0.14   0.21   0.24   0.27   0.30   0.33   0.33-0.36
near max   0.10   0.15   0.23   0.30   0.34   0.35   0.40   0.41   0.42-0.45
middle     0.40   0.38   0.31   0.23   0.17   0.14   0.08   0.05   0.02-0.04
========== ====== ====== ====== ====== ====== ====== ====== ====== ======

The split is the paper's; it is slow. With :math:`A_+ = 0.005\,\bar g_{max}` and 10 Hz inputs (output
5 Hz at the start, 12.7 Hz on average over the 5000 s) the distribution meets the bimodal criteria of
:data:`PAPER_FIGURES` from about 700 s on and stops changing after about 2500 s (ends 0.79, middle
0.02-0.03). "Not split after 600 s" was a true measurement but the wrong expectation: at 600 s the run
is a quarter of the way there. Brian2's ``examples/synapses/STDP.py``, "bimodal after 100 s", is not the
paper's model (:data:`BRIAN2_EXAMPLE`: twice the :math:`A_+`, 15 Hz inputs, :math:`\tau_m` = 10 ms,
:math:`E_L` = -74 mV, a linearised synaptic current, no inhibition, output about 25 Hz); the drift of
additive STDP scales with :math:`A_+ r_{pre} r_{post}`, so it learns several times faster. By the same
fractions it is at an early stage after 100 s too: run verbatim (seed 0) it ends with 0.29 / 0.17 / 0.20,
and this circuit at its settings with 0.23 / 0.17 / 0.25 (Cython target), the stage the paper's
settings reach after 500-600 s.
Nothing in the circuit or the rule had to change (both follow the paper; the rule's update order and
all-to-all pairing are the example's).
"""

from __future__ import annotations

import brian2
import numpy as np
from biosnn.circuits.base import (
    Circuit,
    PaperFigure,
    check_count,
    check_dt,
    check_number,
    check_positive_quantity,
    check_seed,
)
from brian2 import Hz, ms, mV
from brian2.units.fundamentalunits import Quantity

from biosnn.errors import ParameterError
from biosnn.units import check_quantity

__all__ = ["BRIAN2_EXAMPLE", "PAPER_FIGURES", "song2000", "weight_statistics"]

#: What Song, Miller & Abbott (2000) report for 1000 excitatory Poisson inputs at 10 Hz: a bimodal steady
#: state, most synapses near 0 or near g_max and few in between, with the output rate stabilised. The paper
#: gives the histogram, not fractions; the accepted intervals are this library's reading of "bimodal":
#: at least half of the synapses within 10 % of a bound (uniform weights: 20 %), at most 20 % in the
#: middle 0.3-0.7 g_max (uniform: 40 %), and at least 15 % within 10 % of each bound (uniform: 10 %).
PAPER_FIGURES: dict[str, PaperFigure] = {
    "ends": PaperFigure(
        "fraction within 10 % of 0 or of g_max",
        "most synapses (bimodal)",
        "Song et al. 2000, Fig. 2 (steady state at 10 Hz inputs)",
        low=0.5,
    ),
    "low": PaperFigure("fraction within 10 % of 0", "a large fraction", "Song et al. 2000, Fig. 2", low=0.15),
    "high": PaperFigure("fraction within 10 % of g_max", "a large fraction", "Song et al. 2000, Fig. 2", low=0.15),
    "middle": PaperFigure("fraction in 0.3-0.7 g_max", "few", "Song et al. 2000, Fig. 2", high=0.2),
    "rate": PaperFigure(
        "output rate at the end", "stabilised, weakly dependent on the input rate", "Song et al. 2000, Fig. 2", "Hz"
    ),
}

#: The settings of Brian2's version of this experiment (``examples/synapses/STDP.py``, "adapted from Song,
#: Miller and Abbott (2000)"), as keyword arguments of :func:`song2000`. That example also linearises the
#: synaptic current (``ge * (Ee - vr)``), which this circuit does not.
BRIAN2_EXAMPLE: dict = dict(
    n_inh_inputs=0, input_rate=15 * Hz, g_max=0.01, a_plus=0.01, a_ratio=1.05, tau_m=10 * ms, v_rest=-74 * mV
)

_EQS = """
dv/dt = (v_rest - v + ge * (e_exc - v) + gi * (e_inh - v)) / tau_m : volt
dge/dt = -ge / tau_e : 1
dgi/dt = -gi / tau_i : 1
"""


def song2000(
    *,
    n_inputs: int = 1000,
    n_inh_inputs: int = 200,
    input_rate: Quantity = 10 * Hz,
    inh_rate: Quantity = 10 * Hz,
    g_max: float = 0.015,
    g_inh: float = 0.05,
    a_plus: float = 0.005,
    a_ratio: float = 1.05,
    tau_plus: Quantity = 20 * ms,
    tau_minus: Quantity = 20 * ms,
    tau_m: Quantity = 20 * ms,
    tau_e: Quantity = 5 * ms,
    tau_i: Quantity = 5 * ms,
    v_rest: Quantity = -70 * mV,
    e_exc: Quantity = 0 * mV,
    e_inh: Quantity = -70 * mV,
    v_threshold: Quantity = -54 * mV,
    v_reset: Quantity = -60 * mV,
    w_init: str = "uniform",
    dt: Quantity = 0.1 * ms,
    seed: int | None = 0,
) -> Circuit:
    """Song, Miller & Abbott (2000): Poisson inputs with additive STDP onto one neuron (module docstring).

    Parameters
    ----------
    n_inputs, n_inh_inputs
        Numbers of plastic excitatory and fixed inhibitory Poisson inputs (1000, 200).
    input_rate, inh_rate
        Their rates (10 Hz each).
    g_max
        Upper bound of the excitatory peak conductance, in units of the leak conductance (0.015).
    g_inh
        Fixed inhibitory peak conductance (0.05).
    a_plus, a_ratio
        Potentiation amplitude as a fraction of ``g_max`` (0.005) and ``A_- / A_+`` (1.05).
    tau_plus, tau_minus
        STDP window time constants.
    tau_m, tau_e, tau_i, v_rest, e_exc, e_inh, v_threshold, v_reset
        Neuron and synapse constants.
    w_init
        ``"uniform"``: initial weights uniform in [0, g_max] (the paper); ``"max"``: all at g_max.
    dt
        Time step of every object.
    seed
        Seeds the initial weights (NumPy generator) and the run-time generator (Poisson inputs).

    Returns
    -------
    Circuit
        Populations ``input`` (PoissonGroup), ``input_inh`` (PoissonGroup), ``output`` (one neuron);
        projections ``input_output`` (plastic, weight ``w``, built by the ``"stdp_additive"`` rule; the
        rule object is ``projections["input_output"].plasticity_rule``) and ``input_inh_output``;
        monitor ``spikes_output``.
    """
    parameters = dict(locals())
    n_inputs = check_count("n_inputs", n_inputs)
    n_inh_inputs = check_count("n_inh_inputs", n_inh_inputs, low=0)
    check_positive_quantity("input_rate", input_rate, Hz, allow_zero=True)
    check_positive_quantity("inh_rate", inh_rate, Hz, allow_zero=True)
    g_max = check_number("g_max", g_max, low=0.0, low_inclusive=False)
    g_inh = check_number("g_inh", g_inh, low=0.0)
    a_plus = check_number("a_plus", a_plus, low=0.0, high=1.0)
    a_ratio = check_number("a_ratio", a_ratio, low=0.0)
    for key in ("tau_plus", "tau_minus", "tau_m", "tau_e", "tau_i"):
        check_positive_quantity(key, parameters[key], ms)
    for key in ("v_rest", "e_exc", "e_inh", "v_threshold", "v_reset"):
        check_quantity(key, parameters[key], mV)
    if not v_reset < v_threshold:
        raise ParameterError(f"parameter 'v_reset' ({v_reset}) must lie below 'v_threshold' ({v_threshold})")
    if w_init not in ("uniform", "max"):
        raise ParameterError(f"parameter 'w_init' must be 'uniform' or 'max', got {w_init!r}")
    dt = check_dt(dt)
    seed = check_seed(seed)

    from biosnn.plasticity import RULES

    rule = RULES["stdp_additive"](
        A_plus=a_plus * g_max,
        A_minus=a_ratio * a_plus * g_max,
        tau_plus=tau_plus,
        tau_minus=tau_minus,
        w_min=0.0,
        w_max=g_max,
        pairing="all_to_all",
    )
    rng = np.random.default_rng(seed)
    namespace = dict(
        tau_m=tau_m,
        tau_e=tau_e,
        tau_i=tau_i,
        v_rest=v_rest,
        e_exc=e_exc,
        e_inh=e_inh,
        v_threshold=v_threshold,
        v_reset=v_reset,
        g_inh=g_inh,
    )

    output = brian2.NeuronGroup(
        1, _EQS, threshold="v > v_threshold", reset="v = v_reset", method="euler", dt=dt, name="song_output*"
    )
    output.v = v_rest
    inputs = brian2.PoissonGroup(n_inputs, rates=input_rate, dt=dt, name="song_input*")
    plastic = rule.synapses(inputs, output, effect="ge_post += w", name="song_input_output*", dt=dt)
    plastic.connect(i=np.arange(n_inputs), j=np.zeros(n_inputs, dtype=int))
    plastic.w = rng.uniform(0.0, g_max, n_inputs) if w_init == "uniform" else np.full(n_inputs, g_max)

    populations = {"input": inputs, "output": output}
    projections = {"input_output": plastic}
    objects = [inputs, output, plastic]
    if n_inh_inputs:
        # order=1: the inhibitory inputs draw their random numbers after the excitatory ones whatever names
        # Brian2 gives the groups (it runs a slot's objects by order, then by name: "song_input_1" sorts
        # after "song_input_inh" when an older circuit holds the unnumbered names, which swapped the draws)
        inh = brian2.PoissonGroup(n_inh_inputs, rates=inh_rate, dt=dt, name="song_input_inh*", order=1)
        fixed = brian2.Synapses(inh, output, on_pre="gi_post += g_inh", dt=dt, name="song_input_inh_output*")
        fixed.connect(i=np.arange(n_inh_inputs), j=np.zeros(n_inh_inputs, dtype=int))
        populations["input_inh"] = inh
        projections["input_inh_output"] = fixed
        objects += [inh, fixed]
    monitors = {"spikes_output": brian2.SpikeMonitor(output, name="song_spikes_output*")}
    network = brian2.Network(*objects, *monitors.values(), name="song_network*")
    return Circuit(
        name="song2000",
        network=network,
        populations=populations,
        projections=projections,
        monitors=monitors,
        parameters=parameters,
        namespace=namespace,
        seed=seed,
    )


def weight_statistics(circuit: Circuit, *, last: Quantity = 10 * brian2.second) -> dict[str, float]:
    """The measured values of :data:`PAPER_FIGURES` for a :func:`song2000` circuit after a run.

    Fractions of the plastic weights within 10 % of 0 (``low``) and of ``g_max`` (``high``), their sum
    (``ends``), the fraction in 0.3-0.7 ``g_max`` (``middle``), and the output rate over the ``last``
    seconds of the run (``rate``, Hz).
    """
    if circuit.name != "song2000":
        raise ParameterError(f"weight_statistics needs a 'song2000' circuit, got {circuit.name!r}")
    window = float(check_positive_quantity("last", last, brian2.second) / brian2.second)
    x = np.asarray(circuit.projections["input_output"].w[:], dtype=float) / float(circuit.parameters["g_max"])
    low, high = float(np.mean(x <= 0.1)), float(np.mean(x >= 0.9))
    end = float(circuit.t / brian2.second)
    spikes = np.asarray(circuit.monitors["spikes_output"].t[:] / brian2.second)
    if end <= 0:
        rate = float("nan")
    else:
        window = min(window, end)
        rate = float(np.sum(spikes >= end - window) / window)
    return dict(low=low, high=high, ends=low + high, middle=float(np.mean((x > 0.3) & (x < 0.7))), rate=rate)
