r"""Checkpoints: written atomically, checked on load, complete enough to resume bit for bit.

A checkpoint is one ``torch.save`` file holding

* ``format`` (this module's :data:`FORMAT`) and a ``fingerprint`` of the model (every parameter and buffer
  name with its shape and dtype) plus the run configuration it was written for;
* the model's ``state_dict`` (weights *and* masks), the trainer's (optimiser, scheduler, encoder generator),
  the hybrid controller's (phase, ``x``, thresholds, counters), the data loader's generator;
* the states of every global random source: torch (CPU and CUDA), NumPy's legacy generator, Python's
  ``random`` -- as tensors and plain lists and numbers, so that the file holds nothing but tensors and
  plain containers;
* anything else the caller adds (the metrics history, the epoch).

**Safe loads.** :func:`load_checkpoint` reads with ``torch.load(weights_only=True)``: tensors, numbers,
strings and plain containers only, never arbitrary pickled objects, so a crafted file cannot run code; a
file holding anything else is refused (:class:`~biosnn.errors.CheckpointError` naming it) before any of
it is used, and the ``format`` marker is checked before anything else is read from it. Checkpoints of the
older format ``biosnn-checkpoint-1`` (NumPy arrays inside) are refused with that explanation.

**Atomic writes.** :func:`save_checkpoint` writes to a temporary file in the same folder, flushes and
``fsync``\\ s it, then ``os.replace``\\ s it over the target: a run killed at any moment leaves either the
old checkpoint or the new one, never a truncated file. The file gets the permissions any new file
gets (``0o666 & ~umask``), not ``mkstemp``'s private ``0o600``.

**Test hook.** When the environment variable ``BIOSNN_TEST_KILL_AT`` is ``"<kind>:<n>[:<phase>]"`` the
process kills itself with ``SIGKILL`` at that exact point (:func:`kill_point`): ``kind`` is ``config``,
``checkpoint``, ``metrics`` or ``plot`` (the files of a training run; any other file is its own name) for
the ``n``-th write of that kind in the process, at ``phase`` ``before`` (nothing written yet), ``tmp``
(the default: the temporary file is complete but not yet renamed) or ``after`` (renamed); or ``batch``
for the ``n``-th training batch of a run; a fourth field ``STOP`` makes it stop itself (``SIGSTOP``)
instead. It exists for the kill tests (``tests/learning/test_kill_resume.py``) and does nothing when the
variable is unset.

**Checked loads.** :func:`load_checkpoint` raises :class:`~biosnn.errors.CheckpointError` naming the file
and the problem for a missing, truncated or corrupt file, a foreign format, or (with ``expect``) a
checkpoint written for a different model or configuration; nothing is restored before the checks pass.

**Any device.** A checkpoint is read onto the CPU (``map_location``) and copied from there into the
model, wherever it lives (``load_state_dict`` keeps each parameter's device; optimisers move their state
to their parameters' devices), so a run written on CUDA resumes on the CPU and the other way round.
"""

from __future__ import annotations

import io
import os
import pickle
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from biosnn.errors import CheckpointError

FORMAT = "biosnn-checkpoint-2"
#: Kinds of file the kill hook names, by file name (any other file is its own kind).
WRITE_KINDS = {"config.json": "config", "last.pt": "checkpoint", "metrics.csv": "metrics", "training.png": "plot"}
KILL_ENV = "BIOSNN_TEST_KILL_AT"
_kill_counts: dict[str, int] = {}


def kill_point(kind: str, phase: str = "tmp") -> None:
    """The kill tests' hook: ``SIGKILL`` this process here if ``$BIOSNN_TEST_KILL_AT`` names this point.

    Each call with ``phase == "before"`` counts one more event of ``kind`` (a training batch is counted
    with ``kind == "batch"``); the variable ``"<kind>:<n>[:<phase>[:STOP]]"`` selects the ``n``-th one
    (module docstring). With ``STOP`` the process stops itself (``SIGSTOP``, holding what it holds, until
    it gets ``SIGCONT``) instead of dying. A no-op when the variable is unset.
    """
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    if phase == "before":
        _kill_counts[kind] = _kill_counts.get(kind, 0) + 1
    parts = spec.split(":")
    want_phase = parts[2] if len(parts) > 2 else ("before" if parts[0] == "batch" else "tmp")
    if parts[0] == kind and want_phase == phase and len(parts) > 1 and parts[1] == str(_kill_counts.get(kind, 0)):
        import signal

        os.kill(os.getpid(), signal.SIGSTOP if parts[3:] == ["STOP"] else signal.SIGKILL)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def model_fingerprint(model: nn.Module) -> dict[str, str]:
    """Name -> ``"shape dtype"`` of every parameter and buffer: two models match if these are equal."""
    return {name: f"{tuple(t.shape)} {str(t.dtype).replace('torch.', '')}" for name, t in model.state_dict().items()}


def rng_state() -> dict[str, Any]:
    """The states of torch (CPU, CUDA), NumPy's global generator and Python's ``random``.

    Everything is a tensor, a plain list or a number (what ``torch.load(weights_only=True)`` reads): NumPy's
    ``(name, keys, pos, has_gauss, cached_gaussian)`` becomes a dict with the keys as an int64 tensor,
    Python's ``(version, internal state, gauss_next)`` a list.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": [int(version), [int(v) for v in internal], gauss_next],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (
            n["name"],
            n["keys"].numpy().astype(np.uint32),
            int(n["pos"]),
            int(n["has_gauss"]),
            float(n["cached_gaussian"]),
        )
    )
    version, internal, gauss_next = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        # a checkpoint from a machine with another number of GPUs: restore the devices both have
        for index, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.cpu(), index)


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsynced, then renamed.

    A reader (or a run killed at any instant) sees either the old file or the complete new one, never a
    truncated file; the folder is fsynced too so the rename itself survives a crash.
    """
    path = Path(path)
    kind = WRITE_KINDS.get(path.name, path.name)
    kill_point(kind, "before")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0o600
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        kill_point(kind, "tmp")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    kill_point(kind, "after")
    return path


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any], *, model: nn.Module | None = None) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename); return the path.

    Parameters
    ----------
    path
        Target file; its folder is created if needed.
    state
        What to save (tensors, dicts, numbers). ``format`` is added, and with ``model`` the model's
        ``state_dict`` (``"model"``) and :func:`model_fingerprint` (``"fingerprint"``).
    model
        The model whose weights and masks the checkpoint holds.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(state)
    payload["format"] = FORMAT
    if model is not None:
        payload["model"] = model.state_dict()
        payload["fingerprint"] = model_fingerprint(model)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(path, buffer.getvalue())
    return path


def load_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module | None = None,
    expect: dict[str, Any] | None = None,
    map_location: str | torch.device | None = "cpu",
) -> dict[str, Any]:
    """Read and check a checkpoint; with ``model``, load its weights and masks into it.

    Parameters
    ----------
    path
        The checkpoint file.
    model
        If given, the checkpoint's fingerprint must equal :func:`model_fingerprint` of ``model`` and its
        ``state_dict`` is loaded into ``model`` (only after every check passed).
    expect
        Entries that must be equal in the checkpoint (for example ``{"config": {...}}``); a differing entry
        raises :class:`CheckpointError` naming it.
    map_location
        Where the checkpoint's tensors are read to (``torch.load``'s ``map_location``). The default, the
        CPU, works whatever device wrote the checkpoint (a CUDA checkpoint loads on a machine without
        CUDA); ``model`` gets the weights on its own device either way.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, corrupt, not a biosnn checkpoint, or written for another model
        or configuration.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:  # weights_only: tensors and plain containers only; a crafted pickle cannot run code
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = [line.strip() for line in text.splitlines() if "GLOBAL" in line]
        if found:  # a class or function reference: not something a biosnn checkpoint of this format holds
            raise CheckpointError(
                f"checkpoint {str(path)!r} holds objects other than tensors and plain containers ({found[0][:160]}), "
                f"so it is not a {FORMAT} file (an older biosnn checkpoint, a foreign file, or a crafted one); "
                f"refusing to unpickle it"
            ) from None
        reason = next((line.strip() for line in text.splitlines() if line.strip().startswith("Unsupported")), "")
        raise CheckpointError(
            f"checkpoint {str(path)!r} is truncated or corrupt (UnpicklingError{': ' + reason if reason else ''})"
        ) from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        OSError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        TypeError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(
            f"checkpoint {str(path)!r} is truncated or corrupt ({type(exc).__name__}: {first})"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else None
        raise CheckpointError(
            f"{str(path)!r} is not a biosnn checkpoint of this version (expected format {FORMAT!r}, found {found!r})"
        )
    if model is not None:
        have = state.get("fingerprint")
        want = model_fingerprint(model)
        if have != want:
            diff = sorted(set(have or {}) ^ set(want)) or sorted(k for k in want if have.get(k) != want[k])
            raise CheckpointError(
                f"checkpoint {str(path)!r} was written for a different model (differs in {', '.join(diff[:5])}"
                f"{' ...' if len(diff) > 5 else ''}); refusing to load it"
            )
    for key, value in (expect or {}).items():
        have = state.get(key)
        if have != value:
            if isinstance(have, dict) and isinstance(value, dict):
                keys = sorted(k for k in set(have) | set(value) if have.get(k) != value.get(k))
                detail = "; ".join(f"{k}: {have.get(k)!r} there, {value.get(k)!r} here" for k in keys)
            else:
                detail = f"it has {have!r}, this run has {value!r}"
            raise CheckpointError(f"checkpoint {str(path)!r} was written for a different {key} ({detail})")
    if model is not None:
        model.load_state_dict(state["model"])
    return state
