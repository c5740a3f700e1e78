r"""Reward-modulated STDP with an eligibility trace (Izhikevich 2007).

Spike pairs do not change the weight directly; they mark the synapse with an eligibility trace :math:`c`,
and the weight moves only while dopamine :math:`d` (the reward signal) is present:

.. math::

    \frac{dc}{dt} = -\frac{c}{\tau_c} + \mathrm{STDP}(\Delta t)\,\delta(t - t_\mathrm{pre/post}), \qquad
    \frac{dd}{dt} = -\frac{d}{\tau_d} + D \sum_k \delta(t - t_k^\mathrm{reward}), \qquad
    \frac{dw}{dt} = \frac{c\, d}{\tau_s}

:math:`\mathrm{STDP}(\Delta t)` is the additive pair window (:math:`+A_+ e^{-\Delta t/\tau_+}` for
pre-before-post, :math:`-A_- e^{\Delta t/\tau_-}` for post-before-pre, all-to-all traces), so the weight
change is :math:`\propto` (timing) :math:`\times` (reward): no reward, no change; a negative reward
(dopamine dip, :math:`D < 0`) reverses the sign. For one pair that sets :math:`c = c_0` at :math:`t_0` and one
reward :math:`D` at :math:`t_r > t_0`, the total change is

.. math::

    \Delta w = \frac{c_0 e^{-(t_r - t_0)/\tau_c}\, D\, \tau_e}{\tau_s}, \qquad
    \tau_e = \left(\tau_c^{-1} + \tau_d^{-1}\right)^{-1}.

The weight is clipped to ``[w_min, w_max]`` at every pre and post spike (its ODE has no bound).

Reward delivery: :meth:`RstdpIzhikevich.reward_synapses` connects a spike source (a
``SpikeGeneratorGroup`` of reward times, or any group that spikes on reward) to the plastic synapses, each
reward spike adding ``amount`` (:math:`D`) to every synapse's dopamine ``d``. The dopamine can also be set
directly: ``setattr(S, S.plasticity_names["d"], 0.5)``.

Defaults (Izhikevich 2007): :math:`A_+ = 1`, :math:`A_- = 1.5`, :math:`\tau_\pm = 20` ms,
:math:`\tau_c = 1` s, :math:`\tau_d = 200` ms, weights in :math:`[0, 4]`; the weight rate
:math:`\tau_s = 1` s is our setting (the paper integrates :math:`\dot s = c d` with a 1 ms step and applies the
accumulated change once per second). Clock-driven equations use Euler (``method="euler"``).

References
----------
Izhikevich EM (2007). Solving the distal reward problem through linkage of STDP and dopamine signaling.
Cerebral Cortex 17:2443-2452.
"""

from __future__ import annotations

from typing import Any, ClassVar

import brian2
from biosnn.plasticity.base import (
    PlasticityRule,
    amplitude,
    as_quantity,
    bounds,
    positive,
    unit_name,
    weight_unit_of,
)

from biosnn.errors import ParameterError
from biosnn.units import check_quantity

__all__ = ["RstdpIzhikevich"]


class RstdpIzhikevich(PlasticityRule):
    r"""Dopamine-gated STDP with eligibility trace (Izhikevich 2007); see the module docstring.

    Parameters
    ----------
    A_plus, A_minus
        Pair amplitudes of the eligibility increments (units of ``w_max``), default 1 and 1.5.
    tau_plus, tau_minus
        STDP window time constants, default 20 ms.
    tau_c
        Eligibility-trace time constant, default 1 s.
    tau_d
        Dopamine time constant, default 200 ms.
    tau_s
        Weight rate: :math:`\dot w = c d / \tau_s`, default 1 s.
    w_min, w_max
        Bounds applied at each spike (default 0 and 4, dimensionless); the weight takes ``w_max``'s units.

    Synaptic variables: ``w``, ``c`` (eligibility, weight units), ``d`` (dopamine, dimensionless),
    ``apre``, ``apost``.
    """

    name: ClassVar[str] = "rstdp_izhikevich"
    reference: ClassVar[str] = (
        "Izhikevich EM (2007) Solving the distal reward problem through linkage of STDP and dopamine "
        "signaling. Cereb Cortex 17:2443-2452"
    )
    tag: ClassVar[str] = "rstdp"
    method: ClassVar[str] = "euler"
    #: the pair amplitudes scale every weight change through the eligibility trace ``c``, which (with
    #: ``apre``/``apost``) carries them forward: a reward after a switch off still moves the weights unless
    #: the traces are reset
    learning_parameters: ClassVar[tuple[str, ...]] = ("A_plus", "A_minus")
    learning_traces: ClassVar[tuple[str, ...]] = ("apre", "apost", "c")

    def __init__(
        self,
        *,
        A_plus: Any = 1.0,
        A_minus: Any = 1.5,
        tau_plus: Any = 20 * brian2.ms,
        tau_minus: Any = 20 * brian2.ms,
        tau_c: Any = 1 * brian2.second,
        tau_d: Any = 200 * brian2.ms,
        tau_s: Any = 1 * brian2.second,
        w_min: Any = 0.0,
        w_max: Any = 4.0,
    ) -> None:
        w_min, w_max = bounds(w_min, w_max)
        unit = weight_unit_of(w_max)
        self._set_params(
            A_plus=amplitude("A_plus", A_plus, unit),
            A_minus=amplitude("A_minus", A_minus, unit),
            tau_plus=positive("tau_plus", tau_plus, brian2.second),
            tau_minus=positive("tau_minus", tau_minus, brian2.second),
            tau_c=positive("tau_c", tau_c, brian2.second),
            tau_d=positive("tau_d", tau_d, brian2.second),
            tau_s=positive("tau_s", tau_s, brian2.second),
            w_min=w_min,
            w_max=w_max,
        )

    @property
    def model(self) -> str:
        u = unit_name(self._params["w_max"])
        return (
            f"dw/dt = c * d / tau_s : {u} (clock-driven)\n"
            f"dc/dt = -c / tau_c : {u} (clock-driven)\n"
            "dd/dt = -d / tau_d : 1 (clock-driven)\n"
            f"dapre/dt = -apre / tau_plus : {u} (event-driven)\n"
            f"dapost/dt = -apost / tau_minus : {u} (event-driven)"
        )

    @property
    def on_pre(self) -> str:
        return "apre += A_plus\nc += apost\nw = clip(w, w_min, w_max)"

    @property
    def on_post(self) -> str:
        return "apost -= A_minus\nc += apre\nw = clip(w, w_min, w_max)"

    def namespace(self) -> dict[str, Any]:
        p, u = self._params, self.weight_unit
        ns = {k: as_quantity(p[k], u) for k in ("A_plus", "A_minus", "w_min", "w_max")}
        ns.update({k: p[k] for k in ("tau_plus", "tau_minus", "tau_c", "tau_d", "tau_s")})
        return ns

    def reward_synapses(
        self, reward_source: Any, plastic: brian2.Synapses, *, amount: float = 0.5, name: str | None = None
    ) -> brian2.Synapses:
        """Synapses from ``reward_source`` onto every synapse of ``plastic``: each spike adds ``amount`` dopamine.

        ``plastic`` must have been built by this rule's :meth:`synapses` (and connected). ``amount`` is
        dimensionless (0.5 in Izhikevich 2007); negative values are dopamine dips (punishment).
        """
        names = getattr(plastic, "plasticity_names", None)
        if names is None or getattr(plastic, "plasticity_rule", None) != self:
            raise ParameterError("parameter 'plastic' must be Synapses built by this rule's synapses()")
        value = float(check_quantity("amount", amount, 1))
        kwargs: dict[str, Any] = dict(on_pre=f"{names['d']}_post += amount_reward", namespace={"amount_reward": value})
        if name is not None:
            kwargs["name"] = name
        reward = brian2.Synapses(reward_source, plastic, **kwargs)
        reward.connect()
        return reward
