r"""The twin's compiled CPU back end: Brian2's statements as C loops over the twin's tensors.

When no gradient is wanted (``torch.no_grad()``), on the CPU in float64, each Brian2 code block whose
statements C can express runs as one C loop over the tensors' memory instead of a dozen tensor
operations. The statements are the same ones the tensor code runs (Brian2's abstract code after its
state updaters and :func:`brian2.codegen.translation.make_statements`), rendered with Brian2's own
:class:`~brian2.parsing.rendering.CPPNodeRenderer`, in the same order, with the same ``where``
simplifications as Brian2's numpy target. Arithmetic is IEEE double in both (no fused multiply-add,
``-ffp-contract=off``), so the spikes stay those of Brian2's numpy target. Scalar (loop-invariant)
statements are still computed by the twin's Python code (NumPy-exact) and passed in.

Four kernel kinds follow Brian2's templates:

* ``all`` (state updaters, ``run_regularly``): every element ``(b, i)`` of a group;
* ``threshold``: every element; writes the condition, the spike list ``(b, i)`` in ``nonzero`` order and
  Brian2's refractoriness (``not_refractory = False``, ``lastspike = t`` for spiking neurons);
* ``reset``: the spike list only;
* ``events`` (``on_pre``/``on_post``, any delays): the spikes that arrive, in Brian2's spike-queue order
  (oldest push first, then source, then synapse index) -- the accumulation order of ``numpy.add.at``,
  so ``x_post += w`` sums round identically. Only blocks whose statements give the same result when
  run event by event are compiled: variables written through repeated (pre/post) indices must be
  accumulated (``+=``, ``-=``) and not read by the block.

Anything else (random numbers, TimedArrays, summed variables, learnable constants, functions without a
C version) keeps the tensor code; both run in the same step and share the spike queues, also across
runs with and without gradients. The libraries are compiled with the system C compiler (``$CC``, else
``cc``/``gcc``; ``-O3 -march=native``, vectorised where the loops allow) and cached by the hash of
their source in ``$BIOSNN_CACHE_DIR/twin-c`` (or the temporary folder).

Transcendental functions (``exp``, ``log``, ``tanh``, ``**`` ...) inside per-element statements are evaluated
as NumPy evaluates them on this CPU: by the C library where a probe finds it bit-equal to NumPy, else by
NumPy's own inner loop called from C (CPUs with AVX-512, where NumPy has its own SIMD routines); see
:mod:`biosnn.twins.cmath`. ``x ** 2``, ``x ** -1`` and ``x ** 0.5`` take NumPy's fast paths (``x*x``, ``1/x``,
``sqrt``). :meth:`~biosnn.twins.Twin.compiled_blocks` names the functions a block takes from NumPy.
"""

from __future__ import annotations

import ctypes
import functools
import getpass
import hashlib
import os
import shutil
import string
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy as np
import torch
from brian2.core.functions import Function
from brian2.core.variables import ArrayVariable, Constant
from brian2.parsing.rendering import CPPNodeRenderer
from brian2.utils.stringtools import get_identifiers

from biosnn.errors import UnsupportedFeatureError
from biosnn.twins import cmath
from biosnn.twins.codegen import array_key, is_clock_variable, where_parts

#: Brian2 function name -> C expression template (``{0}``, ``{1}`` ... are the rendered arguments), for the
#: functions that are exact in C on every CPU. The transcendental ones (``exp``, ``log``, ``**`` ...) come from
#: :func:`c_functions`, which asks the per-machine probe of :mod:`biosnn.twins.cmath` how to match NumPy.
C_FUNCTIONS: dict[str, str] = {
    "abs": "fabs((double)({0}))",
    "floor": "floor((double)({0}))",
    "ceil": "ceil((double)({0}))",
    "sign": "_bio_sign((double)({0}))",
    "clip": "_bio_clip((double)({0}), (double)({1}), (double)({2}))",
    "int": "((int64_t)({0}))",
    "timestep": "_bio_timestep((double)({0}), (double)({1}))",
}


def c_functions() -> tuple[dict[str, str], dict[str, str]]:
    """The C templates of every function on this machine, and the reasons of those C cannot match NumPy."""
    table = dict(C_FUNCTIONS)
    refused: dict[str, str] = {}
    for name, choice in cmath.math_choices().items():
        template = choice.template()
        if template is None:
            refused[name] = choice.note
        else:
            table[name] = template
    # exprel is expm1(x) / x between Brian2's cut-offs: it follows the choice made for expm1
    if "expm1" in refused:
        refused["exprel"] = f"it uses expm1: {refused['expm1']}"
    else:
        numpy_loop = table["expm1"].startswith("_bio_np")
        table["exprel"] = "_bio_np_exprel((double)({0}))" if numpy_loop else "_bio_exprel((double)({0}))"
    return table, refused


#: Names a Brian2 variable may have but C code may not use (keywords, and names the kernels' C uses)
C_RESERVED = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while bool true false NAN INFINITY int32_t int64_t uint8_t uint64_t memcpy acos asin atan ceil copysign cos
cosh exp expm1 fabs floor fmod log log10 log1p pow sin sinh sqrt tan tanh trunc""".split()
)

PRELUDE = (
    r"""
#include <stdint.h>
#include <stdbool.h>
#include <math.h>
#include <string.h>
/* threads the kernels may use (Twin(threads=...)): elementwise loops over large groups and batches split into
   chunks run by OpenMP threads; every element is computed as in one thread, so the results are the same */
static int64_t _bio_threads = 1;
void _bio_set_threads(int64_t n) { _bio_threads = n > 0 ? n : 1; }
#define _BIO_CHUNK 1024
#define _BIO_PARALLEL_MIN 16384
/* NumPy semantics: maximum/minimum propagate NaN; clip(x, lo, hi) = minimum(maximum(x, lo), hi) */
static inline double _bio_max(double a, double b) { return (a != a) ? a : ((b != b) ? b : (a >= b ? a : b)); }
static inline double _bio_min(double a, double b) { return (a != a) ? a : ((b != b) ? b : (a <= b ? a : b)); }
static inline double _bio_clip(double x, double lo, double hi) { return _bio_min(_bio_max(x, lo), hi); }
static inline double _bio_sign(double x) { return (x != x) ? x : (double)((x > 0) - (x < 0)); }
/* brian2.core.functions.timestep: int64((t + 1e-3*dt) / dt); as the same integer in a double (exact below
   2**53; comparisons and integer arithmetic give the same results), which the compiler can vectorise */
static inline double _bio_timestep(double t, double dt) { return trunc((t + 1e-3 * dt) / dt); }
/* numpy.remainder (Python's %) for floats */
static inline double _brian_mod(double a, double b) {
    double m = fmod(a, b);
    if (m != 0) { if ((b < 0) != (m < 0)) m += b; } else { m = copysign(0.0, b); }
    return m;
}
"""
    + cmath.NUMPY_LOOP_PRELUDE
    + f"""
/* Brian2's exprel (brian2.units.unitsafefunctions.exprel, scipy.special's cut-offs): 1 where |x| < 1e-16, inf
   where x > 717, else expm1(x) / x, with the C library's expm1 or NumPy's (as the probe chose for expm1) */
static inline double _bio_exprel(double x) {{ return fabs(x) < 1e-16 ? 1.0 : (x > 717 ? INFINITY : expm1(x) / x); }}
static inline double _bio_np_exprel(double x) {{
    return fabs(x) < 1e-16 ? 1.0 : (x > 717 ? INFINITY : _bio_np1({cmath.SLOTS["expm1"]}, x) / x);
}}
"""
)


#: The C signature of every kernel kind: its return type and the ``(C type, name)`` of its arguments. The kernels'
#: C functions (:func:`c_signature`) and the argument types ctypes calls them with (:func:`ctypes_signature`)
#: both come from this table.
SIGNATURES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "all": (
        "void",
        (("int64_t", "_B"), ("double", "_T"), ("int64_t", "_TS"), ("const double*", "_scal"), ("void**", "_arr")),
    ),
    "threshold": (
        "int64_t",
        (
            ("int64_t", "_B"),
            ("double", "_T"),
            ("int64_t", "_TS"),
            ("const double*", "_scal"),
            ("void**", "_arr"),
            ("uint8_t* restrict", "_out"),
            ("int64_t* restrict", "_sb"),
            ("int64_t* restrict", "_si"),
        ),
    ),
    "reset": (
        "void",
        (
            ("int64_t", "_n"),
            ("const int64_t*", "_sb"),
            ("const int64_t*", "_si"),
            ("double", "_T"),
            ("int64_t", "_TS"),
            ("const double*", "_scal"),
            ("void**", "_arr"),
        ),
    ),
    "events": (
        "void",
        (
            ("int64_t", "_pos"),
            ("int64_t", "_L"),
            ("const int64_t*", "_counts"),
            ("void**", "_sbs"),
            ("void**", "_sis"),
            ("int64_t", "_dmin"),
            ("int64_t", "_dmax"),
            ("int64_t", "_start"),
            ("int64_t", "_nsrc"),
            ("const int64_t*", "_ptr"),
            ("const int64_t*", "_syn"),
            ("const int64_t*", "_dl"),
            ("double", "_T"),
            ("int64_t", "_TS"),
            ("const double*", "_scal"),
            ("void**", "_arr"),
        ),
    ),
}

#: C scalar type -> ctypes type (every pointer is a ``c_void_p``)
_CTYPES = {"int64_t": ctypes.c_int64, "double": ctypes.c_double, "void": None}

#: the folder of the kernels' C templates, one per kernel kind (``string.Template``: ``$signature``, ``$head``,
#: ``$body``, ``$n``, ``$refractory``)
TEMPLATES = Path(__file__).with_name("templates")


def c_signature(kind: str, fname: str) -> str:
    """The C declaration of the kernel ``fname`` of ``kind`` (from :data:`SIGNATURES`)."""
    restype, args = SIGNATURES[kind]
    return f"{restype} {fname}({', '.join(f'{ctype} {name}' for ctype, name in args)})"


def ctypes_signature(kind: str) -> tuple[list, object]:
    """``(argtypes, restype)`` of a kernel of ``kind`` for ctypes (from :data:`SIGNATURES`)."""
    restype, args = SIGNATURES[kind]
    return [ctypes.c_void_p if "*" in ctype else _CTYPES[ctype] for ctype, _name in args], _CTYPES[restype]


@functools.cache
def c_template(kind: str) -> string.Template:
    """The C template of a kernel kind (``templates/<kind>.c``)."""
    return string.Template((TEMPLATES / f"{kind}.c").read_text())


#: the OpenMP pragma before an elementwise loop over chunks (``threads=``; templates ``all`` and ``threshold``)
PARALLEL_PRAGMA = (
    "    #pragma omp parallel for num_threads(_bio_threads) schedule(static) "
    "if(_bio_threads > 1 && _B * {n} >= _BIO_PARALLEL_MIN)"
)

#: ``$chunks`` of templates ``all`` and ``threshold``: the opening of the loop over every element ``(_b, _i)``
#: of a group of ``n``, in chunks of a row (split among threads by ``{parallel}``, the pragma or nothing)
CHUNKED_LOOP = """    const int64_t _cpb = ({n} + _BIO_CHUNK - 1) / _BIO_CHUNK;
    const int64_t _nc = _B * _cpb;
{parallel}
    for (int64_t _c = 0; _c < _nc; _c++) {{
    const int64_t _b = _c / _cpb;
    const int64_t _i0 = (_c - _b * _cpb) * _BIO_CHUNK;
    const int64_t _i1 = _i0 + _BIO_CHUNK < {n} ? _i0 + _BIO_CHUNK : {n};
    for (int64_t _i = _i0; _i < _i1; _i++) {{"""


class NotCompilable(Exception):
    """A block the C back end does not take; it keeps the tensor code."""


class CRenderer(CPPNodeRenderer):
    """Brian2's C++ rendering with true division for any operands, the functions of :func:`c_functions`, and
    NumPy's fast paths of ``x ** constant``.

    Parameters
    ----------
    functions
        Brian2 function name -> C template (:func:`c_functions`).
    refused
        Function name -> why C cannot evaluate it NumPy's way on this machine.
    constants
        Names of constants -> their values (an exponent given by name takes NumPy's fast paths too).
    """

    #: NumPy's ``ndarray.__pow__`` fast paths (``numpy/_core/src/multiarray/number.c``): exponent -> C template
    POW_FAST_PATHS = {2.0: "_bio_sq((double)({0}))", -1.0: "(1.0 / (double)({0}))", 0.5: "sqrt((double)({0}))"}

    def __init__(
        self,
        functions: dict[str, str] | None = None,
        refused: dict[str, str] | None = None,
        constants: dict[str, object] | None = None,
    ) -> None:
        super().__init__(auto_vectorise=set())
        if functions is None:
            functions, refused = c_functions()
        self.functions = functions
        self.refused = refused or {}
        self.constants = constants or {}
        self.numpy_functions: set[str] = set()  # functions this block evaluates through NumPy's loops

    def _function(self, name: str) -> str:
        if name not in self.functions:
            reason = self.refused.get(name)
            raise NotCompilable(f"function {name!r}" + (f": {reason}" if reason else ""))
        if self.functions[name].startswith("_bio_np"):
            self.numpy_functions.add("**" if name == "power" else name)
        return self.functions[name]

    def constant_exponent(self, node) -> float | None:
        """The value of an exponent that is a number (or a named constant), else ``None``."""
        name = node.__class__.__name__
        if name == "Constant" and isinstance(node.value, (int, float, np.number)) and not isinstance(node.value, bool):
            return float(node.value)
        if name == "UnaryOp" and node.op.__class__.__name__ in ("USub", "UAdd"):
            inner = self.constant_exponent(node.operand)
            if inner is None:
                return None
            return -inner if node.op.__class__.__name__ == "USub" else inner
        if name == "Name" and node.id in self.constants:
            value = np.asarray(self.constants[node.id])
            if value.shape == () and value.dtype.kind in "iuf":
                return float(value)
        return None

    def power(self, base: str, exponent_node, exponent: str) -> str:
        """``base ** exponent`` as NumPy's ``ndarray.__pow__`` computes it."""
        value = self.constant_exponent(exponent_node) if exponent_node is not None else None
        if value in self.POW_FAST_PATHS:
            return self.POW_FAST_PATHS[value].format(base)
        return self._function("power").format(base, exponent)

    def render_BinOp(self, node):
        name = node.op.__class__.__name__
        if name == "Div":
            return f"((double)({self.render_node(node.left)}) / (double)({self.render_node(node.right)}))"
        if name == "FloorDiv":
            raise NotCompilable("floor division")
        if name == "Pow":
            return f"({self.power(self.render_node(node.left), node.right, self.render_node(node.right))})"
        return super().render_BinOp(node)

    def render_Constant(self, node):
        value = node.value.item() if isinstance(node.value, np.generic) else node.value
        if isinstance(value, float) and not np.isfinite(value):
            return "NAN" if value != value else ("INFINITY" if value > 0 else "(-INFINITY)")
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return repr(value)
        return super().render_Constant(node)

    def render_Call(self, node):
        return self._function(node.func.id).format(*[self.render_node(a) for a in node.args])


def c_type(dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return "bool"
    if np.issubdtype(dtype, np.floating):
        return "double"
    if dtype == np.int32:
        return "int32_t"
    if np.issubdtype(dtype, np.integer):
        return "int64_t"
    raise NotCompilable(f"dtype {dtype}")


def storage_type(dtype) -> str:
    """C type of an array's elements: booleans as bytes (torch.bool's layout; lets loops vectorise)."""
    return "uint8_t" if np.dtype(dtype) == np.bool_ else c_type(dtype)


def c_literal(value) -> str:
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, float):
        if not np.isfinite(value):
            return "NAN" if value != value else ("INFINITY" if value > 0 else "(-INFINITY)")
        return repr(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value)}LL"
    raise NotCompilable(f"constant {value!r}")


def render_statement(stmt, renderer: CRenderer) -> str:
    """The right-hand side of one Brian2 statement in C, with the numpy target's ``where`` rewriting."""
    parts = where_parts(stmt)
    if parts is not None:
        boolvar, expr_true, expr_false = parts
        return f"({boolvar} ? ({renderer.render_expr(expr_true)}) : ({renderer.render_expr(expr_false)}))"
    return renderer.render_expr(stmt.expr)


class KernelSource:
    """The C source of one block: its function, its array arguments and how to call it."""

    def __init__(
        self,
        kind: str,
        name: str,
        fname: str,
        source: str,
        arrays: list[tuple[str, str, str]],
        scalar_names: list[str],
        numpy_functions: tuple[str, ...] = (),
    ) -> None:
        self.kind = kind
        self.fname = fname
        self.name = name
        self.source = source
        self.arrays = arrays  # (key in S or the index namespace, "state"/"index", C element type)
        self.scalar_names = scalar_names
        self.numpy_functions = numpy_functions  # evaluated through NumPy's own loops (see biosnn.twins.cmath)

    @property
    def status(self) -> str:
        """``"c"``, or ``"c (exp, log through NumPy's own loops ...)"`` (see :meth:`Twin.compiled_blocks`)."""
        if not self.numpy_functions:
            return "c"
        return (
            f"c ({', '.join(self.numpy_functions)} through NumPy's own loops: the C library rounds "
            f"differently from NumPy on this CPU)"
        )


def _assignment(var: str, op: str, rhs: str) -> str:
    if op in ("=", ":="):
        return f"{var} = ({rhs});"
    if op == "%=":
        return f"{var} = _brian_mod({var}, ({rhs}));"
    return f"{var} = ({var} {op[0]} ({rhs}));"


class KernelWriter:
    """Render one translated :class:`~biosnn.twins.codegen.Block` as a C function (or refuse).

    Parameters
    ----------
    block
        The translated block (its raw Brian2 statements are used).
    kind
        ``"all"``, ``"threshold"``, ``"reset"`` or ``"events"``.
    size
        Number of elements of the group the block runs over.
    batched
        Array keys held per batch element.
    sizes
        ``array key -> number of elements``.
    learnable
        Names of constants that are learnable parameters (such blocks keep the tensor code).
    """

    def __init__(
        self, block, kind: str, size: int, batched: set[str], sizes: dict[str, int], learnable: set[str]
    ) -> None:
        self.block = block
        self.kind = kind
        self.size = size
        self.batched = batched
        self.sizes = sizes
        self.learnable = learnable
        self.array_key = array_key
        self.is_clock = is_clock_variable
        self.variables = block.captured.variables
        self.indices = block.captured.variable_indices
        self.renderer = CRenderer(
            constants={n: v.value for n, v in self.variables.items() if isinstance(v, Constant) and n not in learnable}
        )
        self.arrays: list[tuple[str, str, bool]] = []  # (key, "state"/"index", batched)
        self._array_slot: dict[str, int] = {}
        self._ctypes: dict[int, str] = {}  # slot -> C element type
        self.fname = "k_" + hashlib.sha1(block.captured.runner.name.encode()).hexdigest()[:12]  # stable across twins

    # -- arguments ---------------------------------------------------------------------------------
    def slot(self, key: str, role: str, batched: bool) -> int:
        if key not in self._array_slot:
            self._array_slot[key] = len(self.arrays)
            self.arrays.append((key, role, batched))
        return self._array_slot[key]

    def _array_ref(self, name: str, index_expr: str) -> tuple[str, str]:
        """C pointer expression and element offset of variable ``name`` at ``index_expr``."""
        var = self.variables[name]
        key = self.array_key(var)
        bat = key in self.batched
        k = self.slot(key, "state", bat)
        self._ctypes[k] = storage_type(var.dtype)
        size = self.sizes[key]
        ptr = f"_p{k}"
        off = f"_b * {size} + {index_expr}" if bat else index_expr
        return ptr, off

    # -- source ------------------------------------------------------------------------------------
    def write(self) -> KernelSource:
        """The C function of the block; :class:`NotCompilable` (with the reason) if C cannot run it."""
        blk = self.block
        raw_vector = blk.raw_vector
        cw_all = blk.gen.get_conditional_write_vars()
        names: set[str] = set()
        for st in raw_vector:
            names |= get_identifiers(st.expr) | {st.var}
            if st.var in cw_all and st.op != ":=":
                names.add(cw_all[st.var])
        scalar_created = [st.var for st in blk.raw_scalar]
        self._check_names(names)
        created = {st.var for st in raw_vector if st.op == ":="}
        head, arrays_read = self._head(names, created, scalar_created)
        self._check_aliases(names, raw_vector)
        if self.kind == "events":
            self._check_events(raw_vector)
        self._body: list[str] = []
        self._index_locals: dict[str, str] = {}
        for n in arrays_read:
            var = self.variables[n]
            ptr, off = self._array_ref(n, self._index_of(n))
            self._body.append(f"{c_type(var.dtype)} {n} = {ptr}[{off}];")
        written = self._statements(raw_vector, cw_all, created, arrays_read)
        # threads may share the elements only when each element writes its own entries
        self._parallel = all(self._index_of(n) == "_i" for n in written)
        for n in written:
            ptr, off = self._array_ref(n, self._index_of(n))
            self._body.append(f"{ptr}[{off}] = {n};")
        src = self._wrap(head, self._body)
        arrays = [(key, role, self._ctypes[k]) for k, (key, role, _bat) in enumerate(self.arrays)]
        return KernelSource(
            self.kind,
            blk.captured.name,
            self.fname,
            src,
            arrays,
            scalar_created,
            tuple(sorted(self.renderer.numpy_functions)),
        )

    def _check_names(self, names: set[str]) -> None:
        """Refuse learnable constants, names reserved in C and scalar code C cannot take."""
        if names & self.learnable:
            raise NotCompilable("learnable constants")
        clash = sorted(n for n in names & C_RESERVED if not isinstance(self.variables.get(n), Function))
        if clash:
            raise NotCompilable(f"the name {clash[0]!r} is reserved in C")
        for st in self.block.raw_scalar:
            if st.op != ":=" and isinstance(self.variables.get(st.var), ArrayVariable):
                raise NotCompilable(f"the scalar code writes the shared variable {st.var!r}")
            for n in get_identifiers(st.expr) | {st.var}:
                var = self.variables.get(n)
                if n in self.learnable:
                    raise NotCompilable("learnable constants")
                if isinstance(var, ArrayVariable) and not self.is_clock(var) and self.array_key(var) in self.batched:
                    raise NotCompilable(f"scalar statement reads the per-trial array {n!r}")

    def _head(self, names: set[str], created: set[str], scalar_created: list[str]) -> tuple[list[str], list[str]]:
        """The declarations before the loop (scalar values, clock variables, constants), and the arrays the
        loop body reads.
        """
        head: list[str] = []
        for i, sv in enumerate(scalar_created):
            st = self.block.raw_scalar[i]
            head.append(f"const {c_type(st.dtype)} {sv} = ({c_type(st.dtype)})_scal[{i}];")
        arrays_read: list[str] = []
        for n in sorted(names):
            if n in created or n in scalar_created:
                continue
            var = self.variables.get(n)
            if var is None:
                raise NotCompilable(f"unknown name {n!r}")
            if self.is_clock(var):
                head.append(self._clock_declaration(n, var))
            elif isinstance(var, Constant):
                head.append(f"const {c_type(np.asarray(var.value).dtype)} {n} = {c_literal(var.value)};")
            elif isinstance(var, ArrayVariable):
                arrays_read.append(n)
            elif isinstance(var, Function):
                self.renderer._function(n)  # NotCompilable (with the reason) where C cannot match NumPy
            else:
                raise NotCompilable(f"name {n!r} of kind {type(var).__name__}")
        return head, arrays_read

    @staticmethod
    def _clock_declaration(n: str, var) -> str:
        if var.name == "t":
            return f"const double {n} = _T;"
        if var.name in ("timestep", "t_in_timesteps"):
            return f"const int64_t {n} = _TS;"
        if var.name == "dt":
            return f"const double {n} = {c_literal(float(var.get_value()[0]))};"
        raise NotCompilable(f"clock variable {var.name!r}")

    def _index_of(self, n: str) -> str:
        """The C index of variable ``n`` in the loop (a local read from its index array, once)."""
        idx = self.indices.get(n, "_idx")
        if idx == "_idx":
            return "_i"
        if idx == "0":
            return "0"
        if self.kind != "events":
            raise NotCompilable(f"index {idx!r} in a per-element block")
        if idx not in self._index_locals:
            ivar = self.variables[idx]
            key = "I_" + self.array_key(ivar)
            k = self.slot(key, "index", False)
            self._ctypes[k] = "int64_t"
            local = f"_ix{len(self._index_locals)}"
            self._index_locals[idx] = local
            self._body.append(f"const int64_t {local} = _p{k}[_i];")
        return self._index_locals[idx]

    def _statements(self, raw_vector, cw_all: dict, created: set[str], arrays_read: list[str]) -> list[str]:
        """The vector statements into the loop body; returns the arrays they write, in order."""
        written: list[str] = []
        for st in raw_vector:
            if st.var == "_vsur":
                continue
            rhs = render_statement(st, self.renderer)
            if st.op == ":=":
                self._body.append(f"{c_type(st.dtype)} {st.var} = ({rhs});")
                continue
            line = _assignment(st.var, st.op, rhs)
            cond = cw_all.get(st.var)
            if cond is not None and st.var not in created:
                if cond not in arrays_read:
                    raise NotCompilable(f"conditional write on {cond!r}")
                line = f"if ({cond}) {{ {line} }}"
            self._body.append(line)
            if st.var not in created and st.var not in written:
                written.append(st.var)
        return written

    def _key_of(self, name: str) -> str | None:
        var = self.variables.get(name)
        if isinstance(var, ArrayVariable) and not self.is_clock(var):
            return self.array_key(var)
        return None

    def _check_aliases(self, names: set[str], raw_vector) -> None:
        """A written array must have one name in the block: the kernel reads each name into its own local
        (``x`` and ``x_post`` of ``on_post="x += 1; w = x_post"`` are one array; the second would be stale).
        """
        by_key: dict[str, set[str]] = {}
        for n in names:
            key = self._key_of(n)
            if key is not None:
                by_key.setdefault(key, set()).add(n)
        for st in raw_vector:
            key = self._key_of(st.var) if st.op != ":=" else None
            if key is not None and len(by_key.get(key, ())) > 1:
                raise NotCompilable(
                    f"the array written as {st.var!r} is also read as {sorted(by_key[key] - {st.var})[0]!r}"
                )

    def _check_events(self, raw_vector) -> None:
        """Event-by-event execution equals NumPy's statement-by-statement one (see the module doc)."""
        shared_written = set()
        for st in raw_vector:
            if st.op == ":=" or st.var not in self.variables:
                continue
            if self.indices.get(st.var, "_idx") != "_idx":
                if st.op not in ("+=", "-="):
                    raise NotCompilable(f"'{st.var} {st.op} ...' through repeated indices")
                shared_written.add(self._key_of(st.var))
        for st in raw_vector:
            if {self._key_of(n) for n in get_identifiers(st.expr)} & shared_written:
                raise NotCompilable("reads a variable accumulated through repeated indices")

    def _wrap(self, head: list[str], body: list[str]) -> str:
        """The block's C function: its kind's template (``templates/<kind>.c``) around the loop body."""
        ind = "        "
        refr = self.kind == "threshold" and self.block.captured.template_kwds.get("_uses_refractory")
        refractory = ""
        if refr:
            nr = self.slot(self._group_key("not_refractory"), "state", True)
            ls = self.slot(self._group_key("lastspike"), "state", True)
            self._ctypes[nr], self._ctypes[ls] = "uint8_t", "double"
            refractory = f"{ind}    _p{nr}[_k] = false;\n{ind}    _p{ls}[_k] = _T;"
        # distinct arrays never overlap: restrict pointers let the compiler vectorise the loops
        pointers = [f"{t}* restrict _p{k} = ({t}*)_arr[{k}];" for k, t in sorted(self._ctypes.items())]
        return c_template(self.kind).substitute(
            signature=c_signature(self.kind, self.fname),
            head="\n".join("    " + x for x in pointers + head),
            body="\n".join(ind + x for x in body),
            n=self._group_size(),
            refractory=refractory,
            chunks=CHUNKED_LOOP.format(
                n=self._group_size(), parallel=PARALLEL_PRAGMA.format(n=self._group_size()) if self._parallel else ""
            ),
        )

    def _group_size(self) -> int:
        return self.size

    def _group_key(self, name: str) -> str:
        return self.array_key(self.block.captured.runner.group.variables[name])


# -- compilation --------------------------------------------------------------------------------------


def c_compiler() -> str | None:
    """The C compiler to use: ``$CC``, Python's configured one, ``cc`` or ``gcc``; ``None`` if none exists."""
    candidates = [os.environ.get("CC"), (sysconfig.get_config_var("CC") or "").split(" ")[0], "cc", "gcc"]
    for c in candidates:
        if c and shutil.which(c):
            return shutil.which(c)
    return None


def _cache_folder() -> Path:
    from biosnn.brian import cache_dir

    root = cache_dir()
    user = os.getuid() if hasattr(os, "getuid") else getpass.getuser()  # no getuid on Windows
    folder = (root / "twin-c") if root is not None else Path(tempfile.gettempdir()) / f"biosnn-twin-c-{user}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


#: IEEE-exact flags: no contraction into fused multiply-adds, no fast-math; ``-fno-trapping-math`` only lets
#: the compiler evaluate both sides of a ``where`` (it assumes nobody reads the FP exception flags).
FLAGS = ["-O3", "-std=c99", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math"]
NATIVE = ["-march=native"]
#: OpenMP for ``threads=`` (without it, where the compiler has none, the pragmas are ignored: one thread)
OPENMP = ["-fopenmp"]


def _machine_id() -> str:
    """What ``-march=native`` depends on: the processor (its model and flags)."""
    import platform

    text = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            text += "".join(sorted({ln for ln in fh if ln.startswith(("model name", "flags"))}))
    except OSError:
        pass
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compile_library(source: str) -> ctypes.CDLL:
    """Compile ``source`` into a shared library (cached by the hash of source, flags and compiler)."""
    cc = c_compiler()
    if cc is None:
        raise UnsupportedFeatureError("the twin's C back end needs a C compiler ($CC, cc or gcc); none was found")
    digest = hashlib.sha256(
        "\n".join([source, " ".join(FLAGS + NATIVE + OPENMP), cc, sys.platform, _machine_id()]).encode()
    ).hexdigest()[:24]
    folder = _cache_folder()
    lib = folder / f"twin_{digest}.so"
    if not lib.exists():
        src = folder / f"twin_{digest}_{os.getpid()}.c"
        src.write_text(source)
        tmp = folder / f"twin_{digest}_{os.getpid()}.so"
        for extra in (NATIVE + OPENMP, OPENMP, NATIVE, []):  # a compiler without -march=native or OpenMP
            proc = subprocess.run([cc, *FLAGS, *extra, "-o", str(tmp), str(src), "-lm"], capture_output=True, text=True)
            if proc.returncode == 0:
                break
        src.unlink(missing_ok=True)
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise UnsupportedFeatureError(f"the twin's C kernels did not compile:\n{proc.stderr[-2000:]}")
        os.replace(tmp, lib)  # atomic: concurrent processes never load a half-written library
    loaded = ctypes.CDLL(str(lib))
    cmath.install_numpy_loops(loaded)  # NumPy's inner loops, for the functions the probe sends there
    return loaded


#: C element type -> the torch dtype the kernel reads
TORCH_DTYPES = {"double": torch.float64, "uint8_t": torch.bool, "int32_t": torch.int32, "int64_t": torch.int64}

_VOIDP = ctypes.c_void_p
_F64 = ctypes.c_double


class Kernel:
    """A compiled block bound to the twin's tensors: call it with the state dict and the step."""

    def __init__(self, src: KernelSource, fn, scalar_fn, scalar_kind: str, index_tensors: dict) -> None:
        self.kind = src.kind
        self.name = src.name
        self.fn = fn
        self.scalar_fn = scalar_fn
        self.scalar_kind = scalar_kind  # "constant", "time" or "state" (biosnn.twins.codegen.SCALAR_KINDS)
        self.n_scalars = len(src.scalar_names)
        self.keys = [(key, role, TORCH_DTYPES[ctype]) for key, role, ctype in src.arrays]
        self.index_tensors = index_tensors
        self._fixed = {key: index_tensors[key] for key, role, _d in self.keys if role == "index"}
        fn.argtypes, fn.restype = ctypes_signature(self.kind)
        self._ptr_type = _VOIDP * max(len(self.keys), 1)
        self._scal_type = _F64 * max(self.n_scalars, 1)

    @property
    def scalar_pure(self) -> bool:
        """Whether the scalar values are the same at every step of a run."""
        return self.scalar_kind == "constant"

    def scalars(self, S, R, T, TS):
        if not self.n_scalars:
            return None
        if self.scalar_pure:
            cached = R.cache.get(("c", self.name))
            if cached is not None:
                return cached
        values = self.scalar_fn(S, R, T, TS)
        arr = self._scal_type(*[float(v) for v in values])
        if self.scalar_pure:
            R.cache[("c", self.name)] = arr
        return arr

    def pointers(self, S):
        ptrs = []
        for key, role, dtype in self.keys:
            if role == "index":
                ptrs.append(self._fixed[key].data_ptr())
                continue
            t = S[key]
            if t.dtype != dtype or not t.is_contiguous():  # e.g. written by a tensor block in another dtype
                t = S[key] = t.to(dtype).contiguous()
            ptrs.append(t.data_ptr())
        return self._ptr_type(*ptrs)


#: the names the back ends had here before they became targets (:mod:`biosnn.twins.targets`)
_MOVED = {
    "BACKENDS": "TARGETS",
    "Backend": "Target",
    "TensorBackend": "TorchTarget",
    "CBackend": "CTarget",
    "choose_backend": "choose_target",
}


def __getattr__(name: str):
    if name in _MOVED:
        from biosnn.twins import targets

        return getattr(targets, _MOVED[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "C_FUNCTIONS",
    "SIGNATURES",
    "CRenderer",
    "Kernel",
    "KernelSource",
    "KernelWriter",
    "NotCompilable",
    "c_compiler",
    "c_signature",
    "compile_library",
    "ctypes_signature",
    "render_statement",
]
