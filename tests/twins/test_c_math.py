"""The C kernels' transcendental functions are NumPy's, bit for bit, on this CPU (with or without AVX-512).

The per-machine probe (:mod:`biosnn.twins.cmath`) picks the C library or NumPy's own inner loop for every
function; these tests check the choice on values the probe never saw, in compiled kernels of Brian2 models
against Brian2's numpy target, with the probe forced both ways (``BIOSNN_TWIN_MATH``), and say in their
messages which kind of CPU they ran on.
"""

from __future__ import annotations

import ctypes

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import ms

import biosnn
from biosnn.errors import ParameterError
from biosnn.twins import cmath, kernels

pytestmark = pytest.mark.skipif(kernels.c_compiler() is None, reason="no C compiler on this machine")
CPU = cmath.cpu_kind()


def _fresh_sample(n: int = 60000) -> np.ndarray:
    rng = np.random.default_rng(99)  # not the probe's seed
    return np.concatenate(
        [
            rng.uniform(-5, 0, n),
            rng.uniform(-30, 30, n // 4),
            rng.uniform(-1, 1, n // 4),
            10.0 ** rng.uniform(-200, 200, n // 4),
        ]
    )


def _library_of(templates: dict[str, str]) -> ctypes.CDLL:
    """One C function per template, ``f_<name>(n, x, z, y)``, built as the twin builds its kernels."""
    lines = [kernels.PRELUDE]
    for name, tpl in templates.items():
        lines.append(
            f"void f_{name}(int64_t n, const double* x, const double* z, double* y) "
            f"{{ for (int64_t i = 0; i < n; i++) y[i] = {tpl.format('x[i]', 'z[i]')}; }}"
        )
    return kernels.compile_library("\n".join(lines))


@pytest.mark.parametrize("mode", ["probe", "numpy"])
def test_every_function_the_kernels_use_is_numpys_bit_for_bit(mode, monkeypatch):
    monkeypatch.setenv("BIOSNN_TWIN_MATH", mode)
    table, refused = kernels.c_functions()
    names = [n for n in cmath.FUNCTIONS if n in table]
    assert set(names) | set(refused) == set(cmath.FUNCTIONS)
    lib = _library_of({n: table[n] for n in names})
    x = _fresh_sample()
    z = np.random.default_rng(5).uniform(-3, 3, len(x))
    base = np.abs(x)
    with np.errstate(all="ignore"):
        for name in names:
            ufunc = cmath.FUNCTIONS[name][0]
            a, b = (base, z) if name == "power" else (x, z)
            ref = ufunc(a, b) if name == "power" else ufunc(a)
            y = np.empty(len(x))
            fn = getattr(lib, f"f_{name}")
            fn(
                ctypes.c_int64(len(x)),
                ctypes.c_void_p(a.ctypes.data),
                ctypes.c_void_p(b.ctypes.data),
                ctypes.c_void_p(y.ctypes.data),
            )
            bad = ~cmath._same(y, ref)
            assert not bad.any(), (
                f"{name} ({cmath.math_choices()[name].source}) differs from NumPy on "
                f"{bad.sum()} of {len(x)} values on a CPU with {CPU}"
            )


def test_forced_c_library_is_what_the_probe_rejects(monkeypatch):
    """Where the probe sends a function to NumPy's loop, the C library really differs from NumPy here."""
    monkeypatch.setenv("BIOSNN_TWIN_MATH", "probe")
    probed = cmath.math_choices()
    monkeypatch.setenv("BIOSNN_TWIN_MATH", "libc")
    lib = _library_of({n: kernels.c_functions()[0][n] for n in cmath.FUNCTIONS})
    x = cmath.probe_sample()
    rng = np.random.default_rng(7)
    expo = np.where(
        rng.random(len(x)) < 0.5, rng.uniform(-3, 3, len(x)), rng.integers(-4, 5, len(x)).astype(np.float64)
    )
    with np.errstate(all="ignore"):
        for name, choice in probed.items():
            a, b = (np.abs(x), expo) if name == "power" else (x, expo)
            ref = np.power(a, b) if name == "power" else cmath.FUNCTIONS[name][0](a)
            y = np.empty(len(x))
            getattr(lib, f"f_{name}")(
                ctypes.c_int64(len(x)),
                ctypes.c_void_p(a.ctypes.data),
                ctypes.c_void_p(b.ctypes.data),
                ctypes.c_void_p(y.ctypes.data),
            )
            libc_equal = bool(cmath._same(y, ref).all())
            assert libc_equal == (choice.source == "libc"), (name, choice, CPU)


def test_math_mode_is_checked_and_forcing_numpy_is_reported(monkeypatch):
    monkeypatch.setenv("BIOSNN_TWIN_MATH", "fortran")
    with pytest.raises(ParameterError, match="BIOSNN_TWIN_MATH.*probe, libc, numpy.*'fortran'"):
        cmath.math_choices()
    monkeypatch.setenv("BIOSNN_TWIN_MATH", "numpy")
    G = b2.NeuronGroup(
        4, "dv/dt = (exp(-v) - v)/(10*ms) : 1", threshold="v > 2", reset="v = 0", method="euler", name="np_mode_pop"
    )
    tw = biosnn.twin(b2.Network(G), backend="c")
    status = tw.compiled_blocks()["np_mode_pop_stateupdater"]
    assert status.startswith("c (exp through NumPy's own loops"), status
    assert cmath.describe().startswith(f"CPU {CPU}; BIOSNN_TWIN_MATH=numpy")


def test_probe_result_is_cached_beside_the_kernels(monkeypatch):
    monkeypatch.setenv("BIOSNN_TWIN_MATH", "probe")
    cmath.math_choices()
    cached = list(kernels._cache_folder().glob(f"math_probe_{cmath._probe_key()}.json"))
    assert len(cached) == 1
    cmath._choices.cache_clear()
    assert cmath.math_choices() == cmath._choices("probe")  # read back from the file: the same choices


@pytest.mark.parametrize("mode", ["probe", "numpy"])
def test_powers_and_functions_in_compiled_kernels_equal_brian2_numpy_target(mode, monkeypatch):
    """``x**2``, ``x**0.5``, ``x**-1`` (NumPy's fast paths), ``x**n`` with a named constant, ``x**2.7`` and the
    functions in a state updater and a reset: states bit-equal to Brian2's numpy target after 20 steps."""
    monkeypatch.setenv("BIOSNN_TWIN_MATH", mode)
    eqs = """dv/dt = (u**2 - v**0.5 + w**(-1) - v**n + tanh(u) - arctan(w) + log1p(v)) / (50*ms) : 1
             du/dt = (exp(-v) - u**2.7 + expm1(-u) + sinh(w)*0.1 - cosh(u)*0.01) / (20*ms) : 1
             dw/dt = (sqrt(v) + log(1 + u) + log10(2 + w) - tan(0.1*w) - arcsin(0.5*tanh(w))) / (30*ms) : 1"""

    def build():
        G = b2.NeuronGroup(
            2000,
            eqs,
            threshold="v > 3",
            reset="v = v**0.5\nu = u**2",
            method="euler",
            namespace={"n": 0.5},
            name="pow_pop",
        )
        rng = np.random.default_rng(17)
        G.v = rng.uniform(0.1, 2.5, 2000)
        G.u = rng.uniform(0.1, 2.0, 2000)
        G.w = rng.uniform(0.5, 2.0, 2000)
        return G

    G = build()
    net = b2.Network(G)
    net.run(2 * ms)
    ref = {k: np.asarray(getattr(G, k + "_")).copy() for k in ("v", "u", "w")}
    G2 = build()
    tw = biosnn.twin(b2.Network(G2), backend="c")
    assert all(s.split(" ")[0] == "c" for s in tw.compiled_blocks().values()), tw.compiled_blocks()
    with torch.no_grad():
        tw.run(2 * ms)
    tw.push()
    for k, r in ref.items():
        got = np.asarray(getattr(G2, k + "_"))
        diff = np.flatnonzero(got != r)
        assert diff.size == 0, f"{k}: {diff.size} of 2000 differ from Brian2 (mode {mode}, CPU {CPU})"


#: NumPy's AVX-512 dispatch targets; switching them off makes NumPy run its AVX2 code, as on a CPU without AVX-512
NO_AVX512 = "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"


@pytest.mark.skipif(not CPU.startswith("AVX-512"), reason="NumPy does not use AVX-512 here: this run is the other kind")
def test_exactness_tests_pass_as_on_a_cpu_without_avx512(tmp_path):
    """The other kind of CPU, forced: NumPy's AVX-512 routines off (``NPY_DISABLE_CPU_FEATURES``), the probe
    decides again, and the bit-exactness tests (this file and the plastic weights against Brian2) pass."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=NO_AVX512, BIOSNN_TWIN_MATH="probe")
    probe = subprocess.run(
        [sys.executable, "-c", "from biosnn.twins import cmath; print(cmath.describe())"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.startswith("CPU no AVX-512"), probe.stdout
    tests = [
        "tests/twins/test_c_math.py",
        "tests/twins/test_c_backend.py::test_plasticity_pathways_compiled_and_weights_equal_to_brian2",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "0", *tests],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert " passed" in run.stdout.splitlines()[-1], run.stdout[-500:]
