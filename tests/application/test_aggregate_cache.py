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
from decimal import Decimal
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from application.aggregate_cache import ABSENT, AggregateCache, copy_aggregate
from application.bootstrap import create_order_management
from application.event_store import EventRecorder, StaleReadError, datastore_for
from application.order_management import OrderManagement
from application.settings import Settings
from domain.customer import Customer
from domain.errors import CustomerErasedError, OrderOnHoldError
from domain.inventory import InventoryItem, inventory_item_id
from domain.location import LocationNetwork
from domain.order import Order
from domain.order_values import LineQuantity
from domain.values import Address, ConsentChannel, HoldType, LocationKind
from tests.aggregate_shape import shape_violations
from tests.application.builders import (
    ADDRESS,
    STORE,
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


# --- commands decide on the cache first, and on the log when the cache was stale ---------------


def _placed_elsewhere(
    first: OrderManagement, second: OrderManagement
) -> tuple[UUID, UUID]:
    """An order placed through ``first``, and known (cached) by ``second`` too."""
    customer = _customer_with_a_cached_order(first)
    order_id = place(first, customer, ("MUG", 2)).id
    second.add_order_note(order_id, text="seen here", envelope=envelope())
    return customer, order_id


def test_a_command_on_a_stale_cached_order_is_decided_on_the_current_one(
    two_processes: tuple[OrderManagement, OrderManagement],
) -> None:
    first, second = two_processes
    _, order_id = _placed_elsewhere(first, second)

    second.place_hold(order_id, type=HoldType.FRAUD, reason="check", envelope=envelope())

    # ``first`` still caches the order without the hold; shipping must see the hold.
    with pytest.raises(OrderOnHoldError):
        first.ship(order_id, location_id=WAREHOUSE, lines=[LineQuantity("1", 2)],
                   carrier="DHL", tracking_number="T1", envelope=envelope())
    assert first.get_order(order_id).shipments == {}


def test_a_rejection_on_a_stale_copy_is_not_final(
    two_processes: tuple[OrderManagement, OrderManagement],
) -> None:
    first, second = two_processes
    _, order_id = _placed_elsewhere(first, second)
    first.add_order_note(order_id, text="cached here", envelope=envelope())

    # Authorized through the other process: the copy cached here knows of no authorization.
    second.authorize_payment(order_id, amount=Decimal("20.00"), provider="psp",
                             reference="r1", envelope=envelope())

    captured = first.capture_payment(order_id, amount=Decimal("20.00"), envelope=envelope())
    assert captured.aggregate.captured == Decimal("20.00")


def test_if_match_is_checked_against_the_current_version_not_the_cached_one(
    two_processes: tuple[OrderManagement, OrderManagement],
) -> None:
    first, second = two_processes
    _, order_id = _placed_elsewhere(first, second)
    first.add_order_note(order_id, text="cached here", envelope=envelope())
    moved = second.add_order_note(order_id, text="moved on", envelope=envelope()).version

    result = first.add_order_note(order_id, text="at the version the client saw",
                                  envelope=envelope(), expected_version=moved)

    assert result.version == moved + 1


def test_stock_that_arrived_elsewhere_at_a_location_known_empty_here_is_reserved(
    two_processes: tuple[OrderManagement, OrderManagement],
) -> None:
    first, second = two_processes
    customer = _customer_with_a_cached_order(first)  # MUG is cached as absent at STORE
    assert first.aggregates.get(inventory_item_id("MUG", STORE)) is ABSENT
    place(first, customer, ("MUG", 4))  # the warehouse is now empty

    stock(second, "MUG", STORE, 3)
    placed = place(first, customer, ("MUG", 2))

    order = placed.aggregate
    assert isinstance(order, Order)
    [line] = order.lines.values()
    assert (line.allocated_at(STORE), line.backordered) == (2, 0)


def test_a_guarded_append_inserts_nothing_once_a_read_aggregate_moved_on(
    database_url: str,
) -> None:
    recorder = EventRecorder(datastore_for(database_url))
    read, written = uuid4(), uuid4()
    agent = envelope()
    with psycopg.connect(database_url, autocommit=True) as conn:
        recorder.append(conn, [StoredEvent(read, 1, "tests:Event", b"{}")], agent)

        recorder.append(conn, [StoredEvent(written, 1, "tests:Event", b"{}")], agent,
                        {written: b"k" * 32}, guard={read: 1})
        with pytest.raises(StaleReadError):
            recorder.append(conn, [StoredEvent(written, 2, "tests:Event", b"{}")], agent,
                            guard={read: 0})
        subject = uuid4()
        with pytest.raises(StaleReadError):
            recorder.append(conn, [StoredEvent(subject, 1, "tests:Event", b"{}")], agent,
                            {subject: b"k" * 32}, guard={read: 2})

        versions = conn.execute(
            "SELECT originator_id, max(originator_version) FROM events GROUP BY 1"
        ).fetchall()
        keys = conn.execute("SELECT subject_id FROM personal_data_keys").fetchall()
    recorder.datastore.close()
    assert dict(versions) == {read: 1, written: 1}
    assert keys == [(written,)], "a refused append stores no key either"
