"""Rebuilding several read models on every core at once: one process per group of them.

A rebuild is Python folding events into rows, so one process uses one core however many the
machine has. ``rebuild_in_parallel`` splits the projections into as many groups as there are
workers, balancing their ``rebuild_weight`` (their measured cost per event), and runs
``engine.rebuild_together`` for each group in a process of its own; each group reads and
decodes the log once for all its projections. Everything else is as with one process: each
projection fills a new generation while the live one keeps answering, and switches to it on
its own once it has caught up; an interrupted rebuild resumes from each generation's cursor.

These processes are given over to the rebuild, so each rebuilds with the garbage collector
off (``collector_paused``). ``engine.rebuild`` run in a thread of a server (``POST
/v1/projections/{name}/rebuild``) keeps it: the server's other threads go on making garbage.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from projections import registry
from projections.engine import Projection, rebuild_together

# A read model's ``rebuild_weight`` is the µs per logged event it took to rebuild alone (each
# of the five over the benchmark's 1M-event log, one process, on a 2-core AMD EPYC on
# 2026-12-03: 11 to 36); one that gives none counts as a typical one.
DEFAULT_WEIGHT = 30.0
# Events per batch: a rebuild has the tables to itself, and larger batches mean fewer
# transactions and each order written fewer times on its way through the log.
DEFAULT_BATCH_SIZE = 20_000


class RebuildFailedError(RuntimeError):
    """A worker process of a parallel rebuild failed; its message says why."""


def weight(projection: Projection) -> float:
    return float(getattr(projection, "rebuild_weight", DEFAULT_WEIGHT))


def groups(projections: Sequence[Projection], workers: int) -> list[list[Projection]]:
    """At most ``workers`` groups of about equal total weight (heaviest first, each to the
    lightest group so far), none empty."""
    bins: list[list[Projection]] = [[] for _ in range(max(1, min(workers, len(projections))))]
    for projection in sorted(projections, key=weight, reverse=True):
        min(bins, key=lambda b: sum(map(weight, b))).append(projection)
    return [b for b in bins if b]


def split(projections: Sequence[Projection], workers: int | None = None) -> list[list[Projection]]:
    """The groups a parallel rebuild runs, one process each (default: one per core)."""
    return groups(projections, workers or os.cpu_count() or 1)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Automatic garbage collection off while a process given over to a rebuild rebuilds.

    Rebuilding makes no reference cycles (``tests/projections/test_rebuild_cycles.py``
    checks: a collection after a rebuild with the collector off finds nothing), so reference
    counting frees everything it allocates, and the collector's passes only walk the batch
    in hand and the projections' state again and again. Over a 1M-event log they took
    14–23% of a group's rebuild time, and switching them off took ~11% off the CPU time of
    rebuilding all five read models in parallel. The previous setting comes back afterwards,
    with what the rebuild left alive (the projections' state, up to hundreds of MB) frozen:
    it holds no cycles, and the next collection would otherwise walk all of it at once
    (1.4–1.8 s after a 1M-event rebuild). Frozen objects are still freed when nothing refers
    to them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def rebuild_in_parallel(
    database_url: str,
    projections: Sequence[Projection],
    *,
    workers: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Rebuild ``projections`` in ``workers`` processes (default: one per core); returns each
    one's new generation. ``on_progress(n)`` reports events done by the slowest group."""
    parts = split(projections, workers)
    context = multiprocessing.get_context("spawn")
    messages: Any = context.Queue()
    children = [
        context.Process(target=_rebuild_group, daemon=True,
                        args=(database_url, [p.name for p in part], batch_size, index, messages))
        for index, part in enumerate(parts[1:], start=1)
    ]
    for child in children:
        child.start()
    done = [0] * len(parts)
    reported = 0
    generations: dict[str, int] = {}
    finished = 0

    def report() -> None:
        nonlocal reported
        slowest = min(done)
        if on_progress and slowest > reported:
            on_progress(slowest - reported)
        reported = slowest

    def drain(block: bool) -> None:
        nonlocal finished
        while True:
            try:
                kind, index, payload = messages.get(block=block, timeout=1 if block else None)
            except queue.Empty:
                if block and any(not c.is_alive() and c.exitcode for c in children):
                    raise RebuildFailedError("a rebuild process died") from None
                return
            if kind == "progress":
                done[index] += payload
            elif kind == "done":
                generations.update(payload)
                finished += 1
            else:
                raise RebuildFailedError(payload)
            block = False

    def own_progress(events: int) -> None:
        done[0] += events
        drain(block=False)
        report()

    try:
        with psycopg.connect(database_url, autocommit=True) as conn, collector_paused():
            generations.update(rebuild_together(conn, parts[0], batch_size=batch_size,
                                                on_progress=own_progress))
        while finished < len(children):
            drain(block=True)
            report()
    finally:
        for child in children:
            child.join(timeout=0 if finished < len(children) else 30)
            if child.is_alive():
                child.terminate()
    return generations


def _rebuild_group(
    database_url: str, names: list[str], batch_size: int, index: int, messages: Any
) -> None:
    """A worker process: rebuild ``names`` together, reporting progress and the outcome."""
    try:
        # The collector stays off for the whole rebuild, so it needs no tuning here.
        with psycopg.connect(database_url, autocommit=True) as conn, collector_paused():
            generations = rebuild_together(
                conn, registry.select(names), batch_size=batch_size,
                on_progress=lambda n: messages.put(("progress", index, n)),
            )
        messages.put(("done", index, generations))
    except Exception as error:  # reported to the parent, which raises it
        messages.put(("error", index, f"rebuild of {', '.join(names)}: "
                                      f"{type(error).__name__}: {error}"))
