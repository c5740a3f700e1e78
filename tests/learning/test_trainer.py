"""The global (STBP) trainer: losses, the standard PyTorch step, learning on digits, masks, bad input."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from biosnn.data import load_dataset
from biosnn.errors import NonFiniteError, ParameterError, ShapeError, UnknownNameError
from biosnn.learning.losses import LOSSES, as_loss
from biosnn.learning.trainer import Trainer, enforce_masks
from biosnn.models import SpikingMLP


def _digits_loaders(batch_size=64, n_train=None):
    train = load_dataset("digits", train=True)
    test = load_dataset("digits", train=False)
    if n_train is not None:
        train = torch.utils.data.Subset(train, range(n_train))
    g = torch.Generator().manual_seed(0)
    return DataLoader(train, batch_size=batch_size, shuffle=True, generator=g), DataLoader(test, batch_size=360)


def test_losses_match_their_definitions():
    torch.manual_seed(0)
    spikes = (torch.rand(6, 5, 4) < 0.4).float()
    membrane = torch.randn(6, 5, 4)
    y = torch.tensor([0, 1, 2, 3, 0])
    # count_ce: cross-entropy with spike counts as logits
    assert torch.allclose(LOSSES["count_ce"](spikes, y), F.cross_entropy(spikes.sum(0), y))
    # rate_mse: mean squared error to a one-hot target rate
    target = F.one_hot(y, 4).float()
    assert torch.allclose(LOSSES["rate_mse"](spikes, y), ((spikes.mean(0) - target) ** 2).mean())
    # membrane losses read the last element of a (spikes, membrane) tuple
    assert torch.allclose(LOSSES["membrane_ce"]((spikes, membrane), y), F.cross_entropy(membrane.mean(0), y))
    assert torch.allclose(LOSSES["membrane_max_ce"]((spikes, membrane), y), F.cross_entropy(membrane.max(0).values, y))
    # count losses read the first element
    assert torch.equal(as_loss("count_ce").scores((spikes, membrane)), spikes.sum(0))


def test_loss_errors_name_the_problem():
    with pytest.raises(UnknownNameError, match="unknown loss 'hinge'; known: count_ce"):
        as_loss("hinge")
    with pytest.raises(ShapeError, match=r"time-major tensor \[T, B, classes\]"):
        LOSSES["count_ce"](torch.zeros(5, 4), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ShapeError, match="targets must be class indices"):
        LOSSES["count_ce"](torch.zeros(3, 5, 4), torch.zeros(4, dtype=torch.long))


def test_train_step_is_the_standard_pytorch_step():
    """One trainer step equals encode -> forward -> loss -> backward -> optimizer.step by hand."""
    torch.manual_seed(3)
    model = SpikingMLP((64, 32, 10))
    twin = copy.deepcopy(model)
    x = torch.rand(16, 1, 8, 8)
    y = torch.randint(0, 10, (16,))
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), encoder="direct", steps=5)
    opt = torch.optim.Adam(twin.parameters(), lr=1e-2)
    for _ in range(3):
        trainer.train_step(x, y)
        loss = F.cross_entropy(twin(x.unsqueeze(0).expand(5, *x.shape)).sum(0), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for (name, a), b in zip(model.state_dict().items(), twin.state_dict().values()):
        assert torch.equal(a, b), name


def test_stbp_learns_digits():
    torch.manual_seed(0)
    train, test = _digits_loaders()
    model = SpikingMLP((64, 64, 10))
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=3e-3), encoder="direct", steps=6)
    before = trainer.evaluate(test).accuracy
    history = trainer.fit(train, epochs=2, test_loader=test)
    assert before < 0.3
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["test_accuracy"] > 0.8


class _SnnTorchMLP(nn.Module):
    """A plain snnTorch network (no biosnn layers), stepped over time by hand."""

    def __init__(self):
        super().__init__()
        import snntorch

        self.fc1, self.fc2 = nn.Linear(64, 64), nn.Linear(64, 10)
        self.lif1 = snntorch.Leaky(beta=0.9)
        self.lif2 = snntorch.Leaky(beta=0.9)

    def forward(self, x):
        m1, m2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = []
        for x_t in x.flatten(2):
            s1, m1 = self.lif1(self.fc1(x_t), m1)
            s2, m2 = self.lif2(self.fc2(s1), m2)
            out.append(s2)
        return torch.stack(out)


def test_trainer_trains_a_plain_snntorch_network():
    torch.manual_seed(0)
    train, test = _digits_loaders(n_train=512)
    model = _SnnTorchMLP()
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=5e-3), encoder="poisson", steps=6, seed=1)
    before = trainer.evaluate(test).accuracy
    trainer.fit(train, epochs=2)
    after = trainer.evaluate(test).accuracy
    assert before < 0.3 and after > 0.6


def test_absent_synapses_stay_exactly_zero_under_adam_momentum():
    torch.manual_seed(0)
    model = SpikingMLP((64, 32, 10))
    x, y = torch.rand(32, 64), torch.randint(0, 10, (32,))
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), encoder="direct", steps=4)
    trainer.train_step(x, y)  # Adam now holds non-zero moments for every weight
    layer = model.layers[0]
    mask = torch.rand(layer.mask.shape) < 0.5
    layer.set_mask(mask)
    before = layer.weight.detach().clone()
    for _ in range(3):
        trainer.train_step(x, y)
    assert torch.all(layer.weight[~mask] == 0)
    assert not torch.equal(layer.weight[mask], before[mask])  # present synapses still learn


def test_enforce_masks_zeroes_stored_weights():
    model = SpikingMLP((8, 4, 2))
    with torch.no_grad():
        model.layers[0].mask[0, :] = False
    enforce_masks(model)
    assert torch.all(model.layers[0].weight[0] == 0) and torch.all(model.layers[0].weight[1:] != 0)


def test_nan_loss_stops_before_the_update():
    torch.manual_seed(0)
    model = SpikingMLP((64, 10))  # no hidden spikes between the NaN input and the readout membrane
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=1e-2),
        loss="membrane_ce",
        encoder=lambda x, steps, generator=None: x.unsqueeze(0).expand(steps, *x.shape),
        steps=4,
    )
    wrapped = _MembraneOut(model)
    trainer.model = wrapped
    x, y = torch.rand(8, 64), torch.randint(0, 10, (8,))
    trainer.train_step(x, y)
    state = copy.deepcopy(model.state_dict())
    opt_state = copy.deepcopy(trainer.optimizer.state_dict())
    x[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="training loss is nan at iteration 1; the weights were not updated"):
        trainer.train_step(x, y)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert trainer.optimizer.state_dict()["state"][0]["step"] == opt_state["state"][0]["step"]


def _direct(x, steps, generator=None):
    return x.unsqueeze(0).expand(steps, *x.shape)


def test_weights_made_non_finite_by_the_step_stop_training_naming_the_parameter():
    """lr = inf: the loss stays finite (a NaN network never spikes), so only a check of the weights sees it."""
    torch.manual_seed(0)
    model = SpikingMLP((64, 16, 10))
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=float("inf")), encoder=_direct, steps=4)
    x, y = torch.rand(32, 64), torch.randint(0, 10, (32,))
    with pytest.raises(
        NonFiniteError,
        match=r"parameter 'layers\.\d\.(weight|bias)' holds NaN or infinite values "
        r"after the optimiser step of iteration 0",
    ):
        for _ in range(3):  # the first step with a non-zero gradient turns the weights into inf/NaN
            trainer.train_step(x, y)


def test_non_finite_gradient_stops_before_the_update():
    torch.manual_seed(0)
    model = SpikingMLP((64, 16, 10))
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), encoder=_direct, steps=4)
    x, y = torch.rand(32, 64), torch.randint(0, 10, (32,))
    trainer.train_step(x, y)
    before = copy.deepcopy(model.state_dict())
    handle = model.layers[1].weight.register_hook(lambda g: g * float("nan"))  # a gradient gone bad
    try:
        with pytest.raises(
            NonFiniteError,
            match="the gradient of parameter 'layers.1.weight' holds NaN or infinite "
            "values at iteration 1; the weights were not updated",
        ):
            trainer.train_step(x, y)
    finally:
        handle.remove()
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_finite_check_is_one_reduction_and_names_the_first_bad_tensor():
    from biosnn.learning.trainer import first_non_finite

    big = torch.full((1000,), 3e38)  # finite float32 values whose float32 sum would overflow
    assert first_non_finite([("a", big), ("b", torch.zeros(3)), ("c", None), ("i", torch.arange(3))]) is None
    bad = torch.ones(4)
    bad[2] = float("nan")
    assert first_non_finite([("a", big), ("b", bad), ("c", torch.tensor([float("inf")]))]) == "b"


class _MembraneOut(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, return_membrane=True)


def test_trainer_rejects_bad_settings():
    model = SpikingMLP((8, 4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ParameterError, match="'steps'"):
        Trainer(model, opt, steps=0)
    with pytest.raises(UnknownNameError, match="unknown encoder 'morse'"):
        Trainer(model, opt, encoder="morse")
    with pytest.raises(ParameterError, match="optimizer must be a torch.optim.Optimizer"):
        Trainer(model, "adam")
    with pytest.raises(ParameterError, match="grad_clip"):
        Trainer(model, opt, grad_clip=-1.0)


def test_trainer_state_round_trip_reproduces_poisson_draws():
    torch.manual_seed(0)
    model = SpikingMLP((64, 16, 10))
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), encoder="poisson", steps=4, seed=5)
    x = torch.rand(4, 64)
    trainer.encode(x)
    state = copy.deepcopy(trainer.state_dict())
    a = trainer.encode(x)
    trainer.load_state_dict(state)
    assert torch.equal(trainer.encode(x), a)


def test_trainer_device_settings():
    model = SpikingMLP((64, 8, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    assert Trainer(model, opt).device == torch.device("cpu")  # the model's device
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert Trainer(model, opt, device="auto").device.type == expected
    with pytest.raises(ParameterError, match="cannot parse device 'bogus'"):
        Trainer(model, opt, device="bogus")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="no CUDA device is available"):
            Trainer(model, opt, device="cuda")
