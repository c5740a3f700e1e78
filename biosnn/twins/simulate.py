"""One run of a twin, in four parts: its plan, the initial state, the steps, the result.

:func:`plan_run` checks the arguments and decides the run (:class:`biosnn.twins.plan.RunPlan`);
:class:`Simulation` holds the state dictionary ``S`` (array key -> tensor), the run-time context ``R``
(:class:`biosnn.twins.runtime.Context`) and what the run collects, and steps the operations in Brian2's
schedule order with the steps the target chose once (:attr:`biosnn.twins.targets.Program.tensor_steps`
for runs with gradients and relaxed runs, :meth:`~biosnn.twins.targets.Program.fast_steps` otherwise).
"""

from __future__ import annotations

import brian2
import numpy as np
import torch

from biosnn.errors import MemoryBudgetError, ParameterError
from biosnn.twins.adjoint import compiled_gradient_run
from biosnn.twins.brian_adapter import timestep
from biosnn.twins.codegen import RECORDED_PREFIX
from biosnn.twins.plan import RunPlan, prepare_inputs, prepare_records
from biosnn.twins.result import RunRecord, collect
from biosnn.twins.runtime import Context, GradientMemoryGuard, SpikeGeneratorOp, _fit
from biosnn.twins.wholerun import why_not


def plan_run(tw, duration, inputs, record) -> RunPlan:
    """Check the arguments and decide the run of the twin ``tw``: its steps, inputs, records and batched
    arrays; build what this set of batched arrays needs; load the queues, TimedArrays and generators' inputs.
    """
    from biosnn.units import check_quantity

    duration = check_quantity("duration", duration, brian2.second)
    if np.ndim(duration) != 0:
        raise ParameterError(f"duration must be a single time, got {duration!r}")
    if float(duration) < 0:
        raise ParameterError(f"duration must be a finite, non-negative time, got {duration}")
    # Brian2's rule (Network.run, Clock.set_interval): from the step of the network's time to the step
    # of that time plus the duration, each the nearest step if on the grid (up to 1e-4 dt), else the next
    build, state = tw._build, tw._state
    t_end = state.t + float(duration)
    n_steps = max(timestep(t_end, tw.dt) - state.step, 0)
    ins = prepare_inputs(inputs, n_steps, state, [s.block for s in build.network.schedule], tw.batch_size)
    state.check_parameters()
    records = prepare_records(record, state, build.subexpression_block)
    carried = {k for k, v in state.carry.items() if v.dim() == 2}
    batched = frozenset(state.written | set(ins.per_run) | set(ins.per_step) | carried)
    if build.compiled_for != batched:
        build.build(batched)
    for rb in records.blocks:
        build.compile_extra(rb.block, rb.group)
    state.load_queues(build.ops, tw.batch_size)  # Brian2's events in flight at the last pull
    for name in build.timed_arrays.arrays:
        build.timed_arrays.set(name, ins.timed.get(name))
    for op in build.ops:
        if isinstance(op, SpikeGeneratorOp):
            op.override = ins.generators.get(op.group_name)
            op.override_start = state.step
    return RunPlan(state.step, n_steps, state.t, t_end, ins, records, batched)


class Simulation:
    """A run of the twin ``tw`` by its plan: ``Simulation(tw, plan, relaxed).run()``."""

    def __init__(self, tw, plan: RunPlan, relaxed: bool) -> None:
        self.tw = tw
        self.plan = plan
        self.functional = torch.is_grad_enabled()
        self.relaxed = bool(relaxed)
        self.S = self.initial_state()
        program = tw._build.program
        fast = program.compiled and not self.functional and not relaxed
        self.steps = program.fast_steps() if fast else program.tensor_steps
        self.loop = program.loop_for(plan, tw.threads) if fast else None  # the whole run in one C call
        self.R = Context(tw.batch_size, tw.dtype, tw.device, self.functional, tw.surrogate, relaxed=bool(relaxed))
        self.out = RunRecord.start(tw._build.ops, plan.records, self.functional or bool(relaxed))
        self.guard = None
        if self.functional:
            static = tw._build.static_tensors(tw.params)
            self.guard = GradientMemoryGuard(plan.n_steps, tw.device, static, f"network {tw.net.name!r}")

    def path(self) -> str:
        """How this run runs, in words (``Twin.last_run_path``): one C call for every step, the C kernels
        stepped from Python (and why not in one call), or tensor operations (with gradients, relaxed, or
        because the target has no compiled code).
        """
        program = self.tw._build.program
        if self.functional or self.relaxed:
            return "tensor operations (" + ("relaxed" if self.relaxed else "with gradients") + ")"
        if not program.compiled:
            return f"tensor operations (target {self.tw.backend.name!r})"
        if self.loop is not None:
            return f"run loop: every step in one C call ({self.tw.threads} thread(s))"
        why = program.run_loop_reason or why_not(self.plan, program.ops)
        why = why or ("the run loop is switched off" if not program.use_run_loop else "")
        return f"C kernels stepped from Python ({why})" if why else "C kernels stepped from Python"

    def run(self) -> tuple:
        """Every step, then the twin's new time and state; the parts of the result (:func:`collect`)."""
        self.tw.last_run_path = self.path()
        if self.functional and not self.relaxed and self.tw.gradients != "tensor":
            compiled = compiled_gradient_run(self)
            if compiled is not None:
                return compiled
        if self.loop is not None:
            self.loop.run(self)
            return self.collect()
        for k in range(self.plan.n_steps):
            self.step(k)
        guard = self.guard
        if guard is not None and guard.sampled:
            self.tw.gradient_bytes_per_step = guard.saved / guard.sampled
        return self.collect()

    def initial_state(self) -> dict[str, torch.Tensor]:
        """The state the run starts from: the carried (or pulled) arrays, the inputs for the whole run, batched
        arrays ``[B, n]``; copies where the run updates in place (no gradients), never the user's tensors.
        """
        state, plan, functional, B = self.tw._state, self.plan, self.functional, self.tw.batch_size
        S: dict[str, torch.Tensor] = {}
        per_run = plan.inputs.per_run
        for key, info in state.arrays.items():
            v = state.current(key)
            if key in per_run:
                v = per_run[key] if functional else per_run[key].clone()
            if key in plan.batched and v.dim() == 1:
                v = v.expand(B, info.size)
                if not functional:
                    v = v.clone()
            S[key] = v
        return S

    def step(self, k: int) -> None:
        """Step ``k`` of the run: the per-step inputs, the records (at the step's start), the operations in
        Brian2's schedule order, the spikes.
        """
        S, R, plan, out, tw = self.S, self.R, self.plan, self.out, self.tw
        B = tw.batch_size
        step = plan.start + k
        keep = out.functional  # without autograd some updates are in place: keep copies of what is recorded
        for key, t in plan.inputs.per_step.items():
            S[key] = t[k] if keep else t[k].clone()  # in-place updates never touch the user's tensor
        if plan.records.keys or plan.records.blocks:
            self.record(step, keep)
        R.events = {}
        guard = self.guard
        if guard is not None and guard.sampling(k):
            try:
                with guard.step(k, step * tw.dt):
                    run_step(S, R, step, self.steps)
            except MemoryBudgetError:
                tw.reset()  # the queues moved on: back to the last pull, consistent
                raise
        else:
            run_step(S, R, step, self.steps)
        out.spikes_of_step(R, k, B, tw.dtype, tw.device)

    def record(self, step: int, keep: bool) -> None:
        """The recorded states and subexpressions at the start of ``step``."""
        S, R, rec, out = self.S, self.R, self.plan.records, self.out
        B = self.tw.batch_size
        for rk, key in rec.keys.items():
            v = S[key]
            v = v.expand(B, v.shape[-1]) if v.dim() == 1 else v
            v = v[:, rec.index[rk]] if rk in rec.index else v
            out.states[rk].append(v if keep else v.clone())
        for rb in rec.blocks:
            R.vshape = (B, rb.size)
            values = rb.block.fn(S, R, step * self.tw.dt, step)
            for n in rb.names:
                v = _fit(values[RECORDED_PREFIX + n], B, rb.size, R)
                v = v[:, rec.index[(rb.group, n)]] if (rb.group, n) in rec.index else v
                out.states[(rb.group, n)].append(v if keep else v.clone())

    def collect(self) -> tuple:
        """End of the run: the twin's time and carried state, the check for non-finite values, the result."""
        tw, plan = self.tw, self.plan
        tw._state.step = plan.start + plan.n_steps
        tw._state.t = plan.t_end
        tw._state.carry = {key: self.S[key].detach() for key in plan.batched if key in self.S}
        # one check per run (not per step): the state the run wrote (its inputs and parameters were checked)
        tw._state.check_carry(plan.t_start, plan.t_end)
        return collect(self.out, plan.start, plan.n_steps, tw.batch_size, tw.dt, tw.dtype, tw.device)


def run_step(S: dict, R: Context, step: int, steps) -> None:
    """One time step: every operation due at ``step`` (``step % every == 0``), in schedule order."""
    for every, fn in steps:
        if every == 1 or step % every == 0:
            fn(S, R, step)


__all__ = ["Simulation", "plan_run", "run_step"]
