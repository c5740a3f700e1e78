"""The README's figures, rendered from the files the code writes (never typed by hand).

Sources (committed with the code that produced them):

* ``figures/demo/summary.csv`` -- written by ``make demo`` (``biosnn demo --out figures/demo``);
* ``bench/results/twin_vs_brian2.json`` -- written by ``python bench/twin_vs_brian2.py``;
* ``bench/results/twin_scaling.json`` -- written by ``python bench/twin_scaling.py --duration 0.5`` (against
  Brian2 cpp_standalone, the scaling curves), and ``bench/results/twin_gradients.json`` -- written by
  ``python bench/twin_gradients.py`` (forward + backward with gradients);
* ``figures/tour/*.txt`` -- what ``biosnn circuit-demo`` and ``biosnn train`` print, recorded by
  ``python -m biosnn.report --tour`` (``make tour``), which runs the two commands;
* ``bench/results/hybrid_baselines_demo_net*.json`` -- written by ``python bench/hybrid_baselines.py --hidden
  256 --epochs 20 ...`` (EIHL and its baselines on the demo's network, one data set per file), and
  ``bench/results/local_features.json`` -- written by ``python bench/local_features.py`` (local-only
  features against a frozen random hidden layer): the "Hybrid learning: what holds" block.

``python -m biosnn.report`` (``make readme``) rewrites the blocks between the README's
``<!-- figures:begin -->`` / ``<!-- figures:end -->``, ``<!-- hybrid:begin -->`` / ``<!-- hybrid:end -->``
and ``<!-- tour:begin -->`` / ``<!-- tour:end -->`` markers; ``tests/core/test_readme.py`` checks that the
committed README equals what these files give.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

from biosnn.errors import ParameterError

BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
DEMO_SUMMARY = Path("figures") / "demo" / "summary.csv"
TWIN_BENCH = Path("bench") / "results" / "twin_vs_brian2.json"
TWIN_SCALING = Path("bench") / "results" / "twin_scaling.json"
TWIN_GRADIENTS = Path("bench") / "results" / "twin_gradients.json"
LABELS = {"eihl": "EIHL", "stbp": "STBP", "local": "local-only", "local_random": "local (random control)"}
TOUR_BEGIN, TOUR_END = "<!-- tour:begin -->", "<!-- tour:end -->"
HYBRID_BEGIN, HYBRID_END = "<!-- hybrid:begin -->", "<!-- hybrid:end -->"
HYBRID_BENCH = Path("bench") / "results"
HYBRID_GLOB = "hybrid_baselines_demo_net*.json"
LOCAL_FEATURES = Path("bench") / "results" / "local_features.json"
#: The methods of the hybrid table, in order: result key -> column label.
HYBRID_METHODS = {"eihl": "EIHL", "stbp": "STBP", "stbp_imp": "STBP + magnitude pruning", "set": "SET"}
TOUR = Path("figures") / "tour"
#: The README tour's shell commands, in order: transcript file -> the command's arguments after ``biosnn``.
TOUR_COMMANDS = {
    "circuit-demo.txt": ["circuit-demo", "--out", (TOUR / "circuit-demo").as_posix()],
    "train.txt": ["train", "--out", (TOUR / "train").as_posix(), "--no-progress"],
}


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


def _scaling_lines(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    n, parts, batched, brainpy = data["batch_n"], [], [], []
    for name, net in data["networks"].items():
        s = net["summary"]
        if "brian2_standalone_run / twin_as_called" in s:
            parts.append(f"{name} {s['brian2_standalone_run / twin_as_called']:.2f}x")
        if "brainpy_run / twin_as_called" in s:
            brainpy.append(f"{name} {s['brainpy_run / twin_as_called']:.1f}x")
        b32 = s.get("B32: brian2_cython_marginal / twin_per_trial")
        if b32 is not None:
            two = s.get("B32, 2 threads: brian2_cython_marginal / twin_per_trial")
            batched.append(f"{name} {b32:.1f}x" + (f" ({two:.1f}x with 2 threads)" if two is not None else ""))
    return [
        f"Twin, one trial as called (`tw.run`, no `no_grad`), vs Brian2 cpp_standalone's run time (N = {n}, "
        f"{data['duration_s']:g} s): " + ", ".join(parts) + "; per trial at B = 32 (1 thread) vs Brian2 Cython's "
        "cost per step (its per-run set-up taken out; Brian2 runs on one thread): "
        + ", ".join(batched)
        + (f"; one trial vs BrainPy (JAX jit, warm): {', '.join(brainpy)}" if brainpy else "")
        + ".",
        f"Source: `{TWIN_SCALING.as_posix()}` (and `{TWIN_SCALING.with_suffix('.png').as_posix()}`).",
    ]


def _gradient_lines(path: Path) -> list[str]:
    data = json.loads(path.read_text())
    steady = data["ratio_forward_backward (brian2 / twin forward+backward per trial)"]
    first = data["ratio_forward_backward_first_iteration"]
    return [
        f"Twin with gradients (CUBA {data['n']}, B = {data['batch']}, forward + backward per trial, tensor "
        f"operations) vs Brian2 Cython's forward: {steady:.2f}x in later training iterations, {first:.3f}x in the "
        "first (short of 1x: the compiled gradient path is not built).",
        f"Source: `{TWIN_GRADIENTS.as_posix()}`.",
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
    sources = (
        (DEMO_SUMMARY, _demo_lines),
        (TWIN_BENCH, _twin_lines),
        (TWIN_SCALING, _scaling_lines),
        (TWIN_GRADIENTS, _gradient_lines),
    )
    for rel, render in sources:
        path = root / rel
        if not path.is_file():
            raise ParameterError(
                f"the README's figures need {str(path)!r}; run the command that writes it (see biosnn.report)"
            )
        lines.extend(render(path))
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def _pm(summary: dict, scale: float = 100.0) -> str:
    return f"{scale * summary['mean']:.2f} +- {scale * summary['std']:.2f}"


def _holds(value: bool) -> str:
    return "holds" if value else "does not hold"


def _ci(summary: dict) -> str:
    lo, hi = summary["ci95"]
    return f"{100 * summary['mean']:+.2f} points, 95 % CI {100 * lo:+.2f} .. {100 * hi:+.2f}"


def readme_hybrid(root: str | Path) -> str:
    """The README's "Hybrid learning: what holds" block from the hybrid baselines on the demo's network
    (``bench/results/hybrid_baselines_demo_net*.json``) and ``bench/results/local_features.json``.
    """
    root = Path(root)
    files = sorted((root / HYBRID_BENCH).glob(HYBRID_GLOB))
    features = root / LOCAL_FEATURES
    if not files or not features.is_file():
        raise ParameterError(
            f"the README's hybrid block needs {(HYBRID_BENCH / HYBRID_GLOB).as_posix()!r} and "
            f"{LOCAL_FEATURES.as_posix()!r}; run bench/hybrid_baselines.py and bench/local_features.py"
        )
    head = "| data set | " + " | ".join(f"{label} (% at sparsity)" for label in HYBRID_METHODS.values()) + " |"
    lines = [head, "|---" * (len(HYBRID_METHODS) + 1) + "|"]
    claims, settings = [], set()
    for path in files:
        data = json.loads(path.read_text())
        s = data["settings"]
        settings.add(f"{s['hidden']} hidden, {s['epochs']} epochs, {s['seeds']} seeds")
        for name, d in data["datasets"].items():
            cells = [
                f"{_pm(d['table'][m]['accuracy'])} ({100 * d['table'][m]['sparsity']['mean']:.1f} %)"
                for m in HYBRID_METHODS
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
            c = d["claims"]
            claims.append(
                f"- {name}: EIHL >= STBP at >= 15 % sparsity {_holds(c['eihl_ge_stbp_at_15pct_sparsity'])} "
                f"({_ci(c['eihl_minus_stbp'])}); EIHL >= magnitude pruning at the same sparsity "
                f"{_holds(c['eihl_ge_imp_same_sparsity'])} ({_ci(c['eihl_minus_imp'])})."
            )
    widths = []
    feature_files = sorted(
        (root / LOCAL_FEATURES).parent.glob("local_features*.json"),
        key=lambda p: json.loads(p.read_text())["settings"]["hidden"],
    )
    for path in feature_files:
        lf = json.loads(path.read_text())
        parts = [
            f"{name} learned {_pm(d['learned'])} % vs random {_pm(d['random'])} % "
            f"(difference {round(100 * d['difference']['mean'], 2) + 0.0:+.2f} +- "
            f"{100 * d['difference']['sem']:.2f} s.e.): {_holds(d['holds'])}"
            for name, d in lf["datasets"].items()
        ]
        widths.append(f"  - {lf['settings']['hidden']} neurons: " + "; ".join(parts) + ".")
    sources = ", ".join(f"`{(HYBRID_BENCH / p.name).as_posix()}`" for p in files)
    return "\n".join(
        [
            f"Test accuracy, mean +- std over seeds, on the demo's network ({'; '.join(sorted(settings))}):",
            "",
            *lines,
            "",
            *claims,
            "- Local-only competitive STDP features against a frozen random hidden layer with the same readout "
            "(by more than two standard errors; seeds 1-5, readout chosen on a validation split):",
            *widths,
            "",
            f"Sources: {sources}, "
            + ", ".join(f"`{(LOCAL_FEATURES.parent / p.name).as_posix()}`" for p in feature_files)
            + ".",
        ]
    )


def record_tour(root: str | Path) -> list[Path]:
    """Run the README tour's shell commands in ``root`` and write what each prints to ``figures/tour/``.

    Each transcript starts with the command line (``$ biosnn ...``) followed by its standard output and
    standard error; a command that fails raises :class:`~biosnn.errors.ParameterError` with its output.
    """
    root = Path(root)
    (root / TOUR).mkdir(parents=True, exist_ok=True)
    written = []
    for name, args in TOUR_COMMANDS.items():
        out_dir = root / args[args.index("--out") + 1]
        shutil.rmtree(out_dir, ignore_errors=True)  # the run's own results folder: written anew each time
        proc = subprocess.run([sys.executable, "-m", "biosnn", *args], cwd=root, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ParameterError(f"`biosnn {' '.join(args)}` failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        path = root / TOUR / name
        path.write_text(f"$ biosnn {' '.join(args)}\n{proc.stderr}{proc.stdout}")
        written.append(path)
    return written


def readme_tour(root: str | Path) -> str:
    """The README tour's console block (fenced): the transcripts under ``figures/tour/``, in command order."""
    root = Path(root)
    texts = []
    for name in TOUR_COMMANDS:
        path = root / TOUR / name
        if not path.is_file():
            raise ParameterError(f"the README's tour needs {str(path)!r}; run `make tour` (biosnn.report --tour)")
        texts.append(path.read_text().rstrip("\n"))
    return "```console\n" + "\n".join(texts) + "\n```"


def _replace_block(text: str, begin: str, end: str, body: str, where: Path) -> str:
    if begin not in text or end not in text:
        raise ParameterError(f"{str(where)!r} has no {begin} ... {end} block")
    head, rest = text.split(begin, 1)
    _old, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def update_readme(root: str | Path) -> bool:
    """Rewrite the README's figure, hybrid and tour blocks from the files; ``True`` if the README changed."""
    readme = Path(root) / "README.md"
    text = readme.read_text()
    new = _replace_block(text, BEGIN, END, readme_figures(root), readme)
    new = _replace_block(new, HYBRID_BEGIN, HYBRID_END, readme_hybrid(root), readme)
    new = _replace_block(new, TOUR_BEGIN, TOUR_END, readme_tour(root), readme)
    if new != text:
        readme.write_text(new)
    return new != text


if __name__ == "__main__":  # pragma: no cover - `make readme`, `make tour`
    arguments = [a for a in sys.argv[1:] if a != "--tour"]
    where = Path(arguments[0]) if arguments else Path.cwd()
    if "--tour" in sys.argv[1:]:
        for recorded in record_tour(where):
            print(f"recorded {recorded}")
    changed = update_readme(where)
    print("README figures " + ("updated" if changed else "already up to date"))
