r"""The twin: a Brian2 network compiled into a differentiable PyTorch module.

:func:`twin` takes a :class:`brian2.Network` (or Brian2 objects) written in plain Brian2 and returns a
:class:`Twin`, a :class:`torch.nn.Module` that simulates the same network step by step with Brian2's
``dt``, for ``B`` independent trials at once, with surrogate gradients at every threshold.

How it stays identical to Brian2 (float64, CPU):

* the update code is Brian2's own: the abstract code its state updaters (``exact``, ``euler``,
  ``exponential_euler``, ``rk2``, ``rk4``, ``heun`` ...) produce for each group, translated with Brian2's
  statement pipeline (:mod:`biosnn.twins.codegen`);
* the objects run in Brian2's schedule order (``when``, ``order``, name) with Brian2's template
  semantics (threshold, reset, refractoriness, spike queue order, ``numpy.add.at``, ``bincount``);
* functions whose rounding differs between NumPy and PyTorch are computed by NumPy in the forward pass
  (:mod:`biosnn.twins.functions`).

Gradients: spikes are Brian2's boolean condition in the forward pass and carry the surrogate derivative
of the distance to threshold (``a - b`` for a threshold ``a > b``, divided by 1 mV when it is a voltage)
in the backward pass. Resets are detached from the spike (``v = where(spike, v_r, v)``). Synaptic
accumulation ``x_post += f(w)`` is computed on the spiking synapses (exact forward) plus a zero-valued
dense term whose gradient is that of ``x_post += sum_pre f(w) s_pre`` over all synapses, so gradients
reach every weight and every presynaptic neuron's surrogate, not only those that spiked.

Random numbers (``rand()``, ``randn()``, PoissonGroup, PoissonInput) come by default from the twin's own
seeded ``torch.Generator`` (its streams differ from Brian2's). With ``random="numpy"`` they come from
NumPy's global generator, drawn as Brian2's numpy target draws them: with one trial, the twin and Brian2
then see the same random numbers after the same ``brian2.seed(...)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import brian2
import numpy as np
import torch
from brian2.core.variables import ArrayVariable

from biosnn.errors import ParameterError
from biosnn.surrogate import Surrogate, as_surrogate
from biosnn.twins import capture as _capture
from biosnn.twins.build import Build
from biosnn.twins.codegen import array_key
from biosnn.twins.options import check_arguments, check_device, check_gradients, check_random, check_threads
from biosnn.twins.plan import any_requires_grad, group_named
from biosnn.twins.runtime import RANDOM_SOURCES, default_dtype
from biosnn.twins.simulate import Simulation, plan_run
from biosnn.twins.state import TwinState, check_batch_index
from biosnn.twins.targets import Target, choose_target


@dataclass
class TwinResult:
    """What :meth:`Twin.run` returns.

    Attributes
    ----------
    spike_trains
        ``spike_trains[group] -> Tensor[T, B, N]`` of 0/1 spikes (with the surrogate gradient when
        gradients are enabled).
    spikes
        ``spikes[group][b] -> (indices: np.ndarray, times: Quantity)``, ordered as Brian2's
        ``SpikeMonitor.it`` (by time, then index).
    states
        ``states[group][var] -> Tensor[T, B, N]`` in Brian2 base SI units, sampled at the start of each
        step (as a ``StateMonitor`` with ``when="start"``).
    t
        The time grid of the run (Quantity, ``T`` values).
    """

    spike_trains: Mapping[str, torch.Tensor]
    spikes: dict[str, list[tuple[np.ndarray, Any]]]
    states: dict[str, dict[str, torch.Tensor]]
    t: Any
    counts: dict[str, torch.Tensor] = field(default_factory=dict)


class Twin(torch.nn.Module):
    """A Brian2 network as a PyTorch module; see :func:`twin`.

    A facade over the layers: :mod:`~biosnn.twins.capture` (the network as scheduled blocks),
    :mod:`~biosnn.twins.state` (arrays, parameters, the bridge to Brian2), :mod:`~biosnn.twins.codegen` and
    :mod:`~biosnn.twins.targets` (the code of every block), :mod:`~biosnn.twins.runtime` (the operations),
    :mod:`~biosnn.twins.plan` and :mod:`~biosnn.twins.result` (a run's inputs, records and result).
    """

    def __init__(
        self,
        network_or_objects,
        *,
        batch_size: int = 1,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
        surrogate: Surrogate | str | None = None,
        learnable: Sequence[str] = (),
        namespace: Mapping[str, Any] | None = None,
        exact: bool | None = None,
        seed: int | None = None,
        backend: str = "auto",
        random: str = "torch",
        threads: int = 1,
        gradients: str = "auto",
    ) -> None:
        super().__init__()
        args = dict(batch_size=batch_size, dtype=dtype, namespace=namespace, exact=exact, seed=seed, random=random)
        self.learnable = check_arguments(learnable=learnable, **args)
        self.net, self._own_network = _capture.network_of(network_or_objects)
        self.batch_size, self.dtype, self.device = int(batch_size), dtype, check_device(device)
        self.surrogate = as_surrogate(surrogate)
        # as Network.run(namespace=None): the names of the caller's frame (Brian2's get_local_namespace)
        self.namespace = dict(namespace) if namespace is not None else _capture.caller_namespace()
        self.exact = (self.device.type == "cpu") if exact is None else bool(exact)
        target = choose_target(backend, dtype, self.device)
        self.threads = check_threads(threads)
        self.gradients = check_gradients(gradients)
        rng = RANDOM_SOURCES[check_random(random)](self.device, dtype, seed)
        self.params = torch.nn.ParameterDict()
        self._state = TwinState(self.params, dtype, self.device, self.namespace)
        #: bytes autograd kept for the backward pass per step in the last run with gradients (measured on its
        #: first steps and every 64th, see :class:`biosnn.twins.runtime.GradientMemoryGuard`), or ``None``
        self.gradient_bytes_per_step: float | None = None
        self.last_run_path = ""  #: how the last run ran (:meth:`biosnn.twins.simulate.Simulation.path`)
        self._build = Build(
            self.net, self.namespace, self.learnable, self._state, target, backend, rng, self.exact, self.device, dtype
        )
        self.dt = self._build.network.dt
        self.pull()
        self._build.build(frozenset(self._state.written))  # every block now: unsupported constructs show here

    @property
    def backend(self) -> Target:
        """The target that runs the blocks without gradients (:data:`biosnn.twins.targets.TARGETS`)."""
        return self._build.target

    def compiled_blocks(self) -> dict[str, str]:
        """How each Brian2 object runs without gradients: ``"c"`` (compiled kernel) or ``"torch (reason)"``."""
        return dict(self._build.ensure().status)

    def generated_code(self) -> str:
        """The Python source the twin generated for every block (for inspection)."""
        self._build.ensure()
        blocks = [s.block for s in self._build.network.schedule if s.block is not None]
        return "\n".join(f"# {b.captured.name}\n{b.source}" for b in blocks)

    # --------------------------------------------------------------------------------------- the bridge
    def pull(self) -> None:
        """Copy every state variable, weight and connectivity from the Brian2 objects into the twin.

        The structure is read again too (synapses created or delays changed in Brian2 since the last
        pull). The twin's time becomes the network's time, and the synaptic events in flight in Brian2's
        spike queues become the twin's (every trial gets them), so a delayed network continues exactly.
        Learnable parameters keep their identity (their ``.data`` is overwritten), so optimisers holding
        them stay valid (unless their size changed in Brian2: then they are new parameters).

        Raises
        ------
        NonFiniteError
            If a floating-point variable in Brian2 holds NaN, or an infinite value where the twin updates
            it (a state variable; constants and ``lastspike`` may be infinite). Brian2 would simulate it;
            the twin refuses before anything of its own changes.
        """
        if self._state.pulled:
            # Brian2's values are checked before anything of the twin changes (with the structure known so
            # far; arrays new in Brian2 are checked below); then the structure is read again
            self._state.check_brian_values(self._state.brian_floats(), self.net.name)
            self._build.capture()
            self.dt = self._build.network.dt
        self._state.pull(self._build.network.pathways(), self.net.name)
        self._state.start_at(float(self.net.t_), self.dt)
        self._build.compiled_for = None  # the code binds the pulled parameters: generated again at the next run
        for op in self._build.ops:
            op.reset_state()

    def reset(self) -> None:
        """Return the state to the last :meth:`pull` (learnable parameters keep their current values)."""
        self._state.rewind()
        for op in self._build.ops:
            op.reset_state()

    def push(self, batch_index: int = 0) -> None:
        """Write the twin's state (trial ``batch_index``), weights and time back into the Brian2 objects.

        In float64 a ``pull()``/``push()`` round trip is bit-exact; synapses absent in Brian2 are absent
        in the twin and stay absent. The trial's synaptic events in flight replace those in Brian2's
        spike queues.

        Raises
        ------
        ParameterError
            If ``batch_index`` is not an integer in ``0 .. B-1``, or Brian2's arrays changed size since the
            last pull.
        NonFiniteError
            If a value to be written holds NaN (or inf where the twin updates it). Everything is checked
            before anything is written: on an error Brian2's objects are unchanged.
        """
        b = check_batch_index("push()", batch_index, self.batch_size)
        self._state.push(b, self.net, self._build.ops, self._build.network.pathways(), self.dt)

    def current(self, key: str, batch_index: int | None = None) -> torch.Tensor:
        """The twin's current value of the array ``key`` (``[B, n]`` or ``[n]``)."""
        return self._state.current(key, batch_index)

    def parameter(self, owner: str, name: str) -> torch.nn.Parameter:
        """The ``nn.Parameter`` behind ``owner.name`` (e.g. ``twin.parameter("input_E", "w")``).

        Parameters are: every floating-point *parameter* of every Synapses model (``w : 1`` ...) and every
        ``learnable=`` entry. They are also reachable as ``twin.params["<owner>__<name>"]``.
        """
        pname = f"{owner}__{name}"
        if pname not in self.params:
            raise ParameterError(
                f"{owner}.{name} is not a parameter of this twin; parameters: {sorted(self.params)} "
                "(pass learnable=('owner.name',) to make it one)"
            )
        return self.params[pname]

    def variable(self, owner: str, name: str, batch_index: int | None = None) -> torch.Tensor:
        """Current value of a state variable of a group or synapses (base SI units)."""
        g = self._group(owner)
        if name not in g.variables or not isinstance(g.variables[name], ArrayVariable):
            raise ParameterError(f"{owner!r} has no state variable {name!r}")
        key = array_key(g.variables[name])
        if key not in self._state.arrays:
            raise ParameterError(f"{owner}.{name} is not mirrored by the twin")
        batch_index = check_batch_index("variable()", batch_index, self.batch_size, allow_none=True)
        return self.current(key, batch_index)

    def connectivity(self, synapses: str) -> tuple[np.ndarray, np.ndarray]:
        """``(i, j)`` presynaptic and postsynaptic indices of the existing synapses of ``synapses``."""
        g = self._group(synapses)
        if not isinstance(g, brian2.Synapses):
            raise ParameterError(f"{synapses!r} is not a Synapses object")
        return np.asarray(g.i[:]).copy(), np.asarray(g.j[:]).copy()

    def _group(self, name: str):
        return group_named(self._build.network.groups, name)

    # -------------------------------------------------------------------------------------------- run
    def run(
        self,
        duration,
        *,
        inputs: Mapping[str, Any] | None = None,
        record: Mapping[str, Sequence[str]] | None = None,
        relaxed: bool = False,
    ) -> TwinResult:
        """Simulate ``duration`` (a Brian2 time) for all ``B`` trials; the state carries over between runs.

        Parameters
        ----------
        duration
            Brian2 quantity in units of time.
        inputs
            ``{group: {variable: Tensor[B, N] (for the whole run) or Tensor[T, B, N] (per step)}}`` in base
            SI units (e.g. ``{"input": {"rates": rates_Hz}}`` for a PoissonGroup);
            ``{spike_generator: {"spikes": Tensor[T, B, N]}}`` replaces a SpikeGeneratorGroup's spikes;
            ``{timed_array: Tensor[T_values, B, ...]}`` replaces a TimedArray's values per trial (the key is
            the TimedArray's name or the name the equations call it by, e.g. ``"stimulus"``).
        record
            ``{group: [variables]}`` to record like a ``StateMonitor`` (``when="start"``): state variables
            and subexpressions (e.g. a synaptic current ``I_syn = g * (E - v) : amp``), in base SI units,
            ``result.states[group][name] -> Tensor[T, B, N]``; ``{group: {variable: indices}}`` records
            only those neurons (or synapses), in the order given (``True``: all).
        relaxed
            Run the *surrogate-relaxed* model instead: every spike is the smooth function
            ``surrogate.relaxed(v)`` of the distance to threshold (whose exact derivative is the surrogate),
            resets mix old and reset values with it, and every synapse transmits ``f(w) * s_pre``. A smooth
            model, used to check gradients against finite differences.

        The run takes Brian2's number of steps: from the step of the twin's time ``t`` to the step of
        ``t + duration``, each the nearest step when within ``Clock.epsilon_dt`` (1e-4 dt) of the grid and the
        next one otherwise (0.25 ms at dt = 0.1 ms: 3 steps); afterwards ``t`` is ``t + duration``.

        Raises
        ------
        ParameterError, UnitError, ShapeError
            For inputs or records Brian2 would refuse (unknown or read-only variables, wrong units or
            shapes), before anything runs.
        NonFiniteError
            For NaN in a parameter or an input (nothing runs), or a state that became NaN or infinite
            during the run (checked once, at its end; the message names the variable and the time span).
        """
        # the generated code mixes Python numbers with integer arrays (``0.1 * i``): with the twin's dtype as
        # torch's default, those give the twin's dtype (float64 as NumPy gives), not float32. The path (tensor
        # operations that autograd records, or the fast one) follows what requires a gradient, not only
        # ``torch.is_grad_enabled()``: a network with nothing learnable runs as fast as under ``no_grad``.
        grad = torch.is_grad_enabled() and self.requires_grad(inputs)
        with default_dtype(self.dtype), torch.set_grad_enabled(grad):
            return self._simulate(duration, inputs, record, relaxed)

    def requires_grad(self, inputs: Mapping[str, Any] | None = None) -> bool:
        """Whether a run with ``inputs`` has anything to differentiate: a parameter of the twin
        (:attr:`params`) or an input tensor that requires a gradient.

        Outside ``torch.no_grad()`` a run takes the gradient path (tensor operations recorded by autograd,
        surrogate spikes) only when this is true; otherwise it runs as under ``no_grad`` (the C kernels
        where the back end has them), with the same spikes and states.
        """
        return any(p.requires_grad for p in self.params.values()) or any_requires_grad(inputs)

    def _simulate(self, duration, inputs, record, relaxed) -> TwinResult:
        """A run in four parts: its plan (steps, inputs, records), the initial state, the steps, the result."""
        return TwinResult(*Simulation(self, plan_run(self, duration, inputs, record), relaxed).run())

    def forward(self, duration, inputs=None, record=None) -> TwinResult:  # noqa: D401
        """Same as :meth:`run` (so the twin can be called like any module)."""
        return self.run(duration, inputs=inputs, record=record)

    @property
    def t(self):
        """The twin's current time (Quantity)."""
        return self._state.t * brian2.second


def twin(
    network_or_objects,
    *,
    batch_size: int = 1,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    surrogate: Surrogate | str | None = None,
    learnable: Sequence[str] = (),
    namespace: Mapping[str, Any] | None = None,
    exact: bool | None = None,
    seed: int | None = None,
    backend: str = "auto",
    random: str = "torch",
    threads: int = 1,
    gradients: str = "auto",
) -> Twin:
    """Compile a Brian2 network into a differentiable PyTorch module.

    Parameters
    ----------
    network_or_objects
        A :class:`brian2.Network`, or Brian2 objects (groups, synapses ...), written in plain Brian2.
    batch_size
        Number ``B`` of independent trials simulated in one pass.
    dtype
        ``torch.float64`` (bit-identical to Brian2's numpy target on CPU) or ``torch.float32``.
    device
        Torch device (``"cpu"``, ``"cuda"``).
    surrogate
        Surrogate gradient of the spike (:class:`biosnn.surrogate.Surrogate` or a shape name); its width
        is in mV for voltage thresholds, in SI units otherwise. Default: fast sigmoid, width 0.5.
    learnable
        ``("E.tau", "E.v_th", ...)``: group/synapse variables or namespace constants to turn into
        ``nn.Parameter``s. Synaptic model parameters (``w : 1`` ...) always are.
    namespace
        Names the Brian2 objects use that are in neither their own namespace nor Brian2's (plays the role
        of ``Network.run(namespace=...)``). Default: the caller's globals and locals at this call, as
        ``Network.run()`` takes them (``twin(net)`` finds the constants a script defines, as ``net.run()``);
        ``{}`` uses the objects' own namespaces only.
    exact
        Compute ``exp``, ``log``, ``**`` ... with NumPy in the forward pass (default: on CPU).
    seed
        Seed of the twin's random generator (default: from ``torch.initial_seed()``).
    random
        Source of ``rand()``, ``randn()``, PoissonGroup and PoissonInput numbers
        (:data:`biosnn.twins.runtime.RANDOM_SOURCES`): ``"torch"`` (default), the twin's own seeded
        generator on its device; ``"numpy"``, NumPy's global generator called as Brian2's numpy target
        calls it, so that with one trial the twin draws exactly Brian2's numbers after the same
        ``brian2.seed(...)`` (and spikes identically with Poisson inputs and noise).
    backend
        How blocks run when no gradient is wanted (:data:`biosnn.twins.targets.TARGETS`): ``"c"`` compiles
        Brian2's statements into C loops over the tensors (CPU, float64; same spikes), ``"torch"`` uses
        tensor operations only; ``"auto"`` (default) takes ``"c"`` where it can. Runs with gradients
        always use tensor operations; a run outside ``torch.no_grad()`` is one with gradients only when
        something requires one (a parameter of ``tw.params``, an input tensor; :meth:`Twin.requires_grad`).
        :meth:`Twin.compiled_blocks` tells which blocks run compiled.
    threads
        CPU threads the C back end may use (default 1, so that a test suite or a data loader is not
        oversubscribed): with several trials, trials run in parallel; with one, large groups are split among
        threads. The spikes are the same for any number.
    gradients
        How a run with gradients computes them: ``"tensor"``, tensor operations recorded by autograd;
        ``"compiled"``, the compiled gradient path (:mod:`biosnn.twins.adjoint`; not built yet: an error
        names it); ``"auto"`` (default), the compiled path where it can run the network, else tensors.
        The gradients are the same to round-off.

    Returns
    -------
    Twin
        A ``torch.nn.Module``; ``twin.run(duration, inputs=..., record=...)`` simulates it.

    Raises
    ------
    UnsupportedFeatureError
        For any construct the twin cannot run, naming the object and the construct, before anything runs.
    """
    kwargs = dict(batch_size=batch_size, dtype=dtype, device=device, surrogate=surrogate, learnable=learnable)
    kwargs.update(namespace=namespace, exact=exact, seed=seed, backend=backend, random=random)
    kwargs.update(threads=threads, gradients=gradients)
    return Twin(network_or_objects, **kwargs)
