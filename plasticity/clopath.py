r"""Voltage-based LTP/LTD (Clopath, Buesing, Vasilaki & Gerstner 2010).

The rule reads the postsynaptic membrane potential :math:`u` and two low-pass filters of it,
:math:`\bar u_-` and :math:`\bar u_+`, and a low-pass filter :math:`\bar x` of the presynaptic spike train:

.. math::

    \tau_- \frac{d\bar u_-}{dt} = -\bar u_- + u, \qquad \tau_+ \frac{d\bar u_+}{dt} = -\bar u_+ + u, \qquad
    \tau_x \frac{d\bar x}{dt} = -\bar x + \sum_n \delta(t - t^n_\mathrm{pre})

* LTD at each presynaptic spike: :math:`w \leftarrow w - A_\mathrm{LTD} [\bar u_- - \theta_-]_+`;
* LTP continuously: :math:`\dot w = A_\mathrm{LTP}\, \bar x\, [u - \theta_+]_+\, [\bar u_+ - \theta_-]_+`,

with :math:`[\cdot]_+` the rectifier. LTP needs the membrane above :math:`\theta_+` (during a spike) shortly
after presynaptic input while the neuron was already depolarised, so it grows with the postsynaptic rate:
pairings at low frequency give LTD, at high frequency LTP (their Fig. 2, Sjoestroem et al. 2001 data).

Homeostasis (``homeostasis=True``; off by default, then :math:`A_\mathrm{LTD}` is constant): the paper
(their Eq. 4 and Methods) scales the depression amplitude by the mean postsynaptic depolarisation
:math:`\bar{\bar u}` relative to a reference value,

.. math::

    A_\mathrm{LTD}(\bar{\bar u}) = A_\mathrm{LTD}\, \frac{\bar{\bar u}^2}{u_\mathrm{ref}^2}, \qquad
    \tau_\mathrm{homeo} \frac{d\bar{\bar u}}{dt} = -\bar{\bar u} + (u - u_\mathrm{rest}),

so LTD at a presynaptic spike becomes
:math:`w \leftarrow w - A_\mathrm{LTD} (\bar{\bar u}^2 / u_\mathrm{ref}^2) [\bar u_- - \theta_-]_+`. The mean
over the paper's long window (about 1 s) is taken as a low-pass filter with time constant
:math:`\tau_\mathrm{homeo}` = 1 s, kept per synapse as the clock-driven variable ``ubar_homeo``
(:math:`= \bar{\bar u}`, volt), like the other filters. It starts at 0 (the neuron at rest, hence no LTD until
the neuron has been depolarised); set ``S.ubar_homeo`` to start elsewhere. A neuron that is depolarised
more on average depresses its synapses more; at :math:`\bar{\bar u}^2 = u_\mathrm{ref}^2` the depression is
the non-homeostatic one. :math:`u_\mathrm{ref}^2` = 60 mV\ :sup:`2` is the value of the ANNarchy
reproduction of the paper (R. Larisch, ReScience draft, following the authors' ModelDB code, entry 144566);
:math:`u_\mathrm{rest}` = -70.6 mV is the paper's resting potential :math:`E_L`. Difference from that code:
it low-pass filters the squared depolarisation :math:`(u - E_L)^2` and divides that by :math:`u_\mathrm{ref}^2`;
this rule follows the paper's equation (the square of the mean depolarisation).

Attaching: the target must provide its membrane potential (in volts) under the name given by ``voltage``
(:meth:`ClopathRule.post_requirements`). The potential must show the spike: with an integrate-and-fire
neuron, expose a variable that is held at the spike's peak for the spike's duration, e.g. with
``refractory=2*ms``: ``u = v*int(not_refractory) + 29.4*mV*(1 - int(not_refractory)) : volt`` and
``voltage="u"``. The filters :math:`\bar u_\pm` and :math:`\bar x` are kept per synapse as clock-driven
variables (Euler, ``method="euler"``), so the rule attaches to any target without editing it; the
filters are stored relative to :math:`\theta_-` (``ubar_minus`` :math:`= \bar u_- - \theta_-`, ``ubar_plus``
:math:`= \bar u_+ - \theta_-`), so a fresh synapse starts with its filters at :math:`\theta_-` (the paper's
resting potential). The weight is clipped to ``[w_min, w_max]`` at every pre- and postsynaptic spike.

Defaults: visual-cortex parameters of the paper (Table 1): :math:`A_\mathrm{LTD} = 14 \times 10^{-5}\,\mathrm{mV}^{-1}`,
:math:`A_\mathrm{LTP} = 8 \times 10^{-5}\,\mathrm{mV}^{-2}`, :math:`\theta_- = -70.6` mV, :math:`\theta_+ = -45.3` mV,
:math:`\tau_x = 15` ms, :math:`\tau_- = 10` ms, :math:`\tau_+ = 7` ms; weights in ``[0, 3]``; homeostasis
off, :math:`\tau_\mathrm{homeo} = 1` s, :math:`u_\mathrm{ref}^2 = 60\,\mathrm{mV}^2`,
:math:`u_\mathrm{rest} = -70.6` mV.

References
----------
Clopath C, Buesing L, Vasilaki E, Gerstner W (2010). Connectivity reflects coding: a model of
voltage-based STDP with homeostasis. Nature Neuroscience 13:344-352.
"""

from __future__ import annotations

from typing import Any, ClassVar

import brian2
import numpy as np
from biosnn.plasticity.base import PlasticityRule, amplitude, as_quantity, bounds, positive, unit_name, weight_unit_of
from brian2 import ms, mV, second

from biosnn.errors import ParameterError
from biosnn.units import check_quantity

__all__ = ["ClopathRule"]


class ClopathRule(PlasticityRule):
    r"""Voltage-based STDP (Clopath et al. 2010); see the module docstring.

    Parameters
    ----------
    A_LTD
        Depression amplitude (units of ``w_max`` per volt), default 14e-5 / mV.
    A_LTP
        Potentiation amplitude (units of ``w_max`` per volt squared), default 8e-5 / mV**2.
    theta_minus, theta_plus
        Depression and potentiation voltage thresholds, default -70.6 mV and -45.3 mV.
    tau_x, tau_minus, tau_plus
        Filter time constants of the presynaptic train and the two voltage filters (15, 10, 7 ms).
    w_min, w_max
        Bounds (default 0 and 3, dimensionless); the weight takes ``w_max``'s units.
    voltage
        Name of the target's membrane-potential variable (volts), default ``"v"``.
    homeostasis
        Scale :math:`A_\mathrm{LTD}` by :math:`\bar{\bar u}^2 / u_\mathrm{ref}^2` (their Eq. 4); default
        ``False`` (constant :math:`A_\mathrm{LTD}`, the rule's statements unchanged).
    tau_homeo
        Time constant of the mean depolarisation :math:`\bar{\bar u}`, default 1 s.
    u_ref_squared
        Reference value :math:`u_\mathrm{ref}^2` of the squared mean depolarisation (volt**2), default
        60 mV**2.
    u_rest
        Resting potential from which the depolarisation :math:`u - u_\mathrm{rest}` is measured, default
        -70.6 mV.

    Synaptic variables: ``w``, ``ubar_minus``, ``ubar_plus`` (volt, relative to ``theta_minus``),
    ``xbar`` (Hz); with homeostasis also ``ubar_homeo`` (volt, relative to ``u_rest``).
    """

    name: ClassVar[str] = "clopath"
    reference: ClassVar[str] = (
        "Clopath C, Buesing L, Vasilaki E, Gerstner W (2010) Connectivity reflects coding: a model of "
        "voltage-based STDP with homeostasis. Nat Neurosci 13:344-352"
    )
    tag: ClassVar[str] = "clopath"
    method: ClassVar[str] = "euler"
    #: the LTD and LTP amplitudes scale every weight change (the filters do not carry them)
    learning_parameters: ClassVar[tuple[str, ...]] = ("A_LTD", "A_LTP")

    def __init__(
        self,
        *,
        A_LTD: Any = 14e-5 / mV,
        A_LTP: Any = 8e-5 / mV**2,
        theta_minus: Any = -70.6 * mV,
        theta_plus: Any = -45.3 * mV,
        tau_x: Any = 15 * ms,
        tau_minus: Any = 10 * ms,
        tau_plus: Any = 7 * ms,
        w_min: Any = 0.0,
        w_max: Any = 3.0,
        voltage: str = "v",
        homeostasis: bool = False,
        tau_homeo: Any = 1 * second,
        u_ref_squared: Any = 60 * mV**2,
        u_rest: Any = -70.6 * mV,
    ) -> None:
        w_min, w_max = bounds(w_min, w_max)
        unit = weight_unit_of(w_max)
        if not isinstance(voltage, str) or not voltage.isidentifier():
            raise ParameterError(f"parameter 'voltage' must name the target's membrane potential, got {voltage!r}")
        theta_minus_q = check_quantity("theta_minus", theta_minus, brian2.volt)
        theta_plus_q = check_quantity("theta_plus", theta_plus, brian2.volt)
        if float(theta_plus_q / mV) <= float(theta_minus_q / mV):
            raise ParameterError(f"parameter 'theta_plus' ({theta_plus!r}) must exceed 'theta_minus' ({theta_minus!r})")
        if not isinstance(homeostasis, (bool, np.bool_)):
            raise ParameterError(f"parameter 'homeostasis' must be True or False, got {homeostasis!r}")
        self._set_params(
            A_LTD=amplitude("A_LTD", A_LTD, unit / brian2.volt),
            A_LTP=amplitude("A_LTP", A_LTP, unit / brian2.volt**2),
            theta_minus=theta_minus_q,
            theta_plus=theta_plus_q,
            tau_x=positive("tau_x", tau_x, brian2.second),
            tau_minus=positive("tau_minus", tau_minus, brian2.second),
            tau_plus=positive("tau_plus", tau_plus, brian2.second),
            w_min=w_min,
            w_max=w_max,
            voltage=voltage,
            homeostasis=bool(homeostasis),
            tau_homeo=positive("tau_homeo", tau_homeo, brian2.second),
            u_ref_squared=positive("u_ref_squared", u_ref_squared, brian2.volt**2),
            u_rest=check_quantity("u_rest", u_rest, brian2.volt),
        )

    def post_requirements(self) -> dict[str, str]:
        return {self._params["voltage"]: "volt"}

    @property
    def model(self) -> str:
        u = unit_name(self._params["w_max"])
        v = f"{self._params['voltage']}_post"
        return (
            f"dw/dt = A_LTP * xbar * ({v} - theta_plus) * int({v} > theta_plus)"
            f" * ubar_plus * int(ubar_plus > 0 * volt) : {u} (clock-driven)\n"
            f"dubar_minus/dt = ({v} - theta_minus - ubar_minus) / tau_minus : volt (clock-driven)\n"
            f"dubar_plus/dt = ({v} - theta_minus - ubar_plus) / tau_plus : volt (clock-driven)\n"
            "dxbar/dt = -xbar / tau_x : Hz (clock-driven)"
        ) + (
            f"\ndubar_homeo/dt = ({v} - u_rest - ubar_homeo) / tau_homeo : volt (clock-driven)"
            if self._params["homeostasis"]
            else ""
        )

    @property
    def on_pre(self) -> str:
        # A_LTD(ubar_homeo) = A_LTD * ubar_homeo**2 / u_ref_squared with homeostasis (their Eq. 4)
        a_ltd = "A_LTD * (ubar_homeo**2 / u_ref_squared)" if self._params["homeostasis"] else "A_LTD"
        return f"xbar += 1 / tau_x\nw = clip(w - {a_ltd} * ubar_minus * int(ubar_minus > 0 * volt), w_min, w_max)"

    @property
    def on_post(self) -> str:
        return "w = clip(w, w_min, w_max)"

    def namespace(self) -> dict[str, Any]:
        p, u = self._params, self.weight_unit
        ns = {k: p[k] for k in ("theta_minus", "theta_plus", "tau_x", "tau_minus", "tau_plus")}
        ns.update(
            A_LTD=as_quantity(p["A_LTD"], u / brian2.volt),
            A_LTP=as_quantity(p["A_LTP"], u / brian2.volt**2),
            w_min=as_quantity(p["w_min"], u),
            w_max=as_quantity(p["w_max"], u),
        )
        if p["homeostasis"]:  # constants only when used, so the rule without homeostasis is unchanged
            ns.update({k: p[k] for k in ("tau_homeo", "u_ref_squared", "u_rest")})
        return ns
