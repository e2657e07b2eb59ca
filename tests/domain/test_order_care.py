"""Specifications for goodwill adjustments and notes on orders, and replay."""

from __future__ import annotations

from decimal import Decimal

from domain.errors import BlankTextError, DuplicateAdjustmentError, DuplicateNoteError
from domain.order import Order
from tests.domain.scenario import at, place, placed, rejected, replayed, then_single, uid, when

ADJ, NOTE = uid("adj"), uid("note")


def adjust(o: Order) -> None:
    o.add_adjustment(adjustment_id=ADJ, amount=Decimal("5"), reason="late parcel", at=at(1))


def note(o: Order) -> None:
    o.add_note(note_id=NOTE, text="called customer", author="agent-7", at=at(1))


def test_a_goodwill_adjustment_lowers_the_balance_due() -> None:
    o = placed()
    then_single(
        when(o, adjust), Order.AdjustmentAdded, amount=Decimal("5.00"), reason="late parcel"
    )
    assert o.totals.adjustments == Decimal("5.00")
    assert o.totals.balance_due == Decimal("30.70")


def test_cannot_add_the_same_adjustment_twice() -> None:
    rejected(placed(adjust), adjust, DuplicateAdjustmentError)


def test_adding_a_note() -> None:
    o = placed()
    then_single(when(o, note), Order.NoteAdded, text="called customer", author="agent-7")


def test_cannot_add_the_same_note_twice() -> None:
    rejected(placed(note), note, DuplicateNoteError)


def test_cannot_add_an_empty_note() -> None:
    rejected(
        placed(),
        lambda o: o.add_note(note_id=NOTE, text="", author="a", at=at(1)),
        BlankTextError,
    )


def test_replaying_the_events_rebuilds_the_same_order() -> None:
    o = place()
    adjust(o)
    note(o)
    o.cancel(reason="r", lines=None, cancelled_at=at(2))
    events = o.collect_events()
    assert replayed(o, events) == o
