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
from uuid import UUID, SafeUUID

import orjson
from eventsourcing.persistence import Transcoder
from eventsourcing.utils import get_topic, resolve_topic


class TranscodingError(TypeError):
    """A value of a type that events must not carry, or a stored tag we cannot read."""


@cache
def _field_names(cls: type) -> tuple[tuple[str, ...], frozenset[str]]:
    """A dataclass's field names, and those its __init__ takes (looked up once per class)."""
    fields = dataclasses.fields(cls)
    return tuple(f.name for f in fields), frozenset(f.name for f in fields if f.init)


@cache
def _topic(cls: type) -> str:
    return get_topic(cls)


# Every event of every command and projection passes through here, so both directions
# dispatch on the exact type through a table (filled in per class on first sight) rather
# than asking a chain of questions of every value.
_PLAIN = frozenset({str, int, bool, float, type(None)})


def _encode_map(items: dict[Any, Any]) -> Any:
    if all(type(k) is str for k in items) and not (
        len(items) == 1 and next(iter(items)).startswith("$")
    ):
        return {k: v if type(v) in _PLAIN else _tag(v) for k, v in items.items()}
    return {"$map": [[_tag(k), _tag(v)] for k, v in items.items()]}


def _tag_list(items: list[Any]) -> Any:
    return [v if type(v) in _PLAIN else _tag(v) for v in items]


def _tag_tuple(items: tuple[Any, ...]) -> Any:
    return {"$tuple": [v if type(v) in _PLAIN else _tag(v) for v in items]}


def _tagger_for(kind: type) -> Callable[[Any], Any]:
    """How to tag a value of ``kind`` (an enum or a dataclass), made once per class."""
    if issubclass(kind, enum.Enum):
        topic = _topic(kind)
        return lambda value: {"$enum": [topic, _tag(value.value)]}
    if dataclasses.is_dataclass(kind):
        topic = _topic(kind)
        names, _ = _field_names(kind)

        def tag_dataclass(value: Any) -> Any:
            fields = {}
            for name in names:
                v = getattr(value, name)
                fields[name] = v if type(v) in _PLAIN else _tag(v)
            return {"$dc": [topic, fields]}

        return tag_dataclass

    def refuse(value: Any) -> Any:
        msg = f"cannot store a value of type {kind.__qualname__} in an event: {value!r}"
        raise TranscodingError(msg)

    return refuse


_TAGGERS: dict[type, Callable[[Any], Any]] = {
    dict: _encode_map,
    list: _tag_list,
    tuple: _tag_tuple,
    Decimal: lambda value: {"$dec": str(value)},
    UUID: lambda value: {"$uuid": str(value)},
    datetime: lambda value: {"$dt": value.isoformat()},
    date: lambda value: {"$date": value.isoformat()},
    set: lambda value: {"$set": [_tag(v) for v in value]},
    frozenset: lambda value: {"$frozenset": [_tag(v) for v in value]},
}


def _tag(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    tagger = _TAGGERS.get(kind)
    if tagger is None:
        tagger = _TAGGERS[kind] = _tagger_for(kind)
    return tagger(value)


@cache
def _dataclass_decoder(topic: str) -> Callable[[dict[str, Any]], Any]:
    """How to rebuild the dataclass stored under ``topic`` from its decoded fields.

    A stored value is a fact: it was checked when it was made, and checking it again on
    every read would only cost time, and would make old events unreadable the day a rule
    is tightened (a stricter address or phone rule must not refuse last year's orders). So
    when the stored fields are exactly the class's fields (always, unless the class has
    changed since) it is filled in directly, without ``__init__`` or ``__post_init__``:
    the value objects' ``__post_init__`` only check, they never derive a field. A value
    stored with other fields goes through ``__init__`` with what it takes (defaults for
    fields added since) and sets the rest afterwards; such a class's checks must then
    still accept what it once stored.
    """
    cls = resolve_topic(topic)
    names, init = _field_names(cls)
    exact = frozenset(names)

    def decode(fields: dict[str, Any]) -> Any:
        if fields.keys() == exact:
            obj = object.__new__(cls)
            obj.__dict__.update(fields)
            return obj
        obj = cls(**{k: v for k, v in fields.items() if k in init})
        for name, field_value in fields.items():
            if name not in init:
                object.__setattr__(obj, name, field_value)
        return obj

    return decode


def _untag_dataclass(data: list[Any]) -> Any:
    return _dataclass_decoder(data[0])(_untag_fields(data[1]))


@cache
def _enum_member(topic: str, value: Any) -> Any:
    return resolve_topic(topic)(value)


def _untag_enum(data: list[Any]) -> Any:
    value = data[1]
    return _enum_member(data[0], value if type(value) in _PLAIN else _untag(value))


_SAFE_UNKNOWN = SafeUUID.unknown
# UUIDs read lately, by their text. Events of one order, customer or item name the same few
# ids over and over (its customer, its locations, the order an item's reservation is for):
# on the benchmark log three in four ids read were met among the last few thousand, and
# looking one up costs a sixth of building it. A UUID is immutable, so one instance can
# stand in every event that names it. Emptied when full, so it never grows past its size.
_RECENT_UUIDS: dict[str, UUID] = {}
RECENT_UUIDS_KEPT = 16_384


def _untag_uuid(text: str) -> UUID:
    """The UUID stored as ``text``: a recent one again, or built afresh."""
    value = _RECENT_UUIDS.get(text)
    if value is None:
        if len(_RECENT_UUIDS) >= RECENT_UUIDS_KEPT:
            _RECENT_UUIDS.clear()
        value = _RECENT_UUIDS[text] = _uuid_from_text(text)
    return value


def _uuid_from_text(text: str) -> UUID:
    """``UUID(text)`` for the canonical form we store, without ``UUID.__init__``'s handling
    of every other form (most events hold one or two, and every read decodes them)."""
    if len(text) != 36:
        return UUID(text)
    value = object.__new__(UUID)
    object.__setattr__(value, "int", int(text.replace("-", ""), 16))
    object.__setattr__(value, "is_safe", _SAFE_UNKNOWN)
    return value


_UNTAGGERS: dict[str, Callable[[Any], Any]] = {
    "$dec": Decimal,
    "$uuid": _untag_uuid,
    "$dt": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$tuple": lambda items: tuple(_untag_list(items)),
    "$set": lambda items: {_untag(v) for v in items},
    "$frozenset": lambda items: frozenset(_untag(v) for v in items),
    "$map": lambda pairs: {_untag(k): _untag(v) for k, v in pairs},
    "$enum": _untag_enum,
    "$dc": _untag_dataclass,
}


def _untag_list(items: list[Any]) -> list[Any]:
    """A decoded list's items untagged, in place (``_untag_fields``'s way, for a list)."""
    for i, v in enumerate(items):
        kind = type(v)
        if kind is dict:
            if len(v) == 1:
                for key in v:
                    untag = _UNTAGGERS.get(key)
                    items[i] = untag(v[key]) if untag is not None else _untag(v)
            else:
                items[i] = _untag_fields(v)
        elif kind is list:
            items[i] = _untag_list(v)
    return items


def _untag_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A decoded mapping's values untagged (plain ones, most of them, left as they are).

    ``_untag`` written out for its commonest case, a tag, to save a call per value.
    """
    for k, v in fields.items():
        kind = type(v)
        if kind is dict:
            if len(v) == 1:
                for key in v:
                    untag = _UNTAGGERS.get(key)
                    if untag is not None:
                        fields[k] = untag(v[key])
                    else:
                        fields[k] = _untag(v)
            else:
                fields[k] = _untag_fields(v)
        elif kind is list:
            fields[k] = _untag_list(v)
    return fields


def _untag(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        if len(value) == 1:
            for key in value:
                if key[:1] == "$":
                    try:
                        untag = _UNTAGGERS[key]
                    except KeyError:
                        msg = f"stored event holds an unknown tag {key!r}"
                        raise TranscodingError(msg) from None
                    return untag(value[key])
        return _untag_fields(value)
    if kind is list:
        return _untag_list(value)
    return value


class OrjsonTranscoder(Transcoder):
    """The transcoder for every event and snapshot Evident stores."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(_tag(obj))

    def decode(self, data: bytes) -> Any:
        return _untag(orjson.loads(data))
