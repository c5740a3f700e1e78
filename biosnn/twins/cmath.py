r"""NumPy-exact transcendental functions for the twin's C kernels, decided per machine by a probe.

Brian2's numpy target evaluates ``exp``, ``log``, ``x**y`` ... with NumPy's ufuncs. On most x86-64 CPUs
those call the same C library routines a C kernel would; on CPUs with AVX-512 NumPy dispatches to its own
SIMD routines, which round differently in the last bit (measured with NumPy 2.3.5 on an AVX512_ICL CPU:
``exp`` differs from glibc's on 4.3 % of inputs, ``log`` 0.04 %, ``tanh`` 20 %, ``pow`` 5 %). The twin's
invariant (spikes identical to the numpy target, plastic weights bit-equal) must hold on both kinds of CPU,
so for every function the C kernels use one of two implementations:

``"libc"``
    the C library's routine (``exp``, ``asin``, ``pow`` ...), fast and inlinable; chosen where it gives
    NumPy's results;
``"numpy"``
    NumPy's own one-dimensional inner loop (the ``float64`` loop of the ufunc, the very function NumPy
    dispatches to on this CPU), called from C for one element at a time through its function pointer.

The choice is made by a probe the first time kernels are built on a machine: it evaluates both
implementations *from C* on a fixed, seeded sample of 323,012 values (the ranges Brian2 models use, both
signs, tiny and huge magnitudes, 0, -0, inf, NaN) and compares them bit for bit with the ufunc called from
Python. The first implementation that matches on every value is used; a function for which neither does
keeps the tensor code (its blocks report why in :meth:`biosnn.twins.Twin.compiled_blocks`). The outcome is
cached in the C kernels' cache folder, keyed by the processor, NumPy's version and SIMD features, the C
library and the compiler (:func:`math_choices`).

Besides the functions, NumPy's ``ndarray ** scalar`` takes fast paths that the C code reproduces: an
exponent of ``2`` is ``x*x``, ``-1`` is ``1/x`` and ``0.5`` is ``sqrt(x)``; every other exponent is
``numpy.power``.

The environment variable ``BIOSNN_TWIN_MATH`` overrides the probe: ``probe`` (default), ``libc`` (the C
library everywhere: right only where NumPy calls it too) or ``numpy`` (NumPy's loops everywhere: right on
every CPU, slower). The probe follows what NumPy dispatches to, so the other kind of CPU can be checked on an
AVX-512 machine by switching NumPy's AVX-512 routines off: with
``NPY_DISABLE_CPU_FEATURES="AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"`` NumPy runs its
AVX2 code and the probe keeps the C library for everything but ``tanh`` (NumPy has an AVX2/FMA3 ``tanh`` of
its own), as on a CPU without AVX-512 (``tests/twins/test_c_math.py`` runs the exactness tests that way).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import platform
from dataclasses import dataclass

import numpy as np

from biosnn.errors import ParameterError

#: Brian2 function name -> (NumPy ufunc Brian2's numpy target calls, C library name); ``power`` is ``**``.
FUNCTIONS: dict[str, tuple[np.ufunc, str]] = {
    "exp": (np.exp, "exp"),
    "log": (np.log, "log"),
    "log10": (np.log10, "log10"),
    "expm1": (np.expm1, "expm1"),
    "log1p": (np.log1p, "log1p"),
    "sqrt": (np.sqrt, "sqrt"),
    "sin": (np.sin, "sin"),
    "cos": (np.cos, "cos"),
    "tan": (np.tan, "tan"),
    "sinh": (np.sinh, "sinh"),
    "cosh": (np.cosh, "cosh"),
    "tanh": (np.tanh, "tanh"),
    "arcsin": (np.arcsin, "asin"),
    "arccos": (np.arccos, "acos"),
    "arctan": (np.arctan, "atan"),
    "power": (np.power, "pow"),
}
#: slot of each function in the kernels' table of NumPy loops (``_bio_np_fn[k]``)
SLOTS = {name: k for k, name in enumerate(FUNCTIONS)}
MODES = ("probe", "libc", "numpy")
PROBE_VERSION = 1

#: C declarations every kernel library carries: the table of NumPy loops, its setter, and the callers.
#: ``npy_intp`` is ``int64_t`` on the 64-bit platforms the C back end runs on.
NUMPY_LOOP_PRELUDE = f"""
typedef void (*_bio_loop_t)(char**, const int64_t*, const int64_t*, void*);
static _bio_loop_t _bio_np_fn[{len(FUNCTIONS)}];
static void* _bio_np_data[{len(FUNCTIONS)}];
void _bio_set_numpy_loop(int64_t k, void* fn, void* data) {{ _bio_np_fn[k] = (_bio_loop_t)fn; _bio_np_data[k] = data; }}
static inline double _bio_np1(int64_t k, double x) {{
    double y; char* a[2] = {{(char*)&x, (char*)&y}}; const int64_t n = 1; const int64_t s[2] = {{8, 8}};
    _bio_np_fn[k](a, &n, s, _bio_np_data[k]); return y;
}}
static inline double _bio_np2(int64_t k, double x, double z) {{
    double y; char* a[3] = {{(char*)&x, (char*)&z, (char*)&y}}; const int64_t n = 1; const int64_t s[3] = {{8, 8, 8}};
    _bio_np_fn[k](a, &n, s, _bio_np_data[k]); return y;
}}
static inline double _bio_sq(double x) {{ return x * x; }}
"""


@dataclass(frozen=True)
class MathChoice:
    """How the C kernels evaluate one function on this machine.

    Attributes
    ----------
    name
        Brian2's name of the function (``"power"`` for ``**``).
    source
        ``"libc"``, ``"numpy"``, or ``None`` when neither matches NumPy (blocks using it keep tensor code).
    note
        Why, in words (shown by ``compiled_blocks``).
    """

    name: str
    source: str | None
    note: str

    def template(self) -> str | None:
        """C expression template (``{0}``, ``{1}``: the rendered arguments), or ``None``."""
        unary = self.name != "power"
        if self.source == "libc":
            lib = FUNCTIONS[self.name][1]
            return f"{lib}((double)({{0}}))" if unary else f"{lib}((double)({{0}}), (double)({{1}}))"
        if self.source == "numpy":
            k = SLOTS[self.name]
            return f"_bio_np1({k}, (double)({{0}}))" if unary else f"_bio_np2({k}, (double)({{0}}), (double)({{1}}))"
        return None


# -- NumPy's inner loops ------------------------------------------------------------------------------


class _UFuncHead(ctypes.Structure):
    """The leading fields of NumPy's ``PyUFuncObject`` (``numpy/ufuncobject.h``, stable since NumPy 1.x)."""

    _fields_ = [
        ("ob_refcnt", ctypes.c_ssize_t),
        ("ob_type", ctypes.c_void_p),
        ("nin", ctypes.c_int),
        ("nout", ctypes.c_int),
        ("nargs", ctypes.c_int),
        ("identity", ctypes.c_int),
        ("functions", ctypes.POINTER(ctypes.c_void_p)),
        ("data", ctypes.POINTER(ctypes.c_void_p)),
        ("ntypes", ctypes.c_int),
        ("reserved1", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("types", ctypes.POINTER(ctypes.c_char)),
    ]


def numpy_loop(ufunc: np.ufunc) -> tuple[int, int] | None:
    """Address of ``ufunc``'s float64 inner loop and of its data, or ``None`` where it cannot be read."""
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    head = _UFuncHead.from_address(id(ufunc))
    if head.name is None or head.name.decode() != ufunc.__name__ or head.nargs != ufunc.nargs:
        return None
    want = (np.dtype(np.float64).num,) * head.nargs
    for i in range(head.ntypes):
        sig = tuple(ord(head.types[i * head.nargs + j]) for j in range(head.nargs))
        if sig == want:
            fn, data = head.functions[i], head.data[i]
            return (fn, data or 0) if fn else None
    return None


def install_numpy_loops(lib: ctypes.CDLL) -> None:
    """Fill a compiled library's table of NumPy loops (every library built with :data:`NUMPY_LOOP_PRELUDE`)."""
    setter = getattr(lib, "_bio_set_numpy_loop", None)
    if setter is None:
        return
    setter.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p]
    setter.restype = None
    for name, (ufunc, _lib) in FUNCTIONS.items():
        loop = numpy_loop(ufunc)
        if loop is not None:
            setter(SLOTS[name], loop[0], loop[1])


# -- the probe ----------------------------------------------------------------------------------------


def probe_sample() -> np.ndarray:
    """The probe's inputs: seeded, 323,012 float64 values over the ranges models use, and special values."""
    rng = np.random.default_rng(20261203)
    mags = 10.0 ** rng.uniform(-300, 300, 20000)
    parts = [
        rng.uniform(-5, 0, 200000),  # decay factors exp(-dt/tau), the case
        rng.uniform(-1, 1, 30000),
        rng.uniform(-20, 20, 30000),
        rng.uniform(-745, 710, 20000),
        rng.uniform(0, 1e4, 10000) * np.sign(rng.uniform(-1, 1, 10000)),
        mags,
        -mags,
        np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, 2.0, 5e-324, -5e-324, 1e-310]),
    ]
    return np.concatenate(parts)


def _probe_source() -> str:
    lines = ["#include <stdint.h>", "#include <math.h>", NUMPY_LOOP_PRELUDE]
    for name, (_uf, lib) in FUNCTIONS.items():
        if name == "power":
            lines.append(
                f"void _probe_libc_{name}(int64_t n, const double* x, const double* z, double* y) "
                f"{{ for (int64_t i = 0; i < n; i++) y[i] = {lib}(x[i], z[i]); }}"
            )
        else:
            lines.append(
                f"void _probe_libc_{name}(int64_t n, const double* x, double* y) "
                f"{{ for (int64_t i = 0; i < n; i++) y[i] = {lib}(x[i]); }}"
            )
    lines.append(
        "void _probe_numpy1(int64_t k, int64_t n, const double* x, double* y) "
        "{ for (int64_t i = 0; i < n; i++) y[i] = _bio_np1(k, x[i]); }"
    )
    lines.append(
        "void _probe_numpy2(int64_t k, int64_t n, const double* x, const double* z, double* y) "
        "{ for (int64_t i = 0; i < n; i++) y[i] = _bio_np2(k, x[i], z[i]); }"
    )
    return "\n".join(lines) + "\n"


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))


def _run_probe(lib: ctypes.CDLL) -> dict[str, tuple[str | None, str]]:
    install_numpy_loops(lib)
    x = probe_sample()
    n = len(x)
    # power: bases >= 0 and of both signs with integral exponents, exponents in [-3, 3] and integers
    rng = np.random.default_rng(7)
    base = np.abs(x)
    expo = np.where(rng.random(n) < 0.5, rng.uniform(-3, 3, n), rng.integers(-4, 5, n).astype(np.float64))
    base = np.where((expo == np.round(expo)) & (rng.random(n) < 0.5), -base, base)
    ptr = ctypes.c_void_p
    out: dict[str, tuple[str | None, str]] = {}
    with np.errstate(all="ignore"):
        for name, (ufunc, _lib) in FUNCTIONS.items():
            args = [x] if name != "power" else [base, expo]
            ref = ufunc(*args)
            args = [np.ascontiguousarray(a) for a in args]
            y = np.empty(n)
            getattr(lib, f"_probe_libc_{name}")(
                ctypes.c_int64(n), *[ptr(a.ctypes.data) for a in args], ptr(y.ctypes.data)
            )
            libc_bad = int((~_same(y, ref)).sum())
            if libc_bad == 0:
                out[name] = ("libc", "the C library's routine gives NumPy's results on this CPU")
                continue
            numpy_bad = None
            if numpy_loop(ufunc) is not None:
                y2 = np.empty(n)
                caller = lib._probe_numpy1 if name != "power" else lib._probe_numpy2
                caller(
                    ctypes.c_int64(SLOTS[name]),
                    ctypes.c_int64(n),
                    *[ptr(a.ctypes.data) for a in args],
                    ptr(y2.ctypes.data),
                )
                numpy_bad = int((~_same(y2, ref)).sum())
            share = f"{100 * libc_bad / n:.3g} % of {n} probe values"
            if numpy_bad == 0:
                out[name] = ("numpy", f"NumPy's own loop: the C library rounds differently on this CPU ({share})")
            else:
                why = "cannot be called from C" if numpy_bad is None else f"differs on {numpy_bad} values"
                out[name] = (None, f"the C library differs from NumPy on this CPU ({share}) and NumPy's loop {why}")
    return out


def _numpy_features() -> dict[str, bool]:
    """NumPy's runtime CPU features (what its dispatch sees; ``NPY_DISABLE_CPU_FEATURES`` switches some off)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # pragma: no cover - other NumPy layouts
        return {}
    return dict(feats)


def cpu_kind() -> str:
    """The kind of CPU NumPy dispatches for, in words: ``"AVX-512 (AVX512F AVX512_SKX ...)"`` when NumPy uses
    its AVX-512 routines (``AVX512F`` on), else ``"no AVX-512 (AVX AVX2 ...)"``.
    """
    feats = _numpy_features()
    if not feats:
        return "unknown CPU features"
    on = sorted(k for k, v in feats.items() if v and k.startswith("AVX"))
    if feats.get("AVX512F"):
        return "AVX-512 (" + " ".join(k for k in on if k.startswith("AVX512")) + ")"
    return "no AVX-512 (" + " ".join(k for k in on if not k.startswith("AVX512")) + ")"


def _probe_key() -> str:
    from biosnn.twins.kernels import FLAGS, NATIVE, _machine_id, c_compiler

    features = " ".join(sorted(k for k, v in _numpy_features().items() if v))
    parts = [
        str(PROBE_VERSION),
        _probe_source(),
        np.__version__,
        features,
        " ".join(platform.libc_ver()),
        str(c_compiler()),
        " ".join(FLAGS + NATIVE),
        _machine_id(),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def math_mode() -> str:
    """``BIOSNN_TWIN_MATH`` (``probe`` by default), checked."""
    mode = os.environ.get("BIOSNN_TWIN_MATH", "probe").strip().lower() or "probe"
    if mode not in MODES:
        raise ParameterError(f"BIOSNN_TWIN_MATH must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


@functools.cache
def _choices(mode: str) -> dict[str, MathChoice]:
    if mode == "libc":
        return {n: MathChoice(n, "libc", "the C library (BIOSNN_TWIN_MATH=libc)") for n in FUNCTIONS}
    if mode == "numpy":
        return {
            n: MathChoice(
                n, "numpy" if numpy_loop(uf) is not None else "libc", "NumPy's own loop (BIOSNN_TWIN_MATH=numpy)"
            )
            for n, (uf, _l) in FUNCTIONS.items()
        }
    from biosnn.twins.kernels import _cache_folder, compile_library

    path = _cache_folder() / f"math_probe_{_probe_key()}.json"
    result = None
    if path.exists():
        try:
            result = {k: (v[0], v[1]) for k, v in json.loads(path.read_text()).items()}
        except (ValueError, TypeError, IndexError, OSError):
            result = None
        if result is not None and set(result) != set(FUNCTIONS):
            result = None
    if result is None:
        result = _run_probe(compile_library(_probe_source()))
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, path)
    return {n: MathChoice(n, src, note) for n, (src, note) in result.items()}


def math_choices() -> dict[str, MathChoice]:
    """How the C kernels evaluate each function of :data:`FUNCTIONS` on this machine (probed once, cached)."""
    return _choices(math_mode())


def describe() -> str:
    """One line for test reports: the CPU kind, the mode, and which functions come from NumPy's loops."""
    ch = math_choices()
    numpy_side = sorted(n for n, c in ch.items() if c.source == "numpy")
    tensor_side = sorted(n for n, c in ch.items() if c.source is None)
    text = f"CPU {cpu_kind()}; BIOSNN_TWIN_MATH={math_mode()}; C kernels call NumPy's loops for: "
    text += ", ".join(numpy_side) or "none (the C library matches NumPy)"
    if tensor_side:
        text += "; kept in tensor code: " + ", ".join(tensor_side)
    return text


__all__ = [
    "FUNCTIONS",
    "MODES",
    "MathChoice",
    "NUMPY_LOOP_PRELUDE",
    "cpu_kind",
    "describe",
    "install_numpy_loops",
    "math_choices",
    "math_mode",
    "numpy_loop",
    "probe_sample",
]
