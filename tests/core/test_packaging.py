"""The package installs under one import root, and every package folder is declared in pyproject.toml."""

from __future__ import annotations

import pathlib
import tomllib

import pytest

from biosnn.errors import UnitError, UnknownNameError
from biosnn.registry import Registry
from biosnn.units import check_quantity, to_float

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _declared_packages() -> dict[str, pathlib.Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    out = {}
    for pkg in config["packages"]:
        parts = pkg.split(".")
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in mapping:
                out[pkg] = ROOT / mapping[prefix] / pathlib.Path(*parts[i:])
                break
    return out


def test_every_package_folder_is_declared():
    declared = _declared_packages()
    for pkg, path in declared.items():
        assert (path / "__init__.py").is_file(), f"{pkg} declared but {path} has no __init__.py"
    on_disk = set()
    for top, name in (("biosnn", "biosnn"), ("circuits", "biosnn.circuits"), ("plasticity", "biosnn.plasticity")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            on_disk.add(".".join([name, *rel.parts]))
    missing = on_disk - set(declared)
    assert not missing, f"packages missing from pyproject.toml [tool.setuptools] packages: {sorted(missing)}"


def test_one_import_root():
    import biosnn.circuits
    import biosnn.plasticity

    assert pathlib.Path(biosnn.circuits.__file__).parent.name == "circuits"
    assert pathlib.Path(biosnn.plasticity.__file__).parent.name == "plasticity"
    assert biosnn.__version__


def test_registry_names_unknown_entries():
    reg: Registry[int] = Registry("widget")
    reg.register("a", 1)
    assert reg["a"] == 1 and list(reg) == ["a"]
    with pytest.raises(UnknownNameError, match="unknown widget 'b'; known: a"):
        reg["b"]
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", 2)


def test_units_checked_once_at_the_boundary():
    import brian2

    assert to_float("tau", 20 * brian2.ms, brian2.ms) == pytest.approx(20.0)
    assert to_float("tau", 0.02 * brian2.second, brian2.ms) == pytest.approx(20.0)
    with pytest.raises(UnitError, match="'tau'"):
        check_quantity("tau", 20 * brian2.mV, brian2.ms)
    with pytest.raises(UnitError, match="'tau'"):
        check_quantity("tau", 20.0, brian2.ms)


def _modules_after(statement: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after ``statement``."""
    import json
    import subprocess
    import sys

    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


HEAVY = ("brian2", "torch", "matplotlib", "sympy", "pandas", "scipy")


def test_import_biosnn_is_light():
    """``import biosnn`` and the command line's entry module load none of the heavy libraries (issue 13: lazy
    imports; the times are measured by bench/startup.py)."""
    for statement in ("import biosnn", "import biosnn.cli", "import biosnn.learning"):
        loaded = _modules_after(statement)
        heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
        assert not heavy, f"{statement!r} imports {heavy[:8]}"


@pytest.mark.parametrize(
    "statement",
    [
        "import biosnn\nassert 'brian2' not in sys.modules\nimport brian2",
        "import biosnn.brian",
        "import brian2\nimport biosnn",
        "from biosnn.circuits import get_circuit",
    ],
)
def test_brian2_set_up_applies_however_brian2_comes_in(tmp_path, statement):
    """The Cython cache folder and the plain traceback hook are in place whichever module imports Brian2
    first (biosnn itself no longer does), as they were when ``import biosnn`` imported Brian2."""
    import json
    import os
    import subprocess
    import sys

    code = (
        f"import sys, json\n{statement}\nimport brian2\n"
        "print(json.dumps([brian2.prefs['codegen.runtime.cython.cache_dir'], "
        "getattr(sys.excepthook, '_biosnn_plain', False)]))"
    )
    env = {**os.environ, "BIOSNN_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    cache, plain = json.loads(out.stdout.strip().splitlines()[-1])
    assert cache == str(tmp_path.resolve() / "brian2-cython") and plain
    assert (tmp_path / "brian2-cython").is_dir()
