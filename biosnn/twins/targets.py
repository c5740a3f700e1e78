"""The twin's targets: how its blocks run when no gradient is wanted, chosen once when the twin is built.

As Brian2's code generation targets (``brian2.codegen.runtime.numpy_rt.NumpyCodeObject`` ...), a target is a
class registered by name in :data:`TARGETS` (``"torch"``, ``"c"``). :meth:`Target.compile` takes the blocks of
a twin (its operations, in Brian2's schedule order, with their translated statements) and returns a
:class:`Program`: the step callables of a run without gradients, one per operation, so that the choice between
a compiled kernel and the tensor code is made once per operation, not at every step. Runs with gradients (and
relaxed runs) always take the tensor steps (:attr:`Program.tensor_steps`).

* ``torch``: the tensor code of every block (any device, any dtype, differentiable);
* ``c``: Brian2's statements as C loops over the tensors (:mod:`biosnn.twins.kernels`; CPU, float64), compiled
  into one library on the first run without gradients; blocks C cannot express keep the tensor code.
"""

from __future__ import annotations

import ctypes
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from biosnn.errors import ParameterError, UnsupportedFeatureError
from biosnn.registry import Registry
from biosnn.twins import kernels
from biosnn.twins.kernels import PRELUDE, Kernel, KernelSource, KernelWriter, NotCompilable
from biosnn.twins.wholerun import RunLoop, RunLoopWriter, why_not


class PlannedKernel(NamedTuple):
    """A block the C target takes: its operation, its C source, and its scalar values (and what they depend on)."""

    op: Any
    source: KernelSource
    scalar_fn: Callable
    scalars: str  # what the scalar values depend on (biosnn.twins.codegen.SCALAR_KINDS)


#: a step of a run: ``(every, step(S, R, step))``, run on the steps divisible by ``every``
Step = tuple[int, Callable]


class Program:
    """What a target made of a twin's operations.

    Attributes
    ----------
    tensor_steps
        The tensor code of every operation (runs with gradients, relaxed runs).
    status
        ``object name -> how it runs without gradients`` (:meth:`Twin.compiled_blocks`).
    """

    def __init__(self, ops: Sequence, status: dict[str, str]) -> None:
        self.ops = list(ops)
        self.tensor_steps: list[Step] = [(op.every, op) for op in self.ops]
        self.status = status

    @property
    def compiled(self) -> bool:
        """Whether some block runs compiled code without gradients."""
        return False

    @property
    def loaded(self) -> bool:
        """Whether the compiled code is loaded (it is, once a run without gradients used it)."""
        return False

    def fast_steps(self) -> list[Step]:
        """The steps of a run without gradients."""
        return self.tensor_steps

    def loop_for(self, plan, threads: int):
        """The compiled loop that runs all of ``plan`` in one call, where the target has one (else ``None``)."""
        return None


class Target:
    """A way to run a twin's blocks without gradients (:data:`TARGETS`)."""

    name = ""
    description = ""

    def usable(self, dtype: torch.dtype, device: torch.device) -> str | None:
        """``None`` if this target can run a twin of ``dtype`` on ``device``, else the reason."""
        return None

    def compile(self, ops: Sequence, schedule: Sequence, compilers: Sequence, batched: frozenset, **kw) -> Program:
        """The :class:`Program` of the operations ``ops`` (one per scheduled block, with its code compiler)."""
        return Program(ops, {op.name: f"torch (backend {self.name!r})" for op in ops})


TARGETS: Registry[Target] = Registry("twin back end")


class TorchTarget(Target):
    name = "torch"
    description = "tensor operations for every block (any device, any dtype, differentiable)"


#: Brian2 template -> kind of C kernel (see :mod:`biosnn.twins.kernels`)
KERNEL_KINDS = {"stateupdate": "all", "threshold": "threshold", "reset": "reset", "synapses": "events"}


class CProgram(Program):
    """The C target's program: the C source of every block it takes, compiled on the first run without
    gradients into one library; each of those operations then runs its kernel (:meth:`Operation.kernel_step`).
    """

    def __init__(self, ops: Sequence, status: dict[str, str], plan: list, ns: dict, asked: str) -> None:
        super().__init__(ops, status)
        self.plan: list[PlannedKernel] = plan
        self.ns = ns
        self.asked = asked
        self._loaded = False
        self._fast: list[Step] | None = None
        self.lib = None
        self.run_loop: RunLoop | None = None  # the whole run in one C call (biosnn.twins.wholerun)
        self.run_loop_reason = "not compiled yet"
        self.use_run_loop = True  # False: every run steps the kernels from Python (the tests compare both)

    @property
    def compiled(self) -> bool:
        return bool(self.plan)

    @property
    def loaded(self) -> bool:
        return self._loaded

    def fast_steps(self) -> list[Step]:
        if self._fast is None:
            self._load()
            self._fast = [
                (op.every, op.kernel_step if op.kernel is not None and op.kernel_step is not None else op)
                for op in self.ops
            ]
        return self._fast

    def loop_for(self, plan, threads: int) -> RunLoop | None:
        """The run loop for the run ``plan`` where it can take it (:func:`biosnn.twins.wholerun.why_not`),
        else ``None`` (the steps of :meth:`fast_steps` run); the kernels use ``threads`` threads either way.
        """
        self.fast_steps()
        if self.lib is None:
            return None
        self.lib._bio_set_threads(threads)
        if self.run_loop is None or not self.use_run_loop or why_not(plan, self.ops) is not None:
            return None
        return self.run_loop

    def _load(self) -> None:
        fnames = {j: k.source.fname for k in self.plan for j, op in enumerate(self.ops) if op is k.op}
        writer = RunLoopWriter(self.ops, fnames)
        loop = writer.write()
        self.run_loop_reason = writer.reason
        source = PRELUDE + "\n".join(k.source.source for k in self.plan) + (loop or "")
        try:
            lib = kernels.compile_library(source)  # looked up here: tests replace it
        except UnsupportedFeatureError as exc:
            if self.asked == "c":
                raise
            # "auto": the tensor code runs everything (e.g. a variable named like a C keyword)
            warnings.warn(
                f"biosnn twin: the C kernels did not compile, running tensor operations ({exc})",
                RuntimeWarning,
                stacklevel=4,
            )
            self.status = {
                k: "torch (the C kernels did not compile)" if v.split(" ")[0] == "c" else v
                for k, v in self.status.items()
            }
            self.plan = []
            return
        for k in self.plan:
            k.op.kernel = Kernel(k.source, getattr(lib, k.source.fname), k.scalar_fn, k.scalars, self.ns)
        self.lib = lib
        lib._bio_set_threads.argtypes = [ctypes.c_int64]
        self.run_loop = RunLoop(lib, writer) if loop else None
        self._loaded = True


class CTarget(Target):
    name = "c"
    description = (
        "Brian2's statements compiled into C loops over the tensors (CPU, float64, runs without "
        "gradients); blocks C cannot express keep the tensor operations"
    )

    def usable(self, dtype: torch.dtype, device: torch.device) -> str | None:
        if device.type != "cpu":
            return f"it runs on the CPU only (device {device})"
        if dtype != torch.float64:
            return f"it computes in float64 only (dtype {dtype})"
        if kernels.c_compiler() is None:
            return "no C compiler was found ($CC, cc, gcc)"
        return None

    def compile(self, ops, schedule, compilers, batched, *, sizes=None, ns=None, asked="auto", **kw) -> Program:
        """Write the C source of every block C can take (compiled on the first run without gradients)."""
        plan = []
        status = {}
        for s, op, compiler in zip(schedule, ops, compilers):
            kind = KERNEL_KINDS.get(s.template)
            if s.block is None or kind is None:
                status[s.name] = f"torch (template {s.template!r})"
                continue
            size = getattr(op, "size", 0) or 0
            try:
                src = KernelWriter(s.block, kind, size, set(batched), sizes, set(compiler.params)).write()
                scalars = compiler.compile_scalar_values(s.block)
            except NotCompilable as exc:
                status[s.name] = f"torch ({exc})"
                continue
            plan.append(PlannedKernel(op, src, s.block.scalar_fn, scalars))
            status[s.name] = src.status
        return CProgram(ops, status, plan, ns, asked)


TARGETS.register("torch", TorchTarget())
TARGETS.register("c", CTarget())


def choose_target(name: str, dtype: torch.dtype, device: torch.device) -> Target:
    """The target called ``name`` (``"auto"``: ``"c"`` where it is usable, else ``"torch"``)."""
    if name == "auto":
        c = TARGETS["c"]
        return TARGETS["torch"] if c.usable(dtype, device) else c
    if name not in TARGETS:
        raise ParameterError(f"backend must be 'auto' or one of {sorted(TARGETS)}, got {name!r}")
    target = TARGETS[name]
    reason = target.usable(dtype, device)
    if reason is not None:
        raise ParameterError(f"backend {name!r} cannot run this twin: {reason}")
    return target


__all__ = [
    "KERNEL_KINDS",
    "TARGETS",
    "CProgram",
    "CTarget",
    "PlannedKernel",
    "Program",
    "Target",
    "TorchTarget",
    "choose_target",
]
