"""The shape ``application.aggregate_cache.copy_aggregate`` relies on, as a test helper.

A copy that copies only an aggregate's own dicts, lists and sets is a deep copy exactly when
everything else it holds is immutable: plain values, UUIDs, datetimes, Decimals, enums,
tuples and frozensets of those, and frozen dataclasses made of those.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

_ATOMS = (str, int, float, bool, type(None), Decimal, UUID, datetime, date, enum.Enum)


def is_immutable(value: Any) -> bool:
    if isinstance(value, _ATOMS):
        return True
    if isinstance(value, tuple | frozenset):
        return all(is_immutable(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        params = type(value).__dataclass_params__  # type: ignore[attr-defined]
        return bool(params.frozen) and all(
            is_immutable(getattr(value, f.name)) for f in dataclasses.fields(value)
        )
    return False


def shape_violations(aggregate: Aggregate) -> list[str]:
    """Attributes that a container-level copy would share between copy and original."""
    found = []
    for name, value in vars(aggregate).items():
        if name == "_pending_events" or is_immutable(value):
            continue
        if isinstance(value, dict):
            bad = [k for k, v in value.items() if not (is_immutable(k) and is_immutable(v))]
        elif isinstance(value, list | set):
            bad = [v for v in value if not is_immutable(v)]
        else:
            bad = [value]
        if bad:
            found.append(f"{type(aggregate).__name__}.{name}: {bad[:3]!r}")
    return found
