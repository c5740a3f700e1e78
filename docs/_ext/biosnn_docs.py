"""Sphinx extension: the pages of the biosnn documentation that are generated from the code at build time.

When the builder starts (``builder-inited``) it writes, under ``docs/_generated/`` (git-ignored):

* ``rules/<name>.rst``: one page per plasticity rule of :data:`biosnn.plasticity.RULES`: the rule module's
  docstring (equations, paper), the rule's Brian2 ``model`` / ``on_pre`` / ``on_post`` strings and its
  constants at the default parameters, the parameters' defaults, and the class reference;
* ``circuits/<name>.rst``: one page per builder of :data:`biosnn.circuits.CIRCUITS`: the circuit module's
  docstring, the Brian2 equations, thresholds, resets and synaptic statements of the objects it builds,
  the paper's figures (the module's ``PAPER_FIGURES``) and the builder's reference;
* ``api/<module>.rst``: one API page per public module (:data:`API_MODULES`);
* ``cli.rst``: the help of every ``biosnn`` command, produced by click from :mod:`biosnn.cli`;
* ``notebooks/*.ipynb``: copies of ``notebooks/*.ipynb`` with their committed outputs (rendered by myst-nb
  without executing them).

So a new rule or circuit, once registered, gets its page without anyone writing one. A file is rewritten only
when its text changes, and files that no longer correspond to anything are removed.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

#: The modules that get an API reference page, in the order of the API index.
API_MODULES = (
    "biosnn",
    "biosnn.twins",
    "biosnn.learning",
    "biosnn.models",
    "biosnn.data",
    "biosnn.plot",
    "biosnn.ablation",
    "biosnn.nir",
    "biosnn.circuits",
    "biosnn.plasticity",
)

#: Integer size parameters (``n_exc``, ``n_inputs`` ...) are capped at this value when a circuit is built to
#: read its Brian2 statements: the statements do not depend on the sizes, and the build stays fast.
SMALL_SIZE = 20


# ------------------------------------------------------------------------------------------- rst helpers
def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def _code(text: str, language: str = "text") -> str:
    body = textwrap.indent(text.strip("\n") or "(none)", "   ")
    return f".. code-block:: {language}\n\n{body}\n"


def _literal(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return "``" + " ".join(text.split()) + "``"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """A ``list-table`` directive (cells are inline rst)."""
    header = list(header)
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        cells = list(row)
        lines.append(f"   * - {cells[0]}")
        lines.extend(f"     - {cell}" for cell in cells[1:])
    return "\n".join(lines) + "\n"


# "(see the module docstring ...)": true in the code, but on the generated page the module docstring is right there
_SEE_MODULE = re.compile(r"\s*\((?:see )?(?:the )?module docstring[^)]*\)")


def _first_line(doc: str | None) -> str:
    """The first paragraph of a docstring on one line, without pointers to the module docstring."""
    return _SEE_MODULE.sub("", (inspect.cleandoc(doc or "").split("\n\n")[0] or "").replace("\n", " ").strip())


# ---------------------------------------------------------------------------------------------- rules
def rule_page(name: str, cls: type) -> str:
    """The page of the plasticity rule ``cls`` registered as ``name``."""
    rule = cls()
    module = cls.__module__
    parts = [
        f".. _rule-{name}:\n",
        _title(f"{name}: {_first_line(inspect.getmodule(cls).__doc__).rstrip('.')}"),
        f"Registered as ``RULES[{name!r}]``: :class:`{module}.{cls.__name__}`.\n",
        f"**Paper:** {cls.reference or 'not stated'}\n",
        f".. automodule:: {module}\n",
        _title("Brian2 statements at the default parameters", "-"),
        "What :meth:`~biosnn.plasticity.base.PlasticityRule.synapses` attaches to a ``brian2.Synapses`` (before "
        "renaming clashing names and appending the user's ``effect`` to ``on_pre``).\n",
        "``model``\n",
        _code(rule.model),
        "``on_pre``\n",
        _code(rule.on_pre),
        "``on_post``\n",
        _code(rule.on_post),
        _operations(name, rule),
        _title("Constants", "-"),
        "The explicit namespace of those statements (``rule.namespace()``).\n",
        _table(("name", "value"), ((f"``{k}``", _literal(v)) for k, v in rule.namespace().items())),
        _title("Parameters and their defaults", "-"),
        f"``{cls.__name__}(**rule.get_params())`` rebuilds the rule. Switched off by ``set_learning``: "
        + (", ".join(f"``{p}``" for p in cls.learning_parameters) or "(none)")
        + ".\n",
        _table(("parameter", "default"), ((f"``{k}``", _literal(v)) for k, v in rule.get_params().items())),
        _title("Reference", "-"),
        f".. autoclass:: {module}.{cls.__name__}\n   :members:\n   :show-inheritance:\n",
    ]
    return "\n".join(parts)


def _operations(name: str, rule: Any) -> str:
    """The operations the rule's ``synapses`` adds beside its pathways (``run_regularly`` code), as rst.

    Found by attaching the rule to two small groups that provide its ``post_requirements``.
    """
    import brian2

    from biosnn.brian import mark_used

    eqs = "\n".join(f"{var} : {unit}" for var, unit in rule.post_requirements().items()) or "unused : 1"
    source = brian2.NeuronGroup(1, "unused : 1", threshold="False", reset="", name=f"docs_pre_{name}*")
    target = brian2.NeuronGroup(1, eqs, threshold="False", reset="", name=f"docs_post_{name}*")
    syn = rule.synapses(source, target, effect="", name=f"docs_{name}*")
    mark_used([source, target, syn, *syn.contained_objects])
    runners = [o for o in syn.contained_objects if type(o).__name__ == "CodeRunner" and o.abstract_code.strip()]
    parts = []
    for runner in runners:
        parts += [f"Run regularly, every ``{runner.clock.dt}``\n", _code(runner.abstract_code)]
    return "\n".join(parts)


def rules_index(rules: Mapping[str, type]) -> str:
    rows = (
        (f":ref:`{name} <rule-{name}>`", _first_line(inspect.getmodule(cls).__doc__), cls.reference)
        for name, cls in rules.items()
    )
    return "\n".join(
        [
            _title("Plasticity rules"),
            "Every rule of ``biosnn.plasticity.RULES``, one page each, generated from the rule itself: its equations "
            "and paper (the rule module's docstring), its Brian2 statements and constants, its parameters.\n",
            _table(("rule", "what", "paper"), rows),
            ".. toctree::\n   :hidden:\n\n" + "".join(f"   {name}\n" for name in rules),
        ]
    )


# ------------------------------------------------------------------------------------------- circuits
def _small_build(builder: Callable[..., Any]) -> tuple[Any, dict[str, int]]:
    """Build a circuit with its integer size parameters capped at :data:`SMALL_SIZE` (defaults if refused)."""
    sizes = {
        k: SMALL_SIZE
        for k, p in inspect.signature(builder).parameters.items()
        if k.startswith("n_") and type(p.default) is int and p.default > SMALL_SIZE
    }
    try:
        return builder(**sizes), sizes
    except Exception:  # noqa: BLE001 - a builder that refuses the small sizes is built as published
        return builder(), {}


def _brian2_objects(circuit: Any) -> str:  # noqa: C901 - one branch per kind of Brian2 object
    """The Brian2 statements of every group and synapse of ``circuit``, as rst."""
    import brian2

    from biosnn.brian import mark_used

    objects = sorted(circuit.network.objects, key=lambda o: o.name)
    mark_used(objects)  # built to be read, never run: no "never included in a network" warnings
    parts = []
    for obj in objects:
        if isinstance(obj, brian2.NeuronGroup):
            parts.append(_title(f"NeuronGroup ``{obj.name}``", "~"))
            parts += ["Equations\n", _code(str(obj.user_equations))]
            for what, code in (("threshold", obj.events.get("spike")), ("reset", obj.event_codes.get("spike"))):
                if code:  # statements, possibly over several lines
                    parts += [f"``{what}``\n", _code(code)]
            parts.append(f"* refractory: ``{obj._refractory}``\n* integration method: ``{obj.method_choice}``\n")
        elif isinstance(obj, brian2.Synapses):
            parts.append(_title(f"Synapses ``{obj.name}`` (``{obj.source.name}`` -> ``{obj.target.name}``)", "~"))
            parts += ["``model``\n", _code(str(obj.equations))]  # Brian2's rendering, flags included
            for pathway in obj._pathways:
                parts += [f"``on_{pathway.prepost}``\n", _code(pathway.code)]
        elif isinstance(obj, brian2.PoissonGroup):
            parts.append(f"* PoissonGroup ``{obj.name}``: rates ``{obj._rates}``\n")
        elif isinstance(obj, brian2.PoissonInput):  # its rate may follow the sizes (Brunel: nu_thr of C_E)
            parts.append(
                f"* PoissonInput ``{obj.name}`` onto ``{obj._group.name}.{obj._target_var}``: "
                f"each input spike adds ``{obj._weight}`` (its number of sources and rate follow the arguments)\n"
            )
    return "\n".join(parts)


def _paper_rows(figures: Any, prefix: str = "") -> list[tuple[str, Any]]:
    from biosnn.circuits.base import PaperFigure

    if isinstance(figures, PaperFigure):
        return [(prefix, figures)]
    if isinstance(figures, Mapping):
        return [
            row
            for key, value in figures.items()
            for row in _paper_rows(value, f"{prefix} / {key}" if prefix else str(key))
        ]
    return []


def _paper_figures(name: str, module: Any) -> str:
    figures = getattr(module, "PAPER_FIGURES", None)
    if not figures:
        return ""
    if isinstance(figures, Mapping) and name in figures:  # one module, several circuits (cuba and coba)
        figures = figures[name]
    rows = []
    for key, fig in _paper_rows(figures):
        accepted = (
            "shown, not judged"
            if fig.low is None and fig.high is None
            else f"[{'-inf' if fig.low is None else f'{fig.low:g}'}, {'inf' if fig.high is None else f'{fig.high:g}'}]"
        )
        paper = fig.paper if isinstance(fig.paper, str) else f"{fig.paper:g} {fig.unit}".strip()
        rows.append((f"``{key}``", fig.quantity, paper, fig.source, accepted))
    return "\n".join(
        [
            _title("What the paper reports", "-"),
            f"``{module.__name__}.PAPER_FIGURES``: the figures the tests compare the circuit with (the accepted "
            "interval is the one a measurement must fall in).\n",
            _table(("key", "quantity", "paper", "source", "accepted"), rows),
        ]
    )


def circuit_page(name: str, builder: Callable[..., Any], *, index_module: bool) -> str:
    """The page of the circuit builder registered as ``name``."""
    module = inspect.getmodule(builder)
    circuit, sizes = _small_build(builder)
    built = (
        f"built with {', '.join(f'``{k}={v}``' for k, v in sizes.items())} (the sizes do not change the statements)"
        if sizes
        else "built with the defaults"
    )
    qualified = f"{module.__name__}.{builder.__name__}"
    parts = [
        f".. _circuit-{name}:\n",
        _title(name),
        f"{_first_line(builder.__doc__)}\n",
        f"Registered as ``CIRCUITS[{name!r}]``: :func:`{qualified}`.\n",
        f".. automodule:: {module.__name__}\n" + ("" if index_module else "   :no-index:\n"),
        _paper_figures(name, module),
        _title("Brian2 objects", "-"),
        f"The groups and synapses of ``CIRCUITS[{name!r}]()``, {built}: ordinary Brian2 in one explicit "
        "``brian2.Network``, with the circuit's namespace passed to every run.\n",
        _brian2_objects(circuit),
        _title("Builder", "-"),
        f".. autofunction:: {qualified}\n",
    ]
    return "\n".join(parts)


def circuits_index(circuits: Mapping[str, Callable[..., Any]]) -> str:
    rows = ((f":ref:`{name} <circuit-{name}>`", _first_line(builder.__doc__)) for name, builder in circuits.items())
    return "\n".join(
        [
            _title("Circuits"),
            "Every builder of ``biosnn.circuits.CIRCUITS``, one page each, generated from the circuit itself: its "
            "equations and paper (the circuit module's docstring), the figures its paper reports, the Brian2 "
            "statements of the objects it builds, and its keyword arguments with their defaults.\n",
            _table(("circuit", "what"), rows),
            ".. toctree::\n   :hidden:\n\n" + "".join(f"   {name}\n" for name in circuits),
        ]
    )


# ------------------------------------------------------------------------------------------- api, cli
def api_page(module: str) -> str:
    """The module's docstring and one autodoc directive per name of its ``__all__``.

    The names are listed explicitly rather than through ``automodule``'s ``:members:``, which finds only
    what the module already holds: biosnn's packages load their exports lazily (PEP 562 ``__getattr__``).
    """
    import importlib

    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None)
    if names is None:
        return "\n".join([_title(f"``{module}``"), f".. automodule:: {module}\n   :members:\n"])
    parts = [_title(f"``{module}``"), f".. automodule:: {module}\n"]
    for name in names:
        value = getattr(mod, name)
        if inspect.ismodule(value):
            parts.append(f"* :mod:`{value.__name__}`\n")
        elif inspect.isclass(value):
            parts.append(f".. autoclass:: {module}.{name}\n   :members:\n   :show-inheritance:\n")
        elif inspect.isroutine(value):
            parts.append(f".. autofunction:: {module}.{name}\n")
        else:  # registries, defaults, tables: their description, not their (long) value
            parts.append(_data_entry(mod, name, value))
    return "\n".join(parts)


@functools.cache
def _attribute_comments(package_name: str) -> dict[str, list[str]]:
    """The ``#:`` comments of the module-level names of a package and of its submodules."""
    import importlib
    import pkgutil

    from sphinx.errors import PycodeError
    from sphinx.pycode import ModuleAnalyzer

    package = importlib.import_module(package_name)
    modules = [package_name]
    if hasattr(package, "__path__"):
        modules += [info.name for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}.")]
    comments: dict[str, list[str]] = {}
    for name in modules:
        try:
            docs = ModuleAnalyzer.for_module(name).find_attr_docs()
        except PycodeError:
            continue
        for (scope, attr), lines in docs.items():
            if not scope:
                comments.setdefault(attr, list(lines))
    return comments


def _data_entry(mod: Any, name: str, value: Any) -> str:
    """A ``py:data`` entry: the ``#:`` comment where the value is defined, and a registry's names."""
    comment = "\n".join(_attribute_comments(mod.__name__).get(name, [])).strip()
    if isinstance(value, Mapping):
        keys = ", ".join(f"``{k}``" for k in value)
        what = f"A ``{type(value).__name__}`` of {len(value)} entries: {keys or '(none)'}."
    else:
        what = f"A ``{type(value).__name__}``."
    body = f"{comment}\n\n{what}" if comment else what
    return f".. py:data:: {name}\n   :module: {mod.__name__}\n\n" + textwrap.indent(body, "   ") + "\n"


def api_index() -> str:
    return "\n".join(
        [
            _title("API reference"),
            "One page per public module; each lists what the module exports (its ``__all__``).\n",
            ".. toctree::\n   :maxdepth: 1\n\n" + "".join(f"   {m}\n" for m in API_MODULES),
        ]
    )


def cli_page(width: int = 100) -> str:
    """The help of ``biosnn`` and of each of its commands, as click prints it."""
    import click

    from biosnn.cli import main

    def helps(command: click.Command, ctx: click.Context) -> Iterable[tuple[str, str]]:
        yield ctx.command_path, command.get_help(ctx)
        if isinstance(command, click.Group):
            for sub_name in command.list_commands(ctx):
                sub = command.get_command(ctx, sub_name)
                yield from helps(
                    sub,
                    click.Context(sub, info_name=sub_name, parent=ctx, terminal_width=width, max_content_width=width),
                )

    root = click.Context(main, info_name="biosnn", terminal_width=width, max_content_width=width)
    parts = [
        _title("Command line"),
        "The ``biosnn`` command (also ``python -m biosnn``). The help texts below are produced by click from "
        ":mod:`biosnn.cli` when the documentation is built.\n",
    ]
    for path, text in helps(main, root):
        parts += [_title(f"``{path}``", "-"), _code(text)]
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------- files
def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so a build running beside never reads half a page."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write(path: Path, text: str, written: set[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        _replace(path, text.encode())
    written.add(path)


def _copy(src: Path, dst: Path, written: set[Path]) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    data = src.read_bytes()
    if not dst.exists() or dst.read_bytes() != data:
        _replace(dst, data)
    written.add(dst)


def generate(out: Path, notebooks: Path) -> set[Path]:
    """Write every generated page under ``out``; remove the files there that were not written now."""
    import brian2
    from biosnn.circuits import CIRCUITS
    from biosnn.plasticity import RULES

    brian2.prefs.codegen.target = "numpy"  # building circuits must not compile anything
    written: set[Path] = set()
    for name, cls in RULES.items():
        _write(out / "rules" / f"{name}.rst", rule_page(name, cls), written)
    _write(out / "rules" / "index.rst", rules_index(RULES), written)
    seen_modules: set[str] = set()
    for name, builder in CIRCUITS.items():
        module = builder.__module__
        _write(
            out / "circuits" / f"{name}.rst",
            circuit_page(name, builder, index_module=module not in seen_modules),
            written,
        )
        seen_modules.add(module)
    _write(out / "circuits" / "index.rst", circuits_index(CIRCUITS), written)
    for module in API_MODULES:
        _write(out / "api" / f"{module}.rst", api_page(module), written)
    _write(out / "api" / "index.rst", api_index(), written)
    _write(out / "cli.rst", cli_page(), written)
    for nb in sorted(notebooks.glob("*.ipynb")):
        _copy(nb, out / "notebooks" / nb.name, written)
    for stale in [p for p in out.rglob("*") if p.is_file() and p not in written and not p.name.startswith(".")]:
        stale.unlink(missing_ok=True)  # a page of a rule or circuit that is gone (not another build's temporary file)
    return written


def _on_builder_inited(app) -> None:
    src = Path(app.srcdir)
    generate(src / "_generated", src.parent / "notebooks")


def setup(app) -> dict[str, Any]:
    app.connect("builder-inited", _on_builder_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
