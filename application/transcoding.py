"""An orjson transcoder that round-trips the value types our events carry, exactly.

Events are kept forever, so what goes in must come back as the same type and value:
``Decimal("59.90")`` stays a Decimal with two places, a UUID stays a UUID, a tz-aware
datetime keeps its offset, an enum member comes back as that member. orjson serialises
UUIDs, datetimes, enums and dataclasses natively but loses their types on the way back,
so values are first tagged (``{"$dec": "59.90"}``) and untagged after parsing. A tag is a
one-key object whose key starts with ``$``; a user mapping of that shape is escaped as
``$map`` so nothing can be mistaken for a tag.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder
from eventsourcing.utils import get_topic, resolve_topic


class TranscodingError(TypeError):
    """A value of a type that events must not carry, or a stored tag we cannot read."""


@cache
def _resolve(topic: str) -> Any:
    return resolve_topic(topic)


@cache
def _field_names(cls: type) -> tuple[tuple[str, ...], frozenset[str]]:
    """A dataclass's field names, and those its __init__ takes (looked up once per class)."""
    fields = dataclasses.fields(cls)
    return tuple(f.name for f in fields), frozenset(f.name for f in fields if f.init)


@cache
def _topic(cls: type) -> str:
    return get_topic(cls)


def _encode_map(items: dict[Any, Any]) -> Any:
    if all(type(k) is str for k in items) and not (
        len(items) == 1 and next(iter(items)).startswith("$")
    ):
        return {k: _tag(v) for k, v in items.items()}
    return {"$map": [[_tag(k), _tag(v)] for k, v in items.items()]}


def _tag(value: Any) -> Any:
    kind: type = type(value)
    if kind in (str, int, bool, float) or value is None:
        return value
    if kind is dict:
        return _encode_map(value)
    if kind is list:
        return [_tag(v) for v in value]
    if kind is tuple:
        return {"$tuple": [_tag(v) for v in value]}
    if kind is Decimal:
        return {"$dec": str(value)}
    if kind is UUID:
        return {"$uuid": str(value)}
    if kind is datetime:
        return {"$dt": value.isoformat()}
    if kind is date:
        return {"$date": value.isoformat()}
    if isinstance(value, enum.Enum):
        return {"$enum": [_topic(kind), _tag(value.value)]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names, _ = _field_names(kind)
        return {"$dc": [_topic(kind), {name: _tag(getattr(value, name)) for name in names}]}
    if kind in (set, frozenset):
        return {"$set" if kind is set else "$frozenset": [_tag(v) for v in value]}
    msg = f"cannot store a value of type {kind.__qualname__} in an event: {value!r}"
    raise TranscodingError(msg)


def _untag_dataclass(data: list[Any]) -> Any:
    cls = _resolve(data[0])
    fields = {k: _untag(v) for k, v in data[1].items()}
    _, init = _field_names(cls)
    obj = cls(**{k: v for k, v in fields.items() if k in init})
    for name, field_value in fields.items():
        if name not in init:
            object.__setattr__(obj, name, field_value)
    return obj


_UNTAGGERS: dict[str, Callable[[Any], Any]] = {
    "$dec": Decimal,
    "$uuid": UUID,
    "$dt": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$tuple": lambda items: tuple(_untag(v) for v in items),
    "$set": lambda items: {_untag(v) for v in items},
    "$frozenset": lambda items: frozenset(_untag(v) for v in items),
    "$map": lambda pairs: {_untag(k): _untag(v) for k, v in pairs},
    "$enum": lambda data: _resolve(data[0])(_untag(data[1])),
    "$dc": _untag_dataclass,
}


def _untag(value: Any) -> Any:
    kind: type = type(value)
    if kind is list:
        return [_untag(v) for v in value]
    if kind is not dict:
        return value
    if len(value) == 1:
        key = next(iter(value))
        if key.startswith("$"):
            try:
                untag = _UNTAGGERS[key]
            except KeyError:
                msg = f"stored event holds an unknown tag {key!r}"
                raise TranscodingError(msg) from None
            return untag(value[key])
    return {k: _untag(v) for k, v in value.items()}


class OrjsonTranscoder(Transcoder):
    """The transcoder for every event and snapshot Evident stores."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(_tag(obj))

    def decode(self, data: bytes) -> Any:
        return _untag(orjson.loads(data))
