"""Any aggregate as it was at a past moment or version, reconstructed from the event store."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID, uuid4

import psycopg
import pytest

from application.bootstrap import create_order_management
from application.envelope import Envelope
from application.errors import InvalidRequestError, NotFoundError
from application.order_management import OrderManagement
from application.personal_data import REDACTED, REDACTED_ADDRESS
from application.settings import Settings
from domain.inventory import InventoryItem, inventory_item_id
from domain.order_values import LineQuantity, NewLine
from domain.values import Address, Channel, LocationKind

ADDRESS = Address("Jo Doe", "Main St 1", None, "Berlin", "10115", "DE")


def _db_now(database_url: str) -> datetime:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def test_an_order_as_of_a_moment_and_as_of_a_version(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    oms.add_location(location_id="berlin", name="Berlin", kind=LocationKind.WAREHOUSE,
                     priority=1, envelope=agent)
    oms.receive_stock(sku="JEANS-32", location_id="berlin", quantity=5, envelope=agent)
    customer = oms.register_customer(customer_id=None, name="Jo", email="jo@example.com",
                                     phone=None, address=None, envelope=agent)
    before_order = _db_now(database_url)
    placed = oms.place_order(
        order_id=None, customer_id=customer.id, channel=Channel.WEB, currency="EUR",
        lines=[NewLine("JEANS-32", 3, Decimal("59.90"))], shipping_address=ADDRESS,
        shipping_method=None, envelope=agent,
    )
    after_placing = _db_now(database_url)
    oms.cancel_order(placed.id, reason="changed mind", lines=[LineQuantity("1", 2)],
                     envelope=agent)
    after_cancelling = _db_now(database_url)

    then = oms.get_order(placed.id, as_of=after_placing)
    assert then.version == 1
    assert then.lines["1"].cancelled == 0
    assert oms.get_order(placed.id, as_of=after_cancelling).lines["1"].cancelled == 2
    assert oms.get_order(placed.id, version=1).lines["1"].cancelled == 0
    with pytest.raises(NotFoundError):
        oms.get_order(placed.id, as_of=before_order)
    with pytest.raises(NotFoundError):
        oms.get_order(placed.id, version=9)
    with pytest.raises(InvalidRequestError):
        oms.get_order(placed.id, as_of=datetime(2026, 1, 1))  # naive: no offset

    item_then = oms.aggregate_as_of(InventoryItem, inventory_item_id("JEANS-32", "berlin"),
                                    "inventory item", as_of=after_placing)
    assert (item_then.on_hand, item_then.reserved) == (5, 3)
    item_now = oms.aggregate_as_of(InventoryItem, inventory_item_id("JEANS-32", "berlin"),
                                   "inventory item")
    assert item_now.reserved == 1


def test_an_order_with_a_thousand_events_loads_any_version_from_a_snapshot(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    customer = oms.register_customer(customer_id=None, name="Jo", email="jo@example.com",
                                     phone=None, address=None, envelope=agent)
    placed = oms.place_order(
        order_id=None, customer_id=customer.id, channel=Channel.WEB, currency="EUR",
        lines=[NewLine("JEANS-32", 1, Decimal("59.90"))], shipping_address=ADDRESS,
        shipping_method=None, envelope=agent,
    )
    for n in range(999):
        oms.add_order_note(placed.id, text=f"note {n}", envelope=agent)
    with psycopg.connect(database_url) as conn:
        snapshots = conn.execute(
            "SELECT count(*) FROM snapshots WHERE originator_id = %s", (placed.id,)
        ).fetchone()
    assert snapshots == (20,)
    order = oms.get_order(placed.id, version=777)
    assert order.version == 777
    assert len(order.notes) == 776
    assert oms.get_order(placed.id).version == 1000
    with pytest.raises(NotFoundError):
        oms.get_order(uuid4())


def _long_order(oms: OrderManagement, agent: Envelope, notes: int) -> tuple[UUID, UUID]:
    """An order with ``notes`` notes after its placement (so it has snapshots)."""
    oms.add_location(location_id="berlin", name="Berlin", kind=LocationKind.WAREHOUSE,
                     priority=1, envelope=agent)
    customer = oms.register_customer(customer_id=None, name="Jo", email="jo@example.com",
                                     phone=None, address=None, envelope=agent).id
    order_id = oms.place_order(
        order_id=None, customer_id=customer, channel=Channel.WEB, currency="EUR",
        lines=[NewLine("JEANS-32", 1, Decimal("59.90"))], shipping_address=ADDRESS,
        shipping_method=None, envelope=agent,
    ).id
    for n in range(notes):
        oms.add_order_note(order_id, text=f"note {n}", envelope=agent)
    return customer, order_id


def test_every_version_of_a_long_order_reads_as_replaying_its_events_would(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    _, order_id = _long_order(oms, agent, notes=120)
    for version in (1, 49, 50, 51, 99, 100, 101, 121, 50, 100):  # some twice: decoded once
        order = oms.get_order(order_id, version=version)
        assert order.version == version
        assert [n.text for n in order.notes] == [f"note {n}" for n in range(version - 1)]


def test_an_order_read_as_it_was_after_its_customer_was_erased_elsewhere_shows_nothing_personal(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    customer, order_id = _long_order(oms, agent, notes=60)
    assert oms.get_order(order_id, version=55).shipping_address == ADDRESS  # snapshot at 50
    elsewhere = create_order_management(database_url, Settings(DATABASE_URL=database_url))
    try:
        elsewhere.request_erasure(customer, reason="asked", envelope=agent)
    finally:
        elsewhere.close()

    order = oms.get_order(order_id, version=55)
    assert order.shipping_address == REDACTED_ADDRESS
    assert {note.text for note in order.notes} == {REDACTED}
