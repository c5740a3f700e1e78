r"""Integrate-and-fire (IF) and leaky integrate-and-fire (LIF) neurons for deep spiking networks.

The mathematics lives once, in pure functions (:func:`lif_step`, :func:`lif_sequence`, :func:`if_step`,
:func:`if_sequence`); the modules :class:`LIF` and :class:`IF` are thin wrappers that convert their
parameters once and call the functions (Norse's layout, ``norse/torch/functional/lif.py``).

Discretisation
--------------
The membrane obeys :math:`\tau\,\mathrm{d}v/\mathrm{d}t = -v` between input pulses; the input of step
:math:`t` arrives as an instantaneous jump :math:`x_t` (a synaptic charge already expressed in units of the
threshold's scale, the convention of snnTorch's ``Leaky``). Integrating exactly over one step of length
:math:`\Delta t` gives, for every step :math:`t = 0 \dots T-1`,

.. math::

    h_t &= \beta\, u_{t-1} + x_t, \qquad \beta = e^{-\Delta t / \tau}, \qquad u_{-1} = v_0 \\
    s_t &= \Theta(h_t - \vartheta) \\
    u_t &= \mathrm{reset}(h_t, s_t)

with the charged (pre-reset) membrane :math:`h_t`, the spikes :math:`s_t`, the threshold :math:`\vartheta`
and the membrane after reset :math:`u_t` (the state carried to the next step, and the membrane the
functions return). Reset modes (registry :data:`RESETS`):

* ``"subtract"`` (soft reset, "reset by subtraction"): :math:`u_t = h_t - \vartheta s_t`;
* ``"zero"`` (hard reset to 0): :math:`u_t = h_t (1 - s_t)`.

The IF neuron is the LIF neuron with :math:`\beta = 1` (no leak), as used by STBP and EIHL.
With ``detach_reset=True`` the spike that enters the reset is treated as a constant in the backward pass
(Zenke & Vogels 2021 found this often trains better). The Heaviside step uses the surrogate gradient of
:mod:`biosnn.surrogate` (Neftci, Mostafa & Zenke 2019).

Speed
-----
:func:`lif_sequence` runs all :math:`T` steps in one ``torch.autograd.Function`` with a hand-written
backward pass instead of autograd's graph of per-step operations. The forward loop does three in-place
tensor operations per step on one time slice (kept in cache) and stores :math:`h_t` and :math:`s_t`; the
backward loop runs the recursion, from the last step to the first,

.. math::

    g^u_t = \beta\,\frac{\partial L}{\partial h_{t+1}} + \frac{\partial L}{\partial u_t}\Big|_\text{out}, \qquad
    \frac{\partial L}{\partial h_t} = \sigma'(h_t - \vartheta)\,\frac{\partial L}{\partial s_t}
        + \frac{\mathrm{d}u_t}{\mathrm{d}h_t}\, g^u_t,

with :math:`\mathrm{d}u_t/\mathrm{d}h_t` the reset's total derivative (through the spike's surrogate unless
``detach_reset``), again a few fused in-place operations per step (:class:`ResetMode`). The input gradient
is :math:`\partial L/\partial x_t = \partial L/\partial h_t`. :func:`lif_step` is the plain autograd version
of one step; tests prove that the fused sequence equals a loop of steps in value and gradient, and equals
SpikingJelly's ``LIFNode``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from biosnn.errors import ParameterError, ShapeError
from biosnn.registry import Registry
from biosnn.surrogate import SURROGATES, Surrogate, as_surrogate, spike
from biosnn.units import check_range, to_float

__all__ = [
    "RESETS",
    "ResetMode",
    "lif_step",
    "lif_sequence",
    "if_step",
    "if_sequence",
    "beta_from_tau",
    "LIF",
    "IF",
    "NEURONS",
]


# --------------------------------------------------------------------------------------------- resets
@dataclass(frozen=True)
class ResetMode:
    r"""A reset mode: the map :math:`u = f(h, s)`, and its forward and backward kernels for one step.

    Attributes
    ----------
    name
        Registry name.
    apply
        ``apply(h, s, threshold) -> u``: the membrane after reset, differentiable in ``h`` and ``s``
        (used by :func:`lif_step`, the autograd reference).
    forward_step
        ``forward_step(h, s, threshold, out)``: writes :math:`u = f(h, s)` into ``out`` (no autograd).
    backward_step
        ``backward_step(g_u, g_s, sg, h, s, threshold, detach, scratch, out)``: writes
        :math:`\partial L/\partial h = \sigma' g_s + (\mathrm{d}u/\mathrm{d}h)\, g_u` into ``out``, given the
        gradient reaching the membrane after reset ``g_u`` (may be overwritten), the gradient of the
        spikes ``g_s`` and the surrogate derivative ``sg`` :math:`= \sigma'(h - \vartheta)`. With
        ``detach`` the reset's path through the spike is left out.
    """

    name: str
    apply: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]
    forward_step: Callable[[torch.Tensor, torch.Tensor, float, torch.Tensor], None]
    backward_step: Callable[..., None]


RESETS: Registry[ResetMode] = Registry("reset mode")


def _subtract_forward(h, s, threshold, out):
    torch.sub(h, s, alpha=threshold, out=out)


def _subtract_backward(g_u, g_s, sg, h, s, threshold, detach, scratch, out):
    # u = h - theta * s:  dL/dh = sg * (g_s - theta * g_u) + g_u   (detached: sg * g_s + g_u)
    if detach:
        torch.addcmul(g_u, sg, g_s, out=out)
    else:
        torch.add(g_s, g_u, alpha=-threshold, out=scratch)
        torch.addcmul(g_u, sg, scratch, out=out)


def _zero_forward(h, s, threshold, out):
    torch.addcmul(h, h, s, value=-1.0, out=out)


def _zero_backward(g_u, g_s, sg, h, s, threshold, detach, scratch, out):
    # u = h (1 - s):  dL/dh = sg * (g_s - h * g_u) + (1 - s) g_u   (detached: sg * g_s + (1 - s) g_u)
    if detach:
        torch.mul(sg, g_s, out=scratch)
    else:
        torch.addcmul(g_s, h, g_u, value=-1.0, out=scratch)
        scratch.mul_(sg)
    g_u.addcmul_(g_u, s, value=-1.0)
    torch.add(g_u, scratch, out=out)


RESETS.register("subtract", ResetMode("subtract", lambda h, s, th: h - th * s, _subtract_forward, _subtract_backward))
RESETS.register("zero", ResetMode("zero", lambda h, s, th: h * (1.0 - s), _zero_forward, _zero_backward))


# ------------------------------------------------------------------------------------ parameter checks
def beta_from_tau(tau: Any, dt: Any) -> float:
    r"""The per-step decay :math:`\beta = e^{-\Delta t/\tau}` from Brian2 quantities ``tau`` and ``dt``.

    Raises :class:`~biosnn.errors.UnitError` if either is not a time, and
    :class:`~biosnn.errors.ParameterError` if either is not positive.
    """
    import brian2

    tau_s = check_range("tau", to_float("tau", tau, brian2.second), low=0.0, low_inclusive=False)
    dt_s = check_range("dt", to_float("dt", dt, brian2.second), low=0.0, low_inclusive=False)
    return math.exp(-dt_s / tau_s)


def _check_beta(beta: Any) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise ParameterError(f"parameter 'beta' must be a number in (0, 1], got {beta!r}")
    return check_range("beta", beta, low=0.0, high=1.0, low_inclusive=False)


def _check_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ParameterError(f"parameter 'threshold' must be a positive finite number, got {threshold!r}")
    return check_range("threshold", threshold, low=0.0, low_inclusive=False)


# ------------------------------------------------------------------------------------ pure functions
def lif_step(
    v: torch.Tensor,
    current: torch.Tensor,
    *,
    beta: float,
    threshold: float = 1.0,
    reset: str = "subtract",
    surrogate: Surrogate | str | None = None,
    detach_reset: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One step of the LIF neuron (plain autograd).

    .. math:: h = \beta v + x,\quad s = \Theta(h - \vartheta),\quad v' = \mathrm{reset}(h, s)

    Parameters
    ----------
    v
        Membrane after the previous step's reset, :math:`u_{t-1}`.
    current
        Input :math:`x_t` (same shape as ``v``, or broadcastable to it).
    beta
        Decay per step, :math:`e^{-\Delta t/\tau}` in (0, 1]; 1 is the IF neuron.
    threshold
        Firing threshold :math:`\vartheta`.
    reset
        Name of a reset mode in :data:`RESETS` (``"subtract"`` or ``"zero"``).
    surrogate
        Surrogate gradient (a :class:`~biosnn.surrogate.Surrogate`, a shape name, or ``None``).
    detach_reset
        Treat the spike in the reset as a constant in the backward pass.

    Returns
    -------
    (v_next, spikes)
        The membrane after reset :math:`u_t` and the spikes :math:`s_t`.
    """
    mode = RESETS[reset]
    sur = as_surrogate(surrogate)
    h = beta * v + current
    s = spike(h - threshold, sur.shape, sur.width)
    return mode.apply(h, s.detach() if detach_reset else s, threshold), s


def if_step(
    v: torch.Tensor,
    current: torch.Tensor,
    *,
    threshold: float = 1.0,
    reset: str = "subtract",
    surrogate: Surrogate | str | None = None,
    detach_reset: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the IF neuron: :func:`lif_step` with ``beta = 1``."""
    return lif_step(
        v, current, beta=1.0, threshold=threshold, reset=reset, surrogate=surrogate, detach_reset=detach_reset
    )


class _LIFSequence(torch.autograd.Function):
    """All T steps of the LIF neuron, with the hand-written backward pass of the module docstring.

    Every step works on one time slice (cache-resident) with in-place kernels; only the charged membrane
    ``h`` and the spikes are kept for the backward pass.
    """

    @staticmethod
    def forward(ctx, x, v0, beta, threshold, mode, derivative, width, detach, record):
        steps = x.shape[0]
        h = torch.empty_like(x)
        spikes = torch.empty_like(x)
        membrane = torch.empty_like(x) if record else None
        state = None if record else torch.empty_like(x[0])  # u_t, overwritten in place every step
        u = v0
        for t in range(steps):
            ht, st = h[t], spikes[t]
            if u is None:
                ht.copy_(x[t])
            elif beta == 1.0:
                torch.add(x[t], u, out=ht)
            else:
                torch.add(x[t], u, alpha=beta, out=ht)
            torch.ge(ht, threshold, out=st)  # Theta(h - theta) as 0/1 in x's dtype
            u = membrane[t] if record else state
            mode.forward_step(ht, st, threshold, u)
        ctx.save_for_backward(h, spikes)
        ctx.beta, ctx.threshold, ctx.mode = beta, threshold, mode
        ctx.derivative, ctx.width, ctx.detach = derivative, width, detach
        ctx.has_v0 = v0 is not None
        if not record:
            return spikes, torch.empty(0, dtype=x.dtype, device=x.device)
        return spikes, membrane

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_spikes, grad_membrane):
        h, spikes = ctx.saved_tensors
        beta, threshold, mode = ctx.beta, ctx.threshold, ctx.mode
        derivative, width, detach = ctx.derivative, ctx.width, ctx.detach
        if grad_membrane is not None and grad_membrane.numel() == 0:
            grad_membrane = None
        if grad_spikes is None:
            grad_spikes = torch.zeros_like(h)
        dh = torch.empty_like(h)
        g_u = torch.zeros_like(h[0])
        scratch = torch.empty_like(h[0])
        for t in range(h.shape[0] - 1, -1, -1):
            if t < h.shape[0] - 1:
                # gradient reaching u_t: through h_{t+1} = beta u_t + x_{t+1} (and the membrane output)
                if grad_membrane is None:
                    torch.mul(dh[t + 1], beta, out=g_u)
                else:
                    torch.add(grad_membrane[t], dh[t + 1], alpha=beta, out=g_u)
            elif grad_membrane is not None:
                g_u.copy_(grad_membrane[t])
            sg = derivative(h[t] - threshold, width)
            mode.backward_step(g_u, grad_spikes[t], sg, h[t], spikes[t], threshold, detach, scratch, dh[t])
        grad_v0 = dh[0] * beta if ctx.has_v0 and ctx.needs_input_grad[1] else None
        return dh, grad_v0, None, None, None, None, None, None, None


def lif_sequence(
    currents: torch.Tensor,
    *,
    beta: float,
    threshold: float = 1.0,
    reset: str = "subtract",
    surrogate: Surrogate | str | None = None,
    detach_reset: bool = False,
    v0: torch.Tensor | None = None,
    return_membrane: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    r"""Run the LIF neuron over a time-major sequence of inputs (fused forward and backward).

    Computes the recursion of the module docstring for :math:`t = 0 \dots T-1`, identical in value and in
    surrogate gradient to a loop of :func:`lif_step`, but faster.

    Parameters
    ----------
    currents
        Inputs :math:`x_t`, shape ``[T, ...]`` (time first).
    beta, threshold, reset, surrogate, detach_reset
        As in :func:`lif_step`.
    v0
        Initial membrane :math:`u_{-1}` of shape ``currents.shape[1:]`` (zeros when ``None``).
    return_membrane
        Also return the membrane after reset :math:`u_t`, shape ``[T, ...]``.

    Returns
    -------
    spikes or (spikes, membrane)
        Spikes :math:`s_t` (0/1 in the input's dtype), shape ``[T, ...]``.
    """
    if not isinstance(currents, torch.Tensor) or currents.ndim < 1:
        raise ShapeError("lif_sequence needs a tensor of inputs with time as its first dimension, [T, ...]")
    if not currents.is_floating_point():
        raise ParameterError(f"lif_sequence needs floating-point inputs, got dtype {currents.dtype}")
    if v0 is not None and tuple(v0.shape) != tuple(currents.shape[1:]):
        raise ShapeError(f"v0 has shape {tuple(v0.shape)}, expected {tuple(currents.shape[1:])} (inputs without T)")
    beta = _check_beta(beta)
    threshold = _check_threshold(threshold)
    mode = RESETS[reset]
    sur = as_surrogate(surrogate)
    shape = SURROGATES[sur.shape]
    spikes, membrane = _LIFSequence.apply(
        currents,
        v0,
        beta,
        threshold,
        mode,
        shape.derivative,
        float(sur.width),
        bool(detach_reset),
        bool(return_membrane),
    )
    return (spikes, membrane) if return_membrane else spikes


def if_sequence(
    currents: torch.Tensor,
    *,
    threshold: float = 1.0,
    reset: str = "subtract",
    surrogate: Surrogate | str | None = None,
    detach_reset: bool = False,
    v0: torch.Tensor | None = None,
    return_membrane: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The IF neuron over a sequence: :func:`lif_sequence` with ``beta = 1``."""
    return lif_sequence(
        currents,
        beta=1.0,
        threshold=threshold,
        reset=reset,
        surrogate=surrogate,
        detach_reset=detach_reset,
        v0=v0,
        return_membrane=return_membrane,
    )


# ------------------------------------------------------------------------------------------- modules
class LIF(nn.Module):
    r"""Leaky integrate-and-fire neurons on time-major input ``[T, B, ...]`` (thin wrapper of
    :func:`lif_sequence`).

    Give the decay either as ``beta`` directly or as ``tau`` and ``dt`` (Brian2 quantities, converted once
    to :math:`\beta = e^{-\Delta t/\tau}`); with neither, ``beta = 0.9``.

    Parameters
    ----------
    beta
        Decay per step in (0, 1].
    tau, dt
        Membrane time constant and time step, Brian2 time quantities (``tau=10*ms, dt=1*ms``).
    threshold
        Firing threshold.
    reset
        ``"subtract"`` or ``"zero"`` (see :data:`RESETS`).
    detach_reset
        Leave the reset out of the backward pass.
    surrogate
        Surrogate gradient (:class:`~biosnn.surrogate.Surrogate`, shape name, or ``None``).

    Examples
    --------
    >>> import brian2, torch
    >>> lif = LIF(tau=10 * brian2.ms, dt=1 * brian2.ms)
    >>> spikes = lif(torch.rand(25, 8, 100))          # [T, B, N] -> [T, B, N]
    """

    def __init__(
        self,
        *,
        beta: float | None = None,
        tau: Any = None,
        dt: Any = None,
        threshold: float = 1.0,
        reset: str = "subtract",
        detach_reset: bool = False,
        surrogate: Surrogate | str | None = None,
    ) -> None:
        super().__init__()
        if beta is not None and (tau is not None or dt is not None):
            raise ParameterError("give the LIF decay either as 'beta' or as 'tau' and 'dt', not both")
        if (tau is None) != (dt is None):
            raise ParameterError("the LIF decay from a time constant needs both 'tau' and 'dt'")
        self.beta = _check_beta(beta_from_tau(tau, dt) if tau is not None else (0.9 if beta is None else beta))
        self.threshold = _check_threshold(threshold)
        RESETS[reset]
        self.reset = reset
        self.detach_reset = bool(detach_reset)
        self.surrogate = as_surrogate(surrogate)

    def forward(
        self, x: torch.Tensor, v0: torch.Tensor | None = None, *, return_membrane: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Spikes ``[T, B, ...]`` for inputs ``[T, B, ...]`` (and the membrane after reset if asked)."""
        return lif_sequence(
            x,
            beta=self.beta,
            threshold=self.threshold,
            reset=self.reset,
            surrogate=self.surrogate,
            detach_reset=self.detach_reset,
            v0=v0,
            return_membrane=return_membrane,
        )

    def extra_repr(self) -> str:
        return (
            f"beta={self.beta:.4g}, threshold={self.threshold:g}, reset={self.reset!r}, "
            f"detach_reset={self.detach_reset}, surrogate={self.surrogate.shape}({self.surrogate.width:g})"
        )


class IF(LIF):
    """Integrate-and-fire neurons (no leak, ``beta = 1``) on time-major input ``[T, B, ...]``."""

    def __init__(
        self,
        *,
        threshold: float = 1.0,
        reset: str = "subtract",
        detach_reset: bool = False,
        surrogate: Surrogate | str | None = None,
    ) -> None:
        super().__init__(beta=1.0, threshold=threshold, reset=reset, detach_reset=detach_reset, surrogate=surrogate)


NEURONS: Registry[type[LIF]] = Registry("neuron model")
NEURONS.register("lif", LIF)
NEURONS.register("if", IF)
