"""Competitive layers for local-only learning: k-WTA with adaptive thresholds, Dale's-law input strengths,
weight normalisation (issue 10 point 3, the mechanics; the features do not beat random ones: bench/local_features.py)."""  # noqa: E501

from __future__ import annotations

import pytest
import torch
from biosnn.plasticity import RULES

from biosnn.errors import ParameterError, ShapeError
from biosnn.learning.local import LocalLearner
from biosnn.models.networks import CompetitiveLIF, competitive_mlp


def test_k_winners_fire_per_step_and_thresholds_adapt():
    torch.manual_seed(0)
    layer = CompetitiveLIF(10, k=3, beta=0.9, threshold=0.5, theta_plus=0.2)
    current = torch.rand(20, 4, 10) + 0.5
    s = layer(current)
    assert s.shape == (20, 4, 10) and set(s.unique().tolist()) <= {0.0, 1.0}
    assert int(s.sum(-1).max()) == 3  # never more than k winners, and k do win under strong drive
    assert torch.all(layer.theta > 0)
    frozen = layer.theta.clone()
    layer.eval()
    layer(current)
    assert torch.equal(layer.theta, frozen)  # eval() freezes the thresholds
    with pytest.raises(ParameterError, match="'k'"):
        CompetitiveLIF(4, k=5)
    with pytest.raises(ShapeError, match="CompetitiveLIF"):
        layer(torch.zeros(3, 10))


def test_stdp_on_a_competitive_dale_layer_keeps_signs_and_row_sums():
    torch.manual_seed(1)
    model = competitive_mlp((16, 12, 3), k=2, threshold=0.5)
    hidden = model.layers[0]
    assert hidden.dale and bool((hidden.effective_weight() >= 0).all())
    rows = hidden.weight.detach().abs().sum(1).clone()
    learner = LocalLearner(
        model,
        RULES["stdp_additive"](A_plus=0.05, A_minus=0.02, w_max=100.0),
        layers=["layers.0"],
        lr=1.0,
        normalize="l1",
    )
    x = (torch.rand(10, 8, 16, generator=torch.Generator().manual_seed(2)) < 0.4).float()
    ((pre, post),) = learner.record(x).values()
    assert post.sum() > 0 and int(post.sum(-1).max()) <= 2
    before = hidden.weight.detach().clone()
    learner.step(x)
    after = hidden.weight.detach()
    assert not torch.equal(after, before)
    assert torch.allclose(after.abs().sum(1), rows, rtol=1e-5)
    assert bool((hidden.effective_weight() >= 0).all())  # excitatory stays excitatory


def test_reset_all_is_one_winner_per_step_and_resets_the_runners_up():
    layer = CompetitiveLIF(3, k=1, beta=1.0, threshold=1.5, theta_plus=0.0, reset_all=True)
    layer.eval()
    current = torch.tensor([[1.0, 0.9, 0.0]]).expand(4, 1, 3).contiguous()  # [T=4, B=1, 3]
    s = layer(current)
    # v = (1, .9, 0) -> (2, 1.8, 0): neuron 0 fires and every v resets; the runner-up never gets its turn
    assert s[:, 0].tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 0], [1, 0, 0]]
    plain = CompetitiveLIF(3, k=1, beta=1.0, threshold=1.5, theta_plus=0.0)
    plain.eval()
    assert plain(current)[:, 0, 1].sum() > 0  # without it, the runner-up fires once the winner has reset


def test_feature_experiment_is_seeded_and_both_arms_read_out():
    """A reduced run of the local-features experiment (32 neurons, one pass, one readout setting)."""
    from biosnn.learning.local_features import FeatureSettings, feature_run

    s = FeatureSettings(hidden=32, epochs=1, steps=6, grid=({"k": 0, "inhibition": 1.0, "threshold": 0.5},))
    learned = feature_run("digits", 0, learn=True, settings=s)
    again = feature_run("digits", 0, learn=True, settings=s)
    random = feature_run("digits", 0, learn=False, settings=s)
    assert learned["test_accuracy"] == again["test_accuracy"]
    assert learned["test_accuracy"] > 0.4 and random["test_accuracy"] > 0.7  # chance is 0.1 (measured 0.56, 0.84)
    assert learned["test_accuracy"] != random["test_accuracy"]
    with pytest.raises(ParameterError, match="validation"):
        feature_run("digits", 0, learn=True, settings=FeatureSettings(validation=1.0))
