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

import itertools
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import brian2
import numpy as np
import torch
from brian2.codegen.codeobject import create_runner_codeobj
from brian2.core.variables import ArrayVariable, Constant, Subexpression, Variables
from brian2.equations.equations import PARAMETER
from brian2.parsing.expressions import parse_expression_dimensions
from brian2.units.fundamentalunits import DimensionMismatchError

from biosnn.errors import (
    BiosnnError,
    MemoryBudgetError,
    NonFiniteError,
    ParameterError,
    UnitError,
    UnsupportedFeatureError,
)
from biosnn.surrogate import Surrogate, as_surrogate
from biosnn.twins.codegen import (
    RECORDED_PREFIX,
    BlockCompiler,
    CapturedCode,
    Statement,
    TorchNodeRenderer,
    _fit,
    array_key,
    base_namespace,
    capture_code_objects,
    is_clock_variable,
    threshold_parts,
    translate,
)
from biosnn.twins.functions import TORCH_FUNCTIONS
from biosnn.twins.kernels import PRELUDE, Kernel, KernelWriter, NotCompilable, choose_backend, compile_library
from biosnn.twins.runtime import (
    OPERATIONS,
    RANDOM_SOURCES,
    Context,
    GradientMemoryGuard,
    PathwayOp,
    ResetOp,
    SpikeGeneratorOp,
    SummedOp,
    ThresholdOp,
    TimedArrays,
    UpdateOp,
    check_input_tensor,
    default_dtype,
    read_spike_queue,
    scale_for,
    write_spike_queue,
)

#: Brian2 templates of objects that only observe (monitors): the twin records on its own.
_OBSERVERS = {"spikemonitor", "statemonitor", "ratemonitor"}


@dataclass
class ArrayInfo:
    """One Brian2 array mirrored by the twin."""

    key: str
    var: ArrayVariable
    owner: str
    name: str
    size: int
    kind: str  # "float", "int", "bool"


class LazySpikeTrains(Mapping):
    """``result.spike_trains[group] -> Tensor[T, B, N]``, built on first access when recorded sparsely."""

    def __init__(self, dense: dict, sparse: dict, shape: dict, dtype, device) -> None:
        self._dense = dense
        self._sparse = sparse
        self._shape = shape
        self._dtype = dtype
        self._device = device

    def __getitem__(self, name):
        if name not in self._dense:
            if name not in self._sparse:
                raise KeyError(name)
            steps, b, i = self._sparse[name]
            T, B, N = self._shape[name]
            out = torch.zeros(T, B, N, dtype=self._dtype, device=self._device)
            out[steps, b, i] = 1.0
            self._dense[name] = out
        return self._dense[name]

    def __iter__(self):
        return iter(sorted(set(self._dense) | set(self._sparse)))

    def __len__(self):
        return len(set(self._dense) | set(self._sparse))


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


def _check_device(device) -> torch.device:
    """``device`` as a ``torch.device`` that exists on this machine (``ParameterError`` otherwise)."""
    if not isinstance(device, (str, torch.device)):
        raise ParameterError(f"device must be a string such as 'cpu' or 'cuda:0' or a torch.device, got {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ParameterError(f"device {device!r} is not a torch device ('cpu', 'cuda', 'cuda:N'): {exc}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(
                f"device {device!r} asked for, but no CUDA device is available "
                "(torch.cuda.is_available() is False); use device='cpu'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ParameterError(
                f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                f"(cuda:0 .. cuda:{torch.cuda.device_count() - 1})"
            )
    elif dev.type != "cpu":
        try:
            torch.empty(0, device=dev)
        except Exception as exc:  # noqa: BLE001 - any backend's "not available"
            raise ParameterError(f"device {device!r} is not available on this machine: {exc}") from None
    return dev


#: variables that hold a time stamp whose value may be infinite (never spiked, never updated)
_TIME_STAMPS = ("lastspike", "lastupdate")


def _nonfinite_summary(label: str, value: torch.Tensor, allow_inf: bool) -> str | None:
    """A description of the NaN (and, unless ``allow_inf``, infinite) elements of ``value``, or ``None``."""
    v = value.detach()
    bad = torch.isnan(v) if allow_inf else ~torch.isfinite(v)
    if not bool(bad.any()):
        return None
    n_bad = int(bad.sum())
    n_nan = int(torch.isnan(v).sum())
    if v.dim() == 0:
        where = "its only value"
    else:
        first = [int(x) for x in torch.nonzero(bad)[0].tolist()]
        where = f"index {first[-1]}" + (f" of trial {first[0]}" if v.dim() == 2 else "")
    kinds = ", ".join(
        k for k in (f"{n_nan} NaN" if n_nan else "", f"{n_bad - n_nan} infinite" if n_bad > n_nan else "") if k
    )
    return f"{label}: {n_bad} of {v.numel()} values are not finite ({kinds}), the first at {where}"


def _any_requires_grad(value) -> bool:
    """Whether a tensor in ``value`` (a tensor, or mappings and sequences of them) requires a gradient."""
    if isinstance(value, torch.Tensor):
        return value.requires_grad
    if isinstance(value, Mapping):
        return any(_any_requires_grad(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_any_requires_grad(v) for v in value)
    return False


def _caller_namespace() -> dict[str, Any]:
    """The globals and locals of the first frame outside :mod:`biosnn.twins`, as
    :func:`brian2.core.namespace.get_local_namespace` gives them to ``Network.run(namespace=None)``.
    """
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("biosnn.twins"):
        frame = frame.f_back
    if frame is None:  # pragma: no cover - always called from somewhere
        return {}
    return dict(itertools.chain(frame.f_globals.items(), frame.f_locals.items()))


def _network_of(network_or_objects) -> tuple[brian2.Network, bool]:
    if isinstance(network_or_objects, brian2.Network):
        return network_or_objects, False
    if isinstance(network_or_objects, brian2.BrianObject):
        objs = [network_or_objects]
    elif isinstance(network_or_objects, Iterable) and not isinstance(network_or_objects, (str, bytes)):
        objs = list(network_or_objects)
    else:
        raise ParameterError(
            f"twin() needs a brian2.Network or Brian2 objects, got {type(network_or_objects).__name__}"
        )
    bad = [o for o in objs if not isinstance(o, brian2.BrianObject)]
    if bad:
        raise ParameterError(f"twin() got objects that are not Brian2 objects: {bad!r}")
    return brian2.Network(*objs), True


@dataclass
class _RunPlan:
    """What one :meth:`Twin.run` does, decided before its first step."""

    start: int  # the twin's step at the start
    n_steps: int
    t_start: float
    t_end: float
    per_run: dict  # array key -> [B, n] input for the whole run
    per_step: dict  # array key -> [T, B, n] input per step
    rec_keys: dict  # (group, variable) -> array key
    rec_index: dict  # (group, variable) -> recorded elements, where not all
    rec_blocks: list  # (group, names, block, size) of recorded subexpressions
    batched: frozenset  # array keys held per trial


@dataclass
class _RunRecord:
    """What a run collects step by step: spikes (sparse, and dense 0/1 trains with gradients) and records."""

    functional: bool
    spike_groups: dict  # eventspace key -> (group, size)
    dense_trains: dict
    sparse: dict
    states: dict

    @classmethod
    def start(cls, ops, plan: _RunPlan, functional: bool) -> _RunRecord:
        spike_groups = {}
        for op in ops:
            spikes = getattr(op, "eventspace", "").endswith("_spikespace")
            if isinstance(op, (ThresholdOp, SpikeGeneratorOp)) and spikes:
                spike_groups[op.eventspace] = (op.group_name, op.size)
        states = {k: [] for k in plan.rec_keys}
        states.update({(gname, n): [] for gname, names, _blk, _size in plan.rec_blocks for n in names})
        return cls(
            functional,
            spike_groups,
            {name: [] for name, _ in spike_groups.values()} if functional else {},
            {name: [] for name, _ in spike_groups.values()},
            states,
        )

    def spikes_of_step(self, R, k: int, B: int, dtype, device) -> None:
        for ev, (gname, size) in self.spike_groups.items():
            if ev in R.events:
                _cond, value, (b, i) = R.events[ev]
                if self.functional:
                    self.dense_trains[gname].append(value)
                if b.shape[0]:
                    self.sparse[gname].append((k, b, i))
            elif self.functional:
                self.dense_trains[gname].append(torch.zeros(B, size, dtype=dtype, device=device))


class Twin(torch.nn.Module):
    """A Brian2 network as a PyTorch module; see :func:`twin`."""

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
    ) -> None:
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
        if dtype not in (torch.float64, torch.float32):
            raise ParameterError(f"dtype must be torch.float64 or torch.float32, got {dtype!r}")
        if isinstance(learnable, str):
            learnable = (learnable,)
        if not isinstance(learnable, Iterable):
            raise ParameterError(f"learnable must be a sequence of 'owner.variable' strings, got {learnable!r}")
        if namespace is not None and not isinstance(namespace, Mapping):
            raise ParameterError(f"namespace must map names to values (a dict), got {type(namespace).__name__}")
        if exact is not None and not isinstance(exact, (bool, np.bool_)):
            raise ParameterError(f"exact must be True, False or None, got {exact!r}")
        limit = 2**32 - 1 if random == "numpy" else 2**63 - 1
        if seed is not None and (
            isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= limit
        ):
            raise ParameterError(f"seed must be None or an integer in 0..{limit}, got {seed!r}")
        for item in learnable:
            if not isinstance(item, str) or item.count(".") != 1:
                raise ParameterError(f"learnable entries are 'owner.variable' strings, got {item!r}")
        self.net, self._own_network = _network_of(network_or_objects)
        self.batch_size = int(batch_size)
        self.dtype = dtype
        self.device = _check_device(device)
        self.surrogate = as_surrogate(surrogate)
        self.learnable = tuple(learnable)
        # as Network.run(namespace=None): the names of the caller's frame (Brian2's get_local_namespace)
        self.namespace = dict(namespace) if namespace is not None else _caller_namespace()
        self.exact = (self.device.type == "cpu") if exact is None else bool(exact)
        self.backend = choose_backend(backend, dtype, self.device)
        self._backend_asked = backend
        if random not in RANDOM_SOURCES:
            raise ParameterError(f"random must be one of {sorted(RANDOM_SOURCES)}, got {random!r}")
        self._rng = RANDOM_SOURCES[random](self.device, dtype, seed)
        self.params = torch.nn.ParameterDict()
        self._param_of: dict[str, str] = {}  # array key or "owner.const" -> parameter name
        self._carry: dict[str, torch.Tensor] = {}
        self._step = 0
        #: bytes autograd kept for the backward pass per step in the last run with gradients (measured on its
        #: first steps and every 64th, see :class:`biosnn.twins.runtime.GradientMemoryGuard`), or ``None``
        self.gradient_bytes_per_step: float | None = None
        self._t = 0.0  # the network's time in seconds, as Brian2 keeps it (not rounded to the grid)
        self._compile()
        self.pull()
        # generate every block now, so unsupported constructs are reported before anything runs
        self._build_ops(frozenset(self._written))
        self._compiled_for = frozenset(self._written)

    # ------------------------------------------------------------------------------------------ compile
    def _compile(self) -> None:  # noqa: C901
        net = self.net
        # recorded subexpressions' blocks (see run(record=...)), made again after the structure is re-read
        self._subexpression_blocks: dict[tuple[str, tuple[str, ...]], Any] = {}
        objs = net.sorted_objects
        previous_network = {id(o): o._network for o in objs}
        store: dict[str, CapturedCode] = {}
        old_target = brian2.prefs["codegen.target"]
        brian2.prefs["codegen.target"] = "numpy"
        try:
            net._clocks = {o.clock for o in objs}
            for c in net._clocks:  # as Network.run does: the clocks start at the network's time
                c.set_interval(net.t, net.t)
            with capture_code_objects(store):
                net.before_run(self.namespace)
        except BiosnnError:
            raise
        except (
            brian2.core.base.BrianObjectException,
            DimensionMismatchError,
            KeyError,
            SyntaxError,
            ValueError,
            TypeError,
        ) as exc:
            # the user's model is wrong (Network.run would fail the same way): a biosnn error with Brian2's words
            orig = exc.__cause__ if isinstance(exc, brian2.core.base.BrianObjectException) and exc.__cause__ else exc
            if isinstance(orig, BiosnnError):  # one of the twin's own, raised inside Brian2's preparation
                raise orig from None
            obj = getattr(exc, "_brian_objname", None)
            cls = UnitError if isinstance(orig, DimensionMismatchError) else ParameterError
            text = " ".join(str(orig.args[0] if isinstance(orig, KeyError) and orig.args else orig).split())
            raise cls(
                f"network {net.name!r}: Brian2 cannot prepare {f'object {obj!r}' if obj else 'it'} "
                f"(Network.run would fail too): {type(orig).__name__}: {text}"
            ) from exc
        finally:
            brian2.prefs["codegen.target"] = old_target
            for o in objs:
                o._network = previous_network[id(o)]
        self._objects = [o for o in objs if o.active]
        from biosnn.brian import mark_used

        mark_used(objs)  # the twin runs them: no "never included in a network" warning
        dt_of = {
            o.name: float(o.clock.dt_)
            for o in self._objects
            if isinstance(o, (brian2.NeuronGroup, brian2.Synapses, brian2.SpikeGeneratorGroup, brian2.PoissonGroup))
        }
        group_dts = set(dt_of.values())
        if len(group_dts) > 1:
            by_dt = "; ".join(
                f"dt = {dt * brian2.second}: {', '.join(sorted(n for n, d in dt_of.items() if d == dt))}"
                for dt in sorted(group_dts)
            )
            raise UnsupportedFeatureError(
                f"network {net.name}: groups with different clocks are not supported ({by_dt}); give them one dt"
            )
        self.dt = group_dts.pop() if group_dts else float(brian2.defaultclock.dt_)
        self._groups: dict[str, Any] = {}
        for o in self._objects:
            if isinstance(o, (brian2.NeuronGroup, brian2.PoissonGroup, brian2.SpikeGeneratorGroup)) and not isinstance(
                o, brian2.Subgroup
            ):
                self._groups[o.name] = o
            if isinstance(o, brian2.Synapses):
                self._groups[o.name] = o
        # check every object before building anything
        plan = []
        for o in self._objects:
            if isinstance(o, brian2.NetworkOperation):
                raise UnsupportedFeatureError(
                    f"{o.name}: network_operation (arbitrary Python code) cannot be compiled into the twin"
                )
            if type(o).__name__ == "SpatialNeuron" or type(o).__name__ == "SpatialStateUpdater":
                raise UnsupportedFeatureError(f"{o.name}: multi-compartment SpatialNeuron is not supported")
            names = [c.name for c in o.code_objects]
            if not names:
                continue
            caps = [store[n] for n in names if n in store]
            for c in caps:
                c.runner = o
            templates = [c.template for c in caps]
            if set(templates) <= _OBSERVERS:
                continue
            main = caps[-1]
            if main.template not in OPERATIONS:
                raise UnsupportedFeatureError(
                    f"{o.name}: Brian2 template {main.template!r} ({type(o).__name__}) is not supported by the twin"
                )
            dt = float(o.clock.dt_)
            every = int(round(dt / self.dt))
            if abs(every * self.dt - dt) > 1e-9 * dt:
                raise UnsupportedFeatureError(
                    f"{o.name}: clock dt={dt} s is not a multiple of the network dt={self.dt} s"
                )
            plan.append((o, main, every, dt))
        self._plan = plan
        self._learnable_check()
        # translate all blocks (raises UnsupportedFeatureError before anything is simulated)
        self._blocks = []
        for o, main, every, dt in plan:  # noqa: B007
            if main.template == "spikegenerator":
                self._blocks.append(None)
                continue
            mode = {"reset": "reset", "synapses": "events"}.get(main.template, "all")
            blk = translate(main, mode, o.name)
            if main.template == "threshold":
                self._add_surrogate_statement(o, blk)
            self._blocks.append(blk)
        # arrays
        self._arrays: dict[str, ArrayInfo] = {}
        written: set[str] = set()
        for (o, main, every, dt), blk in zip(plan, self._blocks):  # noqa: B007
            for name, var in main.variables.items():  # noqa: B007
                if isinstance(var, ArrayVariable) and not is_clock_variable(var):
                    self._register_array(var)
            if blk is not None:
                for st in blk.vector_statements + blk.scalar_statements:
                    if st.var in main.variables and isinstance(main.variables[st.var], ArrayVariable):
                        written.add(array_key(main.variables[st.var]))
            if main.template == "threshold" and main.template_kwds.get("_uses_refractory"):
                g = o.group
                written |= {array_key(g.variables["not_refractory"]), array_key(g.variables["lastspike"])}
            if main.template == "summed_variable":
                written.add(array_key(main.template_kwds["_target_var"]))
        for g in self._groups.values():
            for name in g.variables:
                var = g.variables[name]
                if (
                    isinstance(var, ArrayVariable)
                    and not is_clock_variable(var)
                    and not name.startswith("_")
                    and var.owner is not None
                    and getattr(var.owner, "name", None) == g.name
                ):
                    self._register_array(var)
        self._written = written
        self._make_parameters()
        self._compiled_for: frozenset | None = None

    def _register_array(self, var: ArrayVariable) -> None:
        key = array_key(var)
        if key in self._arrays:
            return
        kind = "bool" if var.dtype == bool else ("float" if np.issubdtype(var.dtype, np.floating) else "int")
        owner = getattr(var.owner, "name", "?")
        self._arrays[key] = ArrayInfo(key, var, owner, var.name, 1 if var.scalar else int(var.size), kind)

    def _learnable_check(self) -> None:
        self._learnable_constants: dict[str, dict[str, str]] = {}
        for item in self.learnable:
            owner, name = item.split(".")
            if owner not in self._groups:
                raise ParameterError(
                    f"learnable {item!r}: no group or synapses named {owner!r} (known: {sorted(self._groups)})"
                )
            g = self._groups[owner]
            if name in g.variables and isinstance(g.variables[name], ArrayVariable):
                var = g.variables[name]
                if not np.issubdtype(var.dtype, np.floating):
                    raise ParameterError(f"learnable {item!r} is not a floating-point variable")
                continue
            value = None
            for ns in (g.namespace or {}, self.namespace):
                if name in ns:
                    value = ns[name]
                    break
            if value is None:
                raise ParameterError(f"learnable {item!r}: {owner!r} has no variable or namespace constant {name!r}")
            self._learnable_constants.setdefault(owner, {})[name] = item

    def _make_parameters(self) -> None:
        wanted: dict[str, str] = {}
        for g in self._groups.values():
            if isinstance(g, brian2.Synapses):
                for eq in g.equations.values():
                    if eq.type == PARAMETER and not eq.varname.startswith("_") and eq.varname != "lastupdate":
                        var = g.variables[eq.varname]
                        if np.issubdtype(var.dtype, np.floating) and not var.read_only:
                            wanted[array_key(var)] = f"{g.name}__{eq.varname}"
        for item in self.learnable:
            owner, name = item.split(".")
            g = self._groups[owner]
            if name in g.variables and isinstance(g.variables[name], ArrayVariable):
                self._register_array(g.variables[name])
                wanted[array_key(g.variables[name])] = f"{owner}__{name}"
            else:
                wanted[item] = f"{owner}__{name}"
        self._param_of = wanted

    def _add_surrogate_statement(self, runner, blk) -> None:
        group = runner.group
        parts = threshold_parts(group.events.get(getattr(runner, "event", "spike"), ""))
        if parts is None:
            return
        a, b, op = parts
        variables = blk.captured.variables
        from brian2.utils.stringtools import get_identifiers

        ids = get_identifiers(a) | get_identifiers(b)
        for n in ids:
            v = variables.get(n)
            if v is None or not (
                isinstance(v, (ArrayVariable, Constant)) or is_clock_variable(v) or n in TORCH_FUNCTIONS
            ):
                return  # subexpressions or unknown names: spikes without surrogate gradient
        try:
            dim = parse_expression_dimensions(a, variables)
        except Exception:  # noqa: BLE001 - dimensions only choose the surrogate scale
            dim = None
        renderer = TorchNodeRenderer(auto_vectorise=set())
        expr = f"({a}) - ({b})" if op in ("Gt", "GtE") else f"({b}) - ({a})"
        blk.vector_statements.append(Statement("_vsur", "=", renderer.render_expr(expr), False, False, True))
        blk._surrogate_scale = scale_for(dim) if dim is not None else 1.0

    def _build_ops(self, batched: frozenset) -> None:
        """Generate the code of every block for this set of batched arrays, and the operations."""
        ns = base_namespace()
        ns["_rng"] = self._rng
        ns["_timed_arrays"] = getattr(self, "_timed_arrays", None) or TimedArrays(self.device, self.dtype)
        self._timed_arrays = ns["_timed_arrays"]
        ns["_pow"] = TORCH_FUNCTIONS["_pow"](self.exact)
        ns["_PARAMS"] = self._constant_params
        ops = []
        compilers = []
        for (o, main, every, dt), blk in zip(self._plan, self._blocks):
            owner = o.group.name if hasattr(o, "group") and o.group is not None else o.name
            if isinstance(o, brian2.synapses.synapses.SynapticPathway):
                owner = o.synapses.name
            consts = {}
            for own in {owner, getattr(getattr(o, "group", None), "name", owner)}:
                consts.update({k: v for k, v in self._learnable_constants.get(own, {}).items()})
            compiler = BlockCompiler(ns, set(batched), consts, self.exact, o.name)
            if blk is not None:
                blk.reads, blk.writes, blk.dense = set(), set(), []
                compiler.compile(blk)
            ops.append((o, main, every, dt, blk))
            compilers.append(compiler)
        self._load_index_arrays(ns)
        self._ops = []
        for o, main, every, dt, blk in ops:
            op = self._make_op(o, main, blk, ns)
            op.every = every
            op.clock_dt = dt
            self._ops.append(op)
        self._ns = ns
        self._plan_kernels(ops, compilers, batched)

    #: Brian2 template -> kind of C kernel (see :mod:`biosnn.twins.kernels`)
    _KERNEL_KINDS = {"stateupdate": "all", "threshold": "threshold", "reset": "reset", "synapses": "events"}

    def _plan_kernels(self, ops, compilers, batched) -> None:
        """Write the C source of every block the C back end can take (compiled on the first no-grad run)."""
        self._kernel_plan = []
        self._kernel_status = {}
        self._kernels_loaded = False
        if self.backend.name != "c":
            return
        sizes = {key: info.size for key, info in self._arrays.items()}
        for (o, main, _every, _dt, blk), op, compiler in zip(ops, self._ops, compilers):
            kind = self._KERNEL_KINDS.get(main.template)
            if blk is None or kind is None:
                self._kernel_status[o.name] = f"torch (template {main.template!r})"
                continue
            size = getattr(op, "size", 0) or 0
            try:
                src = KernelWriter(blk, kind, size, set(batched), sizes, set(compiler.params)).write()
                pure = compiler.compile_scalar_values(blk)
            except NotCompilable as exc:
                self._kernel_status[o.name] = f"torch ({exc})"
                continue
            self._kernel_plan.append((op, src, blk.scalar_fn, pure))
            self._kernel_status[o.name] = src.status

    def _load_kernels(self) -> None:
        source = PRELUDE + "\n".join(src.source for _op, src, _fn, _pure in self._kernel_plan)
        try:
            lib = compile_library(source)
        except UnsupportedFeatureError as exc:
            if self._backend_asked == "c":
                raise
            # "auto": the tensor code runs everything (e.g. a variable named like a C keyword)
            warnings.warn(
                f"biosnn twin: the C kernels did not compile, running tensor operations ({exc})",
                RuntimeWarning,
                stacklevel=3,
            )
            self._kernel_status = {
                k: "torch (the C kernels did not compile)" if v.split(" ")[0] == "c" else v
                for k, v in self._kernel_status.items()
            }
            self._kernel_plan = []
            return
        for op, src, scalar_fn, pure in self._kernel_plan:
            op.kernel = Kernel(src, getattr(lib, src.fname), scalar_fn, pure, self._ns)
        self._kernels_loaded = True

    def compiled_blocks(self) -> dict[str, str]:
        """How each Brian2 object runs without gradients: ``"c"`` (compiled kernel) or ``"torch (reason)"``."""
        if self._compiled_for is None:
            self._build_ops(frozenset(self._written))
            self._compiled_for = frozenset(self._written)
        if self.backend.name != "c":
            return {op.name: f"torch (backend {self.backend.name!r})" for op in self._ops}
        return dict(self._kernel_status)

    def _make_op(self, o, main: CapturedCode, blk, ns):
        tpl = main.template
        if tpl == "stateupdate":
            return UpdateOp(o.name, blk, len(o.group))
        if tpl == "threshold":
            ev = array_key(o.group.variables[f"_{o.event}space"])
            refr = None
            if main.template_kwds.get("_uses_refractory"):
                refr = (array_key(o.group.variables["not_refractory"]), array_key(o.group.variables["lastspike"]))
            return ThresholdOp(o.name, blk, len(o.group), ev, o.group.name, refr, getattr(blk, "_surrogate_scale", 1.0))
        if tpl == "reset":
            return ResetOp(o.name, blk, len(o.group), array_key(o.group.variables[f"_{o.event}space"]))
        if tpl == "summed_variable":
            kw = main.template_kwds
            start = int(kw["_target_start"])
            stop = int(kw["_target_stop"])
            target = kw["_target_var"]
            size = int(target.size)
            stop = size if stop < 0 else stop
            idx = np.asarray(kw["_index_var"].get_value()).astype(np.int64) - start
            return SummedOp(
                o.name,
                blk,
                len(o.group),
                array_key(target),
                size,
                torch.as_tensor(idx, device=self.device),
                start,
                stop,
            )
        if tpl == "spikegenerator":
            v = o.variables
            return SpikeGeneratorOp(
                o.name,
                o.name,
                len(o),
                array_key(v["_spikespace"]),
                np.asarray(v["_timebins"].get_value()),
                np.asarray(v["neuron_index"].get_value()),
                int(np.asarray(v["_period_bins"].get_value()).ravel()[0]),
            )
        if tpl == "synapses":
            src = o.source
            start = int(getattr(src, "start", 0))
            stop = int(getattr(src, "stop", len(src)))
            sources = np.asarray(o.synapse_sources.get_value()).astype(np.int64) - start
            delays = np.asarray(o._delays.get_value(), dtype=float)
            steps = np.round(delays / float(src.clock.dt_)).astype(np.int64)
            dense = [(var, key, ns[idx_name], fn, bname) for var, key, idx_name, fn, bname in blk.dense]
            return PathwayOp(
                o.name,
                blk,
                array_key(src.variables[f"_{o.event}space"]),
                start,
                stop,
                torch.as_tensor(sources, device=self.device),
                steps,
                len(o.synapses),
                dense,
                source_size=len(src.source) if isinstance(src, brian2.Subgroup) else len(src),
            )
        raise UnsupportedFeatureError(f"{o.name}: template {tpl!r}")  # pragma: no cover

    # --------------------------------------------------------------------------------------- the bridge
    def _to_tensor(self, info: ArrayInfo, value) -> torch.Tensor:
        arr = np.array(value, copy=True)
        if info.kind == "float":
            return torch.as_tensor(arr, dtype=self.dtype, device=self.device).reshape(info.size)
        if info.kind == "bool":
            return torch.as_tensor(arr.astype(bool), device=self.device).reshape(info.size)
        return torch.as_tensor(arr, device=self.device).reshape(info.size)

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
        if getattr(self, "_pulled_once", False):
            # Brian2's values are checked before anything of the twin changes (with the structure known so
            # far; arrays new in Brian2 are checked below)
            self._check_brian_values(
                {key: info.var.get_value() for key, info in self._arrays.items() if info.kind == "float"}
            )
            # re-read the structure too: synapses, delays and namespace constants may have changed in Brian2
            self._compile()
        values = {key: self._to_tensor(info, info.var.get_value()) for key, info in self._arrays.items()}
        constants = {}
        for key, pname in self._param_of.items():  # noqa: B007
            if key not in self._arrays:  # a namespace constant
                owner, name = key.split(".")
                g = self._groups[owner]
                raw = (g.namespace or {}).get(name, self.namespace.get(name))
                constants[key] = torch.as_tensor(float(np.asarray(raw)), dtype=self.dtype, device=self.device)
        self._check_brian_values({**{k: v for k, v in values.items() if self._arrays[k].kind == "float"}, **constants})
        self._pulled_once = True
        self._values: dict[str, torch.Tensor] = values
        for key, pname in self._param_of.items():
            value = self._values[key] if key in self._arrays else constants[key]
            if pname in self.params and self.params[pname].shape == value.shape:
                with torch.no_grad():
                    self.params[pname].copy_(value)
            else:
                self.params[pname] = torch.nn.Parameter(value.clone())
        self._constant_params = {key: self.params[p] for key, p in self._param_of.items() if key not in self._arrays}
        self._carry = {}
        self._t = float(self.net.t_)
        self._step = self._timestep(self._t)
        self._pulled_step = self._step
        self._pulled_t = self._t
        self._compiled_for = None
        for op in getattr(self, "_ops", []):
            op.reset_state()
        self._pulled_queues = {
            o.name: read_spike_queue(o) for o, main, _every, _dt in self._plan if main.template == "synapses"
        }
        self._queues_to_load = True

    def reset(self) -> None:
        """Return the state to the last :meth:`pull` (learnable parameters keep their current values)."""
        self._carry = {}
        self._step = self._pulled_step
        self._t = self._pulled_t
        for op in getattr(self, "_ops", []):
            op.reset_state()
        self._queues_to_load = True

    def push(self, batch_index: int = 0) -> None:  # noqa: C901
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
        if (
            isinstance(batch_index, (bool, np.bool_))
            or not isinstance(batch_index, (int, np.integer))
            or not 0 <= batch_index < self.batch_size
        ):
            raise ParameterError(
                f"push(): batch_index must be an integer in 0..{self.batch_size - 1} (the trial "
                f"to write into Brian2), got {batch_index!r}"
            )
        batch_index = int(batch_index)
        values = {}
        for key, info in self._arrays.items():
            if info.var.read_only or info.var.constant and key not in self._param_of:
                continue
            value = self.current(key, batch_index)
            values[key] = value
        # everything is checked before anything is written
        for key, value in values.items():  # noqa: B007
            info = self._arrays[key]
            have = 1 if info.var.scalar else int(info.var.size)
            if have != info.size:
                raise ParameterError(
                    f"push(): {info.owner}.{info.name} has {have} elements in Brian2 but {info.size} in the twin: "
                    "the Brian2 objects changed (new synapses?) since the last pull; call tw.pull() first "
                    "(nothing was written to Brian2)"
                )
        msg = self._first_nonfinite({k: v for k, v in values.items() if self._arrays[k].kind == "float"})
        if msg is None:
            msg = self._first_nonfinite({k: self.params[p] for k, p in self._param_of.items() if k not in self._arrays})
        if msg is not None:
            raise NonFiniteError(f"push(batch_index={batch_index}): {msg} in the twin; nothing was written to Brian2")
        for key, value in values.items():
            info = self._arrays[key]
            arr = value.detach().cpu().numpy()
            if info.kind == "float":
                arr = arr.astype(info.var.dtype)
            info.var.set_value(arr if not info.var.scalar else arr.reshape(()))
        for key, pname in self._param_of.items():
            if key not in self._arrays:
                owner, name = key.split(".")
                g = self._groups[owner]
                ns = g.namespace if name in (g.namespace or {}) else self.namespace
                old = ns[name]
                unit = old / float(np.asarray(old)) if float(np.asarray(old)) != 0 else 1.0
                ns[name] = float(self.params[pname].detach().cpu()) * unit
        self._set_network_time()
        pathways = {o.name: o for o, main, _every, _dt in self._plan if main.template == "synapses"}
        for op in getattr(self, "_ops", []):
            if isinstance(op, PathwayOp) and op.name in pathways:
                write_spike_queue(pathways[op.name], op.pending_events(batch_index), self.dt)
        for g in self._groups.values():
            if isinstance(g, brian2.SpikeGeneratorGroup):
                # where Brian2's generator would be in its spike list after the steps the twin ran
                bins = np.asarray(g.variables["_timebins"].get_value())
                period = int(np.asarray(g.variables["_period_bins"].get_value()).ravel()[0])
                step = self._step % period if period > 0 else self._step
                g.variables["_lastindex"].set_value(int(np.searchsorted(bins, step, side="left")))

    def _timestep(self, t: float) -> int:
        """The time step Brian2's clock takes for the time ``t`` (s): ``Clock._calc_timestep``.

        The nearest step when ``t`` is on the grid up to ``Clock.epsilon_dt`` of a step, otherwise the
        next one (the ceiling), so that a run of 0.25 ms at dt = 0.1 ms takes 3 steps, as in Brian2.
        """
        new_i = np.int64(np.round(t / self.dt))
        new_t = new_i * self.dt
        if new_t == t or np.abs(new_t - t) / self.dt <= brian2.core.clocks.Clock.epsilon_dt:
            return int(new_i)
        return int(np.ceil(t / self.dt))

    def _set_network_time(self) -> None:
        # as at the end of Network.run: every clock at the step of the end time, the network at that time
        for o in self.net.sorted_objects:
            c = o.clock
            ts = int(c._calc_timestep(self._t))
            c.variables["timestep"].set_value(ts)
            c.variables["t"].set_value(ts * float(c.dt_))
        self.net.t_ = self._t

    def current(self, key: str, batch_index: int | None = None) -> torch.Tensor:
        """The twin's current value of the array ``key`` (``[B, n]`` or ``[n]``)."""
        if key in self._carry:
            v = self._carry[key]
        elif key in self._param_of:
            v = self.params[self._param_of[key]]
        else:
            v = self._values[key]
        if batch_index is not None and v.dim() == 2:
            v = v[batch_index]
        return v

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
        if key not in self._arrays:
            raise ParameterError(f"{owner}.{name} is not mirrored by the twin")
        if batch_index is not None and (
            isinstance(batch_index, (bool, np.bool_))
            or not isinstance(batch_index, (int, np.integer))
            or not 0 <= batch_index < self.batch_size
        ):
            raise ParameterError(
                f"variable(): batch_index must be None or an integer in 0..{self.batch_size - 1}, got {batch_index!r}"
            )
        return self.current(key, batch_index)

    def connectivity(self, synapses: str) -> tuple[np.ndarray, np.ndarray]:
        """``(i, j)`` presynaptic and postsynaptic indices of the existing synapses of ``synapses``."""
        g = self._group(synapses)
        if not isinstance(g, brian2.Synapses):
            raise ParameterError(f"{synapses!r} is not a Synapses object")
        return np.asarray(g.i[:]).copy(), np.asarray(g.j[:]).copy()

    def _record_indices(self, gname: str, var: str, which, size: int) -> torch.Tensor:
        """The elements ``which`` (indices, as a ``StateMonitor``'s ``record``) of a variable of ``size``."""
        idx = np.asarray(which)
        if isinstance(which, bool) or idx.dtype == bool or not np.issubdtype(idx.dtype, np.integer) or idx.ndim > 1:
            raise ParameterError(f"record: {gname}.{var}: give True (all) or integer indices, got {which!r}")
        idx = idx.reshape(-1)
        bad = idx[(idx < 0) | (idx >= size)]
        if bad.size:
            raise ParameterError(f"record: {gname}.{var}: indices {bad.tolist()} are outside 0..{size - 1}")
        return torch.as_tensor(idx, dtype=torch.long, device=self.device)

    def _subexpression_block(self, gname: str, names: tuple[str, ...]):
        """The block that computes the subexpressions ``names`` of ``gname`` from the state (for ``record``).

        Brian2 resolves, unit-checks and expands the subexpressions (nested ones included) as for a
        ``StateMonitor``, in the twin's namespace; the statements are those of its numpy target.
        """
        cache = self._subexpression_blocks
        if (gname, names) in cache:
            return cache[(gname, names)]
        g = self._group(gname)
        extra = Variables(g)
        for n in names:
            var = g.variables[n]
            extra.add_auxiliary_variable(RECORDED_PREFIX + n, dimensions=var.dim, dtype=var.dtype)
        store: dict[str, CapturedCode] = {}
        old_target = brian2.prefs["codegen.target"]
        brian2.prefs["codegen.target"] = "numpy"
        try:
            with capture_code_objects(store):
                codeobj = create_runner_codeobj(
                    g,
                    "\n".join(f"{RECORDED_PREFIX}{n} = {n}" for n in names),
                    "stateupdate",
                    run_namespace=self.namespace,
                    additional_variables=extra,
                    name=f"{gname}_twin_record_codeobject*",
                )
        except Exception as exc:  # noqa: BLE001 - Brian2's resolution errors name the identifier
            raise ParameterError(f"record: cannot evaluate {list(names)} of {gname!r}: {exc}") from exc
        finally:
            brian2.prefs["codegen.target"] = old_target
        captured = store[codeobj.name]
        captured.runner = g
        blk = translate(captured, "all", gname)
        cache[(gname, names)] = blk
        return blk

    def _compile_extra_block(self, blk, owner: str) -> None:
        """Generate ``blk``'s tensor code in the namespace of the current operations."""
        ns = self._ns
        consts = dict(self._learnable_constants.get(owner, {}))
        blk.reads, blk.writes, blk.dense = set(), set(), []
        BlockCompiler(ns, set(self._compiled_for or ()), consts, self.exact, owner).compile(blk)
        self._load_index_arrays(ns)
        blk.compiled_in = ns

    def _load_index_arrays(self, ns: dict) -> None:
        """The index arrays the generated blocks use (connectivity, offsets) as tensors, those not loaded yet."""
        for key, var in ns.get("_index_arrays", {}).items():
            if key not in ns:
                ns[key] = torch.as_tensor(np.asarray(var.get_value()).astype(np.int64), device=self.device)

    def _inf_allowed(self, key: str) -> bool:
        """Whether ``key`` may hold infinite values: those the twin never writes (constants such as a
        threshold of ``inf`` that silences a neuron, as Brian2 allows) and time stamps (``lastspike``).
        NaN is never allowed.
        """
        info = self._arrays.get(key)
        if info is None:  # a namespace constant made a parameter
            return True
        return key not in self._written or info.name in _TIME_STAMPS

    def _label(self, key: str) -> str:
        info = self._arrays.get(key)
        return f"{info.owner}.{info.name}" if info is not None else key

    def _first_nonfinite(self, values: Mapping[str, Any]) -> str | None:
        for key, value in values.items():
            v = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value, dtype=float))
            msg = _nonfinite_summary(self._label(key), v, self._inf_allowed(key))
            if msg is not None:
                return msg
        return None

    def _check_brian_values(self, values: Mapping[str, Any]) -> None:
        """Raise NonFiniteError for NaN (or inf in a state the twin updates) in values read from Brian2."""
        msg = self._first_nonfinite(values)
        if msg is not None:
            raise NonFiniteError(
                f"pull(): {msg} in Brian2 (network {self.net.name!r}); Brian2 would simulate them and give NaN "
                "states and no spikes: set finite values in Brian2 first (the twin is unchanged)"
            )

    def _check_parameters(self) -> None:
        """Raise NonFiniteError when a parameter of the twin (``tw.params``) holds NaN (or inf where updated)."""
        for key, pname in self._param_of.items():
            msg = _nonfinite_summary(
                f"parameter {pname!r} ({self._label(key)})", self.params[pname], self._inf_allowed(key)
            )
            if msg is not None:
                raise NonFiniteError(
                    f"run(): {msg}; nothing was simulated (an optimiser step or an assignment "
                    "to the parameter put it there; tw.pull() reads Brian2's values again)"
                )

    def _group(self, name: str):
        if name not in self._groups:
            raise ParameterError(f"no group or synapses named {name!r}; known: {sorted(self._groups)}")
        return self._groups[name]

    # -------------------------------------------------------------------------------------------- run
    def _prepare_inputs(self, inputs: Mapping | None, n_steps: int):  # noqa: C901
        B = self.batch_size
        per_run: dict[str, torch.Tensor] = {}
        per_step: dict[str, torch.Tensor] = {}
        timed: dict[str, torch.Tensor] = {}
        generators: dict[str, torch.Tensor] = {}
        timed_arrays = {}
        for blk in self._blocks:
            if blk is None:
                continue
            for n, v in blk.captured.variables.items():
                if isinstance(v, brian2.TimedArray):
                    timed_arrays[v.name] = v
                    timed_arrays.setdefault(n, v)  # also under the name the equations use
        if inputs is not None and not isinstance(inputs, Mapping):
            raise ParameterError(
                f"inputs must map group (or TimedArray) names to {{variable: tensor}}, got {type(inputs).__name__}"
            )
        for name, spec in (inputs or {}).items():
            if name in timed_arrays and name not in self._groups:
                ta = timed_arrays[name]
                if isinstance(spec, brian2.Quantity):
                    raise UnitError(
                        f"input {name!r} (TimedArray): give its values in base SI units, not as a Brian2 quantity"
                    )
                vals = np.asarray(ta.values)
                shapes = [(vals.shape[0], B) + vals.shape[1:]]
                timed[ta.name] = check_input_tensor(name, spec, shapes, self.device, self.dtype)
                continue
            if name not in self._groups:
                raise ParameterError(
                    f"input {name!r}: no group or TimedArray of that name (groups: {sorted(self._groups)}, "
                    f"timed arrays: {sorted(timed_arrays)})"
                )
            if not isinstance(spec, Mapping):
                raise ParameterError(f"input {name!r} must map variable names to tensors, got {type(spec).__name__}")
            g = self._groups[name]
            for var, value in spec.items():
                label = f"{name}.{var}"
                if isinstance(g, brian2.SpikeGeneratorGroup) and var == "spikes":
                    spikes = check_input_tensor(label, value, [(n_steps, B, len(g))], self.device, self.dtype)
                    if spikes.dtype != torch.bool and not bool(((spikes == 0) | (spikes == 1)).all()):
                        raise ParameterError(f"input {label!r}: spikes are 0 or 1 (or booleans), got other values")
                    generators[name] = spikes
                    continue
                if (
                    not isinstance(var, str)
                    or var not in g.variables
                    or not isinstance(g.variables[var], ArrayVariable)
                ):
                    known = sorted(
                        n
                        for n, v in g.variables.items()
                        if isinstance(v, ArrayVariable)
                        and not n.startswith("_")
                        and not v.read_only
                        and getattr(v.owner, "name", None) == g.name
                    )
                    raise ParameterError(
                        f"input {label!r}: {name!r} has no state variable {var!r} (variables that can be set: {known})"
                    )
                bvar = g.variables[var]
                if var.startswith("_") or bvar.read_only:
                    raise ParameterError(
                        f"input {label!r}: {var!r} of {name!r} is read-only in Brian2 "
                        "(it cannot be set, so it cannot be an input)"
                    )
                if getattr(bvar.owner, "name", None) != g.name:
                    raise ParameterError(
                        f"input {label!r}: {var!r} is a variable of "
                        f"{getattr(bvar.owner, 'name', '?')!r}, not of {name!r}; give it under "
                        f"its own group: inputs={{{getattr(bvar.owner, 'name', '?')!r}: "
                        f"{{{bvar.name!r}: ...}}}}"
                    )
                if isinstance(value, brian2.Quantity):
                    raise UnitError(f"input {label!r}: give tensors in base SI units, not Brian2 quantities")
                key = array_key(bvar)
                if key not in self._arrays:
                    self._register_array(g.variables[var])
                    self._values[key] = self._to_tensor(self._arrays[key], g.variables[var].get_value())
                info = self._arrays[key]
                n = info.size
                t = check_input_tensor(label, value, [(B, n), (n_steps, B, n)], self.device, self.dtype)
                if t.dim() == 3 and bvar.constant:
                    raise ParameterError(
                        f"input {label!r}: {var!r} is declared (constant) in {name!r}: give one "
                        f"value per run, shape [{B}, {n}], not one per step"
                    )
                if info.kind != "float":
                    t = self._integral_input(label, t, info)
                elif t.dtype == torch.bool:
                    t = t.to(self.dtype)
                (per_step if t.dim() == 3 else per_run)[key] = t
        return per_run, per_step, timed, generators

    def _integral_input(self, label: str, t: torch.Tensor, info: ArrayInfo) -> torch.Tensor:
        """An input to an integer or boolean variable, in that variable's dtype (not the twin's float)."""
        want = self._values[info.key].dtype if info.key in self._values else torch.int64
        if info.kind == "bool":
            if t.dtype != torch.bool and not bool(((t == 0) | (t == 1)).all()):
                raise ParameterError(f"input {label!r}: {info.name!r} is boolean; give True/False (or 0/1) values")
            return t.to(torch.bool)
        if t.is_floating_point() and not bool((t == torch.round(t)).all()):
            raise ParameterError(f"input {label!r}: {info.name!r} is an integer variable; got non-integral values")
        return t.to(want)

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
        return any(p.requires_grad for p in self.params.values()) or _any_requires_grad(inputs)

    def _simulate(self, duration, inputs, record, relaxed) -> TwinResult:
        """A run in four parts: its plan (steps, inputs, records), the initial state, the steps, the result."""
        plan = self._plan_run(duration, inputs, record)
        functional = torch.is_grad_enabled()
        S = self._initial_state(plan, functional)
        kernels = bool(self._kernel_plan) and not functional and not relaxed
        if kernels and not self._kernels_loaded:
            self._load_kernels()
        R = Context(
            B=self.batch_size,
            dtype=self.dtype,
            device=self.device,
            functional=functional,
            surrogate=self.surrogate,
            relaxed=bool(relaxed),
            kernels=kernels,
        )
        out = _RunRecord.start(self._ops, plan, functional or bool(relaxed))
        guard = None
        if functional:
            guard = GradientMemoryGuard(plan.n_steps, self.device, self._static_tensors(), f"network {self.net.name!r}")
        for k in range(plan.n_steps):
            self._step_once(S, R, plan, out, k, guard)
        if guard is not None and guard.sampled:
            self.gradient_bytes_per_step = guard.saved / guard.sampled
        return self._collect(S, plan, out)

    def _plan_run(self, duration, inputs, record) -> _RunPlan:
        """Check the arguments and decide the run: its steps, inputs, records and batched arrays; compile
        what this set of batched arrays needs; load the queues, TimedArrays and generators' inputs.
        """
        from biosnn.units import check_quantity

        duration = check_quantity("duration", duration, brian2.second)
        if np.ndim(duration) != 0:
            raise ParameterError(f"duration must be a single time, got {duration!r}")
        if float(duration) < 0:
            raise ParameterError(f"duration must be a finite, non-negative time, got {duration}")
        # Brian2's rule (Network.run, Clock.set_interval): from the step of the network's time to the step
        # of that time plus the duration, each the nearest step if on the grid (up to 1e-4 dt), else the next
        t_end = self._t + float(duration)
        n_steps = max(self._timestep(t_end) - self._step, 0)
        per_run, per_step, timed, generators = self._prepare_inputs(inputs, n_steps)
        self._check_parameters()
        rec_keys, rec_index, rec_blocks = self._prepare_records(record)
        batched = frozenset(
            self._written | set(per_run) | set(per_step) | {k for k in self._carry if self._carry[k].dim() == 2}
        )
        if self._compiled_for != batched:
            self._build_ops(batched)
            self._compiled_for = batched
        for gname, _names, blk, _size in rec_blocks:
            if getattr(blk, "compiled_in", None) is not self._ns:
                self._compile_extra_block(blk, gname)
        if self._queues_to_load:  # Brian2's events in flight at the last pull
            for op in self._ops:
                rows = self._pulled_queues.get(op.name) if isinstance(op, PathwayOp) else None
                if rows and any(rows):
                    op.set_pending(rows, self.batch_size, self.device)
            self._queues_to_load = False
        for name in self._timed_arrays.arrays:
            self._timed_arrays.set(name, timed.get(name))
        for op in self._ops:
            if isinstance(op, SpikeGeneratorOp):
                op.override = generators.get(op.group_name)
                op.override_start = self._step
        return _RunPlan(
            self._step, n_steps, self._t, t_end, per_run, per_step, rec_keys, rec_index, rec_blocks, batched
        )

    def _prepare_records(self, record) -> tuple[dict, dict, list]:
        """``record=`` as the state arrays to record (by ``(group, variable)``), the recorded elements where
        not all, and the blocks that compute recorded subexpressions.
        """
        if record is not None and not isinstance(record, Mapping):
            raise ParameterError(
                f"record must map group names to variable names ({{'E': ['v']}}), got {type(record).__name__}"
            )
        rec_keys: dict[tuple[str, str], str] = {}
        rec_subexpressions: dict[str, list[str]] = {}
        rec_index: dict[tuple[str, str], torch.Tensor] = {}  # recorded elements, where not all
        for gname, names in dict(record or {}).items():
            g = self._group(gname)
            for var, which in self._record_names(gname, names).items():
                if isinstance(g.variables.get(var), Subexpression):
                    rec_subexpressions.setdefault(gname, []).append(var)
                    size = len(g)
                elif var in g.variables and isinstance(g.variables[var], ArrayVariable):
                    key = array_key(g.variables[var])
                    if key not in self._arrays:
                        self._register_array(g.variables[var])
                        self._values[key] = self._to_tensor(self._arrays[key], g.variables[var].get_value())
                    rec_keys[(gname, var)] = key
                    size = self._arrays[key].size
                else:
                    raise ParameterError(f"record: {gname!r} has no state variable or subexpression {var!r}")
                if which is not True:
                    rec_index[(gname, var)] = self._record_indices(gname, var, which, size)
        rec_blocks = [
            (gname, tuple(names), self._subexpression_block(gname, tuple(names)), len(self._group(gname)))
            for gname, names in rec_subexpressions.items()
        ]
        return rec_keys, rec_index, rec_blocks

    @staticmethod
    def _record_names(gname: str, names) -> dict:
        """``record={group: names}``'s names as ``{variable: True or indices}``."""
        if isinstance(names, str):
            names = {names: True}
        elif not isinstance(names, Mapping):
            if not isinstance(names, Iterable):
                raise ParameterError(f"record: {gname!r} needs variable names (['v', ...]), got {names!r}")
            names = {n: True for n in names}
        for var in names:
            if not isinstance(var, str):
                raise ParameterError(f"record: {gname!r}: variable names are strings, got {var!r}")
        return dict(names)

    def _initial_state(self, plan: _RunPlan, functional: bool) -> dict[str, torch.Tensor]:
        """The state the run starts from: the carried (or pulled) arrays, the inputs for the whole run, batched
        arrays ``[B, n]``; copies where the run updates in place (no gradients), never the user's tensors.
        """
        S: dict[str, torch.Tensor] = {}
        for key, info in self._arrays.items():
            v = self.current(key)
            if key in plan.per_run:
                v = plan.per_run[key] if functional else plan.per_run[key].clone()
            if key in plan.batched and v.dim() == 1:
                v = v.expand(self.batch_size, info.size)
                if not functional:
                    v = v.clone()
            S[key] = v
        return S

    def _step_once(self, S, R, plan: _RunPlan, out: _RunRecord, k: int, guard) -> None:
        """Step ``k`` of the run: the per-step inputs, the records (at the step's start), the operations in
        Brian2's schedule order, the spikes.
        """
        B = self.batch_size
        step = plan.start + k
        keep = out.functional  # without autograd some updates are in place: keep copies of what is recorded
        for key, t in plan.per_step.items():
            S[key] = t[k] if keep else t[k].clone()  # in-place updates never touch the user's tensor
        for rk, key in plan.rec_keys.items():
            v = S[key]
            v = v.expand(B, v.shape[-1]) if v.dim() == 1 else v
            v = v[:, plan.rec_index[rk]] if rk in plan.rec_index else v
            out.states[rk].append(v if keep else v.clone())
        for gname, names, blk, size in plan.rec_blocks:
            R.vshape = (B, size)
            values = blk.fn(S, R, step * self.dt, step)
            for n in names:
                v = _fit(values[RECORDED_PREFIX + n], B, size, R)
                v = v[:, plan.rec_index[(gname, n)]] if (gname, n) in plan.rec_index else v
                out.states[(gname, n)].append(v if keep else v.clone())
        R.events = {}
        if guard is not None and guard.sampling(k):
            try:
                with guard.step(k, step * self.dt):
                    self._run_step(S, R, step)
            except MemoryBudgetError:
                self.reset()  # the queues moved on: back to the last pull, consistent
                raise
        else:
            self._run_step(S, R, step)
        out.spikes_of_step(R, k, B, self.dtype, self.device)

    def _collect(self, S, plan: _RunPlan, out: _RunRecord) -> TwinResult:
        """End of the run: the twin's time and carried state, the check for non-finite values, the result."""
        self._step = plan.start + plan.n_steps
        self._t = plan.t_end
        self._carry = {key: S[key].detach() for key in plan.batched if key in S}
        # one check per run (not per step): the state the run wrote (its inputs and parameters were checked)
        msg = self._first_nonfinite(
            {k: v for k, v in self._carry.items() if k in self._arrays and self._arrays[k].kind == "float"}
        )
        if msg is not None:
            raise NonFiniteError(
                f"run(): {msg} at the end of the run: it became non-finite during the run from "
                f"t = {plan.t_start * brian2.second} to {plan.t_end * brian2.second} (parameters, inputs and state "
                "were finite at its start); the twin keeps that state, tw.reset() or tw.pull() gives a finite one"
            )
        return self._result(plan.start, plan.n_steps, out.spike_groups, out.dense_trains, out.sparse, out.states)

    def _run_step(self, S, R, step: int) -> None:
        for op in self._ops:
            if op.every == 1 or step % op.every == 0:
                op(S, R, step)

    def _static_tensors(self) -> list:
        """Tensors that live as long as the twin (parameters, index arrays, tables of the operations)."""
        out = list(self.params.values()) + [v for v in self._ns.values() if isinstance(v, torch.Tensor)]
        for op in self._ops:
            out += [v for v in vars(op).values() if isinstance(v, torch.Tensor)]
        return out

    def _result(self, start, n_steps, spike_groups, dense_trains, sparse, states) -> TwinResult:
        B = self.batch_size
        shapes, sp = {}, {}
        dense = {}
        spikes: dict[str, list] = {}
        counts = {}
        for _ev, (gname, size) in spike_groups.items():
            shapes[gname] = (n_steps, B, size)
            entries = sparse[gname]
            if entries:
                bs = torch.cat([b for _, b, _ in entries])
                iis = torch.cat([i for _, _, i in entries])
                lengths = [int(b.shape[0]) for _, b, _ in entries]
                s_np = np.repeat(np.asarray([k for k, _, _ in entries], dtype=np.int64), lengths)
                steps = torch.as_tensor(s_np, device=self.device)
            else:
                steps = bs = iis = torch.zeros(0, dtype=torch.long, device=self.device)
                s_np = np.zeros(0, dtype=np.int64)
            sp[gname] = (steps, bs, iis)
            if gname in dense_trains:
                dense[gname] = (
                    torch.stack(dense_trains[gname])
                    if dense_trains[gname]
                    else torch.zeros(0, B, size, dtype=self.dtype, device=self.device)
                )
            b_np, i_np = bs.cpu().numpy(), iis.cpu().numpy()
            # every step records its spikes in (trial, neuron) order, so a stable sort by trial leaves each
            # trial's spikes ordered by (time, neuron), as SpikeMonitor.it
            order = np.argsort(b_np.astype(np.int32), kind="stable")
            per_trial = np.bincount(b_np, minlength=B)
            bounds = np.concatenate([[0], np.cumsum(per_trial)])
            i_sorted, s_sorted = i_np[order].astype(np.int32), s_np[order]
            spikes[gname] = [
                (
                    i_sorted[bounds[b] : bounds[b + 1]],
                    ((s_sorted[bounds[b] : bounds[b + 1]] + start) * self.dt) * brian2.second,
                )
                for b in range(B)
            ]
            counts[gname] = torch.as_tensor(np.bincount(b_np * size + i_np, minlength=B * size).reshape(B, size))
        st: dict[str, dict[str, torch.Tensor]] = {}
        for (gname, var), vals in states.items():
            st.setdefault(gname, {})[var] = torch.stack(vals) if vals else torch.zeros(0)
        t = (np.arange(start, start + n_steps) * self.dt) * brian2.second
        return TwinResult(LazySpikeTrains(dense, sp, shapes, self.dtype, self.device), spikes, st, t, counts)

    def forward(self, duration, inputs=None, record=None) -> TwinResult:  # noqa: D401
        """Same as :meth:`run` (so the twin can be called like any module)."""
        return self.run(duration, inputs=inputs, record=record)

    @property
    def t(self):
        """The twin's current time (Quantity)."""
        return self._t * brian2.second

    def generated_code(self) -> str:
        """The Python source the twin generated for every block (for inspection)."""
        if self._compiled_for is None:
            self._build_ops(frozenset(self._written))
            self._compiled_for = frozenset(self._written)
        return "\n".join(f"# {b.captured.name}\n{b.source}" for b in self._blocks if b is not None)


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
        How blocks run when no gradient is wanted (:data:`biosnn.twins.kernels.BACKENDS`): ``"c"`` compiles
        Brian2's statements into C loops over the tensors (CPU, float64; same spikes), ``"torch"`` uses
        tensor operations only; ``"auto"`` (default) takes ``"c"`` where it can. Runs with gradients
        always use tensor operations; a run outside ``torch.no_grad()`` is one with gradients only when
        something requires one (a parameter of ``tw.params``, an input tensor; :meth:`Twin.requires_grad`).
        :meth:`Twin.compiled_blocks` tells which blocks run compiled.

    Returns
    -------
    Twin
        A ``torch.nn.Module``; ``twin.run(duration, inputs=..., record=...)`` simulates it.

    Raises
    ------
    UnsupportedFeatureError
        For any construct the twin cannot run, naming the object and the construct, before anything runs.
    """
    return Twin(
        network_or_objects,
        batch_size=batch_size,
        dtype=dtype,
        device=device,
        surrogate=surrogate,
        learnable=learnable,
        namespace=namespace,
        exact=exact,
        seed=seed,
        backend=backend,
        random=random,
    )
