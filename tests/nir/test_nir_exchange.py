"""NIR in and out (issue 13): biosnn round trips, snnTorch -> NIR -> Brian2 / twin / torch, Brian2 round trip."""

from __future__ import annotations

import brian2
import nir
import numpy as np
import pytest
import torch
from brian2 import ms

import biosnn
import biosnn.nir as bnir
from biosnn.errors import ParameterError, UnitError, UnsupportedFeatureError
from biosnn.models import IF, LIF, MaskedConv2d, MaskedLinear, SpikingMLP, SpikingResNet, SpikingVGG11
from biosnn.models.networks import _TimeFolded

DT = 0.1 * ms  # snnTorch's export_to_nir writes tau = 1e-4 s / (1 - beta)


# ----------------------------------------------------------------------------------- biosnn round trips
def _roundtrip(model, x, **kw):
    graph = bnir.export(model, dt=1 * ms, **kw)
    back = bnir.load(graph, "torch")
    with torch.no_grad():
        return model(x), back(x), graph, back


def test_mlp_roundtrip_identical_outputs_and_units():
    torch.manual_seed(0)
    model = SpikingMLP((12, 9, 4), "lif", tau=5 * ms, dt=1 * ms, threshold=0.5, reset="subtract")
    x = (torch.rand(20, 3, 12) < 0.4).float()
    y, y2, graph, back = _roundtrip(model, x)
    assert y.sum() > 0
    assert torch.equal(y, y2)
    lif = graph.nodes["neurons.0"]
    assert isinstance(lif, nir.LIF)
    beta = model.neurons[0].beta
    # time constants in seconds: euler convention tau = dt / (1 - beta), R = tau / dt
    np.testing.assert_allclose(lif.tau, 1e-3 / (1 - beta), rtol=1e-12)
    np.testing.assert_allclose(lif.r * 1e-3 / lif.tau, 1.0, rtol=1e-12)
    assert graph.metadata["biosnn_dt"] == pytest.approx(1e-3)
    assert back.node("neurons.0").beta == beta and back.node("neurons.0").reset == "subtract"


def test_exact_method_writes_the_physical_time_constant():
    model = SpikingMLP((5, 3), "lif", tau=20 * ms, dt=1 * ms)
    graph = bnir.export(model, dt=1 * ms, method="exact")
    np.testing.assert_allclose(graph.nodes["neurons.0"].tau, 20e-3, rtol=1e-12)
    assert bnir.load(graph, "torch").node("neurons.0").beta == pytest.approx(np.exp(-1 / 20), rel=1e-15)


def test_dale_mlp_with_masks_roundtrip_through_a_file(tmp_path):
    torch.manual_seed(1)
    model = SpikingMLP((10, 8, 6, 3), "if", dale=True, excitatory_fraction=0.75, reset="zero")
    g = torch.Generator().manual_seed(2)
    for layer in model.layers:
        layer.prune_(0.3, generator=g)
    x = (torch.rand(15, 2, 10) < 0.5).float()
    path = tmp_path / "dale.nir"
    nir.write(path, bnir.export(model, dt=1 * ms))
    back = bnir.load(nir.read(path), "torch")
    with torch.no_grad():
        y, y2 = model(x), back(x)
    assert y.sum() > 0 and torch.equal(y, y2)
    for i, layer in enumerate(model.layers):
        new = back.node(f"layers.{i}")
        assert isinstance(new, MaskedLinear) and new.dale == layer.dale
        assert torch.equal(new.mask, layer.mask)
        assert torch.equal(new.effective_weight(), layer.effective_weight())
    assert isinstance(back.node("neurons.0"), IF)


def test_small_conv_net_and_vgg11_roundtrip():
    torch.manual_seed(3)
    net = torch.nn.Sequential(
        _TimeFolded(MaskedConv2d(2, 4, 3, padding=1)),
        LIF(beta=0.8, threshold=0.3),
        _TimeFolded(torch.nn.AvgPool2d(2)),
        torch.nn.Flatten(2),
        MaskedLinear(4 * 4 * 4, 5),
        IF(threshold=0.5),
    )
    x = (torch.rand(6, 2, 2, 8, 8) < 0.5).float()
    y, y2, graph, _ = _roundtrip(net, x, input_shape=(2, 8, 8))
    assert isinstance(graph.nodes["0"], nir.Conv2d) and isinstance(graph.nodes["2"], nir.AvgPool2d)
    assert y.sum() > 0 and torch.equal(y, y2)
    vgg = SpikingVGG11(2, 3, width=0.0625, batch_norm=False, threshold=0.2)
    x = (torch.rand(3, 1, 2, 32, 32) < 0.5).float()
    y, y2, _, _ = _roundtrip(vgg, x, input_shape=(2, 32, 32))
    assert torch.equal(y, y2)


def test_dale_resnet_roundtrip_sums_main_path_and_shortcut():
    torch.manual_seed(5)
    net = SpikingResNet(2, 3, width=0.0625, batch_norm=False, dale=True, threshold=0.1)
    x = (torch.rand(4, 2, 2, 8, 8) < 0.5).float()
    y, y2, graph, back = _roundtrip(net, x, input_shape=(2, 8, 8))
    assert isinstance(graph.nodes["blocks.0.shortcut"], nir.Scale)  # signed identity (Dale)
    assert isinstance(graph.nodes["blocks.2.shortcut.0"], nir.Conv2d)  # strided 1x1 shortcut
    assert sorted(a for a, b in graph.edges if b == "blocks.0.neuron") == ["blocks.0.block2.conv", "blocks.0.shortcut"]
    with torch.no_grad():
        _, rec = back(x, record=True)
        hidden = net.stem(x)
    assert hidden.sum() > 0 and torch.equal(rec["stem.neuron"], hidden)
    assert rec["blocks.7.neuron"].sum() > 0 and torch.equal(y, y2)


# ------------------------------------------------------------------------------------------- snnTorch
def _trained_snntorch(seed=0, n=(24, 16, 5), steps=25, synaptic=False):
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(seed)
    if synaptic:  # reset_delay=False: NIR's reset (snnTorch's delayed zero reset also drops the next step)
        lif1 = snn.Synaptic(
            alpha=torch.full((n[1],), 0.6),
            beta=torch.full((n[1],), 0.85),
            threshold=torch.ones(n[1]),
            init_hidden=True,
            reset_mechanism="zero",
            reset_delay=False,
        )
        lif2 = snn.Synaptic(
            alpha=torch.full((n[2],), 0.5),
            beta=torch.full((n[2],), 0.9),
            threshold=torch.ones(n[2]),
            init_hidden=True,
            reset_mechanism="zero",
            reset_delay=False,
        )
    else:
        lif1 = snn.Leaky(
            beta=torch.full((n[1],), 0.85), threshold=torch.ones(n[1]), init_hidden=True, reset_mechanism="zero"
        )
        lif2 = snn.Leaky(
            beta=torch.full((n[2],), 0.9), threshold=torch.ones(n[2]), init_hidden=True, reset_mechanism="zero"
        )
    net = torch.nn.Sequential(torch.nn.Linear(n[0], n[1]), lif1, torch.nn.Linear(n[1], n[2]), lif2)
    x = (torch.rand(steps, 8, n[0]) < 0.3).float()
    target = torch.rand(8, n[2]) * steps * 0.3
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    before = net[0].weight.detach().clone()
    for _ in range(5):  # a few steps of snnTorch's own training (surrogate gradients, BPTT)
        _reset(lif1, lif2)
        count = sum(net(x[t]) for t in range(steps))
        loss = ((count - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert not torch.equal(before, net[0].weight)
    return net


def _reset(*neurons):
    for lif in neurons:
        if hasattr(lif, "syn"):  # Synaptic: empty states are re-created as zeros on the next call
            lif.syn = torch.zeros(0)
            lif.mem = torch.zeros(0)
        else:
            lif.reset_mem()


def _snntorch_run(net, x):
    """snnTorch in float64, time-major [T, N] input: spikes and membranes of both layers."""
    net = net.double()
    lif1, lif2 = net[1], net[3]
    _reset(lif1, lif2)
    out = {"1": [], "3": [], "m1": [], "m3": []}
    with torch.no_grad():
        for t in range(x.shape[0]):
            s1 = lif1(net[0](x[t : t + 1].double())).double()
            out["m1"].append(lif1.mem.clone())
            s3 = lif2(net[2](s1)).double()
            out["m3"].append(lif2.mem.clone())
            out["1"].append(s1)
            out["3"].append(s3)
    return {k: torch.cat(v).numpy() for k, v in out.items()}


def _raster(monitor, lag, steps, n):
    r = np.zeros((steps, n))
    k = np.round(monitor.t[:] / DT).astype(int) - lag
    keep = k < steps
    r[k[keep], np.asarray(monitor.i[:])[keep]] = 1
    return r


@pytest.mark.parametrize("synaptic", [False, True], ids=["Leaky-LIF", "Synaptic-CubaLIF"])
def test_snntorch_model_in_brian2_twin_and_torch_gives_snntorch_spikes(synaptic):
    from snntorch.export_nir import export_to_nir

    net = _trained_snntorch(synaptic=synaptic)
    graph = export_to_nir(net, torch.zeros(1, 24), ignore_dims=[0])
    assert isinstance(graph.nodes["1"], nir.CubaLIF if synaptic else nir.LIF)
    steps = 40
    x = (torch.rand(steps, 24, generator=torch.Generator().manual_seed(7)) < 0.3).double()
    ref = _snntorch_run(net, x)
    assert ref["1"].sum() > 10 and ref["3"].sum() > 3

    # biosnn PyTorch target: same update (beta from tau with dt = 1e-4 s, the float32 graph's round-off)
    model = bnir.load(graph, "torch", dt=DT, dtype=torch.float64)
    with torch.no_grad():
        out, rec = model(x[:, None], record=True)
    np.testing.assert_array_equal(rec["1"][:, 0].numpy(), ref["1"])
    np.testing.assert_array_equal(out[:, 0].numpy(), ref["3"])

    # Brian2 target: population k fires k steps later (latencies), spikes identical to snnTorch
    lat = bnir.latencies(graph)
    assert (lat["1"], lat["3"]) == (1, 2)
    b2net = bnir.load(graph, "brian2", dt=DT, inputs={"input": x.numpy()})
    assert {"input", "nir_0", "nir_1", "nir_2", "nir_3"} <= {o.name for o in b2net.objects}
    duration = (steps + 2) * DT
    tw = biosnn.twin(b2net)
    res = tw.run(duration, record={"nir_1": ["v"]})
    b2net.run(duration)
    # the stated update, membrane by membrane: v after Brian2 step t + 1 is snnTorch's mem at step t (where it
    # did not fire; the graph's float32 parameters limit the agreement to about 1e-7 relative)
    v = res.states["nir_1"]["v"][2 : steps + 2, 0].detach().numpy()
    quiet = ref["1"] == 0
    np.testing.assert_allclose(v[quiet], ref["m1"][quiet], rtol=1e-6, atol=1e-9)
    for node, n in (("1", 16), ("3", 5)):
        mon = b2net[f"nir_{node}_spikes"]
        np.testing.assert_array_equal(_raster(mon, lat[node], steps, n), ref[node])
        i, t = res.spikes[f"nir_{node}"][0]
        np.testing.assert_array_equal(np.asarray(i), np.asarray(mon.i[:]))
        np.testing.assert_array_equal(np.round(np.asarray(t) / float(DT)), np.round(mon.t[:] / DT))


def test_snntorch_membranes_agree_in_the_torch_target():
    from snntorch.export_nir import export_to_nir

    net = _trained_snntorch(seed=4)
    graph = export_to_nir(net, torch.zeros(1, 24), ignore_dims=[0])
    x = (torch.rand(30, 24, generator=torch.Generator().manual_seed(5)) < 0.3).double()
    ref = _snntorch_run(net, x)
    model = bnir.load(graph, "torch", dt=DT, dtype=torch.float64)
    lif = model.node("1")[1]  # gain != 1 in the float32 graph: Scale, then biosnn's LIF
    with torch.no_grad():
        current = model.node("0")(x[:, None])
        spikes, mem = lif(model.node("1")[0](current), return_membrane=True)
    # snnTorch's zero reset keeps the charged membrane where it fired (reset_delay); compare where it did not
    quiet = ref["1"] == 0
    np.testing.assert_allclose(mem[:, 0].numpy()[quiet], ref["m1"][quiet], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(spikes[:, 0].numpy(), ref["1"])


# --------------------------------------------------------------------------------------- Brian2 round trip
def _brian2_net(seed=11):
    rng = np.random.default_rng(seed)
    n_in, n_e, n_o = 12, 8, 3
    steps = rng.random((60, n_in)) < 0.2
    k, i = np.nonzero(steps)
    inp = brian2.SpikeGeneratorGroup(n_in, i, k * DT, dt=DT, name="inp")
    eqs = "dv/dt = (-70*mV - v)/(8*ms) : volt"
    e = brian2.NeuronGroup(n_e, eqs, threshold="v > -60*mV", reset="v = -72*mV", method="exact", dt=DT, name="E")
    o = brian2.NeuronGroup(
        n_o,
        "dv/dt = (v_rest - v + ge*20*mV)/tau_o : volt\ndge/dt = -ge/(3*ms) : 1\ntau_o : second (constant)",
        threshold="v > -62*mV",
        reset="v = v_rest",
        method="exact",
        dt=DT,
        name="O",
        namespace={"v_rest": -70 * brian2.mV},
    )
    e.v = -70 * brian2.mV
    o.v = -70 * brian2.mV
    o.tau_o = rng.uniform(5, 15, n_o) * ms
    s1 = brian2.Synapses(inp, e, "w : volt", on_pre="v_post += w", dt=DT, name="inp_E")
    s1.connect(p=0.6)
    s1.w = rng.uniform(0, 4, len(s1)) * brian2.mV
    s1.delay = (np.asarray(s1.i[:]) % 3) * DT  # per presynaptic neuron: a nir.Delay
    s2 = brian2.Synapses(e, o, "w : 1", on_pre="ge_post += w", dt=DT, name="E_O")  # CUBA: a current jump
    s2.connect()
    s2.w = rng.uniform(0, 0.4, len(s2))
    net = brian2.Network(inp, e, o, s1, s2, brian2.SpikeMonitor(e, name="mE"), brian2.SpikeMonitor(o, name="mO"))
    return net, (i, k)


def test_brian2_network_roundtrip_gives_the_same_spikes(tmp_path):
    net, (i, k) = _brian2_net()
    nir.write(tmp_path / "brian2.nir", bnir.export(net))
    graph = nir.read(tmp_path / "brian2.nir")  # metadata (dt, method, schedule) survive the file
    assert isinstance(graph.nodes["inp_E_delay"], nir.Delay) and isinstance(graph.nodes["E"], nir.LIF)
    assert isinstance(graph.nodes["O"], nir.CubaLIF)
    np.testing.assert_allclose(graph.nodes["O"].tau_syn, 3e-3, rtol=1e-12)
    np.testing.assert_allclose(graph.nodes["E"].tau, 8e-3, rtol=1e-12)  # seconds
    np.testing.assert_allclose(graph.nodes["E"].v_threshold, -60e-3, rtol=1e-12)  # volts, SI
    net.run(6 * ms)
    back = bnir.load(graph, "brian2")
    back["inp"].set_spikes(i, k * DT)
    back["E"].v = -70e-3
    back["O"].v = -70e-3
    res = biosnn.twin(back).run(6 * ms)  # and its twin
    back.run(6 * ms)
    assert len(net["mE"].i) > 5 and len(net["mO"].i) > 0
    for old, new in (("mE", "E"), ("mO", "O")):
        np.testing.assert_array_equal(np.asarray(net[old].i[:]), np.asarray(back[f"{new}_spikes"].i[:]))
        np.testing.assert_array_equal(np.asarray(net[old].t[:]), np.asarray(back[f"{new}_spikes"].t[:]))
        i, t = res.spikes[new][0]
        np.testing.assert_array_equal(np.asarray(i), np.asarray(net[old].i[:]))
        np.testing.assert_array_equal(np.round(np.asarray(t) / float(DT)), np.round(net[old].t[:] / DT))


# -------------------------------------------------------------------------------------------- errors
def test_unsupported_node_names_node_and_type():
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([3])),
            "w": nir.Linear(weight=np.ones((2, 3))),
            "syn": nir.LI(tau=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2)),
            "output": nir.Output(output_type=np.array([2])),
        },
        edges=[("input", "w"), ("w", "syn"), ("syn", "output")],
    )
    for target in ("torch", "brian2"):
        with pytest.raises(UnsupportedFeatureError, match=r"'syn' of type LI"):
            bnir.load(graph, target, dt=DT)


def test_heterogeneous_threshold_refused_by_torch_target_but_run_by_brian2():
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([2])),
            "w": nir.Linear(weight=np.eye(2)),
            "lif": nir.LIF(
                tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2), v_threshold=np.array([1.0, 2.0])
            ),
            "output": nir.Output(output_type=np.array([2])),
        },
        edges=[("input", "w"), ("w", "lif"), ("lif", "output")],
    )
    with pytest.raises(UnsupportedFeatureError, match=r"'lif' of type LIF: heterogeneous threshold"):
        bnir.load(graph, "torch", dt=DT)
    net = bnir.load(graph, "brian2", dt=DT)
    np.testing.assert_array_equal(net["lif"].v_th[:], [1.0, 2.0])


def test_bad_arguments():
    model = SpikingMLP((4, 2))
    with pytest.raises(UnitError, match="dt"):
        bnir.export(model, dt=0.001)
    with pytest.raises(ParameterError, match="method"):
        bnir.export(model, dt=1 * ms, method="rk4")
    graph = bnir.export(model, dt=1 * ms)
    with pytest.raises(ParameterError, match="target"):
        bnir.load(graph, "lava")
    with pytest.raises(UnsupportedFeatureError, match="BatchNorm"):
        bnir.export(SpikingVGG11(2, 3, width=0.0625), dt=1 * ms, input_shape=(2, 32, 32))


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_biosnn_mlp_in_brian2_and_its_twin_gives_the_torch_spikes(reset):
    torch.manual_seed(21)
    model = SpikingMLP((16, 10, 4), "lif", beta=0.8, threshold=0.6, reset=reset).double()
    steps = 30
    x = (torch.rand(steps, 1, 16, dtype=torch.float64) < 0.4).double()
    with torch.no_grad():
        hidden = model.neurons[0](model.layers[0](x))
        out = model(x)
    assert hidden.sum() > 10 and out.sum() > 3
    graph = biosnn.nir.export(model, dt=1 * ms)  # biosnn.nir without its own import
    lat = bnir.latencies(graph)
    net = bnir.load(graph, "brian2", inputs={"input": x[:, 0].numpy()})
    tw = biosnn.twin(net)
    res = tw.run((steps + 2) * ms)
    net.run((steps + 2) * ms)
    for node, ref in (("neurons.0", hidden), ("neurons.1", out)):
        name = bnir._brian_name(node)
        mon = net[f"{name}_spikes"]
        r = np.zeros((steps, ref.shape[-1]))
        k = np.round(mon.t[:] / ms).astype(int) - lat[node]
        r[k[k < steps], np.asarray(mon.i[:])[k < steps]] = 1
        np.testing.assert_array_equal(r, ref[:, 0].numpy())
        i, _ = res.spikes[name][0]
        np.testing.assert_array_equal(np.asarray(i), np.asarray(mon.i[:]))


def test_export_refuses_what_nir_cannot_say_naming_the_object():
    p = brian2.PoissonGroup(3, 10 * brian2.Hz, name="noise")
    g = brian2.NeuronGroup(2, "dv/dt = -v/(5*ms) : 1", threshold="v > 1", reset="v = 0", refractory=2 * ms, name="refr")
    with pytest.raises(UnsupportedFeatureError, match="noise: PoissonGroup"):
        bnir.export(brian2.Network(p, g))
    with pytest.raises(UnsupportedFeatureError, match="refr: refractoriness"):
        bnir.export(brian2.Network(g))
    with pytest.raises(UnsupportedFeatureError, match="1: module ReLU"):
        bnir.export(torch.nn.Sequential(MaskedLinear(3, 2), torch.nn.ReLU()), dt=1 * ms, input_shape=(3,))


def test_exact_graph_in_brian2_gives_the_torch_spikes():
    torch.manual_seed(8)
    model = SpikingMLP((10, 6), "lif", tau=4 * ms, dt=1 * ms, threshold=0.5).double()
    x = (torch.rand(25, 1, 10, dtype=torch.float64) < 0.5).double()
    with torch.no_grad():
        ref = model(x)[:, 0].numpy()
    assert ref.sum() > 3
    graph = bnir.export(model, dt=1 * ms, method="exact")  # tau = 4 ms, beta = exp(-1/4)
    net = bnir.load(graph, "brian2", inputs={"input": x[:, 0].numpy()})
    np.testing.assert_allclose(net["nir_neurons_0"].tau[:] / ms, 1 / (1 - np.exp(-0.25)), rtol=1e-12)
    net.run(27 * ms)
    mon = net["nir_neurons_0_spikes"]
    r = np.zeros_like(ref)
    k = np.round(mon.t[:] / ms).astype(int) - 1
    r[k[k < 25], np.asarray(mon.i[:])[k < 25]] = 1
    np.testing.assert_array_equal(r, ref)
