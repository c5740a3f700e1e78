r"""Global learning: surrogate-gradient back-propagation through time (STBP) for spiking PyTorch modules.

The trainer works on any ``nn.Module`` that maps a time-major input ``[T, B, ...]`` to a time-major output
``[T, B, classes]`` (biosnn's deep models, twins of Brian2 networks, and plain PyTorch SNNs alike). One
training step is the standard PyTorch idiom

.. code-block:: python

    x_t = encoder(x, steps=T)            # [T, B, ...]  (Poisson/rate, latency or direct current)
    loss = criterion(model(x_t), y)      # on spike counts or membrane potentials (biosnn.learning.losses)
    optimizer.zero_grad(); loss.backward(); optimizer.step()

where ``loss.backward()`` runs back-propagation through time and the spike non-linearity
:math:`S = \Theta(V - V_{th})` passes the surrogate pseudo-derivative :math:`\sigma'(V - V_{th})`
(:mod:`biosnn.surrogate`). This is STBP (Wu et al. 2018, "Spatio-temporal backpropagation for training
high-performance spiking neural networks", Front. Neurosci. 12:331).

Two additions keep it honest on pruned networks and reproducible:

* **Masks are enforced after every step.** Layers with a boolean ``mask`` buffer (``MaskedLinear``,
  ``MaskedConv2d``) mask their gradients, but optimisers with momentum or weight decay (Adam, SGD with
  momentum) would still move an absent synapse off zero; the trainer multiplies such weights by their
  mask after each ``optimizer.step()``, so absent synapses stay exactly 0.
* **Every random draw is seeded and checkpointable.** The encoder draws from the trainer's own
  ``torch.Generator``; :meth:`Trainer.state_dict` holds it with the optimiser (and scheduler) state.

A non-finite loss raises :class:`~biosnn.errors.NonFiniteError` *before* the backward pass, so the
weights are left as they were. So does a non-finite gradient (checked after the backward pass, before the
optimiser step), and a parameter that the optimiser step made NaN or infinite (a learning rate far too
high: the loss may stay finite, because a NaN network never spikes) raises it naming the parameter and the
iteration. Each check is one fused reduction per step (the per-tensor sums, stacked, tested at once).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from biosnn.errors import NonFiniteError, ParameterError, ShapeError
from biosnn.learning.losses import SpikeLoss, as_loss

Encoder = Callable[..., torch.Tensor]


def resolve_encoder(encoder: str | Encoder | None) -> Encoder | None:
    """An encoder from a registered name in :data:`biosnn.data.ENCODERS`, a callable, or ``None``.

    ``None`` means the data are already time-major spike/current tensors ``[T, B, ...]`` (event data).
    """
    if encoder is None or callable(encoder):
        return encoder
    if isinstance(encoder, str):
        from biosnn.data import ENCODERS

        return ENCODERS[encoder]
    raise ParameterError(f"encoder must be a registered name, a callable or None, got {type(encoder).__name__}")


#: What a device setting may name (besides ``"auto"``): the device types a run can train on.
DEVICE_TYPES = ("cpu", "cuda")
DEVICE_CHOICES = "'cpu', 'cuda', 'cuda:<index>' or 'auto'"


def parse_device(spec: str | torch.device) -> str:
    """Check the syntax of a device setting and return it as a string (nothing is asked of the hardware).

    Accepted: ``"cpu"``, ``"cuda"``, ``"cuda:<index>"`` (anything ``torch.device`` parses to a CPU or
    CUDA device, or such a ``torch.device``) and ``"auto"``. Anything else raises
    :class:`~biosnn.errors.ParameterError`.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    if not isinstance(spec, str):
        raise ParameterError(f"device must be {DEVICE_CHOICES}, got {spec!r} ({type(spec).__name__})")
    if spec == "auto":
        return spec
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError, TypeError):
        raise ParameterError(f"cannot parse device {spec!r}: expected {DEVICE_CHOICES}") from None
    if device.type not in DEVICE_TYPES:
        raise ParameterError(f"device {spec!r} is not supported: expected {DEVICE_CHOICES}")
    return spec


def resolve_device(spec: str | torch.device) -> torch.device:
    """The ``torch.device`` a device setting names, checked against the hardware.

    ``"auto"`` is CUDA when ``torch.cuda.is_available()`` and the CPU otherwise. A CUDA device on a machine
    without CUDA, or a CUDA index beyond the devices present, raises :class:`~biosnn.errors.ParameterError`
    (as does a setting :func:`parse_device` refuses).
    """
    spec = parse_device(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(
                f"device {spec!r} asked for, but no CUDA device is available "
                f"(torch.cuda.is_available() is False); train on the CPU: --device cpu "
                f"(device='cpu' in Python)"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ParameterError(
                f"device {spec!r} asked for, but only {count} CUDA device(s) are available "
                f"(cuda:0 ... cuda:{count - 1})"
            )
    return device


def first_non_finite(named: Iterable[tuple[str, torch.Tensor | None]]) -> str | None:
    """The name of the first floating-point tensor holding NaN or inf, or ``None`` when all are finite.

    One fused test: every tensor's sum in float64 (NaN or inf in any element makes it non-finite; finite
    float32 values cannot overflow it), stacked, checked with one ``isfinite().all()``; the tensors are
    looked at one by one only when that fails.
    """
    named = [(n, t) for n, t in named if t is not None and t.is_floating_point() and t.numel()]
    if not named:
        return None
    with torch.no_grad():
        sums = torch.stack([t.detach().sum(dtype=torch.float64) for _, t in named])
        if bool(torch.isfinite(sums).all()):
            return None
        for name, t in named:
            if not bool(torch.isfinite(t.detach()).all()):
                return name
    return named[0][0]  # pragma: no cover - the sum overflowed in float64 only


def masked_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's layers that carry a boolean ``mask`` buffer next to a ``weight`` (name, module)."""
    found = []
    for name, module in model.named_modules():
        mask = getattr(module, "mask", None)
        weight = getattr(module, "weight", None)
        if isinstance(mask, torch.Tensor) and mask.dtype == torch.bool and isinstance(weight, torch.Tensor):
            found.append((name, module))
    return found


@torch.no_grad()
def enforce_masks(model: nn.Module) -> None:
    """Set every absent synapse (``mask == False``) of every masked layer to exactly 0, in place."""
    for _, module in masked_modules(model):
        module.weight.mul_(module.mask.to(module.weight.dtype))


@dataclass
class StepResult:
    """What one training or evaluation step measured (sums over the batch, so they add up over an epoch)."""

    loss_sum: float
    correct: int
    count: int
    output_spikes: float = 0.0  # sum of output spikes (for the output firing rate)
    output_slots: int = 0  # T * B * classes


@dataclass
class EpochResult:
    """Mean loss and accuracy over an epoch (or an evaluation pass)."""

    loss: float
    accuracy: float
    count: int
    output_rate: float

    @classmethod
    def from_steps(cls, steps: Iterable[StepResult]) -> EpochResult:
        steps = list(steps)
        count = sum(s.count for s in steps)
        slots = sum(s.output_slots for s in steps)
        if count == 0:
            return cls(float("nan"), float("nan"), 0, float("nan"))
        return cls(
            loss=sum(s.loss_sum for s in steps) / count,
            accuracy=sum(s.correct for s in steps) / count,
            count=count,
            output_rate=(sum(s.output_spikes for s in steps) / slots) if slots else float("nan"),
        )


def run_epoch(
    loader: Iterable,
    step: Callable[[int, Any, Any], StepResult],
    *,
    progress: Callable[[StepResult], None] | None = None,
    scheduler: Any = None,
) -> EpochResult:
    """The one epoch loop of every training method: ``step(i, x, y)`` for each batch ``i`` of ``loader``,
    ``progress`` with each step's result, then one ``scheduler`` step; returns the epoch's mean loss and
    accuracy (:meth:`EpochResult.from_steps`). STBP, EIHL and local-only differ only in their ``step``.
    """
    results = []
    for i, (x, y) in enumerate(loader):
        r = step(i, x, y)
        results.append(r)
        if progress is not None:
            progress(r)
    if scheduler is not None:
        scheduler.step()
    return EpochResult.from_steps(results)


class Trainer:
    """Surrogate-gradient BPTT (STBP) for a spiking module with any ``torch.optim`` optimiser.

    Parameters
    ----------
    model
        A module mapping ``[T, B, ...]`` to ``[T, B, classes]`` (or a tuple whose first element is the
        output spikes and last the membrane potential).
    optimizer
        Any ``torch.optim.Optimizer`` over (some of) the model's parameters. Only its parameters change;
        gradients of the others are computed and cleared (readout-only training).
    loss
        A registered loss name (``"count_ce"``, ``"rate_mse"``, ``"membrane_ce"``, ``"membrane_max_ce"``)
        or a :class:`~biosnn.learning.losses.SpikeLoss`.
    encoder
        A name in :data:`biosnn.data.ENCODERS` (``"poisson"``, ``"latency"``, ``"direct"``), a callable
        ``encoder(x, steps=, generator=)`` returning ``[T, B, ...]``, or ``None`` for data that are
        already time-major.
    steps
        Number of time steps ``T`` the encoder produces.
    seed
        Seed of the trainer's generator (used by stochastic encoders).
    scheduler
        An optional learning-rate scheduler, stepped once per epoch by :meth:`train_epoch`.
    grad_clip
        Optional maximum global gradient norm.
    device
        Where inputs are moved before the forward pass (default: the model's device): a ``torch.device``
        or a setting :func:`resolve_device` accepts (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"``). The
        model is not moved (``model.to(device)`` is the caller's); the encoder's generator stays on the CPU.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        loss: SpikeLoss | str = "count_ce",
        encoder: str | Encoder | None = "poisson",
        steps: int = 8,
        seed: int = 0,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        grad_clip: float | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ParameterError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ParameterError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ParameterError(f"parameter 'steps' (time steps T) must be a positive integer, got {steps!r}")
        if grad_clip is not None and not (math.isfinite(grad_clip) and grad_clip > 0):
            raise ParameterError(f"parameter 'grad_clip' must be a positive number or None, got {grad_clip!r}")
        self.model = model
        self.optimizer = optimizer
        self.loss = as_loss(loss)
        self.encoder = resolve_encoder(encoder)
        self.steps = steps
        self.scheduler = scheduler
        self.grad_clip = grad_clip
        if device is None:
            p = next(iter(model.parameters()), None)
            device = p.device if p is not None else torch.device("cpu")
        self.device = resolve_device(device)
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(int(seed))
        self.iteration = 0

    # -- one step ------------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The time-major input ``[T, B, ...]`` for a batch ``x`` (on the trainer's device)."""
        if self.encoder is None:
            x_t = x
        else:
            x_t = self.encoder(x, steps=self.steps, generator=self.generator)
        x_t = x_t.to(self.device)
        if x_t.dim() < 2:
            raise ShapeError(f"encoded input must be time-major [T, B, ...], got shape {tuple(x_t.shape)}")
        return x_t

    def _measure(self, output, y: torch.Tensor, loss: torch.Tensor) -> StepResult:
        with torch.no_grad():
            pred = self.loss.scores(output).argmax(1)
            spikes = output[0] if isinstance(output, (tuple, list)) else output
            return StepResult(
                loss_sum=float(loss) * y.shape[0],
                correct=int((pred == y).sum()),
                count=int(y.shape[0]),
                output_spikes=float(spikes.sum()),
                output_slots=spikes.numel(),
            )

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        """One STBP step on the batch ``(x, y)``: encode, forward, loss, BPTT, optimiser step, masks."""
        return self.train_step_encoded(self.encode(x), y)

    def train_step_encoded(self, x_t: torch.Tensor, y: torch.Tensor) -> StepResult:
        """One STBP step on an already encoded, time-major batch ``x_t`` ``[T, B, ...]``."""
        self.model.train()
        y = y.to(self.device)
        loss, output = self._forward_loss(x_t.to(self.device), y)
        if not torch.isfinite(loss):
            raise NonFiniteError(
                f"the training loss is {float(loss.detach())} at iteration {self.iteration}; the weights were not "
                f"updated (lower the learning rate or check the input data)"
            )
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        bad = first_non_finite((n, p.grad) for n, p in self._trained_parameters())
        if bad is not None:
            self.model.zero_grad(set_to_none=True)
            raise NonFiniteError(
                f"the gradient of parameter {bad!r} holds NaN or infinite values at iteration {self.iteration}; "
                f"the weights were not updated (lower the learning rate or check the input data)"
            )
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        try:
            self._optimizer_step()
        except RuntimeError as exc:  # e.g. Adam's step size lr / (1 - beta1^t) overflowing the dtype
            if "overflow" not in str(exc):
                raise
            raise NonFiniteError(
                f"the optimiser step of iteration {self.iteration} overflowed ({exc}); the learning "
                f"rate is far too high"
            ) from None
        self.model.zero_grad(set_to_none=True)
        enforce_masks(self.model)
        bad = first_non_finite(self._trained_parameters())
        if bad is not None:
            raise NonFiniteError(
                f"parameter {bad!r} holds NaN or infinite values after the optimiser step of iteration "
                f"{self.iteration} (the learning rate or the weight decay is far too high, or the data are not finite)"
            )
        self.iteration += 1
        return self._measure(output, y, loss.detach())

    def _forward_loss(self, x_t: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """The training loss and the model's output on an encoded batch (a method with its own loss
        replaces this; the checks and the update of :meth:`train_step_encoded` stay).
        """
        output = self.model(x_t)
        return self.loss(output, y), output

    def _optimizer_step(self) -> None:
        """The update after the checked backward pass (a method with its own step replaces this)."""
        self.optimizer.step()

    def _trained_parameters(self) -> list[tuple[str, torch.Tensor]]:
        """(name, parameter) of the model's parameters that the optimiser updates."""
        if getattr(self, "_trained", None) is None:
            ids = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
            self._trained = [(n, p) for n, p in self.model.named_parameters() if id(p) in ids]
        return self._trained

    @torch.no_grad()
    def eval_step(self, x: torch.Tensor, y: torch.Tensor) -> StepResult:
        """Loss and correct predictions on a batch, without gradients."""
        y = y.to(self.device)
        output = self.model(self.encode(x))
        return self._measure(output, y, self.loss(output, y))

    # -- epochs --------------------------------------------------------------------------------------
    def train_epoch(self, loader: Iterable, *, progress: Callable[[StepResult], None] | None = None) -> EpochResult:
        """One pass of STBP over ``loader`` (then one scheduler step); returns mean loss and accuracy."""
        return run_epoch(loader, lambda i, x, y: self.train_step(x, y), progress=progress, scheduler=self.scheduler)

    def evaluate(self, loader: Iterable) -> EpochResult:
        """Mean loss and accuracy over ``loader`` in evaluation mode (the model's mode is restored)."""
        was_training = self.model.training
        self.model.eval()
        try:
            return EpochResult.from_steps(self.eval_step(x, y) for x, y in loader)
        finally:
            self.model.train(was_training)

    def fit(
        self, train_loader: Iterable, *, epochs: int, test_loader: Iterable | None = None
    ) -> list[dict[str, float]]:
        """Train for ``epochs`` epochs; returns one dict per epoch (train loss/accuracy, test accuracy)."""
        history = []
        for epoch in range(epochs):
            tr = self.train_epoch(train_loader)
            row = {"epoch": epoch + 1, "loss": tr.loss, "train_accuracy": tr.accuracy}
            if test_loader is not None:
                te = self.evaluate(test_loader)
                row.update(test_loss=te.loss, test_accuracy=te.accuracy)
            history.append(row)
        return history

    # -- state ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Optimiser, scheduler, encoder generator and iteration count (the model is saved separately)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "iteration": self.iteration,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self.iteration = int(state["iteration"])
