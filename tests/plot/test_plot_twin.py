"""Every activity plot reads the twin's records exactly as it reads Brian2's monitors: same figure, same data."""

from __future__ import annotations

import brian2
import numpy as np
import pytest
from brian2 import ms, mV

import biosnn
from biosnn import plot
from biosnn.errors import ParameterError, ShapeError


def _build():
    rng = np.random.default_rng(1)
    steps = np.sort(rng.choice(2000, 400, replace=False))
    inp = brian2.SpikeGeneratorGroup(30, rng.integers(0, 30, 400), steps * 0.1 * ms, name="inputs")
    eqs = "dv/dt = (-70*mV - v + I) / (10*ms) : volt\ndI/dt = -I / (5*ms) : volt"
    E = brian2.NeuronGroup(8, eqs, threshold="v > -55*mV", reset="v = -65*mV", method="exact", name="E")
    I = brian2.NeuronGroup(4, eqs, threshold="v > -55*mV", reset="v = -65*mV", method="exact", name="I")
    E.v = -70 * mV
    I.v = -70 * mV
    syns = []
    for name, src, tgt, w, op in (("in_E", inp, E, 6, "+="), ("in_I", inp, I, 6, "+="), ("I_E", I, E, 2, "-=")):
        s = brian2.Synapses(src, tgt, "w : volt", on_pre=f"I_post {op} w", name=name)
        s.connect(p=0.5 if src is inp else 1.0)
        s.w = w * mV
        syns.append(s)
    mons = [
        brian2.SpikeMonitor(E, name="spikes_E"),
        brian2.SpikeMonitor(I, name="spikes_I"),
        brian2.StateMonitor(E, "v", record=True, name="state_E"),
    ]
    return brian2.Network(inp, E, I, *syns, *mons), mons


@pytest.fixture(scope="module")
def both():
    brian2.prefs["codegen.target"] = "numpy"
    net, (m_e, m_i, st) = _build()
    tw = biosnn.twin(net, batch_size=2)
    net.run(200 * ms)
    res = tw.run(200 * ms, record={"E": ["v"]})
    return m_e, m_i, st, res


def test_raster_of_the_twin_equals_the_raster_of_brian2(both):
    m_e, m_i, _, res = both
    a = plot.raster({"E": m_e, "I": m_i}).axes[0]
    b = plot.raster(res).axes[0]  # the twin's result, every group it ran
    assert sorted(c.get_gid() for c in b.collections) == ["E", "I", "inputs"]
    for name in ("E", "I"):
        pa = [c for c in a.collections if c.get_gid() == name][0].get_offsets()
        pb = [c for c in b.collections if c.get_gid() == name][0].get_offsets()
        assert len(pa) == len(pb) > 20
        np.testing.assert_allclose(pb[:, 0], pa[:, 0])  # times, spike for spike
        np.testing.assert_array_equal(pb[:, 1] - pb[:, 1].min(), pa[:, 1] - pa[:, 1].min())
    rates = plot.population_rates(res, bin_width=20 * ms, duration=200 * ms).axes[0]
    e_line = [ln for ln in rates.lines if ln.get_gid() == "E"][0]
    assert np.mean(e_line.get_ydata()) == pytest.approx(m_e.num_spikes / (8 * 0.2))
    with pytest.raises(ShapeError, match="batch 5"):
        plot.raster(res, batch=5)


def test_membrane_traces_of_the_twin_equal_brian2(both):
    _, _, st, res = both
    a = plot.membrane_traces(st, neurons=[0, 3]).axes[0]
    b = plot.membrane_traces(res, group="E", neurons=[0, 3], unit=mV, batch=1).axes[0]
    assert a.get_ylabel() == b.get_ylabel() == "v (mV)"
    for gid in ("neuron 0", "neuron 3"):
        la = [ln for ln in a.lines if ln.get_gid() == gid][0]
        lb = [ln for ln in b.lines if ln.get_gid() == gid][0]
        np.testing.assert_allclose(lb.get_ydata(), la.get_ydata(), atol=1e-9)
        np.testing.assert_allclose(lb.get_xdata(), la.get_xdata())
    with pytest.raises(ParameterError, match="did not record 'w'"):
        plot.membrane_traces(res, group="E", var="w")


def test_weight_plots_read_the_twin_like_brian2_synapses():
    brian2.prefs["codegen.target"] = "numpy"
    net, _ = _build()
    in_e = [o for o in net.objects if o.name == "in_E"][0]
    in_e.w = "(2 + 6 * rand()) * mV"
    tw = biosnn.twin(net)
    a = plot.weight_matrix(in_e).axes[0].images[0].get_array()
    b = plot.weight_matrix(tw, var="in_E.w").axes[0].images[0].get_array()
    np.testing.assert_allclose(np.ma.filled(b, np.nan) * 1e3, np.ma.filled(a, np.nan))  # twin: volts; Brian2: mV
    counts = plot.weight_histogram(tw, var="in_E.w", bins=10).axes[0].patches[0].get_data()[0]
    assert counts.sum() == len(in_e)
    with pytest.raises(ParameterError, match="<synapses>.<variable>"):
        plot.weight_histogram(tw, var="w")
