"""Random-pruning robustness: exact pruned fractions, exact zeros, regrow semantics, accuracy curve."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

from biosnn.data.encoders import ENCODERS
from biosnn.errors import ParameterError, UnknownNameError
from biosnn.learning.pruning import prune_, random_prune_masks, robustness_curve, spike_count_accuracy
from biosnn.models.networks import SpikingMLP

STEPS = 8


def _direct(x, *, steps, generator=None):
    return ENCODERS["direct"](x, steps=steps, generator=generator)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(y), generator=g)
    train, test = order[:1400], order[1400:]
    return TensorDataset(x[train], y[train]), TensorDataset(x[test], y[test])


@pytest.fixture(scope="module")
def trained(digits):
    """A spiking MLP trained on digits by BPTT (spike-count cross-entropy), a few epochs."""
    torch.manual_seed(0)
    model = SpikingMLP((64, 48, 10), neuron="lif", beta=0.9)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(digits[0], batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        for x, y in loader:
            opt.zero_grad()
            out = model(_direct(x, steps=STEPS))
            F.cross_entropy(out.sum(0), y).backward()
            opt.step()
    return model


def _total(model):
    return {n: m for n, m in model.named_modules() if hasattr(m, "mask") and isinstance(m.mask, torch.Tensor)}


def test_exact_pruned_fractions_per_scope():
    torch.manual_seed(1)
    model = SpikingMLP((40, 30, 20))  # 1200 + 600 synapses
    layers = _total(model)
    removed = prune_(model, 0.25, scope="layer", generator=torch.Generator().manual_seed(0))
    assert {n: int(r.sum()) for n, r in removed.items()} == {"layers.0": 300, "layers.1": 150}
    for _n, m in layers.items():
        assert int((~m.mask).sum()) == m.mask.numel() // 4
        assert torch.all(m.weight[~m.mask] == 0)
    # the fraction is of the synapses still present: another 50 % per layer leaves 3/8 of each
    prune_(model, 0.5, scope="layer", generator=torch.Generator().manual_seed(1))
    for m in layers.values():
        assert int(m.mask.sum()) == 3 * m.mask.numel() // 8
    torch.manual_seed(1)
    model = SpikingMLP((40, 30, 20))
    removed = prune_(model, 0.3, scope="global", generator=torch.Generator().manual_seed(0))
    assert sum(int(r.sum()) for r in removed.values()) == 540  # 30 % of 1800 pooled
    per_layer = [int(r.sum()) / r.numel() for r in removed.values()]
    assert per_layer[0] != per_layer[1]  # global scope: layers lose random shares
    assert all(0.2 < f < 0.4 for f in per_layer)


def test_draws_are_seeded_and_nested():
    masks = {"a": torch.ones(20, 30, dtype=torch.bool), "b": torch.ones(10, 10, dtype=torch.bool)}
    small = random_prune_masks(masks, 0.2, generator=torch.Generator().manual_seed(5))
    large = random_prune_masks(masks, 0.6, generator=torch.Generator().manual_seed(5))
    again = random_prune_masks(masks, 0.2, generator=torch.Generator().manual_seed(5))
    for n in masks:
        assert torch.equal(small[n], again[n])
        assert torch.all(large[n][small[n]])  # what 20 % removes, 60 % removes too
    assert all(torch.all(m) for m in masks.values())  # inputs untouched


def test_regrow_semantics_under_finetuning(digits):
    x, y = digits[0].tensors[0][:128], digits[0].tensors[1][:128]
    results = {}
    for regrow in (False, True):
        torch.manual_seed(2)
        model = SpikingMLP((64, 32, 10), neuron="lif", beta=0.9)
        removed = prune_(model, 0.5, scope="global", regrow=regrow, generator=torch.Generator().manual_seed(0))
        layer = model.layers[0]
        assert torch.all(layer.weight[removed["layers.0"]] == 0)
        assert bool(layer.mask[removed["layers.0"]].any()) is regrow
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(_direct(x, steps=STEPS)).sum(0), y).backward()
            opt.step()
        results[regrow] = (layer.weight[removed["layers.0"]] != 0).float().mean().item()
    assert results[False] == 0.0  # kept dead: pruned weights stay exactly zero
    assert results[True] > 0.5  # allowed to regrow: gradient training revives them


def test_robustness_curve_on_trained_digits_model(trained, digits):
    test_loader = DataLoader(digits[1], batch_size=200)
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    direct_acc = spike_count_accuracy(trained, test_loader, encode=lambda x: _direct(x, steps=STEPS))
    assert direct_acc > 0.8, direct_acc
    fractions = [0.0, 0.3, 0.6, 0.9, 1.0]
    curve = robustness_curve(trained, test_loader, fractions, scope="layer", encoder="direct", steps=STEPS)
    assert list(curve["fraction"]) == fractions
    acc = dict(zip(curve["fraction"], curve["accuracy"]))
    assert acc[0.0] == direct_acc == curve["baseline_accuracy"].iloc[0]
    assert acc[1.0] < 0.2 and acc[0.9] < acc[0.0] - 0.2  # accuracy falls as the fraction approaches 1
    assert curve["sparsity"].iloc[-1] == 1.0 and curve["sparsity"].iloc[0] < 0.01
    # a stochastic encoder sees the same input spikes in every evaluation: fraction 0 == unpruned
    noisy = robustness_curve(trained, test_loader, [0.0, 0.5], scope="global", encoder="poisson", steps=STEPS, seed=3)
    assert noisy["accuracy"].iloc[0] == noisy["baseline_accuracy"].iloc[0]
    for k, v in trained.state_dict().items():  # the user's model is untouched
        assert torch.equal(v, before[k])


def test_bad_input_raises_before_changing_anything():
    torch.manual_seed(3)
    model = SpikingMLP((10, 5))
    w = model.layers[0].weight.detach().clone()
    with pytest.raises(ParameterError, match="fraction"):
        prune_(model, 1.5)
    with pytest.raises(UnknownNameError, match="sideways"):
        prune_(model, 0.5, scope="sideways")
    with pytest.raises(UnknownNameError, match="nope"):
        prune_(model, 0.5, layers=["nope"])
    assert torch.equal(model.layers[0].weight.detach(), w) and bool(model.layers[0].mask.all())


def test_robustness_experiment_eihl_vs_stbp_reduced():
    """Reduced default version of the paper's third experiment (3 epochs, one seed)."""
    from biosnn.learning.pruning import robustness_experiment
    from biosnn.learning.run import RunConfig

    # a whole local epoch: the gentle contraction of the timing-free rule's old settings (the EIHLConfig
    # defaults are sized for local periods of 10-30 iterations)
    config = RunConfig(
        epochs=3, hidden=(32,), global_units=1, max_local_units=1, final_global_units=1, a=0.01, b=0.3, x_growth=0.02
    )
    df = robustness_experiment(config, methods=("eihl", "stbp"), fractions=(0.0, 0.5, 1.0), scope="layer")
    assert len(df) == 6 and set(df["method"]) == {"eihl", "stbp"}
    for _method, rows in df.groupby("method"):
        acc = dict(zip(rows["fraction"], rows["accuracy"]))
        assert acc[0.0] == rows["baseline_accuracy"].iloc[0] > 0.5
        assert acc[1.0] < 0.2 < acc[0.0]
    trained = df.groupby("method")["trained_sparsity"].first()
    assert trained["stbp"] == 0.0 and trained["eihl"] > 0.0  # EIHL's local period removed synapses
    # pruning removes a fraction of the synapses still present: sparsity after pruning 50 % per layer
    half = df[df["fraction"] == 0.5].set_index("method")["sparsity"]
    assert half["stbp"] == pytest.approx(0.5, abs=0.01)
    assert half["eihl"] == pytest.approx(trained["eihl"] + 0.5 * (1 - trained["eihl"]), abs=0.01)


@pytest.mark.slow
def test_robustness_experiment_eihl_vs_stbp_full():
    """Default digits configuration, 3 seeds: accuracy falls monotonically with the pruned fraction.

    Measured (global scope, kept dead): EIHL (34 % trained sparsity) 96.2/90.6/76.6/42.0/12.2 % and STBP
    97.2/92.8/78.6/38.6/11.9 % at fractions 0/0.2/0.4/0.6/0.8 -- no clear robustness advantage either way.
    """
    from biosnn.learning.pruning import robustness_experiment
    from biosnn.learning.run import RunConfig

    fractions = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9)
    df = robustness_experiment(RunConfig(), fractions=fractions, scope="global", seeds=(0, 1, 2))
    mean = df.groupby(["method", "fraction"])["accuracy"].mean()
    for method in ("eihl", "stbp"):
        curve = [mean[(method, f)] for f in fractions]
        assert curve[0] > 0.9
        assert all(a >= b for a, b in zip(curve, curve[1:]))
        assert curve[-1] < 0.15
    assert df[df["method"] == "eihl"]["trained_sparsity"].min() >= 0.15


def test_magnitude_pruning_and_set_step_keep_their_sparsity():
    """Magnitude pruning removes exactly the smallest present synapses per layer; a SET step moves the
    smallest ones to random absent places and keeps each layer's sparsity."""
    from biosnn.learning.pruning import magnitude_prune_, set_step_
    from biosnn.models import SpikingMLP, sparsity

    torch.manual_seed(0)
    model = SpikingMLP((10, 8, 3))
    w0 = model.layers[0].weight.detach().abs().clone()
    removed = magnitude_prune_(model, {"layers.0": 0.25, "layers.1": 0.5})
    sp = sparsity(model)
    assert sp["layers.0"] == pytest.approx(0.25) and sp["layers.1"] == pytest.approx(0.5)
    kept = model.layers[0].mask
    assert w0[removed["layers.0"]].max() <= w0[kept].min()  # every removed |w| <= every kept |w|
    magnitude_prune_(model, {"layers.0": 0.1})  # already sparser: unchanged
    assert sparsity(model)["layers.0"] == pytest.approx(0.25)
    before = {n: m.mask.clone() for n, m in (("layers.0", model.layers[0]), ("layers.1", model.layers[1]))}
    small = model.layers[0].weight.detach().abs().masked_fill(~before["layers.0"], float("inf"))
    moved = set_step_(model, 0.3, generator=torch.Generator().manual_seed(1))
    # the mask keeps its density (regrown synapses start at weight 0, so they count as zero weights until trained)
    assert float((~model.layers[0].mask).float().mean()) == pytest.approx(0.25) and moved > 0
    assert float((~model.layers[1].mask).float().mean()) == pytest.approx(0.5)
    m0 = model.layers[0].mask
    dropped = before["layers.0"] & ~m0
    assert int(dropped.sum()) == round(0.3 * int(before["layers.0"].sum()))
    assert small[dropped].max() <= small[before["layers.0"] & m0].min()  # the smallest ones left
    grown = m0 & ~before["layers.0"]
    assert int(grown.sum()) == int(dropped.sum()) and torch.all(model.layers[0].weight[grown] == 0)
