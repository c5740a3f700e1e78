"""The twin is layered as a compiler (issue 12, point 5): a small facade, no function above complexity 15,
Brian2's private attributes read in one adapter module, declared blocks, targets chosen once per operation.
"""

from __future__ import annotations

import ast
import pathlib
import shutil
import subprocess
import sys

import brian2 as b2
import pytest
import torch

import biosnn
from biosnn.twins import codegen, kernels, targets
from tests.twins import models
from tests.twins.helpers import BACKENDS

TWINS = pathlib.Path(biosnn.__file__).parent / "twins"
ROOT = TWINS.parents[1]

#: Brian2's private attributes and functions the twin needs (see biosnn.twins.brian_adapter)
BRIAN_PRIVATE = {
    "_network",
    "_clocks",
    "_full_state",
    "_restore_from_full_state",
    "_calc_timestep",
    "_delays",
    "_find_K",
    "_brian_objname",
    "_dt",
}


def _sources() -> dict[str, ast.Module]:
    return {p.name: ast.parse(p.read_text()) for p in sorted(TWINS.glob("*.py"))}


def test_twin_module_is_a_small_facade():
    lines = (TWINS / "twin.py").read_text().count("\n")
    assert lines < 400, f"biosnn/twins/twin.py has {lines} lines"


def test_no_function_above_complexity_15():
    assert not [p for p in TWINS.glob("*.py") if "noqa: C901" in p.read_text()]
    ruff = shutil.which("ruff", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    cmd = [ruff, "check", "--select", "C901", "--config", "lint.mccabe.max-complexity=15", "--ignore-noqa", str(TWINS)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_brian_private_attributes_only_in_the_adapter():
    found = []
    for name, tree in _sources().items():
        if name == "brian_adapter.py":
            continue
        for node in ast.walk(tree):
            attr = node.attr if isinstance(node, ast.Attribute) else getattr(node, "name", None)
            if isinstance(node, ast.alias):
                attr = node.name
            if attr in BRIAN_PRIVATE:
                found.append(f"{name}:{node.lineno}: {attr}")
    assert not found, found


def test_blocks_get_only_declared_attributes():
    fields = set(codegen.Block.__dataclass_fields__)
    undeclared = []
    for name, tree in _sources().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets_ = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets_:
                    for sub in ast.walk(t):
                        if (
                            isinstance(sub, ast.Attribute)
                            and isinstance(sub.value, ast.Name)
                            and sub.value.id in ("blk", "block")
                            and sub.attr not in fields
                        ):
                            undeclared.append(f"{name}:{node.lineno}: {sub.value.id}.{sub.attr}")
    assert not undeclared, undeclared


def test_c_signatures_come_from_one_table():
    for kind, (restype, args) in kernels.SIGNATURES.items():
        decl = kernels.c_signature(kind, "k")
        assert decl.startswith(f"{restype} k(") and decl.count(",") == len(args) - 1
        argtypes, ret = kernels.ctypes_signature(kind)
        assert len(argtypes) == len(args)
        assert (ret is None) == (restype == "void")
        source = kernels.c_template(kind).template
        assert "$signature" in source and "$body" in source
    # the names the back ends had in biosnn.twins.kernels still work
    assert kernels.BACKENDS is targets.TARGETS
    assert kernels.choose_backend is targets.choose_target


@pytest.mark.parametrize("backend", BACKENDS)
def test_steps_are_chosen_once_per_operation(backend):
    """The program's steps are the operations' tensor code, or (without gradients, C target) their kernels;
    both give the same spikes as Brian2's numpy target.
    """
    b2.start_scope()
    objs, monitored = models.cuba(n=200)[:2]
    mon = b2.SpikeMonitor(objs[0], name="mon_structure")
    net = b2.Network(*objs, mon)
    tw = biosnn.twin(net, namespace={}, backend=backend)
    program = tw._build.program
    assert [fn for _every, fn in program.tensor_steps] == tw._build.ops
    with torch.no_grad():
        result = tw.run(30 * b2.ms)
    fast = [fn for _every, fn in program.fast_steps()]
    if backend == "c":
        assert program.loaded
        assert all(getattr(fn, "__func__", None) is type(op).kernel_step for fn, op in zip(fast, tw._build.ops))
    else:
        assert fast == tw._build.ops and not program.compiled
    net.run(30 * b2.ms, namespace={})
    i, t = result.spikes[monitored[0]][0]
    assert len(i) > 0
    assert list(i) == list(mon.i[:]) and list(t / b2.second) == list(mon.t_[:])
