r"""Homeostatic synaptic scaling toward a target rate (van Rossum, Bi & Turrigiano 2000; Turrigiano 2008).

Each synapse scales multiplicatively with the mismatch between the postsynaptic rate estimate
:math:`\hat\rho` and the target rate :math:`\rho_0`:

.. math::

    \frac{dw}{dt} = \frac{w}{\tau_\mathrm{scaling}} \left(1 - \frac{\hat\rho}{\rho_0}\right), \qquad
    \tau_\rho \frac{d\hat\rho}{dt} = -\hat\rho + \sum_k \delta(t - t_k^\mathrm{post}).

Multiplicative scaling keeps the ratios between a neuron's input weights (the stored pattern) while their
sum tracks the activity: above target all inputs shrink, below target they grow, so the rate moves
toward :math:`\rho_0`. This is van Rossum et al. 2000's scaling
:math:`\dot w = \beta w (a_\mathrm{goal} - a)` with :math:`\beta = 1/(\rho_0 \tau_\mathrm{scaling})`.

The rate estimate is kept per synapse as the deviation ``rate_error`` :math:`= \hat\rho - \rho_0` (it starts
at 0, i.e. the estimate starts at the target, so a fresh network does not see a spurious zero rate):
:math:`\tau_\rho \dot e = -(e + \rho_0)`, :math:`e \leftarrow e + 1/\tau_\rho` at each postsynaptic spike.
The weight is clipped to ``[w_min, w_max]`` at each pre- and postsynaptic spike. Clock-driven equations
use Euler (``method="euler"``). In Brian2 the rate :math:`1/\tau_\mathrm{scaling}` is the namespace constant
``scaling_rate``, the rule's learning rate (zero switches scaling off, see
:meth:`~biosnn.plasticity.base.PlasticityRule.set_learning`).

Defaults: :math:`\rho_0 = 5` Hz, :math:`\tau_\rho = 1` s, :math:`\tau_\mathrm{scaling} = 10` s (biological scaling
takes hours to days; simulations compress it, as Zenke et al. 2013 discuss), weights in ``[0, 1]``.

References
----------
van Rossum MCW, Bi GQ, Turrigiano GG (2000). Stable Hebbian learning from spike timing-dependent
plasticity. J Neurosci 20:8812-8821.
Turrigiano GG (2008). The self-tuning neuron: synaptic scaling of excitatory synapses. Cell 135:422-435.
"""

from __future__ import annotations

from typing import Any, ClassVar

import brian2
from biosnn.plasticity.base import PlasticityRule, as_quantity, bounds, positive, unit_name

__all__ = ["SynapticScaling"]


class SynapticScaling(PlasticityRule):
    r"""Multiplicative homeostatic scaling toward ``rate_target``; see the module docstring.

    Parameters
    ----------
    rate_target
        Target postsynaptic rate :math:`\rho_0`, default 5 Hz.
    tau_rate
        Time constant of the rate estimate, default 1 s.
    tau_scaling
        Scaling time constant, default 10 s.
    w_min, w_max
        Bounds (default 0 and 1, dimensionless); the weight takes ``w_max``'s units.

    Synaptic variables: ``w``, ``rate_error`` (Hz; estimate minus target).
    """

    name: ClassVar[str] = "synaptic_scaling"
    reference: ClassVar[str] = (
        "van Rossum MCW, Bi GQ, Turrigiano GG (2000) Stable Hebbian learning from spike timing-dependent "
        "plasticity. J Neurosci 20:8812-8821; Turrigiano GG (2008) Cell 135:422-435"
    )
    tag: ClassVar[str] = "scaling"
    method: ClassVar[str] = "euler"
    #: the scaling rate ``1 / tau_scaling`` (namespace constant ``scaling_rate``) scales every weight change
    learning_parameters: ClassVar[tuple[str, ...]] = ("scaling_rate",)

    def __init__(
        self,
        *,
        rate_target: Any = 5 * brian2.Hz,
        tau_rate: Any = 1 * brian2.second,
        tau_scaling: Any = 10 * brian2.second,
        w_min: Any = 0.0,
        w_max: Any = 1.0,
    ) -> None:
        w_min, w_max = bounds(w_min, w_max)
        self._set_params(
            rate_target=positive("rate_target", rate_target, brian2.Hz),
            tau_rate=positive("tau_rate", tau_rate, brian2.second),
            tau_scaling=positive("tau_scaling", tau_scaling, brian2.second),
            w_min=w_min,
            w_max=w_max,
        )

    @property
    def model(self) -> str:
        u = unit_name(self._params["w_max"])
        return (
            f"dw/dt = -scaling_rate * w * rate_error / rate_target : {u} (clock-driven)\n"
            "drate_error/dt = -(rate_error + rate_target) / tau_rate : Hz (clock-driven)"
        )

    @property
    def on_pre(self) -> str:
        return "w = clip(w, w_min, w_max)"

    @property
    def on_post(self) -> str:
        return "rate_error += 1 / tau_rate\nw = clip(w, w_min, w_max)"

    def namespace(self) -> dict[str, Any]:
        p, u = self._params, self.weight_unit
        return {
            "rate_target": p["rate_target"],
            "tau_rate": p["tau_rate"],
            "scaling_rate": 1 / p["tau_scaling"],
            "w_min": as_quantity(p["w_min"], u),
            "w_max": as_quantity(p["w_max"], u),
        }
