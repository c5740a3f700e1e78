"""The twin's compiled C back end: same spikes and states as the tensor back end (and Brian2), the right
blocks compiled, the others falling back with a reason, and clear errors where it cannot run."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import ms, second

import biosnn
from biosnn.errors import ParameterError
from biosnn.twins import kernels, targets
from tests.twins import models
from tests.twins.helpers import run_both

needs_cc = pytest.mark.skipif(kernels.c_compiler() is None, reason="no C compiler on this machine")


def compiled(status: str) -> bool:
    """A block that runs as a C kernel: ``"c"``, or ``"c (exp ... through NumPy's own loops ...)"``."""
    return status == "c" or status.startswith("c (")


def _run(objects, backend, duration, batch_size=1, inputs=None, record=None):
    tw = biosnn.twin(b2.Network(*objects), batch_size=batch_size, backend=backend)
    with torch.no_grad():
        res = tw.run(duration, inputs=inputs, record=record)
    return tw, res


def _assert_same_results(a, b, groups):
    for g in groups:
        for (ia, ta), (ib, tb) in zip(a.spikes[g], b.spikes[g]):
            np.testing.assert_array_equal(ia, ib)
            np.testing.assert_array_equal(np.asarray(ta), np.asarray(tb))
        assert torch.equal(a.counts[g], b.counts[g])


def test_backend_registry_and_choice():
    assert {"torch", "c"} <= set(targets.TARGETS)
    assert targets.choose_target("torch", torch.float64, torch.device("cpu")).name == "torch"
    # auto never picks C where it cannot run
    assert targets.choose_target("auto", torch.float32, torch.device("cpu")).name == "torch"
    assert targets.choose_target("auto", torch.float64, torch.device("cuda")).name == "torch"
    with pytest.raises(ParameterError, match="float64"):
        targets.choose_target("c", torch.float32, torch.device("cpu"))
    with pytest.raises(ParameterError, match="CPU"):
        targets.choose_target("c", torch.float64, torch.device("cuda"))
    with pytest.raises(ParameterError, match="'fortran'.*'c'.*'torch'|one of"):
        targets.choose_target("fortran", torch.float64, torch.device("cpu"))
    objects, _ = models.lif_step_current(0.05)
    with pytest.raises(ParameterError, match="backend"):
        biosnn.twin(b2.Network(*objects), backend="fortran")


def test_without_a_compiler_auto_uses_tensors_and_c_says_why(monkeypatch):
    monkeypatch.setattr(kernels, "c_compiler", lambda: None)
    assert targets.choose_target("auto", torch.float64, torch.device("cpu")).name == "torch"
    with pytest.raises(ParameterError, match="C compiler"):
        targets.choose_target("c", torch.float64, torch.device("cpu"))


@needs_cc
@pytest.mark.parametrize("builder", [models.cuba, models.coba], ids=["cuba", "coba"])
def test_recurrent_networks_fully_compiled_and_bit_identical_to_tensor_backend(builder):
    """Every block of CUBA/COBA runs compiled; spikes and the final state (B = 3 trials with different
    initial voltages) are bit-identical to the tensor back end's."""
    objects, monitored = builder(n=400)
    tw_c = biosnn.twin(b2.Network(*objects), batch_size=3, backend="c")
    assert all(compiled(v) for v in tw_c.compiled_blocks().values()), tw_c.compiled_blocks()
    objects, _ = builder(n=400)
    tw_t = biosnn.twin(b2.Network(*objects), batch_size=3, backend="torch")
    assert all(v.startswith("torch") for v in tw_t.compiled_blocks().values())
    g = monitored[0]
    v0 = tw_c.variable(g, "v").detach().clone()
    v0 = v0.expand(3, -1).clone() if v0.dim() == 1 else v0
    v0[1] += 1e-3  # three different trials
    v0[2] -= 2e-3
    inputs = {g: {"v": v0}}
    with torch.no_grad():
        rc = tw_c.run(0.2 * second, inputs=inputs, record={g: ["v"]})
        rt = tw_t.run(0.2 * second, inputs=inputs, record={g: ["v"]})
    _assert_same_results(rc, rt, [g])
    assert rc.counts[g][0].sum() != rc.counts[g][1].sum(), "the trials must differ"
    assert torch.equal(rc.states[g]["v"], rt.states[g]["v"])
    for var in ("v", "ge", "gi", "lastspike", "not_refractory"):
        assert torch.equal(tw_c.variable(g, var), tw_t.variable(g, var)), var


@needs_cc
@pytest.mark.parametrize(
    "builder", [models.song_stdp, models.triplet_stdp, models.vogels_istdp], ids=["song", "triplet", "vogels"]
)
def test_plasticity_pathways_compiled_and_weights_equal_to_brian2(builder):
    objects, monitored, syn = builder(0.25)
    brian, twin, bw, tw_w, tw, _net = run_both(
        objects, monitored, 0.25 * second, weights=syn, twin_kwargs={"backend": "c"}
    )
    blocks = tw.compiled_blocks()
    assert all(compiled(v) for k, v in blocks.items() if k.startswith(syn + "_")), blocks
    for g in monitored:
        np.testing.assert_array_equal(twin[g][0], brian[g][0])
        np.testing.assert_array_equal(twin[g][1], brian[g][1])
    np.testing.assert_array_equal(tw_w, bw)  # bit-equal


@needs_cc
def test_fallbacks_name_their_reason_and_results_stay_identical():
    """Random numbers and learnable constants keep the tensor code; the mix (with a compiled pathway with
    heterogeneous delays fed by the tensor code's Poisson spikes) gives the tensor back end's results."""
    P = b2.PoissonGroup(50, rates=40 * b2.Hz, name="fb_input")
    G = b2.NeuronGroup(
        20,
        "dv/dt = -v/tau : 1",
        threshold="v > 1",
        reset="v = 0",
        method="exact",
        namespace={"tau": 10 * ms},
        name="fb_pop",
    )
    S = b2.Synapses(P, G, "w : 1", on_pre="v_post += w", name="fb_syn")
    S.connect(p=0.5, namespace={})
    S.w = np.random.default_rng(3).random(len(S)) * 0.4
    S.delay = np.random.default_rng(4).random(len(S)) * 3 * ms
    objects = [P, G, S]
    tw = biosnn.twin(b2.Network(*objects), backend="c", seed=11, learnable=("fb_pop.tau",))
    blocks = tw.compiled_blocks()
    assert blocks["fb_input_spike_thresholder"].startswith("torch (function 'rand')")
    assert compiled(blocks["fb_syn_pre"])
    assert blocks["fb_pop_stateupdater"] == "torch (learnable constants)"
    assert compiled(blocks["fb_pop_spike_thresholder"])
    tw_t = biosnn.twin(b2.Network(*objects), backend="torch", seed=11, learnable=("fb_pop.tau",))
    with torch.no_grad():
        rc, rt = tw.run(0.2 * second), tw_t.run(0.2 * second)
    assert rc.counts["fb_pop"].sum() > 0
    _assert_same_results(rc, rt, ["fb_input", "fb_pop"])


@needs_cc
def test_spikes_in_flight_cross_runs_with_and_without_gradients():
    """Delayed pathways from subgroups (one delay; heterogeneous delays): compiled runs, a gradient run
    (tensor code) and compiled runs again carry the spike queues between them; the result equals one
    uninterrupted tensor run."""
    inp = b2.SpikeGeneratorGroup(30, *models.poisson_spike_list(30, 60.0, 0.3, 5), name="q_input")
    G = b2.NeuronGroup(40, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact", name="q_pop")
    Sin = b2.Synapses(inp, G, "w : 1", on_pre="v_post += w", name="q_in")
    Sin.connect(p=0.4, namespace={})
    Sin.w = np.random.default_rng(6).random(len(Sin)) * 0.6
    Srec = b2.Synapses(G[10:30], G, on_pre="v_post += 0.3", delay=4 * ms, name="q_rec")
    Srec.connect(p=0.3, namespace={})
    Shet = b2.Synapses(G[:20], G[20:], on_pre="v_post += 0.25", name="q_het")
    Shet.connect(p=0.3, namespace={})
    Shet.delay = np.random.default_rng(7).integers(10, 60, len(Shet)) * 0.1 * ms
    objects = [inp, G, Sin, Srec, Shet]
    ref = biosnn.twin(b2.Network(*objects), backend="torch")
    with torch.no_grad():
        whole = ref.run(0.3 * second)
    tw = biosnn.twin(b2.Network(*objects), backend="c")
    assert compiled(tw.compiled_blocks()["q_rec_pre"]) and compiled(tw.compiled_blocks()["q_het_pre"])
    parts = []
    with torch.no_grad():
        parts.append(tw.run(0.1 * second))
    parts.append(tw.run(0.1 * second))  # gradients on: tensor code
    assert parts[-1].spike_trains["q_pop"].requires_grad
    with torch.no_grad():
        parts.append(tw.run(0.1 * second))
    i = np.concatenate([p.spikes["q_pop"][0][0] for p in parts])
    t = np.concatenate([np.asarray(p.spikes["q_pop"][0][1]) for p in parts])
    assert len(i) > 20
    np.testing.assert_array_equal(i, whole.spikes["q_pop"][0][0])
    np.testing.assert_array_equal(t, np.asarray(whole.spikes["q_pop"][0][1]))


@needs_cc
def test_variables_never_share_memory_under_in_place_updates():
    """``x = y`` in a tensor block (a ``run_regularly`` every 1 ms) must not make x and y one tensor: the
    compiled state updater and reset change y in place every step, and x would change with it."""
    inp = b2.SpikeGeneratorGroup(1, [0, 0, 0], [5, 15, 25] * ms, name="alias_input")
    G = b2.NeuronGroup(
        1,
        """dy/dt = 1/(10*ms) : 1
    x : 1
    noise : 1""",
        threshold="y > 0.5",
        reset="y = 0",
        method="euler",
        name="alias_pop",
    )
    # rand() keeps this block in tensor code
    G.run_regularly("x = y\nnoise = rand()", dt=1 * ms, when="before_thresholds", name="alias_copy")
    S = b2.Synapses(inp, G, on_pre="y_post += 0.1", name="alias_syn")
    S.connect()
    mon = b2.StateMonitor(G, ["x", "y"], record=True, when="end", name="alias_mon")
    net = b2.Network(inp, G, S, mon)
    tw = biosnn.twin(net, backend="c")
    assert tw.compiled_blocks()["alias_copy"].startswith("torch")
    with torch.no_grad():
        tw.run(29.5 * ms)
    net.run(29.5 * ms, namespace={})
    assert float(G.x[0]) != float(G.y[0])
    assert float(tw.variable("alias_pop", "x")[0]) == float(G.x[0])
    assert float(tw.variable("alias_pop", "y")[0]) == float(G.y[0])


@needs_cc
def test_compiled_libraries_are_cached_by_source(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path))
    objects, _ = models.lif_step_current(0.05)
    for _ in range(2):
        tw = biosnn.twin(b2.Network(*objects), backend="c")
        with torch.no_grad():
            tw.run(10 * ms)
    libs = list((tmp_path / "twin-c").glob("*.so"))
    assert len(libs) == 1
    assert not list((tmp_path / "twin-c").glob("*.c")), "sources are removed after compiling"


def test_a_c_compile_error_is_reported(tmp_path, monkeypatch):
    if kernels.c_compiler() is None:
        pytest.skip("no C compiler on this machine")
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path))
    from biosnn.errors import UnsupportedFeatureError

    with pytest.raises(UnsupportedFeatureError, match="did not compile"):
        kernels.compile_library("this is not C;")


@needs_cc
def test_c_reserved_names_keep_tensor_code_and_compile_failures_fall_back(monkeypatch):
    """A variable named like a C keyword keeps its blocks in tensor code; if the library does not compile
    at all, ``auto`` warns and runs tensor code, ``c`` raises."""

    def build():
        G = b2.NeuronGroup(
            2,
            """dv/dt = (signed - v)/(10*ms) : 1
        signed : 1""",
            threshold="v > 0.5",
            reset="v = 0",
            method="exact",
            name="kw_pop",
        )
        G.signed = 1
        return [G]

    tw = biosnn.twin(build())
    assert tw.compiled_blocks()["kw_pop_stateupdater"] == "torch (the name 'signed' is reserved in C)"
    assert compiled(tw.compiled_blocks()["kw_pop_spike_resetter"])
    ref = biosnn.twin(build(), backend="torch")
    with torch.no_grad():
        _assert_same_results(tw.run(30 * ms), ref.run(30 * ms), ["kw_pop"])

    def broken(source):
        from biosnn.errors import UnsupportedFeatureError

        raise UnsupportedFeatureError("the twin's C kernels did not compile: (simulated)")

    monkeypatch.setattr(kernels, "compile_library", broken)
    objects, _ = models.lif_step_current(0.05)
    auto = biosnn.twin(b2.Network(*objects))
    with pytest.warns(RuntimeWarning, match="did not compile"), torch.no_grad():
        res = auto.run(50 * ms)
    assert set(auto.compiled_blocks().values()) == {"torch (the C kernels did not compile)"}
    objects, _ = models.lif_step_current(0.05)
    ref = biosnn.twin(b2.Network(*objects), backend="torch")
    with torch.no_grad():
        _assert_same_results(res, ref.run(50 * ms), ["lif"])
    objects, _ = models.lif_step_current(0.05)
    explicit = biosnn.twin(b2.Network(*objects), backend="c")
    from biosnn.errors import UnsupportedFeatureError

    with pytest.raises(UnsupportedFeatureError, match="did not compile"), torch.no_grad():
        explicit.run(1 * ms)


@needs_cc
def test_per_step_inputs_and_several_trials_after_a_pull_with_events_in_flight():
    """Per-step input currents (Tensor[T, B, N]) and Brian2's events in flight given to every trial: the
    compiled and the tensor back ends agree bit for bit, and trial 0 (Brian2's input) matches Brian2."""

    def build():
        G = b2.NeuronGroup(
            12,
            """dv/dt = (I - v)/(10*ms) : 1
        I : 1""",
            threshold="v > 1",
            reset="v = 0",
            refractory=1 * ms,
            method="exact",
            name="ps_pop",
        )
        G.I = np.linspace(0.8, 1.6, 12)
        S = b2.Synapses(G, G, on_pre="v_post += 0.2", delay=3 * ms, name="ps_rec")
        S.connect(p=0.4, namespace={})
        mon = b2.SpikeMonitor(G, name="ps_mon")
        return [G, S, mon], b2.Network(G, S, mon)

    results = {}
    steps = 300
    for backend in ("torch", "c"):
        b2.seed(4)
        objects, net = build()
        net.run(20 * ms, namespace={})  # spikes in flight at the pull
        tw = biosnn.twin(net, batch_size=3, backend=backend)
        current = np.asarray(objects[0].I[:])
        drive = torch.as_tensor(np.stack([current, current * 0.9, current * 1.1]), dtype=torch.float64)
        drive = drive.expand(steps, 3, 12).clone()
        drive[100:200, 1] = 0.0  # trial 1 loses its input for 10 ms
        with torch.no_grad():
            results[backend] = tw.run(steps * 0.1 * ms, inputs={"ps_pop": {"I": drive}})
        n0 = len(objects[-1].i)
        net.run(steps * 0.1 * ms, namespace={})
        brian = (np.asarray(objects[-1].i[n0:]), np.asarray(objects[-1].t_[n0:]))
    _assert_same_results(results["c"], results["torch"], ["ps_pop"])
    np.testing.assert_array_equal(results["c"].spikes["ps_pop"][0][0], brian[0])
    np.testing.assert_array_equal(np.asarray(results["c"].spikes["ps_pop"][0][1]), brian[1])
    counts = results["c"].counts["ps_pop"].sum(dim=1)
    assert len(set(counts.tolist())) == 3, counts  # the three trials differ
