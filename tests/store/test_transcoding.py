"""Events come back from storage with exactly the types and values they went in with."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application import transcoding
from application.transcoding import OrjsonTranscoder, TranscodingError


class Colour(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    LARGE = 3


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    price: Decimal


def roundtrip(value: Any) -> Any:
    transcoder = OrjsonTranscoder()
    return transcoder.decode(transcoder.encode(value))


@pytest.mark.parametrize(
    "value",
    [
        Decimal("59.90"),
        Decimal("-0.001"),
        Decimal("1E+3"),
        uuid4(),
        datetime(2026, 3, 31, 23, 59, 59, 123456, tzinfo=UTC),
        datetime(2026, 3, 31, 23, 59, tzinfo=timezone(timedelta(hours=2))),
        date(2026, 2, 28),
        Colour.RED,
        Size.LARGE,
        Line("JEANS-32", 2, Decimal("59.90")),
        (1, "a", Decimal("2.50")),
        {UUID(int=1): Decimal("1.0"), "x": (Line("A", 1, Decimal(0)),)},
        {"$dec": "not a tag"},
        frozenset({1, 2}),
        {"nested": [{"at": date(2026, 1, 1)}, None, True, 1.5]},
    ],
    ids=repr,
)
def test_values_round_trip_exactly(value: Any) -> None:
    back = roundtrip(value)
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, Decimal):
        assert str(back) == str(value)
    if isinstance(value, datetime):
        assert back.utcoffset() == value.utcoffset()


def test_a_float_decimal_is_never_produced_from_a_decimal() -> None:
    assert roundtrip({"amount": Decimal("0.10")})["amount"] == Decimal("0.10")


def test_unsupported_types_are_refused_by_name() -> None:
    with pytest.raises(TranscodingError, match="object"):
        OrjsonTranscoder().encode({"x": object()})


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.uuids()
    | st.dates()
    | st.datetimes(timezones=st.just(UTC)),
    lambda children: st.lists(children, max_size=4)
    | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@given(json_like)
def test_any_event_state_round_trips(value: Any) -> None:
    assert roundtrip(value) == value


def test_a_stored_value_reads_back_as_stored_even_where_todays_rules_would_refuse_it() -> None:
    # A fact stays readable when a rule is tightened later: decoding fills the value in as
    # it was stored and does not run the class's checks again (this country is no ISO code).
    stored = (b'{"$dc":["domain.values:Address",{"name":"Jo","line1":"Main St 1","line2":null,'
              b'"city":"Berlin","postal_code":"10115","country":"Germany"}]}')
    address = OrjsonTranscoder().decode(stored)
    assert type(address).__name__ == "Address"
    assert address.country == "Germany"


def test_an_id_read_again_is_the_same_immutable_uuid() -> None:
    order = uuid4()
    stored = OrjsonTranscoder().encode({"order_id": order, "lines": (order,)})

    first, second = OrjsonTranscoder().decode(stored), OrjsonTranscoder().decode(stored)

    assert first["order_id"] == order
    assert type(first["order_id"]) is UUID
    assert first["order_id"] is second["order_id"] is second["lines"][0]
    with pytest.raises(TypeError):
        first["order_id"].int = 1  # shared safely: no one can change it


def test_the_ids_kept_for_reuse_never_grow_past_their_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transcoding, "RECENT_UUIDS_KEPT", 8)
    ids = [uuid4() for _ in range(30)]

    back = [OrjsonTranscoder().decode(OrjsonTranscoder().encode(i)) for i in ids]

    assert back == ids
    assert len(transcoding._RECENT_UUIDS) <= 8
    # Ids in other forms than the canonical one still read back.
    assert OrjsonTranscoder().decode(b'{"$uuid":"%s"}' % ids[0].hex.encode()) == ids[0]
