"""Colours and small figure helpers shared by every plot.

Populations are coloured by what they are, read from their name: excitatory (``E``, ``exc``, ``Pe``,
``neurons_e`` ...) red, inhibitory (``I``, ``inh``, ``Pi`` ...) blue, inputs (``input``, ``poisson`` ...)
grey. The kinds and their name patterns live in :data:`POPULATION_KINDS`, a registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import brian2
import matplotlib

from biosnn.errors import ParameterError
from biosnn.registry import Registry
from biosnn.units import check_quantity


@dataclass(frozen=True)
class PopulationKind:
    """A kind of population, the colour it is drawn in, and the regular expression its names match."""

    name: str
    color: str
    pattern: str
    priority: int


POPULATION_KINDS: Registry[PopulationKind] = Registry("population kind")
for _kind in (
    PopulationKind(
        "input", "#7f8c8d", r"^(input|inp|poisson|stim|spikegen|spike_generator|source|x)([_\-\s\d].*)?$", 0
    ),
    PopulationKind(
        "excitatory", "#c0392b", r"^(e|exc|excitatory|pe|ge|n_?e)([_\-\s\d].*)?$|[_\-\s](e|exc|excitatory)$", 1
    ),
    PopulationKind(
        "inhibitory", "#2471a3", r"^(i|inh|inhibitory|pi|gi|n_?i)([_\-\s\d].*)?$|[_\-\s](i|inh|inhibitory)$", 2
    ),
):
    POPULATION_KINDS.register(_kind.name, _kind)

#: Colours for populations of no known kind, in order.
OTHER_COLORS = ("#27ae60", "#8e44ad", "#d35400", "#16a085", "#2c3e50")

#: Colours of the two training periods of a hybrid run.
PHASE_COLORS = {"global": "#2e86c1", "local": "#e67e22", "global+local": "#8e44ad"}


def population_kind(name: str) -> str | None:
    """``"excitatory"``, ``"inhibitory"``, ``"input"`` or ``None``, read from a population's name."""
    low = name.strip().lower()
    for kind in sorted(POPULATION_KINDS.values(), key=lambda k: k.priority):
        if re.search(kind.pattern, low):
            return kind.name
    return None


def population_colors(names: list[str], colors: Mapping[str, str] | None = None) -> dict[str, str]:
    """A colour for every population: ``colors`` where given, else by kind, else from :data:`OTHER_COLORS`."""
    given = dict(colors or {})
    unknown = set(given) - set(names)
    if unknown:
        raise ParameterError(f"colors given for unknown populations {sorted(unknown)}; populations: {names}")
    out, spare = {}, iter(OTHER_COLORS * (1 + len(names) // len(OTHER_COLORS)))
    for name in names:
        kind = population_kind(name)
        out[name] = given.get(name) or (POPULATION_KINDS[kind].color if kind else next(spare))
    return out


def time_scale(time_unit: brian2.units.fundamentalunits.Quantity) -> tuple[float, str]:
    """Seconds per ``time_unit`` and its label, for time axes (``ms`` -> ``(1e-3, "ms")``)."""
    q = check_quantity("time_unit", time_unit, brian2.second)
    scale = float(q / brian2.second)
    if scale <= 0:
        raise ParameterError(f"parameter 'time_unit' must be positive, got {time_unit}")
    return scale, str(q.get_best_unit()) if scale in (1.0, 1e-3, 1e-6) else str(q)


def new_axes(ax: matplotlib.axes.Axes | None, *, figsize: tuple[float, float] = (6.4, 3.6)):
    """Return ``(figure, axes)``: ``ax`` and its figure, or a new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def new_figure(
    *,
    figsize: tuple[float, float],
    nrows: int = 1,
    ncols: int = 1,
    sharex: bool = False,
    sharey: bool = False,
    squeeze: bool = True,
):
    """A new figure with a grid of axes (constrained layout)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=squeeze)
    return fig, axes


def save_figure(fig: matplotlib.figure.Figure, path: str | Path, *, dpi: int = 120, close: bool = True) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, ``.png`` by default), creating parent folders.

    Returns the path written. With ``close``, the figure is released from pyplot (if pyplot holds it).
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    if close and getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path
