"""Locations and stock through the application service, against real PostgreSQL.

Each specification runs the command, then checks what the log holds: the event types, the
envelope on every row, one transaction, and the position the command answered. Rejected
commands must leave the log exactly as it was.
"""

from __future__ import annotations

import pytest

from application.errors import NotFoundError
from application.order_management import OrderManagement
from domain.errors import (
    DuplicateLocationError,
    InvalidAdjustmentError,
    InvalidQuantityError,
    StockBelowReservedError,
)
from domain.location import LocationNetwork
from domain.values import AdjustmentReason, LocationKind
from tests.application.builders import (
    STORE,
    WAREHOUSE,
    EventLog,
    add_locations,
    assert_recorded,
    envelope,
    item,
    place,
    register,
    stock,
    stock_levels,
)

SKU = "MUG-BLUE"


@pytest.fixture
def log(database_url: str) -> EventLog:
    return EventLog(database_url)


# --- locations ------------------------------------------------------------------------------


def test_adding_the_first_location_creates_the_location_network(
    oms: OrderManagement, log: EventLog
) -> None:
    sent = envelope("ops", "admin")
    result = oms.add_location(
        location_id=WAREHOUSE, name="Berlin DC", kind=LocationKind.WAREHOUSE, priority=1,
        envelope=sent,
    )
    assert_recorded(log, result, sent, ["LocationNetwork.Created", "LocationNetwork.LocationAdded"])
    assert result.id == LocationNetwork.ID
    network = oms.network()
    assert network is not None
    assert network.location(WAREHOUSE).kind is LocationKind.WAREHOUSE


def test_adding_another_location_only_records_the_addition(
    oms: OrderManagement, log: EventLog
) -> None:
    add_locations(oms)
    sent = envelope("ops", "admin")
    result = oms.add_location(
        location_id="hamburg-dc", name="Hamburg DC", kind=LocationKind.WAREHOUSE, priority=0,
        envelope=sent,
    )
    assert_recorded(log, result, sent, ["LocationNetwork.LocationAdded"])
    network = oms.network()
    assert network is not None
    assert [loc.location_id for loc in network.by_priority] == ["hamburg-dc", WAREHOUSE, STORE]


def test_cannot_add_a_location_twice(oms: OrderManagement, log: EventLog) -> None:
    add_locations(oms)
    before = log.count()
    with pytest.raises(DuplicateLocationError):
        oms.add_location(
            location_id=WAREHOUSE, name="Again", kind=LocationKind.STORE, priority=5,
            envelope=envelope("ops", "admin"),
        )
    assert log.count() == before


# --- receiving stock ------------------------------------------------------------------------


def test_receiving_stock_for_a_new_sku_creates_its_inventory_item(
    oms: OrderManagement, log: EventLog
) -> None:
    add_locations(oms)
    sent = envelope("ops", "admin")
    result = oms.receive_stock(sku=SKU, location_id=WAREHOUSE, quantity=5, envelope=sent)
    assert_recorded(log, result, sent, ["InventoryItem.Created", "InventoryItem.Received"])
    assert stock_levels(oms, SKU, WAREHOUSE) == (5, 0)
    assert result.version == 2


def test_receiving_more_stock_adds_to_on_hand(oms: OrderManagement, log: EventLog) -> None:
    add_locations(oms)
    stock(oms, SKU, WAREHOUSE, 5)
    sent = envelope("ops", "admin")
    result = oms.receive_stock(sku=SKU, location_id=WAREHOUSE, quantity=3, envelope=sent)
    assert_recorded(log, result, sent, ["InventoryItem.Received"])
    assert stock_levels(oms, SKU, WAREHOUSE) == (8, 0)


def test_receiving_stock_at_an_unknown_location_is_not_found(
    oms: OrderManagement, log: EventLog
) -> None:
    add_locations(oms)
    before = log.count()
    with pytest.raises(NotFoundError) as raised:
        oms.receive_stock(sku=SKU, location_id="nowhere", quantity=1, envelope=envelope())
    assert raised.value.field == "location_id"
    assert log.count() == before


def test_receiving_stock_before_any_location_exists_is_not_found(
    oms: OrderManagement, log: EventLog
) -> None:
    with pytest.raises(NotFoundError):
        oms.receive_stock(sku=SKU, location_id=WAREHOUSE, quantity=1, envelope=envelope())
    assert log.count() == 0


def test_cannot_receive_zero_units(oms: OrderManagement, log: EventLog) -> None:
    add_locations(oms)
    before = log.count()
    with pytest.raises(InvalidQuantityError):
        oms.receive_stock(sku=SKU, location_id=WAREHOUSE, quantity=0, envelope=envelope())
    assert log.count() == before


# --- adjusting stock ------------------------------------------------------------------------


def test_adjusting_stock_by_a_delta_records_the_reason_in_the_envelope(
    oms: OrderManagement, log: EventLog
) -> None:
    add_locations(oms)
    stock(oms, SKU, WAREHOUSE, 10)
    sent = envelope()
    result = oms.adjust_stock(
        sku=SKU, location_id=WAREHOUSE, reason=AdjustmentReason.DAMAGE, quantity_delta=-3,
        envelope=sent,
    )
    assert_recorded(log, result, sent, ["InventoryItem.Adjusted"], reason="damage")
    assert stock_levels(oms, SKU, WAREHOUSE) == (7, 0)


def test_adjusting_stock_to_a_counted_quantity_sets_on_hand_to_the_count(
    oms: OrderManagement, log: EventLog
) -> None:
    add_locations(oms)
    stock(oms, SKU, WAREHOUSE, 10)
    sent = envelope()
    result = oms.adjust_stock(
        sku=SKU, location_id=WAREHOUSE, reason=AdjustmentReason.CYCLE_COUNT, counted=12,
        envelope=sent,
    )
    assert_recorded(log, result, sent, ["InventoryItem.Adjusted"], reason="cycle_count")
    assert stock_levels(oms, SKU, WAREHOUSE) == (12, 0)


def test_a_count_for_a_never_stocked_sku_creates_its_item(
    oms: OrderManagement, log: EventLog
) -> None:
    add_locations(oms)
    sent = envelope()
    result = oms.adjust_stock(
        sku=SKU, location_id=STORE, reason=AdjustmentReason.FOUND, counted=2, envelope=sent
    )
    assert_recorded(
        log, result, sent, ["InventoryItem.Created", "InventoryItem.Adjusted"], reason="found"
    )
    assert stock_levels(oms, SKU, STORE) == (2, 0)


def test_cannot_adjust_stock_below_what_is_reserved(oms: OrderManagement, log: EventLog) -> None:
    add_locations(oms)
    customer_id = register(oms)
    stock(oms, SKU, WAREHOUSE, 5)
    place(oms, customer_id, (SKU, 4))
    before = log.count()
    with pytest.raises(StockBelowReservedError):
        oms.adjust_stock(
            sku=SKU, location_id=WAREHOUSE, reason=AdjustmentReason.LOSS, quantity_delta=-2,
            envelope=envelope(),
        )
    with pytest.raises(StockBelowReservedError):
        oms.adjust_stock(
            sku=SKU, location_id=WAREHOUSE, reason=AdjustmentReason.CYCLE_COUNT, counted=3,
            envelope=envelope(),
        )
    assert log.count() == before
    assert stock_levels(oms, SKU, WAREHOUSE) == (5, 4)


@pytest.mark.parametrize(
    ("delta", "counted"), [(None, None), (2, 7)], ids=["neither", "both"]
)
def test_an_adjustment_needs_either_a_delta_or_a_count(
    oms: OrderManagement, log: EventLog, delta: int | None, counted: int | None
) -> None:
    add_locations(oms)
    stock(oms, SKU, WAREHOUSE, 5)
    before = log.count()
    with pytest.raises(InvalidAdjustmentError):
        oms.adjust_stock(
            sku=SKU, location_id=WAREHOUSE, reason=AdjustmentReason.CORRECTION,
            quantity_delta=delta, counted=counted, envelope=envelope(),
        )
    assert log.count() == before


# --- safety stock ---------------------------------------------------------------------------


def test_setting_safety_stock_keeps_units_back_from_new_orders(
    oms: OrderManagement, log: EventLog
) -> None:
    add_locations(oms)
    customer_id = register(oms)
    stock(oms, SKU, WAREHOUSE, 3)
    sent = envelope("ops", "admin")
    result = oms.set_safety_stock(sku=SKU, location_id=WAREHOUSE, quantity=2, envelope=sent)
    assert_recorded(log, result, sent, ["InventoryItem.SafetyStockChanged"])
    assert item(oms, SKU, WAREHOUSE).available == 1

    placed = place(oms, customer_id, (SKU, 2))
    line = placed.aggregate.lines["1"]
    assert line.allocated_at(WAREHOUSE) == 1
    assert line.backordered == 1
    assert stock_levels(oms, SKU, WAREHOUSE) == (3, 1)


def test_cannot_set_negative_safety_stock(oms: OrderManagement, log: EventLog) -> None:
    add_locations(oms)
    stock(oms, SKU, WAREHOUSE, 3)
    before = log.count()
    with pytest.raises(InvalidQuantityError):
        oms.set_safety_stock(sku=SKU, location_id=WAREHOUSE, quantity=-1, envelope=envelope())
    assert log.count() == before


def test_inventory_items_lists_the_sku_at_each_stocked_location_by_priority(
    oms: OrderManagement,
) -> None:
    add_locations(oms)
    stock(oms, SKU, STORE, 1)
    stock(oms, SKU, WAREHOUSE, 2)
    assert [(i.location_id, i.on_hand) for i in oms.inventory_items(SKU)] == [
        (WAREHOUSE, 2), (STORE, 1)
    ]
    assert oms.inventory_items("UNKNOWN-SKU") == []
