r"""The base class of every plasticity rule: a small declarative object that attaches to any Brian2 synapse.

A rule is its Brian2 statements and its parameters, nothing else:

* ``model``: the synaptic equations it needs (its traces, the weight ``w`` with its unit);
* ``on_pre`` / ``on_post``: the statements run at a presynaptic / postsynaptic spike;
* :meth:`PlasticityRule.namespace`: the constants those statements use, as an explicit dict (library code
  never relies on Brian2's capture of the caller's namespace);
* its parameters: explicit keyword-only constructor arguments with Brian2 units and published defaults,
  returned by :meth:`PlasticityRule.get_params` (``type(r)(**r.get_params()) == r``).

:meth:`PlasticityRule.synapses` builds an ordinary :class:`brian2.Synapses` between any two groups
(E->E, E->I, I->E, input->E) from the rule plus the user's synaptic ``effect`` (``"ge_post += w"``).
Brian2 refuses synaptic variables whose names equal a variable of the pre- or postsynaptic group, and a
group variable would silently shadow a namespace constant of the same name; so every internal name of the
rule (its traces and constants) that clashes with a variable of ``source`` or ``target`` or with an
identifier of the user's ``effect``/``model``/``namespace`` is renamed consistently (``apre`` ->
``apre_stdp``). The mapping is returned by :meth:`PlasticityRule.renamed` and stored on the returned
object as ``S.plasticity_names``, so traces can be read as ``getattr(S, S.plasticity_names["apre"])``.

Switching learning off and on: every rule declares in :attr:`PlasticityRule.learning_parameters` the
constants of its :meth:`~PlasticityRule.namespace` that scale its weight change (its learning rate or its
amplitudes). :meth:`PlasticityRule.set_learning` (or :func:`set_learning`) sets their entries in a built
``Synapses``' namespace (under their possibly renamed names, ``S.plasticity_names``) to zero, and back to
the rule's values, without changing anything else; the next ``run`` uses them. Rules whose traces carry an
amplitude (additive STDP, the eligibility trace of reward-modulated STDP) list those traces in
:attr:`PlasticityRule.learning_traces`: switching off with ``reset_traces=True`` also zeroes them, so the
weights freeze at once instead of after the traces have decayed.

Rules that read a postsynaptic quantity (the Clopath rule reads the membrane potential) name it through a
constructor argument (``voltage="v"``) and declare it in :meth:`PlasticityRule.post_requirements`
(variable name -> Brian2 unit name), so that any group providing these variables can be the target.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import brian2
import numpy as np
from brian2.units.fundamentalunits import DimensionMismatchError, Quantity, get_dimensions

from biosnn.errors import NonFiniteError, ParameterError, UnitError
from biosnn.registry import Registry
from biosnn.units import check_quantity, check_range

__all__ = [
    "RULES",
    "register_rule",
    "PlasticityRule",
    "rename_identifiers",
    "unit_name",
    "weight_unit_of",
    "as_quantity",
    "as_float",
    "bounds",
    "amplitude",
    "positive",
    "choice",
    "finite_float",
    "clean",
    "set_learning",
]

# Names Brian2 defines inside every Synapses object (or reserves); a rule never uses these internally and
# a user's weight may not take them.
_RESERVED = frozenset(
    {
        "t",
        "dt",
        "i",
        "j",
        "N",
        "N_pre",
        "N_post",
        "N_incoming",
        "N_outgoing",
        "lastupdate",
        "delay",
        "xi",
        "t_in_timesteps",
        "_spikespace",
        "not_refractory",
        "lastspike",
    }
)

# a derivative on the left of an equation ("dx/dt = ..."), or any identifier
_TOKEN = re.compile(r"(?m)^(?P<lead>[ \t]*)d(?P<deriv>[A-Za-z_]\w*)(?=[ \t]*/[ \t]*dt[ \t]*=)|(?P<ident>[A-Za-z_]\w*)")


def rename_identifiers(code: str, mapping: Mapping[str, str]) -> str:
    """Rename whole identifiers in Brian2 code (equations or statements) in one pass.

    ``x`` in ``dx/dt`` is renamed too; suffixed names (``x_post``) and longer names containing ``x`` are
    left alone. All names are substituted simultaneously, so swapping two names is safe.
    """
    if not mapping:
        return code

    def sub(m: re.Match) -> str:
        if m.group("deriv") is not None:
            name = m.group("deriv")
            return f"{m.group('lead')}d{mapping.get(name, name)}"
        tok = m.group("ident")
        return mapping.get(tok, tok)

    # The unit and flag parts of equations (": volt (event-driven)") hold Brian2 unit names and flags,
    # never a rule's internal names, so one identifier pass over the whole text is safe.
    return _TOKEN.sub(sub, code)


def unit_name(q: Any) -> str:
    """The Brian2 unit name of the dimensions of ``q`` for equation strings (``"1"``, ``"siemens"``...)."""
    dim = get_dimensions(q)
    if dim.is_dimensionless:
        return "1"
    return brian2.get_unit(dim).name


def weight_unit_of(w_max: Any) -> Quantity:
    """The unit (a Brian2 quantity equal to one unit) that weights take from their bound ``w_max``."""
    dim = get_dimensions(w_max)
    if dim.is_dimensionless:
        return brian2.Quantity(1.0)
    return brian2.Quantity(1.0, dim=dim)


def register_rule(cls: type[PlasticityRule]) -> type[PlasticityRule]:
    """Class decorator: register a rule class in :data:`RULES` under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, PlasticityRule)) or not cls.name:
        raise TypeError(f"{cls!r} is not a PlasticityRule subclass with a non-empty 'name'")
    return RULES.register(cls.name, cls)


def _params_equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return a == b
    try:
        if get_dimensions(a) is not get_dimensions(b):
            return False
        return bool(np.all(np.asarray(a) == np.asarray(b)))
    except (TypeError, ValueError):
        return a == b


class PlasticityRule:
    """Base class of declarative plasticity rules.

    Subclasses set the class attributes :attr:`name` (the registry name), :attr:`reference` (the paper)
    and :attr:`tag` (the suffix used when an internal name must be renamed), take their parameters as
    explicit keyword-only arguments with Brian2 units and published defaults, validate them with
    :mod:`biosnn.units` (errors name the parameter) and store them with :meth:`_set_params`. They provide
    :attr:`model`, :attr:`on_pre`, :attr:`on_post` and :meth:`namespace`, written with the weight named
    ``w``.

    Attaching a rule::

        rule = StdpAdditive(pairing="nearest")
        S = rule.synapses(inputs, exc, effect="ge_post += w*nS")
        S.connect(p=0.1)
        S.w = "rand()*0.01"
        net = brian2.Network(inputs, exc, S)
    """

    name: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    tag: ClassVar[str] = "rule"
    #: Brian2 integration method for the rule's clock-driven equations (used when ``method=None``).
    method: ClassVar[str] = "exact"
    #: Parameters whose units set the weight's units (any units are valid for them).
    unit_parameters: ClassVar[tuple[str, ...]] = ("w_max", "weight_unit")
    #: Constants of :meth:`namespace` that scale every weight change of the rule (its learning rate or its
    #: amplitudes): with all of them at zero a fresh synapse's weight never changes. Every rule declares
    #: its own; :meth:`set_learning` switches learning off by zeroing them.
    learning_parameters: ClassVar[tuple[str, ...]] = ()
    #: Synaptic variables that carry the effect of :attr:`learning_parameters` forward in time (traces
    #: incremented by an amplitude, eligibility traces): after a switch off they still change the weight
    #: until they have decayed, unless :meth:`set_learning` is called with ``reset_traces=True``. Empty
    #: when the amplitudes act at the moment of each weight update.
    learning_traces: ClassVar[tuple[str, ...]] = ()

    _params: dict[str, Any]

    # -- parameters ---------------------------------------------------------------------------------
    def _set_params(self, **params: Any) -> None:
        self._params = dict(params)

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments of this rule: ``type(r)(**r.get_params()) == r``."""
        return dict(self._params)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        a, b = self.get_params(), other.get_params()  # type: ignore[union-attr]
        return a.keys() == b.keys() and all(_params_equal(a[k], b[k]) for k in a)

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"

    # -- the rule's Brian2 text ---------------------------------------------------------------------
    @property
    def model(self) -> str:
        """The rule's synaptic equations (weight variable ``w``)."""
        raise NotImplementedError

    @property
    def on_pre(self) -> str:
        """Statements run at each presynaptic spike (before the user's ``effect``)."""
        raise NotImplementedError

    @property
    def on_post(self) -> str:
        """Statements run at each postsynaptic spike."""
        raise NotImplementedError

    def namespace(self) -> dict[str, Any]:
        """The constants used by :attr:`model`, :attr:`on_pre` and :attr:`on_post`."""
        raise NotImplementedError

    def post_requirements(self) -> dict[str, str]:
        """Variables the target group must provide (name -> Brian2 unit name); none by default."""
        return {}

    @property
    def requires_post(self) -> dict[str, str]:
        """Alias of :meth:`post_requirements` (target variable name -> Brian2 unit name)."""
        return self.post_requirements()

    @property
    def weight_unit(self) -> Quantity:
        """The unit of the weight ``w`` (one unit as a quantity; ``1.0`` when dimensionless).

        Taken from the first of :attr:`unit_parameters` the rule has (``w_max`` or ``weight_unit``);
        dimensionless when it has neither.
        """
        for name in self.unit_parameters:
            if name in self._params:
                return weight_unit_of(self._params[name])
        return brian2.Quantity(1.0)

    def synaptic_variables(self) -> tuple[str, ...]:
        """Names of the rule's own synaptic state variables (traces ...), without the weight ``w``."""
        names = brian2.Equations(self.model).names
        return tuple(sorted(n for n in names if n != "w"))

    def internal_names(self) -> tuple[str, ...]:
        """Every name the rule owns (its synaptic variables and its constants), without ``w``."""
        return tuple(sorted(set(self.synaptic_variables()) | set(self.namespace())))

    # -- attaching ----------------------------------------------------------------------------------
    def renamed(
        self,
        source: Any = None,
        target: Any = None,
        *,
        effect: str = "",
        model: str = "",
        weight: str = "w",
        namespace: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """The names the rule's internal names take when attached between ``source`` and ``target``.

        Returns a mapping from every internal name (and ``"w"``) to the name used in the built
        :class:`brian2.Synapses`. A name is renamed to ``<name>_<tag>`` (then ``<name>_<tag>2`` ...) when it
        equals a variable of ``source`` or ``target``, an identifier of ``effect`` or ``model``, a key of
        ``namespace`` or the weight name.
        """
        taken = self._taken_names(source, target, effect=effect, model=model, namespace=namespace)
        taken.add(weight)
        mapping: dict[str, str] = {"w": weight}
        own = self.internal_names()
        used = set(taken)
        for n in own:
            if n in taken:
                k, new = 1, f"{n}_{self.tag}"
                while new in used or new in own:
                    k += 1
                    new = f"{n}_{self.tag}{k}"
                mapping[n] = new
            else:
                mapping[n] = n
            used.add(mapping[n])
        return mapping

    @staticmethod
    def _taken_names(
        source: Any, target: Any, *, effect: str, model: str, namespace: Mapping[str, Any] | None
    ) -> set[str]:
        taken: set[str] = set()
        for group in (source, target):
            if group is not None:
                taken |= set(group.variables.keys())
        taken |= brian2.utils.stringtools.get_identifiers(effect)
        if model.strip():
            eqs = brian2.Equations(model)
            taken |= set(eqs.names) | set(eqs.identifiers)
        if namespace:
            taken |= set(namespace)
        return taken

    def synapses(  # noqa: C901
        self,
        source: Any,
        target: Any,
        *,
        effect: str,
        model: str = "",
        weight: str = "w",
        name: str | None = None,
        delay: Quantity | None = None,
        method: str | None = None,
        dt: Quantity | None = None,
        namespace: Mapping[str, Any] | None = None,
    ) -> brian2.Synapses:
        """Build a :class:`brian2.Synapses` from ``source`` to ``target`` that runs this rule.

        Parameters
        ----------
        source, target
            Any Brian2 groups (``NeuronGroup``, ``PoissonGroup``, ``SpikeGeneratorGroup`` ...).
        effect
            What a presynaptic spike does to the target, appended to the rule's ``on_pre``
            (``"ge_post += w"``); it uses the weight under the name ``weight``. It runs after the rule's
            presynaptic update, so a spike transmits the updated weight (as NEST's ``stdp_synapse``).
        model
            Extra synaptic equations of the user's, appended to the rule's model.
        weight
            Name of the plastic weight variable (default ``"w"``).
        name
            Name of the Synapses object (Brian2 picks one when ``None``).
        delay
            Transmission delay of the presynaptic pathway.
        method
            Integration method for clock-driven equations; ``None`` uses the rule's :attr:`method`.
        dt
            Time step of the Synapses' clock (the default clock when ``None``).
        namespace
            Constants used by ``effect`` or ``model`` (merged with the rule's own namespace; a clash
            renames the rule's constant).

        Returns
        -------
        brian2.Synapses
            Not yet connected: call ``S.connect(...)`` and set the weights. ``S.plasticity_names`` maps
            the rule's internal names to the names used; ``S.plasticity_rule`` is this rule.

        Raises
        ------
        ParameterError
            If ``weight`` is not a valid identifier, is reserved by Brian2, or is a variable of ``source``
            or ``target``; or if ``model`` defines the weight again; or if ``target`` lacks a variable
            listed by :meth:`post_requirements`.
        UnitError
            If a required target variable has other units than the rule needs.
        """
        for group, label in ((source, "source"), (target, "target")):
            if not isinstance(group, brian2.groups.group.Group) or isinstance(group, brian2.Synapses):
                raise ParameterError(
                    f"parameter {label!r} must be a Brian2 group (NeuronGroup, PoissonGroup, SpikeGeneratorGroup "
                    f"or a subgroup of one), got {group!r} ({type(group).__name__})"
                )
        if not isinstance(source, brian2.core.spikesource.SpikeSource):
            raise ParameterError(f"parameter 'source': {source.name!r} does not emit spikes")
        if not isinstance(weight, str) or not weight.isidentifier() or weight in _RESERVED:
            raise ParameterError(f"parameter 'weight' must be a valid, non-reserved identifier, got {weight!r}")
        if not isinstance(effect, str):
            raise ParameterError(f"parameter 'effect' must be a string of Brian2 statements, got {effect!r}")
        if not isinstance(model, str):
            raise ParameterError(f"parameter 'model' must be a string of Brian2 equations, got {model!r}")
        if namespace is not None and not isinstance(namespace, Mapping):
            raise ParameterError(f"parameter 'namespace' must be a mapping of names to values, got {namespace!r}")
        for key, value in (namespace or {}).items():
            if _numeric(value) and not np.all(np.isfinite(np.asarray(value, dtype=float))):
                raise NonFiniteError(f"parameter 'namespace': {key!r} is not finite ({value!r})")
        if name is not None and not isinstance(name, str):
            raise ParameterError(f"parameter 'name' must be a string, got {name!r}")
        if delay is not None and not isinstance(delay, Mapping):
            check_range(
                "delay", float(np.asarray(check_quantity("delay", delay, brian2.second) / brian2.second)), low=0.0
            )
        if dt is not None:
            positive("dt", dt, brian2.second)
        if method is not None and isinstance(method, str) and method not in brian2.StateUpdateMethod.stateupdaters:
            raise ParameterError(
                f"parameter 'method': {method!r} is not a Brian2 integration method; known: "
                f"{sorted(brian2.StateUpdateMethod.stateupdaters)}"
            )
        if model.strip():
            try:
                brian2.Equations(model)
            except Exception as exc:  # noqa: BLE001 - Brian2's parser says what is wrong
                raise ParameterError(
                    f"parameter 'model' is not valid Brian2 equations: {' '.join(str(exc).split())}"
                ) from exc
        for group, label in ((source, "source"), (target, "target")):
            if weight in group.variables:
                raise ParameterError(
                    f"parameter 'weight': {label} group {group.name!r} already has a variable {weight!r}; "
                    "choose another weight name"
                )
        if model.strip() and weight in brian2.Equations(model).names:
            raise ParameterError(f"parameter 'model' defines the weight {weight!r} again; the rule defines it")
        self._check_target(target)
        user_ns = dict(namespace or {})
        mapping = self.renamed(source, target, effect=effect, model=model, weight=weight, namespace=user_ns)
        rule_model = rename_identifiers(self.model, mapping)
        full_model = rule_model + ("\n" + model if model.strip() else "")
        _check_effect(effect, source, target, brian2.Equations(full_model).names | {"lastupdate"})
        pre = rename_identifiers(self.on_pre, mapping)
        on_pre = "\n".join(s for s in (pre, effect) if s.strip())
        on_post = rename_identifiers(self.on_post, mapping)
        ns = {mapping[k]: v for k, v in self.namespace().items()}
        ns.update(user_ns)
        kwargs: dict[str, Any] = dict(
            model=full_model,
            on_pre=on_pre or None,
            on_post=on_post if on_post.strip() else None,
            namespace=ns,
            method=self.method if method is None else method,
        )
        if name is not None:
            kwargs["name"] = name
        if delay is not None:
            kwargs["delay"] = delay
        if dt is not None:
            kwargs["dt"] = dt
        syn = brian2.Synapses(source, target, **kwargs)
        _check_effect_units(effect, syn)
        object.__setattr__(syn, "plasticity_names", mapping)
        object.__setattr__(syn, "plasticity_rule", self)
        return syn

    # -- switching learning off and on --------------------------------------------------------------
    def learning_values(self) -> dict[str, Any]:
        """The rule's values of its :attr:`learning_parameters` (as in :meth:`namespace`, learning on)."""
        ns = self.namespace()
        missing = [k for k in self.learning_parameters if k not in ns]
        if not self.learning_parameters or missing:
            raise ParameterError(
                f"rule {self.name!r} declares learning_parameters {self.learning_parameters!r}, which must be "
                f"non-empty names of its namespace {sorted(ns)}"
            )
        return {k: ns[k] for k in self.learning_parameters}

    def set_learning(self, syn: brian2.Synapses, on: bool, *, reset_traces: bool = False) -> None:
        """Switch the learning of ``syn`` (built by this rule's :meth:`synapses`) off or on.

        Off sets the namespace entries of :attr:`learning_parameters` (under their names in ``syn``,
        ``syn.plasticity_names``) to zero in their units; on sets them back to the rule's values, those
        :meth:`synapses` stored. Nothing else changes (traces keep running, the user's ``effect`` still
        transmits the weight); the next ``run`` uses the new values.

        Parameters
        ----------
        syn
            Synapses built by this rule's :meth:`synapses`.
        on
            ``True``: learning on (the rule's values); ``False``: off (zeros).
        reset_traces
            When switching off, also set the synaptic variables of :attr:`learning_traces` to zero, so
            that the weights freeze at once (traces charged before the switch would otherwise keep
            changing them until they decay). No effect when switching on or for rules without such
            traces.

        Raises
        ------
        ParameterError
            If ``syn`` was not built by this rule, or ``on``/``reset_traces`` is not a bool.
        """
        if not isinstance(on, (bool, np.bool_)):
            raise ParameterError(f"parameter 'on' must be True or False, got {on!r}")
        if not isinstance(reset_traces, (bool, np.bool_)):
            raise ParameterError(f"parameter 'reset_traces' must be True or False, got {reset_traces!r}")
        names = getattr(syn, "plasticity_names", None)
        if names is None or getattr(syn, "plasticity_rule", None) != self:
            raise ParameterError(
                f"Synapses {getattr(syn, 'name', syn)!r} were not built by this rule's synapses() ({self!r})"
            )
        values = self.learning_values()
        for key, value in values.items():
            syn.namespace[names[key]] = value if on else 0 * value
        if not on and reset_traces:
            for trace in self.learning_traces:
                setattr(syn, f"{names[trace]}_", 0.0)

    def _check_target(self, target: Any) -> None:
        for var, unit in self.post_requirements().items():
            if var not in target.variables:
                raise ParameterError(
                    f"rule {self.name!r} needs a variable {var!r} ({unit}) in the target group "
                    f"{target.name!r}; the target has {sorted(k for k in target.variables if not k.startswith('_'))}"
                )
            have = target.variables[var].dim
            need = get_dimensions(brian2.Unit(1) if unit == "1" else getattr(brian2, unit))
            if have is not need:
                raise UnitError(
                    f"rule {self.name!r}: target variable {var!r} must have units of {unit}, got dimensions {have}"
                )


_STATEMENT = re.compile(r"^\s*([A-Za-z_]\w*)\s*(\+=|-=|\*=|/=|=)(?!=)")


def _check_effect(effect: str, source: Any, target: Any, synaptic: set[str]) -> None:
    """Check that ``effect`` writes only variables the synapses will have, and reads ``_pre``/``_post``
    variables that exist (names without a suffix may come from the namespace of the run, so only their
    assignment is checked).

    Raises
    ------
    ParameterError
        Naming the variable and the group that lacks it.
    """

    def public(group: Any) -> list[str]:
        return sorted(k for k in group.variables if not k.startswith("_"))

    for line in effect.splitlines():
        code = line.split("#", 1)[0]
        if not code.strip():
            continue
        m = _STATEMENT.match(code)
        if m is None:
            raise ParameterError(
                f"parameter 'effect': {code.strip()!r} is not a Brian2 statement "
                "('variable = expression' or 'variable += expression' ...)"
            )
        var = m.group(1)
        rhs = code[m.end() :].strip()
        try:
            ast.parse(rhs.replace("&", " and ").replace("|", " or "), mode="eval")
        except SyntaxError:
            raise ParameterError(f"parameter 'effect': the expression of {code.strip()!r} is not valid") from None
        if var in synaptic:
            continue
        for suffix, group, label in (("_post", target, "target"), ("_pre", source, "source")):
            if var.endswith(suffix):
                base = var[: -len(suffix)]
                if base not in group.variables:
                    raise ParameterError(
                        f"parameter 'effect': {var!r} names a variable {base!r} of the {label} group "
                        f"{group.name!r}, which has none; its variables: {public(group)}"
                    )
                break
        else:
            if var not in target.variables:
                raise ParameterError(
                    f"parameter 'effect' writes {var!r}, which is neither a synaptic variable {sorted(synaptic)} "
                    f"nor a variable of the target group {target.name!r} ({public(target)})"
                )
    for name in brian2.utils.stringtools.get_identifiers(effect):
        if name in synaptic:
            continue
        for suffix, group, label in (("_post", target, "target"), ("_pre", source, "source")):
            if name.endswith(suffix) and name[: -len(suffix)] not in group.variables:
                raise ParameterError(
                    f"parameter 'effect': {name!r} names a variable {name[: -len(suffix)]!r} of the {label} "
                    f"group {group.name!r}, which has none; its variables: {public(group)}"
                )


def _check_effect_units(effect: str, syn: brian2.Synapses) -> None:
    """Check the units of ``effect`` in ``syn`` now (Brian2 would only at its first run), where every name it
    uses resolves without the run's namespace; the others are left to Brian2 at run time.
    """
    from brian2.equations.unitcheck import check_units_statements

    if not effect.strip():
        return
    try:
        variables = syn.resolve_all(brian2.utils.stringtools.get_identifiers(effect), run_namespace={})
    except KeyError:  # a name from the run's namespace: Brian2 checks at run time
        return
    try:
        check_units_statements(effect, variables)
    except DimensionMismatchError as exc:
        from biosnn.brian import mark_used

        mark_used([syn])  # dropped, not forgotten: no "never included in a network" warning
        raise UnitError(f"parameter 'effect': {' '.join(str(exc).split())}") from None


def set_learning(syn: brian2.Synapses, on: bool, *, reset_traces: bool = False) -> None:
    """Switch the learning of Synapses built by any rule off or on: ``syn.plasticity_rule.set_learning(...)``.

    See :meth:`PlasticityRule.set_learning`.
    """
    rule = getattr(syn, "plasticity_rule", None)
    if not isinstance(rule, PlasticityRule):
        raise ParameterError(f"Synapses {getattr(syn, 'name', syn)!r} were not built by a plasticity rule's synapses()")
    rule.set_learning(syn, on, reset_traces=reset_traces)


# -- validation helpers shared by the rules ---------------------------------------------------------
def positive(name: str, value: Any, unit: Any) -> Any:
    """Check a strictly positive, finite quantity in the dimensions of ``unit`` (a time constant ...)."""
    q = check_quantity(name, value, unit)
    check_range(name, float(np.asarray(q / unit)), low=0.0, low_inclusive=False)
    return clean(q)


def bounds(w_min: Any, w_max: Any) -> tuple[Any, Any]:
    """Check weight bounds: same dimensions (any; the weight takes them), finite, ``0 <= w_min < w_max``.

    Returns the bounds as stored parameters (plain floats when dimensionless).
    """
    if isinstance(w_max, (str, bool)) or w_max is None or not _numeric(w_max):
        raise UnitError(f"parameter 'w_max' must be a number or a Brian2 quantity, got {w_max!r}")
    unit = weight_unit_of(w_max)
    wmax = check_quantity("w_max", w_max, unit)
    if not isinstance(w_min, brian2.Quantity) and _numeric(w_min) and np.ndim(w_min) == 0 and float(w_min) == 0.0:
        w_min = 0.0 * unit  # a plain zero lower bound fits any weight unit
    wmin = check_quantity("w_min", w_min, unit)
    lo, hi = float(np.asarray(wmin / unit)), float(np.asarray(wmax / unit))
    check_range("w_min", lo, low=0.0)
    if lo >= hi:
        raise ParameterError(f"parameter 'w_min' ({w_min!r}) must be smaller than 'w_max' ({w_max!r})")
    return clean(wmin), clean(wmax)


def clean(q: Any) -> Any:
    """A validated parameter as stored: a plain float when dimensionless, else the Brian2 quantity."""
    if get_dimensions(q).is_dimensionless:
        return float(np.asarray(q))
    return q


def as_quantity(value: Any, unit: Any) -> Any:
    """A stored parameter as a Brian2 quantity (plain floats are in ``unit``)."""
    if isinstance(value, brian2.Quantity):
        return value
    return value * unit


def as_float(value: Any, unit: Any) -> float:
    """A stored parameter as a float in ``unit`` (plain floats pass through)."""
    if isinstance(value, brian2.Quantity):
        return float(np.asarray(value / unit))
    return float(value)


def _numeric(value: Any) -> bool:
    try:
        np.asarray(value, dtype=float)
        return True
    except (TypeError, ValueError):
        return False


def amplitude(name: str, value: Any, unit: Any) -> Any:
    """Check a non-negative amplitude in the units of the weight (``unit``); returns it as stored."""
    try:
        q = check_quantity(name, value, unit)
    except UnitError as exc:
        raise UnitError(f"{exc} (weights and their amplitudes take the units of 'w_max')") from None
    check_range(name, float(np.asarray(q / unit)), low=0.0)
    return clean(q)


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Check that ``value`` is one of ``allowed`` (strings)."""
    if value not in allowed:
        raise ParameterError(f"parameter {name!r} must be one of {allowed}, got {value!r}")
    return value


def finite_float(name: str, value: Any, *, low: float | None = None, high: float | None = None) -> float:
    """Check a dimensionless, finite float within ``[low, high]``."""
    v = float(check_quantity(name, value, 1))
    if not math.isfinite(v):  # pragma: no cover - check_quantity rejects non-finite values already
        raise ParameterError(f"parameter {name!r} must be finite, got {value!r}")
    return check_range(name, v, low=low, high=high)


#: Every plasticity rule class by name (filled when :mod:`biosnn.plasticity` imports the rule modules).
RULES: Registry[type[PlasticityRule]] = Registry("plasticity rule")
