"""Competitive layers for local-only learning: k-WTA with adaptive thresholds, Dale's-law input strengths,
weight normalisation (issue 10 point 3): the mechanics, and features that beat a frozen random layer with the
same readout (reduced here; 5 seeds on digits and waveform in bench/local_features.py)."""

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
    assert learned == {**again, "seconds": learned["seconds"]}
    assert learned["test_accuracy"] != random["test_accuracy"]
    assert min(learned["test_accuracy"], random["test_accuracy"]) > 0.5  # chance is 0.1
    with pytest.raises(ParameterError, match="validation"):
        feature_run("digits", 0, learn=True, settings=FeatureSettings(validation=1.0))


@pytest.mark.parametrize("seed", [1, 2])
def test_learned_features_beat_a_frozen_random_layer_on_digits(seed):
    """Issue 10's claim in reduced form (5 passes instead of 10, three readout settings), seeds the settings
    were not chosen on: competitive STDP features of 32 neurons beat the same layer with its random initial
    strengths by more than 2 points of test accuracy (bench, 5 seeds: see bench/results/local_features.json)."""
    from biosnn.learning.local_features import FeatureSettings, feature_run

    grid = tuple({"k": 0, "inhibition": 1.0, "threshold": t} for t in (0.25, 1.0, 4.0))
    s = FeatureSettings(hidden=32, epochs=5, grid=grid)
    learned = feature_run("digits", seed, learn=True, settings=s)
    random = feature_run("digits", seed, learn=False, settings=s)
    assert learned["test_accuracy"] > random["test_accuracy"] + 0.02, (learned, random)


def _local_run(**kw):
    from biosnn.learning.run import RunConfig, train

    base = dict(method="local", model="competitive_mlp", local_rule="stdp_competitive", hidden=(32,), steps=32)
    return train(RunConfig(**{**base, "epochs": 4, "local_epochs": 2, "seed": 0, **kw}), progress=False)


def test_local_only_run_learns_what_its_frozen_random_control_does_not():
    """``biosnn train --method local --model competitive_mlp --local-rule stdp_competitive``: the hidden layer
    learns for two epochs, the STBP readout trains for four; the control is the same run at ``local_lr=0``
    (the thresholds adapt alike, the strengths stay random). Measured: 67.5 % against 62.2 %."""
    learned, random = _local_run(), _local_run(local_lr=0.0)
    assert learned.final["test_accuracy"] > random.final["test_accuracy"] + 0.03
    assert [r["phase"] for r in learned.history] == ["local", "local", "global", "global"]
    hidden = learned.model.layers[0].weight.detach()
    assert bool((hidden >= 0).all())  # Dale's law: excitatory strengths, no sign flipped by the rule
    assert not torch.equal(hidden, random.model.layers[0].weight.detach())


def test_competitive_model_and_rule_go_together():
    from biosnn.learning.run import RunConfig

    with pytest.raises(ParameterError, match="go together"):
        RunConfig(method="local", model="mlp", local_rule="stdp_competitive")
    with pytest.raises(ParameterError, match="go together"):
        RunConfig(method="local", model="competitive_mlp")
    with pytest.raises(ParameterError, match="learns locally only"):
        RunConfig(method="stbp", model="competitive_mlp")
