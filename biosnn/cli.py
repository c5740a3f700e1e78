"""The ``biosnn`` command line (click).

* ``biosnn demo`` -- the main job: hybrid training on scikit-learn's digits, EIHL vs STBP vs local-only
  over three seeds, a table of test accuracy (mean +- std) and sparsity (:mod:`biosnn.demo`).
* ``biosnn train`` -- one training run (``--method eihl|stbp|local --model ... --dataset ... --epochs ...``)
  with tqdm progress bars, a results directory (``config.json``, ``metrics.csv``,
  ``checkpoints/last.pt``, ``plots/training.png``), ``--resume`` and ``--device cpu|cuda|cuda:N|auto``.
* ``biosnn circuit-demo`` -- two published plasticity results of the circuit library in plain Brian2 (Vogels
  2011 iSTDP, Song 2000 STDP; no twin, no training), figure in ``--out`` (default ``runs/circuit-demo``).

Every error biosnn raises on purpose (unknown names, a data set missing on disk, a checkpoint for
another model, NaN in the loss or the weights, a results folder in use ...) ends the command with exit
status 1 and a one-line message on standard error, without a traceback; results already on disk are left
as they were. Usage errors (an option out of its range, such as ``--seed -1`` or ``--threads 0``) end it
with click's exit status 2. Everything is checked when the run is set up, before any file is written.

``biosnn train`` refuses options that do not apply to the run (``--width`` with the MLP, ``--hidden`` with
vgg11/resnet, ``--size`` on static data, ``--data-root`` on digits or synthetic data, ``--local-*`` with
another method than ``local``, EIHL's options with another method than ``eihl``) instead of storing and
ignoring them; ``--hidden ""`` (no hidden layer) is refused too.

Threads: ``biosnn train`` sets ``torch.set_num_threads`` to :func:`default_threads` unless ``--threads``
says otherwise (``biosnn demo``: 1): one thread for the MLP, and half the cores (at most 4) for the other
models. On this project's busy 2-core machine (``bench/startup.py``) torch's default of one thread per
core made an epoch 7.5 times slower for the MLP and 8 times slower for a small VGG11 than one thread
(issue 13 saw 20 times); the conv rule gives 1 thread there too, and its larger counts on bigger
machines are not measured yet. ``biosnn --help`` imports neither torch nor Brian2; ``biosnn train --help``
fills in the names each registry knows and the defaults of :class:`~biosnn.learning.run.RunConfig` when it
is shown.

Results folder rules (:func:`biosnn.learning.run.train`): a folder is locked for the whole run (a second
run on it exits 1 and touches nothing); a new run refuses a folder holding results (checkpoint, metrics,
plots) and starts anew in one that holds only the start of a run killed before its first checkpoint;
``--resume`` continues from the checkpoint, or starts from the beginning when the run stopped before its
first checkpoint (said on standard error). ``--resume --epochs N``: N below the epochs done exits 1; N equal
to them says there is nothing left to do and exits 0; a larger N is written to ``config.json``. Any other
option given with ``--resume`` must equal the run's own (a different one is refused, naming it).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import click

from biosnn.errors import BiosnnError


def _fail(exc: BaseException) -> click.ClickException:
    return click.ClickException(" ".join(f"{type(exc).__name__}: {exc}".split()))  # one line


SEED = click.IntRange(0, 2**32 - 1)
POSITIVE = click.IntRange(min=1)


def _echo_err(message: str) -> None:
    click.echo(f"biosnn: {message}", err=True)


#: Models that run fastest on one thread (small dense layers); every other model gets :func:`default_threads`'
#: share of the cores.
ONE_THREAD_MODELS = ("mlp",)


def default_threads(model: str, cores: int | None = None) -> int:
    """The ``torch.set_num_threads`` count ``biosnn train`` uses for ``model`` when ``--threads`` is not given.

    One thread for :data:`ONE_THREAD_MODELS` (their layers are too small to gain from more, and with more
    threads than free cores an epoch on a busy machine took 7.5 to 8 times longer: ``bench/startup.py``);
    ``max(1, min(4, cores // 2))`` for the conv models (``cores``: the CPUs this process may use).
    """
    if model in ONE_THREAD_MODELS:
        return 1
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores // 2))


def _names(registry) -> str:
    return ", ".join(sorted(registry))


def _train_option_names() -> dict[str, Callable[[], Iterable[str]]]:
    """For each name-valued option of ``biosnn train``: the names it accepts, read from the registries."""

    def datasets():
        from biosnn.data import DATASETS
        from biosnn.learning.run import SYNTHETIC_DATASETS

        return [*sorted(DATASETS), *sorted(SYNTHETIC_DATASETS)]

    def reg(module: str, name: str) -> Callable[[], Iterable[str]]:
        def names():
            import importlib

            return sorted(getattr(importlib.import_module(module), name))

        return names

    def rules():
        from biosnn.learning.run import layer_rules

        return layer_rules()

    return {
        "preset": reg("biosnn.learning.run", "PRESETS"),
        "method": reg("biosnn.learning.run", "METHODS"),
        "model": reg("biosnn.learning.run", "MODEL_BUILDERS"),
        "dataset": datasets,
        "encoder": reg("biosnn.data", "ENCODERS"),
        "loss": reg("biosnn.learning.losses", "LOSSES"),
        "optimizer": reg("biosnn.learning.run", "OPTIMIZERS"),
        "neuron": reg("biosnn.models", "NEURONS"),
        "policy": reg("biosnn.learning.policies", "SWITCHING_POLICIES"),
        "granularity": reg("biosnn.learning.eihl", "GRANULARITIES"),
        "local_rule": rules,
    }


#: What a ``None`` default of a RunConfig field means, in the help.
_NONE_DEFAULTS = {
    "steps": "the data set's",
    "encoder": "the data set's: direct for static images, frames for event data; poisson for --method local",
    "local_epochs": "every epoch",
    "local_lr": "the rule's: 1e-5, 0.05 per postsynaptic spike for stdp_competitive",
    "max_batches": "no cap",
    "data_root": "$BIOSNN_DATA_DIR when set, else ./data",
    "size": "the sensor's own size",
}


def _default_text(name: str, value) -> str:
    if value is None:
        return _NONE_DEFAULTS.get(name, "none")
    if isinstance(value, bool):
        return f"--{name.replace('_', '-')}" if value else f"--no-{name.replace('_', '-')}"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


#: The help of ``biosnn train``'s option for each :class:`~biosnn.learning.run.RunConfig` field; the options
#: themselves (name, type, default) are generated from RunConfig's fields (:func:`run_config_options`).
RUN_OPTION_HELP: dict[str, str] = {
    "method": "Training method: eihl (hybrid), stbp (global BPTT), local (local rule on the hidden layers, "
    "readout by gradient) or one of EIHL's family.",
    "model": "Network (competitive_mlp: winner-take-all hidden layers for --method local --local-rule "
    "stdp_competitive).",
    "dataset": "A registered data set (digits and waveform need no files; the others are read from "
    "--data-root, never downloaded), a synthetic paper-shaped set, or your own: "
    "package.module:factory, a callable on sys.path that takes the RunConfig and returns a "
    "biosnn.learning.DataBundle or a dict with train, test (torch Datasets), input_shape, "
    "num_classes (optional steps, encoder).",
    "epochs": "Epochs.",
    "batch_size": "Batch size.",
    "seed": "Seed of every random source (0 ... 2**32-1).",
    "steps": "Time steps T.",
    "encoder": "Input coding (frames: event data only).",
    "loss": "Loss on the output spikes or membrane.",
    "optimizer": "Optimiser (torch.optim).",
    "lr": "Learning rate.",
    "weight_decay": "Weight decay.",
    "hidden": "MLP hidden widths, comma-separated; mlp and competitive_mlp only, at least one.",
    "width": "Channel multiplier of vgg11/resnet (refused with mlp).",
    "neuron": "Neuron model.",
    "dale": "Dale's law in the hidden layers.",
    "a": "EIHL contraction factor a.",
    "b": "EIHL removal threshold thresh(b) = b * mean|w|.",
    "x_growth": "EIHL growth of x per local iteration.",
    "tau_x": "EIHL decay time constant of x (iterations).",
    "policy": "EIHL switching policy.",
    "granularity": "EIHL decision granularity.",
    "global_units": "Minimum length of a global period (units).",
    "max_local_units": "Maximum length of a local period (units).",
    "max_sparsity": "No new local period above this sparsity.",
    "final_global_units": "End the run with this many global units.",
    "local_rule": "Plasticity rule of the local-only baseline (--method local only; the rules with an update "
    "for PyTorch layers).",
    "local_lr": "Learning rate of the local rule (--method local only; 0: the frozen random control).",
    "local_epochs": "Local-only: epochs in which the local rule runs (--method local only).",
    "max_batches": "Cap on batches per epoch (smoke runs).",
    "data_root": "Folder of on-disk data sets (not for digits, waveform or synthetic data); a custom data "
    "set's factory gets it as config.data_root.",
    "size": "On-disk event data only: downsample the sensor to size x size.",
    "device": "cpu | cuda | cuda:<index> | auto (cuda when available, else cpu). May differ on --resume.",
}
#: Click types of the fields whose Python type alone does not say it.
_OPTION_TYPES: dict[str, object] = {"seed": SEED, "data_root": click.Path(), "hidden": str}


def run_config_options() -> list[click.Option]:
    """One option per :class:`~biosnn.learning.run.RunConfig` field, in field order: ``--field-name``
    (``--flag/--no-flag`` for booleans), its click type from the field's type, no default of its own (a
    value left out is RunConfig's default, shown in the help), the help from :data:`RUN_OPTION_HELP`.
    """
    import typing

    from biosnn.learning.run import RunConfig

    hints = typing.get_type_hints(RunConfig)
    options = []
    for field in dataclasses.fields(RunConfig):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        args = typing.get_args(kind)
        base = next((a for a in args if a is not type(None)), kind) if args and type(None) in args else kind
        if base is bool:
            decls, click_type = [f"{flag}/--no-{flag[2:]}"], None
        else:
            decls = [flag]
            click_type = _OPTION_TYPES.get(field.name, base if base in (int, float) else str)
        options.append(
            click.Option([*decls, field.name], default=None, type=click_type, help=RUN_OPTION_HELP[field.name])
        )
    return options


class _TrainCommand(click.Command):
    """``biosnn train``: its help shows the registries' names and RunConfig's defaults, filled in (importing
    torch) only when the help is shown, so that starting a run or ``biosnn --help`` does not pay for it.
    """

    _filled = False
    _generated = False

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not self._generated:  # RunConfig's options, made when the command runs or shows its help
            self.params[1:1] = run_config_options()  # after --preset
            self._generated = True
        return super().get_params(ctx)

    def _fill(self) -> None:
        if self._filled:
            return
        self.get_params(click.Context(self))
        from biosnn.learning.run import RunConfig

        defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
        names = _train_option_names()
        for param in self.params:
            if not isinstance(param, click.Option) or param.help is None:
                continue
            extra = []
            if param.name in names:
                extra.append("Names: " + ", ".join(names[param.name]()) + ".")
            if param.name in defaults:
                extra.append(f"[default: {_default_text(param.name, defaults[param.name])}]")
            if extra:
                param.help = f"{param.help} {' '.join(extra)}"
        self._filled = True

    def get_help(self, ctx: click.Context) -> str:
        self._fill()
        return super().get_help(ctx)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="biosnn")
def main() -> None:
    """biosnn: Brian2 circuits, their PyTorch twins, and hybrid local/global learning."""


@main.command()
@click.option("--seeds", default=3, show_default=True, type=POSITIVE, help="Number of seeds (0, 1, ...) per method.")
@click.option("--epochs", default=None, type=POSITIVE, help="Epochs per run (default: the demo's setting).")
@click.option(
    "--methods",
    default="eihl,stbp,local,local_random",
    show_default=True,
    help="Comma-separated arms: training methods, local_random (local-only with the rule off: the random control).",
)
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False),
    help="Also write the table (CSV) and the per-epoch metrics of every run to this folder.",
)
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=POSITIVE,
    help="torch.set_num_threads for the demo "
    "(its MLPs run fastest on one thread; torch's default of one per core was ~8x slower on a busy "
    "2-core machine, bench/startup.py).",
)
def demo(seeds: int, epochs: int | None, methods: str, out: str | None, threads: int | None) -> None:
    """Hybrid training on digits: EIHL vs STBP vs local-only over several seeds."""
    from biosnn.demo import run_demo

    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    if not chosen:
        raise click.BadParameter(f"expected comma-separated method names, got {methods!r}", param_hint="--methods")
    try:
        run_demo(seeds=seeds, epochs=epochs, methods=chosen, out_dir=out, threads=threads)
    except BiosnnError as exc:
        raise _fail(exc) from exc


@main.command("circuit-demo")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Seed for every random source.")
@click.option(
    "--out",
    default="runs/circuit-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder of the figure circuits_demo.png (created when missing).",
)
def circuit_demo(seed: int, out: str) -> None:
    """Two published plasticity results in plain Brian2 (about a minute, no PyTorch twin, no training).

    Vogels et al. 2011: inhibitory STDP brings a recurrent E/I network from >100 Hz down to its 3 Hz target
    and balances excitation with inhibition. Song, Miller & Abbott 2000: additive STDP makes 200 input
    weights bimodal. Prints the figures and writes --out/circuits_demo.png.
    """
    if not out.strip():
        raise click.BadParameter("expected a folder name, got an empty string", param_hint="--out")
    try:
        from biosnn.circuits.demo import run_demo
    except ImportError as exc:
        raise click.ClickException(f"the circuit demo is not available: {exc}") from exc
    try:
        run_demo(seed=seed, out_dir=out)
    except BiosnnError as exc:
        raise _fail(exc) from exc


@main.command(cls=_TrainCommand)
@click.option(
    "--preset",
    default=None,
    help="Start from a named configuration (the EIHL paper's set-ups, each "
    "also as <name>_synthetic on random data of the same shape); other options override it.",
)
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False),
    help="Results directory (default runs/<method>-<model>-<dataset>-seed<seed>); locked while a run uses "
    "it. A new run refuses a folder holding results; one holding only a run stopped before its first "
    "checkpoint is started anew.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out from its last checkpoint (from the beginning "
    "when it stopped before its first one). --epochs below the epochs done: exit 1; equal: nothing to do, "
    "exit 0; more: written to config.json. Other options must equal the run's own.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Progress on standard error: a "
    "line while the data load and while the model is built, then one bar over every batch (epoch, loss, "
    "test accuracy, sparsity after each epoch). --no-progress shows none of it.",
)
@click.option(
    "--threads",
    default=None,
    type=POSITIVE,
    help="torch.set_num_threads for the run. Default: 1 for "
    "the mlp model; half the cores, at most 4, for vgg11/resnet (the fastest measured, bench/startup.py: "
    "torch's own default of one thread per core made epochs 7-8x slower on a busy 2-core machine).",
)
@click.option(
    "--nproc",
    default=None,
    type=POSITIVE,
    help="Train on N processes with DistributedDataParallel "
    "(gloo on cpu, NCCL on cuda); --batch-size is the global batch, split across them; rank 0 alone "
    "writes --out. Default: one process; under torchrun leave it out (its RANK/WORLD_SIZE are used).",
)
def train(**options) -> None:
    """Train a spiking network: EIHL (hybrid), STBP (global) or local-only, with checkpoints and resume.

    Options that do not apply to the run (--width with mlp, --hidden with vgg11/resnet, --size on static
    data, --data-root on digits/synthetic data, --local-* without --method local, EIHL options without
    --method eihl) are refused. Errors: exit status 1 and one line; bad option values: exit status 2.

    \b
    Environment:
      BIOSNN_DATA_DIR   folder of on-disk data sets when --data-root is not given (default ./data)
      BIOSNN_CACHE_DIR  biosnn's cache (Brian2's Cython compile cache, the twin's C kernels); unset:
                        Brian2's own default cache folder
    """  # noqa: D301 (click's \b: keep the environment table as written)
    from biosnn.learning.run import folder_state, inapplicable_settings, read_config
    from biosnn.learning.run import train as run_training

    out, resume, progress, threads, preset = (
        options.pop(k) for k in ("out", "resume", "progress", "threads", "preset")
    )
    nproc = options.pop("nproc")
    given = {k: v for k, v in options.items() if v is not None}
    if "hidden" in given:
        pieces = str(given["hidden"]).split(",")
        try:
            given["hidden"] = tuple(int(h) for h in pieces) if any(h.strip() for h in pieces) else ()
        except ValueError as exc:
            raise click.BadParameter(
                f"expected comma-separated integers, got {given['hidden']!r}", param_hint="--hidden"
            ) from exc
        if not given["hidden"]:
            raise click.BadParameter(
                f"expected at least one hidden layer width (comma-separated integers), got {options['hidden']!r}",
                param_hint="--hidden",
            )
    if out is not None and not out.strip():
        raise click.BadParameter("expected a folder name, got an empty string", param_hint="--out")
    import torch

    previous_threads = torch.get_num_threads()
    try:
        if resume:
            if out is None:
                raise click.UsageError("--resume needs --out (the results directory of the run to continue)")
            if preset is not None:
                raise click.UsageError("--preset does not apply with --resume (the run's own config.json is used)")
            if (Path(out) / "config.json").is_file() or folder_state(out) != "started":
                base = read_config(out)
                config = dataclasses.replace(base, **given)  # explicit options must agree (epochs may change)
            else:  # killed while its config.json was written: starts from the beginning with the options given
                config = _new_config(preset, given)
        else:
            config = _new_config(preset, given)
            if out is None:
                dataset = config.dataset.replace(":", ".").replace(os.sep, "_")  # a custom package.module:factory
                out = str(Path("runs") / f"{config.method}-{config.model}-{dataset}-seed{config.seed}")
        problems = inapplicable_settings(config, given)
        if problems:
            from biosnn.errors import ParameterError

            raise ParameterError("options that do not apply to this run (refused, not ignored): " + "; ".join(problems))
        torch.set_num_threads(threads if threads is not None else default_threads(config.model))
        result = run_training(config, out_dir=out, resume=resume, progress=progress, notify=_echo_err, nproc=nproc)
    except BiosnnError as exc:
        raise _fail(exc) from exc
    finally:
        torch.set_num_threads(previous_threads)
    if getattr(result, "rank", 0) != 0:  # under torchrun every rank returns; rank 0 alone reports
        return
    last = result.final
    click.echo(
        f"{config.method} {config.model}/{config.dataset}: epoch {last['epoch']}, test accuracy "
        f"{100 * last['test_accuracy']:.2f} %, sparsity {100 * last['sparsity']:.2f} %  -> {out}"
    )


def _new_config(preset, given):
    from biosnn.learning.run import PRESETS, RunConfig

    if preset is not None:
        return dataclasses.replace(PRESETS[preset], **given)
    return RunConfig(**given)


if __name__ == "__main__":  # pragma: no cover
    main()
