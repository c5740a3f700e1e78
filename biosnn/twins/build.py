"""The twin's build: capture → generated code → operations → the target's program.

:class:`Build` drives the layers as Brian2's device drives code generation: it captures the network
(:func:`biosnn.twins.capture.capture`), mirrors its arrays (:class:`biosnn.twins.state.TwinState`), generates
the tensor code of every scheduled block for a set of batched arrays (:class:`biosnn.twins.codegen.BlockCompiler`),
makes the operations (:func:`biosnn.twins.runtime.make_operation`) and hands them to the target chosen when the
twin was built (:mod:`biosnn.twins.targets`), which returns the steps a run takes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from biosnn.twins import capture as _capture
from biosnn.twins.codegen import Block, BlockCompiler
from biosnn.twins.functions import TORCH_FUNCTIONS
from biosnn.twins.runtime import TimedArrays, base_namespace, make_operation
from biosnn.twins.state import TwinState
from biosnn.twins.targets import Program, Target


class Build:
    """The compiled form of a twin's network, rebuilt when the set of arrays held per trial changes.

    Parameters
    ----------
    net, namespace, learnable
        The network, the names it uses, the ``learnable=`` entries.
    state
        The twin's state (it mirrors the captured arrays).
    target, asked
        The target chosen for runs without gradients, and the back end the user asked for.
    rng, exact, device, dtype
        The random source, whether functions are NumPy-exact, the device and dtype of the twin.
    """

    def __init__(
        self,
        net,
        namespace: dict,
        learnable: tuple[str, ...],
        state: TwinState,
        target: Target,
        asked: str,
        rng,
        exact: bool,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.net = net
        self.namespace = namespace
        self.learnable = learnable
        self.state = state
        self.target = target
        self.asked = asked
        self.rng = rng
        self.exact = exact
        self.device = device
        self.timed_arrays = TimedArrays(device, dtype)
        self.ops: list = []
        self.ns: dict = {}
        self.program: Program | None = None
        self.compiled_for: frozenset | None = None
        self.capture()

    def capture(self) -> None:
        """Capture the network (again: its structure may have changed in Brian2) and mirror its arrays."""
        cap = self.network = _capture.capture(self.net, self.namespace, self.learnable)
        self.state.adopt(cap.variables, cap.written, cap.groups, self.learnable)
        # recorded subexpressions' blocks (see run(record=...)), made again after the structure is re-read
        self.subexpressions: dict[tuple[str, tuple[str, ...]], Block] = {}
        self.compiled_for = None

    def build(self, batched: frozenset) -> None:
        """Generate the code of every block for this set of batched arrays, the operations and the program."""
        ns = base_namespace()
        ns.update(_rng=self.rng, _timed_arrays=self.timed_arrays, _pow=TORCH_FUNCTIONS["_pow"](self.exact))
        ns["_PARAMS"] = self.state.constant_params
        compilers = []
        constants = self.network.learnable_constants
        for s in self.network.schedule:
            consts = {k: v for own in s.owners() for k, v in constants.get(own, {}).items()}
            compiler = BlockCompiler(ns, set(batched), consts, self.exact, s.name)
            if s.block is not None:
                s.block.reads, s.block.writes, s.block.dense = set(), set(), []
                compiler.compile(s.block)
            compilers.append(compiler)
        self._load_index_arrays(ns)
        self.ops = [make_operation(s, ns, self.device) for s in self.network.schedule]
        self.ns = ns
        sizes = {key: info.size for key, info in self.state.arrays.items()}
        self.program = self.target.compile(
            self.ops, self.network.schedule, compilers, batched, sizes=sizes, ns=ns, asked=self.asked
        )
        self.compiled_for = batched

    def ensure(self) -> Program:
        """The program (built for the arrays the blocks write, if nothing is built for the current structure)."""
        if self.compiled_for is None or self.program is None:
            self.build(frozenset(self.state.written))
        assert self.program is not None
        return self.program

    def _load_index_arrays(self, ns: dict) -> None:
        """The index arrays the generated blocks use (connectivity, offsets) as tensors, those not loaded yet."""
        for key, var in ns.get("_index_arrays", {}).items():
            if key not in ns:
                ns[key] = torch.as_tensor(np.asarray(var.get_value()).astype(np.int64), device=self.device)

    def subexpression_block(self, gname: str, names: tuple[str, ...]) -> Block:
        """The block of the recorded subexpressions ``names`` of ``gname`` (made once per structure)."""
        key = (gname, names)
        if key not in self.subexpressions:
            group = self.network.groups[gname]
            self.subexpressions[key] = _capture.subexpression_block(group, names, self.namespace)
        return self.subexpressions[key]

    def compile_extra(self, blk: Block, owner: str) -> None:
        """Generate ``blk``'s tensor code in the namespace of the current operations (once per build)."""
        if blk.compiled_in is self.ns:
            return
        consts = dict(self.network.learnable_constants.get(owner, {}))
        blk.reads, blk.writes, blk.dense = set(), set(), []
        BlockCompiler(self.ns, set(self.compiled_for or ()), consts, self.exact, owner).compile(blk)
        self._load_index_arrays(self.ns)
        blk.compiled_in = self.ns

    def static_tensors(self, params: Any) -> list:
        """Tensors that live as long as the twin (parameters, index arrays, tables of the operations)."""
        out = list(params.values()) + [v for v in self.ns.values() if isinstance(v, torch.Tensor)]
        for op in self.ops:
            out += [v for v in vars(op).values() if isinstance(v, torch.Tensor)]
        return out


__all__ = ["Build"]
