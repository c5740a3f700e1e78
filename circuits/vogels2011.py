r"""Inhibitory plasticity restores the balance of excitation and inhibition (Vogels et al. 2011).

Vogels TP, Sprekeler H, Zenke F, Clopath C, Gerstner W (2011) Inhibitory plasticity balances excitation
and inhibition in sensory pathways and memory networks. Science 334:1569-1573 (recurrent network of
Fig. 4, without the memory assemblies; parameters as in the Brian2 reproduction of the paper).

:math:`N_E = 8000` excitatory and :math:`N_I = 2000` inhibitory conductance-based integrate-and-fire
neurons, every ordered pair connected with probability :math:`\epsilon = 0.02`:

.. math::

    C \dot V = -g_L (V - E_L) - g_{ampa} (V - E_{ex}) - g_{gaba} (V - E_{inh}) + I_{bg}, \qquad
    \tau_{ampa} \dot g_{ampa} = -g_{ampa}, \qquad \tau_{gaba} \dot g_{gaba} = -g_{gaba}

with :math:`C = 200` pF, :math:`g_L = 10` nS, :math:`E_L = -60` mV, :math:`E_{ex} = 0` mV,
:math:`E_{inh} = -80` mV, threshold -50 mV, reset to :math:`E_L`, refractory 5 ms,
:math:`\tau_{ampa} = 5` ms, :math:`\tau_{gaba} = 10` ms, background current :math:`I_{bg} = 200` pA.
Excitatory synapses (E->E, E->I) add 0.3 nS, I->I synapses 3 nS; the I->E synapses add :math:`w` nS,
and :math:`w` follows the symmetric inhibitory STDP rule (``biosnn.plasticity`` rule ``"istdp_vogels"``)

.. math::

    \Delta w = \eta\,(x_{post} - \alpha) \text{ at a presynaptic spike}, \qquad
    \Delta w = \eta\, x_{pre} \text{ at a postsynaptic spike}, \qquad \alpha = 2 \rho_0 \tau_{STDP},

which drives every excitatory neuron's rate to the target :math:`\rho_0 = 3` Hz. Inhibitory weights start
at (almost) zero, so the network first fires far above :math:`\rho_0`; as :math:`w` grows, inhibition comes
to cancel excitation ("balance") and the rate settles at :math:`\rho_0`.

Learning is switched on and off with :func:`set_learning_rate` (the paper's protocol: a first period
without plasticity, then plasticity on).

The learning rate of the paper-size network is :math:`\eta = 0.01` with :math:`w` in nS, the value of
Brian2's reproduction (``examples/frompapers/Vogels_et_al_2011.py``: 1 s without plasticity, then 9 s
with it); the paper's own :math:`\eta` is stated in its units and was not checked against this one.

What was measured at those settings (``vogels2011(n_record=50, seed=1)``: 8000 E, 2000 I,
:math:`\epsilon = 0.02`; 1 s without plasticity, then :math:`\eta = 0.01`; Brian2 Cython target; rates of
the E population over 1 s windows; balance :math:`-\langle I_{inh}\rangle / \langle I_{exc}\rangle` of
the 50 recorded E neurons; the 1 s column is before learning, over [0.5, 1) s):

======================== ====== ====== ====== ====== ====== ====== ======
time (s)                 1      2      3      6      10     20     30
E rate (Hz)              166.6  71.8   16.7   10.0   8.2    6.3    5.9
balance                  0.00   0.42   0.74   0.76   0.76   0.77   0.78
======================== ====== ====== ====== ====== ====== ====== ======

Inhibition tames the runaway excitation within 2 s and balances it, but the last approach to
:math:`\rho_0` is slow: each step of :math:`w` is :math:`\eta` times the trace difference, and with
:math:`\eta = 0.01` the rate is still 5.9 Hz (about twice :math:`\rho_0`, falling by about 0.04 Hz/s)
after 29 s of learning, so the paper's :math:`\rho_0` = 3 Hz (:data:`PAPER_FIGURES`) is not met within the
10 s of Brian2's reproduction (8.2 Hz) nor the 30 s measured here. The reduced network of the default test
(500 neurons, :math:`\eta = 0.2`) reaches it in seconds.
"""

from __future__ import annotations

from typing import Any

import brian2
import numpy as np
from biosnn.circuits.base import (
    Circuit,
    PaperFigure,
    check_count,
    check_dt,
    check_number,
    check_positive_quantity,
    check_probability,
    check_seed,
    random_pairs,
)
from brian2 import Hz, ms, mV, nS, pA, pF
from brian2.units.fundamentalunits import Quantity

from biosnn.errors import ParameterError
from biosnn.units import check_quantity

__all__ = ["PAPER_FIGURES", "vogels2011", "set_learning_rate", "synaptic_currents"]

#: What Vogels et al. (2011) report for the recurrent network with inhibitory plasticity: the E neurons'
#: rate settles at the target rho0 (the fixed point of the rule, alpha = 2 rho0 tau_STDP; accepted: +-1 Hz)
#: and inhibition comes to cancel excitation (shown, not judged: the cancellation is never exact, the leak
#: takes the rest).
PAPER_FIGURES: dict[str, PaperFigure] = {
    "rate": PaperFigure(
        "mean E rate after learning",
        3.0,
        "Vogels et al. 2011, recurrent network (target rate rho0 of the iSTDP rule)",
        "Hz",
        low=2.0,
        high=4.0,
    ),
    "balance": PaperFigure(
        "-<I_inh> / <I_exc> after learning",
        "inhibition cancels excitation (balance)",
        "Vogels et al. 2011 (the title result)",
    ),
}

_EQS = """
dv/dt = (-g_leak * (v - v_rest) - g_ampa * (v - e_exc) - g_gaba * (v - e_inh) + i_bg) / c_m : volt (unless refractory)
dg_ampa/dt = -g_ampa / tau_ampa : siemens
dg_gaba/dt = -g_gaba / tau_gaba : siemens
"""


def vogels2011(
    *,
    n_exc: int = 8000,
    n_inh: int = 2000,
    epsilon: float = 0.02,
    c_m: Quantity = 200 * pF,
    g_leak: Quantity = 10 * nS,
    v_rest: Quantity = -60 * mV,
    e_exc: Quantity = 0 * mV,
    e_inh: Quantity = -80 * mV,
    v_threshold: Quantity = -50 * mV,
    refractory: Quantity = 5 * ms,
    tau_ampa: Quantity = 5 * ms,
    tau_gaba: Quantity = 10 * ms,
    i_bg: Quantity = 200 * pA,
    g_exc: Quantity = 0.3 * nS,
    g_ii: Quantity = 3 * nS,
    g_ie_unit: Quantity = 1 * nS,
    w_init: float = 1e-10,
    w_max: float = 100.0,
    eta: float = 0.0,
    rho0: Quantity = 3 * Hz,
    tau_stdp: Quantity = 20 * ms,
    n_record: int = 50,
    record_dt: Quantity = 1 * ms,
    dt: Quantity = 0.1 * ms,
    seed: int | None = 0,
) -> Circuit:
    """Vogels et al. (2011) recurrent E/I network with inhibitory STDP on I->E (module docstring).

    Parameters
    ----------
    n_exc, n_inh
        Population sizes (8000, 2000).
    epsilon
        Connection probability of every ordered pair (0.02). Reduced networks keep the in-degree by
        raising it (``n_exc=1600, n_inh=400, epsilon=0.1``).
    c_m, g_leak, v_rest, e_exc, e_inh, v_threshold, refractory, tau_ampa, tau_gaba, i_bg
        Neuron constants.
    g_exc, g_ii
        Conductance jumps of the fixed E->E, E->I and I->I synapses.
    g_ie_unit
        The conductance of one unit of the plastic I->E weight ``w`` (1 nS).
    w_init, w_max
        Initial and maximal plastic weight (units of ``g_ie_unit``).
    eta
        Learning rate at build time; 0 means plasticity off (change it with :func:`set_learning_rate`).
    rho0, tau_stdp
        Target rate and trace time constant of the iSTDP rule.
    n_record
        Number of E neurons whose ``v``, ``g_ampa``, ``g_gaba`` are recorded (monitor ``state_E``).
    record_dt
        Sampling interval of ``state_E``.
    dt
        Time step of every object.
    seed
        Seeds the wiring and initial potentials (NumPy generator) and the run-time generator.

    Returns
    -------
    Circuit
        Populations ``E``, ``I``; projections ``EE``, ``EI``, ``II`` (fixed) and ``IE`` (plastic, weight
        ``w``); monitors ``spikes_E``, ``spikes_I``, ``state_E`` (when ``n_record > 0``).
    """
    parameters = dict(locals())
    n_exc, n_inh = check_count("n_exc", n_exc), check_count("n_inh", n_inh)
    epsilon = check_probability("epsilon", epsilon)
    check_positive_quantity("c_m", c_m, pF)
    check_positive_quantity("g_leak", g_leak, nS)
    for key in ("v_rest", "e_exc", "e_inh", "v_threshold"):
        check_quantity(key, parameters[key], mV)
    if not v_rest < v_threshold:
        raise ParameterError(f"parameter 'v_rest' ({v_rest}) must lie below 'v_threshold' ({v_threshold})")
    for key in ("refractory", "tau_ampa", "tau_gaba", "tau_stdp", "record_dt"):
        check_positive_quantity(key, parameters[key], ms)
    check_quantity("i_bg", i_bg, pA)
    for key in ("g_exc", "g_ii", "g_ie_unit"):
        check_positive_quantity(key, parameters[key], nS, allow_zero=key != "g_ie_unit")
    w_max = check_number("w_max", w_max, low=0.0, low_inclusive=False)
    w_init = check_number("w_init", w_init, low=0.0, high=w_max)
    eta = check_number("eta", eta, low=0.0)
    check_positive_quantity("rho0", rho0, Hz)
    n_record = check_count("n_record", n_record, low=0)
    if n_record > n_exc:
        raise ParameterError(f"parameter 'n_record' ({n_record}) exceeds 'n_exc' ({n_exc})")
    dt = check_dt(dt)
    if record_dt < dt:
        raise ParameterError(f"parameter 'record_dt' ({record_dt}) is shorter than 'dt' ({dt})")
    seed = check_seed(seed)

    from biosnn.plasticity import RULES

    rule = RULES["istdp_vogels"](eta=eta, rho0=rho0, tau=tau_stdp, w_min=0.0, w_max=w_max)
    rng = np.random.default_rng(seed)
    namespace = dict(
        c_m=c_m,
        g_leak=g_leak,
        v_rest=v_rest,
        e_exc=e_exc,
        e_inh=e_inh,
        v_threshold=v_threshold,
        tau_ampa=tau_ampa,
        tau_gaba=tau_gaba,
        i_bg=i_bg,
        g_exc=g_exc,
        g_ii=g_ii,
    )

    groups = {}
    for role, n in (("E", n_exc), ("I", n_inh)):
        grp = brian2.NeuronGroup(
            n,
            _EQS,
            threshold="v > v_threshold",
            reset="v = v_rest",
            refractory=refractory,
            method="euler",
            dt=dt,
            name=f"vogels_{role}*",
        )
        grp.v = v_rest + rng.random(n) * (v_threshold - v_rest)
        groups[role] = grp
    exc, inh = groups["E"], groups["I"]

    projections: dict[str, brian2.Synapses] = {}
    for key, src, tgt, effect in (
        ("EE", exc, exc, "g_ampa_post += g_exc"),
        ("EI", exc, inh, "g_ampa_post += g_exc"),
        ("II", inh, inh, "g_gaba_post += g_ii"),
    ):
        syn = brian2.Synapses(src, tgt, on_pre=effect, dt=dt, name=f"vogels_{key}*")
        i, j = random_pairs(rng, len(src), len(tgt), epsilon, autapses=src is not tgt)
        syn.connect(i=i, j=j)
        projections[key] = syn
    plastic = rule.synapses(
        inh, exc, effect="g_gaba_post += w * g_ie_unit", name="vogels_IE*", dt=dt, namespace={"g_ie_unit": g_ie_unit}
    )
    i, j = random_pairs(rng, n_inh, n_exc, epsilon)
    plastic.connect(i=i, j=j)
    plastic.w = w_init
    projections["IE"] = plastic

    monitors: dict[str, Any] = {
        "spikes_E": brian2.SpikeMonitor(exc, name="vogels_spikes_E*"),
        "spikes_I": brian2.SpikeMonitor(inh, name="vogels_spikes_I*"),
    }
    if n_record:
        monitors["state_E"] = brian2.StateMonitor(
            exc, ["v", "g_ampa", "g_gaba"], record=np.arange(n_record), dt=record_dt, name="vogels_state_E*"
        )
    network = brian2.Network(exc, inh, *projections.values(), *monitors.values(), name="vogels_network*")
    return Circuit(
        name="vogels2011",
        network=network,
        populations=groups,
        projections=projections,
        monitors=monitors,
        parameters=parameters,
        namespace=namespace,
        seed=seed,
    )


def set_learning_rate(circuit: Circuit, eta: float) -> None:
    """Set the iSTDP learning rate of a :func:`vogels2011` circuit for the following runs (0 = off)."""
    if circuit.name != "vogels2011":
        raise ParameterError(f"set_learning_rate needs a 'vogels2011' circuit, got {circuit.name!r}")
    value = check_number("eta", eta, low=0.0)
    syn = circuit.projections["IE"]
    syn.namespace[syn.plasticity_names["eta"]] = value


def synaptic_currents(circuit: Circuit, *, start: Quantity | None = None) -> tuple[Quantity, Quantity]:
    r"""Excitatory and inhibitory input currents of the recorded E neurons (from ``state_E``).

    :math:`I_{exc} = -g_{ampa}(V - E_{ex}) + I_{bg}` (the background drive counts as excitation) and
    :math:`I_{inh} = -g_{gaba}(V - E_{inh})`, arrays of shape ``(n_record, n_samples)`` in amperes, from
    ``start`` on.
    """
    if "state_E" not in circuit.monitors:
        raise ParameterError("the circuit records no state (built with n_record=0)")
    mon = circuit.monitors["state_E"]
    ns = circuit.namespace
    keep = slice(None) if start is None else np.asarray(mon.t / ms) >= float(check_quantity("start", start, ms) / ms)
    v, ga, gg = mon.v[:, keep], mon.g_ampa[:, keep], mon.g_gaba[:, keep]
    i_exc = -ga * (v - ns["e_exc"]) + ns["i_bg"]
    i_inh = -gg * (v - ns["e_inh"])
    return i_exc, i_inh
