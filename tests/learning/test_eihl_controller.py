"""The EIHL hybrid controller and its switching policies."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from biosnn.plasticity import eihl_contraction as contraction
from biosnn.plasticity.eihl_contraction import EIHLConfig
from torch.utils.data import DataLoader, TensorDataset

from biosnn.errors import ParameterError, UnknownNameError
from biosnn.learning.eihl import EIHLController
from biosnn.learning.policies import (
    SWITCHING_POLICIES,
    AlternatePolicy,
    ConnectivityPolicy,
    PhaseView,
    as_policy,
)
from biosnn.learning.trainer import Trainer
from biosnn.models import SpikingMLP

#: the timing-free, permanent-removal controller of earlier versions (drive D = 1, no regrowth, epochs)
TIMING_FREE = EIHLConfig(drive=None, regrow=False, granularity="epoch")


def _view(phase, units, s, pre, left=None):
    return PhaseView(
        phase=phase, units_in_phase=units, sparsity=s, previous_sparsity=pre, units_done=0, units_left=left
    )


def test_connectivity_policy_follows_algorithm_1():
    p = ConnectivityPolicy(global_units=2, max_local_units=3, max_sparsity=0.5, final_global_units=2)
    # local period: continue while no synapse was removed (Curr S == Pre S), leave once connectivity dropped
    assert p.decide(_view("local", 1, 0.10, 0.10)) == "local"
    assert p.decide(_view("local", 1, 0.12, 0.10)) == "global"
    assert p.decide(_view("local", 3, 0.10, 0.10)) == "global"  # max_local_units
    # global period: at least global_units, then local while connectivity is stable (Curr S >= Pre S)
    assert p.decide(_view("global", 1, 0.10, 0.10)) == "global"
    assert p.decide(_view("global", 2, 0.10, 0.10)) == "local"
    assert p.decide(_view("global", 2, 0.09, 0.10)) == "global"  # connectivity grew: not stable
    assert p.decide(_view("global", 2, 0.50, 0.50)) == "global"  # max_sparsity reached
    assert p.decide(_view("global", 2, 0.10, 0.10, left=2)) == "global"  # final global fine-tuning
    assert p.decide(_view("global", 2, 0.10, 0.10, left=3)) == "local"


def test_alternate_and_global_only_policies():
    p = AlternatePolicy(global_units=2, local_units=2)
    assert [p.decide(_view("global", u, 0, 0)) for u in (1, 2)] == ["global", "local"]
    assert [p.decide(_view("local", u, 0, 0)) for u in (1, 2)] == ["local", "global"]
    assert as_policy("global_only").decide(_view("global", 100, 0, 0)) == "global"
    assert set(SWITCHING_POLICIES) == {"connectivity", "alternate", "global_only"}


def test_policy_and_controller_settings_are_checked():
    with pytest.raises(ParameterError, match="global_units"):
        ConnectivityPolicy(global_units=0)
    with pytest.raises(ParameterError, match="max_sparsity"):
        ConnectivityPolicy(max_sparsity=1.5)
    with pytest.raises(UnknownNameError, match="unknown switching policy 'sometimes'"):
        as_policy("sometimes")
    model = SpikingMLP((16, 8, 4))
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), encoder="direct", steps=2)
    with pytest.raises(ParameterError, match="'a'"):
        EIHLController(trainer, a=-1.0)
    with pytest.raises(ParameterError, match="'tau_x'"):
        EIHLController(trainer, tau_x=0.0)
    with pytest.raises(UnknownNameError, match="unknown switching granularity 'batch'"):
        EIHLController(trainer, granularity="batch")
    with pytest.raises(UnknownNameError, match="unknown masked layer 'fc9'"):
        EIHLController(trainer, layers=["fc9"])
    plain = torch.nn.Sequential(torch.nn.Linear(4, 2))
    with pytest.raises(ParameterError, match="needs a model with masked layers"):
        EIHLController(Trainer(plain, torch.optim.SGD(plain.parameters(), lr=0.1), encoder="direct"))


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 16, generator=g)
    y = (x[:, :8].sum(1) > x[:, 8:].sum(1)).long()
    return DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(1))


def _setup(seed=0, config=TIMING_FREE, **kw):
    torch.manual_seed(seed)
    model = SpikingMLP((16, 24, 2))
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), encoder="direct", steps=4)
    return model, trainer, EIHLController(trainer, config, **kw)


def test_global_only_controller_equals_stbp_bit_for_bit():
    model_a, trainer_a, ctl = _setup(policy="global_only")
    model_b, trainer_b, _ = _setup(policy="global_only")
    loader_a, loader_b = _data(), _data()
    for _ in range(3):
        ctl.train_epoch(loader_a)
        trainer_b.train_epoch(loader_b)
    for (k, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), k


def test_local_period_is_the_rule_applied_with_a_frozen_threshold():
    """Each local iteration equals eihl_contraction.local_step with thresh(b) frozen at the period start,
    followed by bounded_contraction with the floor (1 - max_contraction) * sum |w| at the period start."""
    model, trainer, ctl = _setup(policy="alternate", a=0.05, b=0.4, x_growth=0.3, tau_x=5.0, start_phase="local")
    ref = {n: (m.weight.detach().clone(), torch.zeros_like(m.weight), m.mask.clone()) for n, m in ctl.layers.items()}
    thresholds = {n: contraction.removal_threshold(w, mk, b=0.4) for n, (w, _, mk) in ref.items()}
    c = ctl.config.max_contraction
    floors = {n: (1 - c) * float(w[mk].abs().sum()) for n, (w, _, mk) in ref.items()}
    bound = False
    for _ in range(3):
        ctl.local_update()
        for n in ref:
            w, x, mk = contraction.local_step(*ref[n], a=0.05, x_growth=0.3, threshold=thresholds[n])
            bounded = contraction.bounded_contraction(ref[n][0], w, mk, floor=floors[n])
            bound |= not torch.equal(bounded, w)
            ref[n] = (bounded, x, mk)
    assert bound  # the bound acted (a * x reaches 0.045 per step: more than 5 % of the scale in 3 steps)
    for n, m in ctl.layers.items():
        w, x, mk = ref[n]
        assert torch.equal(m.weight.detach(), w) and torch.equal(m.mask, mk) and torch.equal(ctl.x[n], x)
    assert 0 < ctl.sparsity()["overall"] < 1
    # x decays during the global period: lazily, as one exponential at the start of the next local period
    ctl.phase, ctl.pending_decay = "global", 7
    x_before = {n: t.clone() for n, t in ctl.x.items()}
    ctl._begin_local()
    for n in ctl.x:
        assert torch.allclose(ctl.x[n], x_before[n] * math.exp(-7 / 5.0))


def test_eihl_switches_by_connectivity_and_removal_is_permanent():
    model, trainer, ctl = _setup(
        policy=ConnectivityPolicy(global_units=2, max_local_units=2), a=0.01, b=0.3, x_growth=0.02
    )
    loader = _data()
    phases, sparsities, removed = [], [], None
    for epoch in range(7):
        _, counts = ctl.train_epoch(loader, epochs_left=6 - epoch)
        phases.append("local" if counts["local"] else "global")
        sparsities.append(ctl.sparsity()["overall"])
        if removed is None and sparsities[-1] > 0:
            removed = {n: ~m.mask.clone() for n, m in ctl.layers.items()}
    # two global epochs, a local one that removes synapses, two global ones, ...
    assert phases[:6] == ["global", "global", "local", "global", "global", "local"]
    # sparsity grows only in local epochs and never falls
    for i in range(1, 7):
        if phases[i] == "global":
            assert sparsities[i] == sparsities[i - 1]
        else:
            assert sparsities[i] > sparsities[i - 1]
    # synapses removed in the first local period stay absent, with weights exactly 0, through global training
    for n, m in ctl.layers.items():
        assert not m.mask[removed[n]].any()
        assert torch.all(m.weight[removed[n]] == 0)


def test_iteration_granularity_ends_the_local_period_at_the_first_removal():
    model, trainer, ctl = _setup(
        policy=ConnectivityPolicy(global_units=3, max_local_units=50),
        granularity="iteration",
        a=0.05,
        b=0.2,
        x_growth=0.05,
    )
    loader = _data()
    s0 = ctl.sparsity()["overall"]
    log = []
    for x, y in loader:
        phase = ctl.phase
        ctl.step(x, y)
        ctl._decide(None)
        log.append((phase, ctl.sparsity()["overall"]))
    assert [p for p, _ in log[:3]] == ["global"] * 3
    local = [s for p, s in log if p == "local"]
    assert local and local[0] > s0  # the first local step already removes under thresh(0.2)
    assert log[3][0] == "local" and log[4][0] == "global"


def test_stdp_local_period_removes_under_the_threshold():
    from biosnn.plasticity import get_rule

    from biosnn.learning.local import LocalLearner

    torch.manual_seed(0)
    model = SpikingMLP((16, 24, 2))
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), encoder="poisson", steps=6)
    learner = LocalLearner(model, get_rule("stdp_additive")(), layers=["layers.0"], lr=1e-3)
    ctl = EIHLController(trainer, TIMING_FREE, b=0.5, layers=["layers.0"], local_learner=learner, start_phase="local")
    threshold = ctl.thresholds["layers.0"]
    x = torch.rand(8, 16)
    ctl.step(x, torch.zeros(8, dtype=torch.long))
    layer = model.layers[0]
    assert ctl.sparsity()["overall"] > 0.2
    assert torch.all(layer.weight[layer.mask].abs() >= threshold) and torch.all(layer.weight[~layer.mask] == 0)


def test_controller_state_round_trip():
    model, trainer, ctl = _setup(policy="alternate", start_phase="local")
    ctl.local_update()
    state = copy.deepcopy(ctl.state_dict())
    _, trainer2, ctl2 = _setup(policy="alternate")
    ctl2.load_state_dict(state)
    assert ctl2.phase == "local" and ctl2.thresholds == ctl.thresholds
    assert all(torch.equal(ctl2.x[n], ctl.x[n]) for n in ctl.x)


def test_eihl_on_dale_layers_keeps_every_sign():
    """With Dale's law the weights are magnitudes: contraction and removal act on them, signs stay fixed."""
    torch.manual_seed(0)
    model = SpikingMLP((16, 24, 24, 2), dale=True)
    trainer = Trainer(model, torch.optim.Adam(model.parameters(), lr=1e-2), encoder="direct", steps=4)
    ctl = EIHLController(trainer, TIMING_FREE, policy=AlternatePolicy(global_units=1, local_units=1), b=0.5)
    signs = {n: torch.sign(m.effective_weight().detach()) for n, m in ctl.layers.items() if m.dale}
    for epoch in range(4):
        ctl.train_epoch(_data(), epochs_left=3 - epoch)
    assert ctl.sparsity()["overall"] > 0.2
    for n, before in signs.items():
        after = torch.sign(ctl.layers[n].effective_weight().detach())
        present = ctl.layers[n].mask
        assert torch.equal(after[present], before[present]) and torch.all(after[~present] == 0)
