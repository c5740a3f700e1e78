"""The twin's invariant: in float64 with the same inputs, spikes identical to Brian2's numpy target and
plastic weights equal to 1e-9 relative (hand-written Brian2 models, deterministic inputs), with both of
the twin's back ends (tensor operations; Brian2's statements compiled into C loops).

Every model runs 1 s of biological time in the ``slow`` suite and a shorter reduced version by default.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brian2 import second

from tests.twins import models
from tests.twins.helpers import BACKENDS, run_both

DURATIONS = [pytest.param(0.25, id="0.25s"), pytest.param(1.0, marks=pytest.mark.slow, id="1s")]


def assert_identical(brian, twin):
    for name in brian:
        bi, bt = brian[name]
        ti, tt = twin[name]
        assert len(bi) > 0, f"{name}: the test model must spike"
        np.testing.assert_array_equal(ti, bi, err_msg=f"{name}: spike indices differ")
        np.testing.assert_array_equal(tt, bt, err_msg=f"{name}: spike times differ")


@pytest.mark.parametrize("duration", DURATIONS)
@pytest.mark.parametrize(
    "builder", [models.lif_step_current, models.adex, models.izhikevich], ids=["lif", "adex", "izhikevich"]
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_single_neuron_models_spike_identically(builder, duration, backend):
    objects, monitored = builder(duration)
    brian, twin, *_ = run_both(objects, monitored, duration * second, twin_kwargs={"backend": backend})
    assert_identical(brian, twin)


@pytest.mark.parametrize(
    "duration,n", [pytest.param(0.15, 16, id="0.15s-16"), pytest.param(1.0, 40, marks=pytest.mark.slow, id="1s-40")]
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_cobahh_hodgkin_huxley_network_spikes_identically(duration, n, backend):
    objects, monitored = models.cobahh(duration, n=n)
    brian, twin, *_ = run_both(objects, monitored, duration * second, twin_kwargs={"backend": backend})
    assert_identical(brian, twin)


@pytest.mark.parametrize("duration", DURATIONS)
@pytest.mark.parametrize(
    "builder",
    [models.song_stdp, models.triplet_stdp, models.vogels_istdp],
    ids=["song_stdp", "triplet_stdp", "vogels_istdp"],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_plasticity_rules_give_identical_spikes_and_weights(builder, duration, backend):
    objects, monitored, syn = builder(duration)
    w0 = np.asarray(next(o for o in objects if o.name == syn).w[:]).copy()
    brian, twin, bw, tw_w, *_ = run_both(
        objects, monitored, duration * second, weights=syn, twin_kwargs={"backend": backend}
    )
    assert_identical(brian, twin)
    assert not np.array_equal(bw, w0), "the weights must change in this test"
    np.testing.assert_allclose(tw_w, bw, rtol=1e-9, atol=0)


@pytest.mark.parametrize("duration", DURATIONS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_feedforward_ei_with_heterogeneous_delays_spikes_identically(duration, backend):
    objects, monitored = models.feedforward_ei(duration)
    brian, twin, *_ = run_both(objects, monitored, duration * second, twin_kwargs={"backend": backend})
    assert_identical(brian, twin)


@pytest.mark.parametrize("duration", DURATIONS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_summed_variables_and_run_regularly_spike_identically(duration, backend):
    objects, monitored = models.summed_model(duration)
    brian, twin, *_ = run_both(objects, monitored, duration * second, twin_kwargs={"backend": backend})
    assert_identical(brian, twin)


@pytest.mark.parametrize("duration", DURATIONS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_expressions_of_integer_indices_and_numbers_spike_identically(duration, backend):
    objects, monitored = models.index_dependent(duration)
    brian, twin, *_ = run_both(objects, monitored, duration * second, twin_kwargs={"backend": backend})
    assert_identical(brian, twin)


def test_gradient_mode_forward_is_still_identical():
    """With autograd on (surrogate spikes, functional updates, dense gradient terms) the forward pass is
    unchanged: same spikes, same plastic weights."""
    objects, monitored, syn = models.song_stdp(0.25)
    w0 = np.asarray(next(o for o in objects if o.name == syn).w[:]).copy()
    import brian2 as b2

    import biosnn

    mon = b2.SpikeMonitor(objects[1], name="grad_mon")
    net = b2.Network(*objects, mon)
    tw = biosnn.twin(net)
    result = tw.run(0.25 * second)
    assert result.spike_trains["song_post"].requires_grad
    net.run(0.25 * second, namespace={})
    np.testing.assert_array_equal(result.spikes["song_post"][0][0], mon.i[:])
    np.testing.assert_array_equal(np.asarray(result.spikes["song_post"][0][1]), np.asarray(mon.t_[:]))
    assert torch.equal(
        result.spike_trains["song_post"].sum(0)[0].detach().long(), torch.as_tensor(np.bincount(mon.i[:], minlength=2))
    )
    w_tw = tw.variable(syn, "w", batch_index=0).detach().numpy()
    assert not np.array_equal(w_tw, w0)
    np.testing.assert_allclose(w_tw, net[syn].w[:], rtol=1e-9, atol=0)
