r"""The sparse balanced network of Brunel (2000) with transmission delays, in its four regimes.

Brunel N (2000) Dynamics of sparsely connected networks of excitatory and inhibitory spiking neurons.
J Comput Neurosci 8:183-208 (model A: identical E and I neurons).

:math:`N_E` excitatory and :math:`N_I = N_E / 4` inhibitory leaky integrate-and-fire neurons,

.. math::

    \tau \dot V = -V + R I(t), \qquad
    R I(t) = \tau \sum_j J_j \sum_k \delta(t - t_j^k - D),

threshold :math:`\theta = 20` mV, reset :math:`V_r = 10` mV, refractory :math:`\tau_{rp} = 2` ms,
:math:`\tau = 20` ms. Every neuron receives exactly :math:`C_E = \epsilon N_E` excitatory and
:math:`C_I = \epsilon N_I` inhibitory recurrent synapses (:math:`\epsilon = 0.1`), all with delay
:math:`D = 1.5` ms: an excitatory spike makes the potential jump by :math:`J = 0.1` mV, an inhibitory
one by :math:`-gJ`. Each neuron also receives :math:`C_E` external excitatory Poisson inputs of rate
:math:`\nu_{ext} = \eta\, \nu_{thr}`, with :math:`\nu_{thr} = \theta / (J C_E \tau)` the rate that brings
the mean input to threshold without feedback.

The four regimes of Brunel's Fig. 8 (:math:`N_E` = 10000, :math:`\epsilon` = 0.1):

========= ===== ===== ==============================================================
regime    g     eta   activity
========= ===== ===== ==============================================================
SR        3     2     synchronous regular: neurons fire nearly regularly, in step
AI        5     2     asynchronous irregular: stationary population rate, CV ~ 1
SI_fast   6     4     synchronous irregular, fast global oscillation (~180 Hz)
SI_slow   4.5   0.9   synchronous irregular, slow global oscillation (~20 Hz)
========= ===== ===== ==============================================================
"""

from __future__ import annotations

import brian2
import numpy as np
from brian2 import Hz, mV, ms
from brian2.units.fundamentalunits import Quantity

from biosnn.circuits.base import (
    Circuit,
    check_count,
    check_dt,
    check_number,
    check_positive_quantity,
    check_probability,
    check_seed,
    fixed_indegree_pairs,
)
from biosnn.errors import ParameterError
from biosnn.registry import Registry
from biosnn.units import check_quantity

__all__ = ["REGIMES", "brunel2000", "external_rate"]

#: Regime name -> (g, eta) from Brunel (2000), Fig. 8.
REGIMES: Registry[tuple[float, float]] = Registry("Brunel 2000 regime")
REGIMES.register("SR", (3.0, 2.0))
REGIMES.register("AI", (5.0, 2.0))
REGIMES.register("SI_fast", (6.0, 4.0))
REGIMES.register("SI_slow", (4.5, 0.9))

_EQS = "dv/dt = -v / tau : volt (unless refractory)"


def external_rate(*, eta: float, theta: Quantity, J: Quantity, c_exc: int, tau: Quantity) -> Quantity:
    r"""The rate of each external Poisson input, :math:`\nu_{ext} = \eta\,\theta / (J C_E \tau)`."""
    return eta * theta / (J * c_exc * tau)


def brunel2000(*, regime: str = "AI", n_exc: int = 10000, n_inh: int | None = None, epsilon: float = 0.1,
               g: float | None = None, eta: float | None = None, J: Quantity = 0.1 * mV,
               tau: Quantity = 20 * ms, theta: Quantity = 20 * mV, v_reset: Quantity = 10 * mV,
               refractory: Quantity = 2 * ms, delay: Quantity = 1.5 * ms, n_record: int = 50,
               dt: Quantity = 0.1 * ms, seed: int | None = 0) -> Circuit:
    """Brunel (2000) sparse E/I network with delays (see the module docstring for the equations).

    Parameters
    ----------
    regime
        ``"SR"``, ``"AI"``, ``"SI_fast"`` or ``"SI_slow"``: sets ``g`` and ``eta`` from :data:`REGIMES`.
    n_exc, n_inh
        Population sizes; ``n_inh`` defaults to ``n_exc // 4``.
    epsilon
        Fraction of each population that projects onto every neuron (C_E = epsilon n_exc).
    g, eta
        Relative inhibitory strength and external drive; ``None`` takes the regime's value.
    J
        Excitatory jump of the membrane potential per spike (inhibitory: -g J).
    tau, theta, v_reset, refractory, delay
        Membrane time constant, threshold, reset, refractory period and synaptic delay.
    n_record
        Number of excitatory neurons whose potential is recorded (monitor ``v_E``; 0 for none).
    dt
        Time step of every object.
    seed
        Seeds the wiring and initial potentials (NumPy generator) and the run-time generator.

    Returns
    -------
    Circuit
        Populations ``E``, ``I``; projections ``EE``, ``EI``, ``IE``, ``II``; external inputs are
        :class:`brian2.PoissonInput` objects in the network; monitors ``spikes_E``, ``spikes_I``,
        ``v_E`` (when ``n_record > 0``). ``namespace["nu_ext"]`` is the external rate.
    """
    parameters = dict(locals())
    if not isinstance(regime, str):
        raise ParameterError(f"parameter 'regime' must be one of {list(REGIMES)}, got {regime!r}")
    g_default, eta_default = REGIMES[regime]
    n_exc = check_count("n_exc", n_exc)
    n_inh = n_exc // 4 if n_inh is None else check_count("n_inh", n_inh)
    if n_inh < 1:
        raise ParameterError(f"parameter 'n_exc' ({n_exc}) is too small to give an inhibitory population")
    epsilon = check_probability("epsilon", epsilon)
    g = g_default if g is None else check_number("g", g, low=0.0)
    eta = eta_default if eta is None else check_number("eta", eta, low=0.0, low_inclusive=False)
    check_positive_quantity("J", J, mV)
    for key in ("tau", "refractory"):
        check_positive_quantity(key, parameters[key], ms)
    check_positive_quantity("delay", delay, ms, allow_zero=True)
    check_quantity("theta", theta, mV)
    check_quantity("v_reset", v_reset, mV)
    if not v_reset < theta:
        raise ParameterError(f"parameter 'v_reset' ({v_reset}) must lie below 'theta' ({theta})")
    n_record = check_count("n_record", n_record, low=0)
    if n_record > n_exc:
        raise ParameterError(f"parameter 'n_record' ({n_record}) exceeds 'n_exc' ({n_exc})")
    dt = check_dt(dt)
    if delay < dt and delay > 0 * ms:
        raise ParameterError(f"parameter 'delay' ({delay}) is shorter than one time step ({dt})")
    seed = check_seed(seed)

    c_exc = max(1, int(round(epsilon * n_exc)))
    c_inh = max(1, int(round(epsilon * n_inh)))
    nu_ext = external_rate(eta=eta, theta=theta, J=J, c_exc=c_exc, tau=tau)
    namespace = dict(tau=tau, theta=theta, v_reset=v_reset, J=J, g=g, J_inh=-g * J, nu_ext=nu_ext,
                     c_exc=c_exc, c_inh=c_inh)
    rng = np.random.default_rng(seed)

    groups = {}
    for role, n in (("E", n_exc), ("I", n_inh)):
        grp = brian2.NeuronGroup(n, _EQS, threshold="v > theta", reset="v = v_reset", refractory=refractory,
                                 method="exact", dt=dt, name=f"brunel_{role}*")
        # Brunel starts from a quiescent network; a spread of initial potentials shortens the transient.
        grp.v = rng.uniform(float(v_reset / mV), float(theta / mV), n) * mV
        groups[role] = grp

    projections = {}
    for key, (src_role, tgt_role) in {"EE": ("E", "E"), "EI": ("E", "I"), "IE": ("I", "E"),
                                      "II": ("I", "I")}.items():
        src, tgt = groups[src_role], groups[tgt_role]
        k = c_exc if src_role == "E" else c_inh
        # Brunel's neurons ignore input while refractory.
        effect = "v_post += J * int(not_refractory_post)" if src_role == "E" else \
            "v_post += J_inh * int(not_refractory_post)"
        syn = brian2.Synapses(src, tgt, on_pre=effect, delay=delay, dt=dt, name=f"brunel_{key}*")
        i, j = fixed_indegree_pairs(rng, len(src), len(tgt), k, autapses=src is not tgt)
        syn.connect(i=i, j=j)
        projections[key] = syn

    external = [brian2.PoissonInput(groups[role], "v", N=c_exc, rate=float(nu_ext / Hz) * Hz, weight="J * int(not_refractory)") for role in ("E", "I")]
    monitors = {"spikes_E": brian2.SpikeMonitor(groups["E"], name="brunel_spikes_E*"),
                "spikes_I": brian2.SpikeMonitor(groups["I"], name="brunel_spikes_I*")}
    if n_record:
        monitors["v_E"] = brian2.StateMonitor(groups["E"], "v", record=np.arange(n_record), dt=dt,
                                              name="brunel_v_E*")
    network = brian2.Network(*groups.values(), *projections.values(), *external, *monitors.values(),
                             name="brunel_network*")
    return Circuit(name="brunel2000", network=network, populations=groups, projections=projections,
                   monitors=monitors, parameters=parameters, namespace=namespace, seed=seed)
