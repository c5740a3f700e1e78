"""Recurrent networks whose dynamics could amplify last-bit rounding (CUBA, COBA, Brunel 2000).

For each network: (1) the twin's spikes equal Brian2's up to the first divergence, and that divergence
comes no earlier than the one Brian2 shows against itself when one of its own initial values is changed
by one unit in the last place (measured in the same test; ``inf`` = no divergence within the run);
(2) population statistics agree within stated tolerances: rate per population within 5 % (relative),
mean CV of inter-spike intervals within 0.05 (absolute), spike-count synchrony (Golomb's chi^2 on 5 ms
bins) within 20 % (relative).

Measured here (numpy target, float64): the twin never diverged (identical spikes over the whole run) in
any of the three networks, and a one-ulp change of one neuron's initial membrane potential does not make
Brian2 diverge either: the rounding of the next update absorbs it.
"""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import second

import biosnn
from tests.twins import models
from tests.twins.helpers import first_difference

RATE_TOL = 0.05
CV_TOL = 0.05
SYNC_TOL = 0.20


def population_stats(indices, times, n, ne, duration, bin_s=5e-3):
    out = {}
    for name, sel in (("E", indices < ne), ("I", indices >= ne)):
        size = ne if name == "E" else n - ne
        out[f"rate_{name}"] = sel.sum() / (size * duration) if size else 0.0
    cvs = []
    for k in range(n):
        t = np.sort(times[indices == k])
        if len(t) >= 3:
            isi = np.diff(t)
            cvs.append(isi.std() / isi.mean())
    out["cv"] = float(np.mean(cvs)) if cvs else 0.0
    bins = np.arange(0, duration + bin_s, bin_s)
    counts = np.stack([np.histogram(times[indices == k], bins)[0] for k in range(n)])
    out["sync"] = float(counts.mean(0).var() / max(counts.var(1).mean(), 1e-12))
    return out


def _run_brian(builder, n, duration, perturb):
    objects, monitored = builder(n)
    P = objects[0]
    if perturb:
        v = np.array(P.v_[:], copy=True)
        v[n // 3] = np.nextafter(v[n // 3], np.inf)
        P.v_ = v
    mon = b2.SpikeMonitor(P, name=f"mon_{P.name}")
    net = b2.Network(*objects, mon)
    return objects, net, mon


def check_network(builder, n, duration):
    objects, net, mon = _run_brian(builder, n, duration, perturb=False)
    tw = biosnn.twin(net)
    with torch.no_grad():
        res = tw.run(duration * second)
    net.run(duration * second, namespace={})
    _, net2, mon2 = _run_brian(builder, n, duration, perturb=True)
    net2.run(duration * second, namespace={})
    name = objects[0].name
    brian = (np.asarray(mon.i[:]), np.asarray(mon.t_[:]))
    brian_ulp = (np.asarray(mon2.i[:]), np.asarray(mon2.t_[:]))
    twin = (res.spikes[name][0][0], np.asarray(res.spikes[name][0][1]))
    assert len(brian[0]) > n * duration  # at least 1 Hz on average: an active network
    t_twin = first_difference(brian, twin)
    t_self = first_difference(brian, brian_ulp)
    assert t_twin >= t_self, f"twin diverges at {t_twin} s, Brian2 against itself at {t_self} s"
    ne = int(0.8 * n)
    sb = population_stats(*brian, n, ne, duration)
    st = population_stats(*twin, n, ne, duration)
    for pop in ("E", "I"):
        assert st[f"rate_{pop}"] == pytest.approx(sb[f"rate_{pop}"], rel=RATE_TOL)
    assert abs(st["cv"] - sb["cv"]) <= CV_TOL
    assert st["sync"] == pytest.approx(sb["sync"], rel=SYNC_TOL)
    return t_twin, t_self


@pytest.mark.parametrize(
    "builder,n", [(models.cuba, 400), (models.coba, 800), (models.brunel, 400)], ids=["cuba400", "coba800", "brunel400"]
)
def test_recurrent_networks_reduced(builder, n):
    check_network(builder, n, 0.2)


@pytest.mark.slow
@pytest.mark.parametrize(
    "builder,n",
    [(models.cuba, 4000), (models.coba, 4000), (models.brunel, 5000)],
    ids=["cuba4000", "coba4000", "brunel5000"],
)
def test_recurrent_networks_full_size_one_second(builder, n):
    check_network(builder, n, 1.0)
