"""Shared helpers: run a model in Brian2 and in its twin, compare spikes and weights."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch

import biosnn
from biosnn.twins.kernels import c_compiler

#: both back ends of the twin; the compiled one needs a C compiler
BACKENDS = [
    pytest.param("torch", id="torch"),
    pytest.param("c", id="c", marks=pytest.mark.skipif(c_compiler() is None, reason="no C compiler")),
]


def run_both(objects, monitored, duration, *, weights=None, twin_kwargs=None):
    """Run ``objects`` in a fresh Brian2 Network and in its twin (from the same initial state).

    Returns ``(brian_spikes, twin_spikes, brian_w, twin_w)`` where spikes map a group name to
    ``(indices, times in s)``.
    """
    mons = {name: b2.SpikeMonitor(next(o for o in objects if o.name == name), name=f"mon_{name}") for name in monitored}
    net = b2.Network(*objects, *mons.values())
    tw = biosnn.twin(net, **(twin_kwargs or {}))
    with torch.no_grad():
        result = tw.run(duration)
    net.run(duration, namespace={})
    brian = {n: (np.asarray(m.i[:]), np.asarray(m.t_[:])) for n, m in mons.items()}
    twin = {n: (result.spikes[n][0][0], np.asarray(result.spikes[n][0][1])) for n in monitored}
    bw = tw_w = None
    if weights is not None:
        bw = np.asarray(net[weights].w[:])
        tw_w = tw.variable(weights, "w", batch_index=0).detach().cpu().numpy()
    return brian, twin, bw, tw_w, tw, net


def first_difference(a, b):
    """Time (s) of the first spike where two (indices, times) trains differ; ``inf`` if identical."""
    (ia, ta), (ib, tb) = a, b
    n = min(len(ia), len(ib))
    diff = np.nonzero((ia[:n] != ib[:n]) | (ta[:n] != tb[:n]))[0]
    if len(diff):
        return float(min(ta[diff[0]], tb[diff[0]]))
    if len(ia) != len(ib):
        return float(ta[n] if len(ta) > n else tb[n])
    return float("inf")
