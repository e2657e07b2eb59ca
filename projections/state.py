"""Read-model state kept in memory between batches, exactly as committed.

A projection that folds events into Python objects (an order, say) would otherwise read them
back from its tables and decode them at the start of every batch, only to write them again
at its end. ``CommittedState`` keeps them instead: ``get`` sees the values of the batch being
applied first, then those of batches that committed; the engine's ``settled(schema,
committed)`` call, when the transaction ends, keeps the batch's values or drops them, so
memory never runs ahead of the tables. Values put here must not be changed afterwards (a
batch works on copies). Least recently used entries are forgotten beyond ``maxsize`` and
read from the tables again when next needed.

A projection applies batches to one schema at a time per process (its live generation, or
the one a rebuild fills); state for a schema not used for a while is dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

SCHEMAS_KEPT = 2


class CommittedState(Generic[K, V]):
    """Per schema, ``key → value`` as committed, plus the pending batch's values."""

    def __init__(self, maxsize: int = 100_000) -> None:
        self.maxsize = maxsize
        self._committed: OrderedDict[str, OrderedDict[K, V]] = OrderedDict()
        self._pending: dict[str, dict[K, V]] = {}

    def _schema(self, schema: str) -> OrderedDict[K, V]:
        values = self._committed.get(schema)
        if values is None:
            values = self._committed[schema] = OrderedDict()
            while len(self._committed) > SCHEMAS_KEPT:
                self._committed.popitem(last=False)
        else:
            self._committed.move_to_end(schema)
        return values

    def get(self, schema: str, key: K) -> V | None:
        pending = self._pending.get(schema)
        if pending is not None and key in pending:
            return pending[key]
        values = self._schema(schema)
        found = values.get(key)
        if found is not None:
            values.move_to_end(key)
        return found

    def known(self, schema: str, keys: Iterable[K]) -> tuple[dict[K, V], list[K]]:
        """The values kept for ``keys`` (as ``get`` sees them), and the keys with none."""
        found: dict[K, V] = {}
        missing: list[K] = []
        for key in keys:
            value = self.get(schema, key)
            if value is None:
                missing.append(key)
            else:
                found[key] = value
        return found, missing

    def put(self, schema: str, key: K, value: V) -> None:
        """``value`` as the batch being applied leaves it (committed only if the batch is)."""
        self._pending.setdefault(schema, {})[key] = value

    def settled(self, schema: str, committed: bool) -> None:
        pending = self._pending.pop(schema, None)
        if not committed or not pending:
            return
        values = self._schema(schema)
        values.update(pending)
        for key in pending:
            values.move_to_end(key)
        while len(values) > self.maxsize:
            values.popitem(last=False)
