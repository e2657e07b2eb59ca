"""The stock visibility read model, against real PostgreSQL.

Stock moves through ``OrderManagement`` as it does in production: receipts, cycle counts,
safety stock, orders reserving across locations, cancellations, shipments and returns. The
read model must then agree with the inventory aggregates themselves (the source of truth),
and must write identical rows however the log is cut into batches.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from application.envelope import Envelope
from application.order_management import OrderManagement
from domain.errors import DomainError
from domain.inventory import InventoryItem, inventory_item_id
from domain.order_values import LineQuantity, NewLine, ReturnedLine
from domain.values import Address, Channel, LocationKind, ReturnCondition
from projections.stock_visibility import StockVisibilityProjection, get_sku, list_skus
from tests.projections.support import catch_up, schema_of

ADDRESS = Address("Jo Doe", "Main St 1", None, "Berlin", "10115", "DE")
OPS = Envelope(actor="ops", role="admin", channel="console")
SHOP = Envelope(actor="shop", role="client", channel="api")
LOCATIONS = ("berlin-dc", "hamburg-store")
SKUS = ("JEANS-32", "BELT-1", "SOCKS-3")


def shop(oms: OrderManagement) -> UUID:
    oms.add_location(location_id="berlin-dc", name="Berlin DC", kind=LocationKind.WAREHOUSE,
                     priority=1, envelope=OPS)
    oms.add_location(location_id="hamburg-store", name="Hamburg", kind=LocationKind.STORE,
                     priority=2, envelope=OPS)
    return oms.register_customer(customer_id=None, name="Jo Doe", email="jo@example.com",
                                 phone=None, address=ADDRESS, envelope=SHOP).id


def place(oms: OrderManagement, customer_id: UUID, *lines: tuple[str, int]) -> UUID:
    return oms.place_order(
        order_id=None, customer_id=customer_id, channel=Channel.WEB, currency="EUR",
        lines=[NewLine(sku, qty, Decimal("10.00")) for sku, qty in lines],
        shipping_address=ADDRESS, shipping_method=None, envelope=SHOP,
    ).id


def read(database_url: str, sku: str) -> dict[str, Any] | None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return get_sku(conn, schema_of(conn, "stock_visibility"), sku)


def test_stock_per_location_and_network_totals_follow_orders(
    oms: OrderManagement, database_url: str
) -> None:
    customer_id = shop(oms)
    oms.receive_stock(sku="JEANS-32", location_id="berlin-dc", quantity=3, envelope=OPS)
    oms.receive_stock(sku="JEANS-32", location_id="hamburg-store", quantity=4, envelope=OPS)
    oms.set_safety_stock(sku="JEANS-32", location_id="hamburg-store", quantity=1, envelope=OPS)
    order_id = place(oms, customer_id, ("JEANS-32", 5))  # 3 at berlin-dc, 2 at hamburg-store
    oms.cancel_order(order_id, reason="one too many", lines=[LineQuantity("1", 1)],
                     envelope=OPS)  # releases 1 at hamburg-store
    shipment = oms.ship(order_id, location_id="berlin-dc", lines=[LineQuantity("1", 2)],
                        carrier="DHL", tracking_number="1", envelope=OPS).created_id
    assert shipment is not None
    returned = oms.request_return(order_id, reason="too big", lines=[LineQuantity("1", 1)],
                                  envelope=OPS).created_id
    assert returned is not None
    oms.decide_return(order_id, returned, approved=True, reason=None, envelope=OPS)
    oms.receive_return(order_id, returned, location_id="hamburg-store",
                       lines=[ReturnedLine("1", 1, ReturnCondition.RESELLABLE)], envelope=OPS)
    catch_up(database_url, [StockVisibilityProjection()])

    # berlin-dc: 3 received, 3 reserved, 2 shipped -> 1 on hand, 1 reserved, 0 available.
    # hamburg-store: 4 received, 2 reserved, 1 released, 1 restocked -> 5 on hand, 1 reserved,
    # safety 1 -> 3 available.
    assert read(database_url, "JEANS-32") == {
        "sku": "JEANS-32", "on_hand": 6, "reserved": 2, "safety_stock": 1, "available": 3,
        "low_stock": False,
        "locations": [
            {"location_id": "berlin-dc", "on_hand": 1, "reserved": 1, "safety_stock": 0,
             "available": 0, "low_stock": True},
            {"location_id": "hamburg-store", "on_hand": 5, "reserved": 1, "safety_stock": 1,
             "available": 3, "low_stock": False},
        ],
    }
    assert read(database_url, "NO-SUCH-SKU") is None


def test_available_never_goes_below_zero_and_low_stock_flags_the_buffer(
    oms: OrderManagement, database_url: str
) -> None:
    shop(oms)
    oms.receive_stock(sku="BELT-1", location_id="berlin-dc", quantity=5, envelope=OPS)
    oms.set_safety_stock(sku="BELT-1", location_id="berlin-dc", quantity=8, envelope=OPS)
    oms.receive_stock(sku="SOCKS-3", location_id="berlin-dc", quantity=10, envelope=OPS)
    oms.set_safety_stock(sku="SOCKS-3", location_id="berlin-dc", quantity=2, envelope=OPS)
    oms.adjust_stock(sku="SOCKS-3", location_id="berlin-dc", reason="cycle_count", counted=4,
                     envelope=OPS)
    oms.receive_stock(sku="MUG-1", location_id="hamburg-store", quantity=9, envelope=OPS)
    oms.adjust_stock(sku="MUG-1", location_id="hamburg-store", reason="damage",
                     quantity_delta=-1, envelope=OPS)
    catch_up(database_url, [StockVisibilityProjection()], batch_size=2)

    belt, socks, mug = (read(database_url, s) for s in ("BELT-1", "SOCKS-3", "MUG-1"))
    assert belt is not None
    assert socks is not None
    assert mug is not None
    assert (belt["on_hand"], belt["safety_stock"], belt["available"], belt["low_stock"]) == (
        5, 8, 0, True)
    assert (socks["on_hand"], socks["available"], socks["low_stock"]) == (4, 2, True)
    assert (mug["on_hand"], mug["available"], mug["low_stock"]) == (8, 8, False)

    with psycopg.connect(database_url, autocommit=True) as conn:
        schema = schema_of(conn, "stock_visibility")
        low, _ = list_skus(conn, schema, low_stock=True)
        healthy, _ = list_skus(conn, schema, low_stock=False)
        at_hamburg, _ = list_skus(conn, schema, location_id="hamburg-store")
        low_at_hamburg, _ = list_skus(conn, schema, location_id="hamburg-store", low_stock=True)
        first, after = list_skus(conn, schema, limit=2)
        rest, end = list_skus(conn, schema, after=after, limit=2)
    assert [i["sku"] for i in low] == ["BELT-1", "SOCKS-3"]
    assert [i["sku"] for i in healthy] == ["MUG-1"]
    assert [i["sku"] for i in at_hamburg] == ["MUG-1"]
    assert low_at_hamburg == []
    assert ([i["sku"] for i in first], after) == (["BELT-1", "MUG-1"], "MUG-1")
    assert ([i["sku"] for i in rest], end) == (["SOCKS-3"], None)


def random_history(oms: OrderManagement, seed: int, commands: int) -> None:
    """A reproducible mix of every stock-moving command; rejected commands are skipped."""
    rng = random.Random(seed)
    customer_id = shop(oms)
    orders: list[UUID] = []
    for _ in range(commands):
        sku, location_id = rng.choice(SKUS), rng.choice(LOCATIONS)
        roll = rng.random()
        try:
            if roll < 0.25:
                oms.receive_stock(sku=sku, location_id=location_id, quantity=rng.randint(1, 6),
                                  envelope=OPS)
            elif roll < 0.32:
                oms.adjust_stock(sku=sku, location_id=location_id, reason="cycle_count",
                                 quantity_delta=rng.choice([-2, -1, 1, 3]), envelope=OPS)
            elif roll < 0.38:
                oms.set_safety_stock(sku=sku, location_id=location_id,
                                     quantity=rng.randint(0, 2), envelope=OPS)
            elif roll < 0.65:
                wanted = rng.sample(SKUS, rng.randint(1, 2))
                orders.append(place(oms, customer_id, *((s, rng.randint(1, 4)) for s in wanted)))
            elif roll < 0.8 and orders:
                oms.cancel_order(rng.choice(orders), reason="changed mind", lines=None,
                                 envelope=OPS)
            elif orders:
                order = oms.get_order(rng.choice(orders))
                here = [LineQuantity(line.line_id, line.allocated_at(location_id))
                        for line in order.lines.values() if line.allocated_at(location_id)]
                if here:
                    oms.ship(order.id, location_id=location_id, lines=here, carrier="DHL",
                             tracking_number="1", envelope=OPS)
        except DomainError:
            continue


def test_the_read_model_agrees_with_the_inventory_aggregates(
    oms: OrderManagement, database_url: str
) -> None:
    random_history(oms, seed=7, commands=80)
    catch_up(database_url, [StockVisibilityProjection()], batch_size=7)

    compared = 0
    for sku in SKUS:
        view = read(database_url, sku)
        assert view is not None
        for location in view["locations"]:
            found: Any = oms.repository.get(inventory_item_id(sku, location["location_id"]))
            assert isinstance(found, InventoryItem)
            assert (location["on_hand"], location["reserved"], location["safety_stock"],
                    location["available"]) == (
                found.on_hand, found.reserved, found.safety_stock, found.available)
            compared += 1
        for total in ("on_hand", "reserved", "safety_stock", "available"):
            assert view[total] == sum(location[total] for location in view["locations"])
    assert compared == len(SKUS) * len(LOCATIONS)


class _Renamed(StockVisibilityProjection):
    """The same projection under another name, so it builds its own tables beside the first."""

    def __init__(self, name: str) -> None:
        self.name = name


def dump(conn: psycopg.Connection[Any], name: str) -> dict[str, Any]:
    schema = sql.Identifier(schema_of(conn, name))
    return {
        table: conn.execute(
            sql.SQL("SELECT * FROM {}.{} t ORDER BY t::text").format(
                schema, sql.Identifier(table))
        ).fetchall()
        for table in ("items", "skus")
    }


def test_a_rebuild_in_any_batch_size_writes_identical_rows(
    oms: OrderManagement, database_url: str
) -> None:
    random_history(oms, seed=11, commands=60)
    projections = {size: _Renamed(f"stock_b{size}") for size in (1, 5, 500)}
    for size, projection in projections.items():
        catch_up(database_url, [projection], batch_size=size)

    with psycopg.connect(database_url, autocommit=True) as conn:
        dumps = [dump(conn, projection.name) for projection in projections.values()]
    assert dumps[0] == dumps[1] == dumps[2]
    assert len(dumps[0]["items"]) == len(SKUS) * len(LOCATIONS)


def test_events_of_other_aggregates_are_ignored(
    oms: OrderManagement, database_url: str
) -> None:
    shop(oms)  # locations and a customer only
    catch_up(database_url, [StockVisibilityProjection()])

    with psycopg.connect(database_url, autocommit=True) as conn:
        assert dump(conn, "stock_visibility") == {"items": [], "skus": []}
