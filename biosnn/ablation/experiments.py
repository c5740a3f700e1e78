r"""Experiments a sweep can run, by name: what one run builds, simulates and measures.

An :class:`Experiment` is a function ``run(*, seed, <settings>) -> {outcome: value}`` plus, optionally, a
batched form (several seeds in one simulation) and a check of its settings that the sweep calls for every
grid point before anything runs. Scalar outcomes become table columns; arrays are kept as artifacts.

Built-in experiments (:data:`EXPERIMENTS`):

``plastic_population``
    Poisson inputs onto a few conductance-based LIF neurons through a plastic projection that runs any rule
    of :data:`biosnn.plasticity.RULES` (the set-up of Song, Miller & Abbott 2000, small). Outcomes: the
    output rate, the mean and spread of the final weights (in units of ``w_max``), the fractions near 0 and
    near ``w_max`` (bimodality), and the final weights as the artifact ``weights``.
``circuit``
    Any circuit of :data:`biosnn.circuits.CIRCUITS`, built with the swept settings and run for
    ``duration``. Outcomes: the rate and ISI CV of every recorded population, and the mean and spread of
    every plastic projection's weights (artifacts ``w_<projection>``).
``training``
    A training run (:func:`biosnn.learning.train`) of ``RunConfig(**settings)``: EIHL, STBP or local-only on
    a data set, with ``nproc`` processes each (DistributedDataParallel, :func:`training_run`). Outcomes: the
    last epoch's accuracy, loss, sparsity, E/I balance and rates, and how many processes trained it.

Settings named ``rule.<parameter>`` go to the rule's constructor (``"rule.tau_plus": [10, 20] * ms``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import brian2
import numpy as np
from brian2.units.fundamentalunits import Quantity

from biosnn.errors import ParameterError
from biosnn.registry import Registry
from biosnn.units import check_quantity, check_range, to_float

RULE_PREFIX = "rule."


@dataclass(frozen=True)
class Experiment:
    """One kind of run a sweep can repeat over settings and seeds.

    Attributes
    ----------
    name
        Its name (the registry key).
    run
        ``run(*, seed, <settings>) -> Mapping[str, value]``: one run.
    run_batch
        Optional ``run_batch(*, seeds, <settings>) -> list of Mapping``: all seeds of one grid point in one
        batched simulation (the twin's batch dimension).
    check
        Optional ``check(settings)`` raising :class:`~biosnn.errors.ParameterError` (or a subclass) for
        settings the experiment cannot run; default: the settings must be keyword arguments of ``run``.
    engine, batch_engine
        What the runs execute on, for the table's ``engine`` column.
    """

    name: str
    run: Callable[..., Mapping[str, Any]]
    run_batch: Callable[..., list[Mapping[str, Any]]] | None = None
    validate: Callable[[Mapping[str, Any]], None] | None = None
    engine: str = "brian2"
    batch_engine: str = "twin"

    def check(self, settings: Mapping[str, Any]) -> None:
        """Raise if ``settings`` cannot be run (called for every grid point before the sweep starts)."""
        if self.validate is not None:
            self.validate(settings)
            return
        check_keywords(self.run, settings, what=f"experiment {self.name!r}")


def check_keywords(fn: Callable, settings: Mapping[str, Any], *, what: str) -> None:
    """Raise :class:`ParameterError` if a setting is not a keyword argument of ``fn``."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(settings) - set(params))
    if unknown:
        known = sorted(k for k in params if k != "seed")
        raise ParameterError(f"{what} has no setting(s) {unknown}; its settings: {known}")


#: Experiments by name.
EXPERIMENTS: Registry[Experiment] = Registry("experiment")


def split_rule_settings(settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split settings into the rule's constructor arguments (``rule.<name>``) and the others."""
    rule = {k[len(RULE_PREFIX) :]: v for k, v in settings.items() if k.startswith(RULE_PREFIX)}
    other = {k: v for k, v in settings.items() if not k.startswith(RULE_PREFIX)}
    return rule, other


def make_rule(rule: Any, parameters: Mapping[str, Any] | None = None):
    """A rule instance from a name (with constructor ``parameters``) or an instance (``parameters`` empty)."""
    from biosnn.plasticity import RULES, PlasticityRule

    parameters = dict(parameters or {})
    if isinstance(rule, PlasticityRule):
        if parameters:
            return type(rule)(**{**rule.get_params(), **parameters})
        return rule
    cls = RULES[rule]
    check_keywords(cls.__init__, parameters, what=f"rule {rule!r}")
    return cls(**parameters)


# ------------------------------------------------------------------------------------ plastic population

#: Neuron model of :func:`plastic_population` (Song, Miller & Abbott 2000, without the inhibitory inputs).
SONG_NEURON = """
dv/dt = (V_rest - v + g_ex * (E_ex - v)) / tau_m : volt (unless refractory)
dg_ex/dt = -g_ex / tau_ex : 1
"""


def _build_plastic_population(
    *,
    seed: int,
    rule: Any,
    rule_parameters: Mapping[str, Any] | None,
    n_inputs: int,
    n_neurons: int,
    input_rate: Quantity,
    g_max: float,
    tau_m: Quantity,
    tau_ex: Quantity,
    dt: Quantity,
) -> dict[str, Any]:
    r = make_rule(rule, rule_parameters)
    rate = check_quantity("input_rate", input_rate, brian2.Hz)
    check_range("g_max", g_max, low=0.0)
    unit = r.weight_unit
    params = r.get_params()
    w_max = float(brian2.Quantity(params["w_max"]) / unit) if "w_max" in params else 1.0
    ns = {
        "V_rest": -70 * brian2.mV,
        "E_ex": 0 * brian2.mV,
        "tau_m": tau_m,
        "tau_ex": tau_ex,
        "V_th": -54 * brian2.mV,
        "V_reset": -60 * brian2.mV,
    }
    inputs = brian2.PoissonGroup(int(n_inputs), rates=rate, dt=dt, name="inputs")
    neurons = brian2.NeuronGroup(
        int(n_neurons),
        SONG_NEURON,
        threshold="v > V_th",
        reset="v = V_reset",
        refractory=1 * brian2.ms,
        method="euler",
        namespace=ns,
        dt=dt,
        name="neurons",
    )
    neurons.v = ns["V_rest"]
    syn = r.synapses(
        inputs,
        neurons,
        effect="g_ex_post += g_syn * w / w_unit",
        dt=dt,
        name="projection",
        namespace={"g_syn": float(g_max), "w_unit": unit},
    )
    syn.connect()
    w_name = syn.plasticity_names["w"]
    setattr(syn, w_name, _initial_weights(seed, w_max, len(syn), bounded="w_max" in params) * unit)
    spikes = brian2.SpikeMonitor(neurons, name="spikes")
    return {
        "network": brian2.Network(inputs, neurons, syn, spikes),
        "synapses": syn,
        "spikes": spikes,
        "w_name": w_name,
        "unit": unit,
        "w_max": w_max,
        "n_neurons": int(n_neurons),
        "bounded": "w_max" in params,
    }


def _initial_weights(seed: int, w_max: float, n: int, *, bounded: bool) -> np.ndarray:
    """Initial weights (in weight units): uniform in [0, w_max] from ``default_rng(seed)``, or 0.5."""
    return np.random.default_rng(seed).uniform(0.0, w_max, n) if bounded else np.full(n, 0.5)


def _population_outcomes(w: np.ndarray, n_spikes: int, n_neurons: int, duration_s: float) -> dict[str, Any]:
    from biosnn.circuits.analysis import bimodality

    low, high = bimodality(w, 1.0)
    return {
        "rate_hz": float(n_spikes) / (n_neurons * duration_s),
        "w_mean": float(w.mean()),
        "w_std": float(w.std()),
        "frac_low": float(low),
        "frac_high": float(high),
        "weights": w,
    }


def plastic_population(
    *,
    seed: int,
    rule: Any = "stdp_additive",
    rule_parameters: Mapping[str, Any] | None = None,
    n_inputs: int = 200,
    n_neurons: int = 2,
    input_rate: Quantity = 20 * brian2.Hz,
    duration: Quantity = 2 * brian2.second,
    g_max: float = 0.03,
    tau_m: Quantity = 20 * brian2.ms,
    tau_ex: Quantity = 5 * brian2.ms,
    dt: Quantity = 0.1 * brian2.ms,
) -> dict[str, Any]:
    r"""Poisson inputs onto LIF neurons through one plastic projection; returns rates and weight statistics.

    Neurons (Song, Miller & Abbott 2000): :math:`\tau_m \dot V = V_{rest} - V + g_{ex}(E_{ex} - V)`,
    :math:`\tau_{ex}\dot g_{ex} = -g_{ex}`, threshold -54 mV, reset -60 mV, :math:`V_{rest}` = -70 mV,
    :math:`E_{ex}` = 0 mV; a presynaptic spike adds :math:`g_{max} w / w_{unit}` to :math:`g_{ex}`. Every
    neuron receives every input; initial weights are uniform in :math:`[0, w_{max}]` (or half a weight unit
    for rules without bounds), drawn from ``numpy.random.default_rng(seed)``.

    Returns
    -------
    dict
        ``rate_hz`` (mean output rate), ``w_mean``, ``w_std`` (final weights in units of ``w_max``),
        ``frac_low``, ``frac_high`` (fractions within 10 % of 0 and of ``w_max``), ``weights`` (array).
    """
    dur = check_quantity("duration", duration, brian2.second)
    built = _build_plastic_population(
        seed=seed,
        rule=rule,
        rule_parameters=rule_parameters,
        n_inputs=n_inputs,
        n_neurons=n_neurons,
        input_rate=input_rate,
        g_max=g_max,
        tau_m=tau_m,
        tau_ex=tau_ex,
        dt=dt,
    )
    brian2.seed(seed)
    built["network"].run(dur, namespace={})
    w = np.asarray(getattr(built["synapses"], built["w_name"])[:] / built["unit"], dtype=float) / built["w_max"]
    return _population_outcomes(w, built["spikes"].num_spikes, built["n_neurons"], float(dur / brian2.second))


def plastic_population_batch(
    *,
    seeds: list[int],
    rule: Any = "stdp_additive",
    rule_parameters: Mapping[str, Any] | None = None,
    n_inputs: int = 200,
    n_neurons: int = 2,
    input_rate: Quantity = 20 * brian2.Hz,
    duration: Quantity = 2 * brian2.second,
    g_max: float = 0.03,
    tau_m: Quantity = 20 * brian2.ms,
    tau_ex: Quantity = 5 * brian2.ms,
    dt: Quantity = 0.1 * brian2.ms,
) -> list[dict[str, Any]]:
    """:func:`plastic_population` for several seeds at once: one run of the twin with one trial per seed.

    The circuit is built once and compiled into a twin (:func:`biosnn.twin`) with
    ``batch_size = len(seeds)``. Trial ``b`` starts from the initial weights :func:`plastic_population`
    draws for ``seeds[b]`` and draws its own Poisson inputs from the twin's generator (seeded with
    ``seeds[0]``), so the trials are independent realisations, like separate Brian2 runs with different
    seeds, but not the same random numbers as those runs.
    """
    import torch

    import biosnn

    dur = check_quantity("duration", duration, brian2.second)
    built = _build_plastic_population(
        seed=seeds[0],
        rule=rule,
        rule_parameters=rule_parameters,
        n_inputs=n_inputs,
        n_neurons=n_neurons,
        input_rate=input_rate,
        g_max=g_max,
        tau_m=tau_m,
        tau_ex=tau_ex,
        dt=dt,
    )
    twin = biosnn.twin(built["network"], batch_size=len(seeds), seed=int(seeds[0]))
    unit_si = float(np.asarray(built["unit"]))
    n_syn = len(built["synapses"])
    w0 = np.stack([_initial_weights(seed, built["w_max"], n_syn, bounded=built["bounded"]) for seed in seeds])
    with torch.no_grad():
        result = twin.run(dur, inputs={"projection": {built["w_name"]: torch.as_tensor(w0 * unit_si)}})
    counts = result.counts["neurons"].sum(dim=1).cpu().numpy()
    out = []
    for b in range(len(seeds)):
        w = twin.variable("projection", built["w_name"], batch_index=b).detach().cpu().numpy()
        w = np.asarray(w, dtype=float) / unit_si / built["w_max"]
        out.append(_population_outcomes(w, int(counts[b]), built["n_neurons"], float(dur / brian2.second)))
    return out


def _check_plastic_population(settings: Mapping[str, Any]) -> None:
    rule_params, other = split_rule_settings(settings)
    check_keywords(plastic_population, other, what="experiment 'plastic_population'")
    make_rule(other.get("rule", "stdp_additive"), {**dict(other.get("rule_parameters") or {}), **rule_params})
    if "input_rate" in other:
        check_quantity("input_rate", other["input_rate"], brian2.Hz)
    if "duration" in other:
        to_float("duration", other["duration"], brian2.second)


def _run_plastic_population(*, seed: int, **settings: Any) -> dict[str, Any]:
    rule_params, other = split_rule_settings(settings)
    merged = {**dict(other.pop("rule_parameters", None) or {}), **rule_params}
    return plastic_population(seed=seed, rule_parameters=merged, **other)


def _run_plastic_population_batch(*, seeds: list[int], **settings: Any) -> list[dict[str, Any]]:
    rule_params, other = split_rule_settings(settings)
    merged = {**dict(other.pop("rule_parameters", None) or {}), **rule_params}
    return plastic_population_batch(seeds=seeds, rule_parameters=merged, **other)


EXPERIMENTS.register(
    "plastic_population",
    Experiment(
        "plastic_population",
        _run_plastic_population,
        run_batch=_run_plastic_population_batch,
        validate=_check_plastic_population,
    ),
)


# -------------------------------------------------------------------------------------------- circuits


def circuit_run(
    *, seed: int, circuit: str, duration: Quantity, settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Build ``CIRCUITS[circuit](**settings, seed=seed)``, run it for ``duration`` and measure it.

    Returns
    -------
    dict
        ``rate_<population>`` (Hz) and ``cv_<population>`` (mean ISI CV, ``nan`` without enough spikes)
        for every spike monitor ``spikes_<population>``; ``w_mean_<projection>`` and ``w_std_<projection>``
        and the artifact ``w_<projection>`` for every projection built from a plasticity rule.
    """
    from biosnn.circuits import CIRCUITS
    from biosnn.circuits.analysis import firing_rates, isi_cv

    builder = CIRCUITS[circuit]
    kwargs = dict(settings or {})
    if "seed" in inspect.signature(builder).parameters:
        kwargs["seed"] = seed
    c = builder(**kwargs)
    start = c.network.t
    c.run(duration)
    stop = c.network.t
    out: dict[str, Any] = {}
    for name, mon in sorted(c.monitors.items()):
        if isinstance(mon, brian2.SpikeMonitor):
            pop = name.removeprefix("spikes_")
            n = int(mon.source.N)
            rates = firing_rates(mon.i[:], mon.t[:], n, start=start, stop=stop)
            out[f"rate_{pop}"] = float(np.mean(rates / brian2.Hz))
            cvs = isi_cv(mon.i[:], mon.t[:], n, start=start, stop=stop)
            out[f"cv_{pop}"] = float(np.nanmean(cvs)) if np.any(np.isfinite(cvs)) else float("nan")
    for name, syn in sorted(c.projections.items()):
        names = getattr(syn, "plasticity_names", None)
        if names is None:
            continue
        rule = getattr(syn, "plasticity_rule", None)
        unit = rule.weight_unit if rule is not None else 1.0
        w = np.asarray(getattr(syn, names["w"])[:] / unit, dtype=float)
        out[f"w_mean_{name}"] = float(w.mean()) if w.size else float("nan")
        out[f"w_std_{name}"] = float(w.std()) if w.size else float("nan")
        out[f"w_{name}"] = w
    return out


def _check_circuit(settings: Mapping[str, Any]) -> None:
    from biosnn.circuits import CIRCUITS

    if "circuit" not in settings or "duration" not in settings:
        raise ParameterError("experiment 'circuit' needs the settings 'circuit' (a name) and 'duration'")
    builder = CIRCUITS[settings["circuit"]]
    to_float("duration", settings["duration"], brian2.second)
    rest = {k: v for k, v in settings.items() if k not in ("circuit", "duration")}
    check_keywords(builder, rest, what=f"circuit {settings['circuit']!r}")


def _run_circuit(*, seed: int, circuit: str, duration: Quantity, **settings: Any) -> dict[str, Any]:
    return circuit_run(seed=seed, circuit=circuit, duration=duration, settings=settings)


EXPERIMENTS.register("circuit", Experiment("circuit", _run_circuit, validate=_check_circuit))


# -------------------------------------------------------------------------------------------- training

#: The final-epoch metrics a ``training`` run reports (the table stays deterministic: no wall times).
TRAINING_OUTCOMES = (
    "loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "sparsity",
    "ei_balance",
    "ei_index",
    "firing_rate",
    "output_rate",
    "global_iterations",
    "local_iterations",
)


def training_run(*, seed: int, nproc: int | None = None, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train ``RunConfig(**settings, seed=seed)`` with :func:`biosnn.learning.train` on ``nproc`` processes.

    ``nproc`` > 1 trains with DistributedDataParallel (:mod:`biosnn.learning.distributed`; the result equals
    the one-process run's to round-off), so each run of a sweep may itself use several cores. A sweep's
    workers then run ``max_workers x nproc`` processes in all. On a Dask cluster the workers must be allowed
    to start processes (their nanny starts them as daemons by default: set the Dask configuration
    ``distributed.worker.daemon`` to ``False``, or start the workers with ``--no-nanny``).

    Returns
    -------
    dict
        The last epoch's :data:`TRAINING_OUTCOMES`, ``epochs`` (epochs done) and ``processes`` (how many
        trained the run).
    """
    from biosnn.learning.run import RunConfig, train

    config = RunConfig(**{**dict(settings or {}), "seed": int(seed)})
    result = train(config, plot=False, nproc=nproc)
    final = result.final
    out: dict[str, Any] = {k: final[k] for k in TRAINING_OUTCOMES if k in final}
    out["epochs"] = int(final["epoch"])
    out["processes"] = int(getattr(result, "world_size", 1))
    return out


def _check_training(settings: Mapping[str, Any]) -> None:
    from biosnn.learning.distributed import launch_mode
    from biosnn.learning.run import RunConfig
    from biosnn.learning.trainer import resolve_device

    rest = {k: v for k, v in settings.items() if k != "nproc"}
    if "seed" in rest:
        raise ParameterError("experiment 'training' takes its seed from the sweep's seeds, not from a setting")
    config = RunConfig.from_dict({**rest, "seed": 0})  # unknown names and bad values refused here
    launch_mode(settings.get("nproc"), resolve_device(config.device))


def _run_training(*, seed: int, nproc: int | None = None, **settings: Any) -> dict[str, Any]:
    return training_run(seed=seed, nproc=nproc, settings=settings)


EXPERIMENTS.register("training", Experiment("training", _run_training, validate=_check_training, engine="torch"))
