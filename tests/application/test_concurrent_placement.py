"""Racing commands through the database: the last units of a SKU are reserved exactly once.

Every thread has its own ``OrderManagement`` (own connection pool, own repository), so the
only thing that can stop two orders from reserving the same unit is the event store's
optimistic concurrency on the inventory item, plus the application's retry re-reading stock.
The natural races are repeated a few rounds; the forced race holds every thread at a barrier
right after it has read the stock, so a collision (and therefore a retry) is certain.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest

from application.bootstrap import create_order_management
from application.errors import AlreadyExistsError
from application.order_management import CommandResult, OrderManagement
from application.settings import Settings
from domain.errors import (
    DuplicateLocationError,
    LineAlreadyShippedError,
    LineCancelledError,
    NothingToCancelError,
)
from domain.inventory import InventoryItem, inventory_item_id, reservation_key
from domain.order_values import LineQuantity
from domain.values import LocationKind
from tests.application.builders import (
    WAREHOUSE,
    EventLog,
    envelope,
    item,
    order,
    place,
    register,
    shop,
    stock,
    stock_levels,
)

ROUNDS = 4
T = TypeVar("T")


@pytest.fixture
def apps(database_url: str) -> Iterator[list[OrderManagement]]:
    """Eight independent application instances on the same database."""
    settings = Settings(DATABASE_URL=database_url, OMS_DB_POOL_SIZE=2)
    created = [create_order_management(database_url, settings) for _ in range(8)]
    try:
        yield created
    finally:
        for app in created:
            app.close()


def run_together(calls: list[Callable[[], T]]) -> list[T]:
    """Start all calls at the same moment, one thread each; re-raise the first failure."""
    start = threading.Barrier(len(calls), timeout=10)

    def run(call: Callable[[], T]) -> T:
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [f.result(timeout=30) for f in futures]


def hold_after_reading_stock(
    apps: list[OrderManagement], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Make each app wait, on its first stock read only, until every app has read the stock."""
    barrier = threading.Barrier(len(apps), timeout=10)
    for app in apps:
        original = app.inventory_items
        first = [True]

        def held(
            sku: str,
            original: Callable[[str], list[InventoryItem]] = original,
            first: list[bool] = first,
        ) -> list[InventoryItem]:
            items = original(sku)
            if first[0]:
                first[0] = False
                barrier.wait()
            return items

        monkeypatch.setattr(app, "inventory_items", held)


def assert_exactly_one_reserved(
    apps: list[OrderManagement], log: EventLog, sku: str, results: list[CommandResult]
) -> None:
    lines = [order(apps[0], r.id).lines["1"] for r in results]
    winners = [r for r, line in zip(results, lines, strict=True) if line.allocated == 1]
    assert len(winners) == 1, [(line.allocated, line.backordered) for line in lines]
    assert sorted(line.backordered for line in lines) == [0] + [1] * (len(results) - 1)

    stocked = item(apps[0], sku, WAREHOUSE)
    assert (stocked.on_hand, stocked.reserved, stocked.available) == (1, 1, 0)
    assert stocked.reservations == {reservation_key(winners[0].id, "1"): 1}
    reserved_events = [
        r for r in log.of_aggregate(inventory_item_id(sku, WAREHOUSE))
        if r.type == "InventoryItem.Reserved"
    ]
    assert len(reserved_events) == 1
    assert reserved_events[0].command_id in {
        row.command_id for row in log.of_aggregate(winners[0].id)
    }


@pytest.mark.parametrize("contenders", [2, 8])
def test_only_one_of_several_racing_orders_gets_the_last_unit(
    apps: list[OrderManagement], database_url: str, contenders: int
) -> None:
    log = EventLog(database_url)
    customer_id = shop(apps[0])
    racers = apps[:contenders]
    for round_ in range(ROUNDS):
        sku = f"LAST-{round_}"
        stock(apps[0], sku, WAREHOUSE, 1)
        results = run_together(
            [partial(place, app, customer_id, (sku, 1)) for app in racers]
        )
        assert len({r.id for r in results}) == contenders
        assert_exactly_one_reserved(apps, log, sku, results)


def test_an_order_that_read_stock_another_order_took_is_backordered_on_retry(
    apps: list[OrderManagement], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = EventLog(database_url)
    customer_id = shop(apps[0])
    stock(apps[0], "LAST", WAREHOUSE, 1)
    racers = apps[:2]
    hold_after_reading_stock(racers, monkeypatch)
    # Both orders saw 1 unit available, so both planned to reserve it; one must retry.
    results = run_together(
        [partial(place, app, customer_id, ("LAST", 1)) for app in racers]
    )
    assert_exactly_one_reserved(apps, log, "LAST", results)


def test_two_placements_racing_with_the_same_order_id_create_one_order_and_one_conflict(
    apps: list[OrderManagement], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = EventLog(database_url)
    customer_id = shop(apps[0])
    stock(apps[0], "LAST", WAREHOUSE, 5)
    order_id = uuid4()
    racers = apps[:2]
    hold_after_reading_stock(racers, monkeypatch)
    outcomes: list[str] = []

    def attempt(app: OrderManagement) -> None:
        try:
            place(app, customer_id, ("LAST", 1), order_id=order_id)
            outcomes.append("placed")
        except AlreadyExistsError:
            outcomes.append("already exists")

    run_together([partial(attempt, app) for app in racers])
    assert sorted(outcomes) == ["already exists", "placed"]
    assert [r.type for r in log.of_aggregate(order_id)] == ["Order.Placed"]
    assert stock_levels(apps[0], "LAST", WAREHOUSE) == (5, 1)


def test_concurrent_receipts_are_all_counted(
    apps: list[OrderManagement], database_url: str
) -> None:
    shop(apps[0])
    def receive(app: OrderManagement) -> CommandResult:
        return app.receive_stock(
            sku="NEW", location_id=WAREHOUSE, quantity=1, envelope=envelope("ops", "admin")
        )

    run_together([partial(receive, app) for app in apps])
    assert stock_levels(apps[0], "NEW", WAREHOUSE) == (len(apps), 0)
    types = EventLog(database_url).types_of_aggregate(inventory_item_id("NEW", WAREHOUSE))
    assert types == ["InventoryItem.Created"] + ["InventoryItem.Received"] * len(apps)


def test_concurrently_added_locations_are_all_kept(apps: list[OrderManagement]) -> None:
    def add(app: OrderManagement, n: int) -> CommandResult:
        return app.add_location(
            location_id=f"store-{n}", name=f"Store {n}", kind=LocationKind.STORE, priority=n,
            envelope=envelope("ops", "admin"),
        )

    run_together([partial(add, app, n) for n, app in enumerate(apps)])
    network = apps[0].network()
    assert network is not None
    assert sorted(network.locations) == sorted(f"store-{n}" for n in range(len(apps)))


def test_the_same_location_added_concurrently_is_added_once(
    apps: list[OrderManagement],
) -> None:
    def add(app: OrderManagement) -> str:
        try:
            app.add_location(
                location_id="store-1", name="Store", kind=LocationKind.STORE, priority=1,
                envelope=envelope("ops", "admin"),
            )
        except DuplicateLocationError:
            return "duplicate"
        return "added"

    outcomes = run_together([partial(add, app) for app in apps])
    assert sorted(outcomes) == ["added"] + ["duplicate"] * (len(apps) - 1)


def test_the_same_customer_registered_concurrently_is_registered_once(
    apps: list[OrderManagement], database_url: str
) -> None:
    customer_id = uuid4()

    def attempt(app: OrderManagement) -> str:
        try:
            register(app, customer_id)
        except AlreadyExistsError:
            return "already exists"
        return "registered"

    outcomes = run_together([partial(attempt, app) for app in apps])
    assert sorted(outcomes) == ["already exists"] * (len(apps) - 1) + ["registered"]
    assert EventLog(database_url).types_of_aggregate(customer_id) == ["Customer.Registered"]


def test_a_cancellation_racing_a_shipment_never_both_take_the_same_units(
    apps: list[OrderManagement],
) -> None:
    customer_id = shop(apps[0])
    stock(apps[0], "RACE", WAREHOUSE, ROUNDS * 2)
    shipped_units = 0
    for _ in range(ROUNDS):
        placed: UUID = place(apps[0], customer_id, ("RACE", 2)).id

        def cancel(app: OrderManagement = apps[1], order_id: UUID = placed) -> str:
            try:
                app.cancel_order(order_id, reason="changed mind", lines=None, envelope=envelope())
            except (LineAlreadyShippedError, NothingToCancelError):
                return "too late"
            return "cancelled"

        def ship(app: OrderManagement = apps[2], order_id: UUID = placed) -> str:
            try:
                app.ship(
                    order_id, location_id=WAREHOUSE, lines=[LineQuantity("1", 2)],
                    carrier="DHL", tracking_number="T", envelope=envelope(),
                )
            except LineCancelledError:
                return "too late"
            return "shipped"

        outcome = sorted(run_together([cancel, ship]))
        assert outcome in (["cancelled", "too late"], ["shipped", "too late"])
        line = order(apps[0], placed).lines["1"]
        assert line.cancelled + line.shipped == 2
        assert line.allocated == 0
        shipped_units += line.shipped
    assert stock_levels(apps[0], "RACE", WAREHOUSE) == (ROUNDS * 2 - shipped_units, 0)


def test_a_cancellation_that_read_the_order_before_it_shipped_reports_the_line_shipped(
    apps: list[OrderManagement], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = EventLog(database_url)
    customer_id = shop(apps[0])
    stock(apps[0], "RACE", WAREHOUSE, 5)
    placed = place(apps[0], customer_id, ("RACE", 2)).id
    canceller, shipper = apps[1], apps[2]
    original = canceller._release
    first = [True]

    def ship_meanwhile(*args: Any) -> list[InventoryItem]:
        # The cancellation has loaded the order (2 units reserved); now the parcel leaves.
        if first[0]:
            first[0] = False
            shipper.ship(
                placed, location_id=WAREHOUSE, lines=[LineQuantity("1", 2)], carrier="DHL",
                tracking_number="T", envelope=envelope(),
            )
        return original(*args)

    monkeypatch.setattr(canceller, "_release", ship_meanwhile)
    sent = envelope()
    with pytest.raises((LineAlreadyShippedError, NothingToCancelError)):
        canceller.cancel_order(
            placed, reason="changed mind", lines=[LineQuantity("1", 2)], envelope=sent
        )
    assert log.of_command(sent.command_id) == []
    assert stock_levels(apps[0], "RACE", WAREHOUSE) == (3, 0)


def test_a_shipment_that_read_the_order_before_it_was_cancelled_reports_the_line_cancelled(
    apps: list[OrderManagement], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = EventLog(database_url)
    customer_id = shop(apps[0])
    stock(apps[0], "RACE", WAREHOUSE, 5)
    placed = place(apps[0], customer_id, ("RACE", 2)).id
    canceller, shipper = apps[1], apps[2]
    original = shipper._items_for
    first = [True]

    def cancel_meanwhile(*args: Any) -> dict[UUID, InventoryItem]:
        # The shipment has loaded the order (2 units reserved); now the customer cancels.
        if first[0]:
            first[0] = False
            canceller.cancel_order(placed, reason="changed mind", lines=None, envelope=envelope())
        return original(*args)

    monkeypatch.setattr(shipper, "_items_for", cancel_meanwhile)
    sent = envelope()
    with pytest.raises(LineCancelledError):
        shipper.ship(
            placed, location_id=WAREHOUSE, lines=[LineQuantity("1", 2)], carrier="DHL",
            tracking_number="T", envelope=sent,
        )
    assert log.of_command(sent.command_id) == []
    assert stock_levels(apps[0], "RACE", WAREHOUSE) == (5, 0)
