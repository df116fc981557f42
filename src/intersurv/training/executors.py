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


def make_executor(jobs: int) -> Executor:
    """The serial executor for ``jobs == 1``, a process pool otherwise."""
    if jobs == 1:
        return SerialExecutor()
    return ProcessPoolExecutor(jobs)
