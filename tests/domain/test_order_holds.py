"""Specifications for holds: they stop fulfilment until released, or end in rejection."""

from __future__ import annotations

from domain.errors import (
    BlankTextError,
    DuplicateHoldError,
    HoldAlreadyReleasedError,
    HoldNotFoundError,
    OrderCancelledError,
    OrderOnHoldError,
)
from domain.order import Order
from domain.order_values import LineQuantity, StockRelease
from domain.values import HoldType, OrderStatus
from tests.domain.scenario import at, placed, rejected, then_single, uid, when

HOLD = uid("hold")


def hold(order: Order) -> None:
    order.place_hold(hold_id=HOLD, type=HoldType.FRAUD, reason="score 97", at=at(1))


def ship(order: Order) -> object:
    return order.ship(
        shipment_id=uid("s"),
        location_id="ber",
        lines=[LineQuantity("1", 1)],
        carrier="DHL",
        tracking_number="T",
        shipped_at=at(5),
    )


def test_placing_a_hold_puts_the_order_on_hold() -> None:
    order = placed()
    events = when(order, hold)
    then_single(events, Order.HoldPlaced, hold_id=HOLD, type=HoldType.FRAUD, reason="score 97")
    assert order.status is OrderStatus.ON_HOLD


def test_releasing_the_hold_reopens_the_order() -> None:
    order = placed(hold)
    events = when(order, lambda o: o.release_hold(hold_id=HOLD, reason="checked", at=at(2)))
    then_single(events, Order.HoldReleased, hold_id=HOLD, reason="checked")
    assert order.status is OrderStatus.OPEN


def test_cannot_ship_while_on_hold() -> None:
    error = rejected(placed(hold), ship, OrderOnHoldError)
    assert "fraud: score 97" in str(error)


def test_cannot_place_the_same_hold_twice() -> None:
    rejected(placed(hold), hold, DuplicateHoldError)


def test_cannot_hold_a_cancelled_order() -> None:
    order = placed(lambda o: o.cancel(reason="r", lines=None, cancelled_at=at(0)))
    rejected(order, hold, OrderCancelledError)


def test_cannot_hold_without_a_reason() -> None:
    rejected(
        placed(),
        lambda o: o.place_hold(hold_id=HOLD, type=HoldType.MANUAL, reason="", at=at(1)),
        BlankTextError,
    )


def test_cannot_release_an_unknown_hold() -> None:
    rejected(placed(), lambda o: o.release_hold(hold_id=HOLD, at=at(2)), HoldNotFoundError)


def test_cannot_release_a_hold_twice() -> None:
    order = placed(hold, lambda o: o.release_hold(hold_id=HOLD, at=at(2)))
    rejected(order, lambda o: o.release_hold(hold_id=HOLD, at=at(3)), HoldAlreadyReleasedError)


def test_rejecting_on_a_hold_cancels_everything_for_the_holds_reason() -> None:
    order = placed(hold)
    releases: list[StockRelease] = []
    events = when(order, lambda o: releases.extend(o.reject(hold_id=HOLD, rejected_at=at(3))))
    event = then_single(events, Order.Rejected, hold_id=HOLD, reason="score 97")
    assert [(c.line_id, c.quantity) for c in event.lines] == [("1", 3)]
    assert releases == [StockRelease("SKU-A", "ber", "1", 3)]
    assert order.status is OrderStatus.CANCELLED
    assert not order.is_on_hold


def test_cannot_reject_on_a_released_hold() -> None:
    order = placed(hold, lambda o: o.release_hold(hold_id=HOLD, at=at(2)))
    rejected(order, lambda o: o.reject(hold_id=HOLD, rejected_at=at(3)), HoldAlreadyReleasedError)
