"""Orders through the application service: placing (allocation, splits, backorders), cancelling,
holds, shipping, delivery, address changes, notes and backorder allocation, against real
PostgreSQL. Commands that touch the order and inventory items must record all their events in
one transaction, under one envelope, and answer the position of the last one.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID, uuid4

import psycopg
import pytest

from application.errors import (
    AlreadyExistsError,
    InvalidRequestError,
    NotFoundError,
    StaleVersionError,
)
from application.order_management import OrderManagement
from domain.errors import (
    DomainError,
    EmptyOrderError,
    HoldAlreadyReleasedError,
    InvalidCurrencyError,
    InvalidIdentifierError,
    InvalidQuantityError,
    InvalidTaxRateError,
    LineAlreadyShippedError,
    NothingToCancelError,
    NothingUnshippedError,
    NotReservedAtLocationError,
    OrderOnHoldError,
    ShipmentAlreadyDeliveredError,
    ShipmentNotFoundError,
)
from domain.order_values import Allocation, LineQuantity, NewLine
from domain.values import Channel, ExceptionKind, HoldType, OrderStatus, ShipmentStatus
from tests.application.builders import (
    ADDRESS,
    OTHER_ADDRESS,
    STORE,
    WAREHOUSE,
    EventLog,
    assert_recorded,
    envelope,
    item,
    order,
    place,
    ship_all,
    shop,
    stock,
    stock_levels,
)

SKU = "TEE-M"
OTHER_SKU = "CAP-1"


@pytest.fixture
def log(database_url: str) -> EventLog:
    return EventLog(database_url)


@pytest.fixture
def customer_id(oms: OrderManagement) -> UUID:
    return shop(oms)


# --- placing --------------------------------------------------------------------------------


def test_placing_an_order_reserves_its_stock_at_one_location_in_the_same_transaction(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    sent = envelope("shop", "client", "web")
    result = place(oms, customer_id, (SKU, 2), sent=sent)

    rows = assert_recorded(log, result, sent, ["Order.Placed", "InventoryItem.Reserved"])
    assert rows[0].originator_id == result.id
    assert result.version == 1
    placed = order(oms, result.id)
    assert placed.lines["1"].allocations == (Allocation(WAREHOUSE, 2),)
    assert placed.lines["1"].backordered == 0
    assert placed.status is OrderStatus.OPEN
    assert stock_levels(oms, SKU, WAREHOUSE) == (5, 2)


def test_an_order_one_location_can_fill_ships_from_that_location_only(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 1)
    stock(oms, OTHER_SKU, WAREHOUSE, 5)
    stock(oms, SKU, STORE, 5)
    stock(oms, OTHER_SKU, STORE, 5)
    sent = envelope()
    result = place(oms, customer_id, (SKU, 2), (OTHER_SKU, 1), sent=sent)
    # The warehouse lacks one unit of SKU, so the store (lower priority) ships everything.
    assert_recorded(
        log, result, sent, ["Order.Placed", "InventoryItem.Reserved", "InventoryItem.Reserved"]
    )
    placed = order(oms, result.id)
    assert placed.lines["1"].allocations == (Allocation(STORE, 2),)
    assert placed.lines["2"].allocations == (Allocation(STORE, 1),)
    assert stock_levels(oms, SKU, WAREHOUSE) == (1, 0)
    assert stock_levels(oms, SKU, STORE) == (5, 2)
    assert stock_levels(oms, OTHER_SKU, STORE) == (5, 1)


def test_a_line_no_location_can_fill_alone_is_split_across_locations_by_priority(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 2)
    stock(oms, SKU, STORE, 3)
    sent = envelope()
    result = place(oms, customer_id, (SKU, 4), sent=sent)

    rows = assert_recorded(
        log, result, sent, ["Order.Placed", "InventoryItem.Reserved", "InventoryItem.Reserved"]
    )
    assert len({r.originator_id for r in rows}) == 3
    assert order(oms, result.id).lines["1"].allocations == (
        Allocation(WAREHOUSE, 2), Allocation(STORE, 2)
    )
    assert stock_levels(oms, SKU, WAREHOUSE) == (2, 2)
    assert stock_levels(oms, SKU, STORE) == (3, 2)


def test_two_lines_of_one_sku_each_hold_their_own_reservation(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 3)
    sent = envelope()
    result = place(oms, customer_id, (SKU, 1), (SKU, 2), sent=sent)
    rows = assert_recorded(
        log, result, sent, ["Order.Placed", "InventoryItem.Reserved", "InventoryItem.Reserved"]
    )
    assert rows[1].originator_id == rows[2].originator_id
    stocked = item(oms, SKU, WAREHOUSE)
    assert stocked.reserved_for(result.id, "1") == 1
    assert stocked.reserved_for(result.id, "2") == 2
    assert stocked.available == 0


def test_units_no_location_has_are_backordered(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 1)
    sent = envelope()
    result = place(oms, customer_id, (SKU, 3), sent=sent)
    assert_recorded(log, result, sent, ["Order.Placed", "InventoryItem.Reserved"])
    line = order(oms, result.id).lines["1"]
    assert (line.allocated, line.backordered) == (1, 2)
    assert stock_levels(oms, SKU, WAREHOUSE) == (1, 1)


def test_an_order_for_a_sku_never_stocked_is_entirely_backordered(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    sent = envelope()
    result = place(oms, customer_id, ("NEVER-STOCKED", 2), sent=sent)
    assert_recorded(log, result, sent, ["Order.Placed"])
    line = order(oms, result.id).lines["1"]
    assert (line.allocated, line.backordered) == (0, 2)


def test_placing_an_order_for_an_unknown_customer_is_invalid(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    before = log.count()
    with pytest.raises(InvalidRequestError) as raised:
        place(oms, uuid4(), (SKU, 1))
    assert raised.value.field == "customer_id"
    assert log.count() == before
    assert stock_levels(oms, SKU, WAREHOUSE) == (5, 0)


def test_placing_an_order_with_an_id_in_use_is_already_exists(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    order_id = uuid4()
    place(oms, customer_id, (SKU, 1), order_id=order_id)
    before = log.count()
    with pytest.raises(AlreadyExistsError) as raised:
        place(oms, customer_id, (SKU, 1), order_id=order_id)
    assert raised.value.field == "id"
    assert log.count() == before
    assert stock_levels(oms, SKU, WAREHOUSE) == (5, 1)


def test_placing_without_an_id_generates_one(oms: OrderManagement, customer_id: UUID) -> None:
    first = place(oms, customer_id, (SKU, 1))
    second = place(oms, customer_id, (SKU, 1))
    assert first.id != second.id
    assert order(oms, second.id).customer_id == customer_id


REJECTED_ORDERS: dict[str, tuple[list[NewLine], str, type[DomainError]]] = {
    "no lines": ([], "EUR", EmptyOrderError),
    "zero quantity": ([NewLine(SKU, 0, Decimal("10.00"))], "EUR", InvalidQuantityError),
    "negative quantity": ([NewLine(SKU, -2, Decimal("10.00"))], "EUR", InvalidQuantityError),
    "blank sku": ([NewLine(" ", 1, Decimal("10.00"))], "EUR", InvalidIdentifierError),
    "tax rate of 100%": (
        [NewLine(SKU, 1, Decimal("10.00"), Decimal(1))], "EUR", InvalidTaxRateError
    ),
    "bad currency": ([NewLine(SKU, 1, Decimal("10.00"))], "euro", InvalidCurrencyError),
}


@pytest.mark.parametrize("case", REJECTED_ORDERS.values(), ids=REJECTED_ORDERS)
def test_a_rejected_order_raises_the_named_error_and_records_nothing(
    oms: OrderManagement,
    log: EventLog,
    customer_id: UUID,
    case: tuple[list[NewLine], str, type[DomainError]],
) -> None:
    wanted, currency, error = case
    stock(oms, SKU, WAREHOUSE, 5)
    before = log.count()
    with pytest.raises(error):
        oms.place_order(
            order_id=None, customer_id=customer_id, channel=Channel.WEB, currency=currency,
            lines=wanted, shipping_address=ADDRESS, shipping_method=None, envelope=envelope(),
        )
    assert log.count() == before
    assert stock_levels(oms, SKU, WAREHOUSE) == (5, 0)


# --- cancelling -----------------------------------------------------------------------------


def test_cancelling_some_units_releases_their_reservation_in_the_same_transaction(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 3))
    sent = envelope()
    result = oms.cancel_order(
        placed.id, reason="customer changed mind", lines=[LineQuantity("1", 1)], envelope=sent
    )
    assert_recorded(
        log, result, sent, ["Order.LinesCancelled", "InventoryItem.Released"],
        reason="customer changed mind",
    )
    assert stock_levels(oms, SKU, WAREHOUSE) == (5, 2)
    line = order(oms, placed.id).lines["1"]
    assert (line.cancelled, line.allocated) == (1, 2)


def test_cancelling_a_whole_split_order_releases_every_location(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 2)
    stock(oms, SKU, STORE, 3)
    placed = place(oms, customer_id, (SKU, 4))
    sent = envelope()
    result = oms.cancel_order(placed.id, reason="fraud suspected", lines=None, envelope=sent)
    assert_recorded(
        log, result, sent,
        ["Order.LinesCancelled", "InventoryItem.Released", "InventoryItem.Released"],
        reason="fraud suspected",
    )
    assert stock_levels(oms, SKU, WAREHOUSE) == (2, 0)
    assert stock_levels(oms, SKU, STORE) == (3, 0)
    assert order(oms, placed.id).status is OrderStatus.CANCELLED


def test_cancelling_part_of_a_split_line_releases_the_least_preferred_location_first(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 2)
    stock(oms, SKU, STORE, 3)
    placed = place(oms, customer_id, (SKU, 4))
    sent = envelope()
    result = oms.cancel_order(
        placed.id, reason="one fewer", lines=[LineQuantity("1", 1)], envelope=sent
    )
    assert_recorded(
        log, result, sent, ["Order.LinesCancelled", "InventoryItem.Released"], reason="one fewer"
    )
    assert stock_levels(oms, SKU, WAREHOUSE) == (2, 2)
    assert stock_levels(oms, SKU, STORE) == (3, 1)


def test_cancelling_takes_backordered_units_first_and_releases_nothing_for_them(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 1)
    placed = place(oms, customer_id, (SKU, 3))
    sent = envelope()
    result = oms.cancel_order(
        placed.id, reason="too slow", lines=[LineQuantity("1", 2)], envelope=sent
    )
    assert_recorded(log, result, sent, ["Order.LinesCancelled"], reason="too slow")
    assert stock_levels(oms, SKU, WAREHOUSE) == (1, 1)
    line = order(oms, placed.id).lines["1"]
    assert (line.backordered, line.allocated, line.cancelled) == (0, 1, 2)


def test_cannot_cancel_an_order_twice(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 1))
    oms.cancel_order(placed.id, reason="first", lines=None, envelope=envelope())
    before = log.count()
    with pytest.raises(NothingToCancelError):
        oms.cancel_order(placed.id, reason="again", lines=None, envelope=envelope())
    assert log.count() == before


def test_cannot_cancel_a_shipped_line(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 2))
    ship_all(oms, placed.id)
    before = log.count()
    with pytest.raises(LineAlreadyShippedError):
        oms.cancel_order(
            placed.id, reason="late", lines=[LineQuantity("1", 1)], envelope=envelope()
        )
    assert log.count() == before
    assert stock_levels(oms, SKU, WAREHOUSE) == (3, 0)


def test_cancelling_an_unknown_order_is_not_found(oms: OrderManagement, log: EventLog) -> None:
    with pytest.raises(NotFoundError):
        oms.cancel_order(uuid4(), reason="x", lines=None, envelope=envelope())
    assert log.count() == 0


# --- If-Match -------------------------------------------------------------------------------


def test_cancelling_at_the_expected_version_succeeds(
    oms: OrderManagement, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 2))
    result = oms.cancel_order(
        placed.id, reason="ok", lines=None, envelope=envelope(), expected_version=placed.version
    )
    assert result.version == placed.version + 1


def test_cancelling_at_a_stale_version_is_refused_and_keeps_the_reservation(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 2))
    oms.add_order_note(placed.id, text="customer called", envelope=envelope())
    before = log.count()
    with pytest.raises(StaleVersionError):
        oms.cancel_order(
            placed.id, reason="too late", lines=None, envelope=envelope(),
            expected_version=placed.version,
        )
    assert log.count() == before
    assert stock_levels(oms, SKU, WAREHOUSE) == (5, 2)


def test_shipping_at_a_stale_version_is_refused(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 2))
    oms.change_shipping_address(placed.id, address=OTHER_ADDRESS, envelope=envelope())
    before = log.count()
    with pytest.raises(StaleVersionError):
        oms.ship(
            placed.id, location_id=WAREHOUSE, lines=[LineQuantity("1", 2)], carrier="DHL",
            tracking_number="T1", envelope=envelope(), expected_version=1,
        )
    assert log.count() == before
    assert stock_levels(oms, SKU, WAREHOUSE) == (5, 2)


# --- holds ----------------------------------------------------------------------------------


def test_placing_a_hold_puts_the_order_on_hold(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 1))
    sent = envelope()
    result = oms.place_hold(
        placed.id, type=HoldType.FRAUD, reason="address mismatch", envelope=sent
    )
    assert_recorded(log, result, sent, ["Order.HoldPlaced"], reason="address mismatch")
    assert result.created_id is not None
    held = order(oms, placed.id)
    assert held.status is OrderStatus.ON_HOLD
    assert [h.hold_id for h in held.open_holds] == [result.created_id]


def test_cannot_ship_while_on_hold(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 2))
    oms.place_hold(placed.id, type=HoldType.PAYMENT, reason="card declined", envelope=envelope())
    before = log.count()
    with pytest.raises(OrderOnHoldError):
        oms.ship(
            placed.id, location_id=WAREHOUSE, lines=[LineQuantity("1", 2)], carrier="DHL",
            tracking_number="T1", envelope=envelope(),
        )
    assert log.count() == before
    assert stock_levels(oms, SKU, WAREHOUSE) == (5, 2)


def test_releasing_the_hold_lets_the_order_ship(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 2))
    hold = oms.place_hold(placed.id, type=HoldType.MANUAL, reason="check", envelope=envelope())
    assert hold.created_id is not None
    sent = envelope()
    result = oms.release_hold(placed.id, hold.created_id, reason="checked", envelope=sent)
    assert_recorded(log, result, sent, ["Order.HoldReleased"], reason="checked")
    assert order(oms, placed.id).status is OrderStatus.OPEN
    ship_all(oms, placed.id)
    assert order(oms, placed.id).status is OrderStatus.SHIPPED


def test_cannot_release_a_hold_twice(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    placed = place(oms, customer_id, (SKU, 1))
    hold = oms.place_hold(placed.id, type=HoldType.MANUAL, reason="check", envelope=envelope())
    assert hold.created_id is not None
    oms.release_hold(placed.id, hold.created_id, reason=None, envelope=envelope())
    before = log.count()
    with pytest.raises(HoldAlreadyReleasedError):
        oms.release_hold(placed.id, hold.created_id, reason=None, envelope=envelope())
    assert log.count() == before


def test_rejecting_a_held_order_cancels_it_and_releases_its_stock(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 2)
    stock(oms, SKU, STORE, 2)
    placed = place(oms, customer_id, (SKU, 3))
    hold = oms.place_hold(placed.id, type=HoldType.FRAUD, reason="stolen card", envelope=envelope())
    assert hold.created_id is not None
    sent = envelope("risk", "system", "fraud-service")
    result = oms.reject_order(placed.id, hold.created_id, envelope=sent)
    assert_recorded(
        log, result, sent, ["Order.Rejected", "InventoryItem.Released", "InventoryItem.Released"],
        reason="stolen card",  # the hold's reason is the rejection's
    )
    rejected = order(oms, placed.id)
    assert rejected.status is OrderStatus.CANCELLED
    assert stock_levels(oms, SKU, WAREHOUSE) == (2, 0)
    assert stock_levels(oms, SKU, STORE) == (2, 0)


# --- shipping -------------------------------------------------------------------------------


def test_shipping_consumes_the_reservation_at_that_location_in_the_same_transaction(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 2))
    sent = envelope("wms", "system", "wms")
    result = oms.ship(
        placed.id, location_id=WAREHOUSE, lines=[LineQuantity("1", 2)], carrier="DHL",
        tracking_number="JD0001", envelope=sent,
    )
    assert_recorded(log, result, sent, ["Order.Shipped", "InventoryItem.Consumed"])
    assert stock_levels(oms, SKU, WAREHOUSE) == (3, 0)
    shipped = order(oms, placed.id)
    assert result.created_id is not None
    assert shipped.shipment(result.created_id).carrier == "DHL"
    assert shipped.status is OrderStatus.SHIPPED


def test_a_split_order_ships_from_each_location_separately(
    oms: OrderManagement, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 2)
    stock(oms, SKU, STORE, 3)
    placed = place(oms, customer_id, (SKU, 4))
    ship_all(oms, placed.id, WAREHOUSE)
    assert order(oms, placed.id).status is OrderStatus.PARTIALLY_SHIPPED
    assert stock_levels(oms, SKU, WAREHOUSE) == (0, 0)
    assert stock_levels(oms, SKU, STORE) == (3, 2)
    ship_all(oms, placed.id, STORE)
    assert order(oms, placed.id).status is OrderStatus.SHIPPED
    assert stock_levels(oms, SKU, STORE) == (1, 0)


def test_cannot_ship_units_not_reserved_at_that_location(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    stock(oms, SKU, STORE, 5)
    placed = place(oms, customer_id, (SKU, 2))  # reserved at the warehouse
    before = log.count()
    with pytest.raises(NotReservedAtLocationError):
        oms.ship(
            placed.id, location_id=STORE, lines=[LineQuantity("1", 1)], carrier="DHL",
            tracking_number="T1", envelope=envelope(),
        )
    with pytest.raises(NotReservedAtLocationError):
        oms.ship(
            placed.id, location_id=WAREHOUSE, lines=[LineQuantity("1", 3)], carrier="DHL",
            tracking_number="T1", envelope=envelope(),
        )
    assert log.count() == before
    assert stock_levels(oms, SKU, WAREHOUSE) == (5, 2)
    assert stock_levels(oms, SKU, STORE) == (5, 0)


def test_cannot_ship_backordered_units(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    placed = place(oms, customer_id, (SKU, 1))
    before = log.count()
    with pytest.raises(NotReservedAtLocationError):
        oms.ship(
            placed.id, location_id=WAREHOUSE, lines=[LineQuantity("1", 1)], carrier="DHL",
            tracking_number="T1", envelope=envelope(),
        )
    assert log.count() == before


# --- delivery -------------------------------------------------------------------------------


def test_marking_a_shipment_delivered_delivers_the_order(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 1))
    shipment_id = ship_all(oms, placed.id)
    sent = envelope("dhl", "client", "carrier")
    result = oms.mark_delivered(placed.id, shipment_id, envelope=sent)
    assert_recorded(log, result, sent, ["Order.Delivered"])
    assert order(oms, placed.id).status is OrderStatus.DELIVERED


def test_cannot_deliver_a_shipment_twice(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 1))
    shipment_id = ship_all(oms, placed.id)
    oms.mark_delivered(placed.id, shipment_id, envelope=envelope())
    before = log.count()
    with pytest.raises(ShipmentAlreadyDeliveredError):
        oms.mark_delivered(placed.id, shipment_id, envelope=envelope())
    assert log.count() == before


def test_recording_a_delivery_exception(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 1))
    shipment_id = ship_all(oms, placed.id)
    sent = envelope("dhl", "client", "carrier")
    result = oms.record_delivery_exception(
        placed.id, shipment_id, kind=ExceptionKind.DELAYED, detail="hub closed", envelope=sent
    )
    assert_recorded(log, result, sent, ["Order.DeliveryExceptionRecorded"])
    assert order(oms, placed.id).shipment(shipment_id).status is ShipmentStatus.EXCEPTION


def test_a_delivery_exception_for_an_unknown_shipment_is_rejected(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    placed = place(oms, customer_id, (SKU, 1))
    before = log.count()
    with pytest.raises(ShipmentNotFoundError):
        oms.record_delivery_exception(
            placed.id, uuid4(), kind=ExceptionKind.LOST, detail="gone", envelope=envelope()
        )
    assert log.count() == before


# --- address, notes -------------------------------------------------------------------------


def test_changing_the_shipping_address_of_an_unshipped_order(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    placed = place(oms, customer_id, (SKU, 1))
    sent = envelope()
    result = oms.change_shipping_address(placed.id, address=OTHER_ADDRESS, envelope=sent)
    assert_recorded(log, result, sent, ["Order.ShippingAddressChanged"])
    assert order(oms, placed.id).shipping_address == OTHER_ADDRESS


def test_cannot_change_the_shipping_address_once_everything_shipped(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 1))
    ship_all(oms, placed.id)
    before = log.count()
    with pytest.raises(NothingUnshippedError):
        oms.change_shipping_address(placed.id, address=OTHER_ADDRESS, envelope=envelope())
    assert log.count() == before


def test_adding_an_order_note_records_the_agent_as_its_author(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    placed = place(oms, customer_id, (SKU, 1))
    sent = envelope("bob", "agent", "console")
    result = oms.add_order_note(placed.id, text="Leave at the door", envelope=sent)
    assert_recorded(log, result, sent, ["Order.NoteAdded"])
    notes = order(oms, placed.id).notes
    assert [(n.note_id, n.text, n.author) for n in notes] == [
        (result.created_id, "Leave at the door", "bob")
    ]


# --- backorders -----------------------------------------------------------------------------


def test_allocating_backorders_reserves_stock_that_has_arrived(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    placed = place(oms, customer_id, (SKU, 3))
    stock(oms, SKU, STORE, 2)
    sent = envelope("evident", "system", "allocator")
    result = oms.allocate_backorders(placed.id, envelope=sent)
    assert_recorded(log, result, sent, ["Order.BackorderAllocated", "InventoryItem.Reserved"])
    line = order(oms, placed.id).lines["1"]
    assert (line.allocations, line.backordered) == ((Allocation(STORE, 2),), 1)
    assert stock_levels(oms, SKU, STORE) == (2, 2)


def test_allocating_backorders_takes_the_best_location_first(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    placed = place(oms, customer_id, (SKU, 3))
    stock(oms, SKU, STORE, 5)
    stock(oms, SKU, WAREHOUSE, 1)
    sent = envelope()
    result = oms.allocate_backorders(placed.id, envelope=sent)
    rows = assert_recorded(
        log, result, sent,
        ["Order.BackorderAllocated", "Order.BackorderAllocated",
         "InventoryItem.Reserved", "InventoryItem.Reserved"],
    )
    assert len({r.transaction for r in rows}) == 1
    line = order(oms, placed.id).lines["1"]
    assert line.allocations == (Allocation(WAREHOUSE, 1), Allocation(STORE, 2))
    assert line.backordered == 0
    assert stock_levels(oms, SKU, WAREHOUSE) == (1, 1)
    assert stock_levels(oms, SKU, STORE) == (5, 2)


def test_allocating_backorders_leaves_stock_other_orders_reserved(
    oms: OrderManagement, customer_id: UUID
) -> None:
    waiting = place(oms, customer_id, (SKU, 2))
    stock(oms, SKU, WAREHOUSE, 3)
    place(oms, customer_id, (SKU, 2))  # takes 2 of the 3 first
    oms.allocate_backorders(waiting.id, envelope=envelope())
    line = order(oms, waiting.id).lines["1"]
    assert (line.allocated, line.backordered) == (1, 1)
    assert stock_levels(oms, SKU, WAREHOUSE) == (3, 3)


def test_allocated_backorders_can_be_shipped(oms: OrderManagement, customer_id: UUID) -> None:
    placed = place(oms, customer_id, (SKU, 2))
    stock(oms, SKU, WAREHOUSE, 2)
    oms.allocate_backorders(placed.id, envelope=envelope())
    ship_all(oms, placed.id)
    assert order(oms, placed.id).status is OrderStatus.SHIPPED
    assert stock_levels(oms, SKU, WAREHOUSE) == (0, 0)


def test_allocating_backorders_with_no_new_stock_records_nothing(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    placed = place(oms, customer_id, (SKU, 2))
    before = log.count()
    result = oms.allocate_backorders(placed.id, envelope=envelope())
    assert log.count() == before
    assert result.version == placed.version
    assert order(oms, placed.id).lines["1"].backordered == 2


# --- long-lived orders ----------------------------------------------------------------------


def test_an_order_past_its_snapshot_interval_loads_and_accepts_commands(
    oms: OrderManagement, database_url: str, customer_id: UUID
) -> None:
    stock(oms, SKU, WAREHOUSE, 5)
    placed = place(oms, customer_id, (SKU, 3))
    for n in range(52):
        oms.add_order_note(placed.id, text=f"note {n}", envelope=envelope())
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM snapshots WHERE originator_id = %s", (placed.id,)
        ).fetchone()
    assert row is not None
    assert row[0] >= 1
    oms.cancel_order(placed.id, reason="late", lines=[LineQuantity("1", 1)], envelope=envelope())
    ship_all(oms, placed.id)
    reloaded = order(oms, placed.id)
    assert reloaded.version == 1 + 52 + 2
    assert len(reloaded.notes) == 52
    assert reloaded.lines["1"].shipped == 2
    assert stock_levels(oms, SKU, WAREHOUSE) == (3, 0)
