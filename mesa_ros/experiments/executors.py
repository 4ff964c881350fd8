"""Where an experiment's units run: in this process, in local worker processes, or on a Dask cluster.

Every backend takes a picklable function and picklable items and yields ``(item, result)`` in completion
order; a unit that fails stops the run after the units already running (their files are written
atomically, so what finished is kept and a rerun resumes). Dask (``pip install .[cluster]``) is the
distributed engine: light, a plain Python scheduler, and ``dask-jobqueue`` reaches Slurm/PBS/SGE.

- ``serial()``: one after another in this process (the default; what a debugger wants);
- ``processes(n)``: ``n`` local worker processes (``spawn``: no state inherited from the parent);
- ``dask(address, n)``: a Dask cluster's workers; ``address`` ``"local"`` starts a ``LocalCluster`` of
  ``n`` single-threaded worker processes, otherwise the scheduler at ``address`` (``tcp://host:8786``).
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Backend(Protocol):
    def __call__(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]: ...


def serial() -> Backend:
    def run(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        for item in items:
            yield item, fn(item)
    return run


@contextmanager
def processes(n: int) -> Iterator[Backend]:
    if n < 1:
        raise ValueError(f"--jobs must be >= 1, got {n}")
    with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn")) as pool:
        def run(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
            pending = {pool.submit(fn, item): item for item in items}
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_EXCEPTION)
                    for future in finished:
                        item = pending.pop(future)
                        yield item, future.result()
            finally:
                for future in pending:
                    future.cancel()
        yield run


@contextmanager
def dask(address: str, n: int = 2) -> Iterator[Backend]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ValueError("the Dask backend needs the optional 'cluster' extra: pip install 'mesa_ros[cluster]' "
                         "(dask[distributed])") from None
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) \
        if address == "local" else None
    try:
        with Client(cluster if cluster is not None else address) as client:
            def run(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
                futures = {client.submit(fn, item, pure=False): item for item in items}
                try:
                    for future in as_completed(list(futures)):
                        yield futures[future], future.result()
                finally:
                    client.cancel([f for f in futures if not f.done()])
            yield run
    finally:
        if cluster is not None:
            cluster.close()


def backend(jobs: int = 1, dask_address: str | None = None) -> Any:
    """The context manager of the backend chosen by ``--jobs`` / ``--dask``."""
    if dask_address:
        return dask(dask_address, jobs)
    if jobs == 1:
        return _null(serial())
    return processes(jobs)


@contextmanager
def _null(value: Backend) -> Iterator[Backend]:
    yield value
