"""The twin's invariant: in float64 with the same inputs, spikes identical to Brian2's numpy target and
plastic weights equal to 1e-9 relative, over 1 s of biological time (hand-written Brian2 models)."""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import second

from tests.twins import models
from tests.twins.helpers import run_both

ONE_SECOND = 1.0 * second


def assert_identical(brian, twin):
    for name in brian:
        bi, bt = brian[name]
        ti, tt = twin[name]
        assert len(bi) > 0, f"{name}: the test model must spike"
        np.testing.assert_array_equal(ti, bi, err_msg=f"{name}: spike indices differ")
        np.testing.assert_array_equal(tt, bt, err_msg=f"{name}: spike times differ")


@pytest.mark.parametrize("builder", [models.lif_step_current, models.adex, models.izhikevich],
                         ids=["lif", "adex", "izhikevich"])
def test_single_neuron_models_spike_identically(builder):
    objects, monitored = builder()
    brian, twin, *_ = run_both(objects, monitored, ONE_SECOND)
    assert_identical(brian, twin)


def test_cobahh_hodgkin_huxley_network_spikes_identically():
    objects, monitored = models.cobahh(1.0, n=40)
    brian, twin, *_ = run_both(objects, monitored, ONE_SECOND)
    assert_identical(brian, twin)


@pytest.mark.parametrize("builder", [models.song_stdp, models.triplet_stdp, models.vogels_istdp],
                         ids=["song_stdp", "triplet_stdp", "vogels_istdp"])
def test_plasticity_rules_give_identical_spikes_and_weights(builder):
    objects, monitored, syn = builder()
    w0 = np.asarray(next(o for o in objects if o.name == syn).w[:]).copy()
    brian, twin, bw, tw_w, *_ = run_both(objects, monitored, ONE_SECOND, weights=syn)
    assert_identical(brian, twin)
    assert not np.array_equal(bw, w0), "the weights must change in this test"
    np.testing.assert_allclose(tw_w, bw, rtol=1e-9, atol=0)


def test_feedforward_ei_with_heterogeneous_delays_spikes_identically():
    objects, monitored = models.feedforward_ei()
    brian, twin, *_ = run_both(objects, monitored, ONE_SECOND)
    assert_identical(brian, twin)


def test_summed_variables_and_run_regularly_spike_identically():
    objects, monitored = models.summed_model()
    brian, twin, *_ = run_both(objects, monitored, ONE_SECOND)
    assert_identical(brian, twin)
