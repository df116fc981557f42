"""Executors: run a function over tasks, serially or in parallel processes.

The interface is deliberately small so that a distributed engine can implement
it later: ``map(fn, tasks, shared, on_start=, on_done=)`` calls
``fn(shared, task)`` for every task and returns the results in task order.
``shared`` is read-only data every task needs (the cohort, the config); an
implementation ships it to each worker once (a process pool passes it to the
worker initialiser; Ray would ``ray.put`` it). ``fn`` and ``shared`` must be
picklable (``fn`` a module-level function). ``on_start(task)`` and
``on_done(task, result)`` are called in the calling process, for progress and
bookkeeping. The first task that raises stops the map: tasks not yet started
are not started, and its exception is re-raised in the caller.

Parallel workers are fresh ("spawn") processes. Executors know nothing about
torch: the task function sets its own thread count (see
:func:`intersurv.training.experiment.run_unit`), so that results do not depend
on how many tasks run at once.

:class:`RayExecutor` runs the tasks on a Ray cluster (the optional ``ray``
extra): a local instance, or an existing cluster given by its address
(``docs/ray.md``).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..errors import IntersurvError

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")


class Executor(ABC):
    """Maps ``fn(shared, task)`` over ``tasks``; see the module docstring."""

    @abstractmethod
    def map(
        self,
        fn: Callable[[S, T], R],
        tasks: Sequence[T],
        shared: S,
        *,
        on_start: Callable[[T], None] | None = None,
        on_done: Callable[[T, R], None] | None = None,
    ) -> list[R]:
        ...


class SerialExecutor(Executor):
    """Runs the tasks one after another in this process (``--jobs 1``)."""

    def map(self, fn, tasks, shared, *, on_start=None, on_done=None):  # type: ignore[no-untyped-def]
        results = []
        for task in tasks:
            if on_start is not None:
                on_start(task)
            result = fn(shared, task)
            if on_done is not None:
                on_done(task, result)
            results.append(result)
        return results


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_WORKER_SHARED: Any = None


def _init_worker(shared: Any) -> None:
    global _WORKER_SHARED
    _WORKER_SHARED = shared


def _call_in_worker(fn: Callable[[Any, Any], Any], task: Any) -> Any:
    return fn(_WORKER_SHARED, task)


class ProcessPoolExecutor(Executor):
    """Runs up to ``jobs`` tasks at a time in spawned worker processes (``--jobs N``).

    At most ``jobs`` tasks are in flight, so ``on_start`` is called when a task
    actually starts.
    """

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise IntersurvError(f"--jobs must be >= 1 (got {jobs})")
        self.jobs = jobs

    def map(self, fn, tasks, shared, *, on_start=None, on_done=None):  # type: ignore[no-untyped-def]
        results: dict[int, Any] = {}
        todo = list(enumerate(tasks))[::-1]
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(
            max_workers=min(self.jobs, max(1, len(todo))), mp_context=ctx,
            initializer=_init_worker, initargs=(shared,),
        ) as pool:
            running: dict[cf.Future[Any], int] = {}
            try:
                while todo or running:
                    while todo and len(running) < self.jobs:
                        i, task = todo.pop()
                        if on_start is not None:
                            on_start(task)
                        running[pool.submit(_call_in_worker, fn, task)] = i
                    finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                    for fut in finished:
                        i = running.pop(fut)
                        results[i] = fut.result()
                        if on_done is not None:
                            on_done(tasks[i], results[i])
            except BaseException:
                for fut in running:
                    fut.cancel()
                raise
        return [results[i] for i in range(len(tasks))]


def _call_on_ray(fn: Callable[[Any, Any], Any], shared: Any, task: Any) -> Any:
    return fn(shared, task)


class RayExecutor(Executor):
    """Runs every task as a Ray task declaring ``cpus`` CPUs (``--executor ray [--address ADDR]``).

    ``address``: an existing cluster (``"auto"``, ``"HOST:PORT"`` or
    ``"ray://HOST:PORT"``, as :func:`ray.init` takes it); None connects to the
    Ray instance this process already started, or starts a local one (and
    shuts it down after the map). ``shared`` is stored once in the object store
    (``ray.put``). At most as many tasks are submitted as the cluster has CPUs
    for, so that ``on_start`` is called close to when a task starts; results
    come back in task order; the first task that raises cancels the others and
    its exception (of the task's own type) is re-raised.
    """

    def __init__(self, address: str | None = None, cpus: int = 1) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise IntersurvError("--executor ray needs Ray: pip install 'intersurv[ray]'") from None
        if cpus < 1:
            raise IntersurvError(f"a Ray task needs at least 1 CPU (got {cpus})")
        self.address, self.cpus = address, cpus

    def map(self, fn, tasks, shared, *, on_start=None, on_done=None):  # type: ignore[no-untyped-def]
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            try:
                ray.init(address=self.address, include_dashboard=False, logging_level="warning",
                         log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise IntersurvError(f"cannot connect to the Ray cluster at {self.address!r}: {exc}") from None
        try:
            slots = max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus))
            remote = ray.remote(num_cpus=self.cpus, max_retries=0)(_call_on_ray)
            shared_ref = ray.put(shared)
            results: dict[int, Any] = {}
            todo = list(enumerate(tasks))[::-1]
            running: dict[Any, int] = {}
            try:
                while todo or running:
                    while todo and len(running) < slots:
                        i, task = todo.pop()
                        if on_start is not None:
                            on_start(task)
                        running[remote.remote(fn, shared_ref, task)] = i
                    (ref,), _ = ray.wait(list(running), num_returns=1)
                    i = running.pop(ref)
                    results[i] = ray.get(ref)
                    if on_done is not None:
                        on_done(tasks[i], results[i])
            except BaseException:
                for ref in running:
                    ray.cancel(ref, force=True)
                raise
            return [results[i] for i in range(len(tasks))]
        finally:
            if started_here:
                ray.shutdown()


#: What ``--executor`` accepts.
EXECUTORS = ("local", "ray")


def make_executor(jobs: int, kind: str = "local", address: str | None = None, cpus: int = 1) -> Executor:
    """``kind`` "local": the serial executor for ``jobs == 1``, a process pool otherwise;
    "ray": a :class:`RayExecutor` (``jobs`` unused: the cluster's CPUs set the parallelism) whose
    tasks declare ``cpus`` CPUs each."""
    if kind == "ray":
        return RayExecutor(address, cpus)
    if kind != "local":
        raise IntersurvError(f"unknown executor {kind!r} (known: {', '.join(EXECUTORS)})")
    if address is not None:
        raise IntersurvError("--address is for --executor ray")
    if jobs == 1:
        return SerialExecutor()
    return ProcessPoolExecutor(jobs)
