"""The README's figures, rendered from the files the code writes (never typed by hand).

Sources (committed with the code that produced them):

* ``figures/demo/summary.csv`` -- written by ``make demo`` (``biosnn demo --out figures/demo``);
* ``bench/results/twin_vs_brian2.json`` -- written by ``python bench/twin_vs_brian2.py``.

``python -m biosnn.report`` (``make readme``) rewrites the block between the README's
``<!-- figures:begin -->`` and ``<!-- figures:end -->`` markers; ``tests/core/test_readme.py`` checks that the
committed README equals what these files give.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from biosnn.errors import ParameterError

BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
DEMO_SUMMARY = Path("figures") / "demo" / "summary.csv"
TWIN_BENCH = Path("bench") / "results" / "twin_vs_brian2.json"
LABELS = {"eihl": "EIHL", "stbp": "STBP", "local": "local-only"}


def _demo_lines(path: Path) -> list[str]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ParameterError(f"{str(path)!r} holds no demo results")
    seeds = {r["seeds"] for r in rows}
    parts = []
    for r in rows:
        text = (
            f"{LABELS.get(r['method'], r['method'])} {100 * float(r['test_accuracy_mean']):.2f} +- "
            f"{100 * float(r['test_accuracy_std']):.2f} %"
        )
        if float(r["sparsity_mean"]) > 0:
            text += f" at {100 * float(r['sparsity_mean']):.1f} % sparsity"
        parts.append(text)
    return [
        f"`make demo` (digits, {'/'.join(sorted(seeds))} seeds, test accuracy): " + "; ".join(parts) + ".",
        f"Source: `{DEMO_SUMMARY.as_posix()}`.",
    ]


def _twin_lines(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    parts = []
    for name, net in data["networks"].items():
        single = next(v for k, v in net.items() if k.startswith("ratio_single"))
        batched = next(v for k, v in net.items() if k.startswith("ratio_per_trial"))
        same = net["spikes_brian2"] == net["spikes_twin_single"]
        parts.append(
            f"{name} {single:.2f}x for one trial and {batched:.1f}x per trial at B = {data['batch']} "
            f"({'the same' if same else 'different'} spike count, {net['spikes_brian2']})"
        )
    return [
        f"Twin vs Brian2's Cython target ({data['n']} neurons, {data['duration_s']:g} s, no gradients): "
        + "; ".join(parts)
        + ".",
        f"CPU: {_cpu_kind(data.get('cpu'))}. Source: `{TWIN_BENCH.as_posix()}`.",
    ]


def _cpu_kind(described: str | None) -> str:
    """``"AVX-512"`` / ``"no AVX-512"`` from :func:`biosnn.twins.cmath.describe`'s text."""
    if not described:
        return "not recorded"
    return described.split(";")[0].removeprefix("CPU ").split(" (")[0]


def readme_figures(root: str | Path) -> str:
    """The README's figure block (Markdown lines) from the result files under ``root``."""
    root = Path(root)
    lines: list[str] = []
    for rel, render in ((DEMO_SUMMARY, _demo_lines), (TWIN_BENCH, _twin_lines)):
        path = root / rel
        if not path.is_file():
            raise ParameterError(
                f"the README's figures need {str(path)!r}; run the command that writes it (see biosnn.report)"
            )
        lines.extend(render(path))
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def update_readme(root: str | Path) -> bool:
    """Rewrite the README's figure block from the files; ``True`` if the README changed."""
    readme = Path(root) / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise ParameterError(f"{str(readme)!r} has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{readme_figures(root)}\n{END}{tail}"
    if new != text:
        readme.write_text(new)
    return new != text


if __name__ == "__main__":  # pragma: no cover - `make readme`
    changed = update_readme(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
    print("README figures " + ("updated" if changed else "already up to date"))
