r"""From Brian2's abstract code to Python functions on tensors.

The twin does not re-derive any model. It asks Brian2 to prepare the network for its numpy target
(:meth:`brian2.Network.before_run`), records every code object Brian2 creates on the way (the abstract
code each :class:`~brian2.groups.group.CodeRunner` produced with Brian2's state updaters, the variables
and their indices), and translates the abstract code with Brian2's own
:func:`brian2.codegen.translation.make_statements` (with its optimisations: loop-invariant ``_lio``
constants, arithmetic simplification), exactly as Brian2's :class:`NumpyCodeGenerator` does, into Python
source that operates on tensors with a leading batch dimension. The same statements in the same order
give the same floating-point results; only the array access differs:

* ``"all"`` blocks (templates ``stateupdate``, ``threshold``, ``summed_variable``, ``run_regularly``,
  ``PoissonInput``) run on every element of a group, ``[B, N]``;
* ``"reset"`` blocks run on every element and keep the result where the group spiked (the same values
  Brian2 computes on its spike indices);
* ``"events"`` blocks (template ``synapses``) run on the list of synaptic events ``(batch, synapse)``
  in the order of Brian2's spike queue, with NumPy's ``ufunc.at`` semantics for repeated indices
  (``v_post += w`` sums in the same order as ``numpy.add.at``).

Arithmetic is element-wise IEEE (identical in NumPy and PyTorch); the functions with library-specific
rounding come from :mod:`biosnn.twins.functions`.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from brian2.codegen.generators.numpy_generator import NumpyCodeGenerator
from brian2.codegen.runtime.numpy_rt.numpy_rt import NumpyCodeObject
from brian2.codegen.translation import make_statements
from brian2.core.clocks import Clock
from brian2.core.functions import Function
from brian2.core.variables import ArrayVariable, Constant
from brian2.devices.device import get_device
from brian2.input.binomial import BinomialFunction
from brian2.input.timedarray import TimedArray
from brian2.parsing.bast import brian_dtype_from_dtype
from brian2.parsing.rendering import NumpyNodeRenderer
from brian2.utils.stringtools import get_identifiers, word_substitute

from biosnn.errors import UnsupportedFeatureError
from biosnn.twins.brian_adapter import CapturedCode
from biosnn.twins.functions import TORCH_FUNCTIONS


class TorchNodeRenderer(NumpyNodeRenderer):
    """Brian2's numpy rendering, with ``a ** b`` routed through ``_pow`` (NumPy-exact power) and ``a / b``
    through ``_div``: PyTorch computes ``number / tensor`` as ``reciprocal(tensor) * number`` (two
    roundings; a quarter of the results differ from NumPy's division in the last bit).
    """

    def render_BinOp(self, node):
        name = node.op.__class__.__name__
        if name == "Pow":
            return f"_pow({self.render_node(node.left)}, {self.render_node(node.right)})"
        if name == "Div":
            return f"_div({self.render_node(node.left)}, {self.render_node(node.right)})"
        return super().render_BinOp(node)


def array_key(var: ArrayVariable) -> str:
    """The globally unique name Brian2's device gives the array behind ``var``."""
    return get_device().get_array_name(var)


def is_clock_variable(var: Any) -> bool:
    return isinstance(getattr(var, "owner", None), Clock)


@dataclass
class Statement:
    var: str
    op: str  # "=" or one of "+=", "-=", "*=", "/=", "**=", "%="
    rhs: str
    inplace: bool
    scalar: bool
    created: bool


class DenseTerm(NamedTuple):
    """``x_post += f(synaptic variables)`` of a pathway, over all synapses (its dense gradient term)."""

    var: str  # the postsynaptic variable's name in the block
    key: str  # its array key
    index: Any  # the name of its index array in the namespace (a tensor once the operation is built)
    fn: Any  # (S, R, T, TS) -> f over all synapses
    block: str  # the block's name


@dataclass
class Block:
    """A translated code block: Python source and the arrays it touches."""

    captured: CapturedCode
    mode: str
    scalar_statements: list[Statement]
    vector_statements: list[Statement]
    reads: set[str] = field(default_factory=set)  # array keys read
    writes: set[str] = field(default_factory=set)  # array keys written
    fn: Any = None
    source: str = ""
    dense: list[DenseTerm] = field(default_factory=list)
    relaxable: bool = False
    gen: Any = None  # Brian2's NumpyCodeGenerator of the block (arrays_helper, conditional writes)
    raw_vector: list = field(default_factory=list)  # Brian2's vector statements (for the C target)
    raw_scalar: list = field(default_factory=list)  # Brian2's scalar statements
    surrogate_scale: float = 1.0  # the surrogate's unit (1 mV for voltage thresholds)
    scalar_fn: Any = None  # the scalar statements' values (for the C target)
    compiled_in: Any = None  # the namespace its code was generated in (recorded subexpressions)


def _render(renderer: TorchNodeRenderer, expr: str) -> str:
    return renderer.render_expr(expr).strip()


def where_parts(stmt) -> tuple[str, str, str] | None:
    """``(boolean variable, expression if true, expression if false)`` when Brian2's numpy target computes
    ``stmt`` as ``where(b, e_true, e_false)`` of its boolean-simplified forms
    (:meth:`NumpyCodeGenerator.translate_statement`); ``None`` when it evaluates ``stmt.expr`` as it is.
    """
    if (
        stmt.used_boolean_variables is not None
        and len(stmt.used_boolean_variables) == 1
        and brian_dtype_from_dtype(stmt.dtype) == "float"
        and stmt.complexity_std > sum(stmt.complexities.values())
    ):
        expr_true = expr_false = None
        for bool_assigns, simp_expr in stmt.boolean_simplified_expressions.items():
            _, boolval = bool_assigns[0]
            if boolval:
                expr_true = simp_expr
            else:
                expr_false = simp_expr
        return stmt.used_boolean_variables[0], expr_true, expr_false
    return None


def _translate(stmt, renderer) -> Statement:
    """Mirror :meth:`NumpyCodeGenerator.translate_statement` (including its ``where`` rewriting)."""
    op = "=" if stmt.op == ":=" else stmt.op
    parts = where_parts(stmt)
    if parts is not None:
        boolvar, expr_true, expr_false = parts
        rhs = f"_numpy.where({boolvar}, {_render(renderer, expr_true)}, {_render(renderer, expr_false)})"
    else:
        rhs = _render(renderer, stmt.expr)
    return Statement(stmt.var, op, rhs, bool(stmt.inplace), bool(stmt.scalar), stmt.op == ":=")


def translate(captured: CapturedCode, mode: str, object_name: str) -> Block:
    """Run Brian2's statement pipeline on one captured code object."""
    blocks = {k: v for k, v in captured.abstract_code.items() if v is not None and str(v).strip()}
    extra = [k for k in blocks if k is not None]
    if extra:
        raise UnsupportedFeatureError(
            f"{object_name}: code blocks {extra} of template {captured.template!r} are not supported by the twin"
        )
    code = blocks.get(None, "")
    scalar, vector = (
        make_statements(code, captured.variables, np.float64, optimise=True, blockname=None)
        if code.strip()
        else ([], [])
    )
    gen = NumpyCodeGenerator(
        variables=captured.variables,
        variable_indices=captured.variable_indices,
        owner=captured.runner,
        iterate_all=captured.iterate_all,
        codeobj_class=NumpyCodeObject,
        name=captured.name,
        template_name=captured.template,
        override_conditional_write=captured.override_conditional_write,
        allows_scalar_write=captured.allows_scalar_write,
    )
    renderer = TorchNodeRenderer(auto_vectorise=gen.auto_vectorise)
    return Block(
        captured,
        mode,
        [_translate(s, renderer) for s in scalar],
        [_translate(s, renderer) for s in vector],
        gen=gen,
        raw_vector=vector,
        raw_scalar=scalar,
    )


#: created variables of a block that its function returns by name (``_record_I = I`` records ``I``)
RECORDED_PREFIX = "_record_"


class _Emitter:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.indent = 1

    def __call__(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)


#: what the scalar values of a block depend on within a run (:meth:`BlockCompiler.compile_scalar_values`)
SCALAR_KINDS = ("constant", "time", "state")


class BlockCompiler:
    """Emit the Python source of one block for a given set of batched arrays.

    Parameters
    ----------
    batched
        Array keys held per batch element (``[B, n]``); all others are shared (``[n]``).
    namespace
        Shared names for the generated code (helpers, index tensors, functions, constants).
    """

    def __init__(self, twin_ns: dict, batched: set[str], params: dict[str, str], exact: bool, object_name: str) -> None:
        self.ns = twin_ns
        self.batched = batched
        self.params = params  # constant name -> learnable key, for this owner
        self.exact = exact
        self.object_name = object_name

    # -- name binding -----------------------------------------------------------------------------
    def bind_names(self, block: Block, em: _Emitter, names: set[str], local: set[str]) -> None:
        """Bind functions and constants used by the statements (array reads are emitted separately)."""
        variables = block.captured.variables
        for name in sorted(names):
            if name in local or name not in variables:
                continue
            var = variables[name]
            if isinstance(var, Function):
                self.ns[self._function_name(block, name, var)] = self._function(block, name, var)
                em(f"{name} = {self._function_name(block, name, var)}")
            elif isinstance(var, Constant):
                if name in self.params:
                    em(f"{name} = _PARAMS[{self.params[name]!r}]")
                else:
                    value = var.value
                    value = value.item() if isinstance(value, np.generic) else value
                    self.ns[f"_c_{name}_{id(var)}"] = value
                    em(f"{name} = _c_{name}_{id(var)}")

    def _function_name(self, block: Block, name: str, var: Function) -> str:
        return f"_f_{name}_{id(var)}"

    def _function(self, block: Block, name: str, var: Function):
        rng = self.ns["_rng"]
        if isinstance(var, TimedArray):
            return self.ns["_timed_arrays"].function_for(var, block.captured.runner)
        if isinstance(var, BinomialFunction):
            impl = var.implementations[NumpyCodeGenerator].get_code(block.captured.runner)
            closure = inspect.getclosurevars(impl).nonlocals
            if "loc" in closure:
                loc, scale = float(closure["loc"]), float(closure["scale"])
                return lambda shape: loc + scale * rng.randn(shape)
            n, p = int(closure["n"]), float(closure["p"])
            return lambda shape: rng.binomial(shape, n, p)
        if name == "rand":
            return rng.rand
        if name == "randn":
            return rng.randn
        if name == "poisson":
            return rng.poisson
        if name in TORCH_FUNCTIONS:
            return TORCH_FUNCTIONS[name](self.exact)
        raise UnsupportedFeatureError(
            f"{self.object_name}: the function {name!r} has no tensor implementation in the twin "
            f"(supported: {', '.join(sorted(TORCH_FUNCTIONS))}, rand, randn, poisson, TimedArray, PoissonInput)"
        )

    # -- array access -------------------------------------------------------------------------------
    def index_name(self, block: Block, varname: str) -> str:
        return block.captured.variable_indices[varname]

    def index_tensor(self, block: Block, index: str) -> str:
        """Name in the namespace of an index array (static connectivity/offsets), created once."""
        var = block.captured.variables[index]
        if isinstance(var, ArrayVariable):
            key = f"I_{array_key(var)}"
        else:  # pragma: no cover - Brian2 uses arrays for indices
            raise UnsupportedFeatureError(f"{self.object_name}: index {index!r} is not an array")
        self.ns.setdefault("_index_arrays", {})[key] = var
        return key

    def read_all(self, block: Block, em: _Emitter, varname: str) -> None:
        var = block.captured.variables[varname]
        if is_clock_variable(var):
            em(self._clock_expr(varname, var))
            return
        key = array_key(var)
        block.reads.add(key)
        index = self.index_name(block, varname)
        if index in ("_idx", "0") or index in block.captured.iterate_all:
            em(f"{varname} = _S[{key!r}]")
        else:
            em(f"{varname} = _S[{key!r}][..., {self.index_tensor(block, index)}]")

    def _clock_expr(self, varname: str, var) -> str:
        if var.name == "t":
            return f"{varname} = _T"
        if var.name in ("timestep", "t_in_timesteps"):
            return f"{varname} = _TS"
        if var.name == "dt":
            return f"{varname} = {float(var.get_value()[0])!r}"
        raise UnsupportedFeatureError(f"{self.object_name}: clock variable {var.name!r}")

    def read_event(self, block: Block, em: _Emitter, varname: str, ev_index: dict) -> None:
        var = block.captured.variables[varname]
        if is_clock_variable(var):
            em(self._clock_expr(varname, var))
            return
        key = array_key(var)
        block.reads.add(key)
        index = self.index_name(block, varname)
        bat = key in self.batched
        if index == "0":
            em(f"{varname} = _S[{key!r}][_EB, 0]" if bat else f"{varname} = _S[{key!r}]")
            return
        idx = self.event_index(block, em, index, ev_index)
        em(f"{varname} = _S[{key!r}][_EB, {idx}]" if bat else f"{varname} = _S[{key!r}][{idx}]")

    def event_index(self, block: Block, em: _Emitter, index: str, ev_index: dict) -> str:
        if index == "_idx":
            return "_ES"
        if index not in ev_index:
            name = f"_ev_{len(ev_index)}"
            em(f"{name} = {self.index_tensor(block, index)}[_ES]")
            ev_index[index] = name
        return ev_index[index]

    # -- statements -----------------------------------------------------------------------------------
    @staticmethod
    def statement_line(st: Statement, cond: str | None, random_names: frozenset = frozenset()) -> str:
        """One statement; a conditional write keeps the old value where ``cond`` is false. Random draws in
        a conditional write are made for the elements where ``cond`` holds only, in their order, as
        Brian2's numpy target does (``v[c] += f(rand(_vectorisation_idx[c]))``).
        """
        rhs_random = cond is not None and bool(get_identifiers(st.rhs) & random_names)
        if rhs_random:
            st = Statement(
                st.var,
                st.op,
                word_substitute(st.rhs, {"_vectorisation_idx": "_masked_idx"}),
                st.inplace,
                st.scalar,
                st.created,
            )
        if st.op == "=":
            new = f"({st.rhs})"
        elif st.op == "**=":
            new = f"_pow({st.var}, ({st.rhs}))"
        else:
            new = f"({st.var} {st.op[0]} ({st.rhs}))"
        if cond is not None:
            line = f"{st.var} = _numpy.where({cond}, {new}, {st.var})"
            return f"_masked_idx = _MaskedShape({cond}, _vectorisation_idx); {line}" if rhs_random else line
        return f"{st.var} = {new}"

    def random_names(self, block: Block) -> frozenset:
        """Names of the random functions a block can call (their draws depend on how many are made)."""
        return frozenset(
            n
            for n, v in block.captured.variables.items()
            if n in ("rand", "randn", "poisson") or isinstance(v, BinomialFunction)
        )

    def compile(self, block: Block) -> None:
        em = _Emitter()
        variables = block.captured.variables
        gen = block.gen
        cw_all = gen.get_conditional_write_vars()
        names: set[str] = set()
        for st in block.scalar_statements + block.vector_statements:
            names |= get_identifiers(st.rhs) | {st.var}
            if st.var in cw_all and not st.created:  # conditional writes read their condition
                names.add(cw_all[st.var])
        names |= {"rand", "randn", "poisson"} & set(variables)
        local = {st.var for st in block.scalar_statements + block.vector_statements if st.created}
        array_names = {n for n in names if n in variables and isinstance(variables[n], ArrayVariable)}
        em("_vectorisation_idx = ()")
        self.bind_names(block, em, names | {"not_refractory"} & set(variables), local)
        # scalar part: read the scalar arrays it uses
        scalar_names = set()
        for st in block.scalar_statements:
            scalar_names |= get_identifiers(st.rhs)
            if not st.created:  # a shared variable written by the scalar code (``x += 1``) is read first
                scalar_names.add(st.var)
        self._emit_scalars(block, em, scalar_names & array_names, write_back=True)
        if block.mode in ("all", "reset"):
            self._compile_all(block, em, array_names, cw_all)
        elif block.mode == "events":
            self._compile_events(block, em, cw_all)
        else:  # pragma: no cover
            raise ValueError(block.mode)
        src = "def _block(_S, _R, _T, _TS, _EB=None, _ES=None, _MASK=None):\n" + "\n".join(em.lines) + "\n"
        block.source = src
        code = compile(src, f"<twin {block.captured.name}>", "exec")
        scope: dict = {}
        exec(code, self.ns, scope)  # noqa: S102 - our own generated code
        block.fn = scope["_block"]

    def compile_scalar_values(self, block: Block) -> str:
        """``block.scalar_fn(S, R, T, TS) -> tuple``: the values of the scalar statements (for the C back
        end, which takes them as arguments). Returns what they depend on within a run (:data:`SCALAR_KINDS`):
        ``"constant"``; ``"time"`` (the clock's ``t`` ..., TimedArrays of time, learnable constants, shared
        variables no block writes: known for every step before a run without gradients starts); ``"state"``
        (shared variables a block writes, random numbers).
        """
        em = _Emitter()
        variables = block.captured.variables
        names: set[str] = set()
        for st in block.scalar_statements:
            names |= get_identifiers(st.rhs) | {st.var}
        local = {st.var for st in block.scalar_statements if st.created}
        arrays = {n for n in names if n in variables and isinstance(variables[n], ArrayVariable)}
        em("_vectorisation_idx = ()")
        self.bind_names(block, em, names, local)
        pure = self._emit_scalars(block, em, arrays)
        em("return (" + "".join(f"{st.var}, " for st in block.scalar_statements) + ")")
        src = "def _scalars(_S, _R, _T, _TS):\n" + "\n".join(em.lines) + "\n"
        scope: dict = {}
        exec(compile(src, f"<twin scalars {block.captured.name}>", "exec"), self.ns, scope)  # noqa: S102
        block.scalar_fn = scope["_scalars"]
        if pure:
            return "constant"
        # shared variables that a block writes are per-trial arrays (batched); the others stay as pulled
        written = {n for n in arrays if not is_clock_variable(variables[n]) and array_key(variables[n]) in self.batched}
        return "state" if written or names & {"rand", "randn", "poisson"} else "time"

    def _emit_scalars(self, block: Block, em: _Emitter, arrays: set[str], write_back: bool = False) -> bool:
        """Scalar statements; those that depend on constants only are computed once per run.

        With ``write_back``, the shared (``(shared)``, one-element) variables they write are stored into the
        state afterwards, as Brian2's numpy target stores them before the vector code runs. Returns ``True``
        when all of them are constants.
        """
        variables = block.captured.variables
        shared_written = [
            st.var
            for st in block.scalar_statements
            if not st.created and isinstance(variables.get(st.var), ArrayVariable)
        ]
        constant_clock = {n for n in arrays if is_clock_variable(variables[n]) and variables[n].name == "dt"}
        impure_names = (set(arrays) - constant_clock) | {"rand", "randn", "poisson"}
        impure_names |= {n for n, v in variables.items() if is_clock_variable(v) and v.name != "dt"}
        impure_names |= set(self.params)
        pure, impure = [], []
        for st in block.scalar_statements:
            ids = get_identifiers(st.rhs)
            if (
                ids & impure_names
                or st.var in shared_written
                or any(isinstance(variables.get(n), TimedArray) for n in ids)
            ):
                impure.append(st)
                impure_names.add(st.var)
            else:
                pure.append(st)
        for n in sorted(arrays):
            self.read_all(block, em, n)
        if pure:
            names = ", ".join(st.var for st in pure)
            key = f"{block.captured.name}"
            em(f"_sc = _R.cache.get({key!r})")
            em("if _sc is None:")
            em.indent += 1
            for st in pure:
                em(self.statement_line(st, None))
            em(f"_R.cache[{key!r}] = ({names},)")
            em.indent -= 1
            em("else:")
            em.indent += 1
            em(f"({names},) = _sc")
            em.indent -= 1
        for st in impure:
            em(self.statement_line(st, None))
        if write_back:
            for n in dict.fromkeys(shared_written):
                var = variables[n]
                key = array_key(var)
                block.writes.add(key)
                floating = ", True" if np.issubdtype(var.dtype, np.floating) else ""
                em(f"_S[{key!r}] = _fit({n}, _R.B, 1, _R{floating})")
        return not impure and not (set(arrays) - constant_clock)

    def _compile_all(self, block: Block, em: _Emitter, array_names: set[str], cw_all: dict) -> None:
        read_vars, write_vars = self._all_reads_writes(block, array_names, cw_all)
        em("_vectorisation_idx = _R.vshape")
        for n in sorted(read_vars):
            if not block.vector_statements or n not in array_names:
                continue
            self.read_all(block, em, n)
        if block.mode == "reset":
            for n in write_vars:
                em(f"_old_{n} = {n}")
        self._emit_all_statements(block, em, write_vars, cw_all)
        self._emit_all_writes(block, em, read_vars, write_vars, array_names)
        self._emit_outputs(block, em)

    @staticmethod
    def _all_reads_writes(block: Block, array_names: set[str], cw_all: dict) -> tuple[set[str], list[str]]:
        """The arrays an ``"all"``/``"reset"`` block reads, and those it writes (in statement order)."""
        read_vars = set()
        write_vars = []
        for st in block.vector_statements:
            read_vars |= get_identifiers(st.rhs) & array_names
            if st.inplace or st.var in cw_all:
                read_vars.add(st.var)
            if st.var in array_names and st.var not in write_vars:
                write_vars.append(st.var)
        for v in write_vars:
            if v in cw_all:
                read_vars.add(cw_all[v])
        # reset blocks keep the old values where no event happened, so they read what they write
        if block.mode == "reset":
            read_vars |= set(write_vars)
        return read_vars, write_vars

    def _emit_all_statements(self, block: Block, em: _Emitter, write_vars: list[str], cw_all: dict) -> None:
        for st in block.vector_statements:
            cond = cw_all.get(st.var) if st.var in write_vars and not st.created else None
            if st.var == "_vsur":  # the surrogate's argument is only needed when gradients are wanted
                em("_vsur = None")
                em("if _R.functional or _R.relaxed:")
                em.indent += 1
                em(self.statement_line(st, None))
                em.indent -= 1
                continue
            em(self.statement_line(st, cond, self.random_names(block)))

    def _emit_all_writes(
        self, block: Block, em: _Emitter, read_vars: set[str], write_vars: list[str], array_names: set[str]
    ) -> None:
        """Store the written arrays (the kept old values where a reset block's group did not spike)."""
        variables = block.captured.variables
        # a written variable whose value is another array's tensor as read (``x = y``) gets a copy: without
        # gradients arrays are updated in place, and two variables must never share memory
        origin = {n: n for n in read_vars if n in array_names}
        for st in block.vector_statements:
            rhs = st.rhs.strip().strip("()").strip()
            origin[st.var] = origin.get(rhs) if st.op == "=" and rhs.isidentifier() else None
        for n in write_vars:
            var = variables[n]
            key = array_key(var)
            block.writes.add(key)
            index = self.index_name(block, n)
            size = 1 if var.scalar else var.size
            value = n if block.mode != "reset" else f"_mix(_MASK, {n}, _old_{n})"
            if block.mode != "reset" and origin.get(n) not in (None, n):
                value = f"_copy({n}, _R)"
            floating = np.issubdtype(var.dtype, np.floating)
            if index in ("_idx", "0") or index in block.captured.iterate_all:
                em(f"_S[{key!r}] = _fit({value}, _R.B, {size}, _R{', True' if floating else ''})")
            else:
                em(f"_S[{key!r}] = _scatter_last(_S[{key!r}], {self.index_tensor(block, index)}, {value}, _R)")

    @staticmethod
    def _emit_outputs(block: Block, em: _Emitter) -> None:
        """The block's return value: the condition, summed value and surrogate, and recorded values."""
        out = [
            n
            for n in ("_cond", "_synaptic_var", "_vsur")
            if n in set().union(*[{st.var} for st in block.vector_statements + block.scalar_statements])
        ]
        # values asked for by name (recorded subexpressions, see ``Twin.run(record=...)``)
        out += [st.var for st in block.vector_statements if st.created and st.var.startswith(RECORDED_PREFIX)]
        em("return {" + ", ".join(f"{n!r}: {n}" for n in out) + "}")

    def _compile_events(self, block: Block, em: _Emitter, cw_all: dict) -> None:
        variables = block.captured.variables
        gen = block.gen
        raw = block.raw_vector
        em("_vectorisation_idx = (_ES.shape[0],)")
        ev_index: dict[str, str] = {}
        if not gen.has_repeated_indices(raw):
            read, write, _indices, cw = gen.arrays_helper(raw)
            for n in sorted(read):
                self.read_event(block, em, n, ev_index)
            created = {st.var for st in block.vector_statements if st.created}
            for st in block.vector_statements:
                cond = cw.get(st.var) if st.var not in created else None
                em(self.statement_line(st, cond, self.random_names(block)))
            for n in sorted(write):
                self._write_event(block, em, n, n, ev_index)
            em("return {}")
            return
        # repeated indices: one statement at a time, ufunc.at semantics (NumpyCodeGenerator.vectorise_code)
        used_variables: set[str] = set()
        created = {st.var for st in block.vector_statements if st.created}
        for position, (raw_st, st) in enumerate(zip(raw, block.vector_statements)):
            read, write, _indices, cw = gen.arrays_helper([raw_st])
            index_of = block.captured.variable_indices
            used = set(get_identifiers(raw_st.expr)) & {k for k in variables if k in index_of and index_of[k] != "_idx"}
            used_variables |= used
            if raw_st.var in used_variables:
                raise UnsupportedFeatureError(
                    f"{self.object_name}: the synaptic statement '{raw_st}' reads and writes "
                    f"'{raw_st.var}' through repeated indices; Brian2's numpy target runs it as a "
                    "sequential loop, the twin does not support it"
                )
            index = index_of.get(raw_st.var, "_idx")
            accumulate = raw_st.inplace and raw_st.op != ":=" and index != "_idx"
            if accumulate and raw_st.var not in get_identifiers(raw_st.expr):
                read = read - {raw_st.var}
            for n in sorted(read):
                self.read_event(block, em, n, ev_index)
            if accumulate:
                if raw_st.op not in ("+=", "-="):
                    raise UnsupportedFeatureError(
                        f"{self.object_name}: in-place '{raw_st.op}' on '{raw_st.var}' through repeated "
                        "indices is not supported by the twin (only += and -=)"
                    )
                var = variables[raw_st.var]
                key = array_key(var)
                block.writes.add(key)
                sign = "" if raw_st.op == "+=" else "-"
                mask = cw.get(raw_st.var)
                if mask is not None:
                    self.read_event(block, em, mask, ev_index)
                idx = self.event_index(block, em, index, ev_index)
                em(f"_val = {sign}({st.rhs})")
                self.compile_dense(block, raw_st, st, index, block.vector_statements[:position])
                em(
                    f"_S[{key!r}] = _add_at(_S[{key!r}], _EB, {idx}, _val, {mask or 'None'}, _R, "
                    f"{raw_st.var!r}, {self.ns_token(block, raw_st.var)})"
                )
            else:
                cond = cw.get(st.var) if st.var not in created else None
                em(self.statement_line(st, cond, self.random_names(block)))
                if raw_st.var in write:
                    self._write_event(block, em, raw_st.var, raw_st.var, ev_index)
        block.relaxable = len(block.dense) == len(block.vector_statements)
        em("return {}")

    def compile_dense(self, block: Block, raw_st, st: Statement, index: str, before: list[Statement]) -> None:
        """For ``x_post += f(synaptic variables)``: ``f`` over all synapses, for the dense gradient.

        ``before`` are the block's vector statements that precede ``st``: temporaries it uses
        (``temp = w * g`` then ``x_post += temp``) are computed over all synapses too.
        """
        variables = block.captured.variables
        index_of = block.captured.variable_indices
        needed: list[Statement] = []  # the temporaries f depends on, in order
        deps = set(get_identifiers(st.rhs))
        for prev in reversed(before):
            if prev.created and prev.var in deps:
                needed.insert(0, prev)
                deps |= get_identifiers(prev.rhs)
        local = {s.var for s in needed}
        scalar_created = {s.var for s in block.scalar_statements}
        for n in deps:
            if n in scalar_created or n in local or n == "_pow":
                continue
            var = variables.get(n)
            if var is None or isinstance(var, (Constant,)) or is_clock_variable(var):
                continue
            if isinstance(var, Function):
                if n in ("rand", "randn", "poisson") or n not in TORCH_FUNCTIONS:
                    return
                continue
            if isinstance(var, ArrayVariable) and index_of.get(n) in ("_idx", "0"):
                continue
            return  # depends on pre/post state or local values: no dense gradient term
        em = _Emitter()
        names = set(deps)
        for s in block.scalar_statements:
            names |= get_identifiers(s.rhs) | ({s.var} if not s.created else set())
        em("_vectorisation_idx = ()")
        self.bind_names(block, em, names, scalar_created | local)
        arrays = {n for n in names if isinstance(variables.get(n), ArrayVariable)}
        self._emit_scalars(block, em, arrays)
        em("_vectorisation_idx = _R.vshape")
        for s in needed:
            em(self.statement_line(s, None))
        sign = "" if raw_st.op == "+=" else "-"
        em(f"return {sign}({st.rhs})")
        src = "def _dense(_S, _R, _T, _TS):\n" + "\n".join(em.lines) + "\n"
        scope: dict = {}
        exec(compile(src, f"<twin dense {block.captured.name}>", "exec"), self.ns, scope)  # noqa: S102
        key = array_key(variables[raw_st.var])
        block.dense.append(
            DenseTerm(raw_st.var, key, self.index_tensor(block, index), scope["_dense"], block.captured.name)
        )

    def ns_token(self, block: Block, varname: str) -> str:
        return repr(block.captured.name)

    def _write_event(self, block: Block, em: _Emitter, varname: str, value: str, ev_index: dict) -> None:
        var = block.captured.variables[varname]
        key = array_key(var)
        block.writes.add(key)
        index = self.index_name(block, varname)
        if index == "0":
            em(f"_S[{key!r}] = _put(_S[{key!r}], (_EB, torch.zeros_like(_ES)), {value}, _R)")
            return
        idx = self.event_index(block, em, index, ev_index)
        em(f"_S[{key!r}] = _put(_S[{key!r}], (_EB, {idx}), {value}, _R)")


def threshold_parts(condition: str) -> tuple[str, str, str] | None:
    """Split a threshold ``a > b`` (``>=``, ``<``, ``<=``) into ``(a, b, op)``; ``None`` otherwise."""
    try:
        node = ast.parse(condition.strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        op = type(node.ops[0]).__name__
        if op in ("Gt", "GtE", "Lt", "LtE"):
            return ast.unparse(node.left), ast.unparse(node.comparators[0]), op
    return None
