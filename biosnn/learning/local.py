r"""Local learning on PyTorch layers: the plasticity rules of :mod:`biosnn.plasticity` as weight updates.

A :class:`LocalLearner` runs a spiking model forward (no autograd graph), collects every Masked* layer's
presynaptic spikes (the layer's input) and postsynaptic spikes (the output of the spiking neuron module
that the layer drives) over the time dimension, and asks the rule for the weight change. The rule's
mathematics is the *same* definition that runs in Brian2: e.g. pair and triplet STDP provide
``layer_update(pre[T, B, I], post[T, B, O], weight[O, I], *, dt) -> dW[O, I]`` with the trace equations
they compile to Brian2 (exact exponential decay per step), so on the same spike trains a linear layer's
update equals the Brian2 synapses' weight change (tested to round-off in float64).

How the update is applied (SpikingJelly's idiom, ``activation_based/learning.py``)
------------------------------------------------------------------------------------
The update is written into ``weight.grad`` as :math:`-\Delta W` and an ordinary ``torch.optim``
optimiser takes the step; with ``SGD(lr=1)`` the weights change by exactly :math:`\Delta W`, with another
learning rate by :math:`\mathrm{lr}\,\Delta W`, and any other optimiser (momentum, Adam ...) treats the
local update as it would a gradient. Masks are respected: :math:`\Delta W` is zero where the mask is
``False``, and masked weights are set back to exactly 0 after the step. With Dale's law a rule changes
synaptic *strengths*: it sees the magnitudes :math:`|W|` (the layer's stored parameter) and its update
applies to them, while each synapse keeps the fixed sign of its presynaptic channel (so an excitatory
rule with bounds ``[0, w_max]`` works on inhibitory synapses' strengths too).

Convolutions
------------
A ``Conv2d`` layer is a linear layer applied to input patches. Its input ``[N, C, H, W]`` is unfolded
(:func:`torch.nn.functional.unfold`) into patches ``[N, C kh kw, L]`` at the ``L`` output positions, the
postsynaptic spikes ``[N, O, H', W']`` into ``[N, O, L]``, and every position becomes one more "batch"
element: ``pre[T, B L, C kh kw]``, ``post[T, B L, O]``, weight ``[O, C kh kw]``. The rule's update is
summed over the batch, hence over positions (weight sharing), and reshaped back to ``[O, C, kh, kw]``.

How a rule's update is computed is chosen by the rule's ``layer_kind`` (a registry, :data:`LAYER_KINDS`):

* ``"traces"`` (default for rules with ``layer_update``): spike-timing rules as above;
* ``"contraction"``: EIHL's timing-free contraction (:mod:`biosnn.plasticity.eihl_contraction`), which
  needs no spikes: each :meth:`LocalLearner.step` performs one :func:`local_step` per layer (x grows,
  weights contract, synapses under the threshold frozen by :meth:`LocalLearner.begin_period` are removed
  from the mask). Because it *removes* synapses and its weights are defined by the rule, it is applied
  directly, not through the optimiser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import brian2
import torch
import torch.nn.functional as F
from torch import nn

from biosnn.errors import ParameterError, ShapeError, UnknownNameError, UnsupportedFeatureError
from biosnn.plasticity.eihl_contraction import _FAR
from biosnn.registry import Registry
from biosnn.units import check_quantity

__all__ = [
    "LocalLearner",
    "LocalUpdate",
    "LAYER_KINDS",
    "CHUNK_ELEMENTS",
    "conv_patches",
    "linear_update",
    "conv_update",
]


# --------------------------------------------------------------------------------------------------------
# pure functions: reshape conv activity so a linear-layer rule applies
# --------------------------------------------------------------------------------------------------------
def _conv_geometry(layer: nn.Conv2d) -> dict[str, Any]:
    if layer.groups != 1:
        raise UnsupportedFeatureError(
            f"local learning on grouped convolutions (groups={layer.groups}) is not supported"
        )
    if layer.padding_mode != "zeros":
        raise UnsupportedFeatureError(f"local learning needs padding_mode='zeros', got {layer.padding_mode!r}")
    if isinstance(layer.padding, str):
        raise UnsupportedFeatureError(f"local learning needs numeric conv padding, got padding={layer.padding!r}")
    return {
        "kernel_size": layer.kernel_size,
        "dilation": layer.dilation,
        "padding": layer.padding,
        "stride": layer.stride,
    }


def conv_patches(
    pre: torch.Tensor,
    post: torch.Tensor,
    *,
    kernel_size: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unfold conv activity into linear-layer form, one batch element per output position.

    Parameters
    ----------
    pre
        Presynaptic spikes ``[T, B, C, H, W]``.
    post
        Postsynaptic spikes ``[T, B, O, H', W']``.

    Returns
    -------
    (pre, post)
        ``[T, B L, C kh kw]`` and ``[T, B L, O]`` with ``L = H' W'``; patch features are ordered as in
        ``weight.reshape(O, -1)``.
    """
    if pre.dim() != 5 or post.dim() != 5:
        raise ShapeError(
            f"conv_patches needs pre [T, B, C, H, W] and post [T, B, O, H', W'], "
            f"got {tuple(pre.shape)} and {tuple(post.shape)}"
        )
    T, B = pre.shape[:2]
    cols = F.unfold(pre.reshape(T * B, *pre.shape[2:]), kernel_size, dilation=dilation, padding=padding, stride=stride)
    L = cols.shape[-1]
    if post.shape[:2] != (T, B) or post.shape[3] * post.shape[4] != L:
        raise ShapeError(
            f"post spikes {tuple(post.shape)} do not match the {L} conv output positions of pre {tuple(pre.shape)}"
        )
    pre_lin = cols.reshape(T, B, cols.shape[1], L).permute(0, 1, 3, 2).reshape(T, B * L, cols.shape[1])
    post_lin = post.reshape(T, B, post.shape[2], L).permute(0, 1, 3, 2).reshape(T, B * L, post.shape[2])
    return pre_lin, post_lin


#: Default memory bound of one ``layer_update`` call: batch elements x weights (about 128 MiB in float64).
CHUNK_ELEMENTS = 2**24


def linear_update(
    rule: Any, pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor, *, dt, chunk_elements: int = CHUNK_ELEMENTS
) -> torch.Tensor:
    """``rule.layer_update`` on a linear layer: ``pre[T, B, I]``, ``post[T, B, O]``, ``weight[O, I]``.

    Trace rules follow every batch element's own weights (``B x O x I`` numbers); their update is a sum of
    independent per-element changes. So the batch is processed in chunks of at most
    ``chunk_elements // weight.numel()`` elements and the chunks' updates are added: the memory stays
    bounded (a conv layer unfolded over thousands of positions would not fit otherwise), and only the order
    of the final summation changes.
    """
    if isinstance(chunk_elements, bool) or not isinstance(chunk_elements, int) or chunk_elements < 1:
        raise ParameterError(f"parameter 'chunk_elements' must be a positive integer, got {chunk_elements!r}")
    B = pre.shape[1]
    chunk = max(1, chunk_elements // max(1, weight.numel()))
    dw = None
    for start in range(0, B, chunk):
        part = rule.layer_update(pre[:, start : start + chunk], post[:, start : start + chunk], weight, dt=dt)
        if part.shape != weight.shape:
            raise ShapeError(
                f"{type(rule).__name__}.layer_update returned shape {tuple(part.shape)}, "
                f"expected the weight's {tuple(weight.shape)}"
            )
        dw = part if dw is None else dw + part
    return dw if dw is not None else torch.zeros_like(weight)


def conv_update(
    rule: Any,
    pre: torch.Tensor,
    post: torch.Tensor,
    weight: torch.Tensor,
    *,
    dt,
    kernel_size,
    stride=(1, 1),
    padding=(0, 0),
    dilation=(1, 1),
    chunk_elements: int = CHUNK_ELEMENTS,
) -> torch.Tensor:
    """``rule.layer_update`` on a conv layer, via :func:`conv_patches` (summed over positions)."""
    pre_lin, post_lin = conv_patches(
        pre, post, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation
    )
    dw = linear_update(
        rule, pre_lin, post_lin, weight.reshape(weight.shape[0], -1), dt=dt, chunk_elements=chunk_elements
    )
    return dw.reshape(weight.shape)


# --------------------------------------------------------------------------------------------------------
# recording pre/post spikes with forward hooks
# --------------------------------------------------------------------------------------------------------
@dataclass
class _Recording:
    pre: list[torch.Tensor] = field(default_factory=list)
    post: list[torch.Tensor] = field(default_factory=list)
    out_shape: tuple[int, ...] | None = None


def _neuron_types() -> tuple[type, ...]:
    from biosnn.models.networks import CompetitiveLIF
    from biosnn.models.neurons import LIF

    return (LIF, CompetitiveLIF)


def _masked_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every module with a boolean ``mask`` buffer beside a ``weight`` (Masked* layers and the like)."""
    from biosnn.learning.trainer import masked_modules

    return dict(masked_modules(model))


def _rule_weight(layer: nn.Module) -> torch.Tensor:
    """The weights a rule sees: the layer's effective weights, or with Dale's law their magnitudes."""
    with torch.no_grad():
        if getattr(layer, "sign", None) is not None:
            return layer.weight.detach().abs() * layer.mask.to(layer.weight.dtype)
        return layer.effective_weight().detach()


def _time_major(chunks: list[torch.Tensor], feature: tuple[int, ...], T: int, B: int, what: str) -> torch.Tensor:
    rows = torch.cat([c.reshape(-1, *feature) for c in chunks], 0)
    if rows.shape[0] != T * B:
        raise ShapeError(f"{what}: recorded {rows.shape[0]} rows of shape {feature}, expected T*B = {T}*{B}")
    return rows.reshape(T, B, *feature)


# --------------------------------------------------------------------------------------------------------
# update kinds (a registry, chosen by the rule's ``layer_kind``)
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerKind:
    """How a family of rules runs on layers: does it need spikes, and what one :meth:`LocalLearner.step` does."""

    name: str
    needs_spikes: bool
    step: Any  # (learner, x_encoded) -> {layer: dW}


#: Update kinds, chosen by the rule's ``layer_kind`` attribute (``"traces"`` when absent).
LAYER_KINDS: Registry[LayerKind] = Registry("local update kind")


@runtime_checkable
class LocalUpdate(Protocol):
    """What a hybrid controller needs from the local period's learner (one owner of its state).

    :class:`LocalLearner` implements it, and :class:`~biosnn.learning.eihl.EIHLController` holds one
    (``controller.contraction``) instead of a state machine of its own: ``x``, the thresholds frozen for a
    local period and the decay pending from the global period live there only.
    """

    x: dict[str, torch.Tensor]
    thresholds: dict[str, torch.Tensor] | None
    pending_decay: int

    def begin_period(self) -> dict[str, torch.Tensor]:
        """Start a local period (apply the pending decay of ``x``, freeze the thresholds)."""

    def note_global(self, steps: int = 1) -> None:
        """Count global iterations (their decay of ``x`` is applied at the next local period)."""

    def step(self, x_encoded: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One local update; returns the weight change per layer."""

    def state_dict(self) -> dict:
        """Everything needed to resume."""

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""


class LocalLearner:
    r"""Apply a plasticity rule as a local update to a spiking model's Masked* layers.

    Parameters
    ----------
    model
        A spiking ``nn.Module`` with time-major input ``[T, B, ...]`` whose weight layers are
        ``MaskedLinear`` / ``MaskedConv2d`` (boolean ``mask`` buffer), each driving a spiking neuron module
        (``biosnn.models.neurons.LIF`` / ``IF``, or the types given in ``neurons``).
    rule
        A rule instance from :mod:`biosnn.plasticity`: one with ``layer_update`` (pair/triplet STDP), or
        the ``eihl_contraction`` rule.
    layers
        Names (``model.named_modules()``) of the layers to train; default all Masked* layers.
    lr
        Learning rate of the default optimiser, ``SGD(lr=lr)`` (ignored when ``optimizer`` is given;
        unused by the contraction rule, which applies its own weights).
    optimizer
        Any ``torch.optim`` optimiser over (at least) the trained layers' weights.
    dt
        Duration of one time step of the model (Brian2 time quantity), passed to ``layer_update``.
    neurons
        Module types whose output is a layer's postsynaptic spikes (default: biosnn's LIF and IF).
    chunk_elements
        Memory bound of one ``layer_update`` call (batch elements x weights); see :func:`linear_update`.
    normalize
        After every update, scale each postsynaptic neuron's input strengths back to their size at the
        learner's creation: ``"l1"``, :math:`|w_i| \\leftarrow |w_i|\\, S_i / \\sum_j |w_{ij}|` (Diehl &
        Cook's weight normalisation), or ``"l2"``, the same with the Euclidean norm :math:`\\|w_i\\|`
        (Rumelhart & Zipser's competitive learning: a winner is then the neuron whose weights point most
        along the input); ``None``: no normalisation. With it, Hebbian STDP becomes competitive learning
        of input patterns.
    seed
        Seed of the learner's generator (spikes drawn from analog presynaptic activity, see
        :meth:`depression`).

    Examples
    --------
    >>> learner = LocalLearner(model, RULES["stdp_additive"](), lr=1.0)   # doctest: +SKIP
    >>> dws = learner.step(encode(x, steps=25))                             # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        rule: Any,
        *,
        layers: Sequence[str] | None = None,
        lr: float = 1.0,
        optimizer: torch.optim.Optimizer | None = None,
        dt: brian2.Quantity = 1 * brian2.ms,
        neurons: tuple[type, ...] | None = None,
        chunk_elements: int = CHUNK_ELEMENTS,
        seed: int = 0,
        normalize: str | None = None,
    ) -> None:
        self.kind = LAYER_KINDS[getattr(rule, "layer_kind", "traces")]
        if self.kind.needs_spikes and not callable(getattr(rule, "layer_update", None)):
            raise ParameterError(
                f"rule {type(rule).__name__} has no layer_update(pre, post, weight, *, dt); "
                "it cannot run on PyTorch layers"
            )
        self.dt = check_quantity("dt", dt, brian2.second)
        if float(self.dt) <= 0:
            raise ParameterError(f"parameter 'dt' must be positive, got {dt}")
        found = _masked_layers(model)
        if not found:
            raise ParameterError(f"{type(model).__name__} has no Masked* layers (Linear/Conv2d with a boolean 'mask')")
        if layers is None:
            chosen = found
        else:
            missing = [n for n in layers if n not in found]
            if missing:
                raise UnknownNameError(f"unknown masked layer(s) {missing}; known: {', '.join(found)}")
            chosen = {n: found[n] for n in layers}
        if isinstance(chunk_elements, bool) or not isinstance(chunk_elements, int) or chunk_elements < 1:
            raise ParameterError(f"parameter 'chunk_elements' must be a positive integer, got {chunk_elements!r}")
        self.chunk_elements = chunk_elements
        self.model = model
        self.rule = rule
        self.layers: dict[str, nn.Module] = chosen
        self.neurons = tuple(neurons) if neurons is not None else _neuron_types()
        if optimizer is None:
            lr = float(lr)
            if not lr > 0:
                raise ParameterError(f"parameter 'lr' must be positive, got {lr}")
            optimizer = torch.optim.SGD([m.weight for m in chosen.values()], lr=lr)
        self.optimizer = optimizer
        # EIHL contraction state: x per layer and the frozen thresholds of the current period
        self.x: dict[str, torch.Tensor] = {n: torch.zeros_like(m.weight.detach()) for n, m in chosen.items()}
        self.thresholds: dict[str, torch.Tensor] | None = None
        self.pending_decay = 0
        self.generator = torch.Generator().manual_seed(int(seed))
        if normalize not in (None, "l1", "l2"):
            raise ParameterError(f"parameter 'normalize' must be None, 'l1' or 'l2', got {normalize!r}")
        self.normalize = normalize
        order = 2 if normalize == "l2" else 1
        self.row_sums = (
            {n: m.weight.detach().abs().flatten(1).norm(p=order, dim=1) for n, m in chosen.items()}
            if normalize is not None
            else {}
        )

    # ---------------------------------------------------------------- recording
    def record(self, x_encoded: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Run the model on ``x_encoded[T, B, ...]`` (no autograd) and return ``{layer: (pre, post)}``.

        ``pre`` is ``[T, B, *in_features]`` and ``post`` is ``[T, B, *out_features]`` (0/1 spikes).
        """
        if not isinstance(x_encoded, torch.Tensor) or x_encoded.dim() < 3:
            raise ShapeError(f"input must be time-major [T, B, ...], got {getattr(x_encoded, 'shape', x_encoded)}")
        T, B = x_encoded.shape[:2]
        recs = {name: _Recording() for name in self.layers}
        pending: list[str] = []
        handles = []

        def layer_hook(name):
            def hook(module, args, output):
                recs[name].pre.append(args[0].detach())
                recs[name].out_shape = tuple(output.shape[1:]) if isinstance(module, nn.Conv2d) else (output.shape[-1],)
                pending.append(name)

            return hook

        def neuron_hook(module, args, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            while pending:
                name = pending.pop(0)
                recs[name].post.append(out.detach())

        for name, mod in self.layers.items():
            handles.append(mod.register_forward_hook(layer_hook(name)))
        for mod in self.model.modules():
            if isinstance(mod, self.neurons):
                handles.append(mod.register_forward_hook(neuron_hook))
        try:
            with torch.no_grad():
                self.model(x_encoded)
        finally:
            for h in handles:
                h.remove()
        out = {}
        for name, rec in recs.items():
            mod = self.layers[name]
            if not rec.post:
                raise ShapeError(
                    f"layer {name!r} drives no spiking neuron module ({[t.__name__ for t in self.neurons]});"
                    " choose the layers to train with layers=[...]"
                )
            in_feat = (mod.in_features,) if isinstance(mod, nn.Linear) else tuple(rec.pre[0].shape[-3:])
            pre = _time_major(rec.pre, in_feat, T, B, f"presynaptic spikes of {name!r}")
            post = _time_major(rec.post, rec.out_shape, T, B, f"postsynaptic spikes of {name!r}")
            out[name] = (pre, post)
        return out

    # ---------------------------------------------------------------- updates
    def updates(self, x_encoded: torch.Tensor) -> dict[str, torch.Tensor]:
        """The rule's weight change ``dW`` per layer on this input (masked; nothing is applied)."""
        if not self.kind.needs_spikes:
            raise UnsupportedFeatureError(f"the {self.kind.name!r} rule has no spike-driven update; use step()")
        activity = self.record(x_encoded)
        dws = {}
        for name, (pre, post) in activity.items():
            mod = self.layers[name]
            w = _rule_weight(mod)
            pre, post = pre.to(w.dtype), post.to(w.dtype)
            if isinstance(mod, nn.Conv2d):
                dw = conv_update(
                    self.rule, pre, post, w, dt=self.dt, chunk_elements=self.chunk_elements, **_conv_geometry(mod)
                )
            else:
                dw = linear_update(self.rule, pre, post, w, dt=self.dt, chunk_elements=self.chunk_elements)
            dws[name] = dw * mod.mask.to(dw.dtype)
        return dws

    def apply(self, dws: dict[str, torch.Tensor]) -> None:
        """Write ``-dW`` into each layer's ``weight.grad`` and take one optimiser step; re-apply the masks."""
        for name, dw in dws.items():
            if name not in self.layers:
                raise UnknownNameError(f"unknown layer {name!r}; known: {', '.join(self.layers)}")
            if dw.shape != self.layers[name].weight.shape:
                raise ShapeError(
                    f"update for {name!r} has shape {tuple(dw.shape)}, "
                    f"weight has {tuple(self.layers[name].weight.shape)}"
                )
        for name, dw in dws.items():
            w = self.layers[name].weight
            w.grad = (-dw).to(dtype=w.dtype, device=w.device).clone()
        self.optimizer.step()
        for name in dws:
            mod = self.layers[name]
            mod.apply_mask_()
            mod.weight.grad = None
            if self.normalize:
                with torch.no_grad():
                    w = mod.weight
                    total = w.abs().flatten(1).norm(p=2 if self.normalize == "l2" else 1, dim=1).clamp(min=1e-12)
                    scale = (self.row_sums[name].to(w.dtype) / total).view(-1, *([1] * (w.dim() - 1)))
                    w.mul_(scale)

    # ---------------------------------------------------------------- EIHL contraction (the one owner of
    # x, the frozen thresholds and the pending decay; EIHLController delegates to it)
    def begin_period(self) -> dict[str, torch.Tensor]:
        """Start a local period of the contraction rule: apply the decay of ``x`` accumulated during the
        global period (:meth:`note_global`), then freeze ``thresh(b)`` per layer (returned).
        """
        from biosnn.plasticity.eihl_contraction import global_decay, removal_threshold

        if self.pending_decay:
            self.x = {n: global_decay(x, steps=self.pending_decay, tau_x=self.rule.tau_x) for n, x in self.x.items()}
            self.pending_decay = 0
        self.thresholds = {
            n: removal_threshold(m.weight.detach(), m.mask, b=self.rule.b) for n, m in self.layers.items()
        }
        return dict(self.thresholds)

    def note_global(self, steps: int = 1) -> None:
        """Count ``steps`` global iterations: ``x`` decays by ``exp(-steps / tau_x)``, applied lazily (one
        exponential at the next :meth:`begin_period`, the same number, nothing per global iteration).
        """
        self.pending_decay += int(steps)

    def step(self, x_encoded: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One local update; returns ``dW`` per layer (the change actually made for the contraction rule).

        For spike-timing rules, and for the contraction rule with a ``drive``, ``x_encoded[T, B, ...]`` is
        required; the timing-free contraction rule ignores it.
        """
        needs = self.kind.needs_spikes or getattr(self.rule, "drive", None) is not None
        if needs and x_encoded is None:
            raise ParameterError(
                "step() needs the encoded input x_encoded[T, B, ...] for a spike-timing rule "
                "(or a contraction rule with a drive)"
            )
        return self.kind.step(self, x_encoded)

    def _traces_step(self, x_encoded: torch.Tensor) -> dict[str, torch.Tensor]:
        dws = self.updates(x_encoded)
        self.apply(dws)
        return dws

    def depression(self, x_encoded: torch.Tensor) -> dict[str, torch.Tensor]:
        """The local depression ``L >= 0`` per synapse of every layer on this input (nothing is changed).

        The model runs on ``x_encoded``; each layer's presynaptic activity (made 0/1 spikes: an analog input
        such as direct pixel current in [0, 1] is read as a spike probability and drawn from the learner's
        generator) and postsynaptic spikes go through the drive rule's ``layer_update`` with its
        potentiation off (:meth:`EIHLContraction.depression_rule`), so ``L = -dW``.
        """
        rule = self.rule.depression_rule()
        activity = self.record(x_encoded)
        out = {}
        for name, (pre, post) in activity.items():
            mod = self.layers[name]
            w = mod.weight.detach()
            pre = pre.to(w.dtype)
            if bool(((pre != 0) & (pre != 1)).any()):
                p = pre.clamp(0.0, 1.0)
                pre = (torch.rand(p.shape, generator=self.generator, dtype=p.dtype).to(p.device) < p).to(w.dtype)
            post = post.to(w.dtype)
            probe = torch.full_like(w, 0.5 * _FAR)
            if isinstance(mod, nn.Conv2d):
                dw = conv_update(
                    rule, pre, post, probe, dt=self.dt, chunk_elements=self.chunk_elements, **_conv_geometry(mod)
                )
            else:
                dw = linear_update(rule, pre, post, probe, dt=self.dt, chunk_elements=self.chunk_elements)
            out[name] = (-dw).clamp(min=0) * mod.mask.to(dw.dtype)
        return out

    def _contraction_step(self, x_encoded: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        from biosnn.plasticity.eihl_contraction import depression_drive, local_step

        if self.thresholds is None:
            self.begin_period()
        drives = None
        if getattr(self.rule, "drive", None) is not None:
            drives = {n: depression_drive(L, self.layers[n].mask) for n, L in self.depression(x_encoded).items()}
        dws = {}
        with torch.no_grad():
            for name, mod in self.layers.items():
                w_old = mod.weight.detach().clone()
                w_new, x_new, m_new = local_step(
                    w_old,
                    self.x[name],
                    mod.mask,
                    a=self.rule.a,
                    x_growth=self.rule.x_growth,
                    threshold=self.thresholds[name],
                    drive=None if drives is None else drives[name],
                )
                mod.weight.copy_(w_new)
                mod.mask.copy_(m_new)
                mod.weight.masked_fill_(~m_new, 0.0)
                self.x[name] = x_new
                dws[name] = w_new - w_old
        return dws

    def decay(self, steps: float) -> None:
        """Let ``x`` decay for ``steps`` global steps now (with any pending ones) and end the local period."""
        from biosnn.plasticity.eihl_contraction import global_decay

        total = steps + self.pending_decay
        self.x = {n: global_decay(x, steps=total, tau_x=self.rule.tau_x) for n, x in self.x.items()}
        self.pending_decay = 0
        self.thresholds = None

    def state_dict(self) -> dict:
        """The learner's state: optimiser, ``x``, frozen thresholds, pending decay, generator."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "x": {n: t.clone() for n, t in self.x.items()},
            "thresholds": None if self.thresholds is None else {n: t.clone() for n, t in self.thresholds.items()},
            "pending_decay": self.pending_decay,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved."""
        if set(state["x"]) != set(self.x):
            raise ParameterError(
                f"local learner state is for layers {sorted(state['x'])}, this learner trains {sorted(self.x)}"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.x = {n: state["x"][n].to(self.x[n].device, self.x[n].dtype) for n in self.x}
        th = state["thresholds"]
        self.thresholds = None if th is None else {n: torch.as_tensor(v) for n, v in th.items()}
        self.pending_decay = int(state["pending_decay"])
        self.generator.set_state(state["generator"])


LAYER_KINDS.register("traces", LayerKind("traces", True, LocalLearner._traces_step))
LAYER_KINDS.register("contraction", LayerKind("contraction", False, LocalLearner._contraction_step))
