"""Rasters, rates, membrane traces and E/I balance, drawn from a real simulation and checked against it."""

from __future__ import annotations

import brian2
import matplotlib.colors as mcolors
import numpy as np
import pytest
from brian2 import ms, mV, second

from biosnn import plot
from biosnn.errors import ParameterError, ShapeError, UnitError
from biosnn.plot.style import POPULATION_KINDS, population_kind


def _by_gid(artists, gid):
    found = [a for a in artists if a.get_gid() == gid]
    assert len(found) == 1, f"expected one artist with gid {gid!r}, found {len(found)}"
    return found[0]


def test_raster_draws_every_spike_in_its_population_colour(ei_net):
    fig = plot.raster({"E": ei_net.spikes_E, "I": ei_net.spikes_I})
    ax = fig.axes[0]
    e = _by_gid(ax.collections, "E")
    i = _by_gid(ax.collections, "I")
    assert len(e.get_offsets()) == ei_net.spikes_E.num_spikes > 0
    assert len(i.get_offsets()) == ei_net.spikes_I.num_spikes > 0
    # E drawn red, I blue (the registry's colours); I stacked above E
    assert mcolors.to_hex(e.get_facecolor()[0]) == POPULATION_KINDS["excitatory"].color
    assert mcolors.to_hex(i.get_facecolor()[0]) == POPULATION_KINDS["inhibitory"].color
    np.testing.assert_allclose(np.sort(e.get_offsets()[:, 0]), np.sort(ei_net.spikes_E.t / ms))
    assert i.get_offsets()[:, 1].min() >= 40 and e.get_offsets()[:, 1].max() < 40
    assert [t.get_text() for t in ax.get_yticklabels()] == ["E", "I"]
    assert ax.get_xlabel() == "time (ms)"


def test_raster_reads_networks_pairs_and_limits_neurons(ei_net):
    from_net = plot.raster(ei_net.network).axes[0]
    assert sorted(c.get_gid() for c in from_net.collections) == ["E", "I"]
    # the twin's spikes arrive as (indices, times) pairs per group: the same figure
    pairs = {
        "E": (ei_net.spikes_E.i[:], ei_net.spikes_E.t[:], 40),
        "I": (ei_net.spikes_I.i[:], ei_net.spikes_I.t[:], 10),
    }
    ax = plot.raster(pairs, neurons=5, time_unit=second).axes[0]
    e = _by_gid(ax.collections, "E")
    assert len(e.get_offsets()) == int(np.sum(ei_net.spikes_E.i[:] < 5))
    assert ax.get_xlabel() == "time (s)" and ax.get_ylim()[1] == pytest.approx(9.5)
    with pytest.raises(UnitError, match="times"):
        plot.raster({"E": (ei_net.spikes_E.i[:], np.asarray(ei_net.spikes_E.t[:]))})
    with pytest.raises(ShapeError):
        plot.raster({"E": (ei_net.spikes_E.i[:3], ei_net.spikes_E.t[:])})
    with pytest.raises(ParameterError, match="cannot read spikes from a str"):
        plot.raster({"E": "spikes"})
    with pytest.raises(ParameterError, match="unknown populations"):
        plot.raster({"E": ei_net.spikes_E}, colors={"X": "k"})


def test_population_kinds_from_names():
    assert [
        population_kind(n) for n in ("E", "exc", "Pe", "neurons_e", "I", "inh", "Pi", "input", "poisson", "out")
    ] == ["excitatory"] * 4 + ["inhibitory"] * 3 + ["input"] * 2 + [None]


def test_population_rates_match_spike_counts(ei_net):
    dur = ei_net.duration
    fig = plot.population_rates({"E": ei_net.spikes_E, "I": ei_net.spikes_I}, bin_width=10 * ms, duration=dur)
    ax = fig.axes[0]
    for name, mon, n in (("E", ei_net.spikes_E, 40), ("I", ei_net.spikes_I, 10)):
        line = _by_gid(ax.lines, name)
        x, y = line.get_data()
        assert len(x) == 30  # 300 ms in 10 ms bins
        # the mean of the binned rate is the mean rate
        assert np.mean(y) == pytest.approx(mon.num_spikes / (n * float(dur / second)))
    assert ax.get_ylabel() == "rate (Hz)"
    # a PopulationRateMonitor gives the same mean rate
    from_rate = plot.population_rates({"E": ei_net.rate_E}, bin_width=10 * ms).axes[0]
    y = _by_gid(from_rate.lines, "E").get_ydata()
    assert np.mean(y) == pytest.approx(ei_net.spikes_E.num_spikes / (40 * 0.3), rel=1e-6)
    with pytest.raises(ParameterError, match="bin_width"):
        plot.population_rates({"E": ei_net.spikes_E}, bin_width=0 * ms)
    with pytest.raises(UnitError, match="bin_width"):
        plot.population_rates({"E": ei_net.spikes_E}, bin_width=5 * mV)


def test_membrane_traces_show_the_recorded_voltage(ei_net):
    fig = plot.membrane_traces(ei_net.state_E, neurons=[0, 4], threshold=-50 * mV)
    ax = fig.axes[0]
    lines = [ln for ln in ax.lines if str(ln.get_gid()).startswith("neuron")]
    assert [ln.get_gid() for ln in lines] == ["neuron 0", "neuron 4"]
    np.testing.assert_allclose(lines[1].get_ydata(), ei_net.state_E.v[4] / mV)
    np.testing.assert_allclose(lines[1].get_xdata(), ei_net.state_E.t / ms)
    assert _by_gid(ax.lines, "threshold").get_ydata()[0] == pytest.approx(-50.0)
    assert ax.get_ylabel() == "v (mV)"
    default = plot.membrane_traces(ei_net.state_E).axes[0]
    assert sum(str(ln.get_gid()).startswith("neuron") for ln in default.lines) == 3
    with pytest.raises(ParameterError, match="did not record 'w'"):
        plot.membrane_traces(ei_net.state_E, var="w")
    with pytest.raises(ShapeError, match="out of range"):
        plot.membrane_traces(ei_net.state_E, neurons=[12])


def test_ei_balance_shows_mean_inputs_and_per_neuron_balance(ei_net):
    fig = plot.ei_balance(ei_net.state_E, excitatory="I_exc", inhibitory="I_inh")
    ax_t, ax_n = fig.axes
    unit = ax_t.get_ylabel().removeprefix("input (").removesuffix(")")
    assert unit in ("pA", "nA")  # Brian2's best unit for these currents
    exc = ei_net.state_E.I_exc / getattr(brian2, unit)
    inh = ei_net.state_E.I_inh / getattr(brian2, unit)
    np.testing.assert_allclose(_by_gid(ax_t.lines, "excitatory").get_ydata(), exc.mean(0))
    np.testing.assert_allclose(_by_gid(ax_t.lines, "inhibitory").get_ydata(), inh.mean(0))
    np.testing.assert_allclose(_by_gid(ax_t.lines, "net").get_ydata(), exc.mean(0) + inh.mean(0))
    assert (exc.mean() > 0) and (inh.mean() < 0)  # inhibition is a negative current here
    pts = _by_gid(ax_n.collections, "neurons").get_offsets()
    assert len(pts) == 12
    np.testing.assert_allclose(pts[:, 0], exc.mean(1))
    np.testing.assert_allclose(pts[:, 1], np.abs(inh.mean(1)))
    with pytest.raises(ParameterError, match="did not record 'gi'"):
        plot.ei_balance(ei_net.state_E, excitatory="I_exc", inhibitory="gi")


def test_save_figure_writes_a_png(tmp_path, ei_net):
    path = plot.save_figure(plot.raster({"E": ei_net.spikes_E}), tmp_path / "run" / "raster")
    assert path.suffix == ".png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ei_balance_from_computed_currents(ei_net):
    mon = ei_net.state_E
    # currents computed from recorded variables, read like a monitor
    record = plot.StateRecord(t=mon.t[:], variables={"exc": mon.I_exc[:] * 2, "inh": mon.I_inh[:]})
    fig = plot.ei_balance(record, excitatory="exc", inhibitory="inh")
    unit = getattr(brian2, fig.axes[0].get_ylabel().removeprefix("input (").removesuffix(")"))
    line = [ln for ln in fig.axes[0].lines if ln.get_gid() == "excitatory"][0]
    np.testing.assert_allclose(line.get_ydata(), (2 * mon.I_exc[:] / unit).mean(0))
    with pytest.raises(ShapeError, match="expected"):
        plot.ei_balance(
            plot.StateRecord(t=mon.t[:5], variables={"exc": mon.I_exc[:], "inh": mon.I_inh[:]}),
            excitatory="exc",
            inhibitory="inh",
        )
