"""Unsupported constructs raise UnsupportedFeatureError naming the object and the construct, before any
simulation starts, and leave the user's Brian2 objects as they were."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import ms

import biosnn
from biosnn.errors import ParameterError, UnsupportedFeatureError


def _cells(name="cells"):
    G = b2.NeuronGroup(3, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact", name=name)
    G.v = [0.2, 0.4, 0.6]
    return G


def test_network_operation_is_rejected_by_name():
    G = _cells()

    @b2.network_operation(dt=1 * ms, name="my_python_op")
    def poke():
        G.v += 0.1

    with pytest.raises(UnsupportedFeatureError, match="my_python_op.*network_operation"):
        biosnn.twin(b2.Network(G, poke))
    np.testing.assert_array_equal(G.v[:], [0.2, 0.4, 0.6])


def test_function_without_tensor_implementation_is_rejected_by_name():
    @b2.implementation("numpy", discard_units=True)
    @b2.check_units(x=1, result=1)
    def squash(x):
        return x / (1 + abs(x))

    G = b2.NeuronGroup(
        2, "dv/dt = (squash(v) - v)/(10*ms) : 1", method="euler", name="squashed", namespace={"squash": squash}
    )
    with pytest.raises(UnsupportedFeatureError, match="squashed.*'squash'"):
        biosnn.twin(b2.Network(G))


def test_groups_on_different_clocks_are_rejected():
    G = _cells()
    H = b2.NeuronGroup(2, "dv/dt = -v/(10*ms) : 1", method="exact", dt=0.05 * ms, name="fast_cells")
    with pytest.raises(UnsupportedFeatureError, match="different clocks"):
        biosnn.twin(b2.Network(G, H))


def test_sequential_synaptic_statement_is_rejected_by_name():
    G = b2.NeuronGroup(
        3,
        """dv/dt = -v/(10*ms) : 1
    x : 1""",
        threshold="v > 1",
        reset="v = 0",
        method="exact",
        name="cells",
    )
    S = b2.Synapses(G, G, "w : 1", on_pre="x_post = v_post*w\nv_post += 1", name="overwrite_syn")
    S.connect()
    with pytest.raises(UnsupportedFeatureError, match="overwrite_syn.*v_post"):
        biosnn.twin(b2.Network(G, S))


def test_bad_arguments():
    G = _cells()
    with pytest.raises(ParameterError, match="batch_size"):
        biosnn.twin(b2.Network(G), batch_size=0)
    with pytest.raises(ParameterError, match="dtype"):
        biosnn.twin(b2.Network(G), dtype=torch.int32)
    with pytest.raises(ParameterError, match="learnable"):
        biosnn.twin(b2.Network(G), learnable=("cells.nope",))
    with pytest.raises(ParameterError, match="learnable"):
        biosnn.twin(b2.Network(G), learnable=("nogroup.v",))
    with pytest.raises(ParameterError, match="Network or Brian2 objects"):
        biosnn.twin(42)
    with pytest.raises(biosnn.errors.UnknownNameError if hasattr(biosnn, "errors") else Exception, match="surrogate"):
        biosnn.twin(b2.Network(G), surrogate="no_such_shape")


def test_monitors_are_ignored_and_objects_list_accepted():
    G = _cells()
    mon = b2.StateMonitor(G, "v", record=True, name="vmon")
    tw = biosnn.twin([G, mon])
    with torch.no_grad():
        res = tw.run(5 * ms, record={"cells": ["v"]})
    v = res.states["cells"]["v"][:, 0]
    # analytic: v(t) = v0 exp(-t/tau), sampled at the start of each step
    t = np.arange(50) * 1e-4
    np.testing.assert_allclose(v.numpy(), np.outer(np.exp(-t / 0.01), [0.2, 0.4, 0.6]), rtol=1e-12)
    # the objects can still be used in a network of their own
    net = b2.Network(G, mon)
    net.run(1 * ms, namespace={})
    assert mon.v.shape == (3, 10)


def test_infinite_constants_are_accepted():
    """inf is legitimate where the twin never writes (a threshold of inf silences a neuron); NaN is refused
    everywhere, but this runs and crosses the bridge as in Brian2 (and Brian2's initial ``lastspike`` of
    -1e4 s is an ordinary number)."""
    G = b2.NeuronGroup(
        3,
        """dv/dt = (1.5 - v)/(10*ms) : 1
                             v_th : 1 (constant)""",
        threshold="v > v_th",
        reset="v = 0",
        refractory=1 * ms,
        method="exact",
        name="cells",
    )
    G.v_th = [1.0, np.inf, 1.0]
    mon = b2.SpikeMonitor(G, name="cells_spikes")
    net = b2.Network(G, mon)
    tw = biosnn.twin(net)
    with torch.no_grad():
        res = tw.run(30 * ms)
    net.run(30 * ms, namespace={})
    np.testing.assert_array_equal(res.spikes["cells"][0][0], mon.i[:])
    assert 1 not in set(mon.i[:]) and len(mon.i[:]) > 0
    tw.push()
    assert np.isinf(G.v_th[1])


def test_uncaught_biosnn_error_shows_no_brian2_banner_and_leaves_no_debug_files(tmp_path):
    """Brian2's sys.excepthook reports every uncaught exception as a possible Brian2 bug and keeps its
    debug log and a copy of the script in the temporary folder; biosnn's own errors bypass it."""
    import os
    import subprocess
    import sys

    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    from pathlib import Path

    # the subprocess imports the same biosnn as this test
    root = str(Path(biosnn.__file__).resolve().parents[1])
    env = dict(
        os.environ,
        TMPDIR=str(private_tmp),
        PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
    )

    def run(code: str) -> subprocess.CompletedProcess:
        script = tmp_path / "script.py"
        script.write_text(code)
        return subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
        )

    proc = run("import biosnn\nbiosnn.seed(-1)\n")
    assert proc.returncode == 1
    assert "biosnn.errors.ParameterError: seed must be an integer" in proc.stderr
    assert "Brian 2 encountered an unexpected error" not in proc.stderr
    assert list(private_tmp.glob("brian_*")) == []
    # every other exception still goes to Brian2's hook (its banner and debug log) once Brian2 is imported
    # (``import biosnn`` alone no longer imports Brian2, so a script that never uses it keeps Python's hook)
    proc = run("import biosnn\nraise RuntimeError('not ours')\n")
    assert "Brian 2 encountered an unexpected error" not in proc.stderr and "RuntimeError: not ours" in proc.stderr
    proc = run("import biosnn\nimport brian2\nraise RuntimeError('not ours')\n")
    assert "Brian 2 encountered an unexpected error" in proc.stderr
    assert list(private_tmp.glob("brian_debug_*.log"))
