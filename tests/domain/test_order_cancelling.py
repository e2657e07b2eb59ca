"""Specifications for cancelling order lines."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import (
    BlankTextError,
    CancelExceedsRemainingError,
    DuplicateLineError,
    InvalidQuantityError,
    LineAlreadyShippedError,
    LineCancelledError,
    LineNotFoundError,
    NoLinesGivenError,
    NothingToCancelError,
)
from domain.order import Order
from domain.order_values import Allocation, CancelledLine, LineQuantity, NewLine, StockRelease
from domain.values import OrderStatus
from tests.domain.scenario import at, placed, plan, rejected, then_single, uid, when

TWO_LINES = [
    NewLine("SKU-A", 5, Decimal("10.00")),
    NewLine("SKU-B", 1, Decimal("4.00")),
]
# Line 1: 2 at ber, 1 at ham, 2 backordered. Line 2: 1 at ber.
SPLIT = plan(((("ber", 2), ("ham", 1)), 2), ((("ber", 1),), 0))


def ship_line_2(order: Order) -> object:
    return order.ship(
        shipment_id=uid("s1"),
        location_id="ber",
        lines=[LineQuantity("2", 1)],
        carrier="DHL",
        tracking_number="T1",
        shipped_at=at(5),
    )


def test_cancelling_everything_releases_every_reservation() -> None:
    order = placed(lines=TWO_LINES, allocation=SPLIT)
    releases: list[StockRelease] = []
    events = when(
        order,
        lambda o: releases.extend(o.cancel(reason="changed mind", lines=None, cancelled_at=at(1))),
    )
    then_single(
        events,
        Order.LinesCancelled,
        reason="changed mind",
        cancelled_at=at(1),
        lines=(
            CancelledLine("1", 5, 2, (Allocation("ham", 1), Allocation("ber", 2))),
            CancelledLine("2", 1, 0, (Allocation("ber", 1),)),
        ),
    )
    assert releases == [
        StockRelease("SKU-A", "ham", "1", 1),
        StockRelease("SKU-A", "ber", "1", 2),
        StockRelease("SKU-B", "ber", "2", 1),
    ]
    assert order.status is OrderStatus.CANCELLED
    assert order.totals.cancelled == Decimal("54.00")


def test_backordered_units_are_cancelled_before_reserved_ones() -> None:
    order = placed(lines=TWO_LINES, allocation=SPLIT)
    releases = order.cancel(reason="too many", lines=[LineQuantity("1", 3)], cancelled_at=at(1))
    assert releases == [StockRelease("SKU-A", "ham", "1", 1)]
    line = order.lines["1"]
    assert (line.cancelled, line.backordered, line.allocations) == (3, 0, (Allocation("ber", 2),))


def test_cancelling_only_backordered_units_releases_nothing() -> None:
    order = placed(lines=TWO_LINES, allocation=SPLIT)
    assert order.cancel(reason="r", lines=[LineQuantity("1", 2)], cancelled_at=at(1)) == []
    assert order.lines["1"].backordered == 0


def test_cancelling_everything_leaves_shipped_units_alone() -> None:
    order = placed(ship_line_2, lines=TWO_LINES, allocation=SPLIT)
    events = when(order, lambda o: o.cancel(reason="r", lines=None, cancelled_at=at(9)))
    assert [c.line_id for c in events[0].lines] == ["1"]
    assert order.status is OrderStatus.SHIPPED


def test_cannot_cancel_a_shipped_line() -> None:
    order = placed(ship_line_2, lines=TWO_LINES, allocation=SPLIT)
    rejected(
        order,
        lambda o: o.cancel(reason="r", lines=[LineQuantity("2", 1)], cancelled_at=at(9)),
        LineAlreadyShippedError,
    )


def test_cannot_cancel_a_cancelled_line_again() -> None:
    order = placed(
        lambda o: o.cancel(reason="r", lines=[LineQuantity("2", 1)], cancelled_at=at(1)),
        lines=TWO_LINES,
        allocation=SPLIT,
    )
    rejected(
        order,
        lambda o: o.cancel(reason="r", lines=[LineQuantity("2", 1)], cancelled_at=at(2)),
        LineCancelledError,
    )


def test_cannot_cancel_more_than_is_left_on_a_line() -> None:
    order = placed(lines=TWO_LINES, allocation=SPLIT)
    error = rejected(
        order,
        lambda o: o.cancel(reason="r", lines=[LineQuantity("1", 6)], cancelled_at=at(1)),
        CancelExceedsRemainingError,
    )
    assert "cannot cancel 6 of line 1: only 5" in str(error)


def test_cannot_cancel_an_unknown_line() -> None:
    rejected(
        placed(),
        lambda o: o.cancel(reason="r", lines=[LineQuantity("9", 1)], cancelled_at=at(1)),
        LineNotFoundError,
    )


def test_cannot_cancel_when_nothing_is_left() -> None:
    order = placed(lambda o: o.cancel(reason="r", lines=None, cancelled_at=at(1)))
    rejected(
        order, lambda o: o.cancel(reason="r", lines=None, cancelled_at=at(2)), NothingToCancelError
    )


def test_cannot_cancel_without_a_reason() -> None:
    rejected(
        placed(), lambda o: o.cancel(reason=" ", lines=None, cancelled_at=at(1)), BlankTextError
    )


@pytest.mark.parametrize("quantity", [0, -2])
def test_cannot_cancel_a_non_positive_quantity(quantity: int) -> None:
    rejected(
        placed(),
        lambda o: o.cancel(reason="r", lines=[LineQuantity("1", quantity)], cancelled_at=at(1)),
        InvalidQuantityError,
    )


def test_cannot_name_a_line_twice_in_one_cancellation() -> None:
    rejected(
        placed(),
        lambda o: o.cancel(
            reason="r", lines=[LineQuantity("1", 1), LineQuantity("1", 1)], cancelled_at=at(1)
        ),
        DuplicateLineError,
    )


def test_cannot_cancel_an_empty_list_of_lines() -> None:
    rejected(
        placed(), lambda o: o.cancel(reason="r", lines=[], cancelled_at=at(1)), NoLinesGivenError
    )
