"""The aggregate cache: cheap copies that are real copies, and a cache that is never stale.

``copy_aggregate`` copies only an aggregate's own containers; that is a deep copy because
every aggregate keeps the shape ``tests.aggregate_shape`` describes (the order and stock
state machine checks it after every step; here the customer and the location network, with
everything they can hold). The cache rule — what is cached is never changed again — is
checked through the application: commands work on copies, and another process's writes are
picked up from the log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from application.aggregate_cache import AggregateCache, copy_aggregate
from application.bootstrap import create_order_management
from application.order_management import OrderManagement
from application.settings import Settings
from domain.customer import Customer
from domain.errors import CustomerErasedError
from domain.inventory import InventoryItem, inventory_item_id
from domain.location import LocationNetwork
from domain.order import Order
from domain.values import Address, ConsentChannel, LocationKind
from tests.aggregate_shape import shape_violations
from tests.application.builders import (
    ADDRESS,
    WAREHOUSE,
    add_locations,
    envelope,
    place,
    register,
    stock,
)
from tests.clock import Clock

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _customer_with_everything() -> Customer:
    customer = Customer.register(customer_id=uuid4(), name="Ada", email="ada@example.com",
                                 phone="+44 1", address=ADDRESS, registered_at=NOW)
    customer.add_address(label="work", address=ADDRESS, at=NOW)
    customer.change_address(
        label="work", address=Address("Ada", "2 Way", "Flat 1", "Leeds", "LS1", "GB"), at=NOW
    )
    customer.grant_consent(channel=ConsentChannel.EMAIL, at=NOW)
    customer.add_note(note_id=uuid4(), text="call after 5", author="ana", at=NOW)
    return customer


def _network_with_locations() -> LocationNetwork:
    network = LocationNetwork.create(at=NOW)
    network.add_location(location_id="berlin-dc", name="Berlin", kind=LocationKind.WAREHOUSE,
                         priority=1, at=NOW)
    network.add_location(location_id="munich", name="Munich", kind=LocationKind.STORE,
                         priority=2, at=NOW)
    return network


def test_customers_and_networks_keep_the_shape_the_cache_copies_cheaply() -> None:
    for aggregate in (_customer_with_everything(), _network_with_locations()):
        assert shape_violations(aggregate) == []


def test_a_copy_equals_its_original_and_changing_it_leaves_the_original_alone() -> None:
    customer = _customer_with_everything()
    customer.collect_events()
    copy = copy_aggregate(customer)
    assert copy == customer
    assert copy is not customer

    copy.add_address(label="home", address=ADDRESS, at=NOW)
    copy.withdraw_consent(channel=ConsentChannel.EMAIL, at=NOW)
    copy.add_note(note_id=uuid4(), text="second", author="ana", at=NOW)

    assert "home" not in customer.addresses
    assert customer.consents[ConsentChannel.EMAIL.value] is True
    assert len(customer.notes) == 1
    assert customer.version == copy.version - 3
    assert customer.collect_events() == []


def test_a_copied_inventory_item_reserves_without_touching_the_original() -> None:
    item = InventoryItem.create(sku="MUG", location_id="berlin-dc", at=NOW)
    item.receive(quantity=10, at=NOW)
    item.collect_events()
    copy = copy_aggregate(item)
    copy.reserve(order_id=uuid4(), line_id="1", quantity=3, at=NOW)
    assert (item.reserved, item.reservations, item.version) == (0, {}, 2)
    assert copy.reserved == 3


def test_the_cache_keeps_the_newer_of_two_versions() -> None:
    cache = AggregateCache(10)
    item = InventoryItem.create(sku="MUG", location_id="berlin-dc", at=NOW)
    item.collect_events()
    newer = copy_aggregate(item)
    newer.receive(quantity=1, at=NOW)
    newer.collect_events()

    cache.put(newer)
    cache.put(item)

    assert cache.get(item.id) is newer
    assert not AggregateCache(0)
    assert AggregateCache(0).get(item.id) is None


@pytest.fixture
def two_processes(database_url: str) -> tuple[OrderManagement, OrderManagement]:
    settings = Settings(DATABASE_URL=database_url)
    first = create_order_management(database_url, settings)
    second = create_order_management(database_url, settings)
    first.clock = second.clock = Clock()
    return first, second


def test_a_command_never_changes_what_the_cache_holds(
    two_processes: tuple[OrderManagement, OrderManagement],
) -> None:
    oms, _ = two_processes
    add_locations(oms)
    stock(oms, "MUG", WAREHOUSE, 10)
    item_id = inventory_item_id("MUG", WAREHOUSE)
    cached = oms.aggregates.get(item_id)
    assert isinstance(cached, InventoryItem)
    assert cached.on_hand == 10

    placed = place(oms, register(oms), ("MUG", 4))

    assert (cached.reserved, cached.reservations) == (0, {})
    now = oms.aggregates.get(item_id)
    assert isinstance(now, InventoryItem)
    assert now is not cached
    assert now.reserved == 4
    assert isinstance(placed.aggregate, Order)


def _customer_with_a_cached_order(oms: OrderManagement) -> UUID:
    """Five mugs in stock, a customer, and one order placed: both are now cached in ``oms``."""
    add_locations(oms)
    stock(oms, "MUG", WAREHOUSE, 5)
    customer = register(oms)
    place(oms, customer, ("MUG", 1))
    return customer


def test_writes_of_another_process_are_seen_by_the_next_command(
    two_processes: tuple[OrderManagement, OrderManagement],
) -> None:
    first, second = two_processes
    customer = _customer_with_a_cached_order(first)

    # The other process takes the remaining four units behind the first one's cache.
    place(second, customer, ("MUG", 4))

    placed = place(first, customer, ("MUG", 1))
    order = placed.aggregate
    assert isinstance(order, Order)
    [line] = order.lines.values()
    assert (line.allocated, line.backordered) == (0, 1), "it must see the stock is gone"
    item = first.aggregates.get(inventory_item_id("MUG", WAREHOUSE))
    assert isinstance(item, InventoryItem)
    assert (item.on_hand, item.reserved) == (5, 5)


def test_an_erasure_elsewhere_stops_new_orders_here(
    two_processes: tuple[OrderManagement, OrderManagement],
) -> None:
    first, second = two_processes
    customer = _customer_with_a_cached_order(first)

    second.request_erasure(customer, reason="asked", envelope=envelope())

    with pytest.raises(CustomerErasedError):
        place(first, customer, ("MUG", 1))
