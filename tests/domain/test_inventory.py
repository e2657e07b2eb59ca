"""Specifications for stock of one SKU at one location and the reservations against it."""

from __future__ import annotations

from collections.abc import Callable

from domain.errors import (
    ExceedsReservationError,
    InsufficientStockError,
    InvalidAdjustmentError,
    InvalidIdentifierError,
    InvalidQuantityError,
    StockBelowReservedError,
)
from domain.inventory import InventoryItem, inventory_item_id
from tests.domain.scenario import at, given, rejected, then_single, uid, when

ORDER = uid("order")


def item(*commands: Callable[[InventoryItem], object]) -> InventoryItem:
    return given(InventoryItem.create(sku="SKU-A", location_id="ber", at=at()), *commands)


def receive(q: int) -> Callable[[InventoryItem], object]:
    return lambda i: i.receive(quantity=q, at=at(1))


def reserve(q: int, line: str = "1") -> Callable[[InventoryItem], object]:
    return lambda i: i.reserve(order_id=ORDER, line_id=line, quantity=q, at=at(2))


def test_an_item_id_is_derived_from_sku_and_location() -> None:
    created = InventoryItem.create(sku="SKU-A", location_id="ber", at=at())
    assert created.id == inventory_item_id("SKU-A", "ber")
    assert created.id != inventory_item_id("SKU-A", "ham")
    (event,) = created.collect_events()
    assert isinstance(event, InventoryItem.Created)
    assert (event.sku, event.location_id) == ("SKU-A", "ber")


def test_cannot_create_an_item_at_a_malformed_location() -> None:
    try:
        InventoryItem.create(sku="SKU-A", location_id="Berlin DC", at=at())
    except InvalidIdentifierError:
        return
    raise AssertionError("expected InvalidIdentifierError")


def test_receiving_stock_adds_to_on_hand() -> None:
    i = item()
    then_single(when(i, receive(5)), InventoryItem.Received, quantity=5)
    assert (i.on_hand, i.available) == (5, 5)


def test_cannot_receive_a_non_positive_quantity() -> None:
    rejected(item(), receive(0), InvalidQuantityError)


def test_reserving_lowers_availability() -> None:
    i = item(receive(5))
    then_single(
        when(i, reserve(3)), InventoryItem.Reserved, order_id=ORDER, line_id="1", quantity=3
    )
    assert (i.on_hand, i.reserved, i.available) == (5, 3, 2)


def test_cannot_reserve_more_than_is_available() -> None:
    error = rejected(item(receive(5), reserve(3)), reserve(3, "2"), InsufficientStockError)
    assert "only 2 available" in str(error)


def test_safety_stock_is_kept_back_from_orders() -> None:
    i = item(receive(5))
    then_single(
        when(i, lambda x: x.set_safety_stock(quantity=4, at=at(1))),
        InventoryItem.SafetyStockChanged,
        quantity=4,
    )
    assert i.available == 1
    rejected(i, reserve(2), InsufficientStockError)


def test_availability_never_goes_below_zero() -> None:
    i = item(receive(5), reserve(4), lambda x: x.set_safety_stock(quantity=3, at=at(3)))
    assert i.available == 0


def test_releasing_a_reservation() -> None:
    i = item(receive(5), reserve(3))
    events = when(i, lambda x: x.release(order_id=ORDER, line_id="1", quantity=2, at=at(3)))
    then_single(events, InventoryItem.Released, quantity=2)
    assert (i.reserved, i.reserved_for(ORDER, "1")) == (1, 1)


def test_cannot_release_more_than_the_order_line_reserved_here() -> None:
    i = item(receive(5), reserve(3), reserve(1, "2"))
    rejected(
        i,
        lambda x: x.release(order_id=ORDER, line_id="2", quantity=2, at=at(3)),
        ExceedsReservationError,
    )


def test_consuming_reserved_units_on_shipment() -> None:
    i = item(receive(5), reserve(3))
    events = when(
        i,
        lambda x: x.consume(
            order_id=ORDER, line_id="1", quantity=3, shipment_id=uid("s"), at=at(4)
        ),
    )
    then_single(events, InventoryItem.Consumed, quantity=3, shipment_id=uid("s"))
    assert (i.on_hand, i.reserved, i.reservations) == (2, 0, {})


def test_cannot_ship_units_this_order_line_did_not_reserve() -> None:
    rejected(
        item(receive(5)),
        lambda x: x.consume(
            order_id=ORDER, line_id="1", quantity=1, shipment_id=uid("s"), at=at(4)
        ),
        ExceedsReservationError,
    )


def test_restocking_returned_units() -> None:
    i = item(receive(1))
    events = when(i, lambda x: x.restock(order_id=ORDER, return_id=uid("r"), quantity=2, at=at(5)))
    then_single(events, InventoryItem.Restocked, return_id=uid("r"), quantity=2)
    assert i.on_hand == 3


def test_adjusting_by_a_signed_delta() -> None:
    i = item(receive(5))
    events = when(i, lambda x: x.adjust(reason="damage", quantity_delta=-2, at=at(2)))
    then_single(events, InventoryItem.Adjusted, reason="damage", quantity_delta=-2, counted=None)
    assert i.on_hand == 3


def test_adjusting_to_a_counted_quantity_records_the_difference() -> None:
    i = item(receive(5))
    events = when(i, lambda x: x.adjust(reason="cycle count", counted=7, at=at(2)))
    then_single(events, InventoryItem.Adjusted, quantity_delta=2, counted=7)
    assert i.on_hand == 7


def test_cannot_adjust_on_hand_below_what_is_reserved() -> None:
    rejected(
        item(receive(5), reserve(4)),
        lambda x: x.adjust(reason="loss", quantity_delta=-2, at=at(2)),
        StockBelowReservedError,
    )


def test_an_adjustment_takes_a_delta_or_a_count_not_both() -> None:
    rejected(
        item(receive(5)),
        lambda x: x.adjust(reason="x", quantity_delta=1, counted=6, at=at(2)),
        InvalidAdjustmentError,
    )
    rejected(item(receive(5)), lambda x: x.adjust(reason="x", at=at(2)), InvalidAdjustmentError)


def test_cannot_set_a_negative_safety_stock() -> None:
    rejected(item(), lambda x: x.set_safety_stock(quantity=-1, at=at(1)), InvalidQuantityError)
