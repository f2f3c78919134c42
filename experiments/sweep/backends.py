"""Running the points of a sweep: one submission loop, two backends (local processes or Dask).

`run_point` is the unit of work (a top-level function, so both backends can ship it): it builds
the config, simulates, and stores the result or a failure record itself, atomically — a point is
finished exactly when its file exists, whoever ran it and whatever happens to the parent later.
`execute` submits the pending points to a backend and reports each as it completes; the backends
only differ in how a function reaches a worker:

* `PoolBackend`: `process_pool` (spawned workers, one numba/BLAS/OpenMP thread each, so N workers
  use N cores; a worker exits when its parent dies, even by SIGKILL);
* `DaskBackend`: a `dask.distributed.Client` on a scheduler address (workers must import lnsgd).

This module imports neither numba nor the simulation at import time, so the worker initializer
sets the thread limits before numba reads them.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from lnsgd.solvers.status import Status

#: Environment of a worker: one thread for numba, OpenMP and the BLAS libraries.
THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


#: Linux prctl option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1
#: Seconds between two checks of the parent-pid watchdog.
WATCHDOG_PERIOD = 0.5


def limit_threads() -> None:
    """One thread per worker process (set before numba is imported)."""
    os.environ.update(THREAD_ENV)


def init_worker(parent_pid: int) -> None:
    """Pool worker initializer: one thread, and exit as soon as the parent `parent_pid` dies (the
    kernel's parent-death signal on Linux, plus a watchdog thread polling the parent pid). The
    signal follows the thread that started the worker: submit from a thread that outlives the pool."""
    limit_threads()
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="lnsgd-watchdog").start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_PERIOD)
    os._exit(1)


def process_pool(workers: int | None = None) -> concurrent.futures.ProcessPoolExecutor:
    """A local pool of `workers` spawned processes (default: all cores), set up by `init_worker`:
    the one process pool of the workbench (sweeps, claims and `lnsgd check`)."""
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers or os.cpu_count() or 1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(os.getpid(),),
    )


@dataclass(frozen=True)
class PointTask:
    """What a worker needs: the point's hash, its config values and the result folder."""

    digest: str
    values: dict[str, Any]
    out: str


@dataclass(frozen=True)
class PointOutcome:
    """What came back: completed, diverged, invalid or error (stored), or interrupted or lost
    (nothing stored: the point is rerun next time); see `Status.stored`."""

    digest: str
    status: Status
    message: str
    seconds: float


def run_point(task: PointTask) -> PointOutcome:
    """Simulate one point and store its result (or its failure record); never raises."""
    from lnsgd.experiments.run_preset import config_from_values
    from lnsgd.experiments.sweep.store import write_failure, write_result
    from lnsgd.experiments.validation import ConfigError

    start = time.perf_counter()
    try:
        config = config_from_values(task.values)
    except (ConfigError, TypeError) as err:
        write_failure(task.out, task.digest, task.values, Status.INVALID, f"invalid combination: {err}")
        return PointOutcome(task.digest, Status.INVALID, str(err), time.perf_counter() - start)
    try:
        ds, caught = _simulate_capturing(config)
        status, message = Status(ds.attrs["status"]), ds.attrs["message"]
        if status is Status.INTERRUPTED:
            return PointOutcome(task.digest, status, message, time.perf_counter() - start)
        seconds = time.perf_counter() - start
        ds.attrs["wall_seconds"] = float(seconds)
        ds.attrs["warnings"] = " | ".join(sorted({str(w.message) for w in caught}))
        write_result(ds, task.out, task.digest)
        return PointOutcome(task.digest, status, message, seconds)
    except KeyboardInterrupt:
        return PointOutcome(task.digest, Status.INTERRUPTED, "interrupted", time.perf_counter() - start)
    except Exception as err:  # noqa: BLE001 - recorded, the sweep goes on
        reason = f"{type(err).__name__}: {err}"
        write_failure(task.out, task.digest, task.values, Status.ERROR, reason, traceback.format_exc())
        return PointOutcome(task.digest, Status.ERROR, reason, time.perf_counter() - start)


def _simulate_capturing(config: Any) -> tuple[Any, list]:
    """The simulation of `config` with its warnings (e.g. stability) captured for the point's record."""
    from lnsgd.experiments.run_preset import simulate_any

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        return simulate_any(config, progress=False), caught


class Backend(Protocol):
    """A place to run functions: `submit(fn, arg) -> future` and `as_completed(futures)`."""

    def __enter__(self) -> Backend: ...
    def __exit__(self, *exc: object) -> None: ...
    def submit(self, fn: Callable, arg: Any, key: str) -> Any: ...
    def as_completed(self, futures: list) -> Iterable: ...


class PoolBackend:
    """Local process pool (`process_pool`)."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None

    def __enter__(self) -> PoolBackend:
        self.pool = process_pool(self.workers)
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, fn: Callable, arg: Any, key: str) -> Any:
        return self.pool.submit(fn, arg)

    def as_completed(self, futures: list) -> Iterable:
        return concurrent.futures.as_completed(futures)

    def __str__(self) -> str:
        return f"local process pool ({self.workers} workers)"


class DaskBackend:
    """A dask.distributed cluster at `address` (or an existing Client)."""

    def __init__(self, address: Any):
        self.address = address
        self.client = None

    def __enter__(self) -> DaskBackend:
        from distributed import Client

        self.client = self.address if isinstance(self.address, Client) else Client(self.address)
        self.client.run(limit_threads)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not self.address:
            self.client.close()

    def submit(self, fn: Callable, arg: Any, key: str) -> Any:
        return self.client.submit(fn, arg, key=key, pure=False)

    def as_completed(self, futures: list) -> Iterable:
        from distributed import as_completed

        return as_completed(futures)

    def __str__(self) -> str:
        return f"dask cluster {getattr(self.client, 'scheduler', None) and self.client.scheduler.address}"


def execute(tasks: list[PointTask], backend: Backend, on_done: Callable[[PointOutcome], None]) -> list[PointOutcome]:
    """Run `tasks` on `backend`, calling `on_done` as each finishes; a worker that dies makes
    its points 'lost' (nothing stored, rerun resumes them) without stopping the others."""
    outcomes = []
    if not tasks:
        return outcomes
    with backend:
        futures = {}
        for task in tasks:
            futures[backend.submit(run_point, task, f"lnsgd-point-{task.digest}-{os.getpid()}")] = task
        for future in backend.as_completed(list(futures)):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as err:  # noqa: BLE001 - worker died / cluster lost the task
                outcome = PointOutcome(task.digest, Status.LOST, f"{type(err).__name__}: {err}", float("nan"))
            outcomes.append(outcome)
            on_done(outcome)
    return outcomes


def make_backend(workers: int | None = None, dask: Any = None) -> Backend:
    """`DaskBackend(dask)` when a scheduler address (or Client) is given, else a process pool."""
    return DaskBackend(dask) if dask is not None else PoolBackend(workers)
