r"""Random-pruning robustness (the EIHL paper's third experiment).

Prune a fraction of the synapses of a network at random -- over the whole network at once (``scope =
"global"``) or layer by layer (``scope = "layer"``) -- keep them dead or let them regrow, and measure the
accuracy. EIHL's claim is that a network trained with its local (contraction) periods degrades more
gracefully under such pruning than one trained by STBP alone.

Definitions
-----------
* A synapse is *present* when its layer's boolean ``mask`` is ``True``. Pruning a ``fraction`` :math:`f`
  removes exactly :math:`k = \mathrm{round}(f P)` of the :math:`P` currently present synapses, drawn
  uniformly without replacement with a seeded :class:`torch.Generator`:

  - ``"global"``: :math:`P` counts the present synapses of all chosen layers pooled, so each layer loses
    a random share (on average :math:`f` of it);
  - ``"layer"``: every layer loses exactly :math:`\mathrm{round}(f P_\ell)` of its own :math:`P_\ell`.

  With the same generator seed, a larger fraction prunes a superset of a smaller one (the draw is one
  random permutation, cut at :math:`k`), so a robustness curve is nested.
* ``regrow=False`` (kept dead): a pruned synapse's weight becomes exactly 0 and its mask ``False``; the
  Masked* layers keep it at 0 and mask its gradient, so fine-tuning cannot revive it.
  ``regrow=True`` (allowed to regrow): the weight becomes exactly 0 but the synapse stays present in the
  mask, so fine-tuning by gradient may grow it back.

Functions here are pure (:func:`random_prune_masks`) or change only the model they are given
(:func:`prune_`); :func:`robustness_curve` works on deep copies and leaves the user's model untouched.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from biosnn.errors import NonFiniteError, ParameterError, ShapeError, UnknownNameError
from biosnn.registry import Registry

__all__ = [
    "SCOPES",
    "random_prune_masks",
    "prune_",
    "spike_count_accuracy",
    "robustness_curve",
    "robustness_experiment",
]


# --------------------------------------------------------------------------------------------------------
# pure selection functions (one per scope, in a registry)
# --------------------------------------------------------------------------------------------------------
def _count(fraction: float, present: int) -> int:
    """Number of synapses to remove: round-half-up of ``fraction * present``."""
    return min(present, int(math.floor(fraction * present + 0.5)))


def _choose(present: torch.Tensor, k: int, generator: torch.Generator | None) -> torch.Tensor:
    """Flat boolean tensor with ``k`` of the ``True`` entries of ``present`` chosen uniformly at random."""
    idx = present.reshape(-1).nonzero().reshape(-1).cpu()
    order = torch.randperm(idx.numel(), generator=generator)
    chosen = torch.zeros(present.numel(), dtype=torch.bool)
    chosen[idx[order[:k]]] = True
    return chosen.to(present.device)


def _global_scope(
    masks: Mapping[str, torch.Tensor], fraction: float, generator: torch.Generator | None
) -> dict[str, torch.Tensor]:
    flat = torch.cat([m.reshape(-1).cpu() for m in masks.values()]) if masks else torch.zeros(0, dtype=torch.bool)
    chosen = _choose(flat, _count(fraction, int(flat.sum())), generator)
    out, start = {}, 0
    for name, m in masks.items():
        out[name] = chosen[start : start + m.numel()].reshape(m.shape).to(m.device)
        start += m.numel()
    return out


def _layer_scope(
    masks: Mapping[str, torch.Tensor], fraction: float, generator: torch.Generator | None
) -> dict[str, torch.Tensor]:
    return {name: _choose(m, _count(fraction, int(m.sum())), generator).reshape(m.shape) for name, m in masks.items()}


#: Pruning scopes: ``scope(masks, fraction, generator) -> {name: bool tensor of synapses to remove}``.
SCOPES: Registry[Callable[..., dict[str, torch.Tensor]]] = Registry("pruning scope")
SCOPES.register("global", _global_scope)
SCOPES.register("layer", _layer_scope)


def _check_fraction(fraction: Any) -> float:
    try:
        f = float(fraction)
    except (TypeError, ValueError):
        raise ParameterError(f"parameter 'fraction' must be a number in [0, 1], got {fraction!r}") from None
    if math.isnan(f):
        raise NonFiniteError("parameter 'fraction' is NaN")
    if not 0.0 <= f <= 1.0:
        raise ParameterError(f"parameter 'fraction' must lie in [0, 1], got {f}")
    return f


def random_prune_masks(
    masks: Mapping[str, torch.Tensor],
    fraction: float,
    *,
    scope: str = "global",
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Choose synapses to prune at random; a pure function.

    Parameters
    ----------
    masks
        ``{layer name: boolean mask}`` (``True`` = present). Not modified.
    fraction
        Fraction of the present synapses to remove, in ``[0, 1]``.
    scope
        ``"global"`` (pooled over all layers) or ``"layer"`` (exactly this fraction per layer); see
        :data:`SCOPES`.
    generator
        Seeded :class:`torch.Generator` (CPU) for a reproducible draw.

    Returns
    -------
    dict
        ``{layer name: boolean tensor}``, ``True`` where a present synapse is to be removed.
    """
    f = _check_fraction(fraction)
    select = SCOPES[scope]
    for name, m in masks.items():
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
            raise ParameterError(f"mask of layer {name!r} must be a boolean tensor")
    return select(masks, f, generator)


# --------------------------------------------------------------------------------------------------------
# on Masked* layers
# --------------------------------------------------------------------------------------------------------
def _masked_layers(model: nn.Module, layers: Sequence[str] | None) -> dict[str, nn.Module]:
    """The model's Masked* layers by name (all, or those named in ``layers``)."""
    from biosnn.models.layers import masked_layers

    found = dict(masked_layers(model))
    if not found:
        raise ParameterError(f"{type(model).__name__} has no MaskedLinear/MaskedConv2d layers to prune")
    if layers is None:
        return found
    missing = [n for n in layers if n not in found]
    if missing:
        raise UnknownNameError(f"unknown masked layer(s) {missing}; known: {', '.join(found)}")
    return {n: found[n] for n in layers}


def prune_(
    model: nn.Module,
    fraction: float,
    *,
    scope: str = "global",
    regrow: bool = False,
    generator: torch.Generator | None = None,
    layers: Sequence[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Prune ``fraction`` of the present synapses of ``model``'s masked layers at random, in place.

    Pruned weights become exactly 0. With ``regrow=False`` their mask entries become ``False`` (kept
    dead); with ``regrow=True`` the mask is left as it was, so later gradient training may regrow them.

    Parameters
    ----------
    model
        A module with Masked* layers (a boolean ``mask`` buffer of the weight's shape).
    fraction, scope, generator
        As in :func:`random_prune_masks`.
    regrow
        Whether pruned synapses may regrow (see above).
    layers
        Names (as in ``model.named_modules()``) of the layers to prune; default all masked layers.

    Returns
    -------
    dict
        ``{layer name: boolean tensor}`` of the synapses that were pruned.
    """
    chosen_layers = _masked_layers(model, layers)
    masks = {n: mod.mask for n, mod in chosen_layers.items()}
    removed = random_prune_masks(masks, fraction, scope=scope, generator=generator)  # validates first
    with torch.no_grad():
        for name, mod in chosen_layers.items():
            r = removed[name]
            mod.weight.masked_fill_(r, 0.0)
            if not regrow:
                mod.set_mask(mod.mask & ~r)
    return removed


def spike_count_accuracy(
    model: nn.Module, loader: Iterable, *, encode: Callable[[torch.Tensor], torch.Tensor]
) -> float:
    """Fraction of samples whose class has the most output spikes (summed over time; ties: lowest index).

    ``encode`` maps a batch ``x[B, ...]`` to the time-major input ``[T, B, ...]``; the model returns output
    spikes ``[T, B, classes]`` (or a tuple whose first element is that).
    """
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        with torch.no_grad():
            for x, y in loader:
                out = model(encode(x))
                if isinstance(out, (tuple, list)):
                    out = out[0]
                if out.dim() != 3 or out.shape[1] != len(y):
                    raise ShapeError(f"model output must be [T, B, classes] with B = {len(y)}, got {tuple(out.shape)}")
                pred = out.sum(0).argmax(-1)
                correct += int((pred.cpu() == torch.as_tensor(y).cpu()).sum())
                total += len(y)
    finally:
        model.train(was_training)
    if total == 0:
        raise ParameterError("the loader yielded no samples")
    return correct / total


def _default_encode(encoder: str | Callable, steps: int, seed: int) -> Callable[[torch.Tensor], torch.Tensor]:
    if callable(encoder):
        encode = encoder
    else:
        from biosnn.data.encoders import ENCODERS

        encode = ENCODERS[encoder]
    state = {"gen": None}

    def run(x: torch.Tensor) -> torch.Tensor:
        return encode(x, steps=steps, generator=state["gen"])

    def reset() -> None:  # the same input spikes for every evaluation
        state["gen"] = torch.Generator().manual_seed(seed)

    run.reset = reset  # type: ignore[attr-defined]
    reset()
    return run


def robustness_curve(
    model: nn.Module,
    loader: Iterable,
    fractions: Sequence[float],
    *,
    scope: str = "global",
    regrow: bool = False,
    finetune: Callable[[nn.Module], None] | None = None,
    encoder: str | Callable[..., torch.Tensor] = "direct",
    steps: int = 8,
    seed: int = 0,
    repeats: int = 1,
    layers: Sequence[str] | None = None,
    evaluate: Callable[[nn.Module, Iterable], float] | None = None,
):
    """Accuracy after random pruning at each fraction: the robustness experiment.

    For every ``fraction`` and every repeat, a deep copy of ``model`` is pruned with :func:`prune_`
    (generator seeded from ``seed`` and the repeat, so the fractions of one repeat are nested), optionally
    fine-tuned by ``finetune(copy)`` (with ``regrow=True`` fine-tuning may regrow pruned synapses), and
    evaluated. ``model`` itself is never changed.

    Parameters
    ----------
    model
        A spiking model with Masked* layers, time-major input ``[T, B, ...]``, output ``[T, B, classes]``.
    loader
        Iterable of ``(x[B, ...], labels[B])`` (e.g. a test ``DataLoader``); iterated once per evaluation.
    fractions
        Pruning fractions in ``[0, 1]``.
    scope, regrow, layers
        As in :func:`prune_`.
    finetune
        Optional callable that trains the pruned copy in place before evaluation.
    encoder, steps, seed
        Input encoding for the default evaluation: a name in ``biosnn.data.encoders.ENCODERS`` or a
        callable ``encoder(x, steps=, generator=) -> [T, B, ...]``, with ``steps`` time steps and a
        generator re-seeded with ``seed`` for every evaluation (every evaluation sees the same input).
    repeats
        Independent random prunings per fraction.
    evaluate
        ``evaluate(model, loader) -> accuracy`` to use instead of the spike-count accuracy.

    Returns
    -------
    pandas.DataFrame
        One row per (repeat, fraction): ``fraction``, ``scope``, ``regrow``, ``repeat``, ``accuracy``,
        ``pruned`` (synapses pruned), ``sparsity`` (fraction of weights exactly zero after pruning and
        fine-tuning), ``baseline_accuracy`` (the unpruned model).
    """
    import pandas as pd

    fracs = [_check_fraction(f) for f in fractions]
    SCOPES[scope]  # unknown scope -> UnknownNameError before any work
    if int(repeats) < 1:
        raise ParameterError(f"parameter 'repeats' must be >= 1, got {repeats}")
    _masked_layers(model, layers)
    if evaluate is None:
        enc = _default_encode(encoder, int(steps), int(seed))

        def evaluate(m: nn.Module, data: Iterable) -> float:
            enc.reset()
            return spike_count_accuracy(m, data, encode=enc)

    baseline = evaluate(copy.deepcopy(model), loader)
    rows = []
    for rep in range(int(repeats)):
        for f in fracs:
            pruned_model = copy.deepcopy(model)
            gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + rep)
            removed = prune_(pruned_model, f, scope=scope, regrow=regrow, generator=gen, layers=layers)
            if finetune is not None:
                finetune(pruned_model)
            acc = evaluate(pruned_model, loader)
            chosen = _masked_layers(pruned_model, layers)
            zeros = sum(int((m.weight == 0).sum()) for m in chosen.values())
            total = sum(m.weight.numel() for m in chosen.values())
            rows.append(
                {
                    "fraction": f,
                    "scope": scope,
                    "regrow": bool(regrow),
                    "repeat": rep,
                    "accuracy": acc,
                    "pruned": int(sum(int(r.sum()) for r in removed.values())),
                    "sparsity": zeros / total,
                    "baseline_accuracy": baseline,
                }
            )
    return pd.DataFrame(rows)


def robustness_experiment(
    config: Any,
    *,
    methods: Sequence[str] = ("eihl", "stbp"),
    fractions: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9),
    scope: str = "global",
    regrow: bool = False,
    finetune_epochs: int = 0,
    seeds: Sequence[int] = (0,),
    repeats: int = 1,
):
    """The paper's third experiment: train each method, prune at random at several levels, measure accuracy.

    For every seed and method, a network is trained with :func:`biosnn.learning.run.train` from ``config``
    (``method`` and ``seed`` replaced; the same network, data and budget for every method), then
    :func:`robustness_curve` prunes copies of it and measures the test accuracy with the run's own loss
    read-out and encoder (a fresh, identically seeded :class:`~biosnn.learning.trainer.Trainer`, so every
    evaluation sees the same input). With ``finetune_epochs > 0`` each pruned copy is first trained again
    by STBP for that many epochs (kept dead: pruned synapses stay 0; ``regrow=True``: they may regrow).

    Parameters
    ----------
    config
        A :class:`biosnn.learning.run.RunConfig`.
    methods
        Names in :data:`biosnn.learning.run.METHODS`.
    fractions, scope, regrow, repeats
        As in :func:`robustness_curve`.
    finetune_epochs
        STBP epochs after pruning (0: none).
    seeds
        Training (and pruning) seeds.

    Returns
    -------
    pandas.DataFrame
        :func:`robustness_curve`'s columns plus ``method``, ``seed``, ``trained_sparsity`` (the sparsity
        the method itself reached) and ``drop`` (baseline minus pruned accuracy).
    """
    import pandas as pd
    from torch.utils.data import DataLoader

    from biosnn.learning.run import METHODS, load_data, train
    from biosnn.learning.trainer import Trainer

    for m in methods:
        METHODS[m]
    fracs = [_check_fraction(f) for f in fractions]
    SCOPES[scope]
    if isinstance(finetune_epochs, bool) or not isinstance(finetune_epochs, int) or finetune_epochs < 0:
        raise ParameterError(f"parameter 'finetune_epochs' must be an integer >= 0, got {finetune_epochs!r}")
    bundle = load_data(config)
    steps = config.steps or bundle.steps
    encoder = config.encoder if config.encoder is not None else bundle.encoder
    test_loader = DataLoader(bundle.test, batch_size=max(config.batch_size, 256))
    frames = []
    for seed in seeds:

        def evaluate(model: nn.Module, data: Iterable, seed: int = int(seed)) -> float:
            probe = Trainer(
                model,
                torch.optim.SGD(model.parameters(), lr=0.0),
                loss=config.loss,
                encoder=encoder,
                steps=steps,
                seed=seed + 1,
            )
            return probe.evaluate(data).accuracy

        def finetune(model: nn.Module, seed: int = int(seed)) -> None:
            tuner = Trainer(
                model,
                torch.optim.Adam(model.parameters(), lr=config.lr),
                loss=config.loss,
                encoder=encoder,
                steps=steps,
                seed=seed + 1,
            )
            loader = DataLoader(
                bundle.train,
                batch_size=config.batch_size,
                shuffle=True,
                generator=torch.Generator().manual_seed(seed + 2),
            )
            for _ in range(finetune_epochs):
                tuner.train_epoch(loader)

        for method in methods:
            run = train(config.replace(method=method, seed=int(seed)), data=bundle, plot=False)
            curve = robustness_curve(
                run.model,
                test_loader,
                fracs,
                scope=scope,
                regrow=regrow,
                finetune=finetune if finetune_epochs else None,
                seed=int(seed),
                repeats=repeats,
                evaluate=evaluate,
            )
            curve.insert(0, "method", method)
            curve.insert(1, "seed", int(seed))
            curve["trained_sparsity"] = run.final.get("sparsity", 0.0)
            curve["drop"] = curve["baseline_accuracy"] - curve["accuracy"]
            frames.append(curve)
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------------------
# the baselines of issue 10: iterative magnitude pruning and dynamic sparse training (SET)
# --------------------------------------------------------------------------------------------------------
def magnitude_prune_(model: nn.Module, sparsity: Mapping[str, float]) -> dict[str, torch.Tensor]:
    r"""Prune each named layer to the given sparsity by weight magnitude, in place (pruned synapses stay dead).

    Layer :math:`\ell` keeps its :math:`\lceil (1 - s_\ell) n_\ell \rceil` present synapses of largest
    :math:`|w|` (:math:`n_\ell` the layer's synapses); a layer already sparser keeps its mask. Returns the
    removed synapses per layer.
    """
    chosen = _masked_layers(model, list(sparsity))
    removed = {}
    with torch.no_grad():
        for name, mod in chosen.items():
            s = _check_fraction(sparsity[name])
            keep_n = math.ceil((1.0 - s) * mod.mask.numel())
            present = int(mod.mask.sum())
            r = torch.zeros_like(mod.mask)
            if present > keep_n:
                score = torch.where(mod.mask, mod.weight.detach().abs(), torch.full_like(mod.weight, float("inf")))
                r.view(-1)[torch.topk(-score.flatten(), present - keep_n).indices] = True
                mod.weight.masked_fill_(r, 0.0)
                mod.set_mask(mod.mask & ~r)
            removed[name] = r
    return removed


def set_step_(
    model: nn.Module, fraction: float, *, generator: torch.Generator, layers: Sequence[str] | None = None
) -> int:
    r"""One prune-and-regrow step of Sparse Evolutionary Training (Mocanu et al. 2018), in place.

    In every layer, the ``fraction`` of its present synapses with the smallest :math:`|w|` is removed and
    as many absent synapses, drawn uniformly at random, are created with weight 0 (with Dale's law a tiny
    magnitude, :math:`10^{-3}` of the mean present one, since :math:`|w|` has no gradient at 0): the
    sparsity stays the same, the connectivity changes. Returns the number of synapses moved.
    """
    f = _check_fraction(fraction)
    moved = 0
    with torch.no_grad():
        for mod in _masked_layers(model, layers).values():
            mask = mod.mask
            k = _count(f, int(mask.sum()))
            absent = int((~mask).sum())
            k = min(k, absent)  # regrown among the synapses absent before this step
            if k == 0:
                continue
            score = torch.where(mask, mod.weight.detach().abs(), torch.full_like(mod.weight, float("inf"))).flatten()
            drop = torch.topk(-score, k).indices
            new_mask = mask.clone()
            new_mask.view(-1)[drop] = False
            candidates = (~mask).flatten().nonzero().flatten()
            grow = candidates[torch.randperm(candidates.numel(), generator=generator)[:k]]
            present = mod.weight.detach().abs()[new_mask]
            init = 1e-3 * float(present.mean()) if getattr(mod, "sign", None) is not None and present.numel() else 0.0
            new_mask.view(-1)[grow] = True
            mod.weight.view(-1)[drop] = 0.0
            mod.weight.view(-1)[grow] = init
            mod.set_mask(new_mask)
            moved += int(grow.numel())
    return moved
