"""Where the independent runs of a sweep execute: in this process, on the local cores, or on a Dask cluster.

Every back end is a :class:`concurrent.futures.Executor` opened by a factory in :data:`EXECUTORS`:

* ``"serial"`` -- one run after the other in this process (debugging, tiny sweeps);
* ``"process"`` -- a :class:`~concurrent.futures.ProcessPoolExecutor` on the local cores, started by
  ``fork`` where the platform has it: workers start at once with biosnn and Brian2 already imported, and
  experiment functions defined in a notebook or script (``__main__``) work (PyTorch's DataLoader workers are
  forked the same way);
* ``"spawn"`` -- the same with fresh interpreters (``spawn``): slower to start (each worker imports biosnn),
  needs experiments importable by module name, but shares nothing with the parent process;
* ``"dask"`` -- a ``dask.distributed`` cluster at a scheduler address (``"tcp://host:8786"``); distributed's
  ``Client(address).get_executor()`` is itself a ``concurrent.futures`` executor, so the sweep code does
  not change.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from biosnn.errors import ParameterError
from biosnn.registry import Registry

ExecutorFactory = Callable[[int | None, str | None], Any]

#: Executor factories: ``factory(max_workers, scheduler)`` is a context manager yielding an ``Executor``.
EXECUTORS: Registry[ExecutorFactory] = Registry("sweep executor")


class SerialExecutor(Executor):
    """Runs each submitted call at once, in this process (a ``concurrent.futures`` executor)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Call ``fn(*args, **kwargs)`` now and return a finished future holding its result or exception."""
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


@EXECUTORS.register("serial")
@contextmanager
def _serial(max_workers: int | None, scheduler: str | None) -> Iterator[Executor]:
    yield SerialExecutor()


def _pool(method: str, max_workers: int | None) -> ProcessPoolExecutor:
    workers = max_workers or max(1, os.cpu_count() or 1)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


@EXECUTORS.register("process")
@contextmanager
def _process(max_workers: int | None, scheduler: str | None) -> Iterator[Executor]:
    methods = multiprocessing.get_all_start_methods()
    with _pool("fork" if "fork" in methods else "spawn", max_workers) as pool:
        yield pool


@EXECUTORS.register("spawn")
@contextmanager
def _spawn(max_workers: int | None, scheduler: str | None) -> Iterator[Executor]:
    with _pool("spawn", max_workers) as pool:
        yield pool


@EXECUTORS.register("dask")
@contextmanager
def _dask(max_workers: int | None, scheduler: str | None) -> Iterator[Executor]:
    if not scheduler:
        raise ParameterError("the 'dask' executor needs a scheduler address, e.g. scheduler='tcp://127.0.0.1:8786'")
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - dask[distributed] is a dev dependency
        raise ParameterError("the 'dask' executor needs dask.distributed (pip install 'dask[distributed]')") from exc
    with Client(scheduler, set_as_default=False) as client:
        yield client.get_executor(pure=False)


def open_executor(name: str, *, max_workers: int | None = None, scheduler: str | None = None):
    """Open the executor ``name`` from :data:`EXECUTORS` (a context manager)."""
    if max_workers is not None and (
        isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
    ):
        raise ParameterError(f"parameter 'max_workers' must be a positive integer or None, got {max_workers!r}")
    return EXECUTORS[name](max_workers, scheduler)
