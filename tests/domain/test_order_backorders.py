"""Specifications for allocating backordered units once stock arrives."""

from __future__ import annotations

from decimal import Decimal

from domain.errors import ExceedsBackorderError, InvalidQuantityError, LineNotFoundError
from domain.order import Order
from domain.order_values import Allocation, NewLine, StockReservation
from domain.values import OrderStatus
from tests.domain.scenario import at, placed, plan, rejected, then_single, when

LINES = [NewLine("SKU-A", 4, Decimal("10.00"))]
PARTLY_BACKORDERED = plan(((("ber", 1),), 3))


def test_allocating_backordered_units_reserves_them() -> None:
    o = placed(lines=LINES, allocation=PARTLY_BACKORDERED)
    reservations: list[StockReservation] = []
    events = when(
        o,
        lambda x: reservations.append(
            x.allocate_backorder(line_id="1", location_id="ham", quantity=2, at=at(1))
        ),
    )
    then_single(events, Order.BackorderAllocated, line_id="1", location_id="ham", quantity=2)
    assert reservations == [StockReservation("SKU-A", "ham", "1", 2)]
    line = o.lines["1"]
    assert (line.backordered, line.allocations) == (1, (Allocation("ber", 1), Allocation("ham", 2)))
    assert o.status is OrderStatus.OPEN


def test_allocating_at_a_location_already_reserving_adds_to_it() -> None:
    o = placed(lines=LINES, allocation=PARTLY_BACKORDERED)
    when(o, lambda x: x.allocate_backorder(line_id="1", location_id="ber", quantity=3, at=at(1)))
    assert o.lines["1"].allocations == (Allocation("ber", 4),)


def test_cannot_allocate_more_than_is_backordered() -> None:
    rejected(
        placed(lines=LINES, allocation=PARTLY_BACKORDERED),
        lambda x: x.allocate_backorder(line_id="1", location_id="ham", quantity=4, at=at(1)),
        ExceedsBackorderError,
    )


def test_cannot_allocate_on_an_unknown_line() -> None:
    rejected(
        placed(lines=LINES, allocation=PARTLY_BACKORDERED),
        lambda x: x.allocate_backorder(line_id="2", location_id="ham", quantity=1, at=at(1)),
        LineNotFoundError,
    )


def test_cannot_allocate_a_non_positive_quantity() -> None:
    rejected(
        placed(lines=LINES, allocation=PARTLY_BACKORDERED),
        lambda x: x.allocate_backorder(line_id="1", location_id="ham", quantity=0, at=at(1)),
        InvalidQuantityError,
    )
