"""Run-time pieces of the twin: random source, TimedArrays, spike surrogate, per-step operations.

Each Brian2 object that acts during a time step becomes one operation here, run in Brian2's schedule
order (``when``, ``order``, name). Operations are chosen by the Brian2 template name through the
:data:`OPERATIONS` registry.
"""

from __future__ import annotations

import ctypes
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import brian2
import numpy as np
import torch

from biosnn.errors import ShapeError, UnsupportedFeatureError
from biosnn.registry import Registry
from biosnn.surrogate import SURROGATES, Surrogate
from biosnn.twins.brian_adapter import (
    read_spike_queue,
    spike_list,
    synaptic_delays,
    timed_array_K,
    write_spike_queue,
)
from biosnn.twins.codegen import array_key
from biosnn.twins.functions import NumpyNamespace, logical_not


@contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """``dtype`` as torch's default floating dtype while the block runs (restored afterwards).

    NumPy computes ``integer array * Python float`` in float64; torch in its default dtype (float32 unless
    changed). The twin's generated code runs under its own dtype, so such products keep full precision.
    """
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


# -- helpers the generated code calls (by these names, see :func:`base_namespace`) ----------------------


def base_namespace() -> dict:
    """Names every generated block can use."""
    return {
        "torch": torch,
        "_numpy": NumpyNamespace,
        "logical_not": logical_not,
        "_fit": _fit,
        "_copy": _copy,
        "_put": _put,
        "_scatter_last": _scatter_last,
        "_add_at": _add_at,
        "_mix": _mix,
        "_div": _div,
        "_MaskedShape": MaskedShape,
    }


class MaskedShape:
    """The shape of a random draw restricted to the elements where ``mask`` holds (see
    :meth:`biosnn.twins.runtime.RandomSource.draw`).
    """

    __slots__ = ("mask", "full")

    def __init__(self, mask, full) -> None:
        self.mask = mask
        self.full = tuple(full) if isinstance(full, (tuple, list, torch.Size)) else (int(full),)


def _div(a, b):
    """``a / b`` rounded once, as NumPy does (also when ``a`` is a number and ``b`` a tensor)."""
    if isinstance(b, torch.Tensor) and not isinstance(a, torch.Tensor):
        dtype = b.dtype if b.is_floating_point() else torch.get_default_dtype()
        return torch.div(torch.as_tensor(a, dtype=dtype, device=b.device), b)
    return a / b


def _mix(mask, new, old):
    """Reset: ``new`` where the group spiked; with a relaxed (smooth) spike ``s``: ``s*new + (1-s)*old``."""
    if isinstance(mask, torch.Tensor) and mask.dtype == torch.bool:
        return torch.where(mask, new, old)
    return mask * new + (1 - mask) * old


def _copy(value, R):
    """``value`` itself with gradients (functional updates), a copy without (in-place updates)."""
    return value.clone() if isinstance(value, torch.Tensor) and not R.functional else value


def _fit(value, B: int, size: int, R, floating: bool = False) -> torch.Tensor:
    """``value`` as a fresh ``[B, size]`` tensor (broadcasting scalars and ``[size]``), in the twin's dtype when
    it is floating point or when ``floating`` (the value of a floating-point variable: ``y = 0`` or ``y = i``
    store a float, as NumPy's assignment into a float array does).
    """
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value, device=R.device)
    if (floating or value.dtype.is_floating_point) and value.dtype != R.dtype:
        value = value.to(R.dtype)
    if value.shape == (B, size):
        return value
    return value.expand(B, size).clone() if value.dim() <= 2 else value.reshape(B, size)


def _put(target: torch.Tensor, index: tuple, value, R) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value, dtype=target.dtype, device=target.device)
    value = value.to(target.dtype).expand(index[0].shape)
    if R.functional:
        return target.index_put(index, value)
    return target.index_put_(index, value)


def _scatter_last(target: torch.Tensor, index: torch.Tensor, value, R) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value, dtype=target.dtype, device=target.device)
    value = value.to(target.dtype).expand(target.shape[:-1] + index.shape)
    out = target.clone() if R.functional else target
    out[..., index] = value
    return out


def _add_at(
    target: torch.Tensor, eb: torch.Tensor, idx: torch.Tensor, value, mask, R, varname: str, blockname: str
) -> torch.Tensor:
    """``numpy.add.at(target, (eb, idx), value)``: accumulation in event order, per batch element."""
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value, dtype=target.dtype, device=target.device)
    value = value.to(target.dtype).expand(idx.shape)
    n = target.shape[-1]
    flat_index = idx if target.shape[0] == 1 else eb * n + idx
    grad = R.dense_grad.get((blockname, varname)) if R.dense_grad else None
    if grad is not None:
        value = value.detach()
    if mask is not None:
        flat_index, value = flat_index[mask], value[mask]
    flat = target.reshape(-1)
    out = flat.index_add(0, flat_index, value) if R.functional else flat.index_add_(0, flat_index, value)
    out = out.reshape(target.shape)
    if grad is not None:
        out = out + grad
    return out


class RandomSource:
    """Where the twin's random numbers come from (``rand()``, ``randn()``, ``poisson()``, PoissonGroup,
    PoissonInput); shapes are given by the code block (``()`` for scalar statements).
    """

    name = ""

    def __init__(self, device: torch.device, dtype: torch.dtype, seed: int | None) -> None:
        self.device = device
        self.dtype = dtype

    def draw(self, shape, sample):
        """``sample(shape)``; for a :class:`~biosnn.twins.codegen.MaskedShape`, only as many numbers as
        the mask has true elements, placed there in row-major order (zeros elsewhere).
        """
        if not isinstance(shape, MaskedShape):
            return sample(shape)
        mask = torch.as_tensor(shape.mask, device=self.device).to(torch.bool).expand(shape.full)
        values = sample((int(mask.sum()),))
        out = torch.zeros(shape.full, dtype=values.dtype, device=self.device)
        out[mask] = values
        return out

    def rand(self, shape=()):
        return self.draw(shape, self._rand)

    def randn(self, shape=()):
        return self.draw(shape, self._randn)

    def poisson(self, lam, shape=()):
        if isinstance(shape, MaskedShape) and isinstance(lam, torch.Tensor) and lam.dim():
            mask = torch.as_tensor(shape.mask, device=self.device).to(torch.bool).expand(shape.full)
            lam = lam.expand(shape.full)[mask]
        return self.draw(shape, lambda s: self._poisson(lam, s))

    def binomial(self, shape, n: int, p: float):
        return self.draw(shape, lambda s: self._binomial(s, n, p))

    def _rand(self, shape):  # pragma: no cover - interface
        raise NotImplementedError

    def _randn(self, shape):  # pragma: no cover - interface
        raise NotImplementedError

    def _poisson(self, lam, shape):  # pragma: no cover - interface
        raise NotImplementedError

    def _binomial(self, shape, n: int, p: float):  # pragma: no cover - interface
        raise NotImplementedError


RANDOM_SOURCES: Registry[type] = Registry("twin random source")


@RANDOM_SOURCES.register("torch")
class TorchRandom(RandomSource):
    """The twin's own ``torch.Generator`` on its device, seeded with ``seed`` (default: from
    ``torch.initial_seed()``). Independent draws for every trial; not Brian2's numbers.
    """

    name = "torch"

    def __init__(self, device: torch.device, dtype: torch.dtype, seed: int | None) -> None:
        super().__init__(device, dtype, seed)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed) if seed is not None else int(torch.initial_seed()) % (2**63))

    def _rand(self, shape):
        return torch.rand(shape, generator=self.generator, device=self.device, dtype=self.dtype)

    def _randn(self, shape):
        return torch.randn(shape, generator=self.generator, device=self.device, dtype=self.dtype)

    def _poisson(self, lam, shape):
        lam_t = torch.as_tensor(lam, dtype=self.dtype, device=self.device)
        return torch.poisson(lam_t.expand(shape) if shape != () else lam_t, generator=self.generator)

    def _binomial(self, shape, n: int, p: float):
        count = torch.full(shape, float(n), dtype=self.dtype, device=self.device)
        prob = torch.full(shape, float(p), dtype=self.dtype, device=self.device)
        return torch.binomial(count, prob, generator=self.generator)


@RANDOM_SOURCES.register("numpy")
class NumpyRandom(RandomSource):
    """NumPy's global generator, called as Brian2's numpy target calls it (``numpy.random.rand(N)`` per
    block and statement, in schedule order). With one trial the twin draws the very numbers Brian2 draws
    after the same ``brian2.seed(...)``, so PoissonGroups, PoissonInputs and noise give the same spikes in
    both engines; with B trials each step draws ``B*N`` numbers (trial by trial). ``seed``, if given, seeds
    NumPy's global generator (as ``brian2.seed`` does).
    """

    name = "numpy"

    def __init__(self, device: torch.device, dtype: torch.dtype, seed: int | None) -> None:
        super().__init__(device, dtype, seed)
        if seed is not None:
            np.random.seed(int(seed))

    def _tensor(self, values) -> torch.Tensor:
        return torch.as_tensor(np.asarray(values, dtype=np.float64)).to(device=self.device, dtype=self.dtype)

    def _rand(self, shape):
        return self._tensor(np.random.rand(*shape))

    def _randn(self, shape):
        return self._tensor(np.random.randn(*shape))

    def _poisson(self, lam, shape):
        lam_np = lam.detach().cpu().numpy() if isinstance(lam, torch.Tensor) else np.asarray(lam)
        if shape == ():
            return self._tensor(np.random.poisson(lam_np))
        return self._tensor(np.random.poisson(np.broadcast_to(lam_np, shape), size=shape))

    def _binomial(self, shape, n: int, p: float):
        return self._tensor(np.random.binomial(n, p, size=shape if shape != () else None))


class TimedArrays:
    """Tensor versions of the TimedArrays a network uses, with per-run (per-batch) overrides."""

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device = device
        self.dtype = dtype
        self.values: dict[str, torch.Tensor] = {}
        self.batched: dict[str, bool] = {}
        self.arrays: dict[str, Any] = {}

    def function_for(self, timed_array, runner):
        name = timed_array.name
        self.arrays[name] = timed_array
        if name not in self.values:
            self.set(name, None)
        group_dt = float(runner.clock.dt_)
        ta_dt = float(timed_array.dt)
        K = timed_array_K(group_dt, ta_dt)
        epsilon = ta_dt / K
        two_d = np.asarray(timed_array.values).ndim == 2
        store = self

        def fn(t, i=None):
            # Brian2's numpy implementation: clip(int_(round(t / epsilon) / K), 0, n_values - 1)
            vals = store.values[name]
            n_values = vals.shape[0]
            if isinstance(t, torch.Tensor) and t.dim() > 0:  # a time per element (``sound(t - delay)``)
                return timed_values_at(vals, t, i, epsilon, K, store.batched[name], two_d)
            step = int(np.clip(np.int_(np.round(t / epsilon) / K), 0, n_values - 1))
            row = vals[step]
            if two_d:
                return row[..., i.long() if isinstance(i, torch.Tensor) else i]
            return row.unsqueeze(-1) if store.batched[name] else row

        return fn

    def set(self, name: str, override: torch.Tensor | None) -> None:
        ta = self.arrays.get(name)
        base = np.asarray(ta.values, dtype=float) if ta is not None else None
        if override is None:
            self.values[name] = torch.as_tensor(base, dtype=self.dtype, device=self.device)
            self.batched[name] = False
        else:
            self.values[name] = override.to(device=self.device, dtype=self.dtype)
            self.batched[name] = override.dim() == base.ndim + 1


def timed_values_at(
    values: torch.Tensor, t: torch.Tensor, i, epsilon: float, K: int, batched: bool, two_d: bool
) -> torch.Tensor:
    r"""A TimedArray's values at a time per element: ``values[k(t)]`` (``values[k(t), i]`` for a 2-d array),
    :math:`k(t) = \mathrm{clip}(\mathrm{int}(\mathrm{round}(t/\epsilon)/K), 0, n-1)`, computed with NumPy as
    Brian2's numpy target computes it (the index carries no gradient).

    ``values`` is ``[n]`` or ``[n, C]``, or with one row per trial (``batched``) ``[n, B]`` or ``[n, B, C]``;
    ``t`` is ``[N]`` or ``[B, N]``; the result has the shape of ``t`` (``[B, N]`` when ``values`` is per trial).
    """
    t_np = t.detach().cpu().numpy()
    steps_np = np.clip(np.int_(np.round(t_np / epsilon) / K), 0, values.shape[0] - 1)
    steps = torch.as_tensor(steps_np, dtype=torch.long, device=values.device)
    index: list = [steps]
    if batched:
        B = values.shape[1]
        steps = steps.expand(B, steps.shape[-1]) if steps.dim() == 1 else steps
        index = [steps, torch.arange(B, device=values.device).unsqueeze(1)]
    if two_d:
        index.append(i.long() if isinstance(i, torch.Tensor) else torch.as_tensor(i, device=values.device))
    return values[tuple(index)]


class SurrogateSpike(torch.autograd.Function):
    """Forward: Brian2's boolean threshold condition as 0/1; backward: the surrogate of ``v`` (scaled)."""

    @staticmethod
    def forward(ctx, cond, v, shape, width):
        ctx.save_for_backward(v)
        ctx.shape = shape
        ctx.width = width
        return cond.to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return None, grad * ctx.shape.derivative(v, ctx.width), None, None


@dataclass
class Context:
    """What the generated blocks see at run time besides the state arrays."""

    B: int
    dtype: torch.dtype
    device: torch.device
    functional: bool
    surrogate: Surrogate
    vshape: tuple = ()
    events: dict = field(default_factory=dict)  # eventspace key -> (bool [B, N], value [B, N])
    dense_grad: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # per-run values of constant scalar expressions
    relaxed: bool = False


class Operation:
    """One scheduled Brian2 object in the twin. ``every``: run on steps divisible by it (own clock).

    Calling an operation runs its tensor code; :meth:`kernel_step` (where a target compiled the block into
    :attr:`kernel`) runs the compiled kernel instead. A target chooses one of the two per operation once, when
    it builds its steps (:mod:`biosnn.twins.targets`), not at every step.
    """

    name: str = ""
    every: int = 1
    clock_dt: float = 0.0
    kernel: Any = None  # biosnn.twins.kernels.Kernel, when the C back end compiled this block

    def reset_state(self) -> None:
        """Forget run-time memory (spike queues)."""

    def __call__(self, S: dict, R: Context, step: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    kernel_step = None  # (S, R, step) -> None with the compiled kernel, on the operations a kernel can run

    @classmethod
    def build(cls, s, ns: dict, device: torch.device) -> Operation:  # pragma: no cover - interface
        """The operation of the scheduled block ``s`` (:class:`biosnn.twins.capture.ScheduledBlock`)."""
        raise NotImplementedError

    def time(self, step: int) -> tuple[float, int]:
        ts = step // self.every
        return ts * self.clock_dt, ts


OPERATIONS: Registry[type] = Registry("twin operation (Brian2 template)")


@OPERATIONS.register("stateupdate")
class UpdateOp(Operation):
    """State updaters, ``run_regularly`` operations and PoissonInput: a block over a whole group."""

    def __init__(self, name: str, block, size: int) -> None:
        self.name = name
        self.block = block
        self.size = size

    @classmethod
    def build(cls, s, ns, device):
        return cls(s.name, s.block, len(s.obj.group))

    def __call__(self, S, R, step):
        T, TS = self.time(step)
        R.vshape = (R.B, self.size)
        self.block.fn(S, R, T, TS)

    def kernel_step(self, S, R, step):
        T, TS = self.time(step)
        k = self.kernel
        k.fn(R.B, T, TS, k.scalars(S, R, T, TS), k.pointers(S))


@OPERATIONS.register("threshold")
class ThresholdOp(Operation):
    """Threshold: Brian2's condition (exact spikes) plus the surrogate of the distance to threshold."""

    def __init__(self, name, block, size, eventspace, group_name, refractory_keys, scale):
        self.name = name
        self.block = block
        self.size = size
        self.eventspace = eventspace
        self.group_name = group_name
        self.refractory_keys = refractory_keys  # (not_refractory key, lastspike key) or None
        self.scale = scale
        self._buffers: tuple | None = None

    @classmethod
    def build(cls, s, ns, device):
        o = s.obj
        ev = array_key(o.group.variables[f"_{o.event}space"])
        refr = None
        if s.code.template_kwds.get("_uses_refractory"):
            refr = (array_key(o.group.variables["not_refractory"]), array_key(o.group.variables["lastspike"]))
        return cls(o.name, s.block, len(o.group), ev, o.group.name, refr, s.block.surrogate_scale)

    def kernel_step(self, S, R, step):
        T, TS = self.time(step)
        k = self.kernel
        if self._buffers is None or self._buffers[0].shape != (R.B, self.size):
            n = R.B * self.size
            self._buffers = (
                torch.zeros(R.B, self.size, dtype=torch.bool),
                torch.zeros(n, dtype=torch.long),
                torch.zeros(n, dtype=torch.long),
            )
        cond, sb, si = self._buffers
        count = k.fn(R.B, T, TS, k.scalars(S, R, T, TS), k.pointers(S), cond.data_ptr(), sb.data_ptr(), si.data_ptr())
        # the spike list outlives the step (queues, records): copies; the condition is used within the step
        R.events[self.eventspace] = (cond, None, (sb[:count].clone(), si[:count].clone()))

    def __call__(self, S, R, step):
        T, TS = self.time(step)
        R.vshape = (R.B, self.size)
        out = self.block.fn(S, R, T, TS)
        cond = out["_cond"]
        if not isinstance(cond, torch.Tensor) or cond.shape != (R.B, self.size):
            cond = torch.as_tensor(cond, device=R.device).expand(R.B, self.size)
        cond = cond.to(torch.bool)
        if self.refractory_keys is not None:
            nr, ls = self.refractory_keys
            S[nr] = torch.where(cond, False, S[nr])
            S[ls] = torch.where(cond, T, S[ls])
        if R.relaxed:
            if out.get("_vsur") is None:
                raise UnsupportedFeatureError(
                    f"{self.name}: relaxed runs need a threshold of the form 'a > b' (no surrogate here)"
                )
            value = R.surrogate.relaxed(torch.as_tensor(out["_vsur"]) / self.scale).expand(R.B, self.size)
        elif R.functional and isinstance(out.get("_vsur"), torch.Tensor) and out["_vsur"].requires_grad:
            v = out["_vsur"] / self.scale
            value = SurrogateSpike.apply(
                cond, v.expand(R.B, self.size), SURROGATES[R.surrogate.shape], float(R.surrogate.width)
            )
        elif R.functional:
            value = cond.to(R.dtype)
        else:
            value = None  # spike values are only needed for gradients; indices are enough otherwise
        R.events[self.eventspace] = (cond, value, cond.nonzero(as_tuple=True))


@OPERATIONS.register("reset")
class ResetOp(Operation):
    def __init__(self, name, block, size, eventspace):
        self.name = name
        self.block = block
        self.size = size
        self.eventspace = eventspace

    @classmethod
    def build(cls, s, ns, device):
        o = s.obj
        return cls(o.name, s.block, len(o.group), array_key(o.group.variables[f"_{o.event}space"]))

    def __call__(self, S, R, step):
        ev = R.events.get(self.eventspace)
        if ev is None:
            return
        T, TS = self.time(step)
        R.vshape = (R.B, self.size)
        self.block.fn(S, R, T, TS, _MASK=ev[1] if R.relaxed else ev[0])

    def kernel_step(self, S, R, step):
        ev = R.events.get(self.eventspace)
        if ev is None:
            return
        T, TS = self.time(step)
        b, i = ev[2]
        if b.shape[0]:
            k = self.kernel
            b, i = b.contiguous(), i.contiguous()
            k.fn(b.shape[0], b.data_ptr(), i.data_ptr(), T, TS, k.scalars(S, R, T, TS), k.pointers(S))


@OPERATIONS.register("summed_variable")
class SummedOp(Operation):
    """``(summed)`` variables: the sum over synapses, in synapse order (``numpy.bincount``)."""

    def __init__(self, name, block, n_synapses, target_key, target_size, index, start, stop):
        self.name = name
        self.block = block
        self.size = n_synapses
        self.target_key = target_key
        self.target_size = target_size
        self.index = index  # long tensor [S], relative to start
        self.start = start
        self.stop = stop

    @classmethod
    def build(cls, s, ns, device):
        kw = s.code.template_kwds
        start = int(kw["_target_start"])
        stop = int(kw["_target_stop"])
        target = kw["_target_var"]
        size = int(target.size)
        stop = size if stop < 0 else stop
        idx = np.asarray(kw["_index_var"].get_value()).astype(np.int64) - start
        index = torch.as_tensor(idx, device=device)
        return cls(s.name, s.block, len(s.obj.group), array_key(target), size, index, start, stop)

    def __call__(self, S, R, step):
        T, TS = self.time(step)
        R.vshape = (R.B, self.size)
        value = self.block.fn(S, R, T, TS)["_synaptic_var"]
        value = torch.as_tensor(value, device=R.device)
        value = value.to(R.dtype).expand(R.B, self.size)
        n = self.stop - self.start
        total = IndexSum.apply(value, self.index, n)
        if self.start == 0 and self.stop == self.target_size:
            S[self.target_key] = total
        else:
            out = S[self.target_key].clone()
            out[:, self.start : self.stop] = total
            S[self.target_key] = out


class IndexSum(torch.autograd.Function):
    r"""``out[b, j] = \sum_{s: index_s = j} value[b, s]`` in synapse order (``index_add``, as ``numpy.bincount``
    sums), whose backward pass keeps only the index: ``index_add``'s own keeps ``value`` too (for its
    shape), one ``[B, n_synapses]`` tensor per step and summed variable on the gradient path.
    """

    @staticmethod
    def forward(ctx, value, index, n):
        ctx.save_for_backward(index)
        ctx.value_shape = value.shape
        return value.new_zeros(value.shape[0], n).index_add_(1, index, value)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        return grad.index_select(1, index).expand(ctx.value_shape), None, None


@OPERATIONS.register("spikegenerator")
class SpikeGeneratorOp(Operation):
    """SpikeGeneratorGroup: Brian2's time bins (with its period), optionally per-batch spike overrides."""

    def __init__(self, name, group_name, size, eventspace, timebins, neuron_index, period_bins):
        self.name = name
        self.group_name = group_name
        self.size = size
        self.eventspace = eventspace
        self.by_bin: dict[int, np.ndarray] = {}
        for b in np.unique(timebins):
            self.by_bin[int(b)] = np.asarray(neuron_index[timebins == b], dtype=np.int64)
        self.period = int(period_bins)
        self.override: torch.Tensor | None = None
        self.override_start = 0

    @classmethod
    def build(cls, s, ns, device):
        o = s.obj
        spikes = spike_list(o)
        eventspace = array_key(o.variables["_spikespace"])
        return cls(o.name, o.name, len(o), eventspace, spikes.timebins, spikes.neuron_index, spikes.period_bins)

    def __call__(self, S, R, step):
        if self.override is not None:
            k = step - self.override_start
            cond = (
                self.override[k].to(torch.bool)
                if 0 <= k < self.override.shape[0]
                else torch.zeros(R.B, self.size, dtype=torch.bool, device=R.device)
            )
        else:
            b = step % self.period if self.period > 0 else step
            idx = self.by_bin.get(b)
            cond = torch.zeros(R.B, self.size, dtype=torch.bool, device=R.device)
            if idx is not None:
                i = torch.as_tensor(idx, device=R.device)
                cond[:, i] = True
                # Brian2's order within the step (its spike list: by time, then index), trial after trial: the
                # order of SpikeMonitor.it and of the spike queue (so of the sums into postsynaptic variables)
                spikes = (torch.arange(R.B, device=R.device).repeat_interleave(i.shape[0]), i.repeat(R.B))
                R.events[self.eventspace] = (cond, cond.to(R.dtype) if (R.functional or R.relaxed) else None, spikes)
                return
        R.events[self.eventspace] = (
            cond,
            cond.to(R.dtype) if (R.functional or R.relaxed) else None,
            cond.nonzero(as_tuple=True),
        )


@OPERATIONS.register("synapses")
class PathwayOp(Operation):
    """A synaptic pathway (``on_pre``/``on_post``/custom event) with Brian2's spike-queue order.

    Events delivered at a step are ordered as Brian2's :class:`SpikeQueue` orders them: by the step
    they were pushed (oldest first, i.e. longest delay first), then by source neuron, then by synapse
    index. That order is the accumulation order of ``numpy.add.at`` and is kept here, so sums into
    postsynaptic variables round identically.
    """

    def __init__(self, name, block, eventspace, start, stop, sources, delays, n_synapses, dense, source_size=None):
        self.name = name
        self.block = block
        self.eventspace = eventspace
        self.start = start
        self.stop = stop
        self.n_src = stop - start
        self.subgroup = start != 0 or (source_size is not None and stop != source_size)
        self.n_synapses = n_synapses
        device = sources.device
        self.sources = sources  # long [S], relative to start
        d = np.asarray(delays, dtype=np.int64)
        self.homogeneous = d.size <= 1 or bool(np.all(d == d.flat[0]))
        self.delay = int(d.flat[0]) if d.size else 0
        self.max_delay = int(d.max()) if d.size else 0
        self.L = self.max_delay + 1
        src = sources.cpu().numpy()
        counts = np.bincount(src, minlength=self.n_src) if src.size else np.zeros(self.n_src, np.int64)
        self.table = torch.as_tensor(synapse_table(src, self.n_src), device=device)
        dd = np.broadcast_to(d, src.shape) if d.size <= 1 else d
        if not self.homogeneous:
            self.delays = torch.as_tensor(dd, dtype=torch.long, device=device)
            perm = np.lexsort((np.arange(src.size), src, -dd))  # delay desc, source asc, synapse asc
            self.perm = torch.as_tensor(perm, dtype=torch.long, device=device)
        # for the C kernel and the queue transfer: the synapses of source j, by (delay, index), are
        # c_order[pointer[j]:pointer[j+1]], with delays c_delays[pointer[j]:pointer[j+1]]
        self.pointer = torch.as_tensor(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), device=device)
        by_delay = np.lexsort((np.arange(src.size), dd, src)) if src.size else np.zeros(0, np.int64)
        self.c_order = torch.as_tensor(by_delay, dtype=torch.long, device=device)
        self.c_delays = torch.as_tensor(
            np.asarray(dd, dtype=np.int64)[by_delay] if src.size else np.zeros(0, np.int64), device=device
        )
        self.min_delay = int(d.min()) if d.size else 0
        self.dense = dense  # list of (varname, target key, target index tensor, fn)
        self._links: dict[int, SynapseLinks] = {}  # index structures of the dense gradient terms
        self.reset_state()

    @classmethod
    def build(cls, s, ns, device):
        o = s.obj
        src = o.source
        start = int(getattr(src, "start", 0))
        stop = int(getattr(src, "stop", len(src)))
        sources = np.asarray(o.synapse_sources.get_value()).astype(np.int64) - start
        steps = np.round(synaptic_delays(o) / float(src.clock.dt_)).astype(np.int64)
        dense = [term._replace(index=ns[term.index]) for term in s.block.dense]
        return cls(
            o.name,
            s.block,
            array_key(src.variables[f"_{o.event}space"]),
            start,
            stop,
            torch.as_tensor(sources, device=device),
            steps,
            len(o.synapses),
            dense,
            source_size=len(src.source) if isinstance(src, brian2.Subgroup) else len(src),
        )

    def reset_state(self) -> None:
        self.hist: torch.Tensor | None = None  # [L, B, n_src] conditions (tensor code, heterogeneous delays)
        self.val_hist: list | None = None
        self.nz_hist: list | None = None  # spiking (batch, neuron) of the whole source group, per slot
        self._ring = None  # the same spikes as C arrays (counts, batch pointers, neuron pointers)
        self.pos = 0

    def _push(self, nz) -> None:
        """Put this step's spikes (of the whole source group) into the queue's current slot."""
        if self.nz_hist is None:
            self.val_hist = [None] * self.L
            self.nz_hist = [None] * self.L
            self._ring = ((ctypes.c_int64 * self.L)(), (ctypes.c_void_p * self.L)(), (ctypes.c_void_p * self.L)())
        if nz is not None and self.kernel is not None:
            nz = (nz[0].contiguous(), nz[1].contiguous())
        self.nz_hist[self.pos] = nz
        counts, sbs, sis = self._ring
        n = 0 if nz is None else int(nz[0].shape[0])
        counts[self.pos] = n
        sbs[self.pos] = nz[0].data_ptr() if n else None
        sis[self.pos] = nz[1].data_ptr() if n else None

    # -- spikes in flight, to and from Brian2's SpikeQueue ---------------------------------------
    def pending_events(self, batch_index: int) -> list[list[int]]:
        """Synaptic events of trial ``batch_index`` still in flight after the last step: ``rows[r]`` holds
        the synapses whose event arrives ``r`` steps after it, in Brian2's insertion order (oldest push
        first, then source, then synapse).
        """
        rows: list[list[int]] = [[] for _ in range(self.L)]
        if self.nz_hist is None:
            return rows
        order = self.c_order.cpu().numpy()
        delays = self.c_delays.cpu().numpy()
        pointer = self.pointer.cpu().numpy()
        for j in range(self.L - 1, 0, -1):  # pushed j steps before the next step
            nz = self.nz_hist[(self.pos - j) % self.L]
            if nz is None:
                continue
            b, i = nz[0].cpu().numpy(), nz[1].cpu().numpy()
            for src in i[b == batch_index] - self.start:
                if not 0 <= src < self.n_src:
                    continue
                for p in range(pointer[src], pointer[src + 1]):  # by (delay, index)
                    if delays[p] >= j:
                        rows[delays[p] - j].append(int(order[p]))
        return rows

    def set_pending(self, rows: list[list[int]], B: int, device) -> None:
        """Start from Brian2's events in flight (``rows`` as :meth:`pending_events` gives them), the same
        for every trial: each event becomes the spike of its source, pushed ``delay - r`` steps ago.
        """
        self.reset_state()
        self._push(None)  # creates the ring (empty)
        sources = self.sources.cpu().numpy()
        d_of = np.empty(len(sources), dtype=np.int64)
        d_of[self.c_order.cpu().numpy()] = self.c_delays.cpu().numpy()
        pushed: dict[int, set] = {}
        for r, row in enumerate(rows):
            for syn in row:
                j = int(d_of[syn]) - r
                if not 1 <= j < self.L:
                    raise ShapeError(
                        f"{self.name}: an event in Brian2's queue does not fit the synapse's delay "
                        "(were delays changed after the spikes were sent?)"
                    )
                pushed.setdefault(j, set()).add(int(sources[syn]) + self.start)
        counts, sbs, sis = self._ring
        for j, srcs in pushed.items():
            slot = (-j) % self.L
            i = torch.as_tensor(sorted(srcs), dtype=torch.long, device=device)
            b = torch.arange(B, dtype=torch.long, device=device).repeat_interleave(len(srcs))
            i = i.repeat(B)
            self.nz_hist[slot] = (b, i)
            counts[slot], sbs[slot], sis[slot] = int(b.shape[0]), b.data_ptr(), i.data_ptr()

    def _conditions_from_ring(self, B: int, device) -> torch.Tensor:
        """``[L, B, n_src]`` spike conditions of the queue's slots (what the tensor code reads with
        heterogeneous delays), from the spike ring both back ends and the queue transfer keep.
        """
        hist = torch.zeros(self.L, B, self.n_src, dtype=torch.bool, device=device)
        for slot, nz in enumerate(self.nz_hist or ()):
            if nz is not None and nz[0].shape[0]:
                keep = (nz[1] >= self.start) & (nz[1] < self.stop)
                hist[slot, nz[0][keep], nz[1][keep] - self.start] = True
        return hist

    def _expand(self, b: torch.Tensor, i: torch.Tensor):
        """Synaptic events ``(batch, synapse)`` of the spiking sources ``(b, i)``, in queue order."""
        if self.subgroup:
            keep = (i >= self.start) & (i < self.stop)
            b, i = b[keep], i[keep] - self.start
        rows = self.table[i]  # [K0, max_degree], synapses of each source in ascending order, -1 padded
        valid = rows >= 0
        return b.unsqueeze(1).expand_as(rows)[valid], rows[valid]

    def _compiled(self, S, R, step, ev):
        """The C kernel: the spikes that arrive now, oldest push first, source by source, synapse by synapse."""
        self._push(ev[2] if ev is not None else None)
        self.val_hist[self.pos] = None
        self.hist = None  # the tensor code rebuilds its condition history from the ring when it next runs
        counts, sbs, sis = self._ring
        if self.homogeneous and not counts[(self.pos - self.delay) % self.L]:
            return  # nothing arrives
        T, TS = self.time(step)
        k = self.kernel
        dmin, dmax = (self.delay, self.delay) if self.homogeneous else (self.min_delay, self.max_delay)
        k.fn(
            self.pos,
            self.L,
            counts,
            sbs,
            sis,
            dmin,
            dmax,
            self.start,
            self.n_src,
            self.pointer.data_ptr(),
            self.c_order.data_ptr(),
            self.c_delays.data_ptr(),
            T,
            TS,
            k.scalars(S, R, T, TS),
            k.pointers(S),
        )

    def kernel_step(self, S, R, step):
        self._compiled(S, R, step, R.events.get(self.eventspace))
        self.pos = (self.pos + 1) % self.L

    def __call__(self, S, R, step):
        ev = R.events.get(self.eventspace)
        B = R.B
        if ev is None:
            cond = torch.zeros(B, self.n_src, dtype=torch.bool, device=R.device)
            value = cond.to(R.dtype)
            nz = None
        else:
            cond, value, nz = ev
            if self.subgroup:
                cond = cond[:, self.start : self.stop]
                value = value[:, self.start : self.stop] if value is not None else None
        self._push(nz)
        if not self.homogeneous:
            if self.hist is None:
                self.hist = self._conditions_from_ring(B, R.device)
            self.hist[self.pos] = cond
        self.val_hist[self.pos] = value if (R.functional or R.relaxed) else None
        if R.relaxed:
            self._relaxed(S, R, step)
            self.pos = (self.pos + 1) % self.L
            return
        if self.homogeneous:
            arrived = self.nz_hist[(self.pos - self.delay) % self.L]
            if arrived is None or arrived[0].shape[0] == 0:
                if R.functional and self.dense:
                    self._dense_terms(S, R, step)
                R.dense_grad = {}
                self.pos = (self.pos + 1) % self.L
                return
            EB, ES = self._expand(*arrived)
        else:
            slots = (self.pos - self.delays) % self.L
            arrived = self.hist[slots, :, self.sources].T  # [B, S]
            EB, p = arrived[:, self.perm].nonzero(as_tuple=True)
            ES = self.perm[p]
        if R.functional and self.dense:
            self._dense_terms(S, R, step)
        if ES.shape[0]:
            T, TS = self.time(step)
            self.block.fn(S, R, T, TS, EB, ES)
        R.dense_grad = {}
        self.pos = (self.pos + 1) % self.L

    def _relaxed(self, S, R, step):
        """Relaxed model: every synapse transmits ``f(w) * s_pre`` with the smooth spike ``s_pre``."""
        if not self.block.relaxable:
            raise UnsupportedFeatureError(
                f"{self.name}: relaxed runs support only pathways of the form 'x_post += f(synaptic variables)'"
            )
        self._dense_terms(S, R, step)
        for (_blockname, varname), term in list(R.dense_grad.items()):
            key = next(term.key for term in self.dense if term.var == varname)
            S[key] = S[key] + term
        R.dense_grad = {}

    def _dense_terms(self, S, R, step):
        """Zero-valued terms whose gradient is that of ``x_post += f(w) * spike_pre`` over all synapses."""
        if self.homogeneous:
            vals = self.val_hist[(self.pos - self.delay) % self.L]
            if vals is None:
                return
            src = self.sources  # spikes per source; the synapse's source picks its value
        else:
            slots = (self.pos - self.delays) % self.L
            zero = torch.zeros(R.B, self.n_src, dtype=R.dtype, device=R.device)
            stack = torch.stack([v if v is not None else zero for v in self.val_hist])
            vals, src = stack[slots, :, self.sources].T, None  # already per synapse
        T, TS = self.time(step)
        R.vshape = (R.B, self.n_synapses)
        for varname, key, index, fn, blockname in self.dense:  # biosnn.twins.codegen.DenseTerm
            f = torch.as_tensor(fn(S, R, T, TS), dtype=R.dtype, device=R.device)
            n = S[key].shape[-1]
            if R.relaxed:  # the smooth model: the term itself is the transmission
                sv = vals[:, src] if src is not None else vals
                contrib = (f * sv).expand(R.B, self.n_synapses)
                R.dense_grad[(blockname, varname)] = torch.zeros(R.B, n, dtype=R.dtype, device=R.device).index_add(
                    1, index, contrib
                )
            else:
                links = self._links.get(id(index))
                if links is None or links.target is not index:
                    links = self._links[id(index)] = SynapseLinks(
                        src, index, self.n_src, self.table if src is not None else None
                    )
                R.dense_grad[(blockname, varname)] = DenseGradient.apply(f, vals, links, n)


def make_operation(s, ns: dict, device: torch.device) -> Operation:
    """The operation of the scheduled block ``s``, by its Brian2 template (:data:`OPERATIONS`), on its clock."""
    op = OPERATIONS[s.template].build(s, ns, device)
    op.every = s.every
    op.clock_dt = s.dt
    return op


def synapse_table(sources: np.ndarray, n_source: int) -> np.ndarray:
    """``table[j]``: the synapses of source ``j`` in ascending order, padded with ``-1`` to the largest
    out-degree (``[n_source, max_degree]``).
    """
    sources = np.asarray(sources, dtype=np.int64)
    order = np.argsort(sources, kind="mergesort")
    counts = np.bincount(sources, minlength=n_source) if sources.size else np.zeros(n_source, np.int64)
    width = int(counts.max()) if counts.size else 0
    table = np.full((n_source, max(width, 1)), -1, dtype=np.int64)
    if sources.size:
        rank = np.arange(sources.size) - np.repeat(np.cumsum(counts) - counts, counts)
        table[sources[order], rank] = order
    return table


class SynapseLinks:
    """Index structures of one pathway's synapses for :class:`DenseGradient`: per-synapse source and
    target, the per-source synapse table (``-1`` padded) and the source-major CSR layout.
    """

    def __init__(
        self, source: torch.Tensor | None, target: torch.Tensor, n_source: int, table: torch.Tensor | None = None
    ) -> None:
        self.source = source
        self.target = target
        self.table = table
        if source is not None:
            if table is None:
                self.table = torch.as_tensor(synapse_table(source.cpu().numpy(), n_source), device=source.device)
            self.order = torch.argsort(source, stable=True)
            counts = torch.bincount(source, minlength=n_source)
            self.crow = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
            self.col = target[self.order]
        self._matrix: tuple | None = None  # (f, its version, CSR matrix): the last one built

    def matrix(self, f: torch.Tensor, n_source: int, n_target: int) -> torch.Tensor:
        """The ``[n_source, n_target]`` CSR matrix of the synapses with values ``f`` (per synapse or one
        value), kept while ``f`` is the same unchanged tensor (or the same number): the backward pass of
        a run meets the same weights at every step.
        """
        cached = self._matrix
        if cached is not None:
            old, version, matrix = cached
            same = (old is f and old._version == version) or (f.dim() == 0 and old.dim() == 0 and bool(old == f))
            if same:
                return matrix
        weights = f.detach().expand(self.target.shape[0])[self.order].contiguous()
        with warnings.catch_warnings():  # CSR support is "beta"; the layout is built here, valid
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            matrix = torch.sparse_csr_tensor(
                self.crow, self.col, weights, size=(n_source, n_target), check_invariants=False
            )
        self._matrix = (f, f._version, matrix)
        return matrix


class DenseGradient(torch.autograd.Function):
    r"""Zeros ``[B, n_post]`` whose gradient is that of :math:`x_j = \sum_{s: post(s) = j} f_s\, v_{pre(s)}`.

    The forward pass costs nothing (the exact forward value comes from the spiking synapses alone); the
    backward pass gives :math:`\partial L/\partial f_s = \sum_b g_{b, post(s)} v_{b, pre(s)}` (from the
    spiking sources only: ``v`` is 0 or 1) and :math:`\partial L/\partial v_{b,i} = \sum_{s: pre(s) = i}
    f_s\, g_{b, post(s)}` over every synapse (a sparse matrix product), so gradients reach every weight and
    every presynaptic surrogate spike.
    """

    @staticmethod
    def forward(ctx, f, values, links, n_post):
        ctx.save_for_backward(f, values)
        ctx.links = links
        return values.new_zeros(values.shape[0], n_post)

    @staticmethod
    def backward(ctx, grad):
        f, values = ctx.saved_tensors
        links = ctx.links
        grad_f = grad_values = None
        if ctx.needs_input_grad[0]:
            grad_f = DenseGradient._grad_f(f, values, links, grad)
        if ctx.needs_input_grad[1]:
            grad_values = DenseGradient._grad_values(f, values, links, grad)
        return grad_f, grad_values, None, None

    @staticmethod
    def _grad_f(f, values, links, grad):
        if links.source is None:  # values per synapse
            per_synapse = grad[:, links.target] * values
        else:
            b, i = values.nonzero(as_tuple=True)
            rows = links.table[i]
            valid = rows >= 0
            syn = rows[valid]
            bb = b.unsqueeze(1).expand_as(rows)[valid]
            contrib = grad[bb, links.target[syn]] * values[b, i].unsqueeze(1).expand_as(rows)[valid]
            n_syn = links.target.shape[0]
            if f.dim() == 2:
                return torch.zeros_like(f).index_put_((bb, syn), contrib, accumulate=True)
            out = grad.new_zeros(n_syn).index_add_(0, syn, contrib)
            return out if f.dim() == 1 else out.sum()
        if f.dim() == 2:
            return per_synapse
        return per_synapse.sum(0) if f.dim() == 1 else per_synapse.sum()

    @staticmethod
    def _grad_values(f, values, links, grad):
        if links.source is None:
            return (grad[:, links.target] * f).expand_as(values)
        if f.dim() < 2:  # one sparse matrix product instead of [B, S] temporaries
            matrix = links.matrix(f, values.shape[1], grad.shape[1])
            return torch.sparse.mm(matrix, grad.t().contiguous()).t()
        contrib = grad[:, links.target] * f  # weights per trial
        return torch.zeros_like(values).index_add(1, links.source, contrib)


def available_memory(device: torch.device) -> int | None:
    """Bytes of memory free for new tensors on ``device`` (``MemAvailable`` of ``/proc/meminfo`` on the CPU,
    ``torch.cuda.mem_get_info`` on a GPU); ``None`` where the system does not say.
    """
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


#: size (bytes) from which glibc serves an allocation with its own mmap (freed to the system on release)
MMAP_THRESHOLD = 1 << 20
#: bytes kept per step by a run with gradients from which :func:`limit_heap_fragmentation` is applied
HEAP_TUNE_BYTES = 1 << 20
_heap_tuned = False


def limit_heap_fragmentation() -> None:
    """Serve allocations of :data:`MMAP_THRESHOLD` bytes and more with mmap (glibc's ``M_MMAP_THRESHOLD``).

    On the gradient path every step allocates large temporaries (``[B, n_synapses]``) between the tensors
    autograd keeps for the backward pass. glibc's default threshold grows with the largest block freed
    (up to 32 MB), so those temporaries come from the heap, and the kept tensors pin its pages: measured
    on a Brunel-Wang-shaped network (1000 neurons, 800k synapses), the process grew by 28 MB per step for
    6.6 MB of live tensors. With a fixed threshold it grows by the live tensors only. It costs time where
    memory is not the limit (CUBA 4000 with a weight per synapse, B = 1, 67 kB kept per step: backward 2.4-2.5
    ms per step with glibc's default, 3.0-5.0 ms with the threshold), so :class:`GradientMemoryGuard` sets it
    only for runs that keep :data:`HEAP_TUNE_BYTES` per step or more. Process-wide, set once; no effect where
    the C library is not glibc. The environment
    variable ``BIOSNN_TWIN_MMAP_THRESHOLD`` sets another threshold in bytes (``0``: leave glibc's own).
    """
    global _heap_tuned
    if _heap_tuned:
        return
    _heap_tuned = True
    threshold = int(os.environ.get("BIOSNN_TWIN_MMAP_THRESHOLD", MMAP_THRESHOLD))
    if threshold <= 0:
        return
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(-3, threshold)  # M_MMAP_THRESHOLD


class GradientMemoryGuard:
    """Bounds the memory of a run with gradients: autograd keeps, for the backward pass, tensors of every
    step (spikes, surrogate inputs, and per-synapse states that multiply a parameter, such as the NMDA
    gating ``s`` of ``s_tot_post = w * s (summed)``), so the memory grows linearly with the number of steps.

    On sampled steps (the first two, then every :attr:`every`-th) it counts the bytes of the new tensors
    autograd saves (each storage once, parameters and index arrays excluded), and raises
    :class:`~biosnn.errors.MemoryBudgetError` as soon as their mean times the run's number of steps exceeds
    :attr:`fraction` of the memory available at the start, before the machine runs out.
    """

    every = 64
    fraction = 0.8

    def __init__(self, n_steps: int, device: torch.device, static: list, label: str) -> None:
        self.n_steps = n_steps
        self.available = available_memory(device)
        self.cpu = device.type == "cpu"
        self.static = {t.untyped_storage().data_ptr() for t in static if isinstance(t, torch.Tensor)}
        self.label = label
        self.seen: set[int] = set()
        self.sampled = 0
        self.saved = 0
        self._step_bytes = 0

    def sampling(self, k: int) -> bool:
        return k < 2 or (self.available is not None and k % self.every == 0)

    def _pack(self, t):
        if isinstance(t, torch.Tensor) and t.layout == torch.strided:
            storage = t.untyped_storage()
            ptr = storage.data_ptr()
            if ptr and ptr not in self.static and ptr not in self.seen:
                self.seen.add(ptr)
                self._step_bytes += storage.nbytes()
        return t

    @contextmanager
    def step(self, k: int, t: float):
        """Count what the step saves; check the projection after it."""
        self._step_bytes = 0
        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda x: x):
            yield
        self.sampled += 1
        self.saved += self._step_bytes
        per_step = self.saved / self.sampled
        if self.cpu and per_step >= HEAP_TUNE_BYTES:
            limit_heap_fragmentation()
        need = per_step * self.n_steps
        if self.available is not None and need > self.fraction * self.available:
            from biosnn.errors import MemoryBudgetError

            raise MemoryBudgetError(
                f"{self.label}: the gradient path keeps about {per_step / 1e6:.1f} MB per step for the backward pass "
                f"(measured at t = {t * 1e3:g} ms), so its {self.n_steps} steps need about {need / 1e9:.1f} GB; "
                f"{self.available / 1e9:.1f} GB are available. Run shorter windows (several run() calls, each "
                "followed by backward(): truncated BPTT), fewer synapses or trials, or without gradients "
                "(torch.no_grad(), or parameters with requires_grad=False)"
            )


def check_input_tensor(name: str, value: Any, shapes: list[tuple], device, dtype) -> torch.Tensor:
    """Convert ``value`` to a tensor and check it has one of ``shapes`` (``ShapeError`` otherwise)."""
    from biosnn.errors import NonFiniteError, ParameterError

    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(np.asarray(value, dtype=float))
        except (TypeError, ValueError) as exc:
            raise ShapeError(
                f"input {name!r} must be a tensor or array of numbers, got {type(value).__name__}"
            ) from exc
    if value.is_complex():
        raise ParameterError(f"input {name!r} must hold real numbers, got a {value.dtype} tensor")
    if not (value.is_floating_point() or value.dtype == torch.bool):
        value = value.to(dtype)
    if tuple(value.shape) not in [tuple(s) for s in shapes]:
        want = " or ".join(str(list(s)) for s in shapes)
        raise ShapeError(f"input {name!r} has shape {list(value.shape)}, expected {want}")
    if value.is_floating_point():
        bad = ~torch.isfinite(value.detach())
        if bool(bad.any()):
            first = torch.nonzero(bad)[0].tolist()
            n_nan = int(torch.isnan(value.detach()).sum())
            raise NonFiniteError(
                f"inputs= {name!r}: {int(bad.sum())} of {value.numel()} values are not finite "
                f"({n_nan} NaN, {int(bad.sum()) - n_nan} infinite), the first at {first}; "
                "nothing was simulated"
            )
    return value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)


def scale_for(dim) -> float:
    """Scale of the surrogate's argument: 1 mV for voltages, 1 (SI) otherwise."""
    from brian2 import volt

    return 1e-3 if dim == volt.dim else 1.0


__all__ = [
    "DenseGradient",
    "SynapseLinks",
    "OPERATIONS",
    "RANDOM_SOURCES",
    "read_spike_queue",
    "write_spike_queue",
    "Context",
    "NumpyRandom",
    "RandomSource",
    "SurrogateSpike",
    "TimedArrays",
    "TorchRandom",
    "check_input_tensor",
]
