r"""Brian2's functions on tensors: the function table of the twin's code generator.

Brian2's numpy target evaluates ``exp``, ``log``, ``x**y`` ... with NumPy's own (SIMD) implementations.
PyTorch's CPU kernels round a few percent of those results differently in the last bit (measured with
NumPy 2.3 / torch 2.14: ``exp`` differs on ~0.5 % of random float64 inputs, ``sqrt`` and ``tanh`` on more,
``x**3`` on a quarter). The twin's spikes must be identical to Brian2's, so in *exact* mode (CPU tensors)
the forward value of every such function is computed by NumPy, exactly as Brian2's numpy target computes
it, and the backward pass uses PyTorch's derivative of the same function. In *native* mode (GPU, or when
asked) PyTorch's kernels are used throughout.

Functions are looked up by their Brian2 name in :data:`TORCH_FUNCTIONS`, a registry of factories
``factory(exact) -> callable``. Random functions (``rand``, ``randn``, ``poisson``) draw from the twin's
``torch.Generator`` through the run context (see :mod:`biosnn.twins.codegen`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from biosnn.registry import Registry

TORCH_FUNCTIONS: Registry[Callable[[bool], Callable]] = Registry("twin function")


def _to_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


class _NumpyForward(torch.autograd.Function):
    """Forward value from a NumPy function (bit-identical to Brian2's numpy target), gradient from torch."""

    @staticmethod
    def forward(ctx, x, np_fn, torch_fn):
        ctx.save_for_backward(x)
        ctx.torch_fn = torch_fn
        out = np.asarray(np_fn(_to_numpy(x)))
        return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            xx = x.detach().requires_grad_(True)
            y = ctx.torch_fn(xx)
            (g,) = torch.autograd.grad(y, xx, grad)
        return g, None, None


class _NumpyPow(torch.autograd.Function):
    """``a ** b`` computed as NumPy's ``ndarray.__pow__`` computes it; gradient from :func:`torch.pow`."""

    @staticmethod
    def forward(ctx, a, b, b_is_tensor):
        ctx.save_for_backward(a, b if b_is_tensor else torch.as_tensor(b, dtype=a.dtype))
        ctx.b_is_tensor = b_is_tensor
        bb = _to_numpy(b) if b_is_tensor else b
        out = np.asarray(_to_numpy(a) ** bb)
        return torch.from_numpy(out).to(device=a.device, dtype=a.dtype)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        with torch.enable_grad():
            aa = a.detach().requires_grad_(True)
            bb = b.detach().requires_grad_(ctx.b_is_tensor)
            y = torch.pow(aa, bb)
            wrt = [aa, bb] if ctx.b_is_tensor else [aa]
            gs = torch.autograd.grad(y, wrt, grad, allow_unused=True)
        if ctx.b_is_tensor:
            gb = gs[1]
            if gb is not None and gb.shape != b.shape:
                gb = gb.sum_to_size(b.shape)
            return gs[0], gb, None
        return gs[0], None, None


def _unary(np_fn: Callable, torch_fn: Callable) -> Callable[[bool], Callable]:
    def factory(exact: bool) -> Callable:
        def fn(x):
            if not isinstance(x, torch.Tensor):
                return np_fn(x)
            if not x.is_floating_point():
                x = x.to(torch.get_default_dtype())
            if exact:
                return _NumpyForward.apply(x, np_fn, torch_fn)
            return torch_fn(x)

        return fn

    return factory


for _name, _np, _torch in [
    ("exp", np.exp, torch.exp),
    ("log", np.log, torch.log),
    ("log10", np.log10, torch.log10),
    ("expm1", np.expm1, torch.expm1),
    ("log1p", np.log1p, torch.log1p),
    ("sqrt", np.sqrt, torch.sqrt),
    ("sin", np.sin, torch.sin),
    ("cos", np.cos, torch.cos),
    ("tan", np.tan, torch.tan),
    ("sinh", np.sinh, torch.sinh),
    ("cosh", np.cosh, torch.cosh),
    ("tanh", np.tanh, torch.tanh),
    ("arcsin", np.arcsin, torch.asin),
    ("arccos", np.arccos, torch.acos),
    ("arctan", np.arctan, torch.atan),
]:
    TORCH_FUNCTIONS.register(_name, _unary(_np, _torch))


def _exprel_torch(x):
    safe = torch.where(x == 0, torch.ones_like(x), x)
    return torch.where(x == 0, torch.ones_like(x), torch.expm1(safe) / safe)


def _exprel_np(x):
    # Brian2's own numpy implementation (scipy.special's cut-offs: 1 below |x| < 1e-16, inf above 717)
    from brian2.units.unitsafefunctions import exprel

    return exprel(x)


TORCH_FUNCTIONS.register("exprel", _unary(_exprel_np, _exprel_torch))


def _pow_factory(exact: bool) -> Callable:
    def _pow(a, b):
        a_t, b_t = isinstance(a, torch.Tensor), isinstance(b, torch.Tensor)
        if not a_t and not b_t:
            return np.float64(a) ** b if isinstance(a, float) else a**b
        if not a_t:
            a = torch.as_tensor(
                a, dtype=b.dtype if b.is_floating_point() else torch.get_default_dtype(), device=b.device
            )
        if not a.is_floating_point():
            a = a.to(torch.get_default_dtype())
        if exact:
            return _NumpyPow.apply(a, b, b_t)
        return torch.pow(a, b)

    return _pow


TORCH_FUNCTIONS.register("_pow", _pow_factory)


def _simple(fn: Callable) -> Callable[[bool], Callable]:
    return lambda exact: fn


def _abs(x):
    return torch.abs(x) if isinstance(x, torch.Tensor) else abs(x)


def _sign(x):
    return torch.sign(x) if isinstance(x, torch.Tensor) else np.sign(x)


def _floor(x):
    return torch.floor(x) if isinstance(x, torch.Tensor) else np.floor(x)


def _ceil(x):
    return torch.ceil(x) if isinstance(x, torch.Tensor) else np.ceil(x)


def _clip(x, low, high):
    if isinstance(x, torch.Tensor):
        # NumPy's clip is minimum(maximum(x, low), high); so is this, with tensor or scalar bounds.
        lo = low if isinstance(low, torch.Tensor) else torch.as_tensor(low, dtype=x.dtype, device=x.device)
        hi = high if isinstance(high, torch.Tensor) else torch.as_tensor(high, dtype=x.dtype, device=x.device)
        return torch.minimum(torch.maximum(x, lo), hi)
    return np.clip(x, low, high)


def _int(x):
    if isinstance(x, torch.Tensor):
        return x.to(torch.int64)
    return np.int_(x)


def _timestep(t, dt):
    # brian2.core.functions.timestep: int64((t + 1e-3*dt) / dt)
    if isinstance(t, torch.Tensor) or isinstance(dt, torch.Tensor):
        return ((t + 1e-3 * dt) / dt).to(torch.int64)
    return np.int64((t + 1e-3 * dt) / dt)


for _name, _fn in [
    ("abs", _abs),
    ("sign", _sign),
    ("floor", _floor),
    ("ceil", _ceil),
    ("clip", _clip),
    ("int", _int),
    ("timestep", _timestep),
]:
    TORCH_FUNCTIONS.register(_name, _simple(_fn))


def logical_not(x):
    """``not`` in Brian2's numpy rendering."""
    if isinstance(x, torch.Tensor):
        return torch.logical_not(x)
    return not x


class NumpyNamespace:
    """What the rendered code calls ``_numpy``: only ``where`` is used by Brian2's numpy translation."""

    @staticmethod
    def where(cond, a, b):
        if not isinstance(cond, torch.Tensor):
            return a if cond else b
        return torch.where(cond, a, b)
