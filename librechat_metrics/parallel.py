"""Sections two at a time while a first count runs (issue 12).

A first count reads whole collections, and MongoDB runs each aggregation on one core: the
messages pass and the transactions pass side by side take about 60% of their time one after
the other (bench/README.md). So a run that starts with a first count due runs its sections on
WORKERS threads, as many as the client's connection pool holds. The output must not depend on
which thread was quicker: a section's first use of the shared label slots waits until every
section before it in the run order has finished (`InTurn`), so slots are taken in the same
order as in a run that goes one section after the other.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .catalogue import Dimension
from .dimensions import Dimensions

WORKERS = 2  # concurrent sections in a first-count run; the client's maxPoolSize

T = TypeVar("T")


class Turns:
    """Which sections of the run have finished, and the WORKERS slots sections run in."""

    def __init__(self, count: int, workers: int) -> None:
        self._done = [False] * count
        self._changed = threading.Condition()
        self.slots = threading.Semaphore(workers)
        self.waited = [0.0] * count  # seconds each section spent waiting for its turn

    def wait_for_earlier(self, index: int) -> None:
        """Block until every section before `index` has finished (succeeded or failed).

        The caller holds a slot; while it waits, the slot is free for a section that can
        work (a waiting section would otherwise keep the next one from starting)."""
        with self._changed:
            if all(self._done[:index]):
                return
        began = time.monotonic()
        self.slots.release()
        try:
            with self._changed:
                self._changed.wait_for(lambda: all(self._done[:index]))
        finally:
            self.slots.acquire()
            self.waited[index] += time.monotonic() - began

    def finish(self, index: int) -> None:
        with self._changed:
            self._done[index] = True
            self._changed.notify_all()


class InTurn(Dimensions):
    """The run's slot tables (the same dicts) as section `index` sees them: reading or taking
    a slot waits for the sections before it."""

    def __init__(self, dims: Dimensions, turns: Turns, index: int) -> None:
        super().__init__(dims.table, dims.limit, dims.ttl, dims.now)
        self.turns, self.index = turns, index

    def map(self, dim: Dimension, volumes: Mapping[str, float],
            counting: bool = True) -> dict[str, str]:
        self.turns.wait_for_earlier(self.index)
        return super().map(dim, volumes, counting)

    def values(self, dim: Dimension) -> list[str]:
        self.turns.wait_for_earlier(self.index)
        return super().values(dim)


class Failed:
    """What a task raised, handed back in its place."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def run_in_order(tasks: list[Callable[[Turns, int], T]], workers: int) -> list[T | Failed]:
    """Run tasks(turns, index), at most `workers` at a time, started in list order; results in
    that order. With one worker they run here, one after the other.

    A task that raises gets a Failed in its place, and the tasks not yet started are not run
    (Failed with the same error): the caller decides what a failure means. Each task runs in
    a copy of the caller's context, so pymongo.timeout() applies there too. The threads are
    daemons: a run interrupted by its alarm does not wait for them."""
    turns = Turns(len(tasks), workers)
    results: list[T | Failed | None] = [None] * len(tasks)
    stop = threading.Event()

    def run(index: int) -> None:
        with turns.slots:
            if not stop.is_set():
                results[index] = _attempt(tasks[index], turns, index)
                if isinstance(results[index], Failed):
                    stop.set()
            turns.finish(index)

    if workers <= 1:
        for index in range(len(tasks)):
            run(index)
    else:
        # A thread per task, each waiting for a slot: the semaphore wakes them in the order
        # they began to wait, which is the list order.
        threads = [threading.Thread(target=contextvars.copy_context().run, args=(run, index),
                                    daemon=True, name=f"section-{index}")
                   for index in range(len(tasks))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    failure = next((r for r in results if isinstance(r, Failed)), None)
    return _fill(results, failure) if failure else results  # type: ignore[return-value]


def _attempt(task: Callable[[Turns, int], T], turns: Turns, index: int) -> T | Failed:
    try:
        return task(turns, index)
    except BaseException as exc:
        return Failed(exc)


def _fill(results: list[Any], failure: Failed) -> list[Any]:
    return [failure if r is None else r for r in results]
