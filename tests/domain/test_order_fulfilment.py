"""Specifications for shipping, delivery, delivery exceptions and address changes."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

from domain.errors import (
    DuplicateShipmentError,
    InvalidAddressError,
    LineAlreadyShippedError,
    LineCancelledError,
    LineNotFoundError,
    NoLinesGivenError,
    NothingUnshippedError,
    NotReservedAtLocationError,
    ShipmentAlreadyDeliveredError,
    ShipmentNotFoundError,
)
from domain.order import Order
from domain.order_values import Allocation, LineQuantity, NewLine, StockConsumption
from domain.values import Address, ExceptionKind, OrderStatus, ShipmentStatus
from tests.domain.scenario import OTHER_ADDRESS, at, placed, plan, rejected, then_single, uid, when

LINES = [NewLine("SKU-A", 3, Decimal("10.00")), NewLine("SKU-B", 1, Decimal("2.00"))]
SPLIT = plan(((("ber", 2), ("ham", 1)), 0), ((("ber", 1),), 0))
S1, S2 = uid("s1"), uid("s2")


def ship(
    shipment_id: UUID = S1, location: str = "ber", *quantities: tuple[str, int]
) -> Callable[[Order], list[StockConsumption]]:
    lines = [LineQuantity(line_id, q) for line_id, q in (quantities or (("1", 2), ("2", 1)))]
    return lambda o: o.ship(
        shipment_id=shipment_id,
        location_id=location,
        lines=lines,
        carrier="DHL",
        tracking_number="JJD1",
        shipped_at=at(10),
    )


def order() -> Order:
    return placed(lines=LINES, allocation=SPLIT)


def test_shipping_reserved_units_from_a_location() -> None:
    o = order()
    consumed: list[StockConsumption] = []
    events = when(o, lambda x: consumed.extend(ship()(x)))
    then_single(
        events,
        Order.Shipped,
        shipment_id=S1,
        location_id="ber",
        lines=(LineQuantity("1", 2), LineQuantity("2", 1)),
        carrier="DHL",
        tracking_number="JJD1",
        shipped_at=at(10),
    )
    assert consumed == [
        StockConsumption("SKU-A", "ber", "1", 2, S1),
        StockConsumption("SKU-B", "ber", "2", 1, S1),
    ]
    assert o.lines["1"].allocations == (Allocation("ham", 1),)
    assert o.status is OrderStatus.PARTIALLY_SHIPPED


def test_an_order_is_shipped_when_every_remaining_unit_is() -> None:
    o = placed(ship(), lines=LINES, allocation=SPLIT)
    when(o, ship(S2, "ham", ("1", 1)))
    assert o.status is OrderStatus.SHIPPED
    assert o.shipments[str(S2)].status is ShipmentStatus.SHIPPED


def test_an_order_is_delivered_when_every_shipment_is() -> None:
    o = placed(ship(), ship(S2, "ham", ("1", 1)), lines=LINES, allocation=SPLIT)
    then_single(when(o, lambda x: x.mark_delivered(shipment_id=S1, at=at(20))), Order.Delivered)
    assert str(o.status) == "shipped"
    when(o, lambda x: x.mark_delivered(shipment_id=S2, at=at(21)))
    assert str(o.status) == "delivered"


def test_cannot_ship_units_not_reserved_at_that_location() -> None:
    error = rejected(order(), ship(S1, "ham", ("1", 2)), NotReservedAtLocationError)
    assert "only 1 reserved there" in str(error)


def test_cannot_ship_a_shipped_line_again() -> None:
    o = placed(ship(), ship(S2, "ham", ("1", 1)), lines=LINES, allocation=SPLIT)
    rejected(o, ship(uid("s3"), "ber", ("2", 1)), LineAlreadyShippedError)


def test_cannot_ship_a_cancelled_line() -> None:
    o = placed(
        lambda x: x.cancel(reason="r", lines=[LineQuantity("2", 1)], cancelled_at=at(1)),
        lines=LINES,
        allocation=SPLIT,
    )
    rejected(o, ship(S1, "ber", ("2", 1)), LineCancelledError)


def test_cannot_ship_an_unknown_line() -> None:
    rejected(order(), ship(S1, "ber", ("7", 1)), LineNotFoundError)


def test_cannot_reuse_a_shipment_id() -> None:
    rejected(
        placed(ship(), lines=LINES, allocation=SPLIT),
        ship(S1, "ham", ("1", 1)),
        DuplicateShipmentError,
    )


def test_cannot_ship_nothing() -> None:
    rejected(
        order(),
        lambda o: o.ship(
            shipment_id=S1,
            location_id="ber",
            lines=[],
            carrier="DHL",
            tracking_number="T",
            shipped_at=at(1),
        ),
        NoLinesGivenError,
    )


def test_cannot_deliver_an_unknown_shipment() -> None:
    rejected(order(), lambda o: o.mark_delivered(shipment_id=S1, at=at(1)), ShipmentNotFoundError)


def test_cannot_deliver_a_shipment_twice() -> None:
    o = placed(
        ship(), lambda x: x.mark_delivered(shipment_id=S1, at=at(20)), lines=LINES, allocation=SPLIT
    )
    rejected(
        o, lambda x: x.mark_delivered(shipment_id=S1, at=at(21)), ShipmentAlreadyDeliveredError
    )


def test_a_delivery_exception_is_recorded_on_the_shipment() -> None:
    o = placed(ship(), lines=LINES, allocation=SPLIT)
    events = when(
        o,
        lambda x: x.record_delivery_exception(
            shipment_id=S1, kind=ExceptionKind.LOST, detail="no scan for 5 days", at=at(30)
        ),
    )
    then_single(
        events,
        Order.DeliveryExceptionRecorded,
        kind=ExceptionKind.LOST,
        detail="no scan for 5 days",
    )
    assert o.shipments[str(S1)].status is ShipmentStatus.EXCEPTION


def test_cannot_record_an_exception_on_a_delivered_shipment() -> None:
    o = placed(
        ship(), lambda x: x.mark_delivered(shipment_id=S1, at=at(20)), lines=LINES, allocation=SPLIT
    )
    rejected(
        o,
        lambda x: x.record_delivery_exception(
            shipment_id=S1, kind=ExceptionKind.DAMAGED, detail="d", at=at(30)
        ),
        ShipmentAlreadyDeliveredError,
    )


def test_changing_the_shipping_address_while_something_is_unshipped() -> None:
    o = order()
    events = when(o, lambda x: x.change_shipping_address(address=OTHER_ADDRESS, at=at(1)))
    then_single(events, Order.ShippingAddressChanged, address=OTHER_ADDRESS)
    assert o.shipping_address == OTHER_ADDRESS


def test_cannot_change_the_address_once_everything_shipped() -> None:
    o = placed(ship(), ship(S2, "ham", ("1", 1)), lines=LINES, allocation=SPLIT)
    rejected(
        o,
        lambda x: x.change_shipping_address(address=OTHER_ADDRESS, at=at(30)),
        NothingUnshippedError,
    )


def test_an_address_must_be_complete() -> None:
    try:
        Address("N", "", None, "C", "P", "DE")
    except InvalidAddressError:
        return
    raise AssertionError("expected InvalidAddressError")
