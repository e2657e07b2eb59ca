"""Aggregates kept in memory between commands, so a command does not replay what it just saved.

The library's cache fast-forwards a cached aggregate *in place* and hands out deep copies;
``copy.deepcopy`` of an inventory item with thousands of open reservations costs more than
the command. Evident's cache keeps one rule instead: **an aggregate in the cache is never
changed again**. A command works on a copy; what it saved replaces the cached object; an
aggregate found behind the log is brought up to date on a copy that then replaces it. So
readers that only look (the customer and location network behind a new order) use the
cached object as it is, and nothing needs a lock.

Copies are cheap because Evident's aggregates hold their state as immutable values (frozen
dataclasses, tuples, strings, numbers, UUIDs, datetimes, enums), either directly or one
level down in dicts, lists and sets: copying those containers *is* a deep copy.
``tests/application/test_aggregate_cache.py`` checks every aggregate keeps to that shape.

Whether a cached aggregate is still current is always asked of the log (one indexed query
for many aggregates), because other processes write to the same log.
"""

from __future__ import annotations

from threading import Lock
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import LRUCache
from eventsourcing.domain import Aggregate

A = TypeVar("A", bound=Aggregate)

_CONTAINERS = (dict, list, set)


class _Absent:
    """The cache's note that an aggregate did not exist when last asked (a SKU not stocked
    at a location, say), so that asking again costs nothing until one is saved."""

    version = 0

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def copy_aggregate(aggregate: A) -> A:
    """A copy of ``aggregate`` that a command may change without touching the original."""
    clone = object.__new__(type(aggregate))
    state = aggregate.__dict__.copy()
    for name, value in state.items():
        if type(value) in _CONTAINERS:
            state[name] = value.copy()
    clone.__dict__ = state
    return clone


class AggregateCache:
    """Up to ``maxsize`` aggregates by id, least recently used dropped first (thread-safe)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: LRUCache[UUID, Any] = LRUCache(maxsize=max(maxsize, 1))
        self._writing = Lock()  # a look and a put, as one step

    def __bool__(self) -> bool:
        return self.maxsize > 0

    def get(self, aggregate_id: UUID) -> Any | None:
        """The cached aggregate (never to be changed: copy it first), ``ABSENT``, or None."""
        if not self.maxsize:
            return None
        try:
            return self._entries.get(aggregate_id)
        except KeyError:
            return None

    def put(self, aggregate: Aggregate) -> None:
        """Keep ``aggregate`` (which nobody may change any more), unless a newer version of it
        is cached already: two threads bringing the same aggregate up to date may finish in
        either order."""
        if not self.maxsize:
            return
        with self._writing:
            cached = self.get(aggregate.id)
            if cached is None or cached.version <= aggregate.version:
                self._entries.put(aggregate.id, aggregate)

    def put_absent(self, aggregate_id: UUID) -> None:
        """Note that ``aggregate_id`` does not exist (yet), unless something is cached."""
        if not self.maxsize:
            return
        with self._writing:
            if self.get(aggregate_id) is None:
                self._entries.put(aggregate_id, ABSENT)

    def clear(self) -> None:
        self._entries = LRUCache(maxsize=max(self.maxsize, 1))
