"""Models for the twin's tests, written by hand in plain Brian2 (explicit Network, explicit namespaces).

Each builder returns ``(objects, monitored)``: the Brian2 objects and the names of the groups whose spikes
are compared. Inputs are deterministic (SpikeGeneratorGroup spike lists drawn from a seeded NumPy
generator, TimedArrays, initial values), so Brian2 and the twin see the same inputs.
"""

from __future__ import annotations

import brian2 as b2
import numpy as np
from brian2 import Hz, cm, ms, msiemens, mV, nA, nS, pA, pF, second, siemens, ufarad, umetre

DT = 0.1 * ms


def poisson_spike_list(n: int, rate: float, duration: float, seed: int, dt: float = 1e-4):
    """Indices and times of independent Poisson trains (at most one spike per neuron and step)."""
    r = np.random.default_rng(seed)
    steps = int(round(duration / dt))
    mask = r.random((steps, n)) < rate * dt
    t, i = np.nonzero(mask)
    return i, t * dt * second


def lif_step_current(duration=1.0):
    """A single LIF neuron under a step current (TimedArray), with refractoriness."""
    values = np.zeros(int(duration / 0.05) + 1)
    values[2:] = 1.5
    values[10:14] = 0.0
    values[14:] = 2.2
    stim = b2.TimedArray(values, dt=50 * ms, name="lif_step")
    G = b2.NeuronGroup(
        1,
        "dv/dt = (stim(t) - v)/tau : 1 (unless refractory)",
        threshold="v > 1",
        reset="v = 0",
        refractory=3 * ms,
        method="exact",
        namespace={"stim": stim, "tau": 10 * ms},
        name="lif",
    )
    return [G], ["lif"]


def adex(duration=1.0):
    """Adaptive exponential integrate-and-fire (Brette & Gerstner 2005), three current steps."""
    eqs = """dv/dt = (gL*(EL - v) + gL*DeltaT*exp((v - VT)/DeltaT) - w + I)/C : volt
    dw/dt = (a*(v - EL) - w)/tauw : amp
    I : amp"""
    ns = dict(
        gL=30 * nS,
        EL=-70.6 * mV,
        DeltaT=2 * mV,
        VT=-50.4 * mV,
        C=281 * pF,
        a=4 * nS,
        tauw=144 * ms,
        b=80.5 * pA,
        Vr=-70.6 * mV,
    )
    G = b2.NeuronGroup(
        3, eqs, threshold="v > -40*mV", reset="v = Vr; w += b", method="euler", namespace=ns, name="adex"
    )
    G.v = -70.6 * mV
    G.I = [0.8, 1.2, 2.0] * nA
    return [G], ["adex"]


def izhikevich(duration=1.0):
    """Izhikevich (2003) regular-spiking neurons under four constant currents."""
    eqs = """dv/dt = (0.04*v**2/mV + 5*v + 140*mV - u + I)/ms : volt
    du/dt = a*(b*v - u)/ms : volt
    I : volt"""
    G = b2.NeuronGroup(
        4,
        eqs,
        threshold="v >= 30*mV",
        reset="v = c; u += d",
        method="euler",
        namespace=dict(a=0.02, b=0.2, c=-65 * mV, d=8 * mV),
        name="izh",
    )
    G.v = -65 * mV
    G.u = "0.2*v"
    G.I = [5, 10, 15, 20] * mV
    return [G], ["izh"]


def cobahh(duration=1.0, n=40):
    """COBAHH (Brette et al. 2007): Hodgkin-Huxley neurons with E/I conductance synapses, driven by
    Poisson spike lists, recurrently connected (small version)."""
    area = 20000 * umetre**2
    ns = dict(
        Cm=(1 * ufarad * cm**-2) * area,
        gl=(5e-5 * siemens * cm**-2) * area,
        El=-60 * mV,
        EK=-90 * mV,
        ENa=50 * mV,
        g_na=(100 * msiemens * cm**-2) * area,
        g_kd=(30 * msiemens * cm**-2) * area,
        VT=-63 * mV,
        taue=5 * ms,
        taui=10 * ms,
        Ee=0 * mV,
        Ei=-80 * mV,
        we=6 * nS,
        wi=67 * nS,
    )
    eqs = """dv/dt = (gl*(El-v) + ge*(Ee-v) + gi*(Ei-v) - g_na*(m*m*m)*h*(v-ENa) - g_kd*(n*n*n*n)*(v-EK))/Cm : volt
    dm/dt = 0.32*(mV**-1)*4*mV/exprel((13.*mV-v+VT)/(4*mV))/ms*(1-m)-0.28*(mV**-1)*5*mV/exprel((v-VT-40.*mV)/(5*mV))/ms*m : 1
    dn/dt = 0.032*(mV**-1)*5*mV/exprel((15.*mV-v+VT)/(5*mV))/ms*(1.-n)-.5*exp((10.*mV-v+VT)/(40.*mV))/ms*n : 1
    dh/dt = 0.128*exp((17.*mV-v+VT)/(18.*mV))/ms*(1.-h)-4./(1+exp((40.*mV-v+VT)/(5.*mV)))/ms*h : 1
    dge/dt = -ge/taue : siemens
    dgi/dt = -gi/taui : siemens"""  # noqa: E501
    P = b2.NeuronGroup(
        n, eqs, threshold="v > -20*mV", refractory=3 * ms, method="exponential_euler", namespace=ns, name="hh"
    )
    rng = np.random.default_rng(11)
    P.v = (-60 + 5 * rng.standard_normal(n)) * mV
    P.m, P.n, P.h = 0.05, 0.3, 0.6
    ne = int(0.8 * n)
    inp = b2.SpikeGeneratorGroup(50, *poisson_spike_list(50, 20.0, duration, 12), name="hh_input")
    Sin = b2.Synapses(inp, P, on_pre="ge += 3*we", namespace=ns, name="hh_in")
    Ce = b2.Synapses(P[:ne], P, on_pre="ge += we", namespace=ns, name="hh_ce")
    Ci = b2.Synapses(P[ne:], P, on_pre="gi += wi", namespace=ns, name="hh_ci")
    # connectivity from a seeded NumPy generator: the same for every Brian2 target
    for syn, n_pre, p in ((Sin, 50, 0.2), (Ce, ne, 0.1), (Ci, n - ne, 0.1)):
        i, j = np.nonzero(rng.random((n_pre, n)) < p)
        syn.connect(i=i, j=j)
    return [P, inp, Sin, Ce, Ci], ["hh"]


def song_stdp(duration=1.0, n_in=200):
    """Song, Miller & Abbott (2000): additive STDP with event-driven traces and clip."""
    ns = dict(
        taum=10 * ms,
        taupre=20 * ms,
        taupost=20 * ms,
        Ee=0 * mV,
        vt=-54 * mV,
        vr=-60 * mV,
        El=-74 * mV,
        taue=5 * ms,
        gmax=0.1,
        dApre=0.01 * 0.1,
        dApost=-0.01 * 0.1 * 1.05,
    )
    inp = b2.SpikeGeneratorGroup(n_in, *poisson_spike_list(n_in, 15.0, duration, 21), name="song_input")
    post = b2.NeuronGroup(
        2,
        """dv/dt = (ge*(Ee - v) + El - v)/taum : volt
    dge/dt = -ge/taue : 1""",
        threshold="v > vt",
        reset="v = vr",
        method="euler",
        namespace=ns,
        name="song_post",
    )
    post.v = ns["vr"]
    S = b2.Synapses(
        inp,
        post,
        """w : 1
    dApre/dt = -Apre/taupre : 1 (event-driven)
    dApost/dt = -Apost/taupost : 1 (event-driven)""",
        on_pre="""ge += w
    Apre += dApre
    w = clip(w + Apost, 0, gmax)""",
        on_post="""Apost += dApost
    w = clip(w + Apre, 0, gmax)""",
        namespace=ns,
        name="song_syn",
    )
    S.connect()
    S.w = np.random.default_rng(22).uniform(0, ns["gmax"], len(S))
    return [inp, post, S], ["song_post"], "song_syn"


def triplet_stdp(duration=1.0, n_in=60):
    """Pfister & Gerstner (2006) minimal all-to-all triplet rule (visual cortex parameters)."""
    ns = dict(
        tau_plus=16.8 * ms,
        tau_minus=33.7 * ms,
        tau_x=101 * ms,
        tau_y=125 * ms,
        A2p=0.0,
        A3p=6.5e-3,
        A2m=7.1e-3,
        A3m=0.0,
        wmax=1.0,
        taum=10 * ms,
        taue=5 * ms,
    )
    inp = b2.SpikeGeneratorGroup(n_in, *poisson_spike_list(n_in, 20.0, duration, 31), name="trip_input")
    post = b2.NeuronGroup(
        2,
        """dv/dt = (ge - v)/taum : 1
    dge/dt = -ge/taue : 1""",
        threshold="v > 1",
        reset="v = 0",
        method="exact",
        namespace=ns,
        name="trip_post",
    )
    S = b2.Synapses(
        inp,
        post,
        """w : 1
    dr1/dt = -r1/tau_plus : 1 (event-driven)
    dr2/dt = -r2/tau_x : 1 (event-driven)
    do1/dt = -o1/tau_minus : 1 (event-driven)
    do2/dt = -o2/tau_y : 1 (event-driven)""",
        on_pre="""ge_post += 0.5*w
    w = clip(w - o1*(A2m + A3m*r2), 0, wmax)
    r1 += 1
    r2 += 1""",
        on_post="""w = clip(w + r1*(A2p + A3p*o2), 0, wmax)
    o1 += 1
    o2 += 1""",
        namespace=ns,
        name="trip_syn",
    )
    S.connect()
    S.w = np.random.default_rng(32).uniform(0.2, 0.6, len(S))
    return [inp, post, S], ["trip_post"], "trip_syn"


def vogels_istdp(duration=1.0):
    """Vogels et al. (2011) inhibitory STDP onto conductance-based LIF cells driven by excitation."""
    ns = dict(
        tau_stdp=20 * ms,
        eta=1e-2,
        alpha=3 * Hz * 2 * 20 * ms,
        gmax=100.0,
        taum=20 * ms,
        El=-60 * mV,
        Ee=0 * mV,
        Ei=-80 * mV,
        vt=-50 * mV,
        taue=5 * ms,
        taui=10 * ms,
        gl=10 * nS,
    )
    exc = b2.SpikeGeneratorGroup(80, *poisson_spike_list(80, 20.0, duration, 41), name="vog_exc")
    inh = b2.SpikeGeneratorGroup(20, *poisson_spike_list(20, 20.0, duration, 42), name="vog_inh")
    post = b2.NeuronGroup(
        3,
        """dv/dt = (gl*(El - v) + ge*(Ee - v) + gi*(Ei - v))/(gl*taum) : volt (unless refractory)
    dge/dt = -ge/taue : siemens
    dgi/dt = -gi/taui : siemens""",
        threshold="v > vt",
        reset="v = El",
        refractory=5 * ms,
        method="euler",
        namespace=ns,
        name="vog_post",
    )
    post.v = ns["El"]
    Se = b2.Synapses(exc, post, on_pre="ge += 3*nS", namespace=ns, name="vog_e")
    Se.connect()
    Si = b2.Synapses(
        inh,
        post,
        """w : 1
    dApre/dt = -Apre/tau_stdp : 1 (event-driven)
    dApost/dt = -Apost/tau_stdp : 1 (event-driven)""",
        on_pre="""Apre += 1.
    w = clip(w + (Apost - alpha)*eta, 0, gmax)
    gi += w*nS""",
        on_post="""Apost += 1.
    w = clip(w + Apre*eta, 0, gmax)""",
        namespace=ns,
        name="vog_i",
    )
    Si.connect()
    Si.w = 1.0
    return [exc, inh, post, Se, Si], ["vog_post"], "vog_i"


def feedforward_ei(duration=1.0):
    """Input -> E/I population (subgroups) with heterogeneous delays on two projections, homogeneous on one."""
    inp = b2.SpikeGeneratorGroup(40, *poisson_spike_list(40, 20.0, duration, 51), name="ff_input")
    eqs = """dv/dt = (ge*(0*mV - v) + gi*(-80*mV - v) + (-60*mV - v))/(20*ms) : volt (unless refractory)
    dge/dt = -ge/(5*ms) : 1
    dgi/dt = -gi/(10*ms) : 1"""
    P = b2.NeuronGroup(
        30,
        eqs,
        threshold="v > -50*mV",
        reset="v = -60*mV",
        refractory=5 * ms,
        method="exponential_euler",
        name="ff_pop",
    )
    rng = np.random.default_rng(52)
    P.v = (-60 + 10 * rng.random(30)) * mV
    E, I = P[:24], P[24:]
    S1 = b2.Synapses(inp, P, "w : 1", on_pre="ge_post += w", name="ff_in")
    S1.connect(p=0.3)
    S1.w = rng.random(len(S1)) * 0.3
    S1.delay = rng.random(len(S1)) * 5 * ms
    S2 = b2.Synapses(E, P, "w : 1", on_pre="ge_post += w", name="ff_ee")
    S2.connect(p=0.2)
    S2.w = rng.random(len(S2)) * 0.2
    S2.delay = (1 + 3 * rng.random(len(S2))) * ms
    S3 = b2.Synapses(I, E, "w : 1", on_pre="gi_post += w", delay=2 * ms, name="ff_ie")
    S3.connect(p=0.5)
    S3.w = rng.random(len(S3)) * 0.5
    return [inp, P, S1, S2, S3], ["ff_pop"]


def summed_model(duration=1.0):
    """Clock-driven synaptic variables summed into the target (``(summed)``), plus a run_regularly."""
    inp = b2.SpikeGeneratorGroup(20, *poisson_spike_list(20, 30.0, duration, 61), name="sum_input")
    G = b2.NeuronGroup(
        5,
        """dv/dt = (I_syn - v)/(10*ms) : 1
    I_syn : 1""",
        threshold="v > 0.8",
        reset="v = 0",
        method="exact",
        name="sum_post",
    )
    S = b2.Synapses(
        inp,
        G,
        """ds/dt = -s/(5*ms) : 1 (clock-driven)
    w : 1
    I_syn_post = w*s : 1 (summed)""",
        on_pre="s += 1",
        method="exact",
        name="sum_syn",
    )
    S.connect(p=0.6)
    S.w = np.random.default_rng(62).random(len(S)) * 0.8
    G.run_regularly("v = v*0.99", dt=1 * ms, name="sum_leak")
    return [inp, G, S], ["sum_post"]


def index_dependent(duration=1.0):
    """A drive written with the neuron index and Python numbers (``0.1*i``, ``sin(... + i)``, ``exprel``,
    ``clip``, ``sign``): NumPy computes integer arrays times numbers in float64."""
    G = b2.NeuronGroup(
        8,
        """dv/dt = (drive - v)/(10*ms) : 1
    drive = 1.02 + 0.004*i + 0.05*sin(2*pi*t/(7*ms) + i) + 0.01*exprel(0.1*i) + clip(i*0.01, 0, 0.05)
            + 0.01*sign(sin(2*pi*t/(11*ms) + 0.5*i)) : 1""",
        threshold="v > 1",
        reset="v = 0",
        method="euler",
        name="indexed",
    )
    G.v = "0.1*i"
    return [G], ["indexed"]


def cuba(n=1000, p=None, seed=1):
    """CUBA benchmark network (Brette et al. 2007 / Vogels & Abbott 2005), exact integration."""
    p = p if p is not None else 80.0 / n
    ns = dict(
        taum=20 * ms,
        taue=5 * ms,
        taui=10 * ms,
        Vt=-50 * mV,
        Vr=-60 * mV,
        El=-49 * mV,
        we=(60 * 0.27 / 10) * mV,
        wi=(-20 * 4.5 / 10) * mV,
    )
    P = b2.NeuronGroup(
        n,
        """dv/dt = (ge + gi - (v - El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt""",
        threshold="v > Vt",
        reset="v = Vr",
        refractory=5 * ms,
        method="exact",
        namespace=ns,
        name="cuba",
    )
    rng = np.random.default_rng(seed)
    P.v = ns["Vr"] + rng.random(n) * (ns["Vt"] - ns["Vr"])
    ne = int(0.8 * n)
    Ce = b2.Synapses(P[:ne], P, on_pre="ge += we", namespace=ns, name="cuba_e")
    Ci = b2.Synapses(P[ne:], P, on_pre="gi += wi", namespace=ns, name="cuba_i")
    b2.seed(seed)
    Ce.connect(p=p)
    Ci.connect(p=p)
    return [P, Ce, Ci], ["cuba"]


def coba(n=1000, p=None, seed=2):
    """COBA benchmark network (Vogels & Abbott 2005), conductance synapses, exact-linear integration."""
    p = p if p is not None else 80.0 / n
    scale = 1.0
    ns = dict(
        taum=20 * ms,
        taue=5 * ms,
        taui=10 * ms,
        Vt=-50 * mV,
        Vr=-60 * mV,
        El=-60 * mV,
        Ee=0 * mV,
        Ei=-80 * mV,
        we=0.6 * scale,
        wi=6.7 * scale,
    )
    P = b2.NeuronGroup(
        n,
        """dv/dt = (ge*(Ee - v) + gi*(Ei - v) - (v - El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : 1
    dgi/dt = -gi/taui : 1""",
        threshold="v > Vt",
        reset="v = Vr",
        refractory=5 * ms,
        method="euler",
        namespace=ns,
        name="coba",
    )
    rng = np.random.default_rng(seed)
    # Brian2's COBA example: v = El + (5 randn - 5) mV, ge = (1.5 randn + 4) gl, gi = (12 randn + 20) gl
    P.v = (-60 + 5 * rng.standard_normal(n) - 5) * mV
    P.ge = 4 + 1.5 * rng.standard_normal(n)
    P.gi = 20 + 12 * rng.standard_normal(n)
    ne = int(0.8 * n)
    Ce = b2.Synapses(P[:ne], P, on_pre="ge += we", namespace=ns, name="coba_e")
    Ci = b2.Synapses(P[ne:], P, on_pre="gi += wi", namespace=ns, name="coba_i")
    b2.seed(seed)
    Ce.connect(p=p)
    Ci.connect(p=p)
    return [P, Ce, Ci], ["coba"]


def brunel(n=1000, duration=1.0, seed=3):
    """Brunel (2000) sparse E/I network (regime 'SI': g=5, nu_ext/nu_thr=2), external Poisson drive given
    as a deterministic spike list (the same spikes for both engines), homogeneous delay 1.5 ms."""
    ne = int(0.8 * n)
    n - ne
    ce = int(0.1 * ne)
    ns = dict(tau=20 * ms, theta=20 * mV, Vr=10 * mV, J=0.2 * mV, g=5.0)
    P = b2.NeuronGroup(
        n,
        "dv/dt = -v/tau : volt (unless refractory)",
        threshold="v > theta",
        reset="v = Vr",
        refractory=2 * ms,
        method="exact",
        namespace=ns,
        name="brunel",
    )
    rng = np.random.default_rng(seed)
    P.v = rng.random(n) * 20 * mV
    b2.seed(seed)
    Ce = b2.Synapses(P[:ne], P, on_pre="v += J", delay=1.5 * ms, namespace=ns, name="brunel_e")
    Ci = b2.Synapses(P[ne:], P, on_pre="v += -g*J", delay=1.5 * ms, namespace=ns, name="brunel_i")
    Ce.connect(p=0.1)
    Ci.connect(p=0.1)
    nu_thr = ns["theta"] / (ns["J"] * ce * ns["tau"])
    n_ext = 40
    rate_ext = 2 * float(nu_thr) * ce / n_ext
    ext = b2.SpikeGeneratorGroup(
        n_ext * 10, *poisson_spike_list(n_ext * 10, rate_ext, duration, seed + 100), name="brunel_ext"
    )
    Sext = b2.Synapses(ext, P, on_pre="v += J", namespace=ns, name="brunel_x")
    Sext.connect(i=rng.integers(0, n_ext * 10, size=(n, n_ext)).ravel(), j=np.repeat(np.arange(n), n_ext))
    return [P, Ce, Ci, ext, Sext], ["brunel"]
