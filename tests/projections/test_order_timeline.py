"""The order timeline read model, against real PostgreSQL.

Events are made the way clients make them, through ``OrderManagement``: an order split across
two locations, cancelled in part, held, paid, shipped, delivered, returned and refunded. The
specifications then read the timeline: every order and stock event of that order in log
order, with its envelope and a sentence a care agent can read, and nothing of other orders.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from application.envelope import Envelope
from application.order_management import OrderManagement
from domain.order_values import LineQuantity, NewLine, ReturnedLine
from domain.values import Address, Channel, HoldType, LocationKind, ReturnCondition
from projections.order_timeline import OrderTimelineProjection, timeline_page
from tests.projections.support import catch_up, schema_of

ADDRESS = Address("Jo Doe", "Main St 1", None, "Berlin", "10115", "DE")
ERP = Envelope(actor="erp", role="client", channel="api")
OPS = Envelope(actor="ops", role="admin", channel="console")
WMS = Envelope(actor="wms", role="system", channel="wms")


def ana() -> Envelope:
    """A care agent; a fresh envelope (new command id) per command."""
    return Envelope(actor="ana", role="agent", channel="console")


def stocked_shop(oms: OrderManagement) -> UUID:
    """berlin-dc ships first and holds 1 JEANS-32 and 1 BELT-1; hamburg-store holds 1 jeans,
    so an order for two jeans is split. Returns a registered customer's id."""
    oms.add_location(location_id="berlin-dc", name="Berlin DC", kind=LocationKind.WAREHOUSE,
                     priority=1, envelope=OPS)
    oms.add_location(location_id="hamburg-store", name="Hamburg", kind=LocationKind.STORE,
                     priority=2, envelope=OPS)
    for sku, location_id, quantity in (("JEANS-32", "berlin-dc", 1), ("BELT-1", "berlin-dc", 1),
                                       ("JEANS-32", "hamburg-store", 1)):
        oms.receive_stock(sku=sku, location_id=location_id, quantity=quantity, envelope=OPS)
    return oms.register_customer(customer_id=None, name="Jo Doe", email="jo@example.com",
                                 phone=None, address=ADDRESS, envelope=ERP).id


def place(oms: OrderManagement, customer_id: UUID, *lines: tuple[str, int, str]) -> UUID:
    return oms.place_order(
        order_id=None, customer_id=customer_id, channel=Channel.WEB, currency="EUR",
        lines=[NewLine(sku, qty, Decimal(price), Decimal("0.19")) for sku, qty, price in lines],
        shipping_address=ADDRESS, shipping_method=None, envelope=ERP,
    ).id


def full_life(oms: OrderManagement, customer_id: UUID) -> UUID:
    """An order that goes through almost everything an order can; returns its id."""
    order_id = place(oms, customer_id, ("JEANS-32", 2, "59.90"), ("BELT-1", 1, "19.00"))
    oms.cancel_order(order_id, reason="customer changed their mind",
                     lines=[LineQuantity("1", 1)], envelope=ana())
    hold = oms.place_hold(order_id, type=HoldType.FRAUD, reason="address mismatch",
                          envelope=ana()).created_id
    assert hold is not None
    oms.release_hold(order_id, hold, reason="customer confirmed", envelope=ana())
    oms.authorize_payment(order_id, amount=Decimal("78.90"), provider="stripe",
                          reference="pi_1", envelope=ERP)
    oms.capture_payment(order_id, amount=Decimal("78.90"), envelope=ERP)
    shipment = oms.ship(order_id, location_id="berlin-dc",
                        lines=[LineQuantity("1", 1), LineQuantity("2", 1)], carrier="DHL",
                        tracking_number="00340434", envelope=WMS).created_id
    assert shipment is not None
    oms.mark_delivered(order_id, shipment, envelope=WMS)
    returned = oms.request_return(order_id, reason="too small", lines=[LineQuantity("1", 1)],
                                  envelope=ana()).created_id
    assert returned is not None
    oms.decide_return(order_id, returned, approved=True, reason=None, envelope=ana())
    oms.receive_return(order_id, returned, location_id="berlin-dc",
                       lines=[ReturnedLine("1", 1, ReturnCondition.RESELLABLE)], envelope=WMS)
    oms.refund_return(order_id, returned, amount=Decimal("59.90"), envelope=ana())
    oms.add_order_note(order_id, text="called about the refund", envelope=ana())
    return order_id


def read_timeline(database_url: str, order_id: UUID) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        items, more = timeline_page(conn, schema_of(conn, "order_timeline"), order_id,
                                    limit=500)
    assert more is None
    return items


def test_the_timeline_tells_an_orders_life_in_log_order(
    oms: OrderManagement, database_url: str
) -> None:
    customer_id = stocked_shop(oms)
    order_id = full_life(oms, customer_id)
    other = place(oms, customer_id, ("JEANS-32", 1, "59.90"))
    catch_up(database_url, [OrderTimelineProjection()])

    items = read_timeline(database_url, order_id)

    assert [(i["type"], i["summary"]) for i in items] == [
        ("Order.Placed", "erp (client) placed order: 2 × JEANS-32, 1 × BELT-1 (EUR 138.80)"),
        ("InventoryItem.Reserved", "reserved 1 × JEANS-32 at berlin-dc"),
        ("InventoryItem.Reserved", "reserved 1 × JEANS-32 at hamburg-store"),
        ("InventoryItem.Reserved", "reserved 1 × BELT-1 at berlin-dc"),
        ("Order.LinesCancelled",
         "ana (agent) cancelled 1 × JEANS-32 — customer changed their mind"),
        ("InventoryItem.Released", "released 1 × JEANS-32 at hamburg-store"),
        ("Order.HoldPlaced", "ana (agent) placed a fraud hold — address mismatch"),
        ("Order.HoldReleased", "ana (agent) released the fraud hold — customer confirmed"),
        ("Order.PaymentAuthorized",
         "erp (client) recorded a payment authorization of EUR 78.90 by stripe (pi_1)"),
        ("Order.PaymentCaptured", "erp (client) captured EUR 78.90"),
        ("Order.Shipped",
         "wms (system) shipped 1 × JEANS-32, 1 × BELT-1 from berlin-dc (DHL 00340434)"),
        ("InventoryItem.Consumed", "consumed 1 × JEANS-32 at berlin-dc"),
        ("InventoryItem.Consumed", "consumed 1 × BELT-1 at berlin-dc"),
        ("Order.Delivered", "wms (system) marked shipment DHL 00340434 delivered"),
        ("Order.ReturnRequested", "ana (agent) requested a return of 1 × JEANS-32 — too small"),
        ("Order.ReturnApproved", "ana (agent) approved the return of 1 × JEANS-32"),
        ("Order.ReturnReceived",
         "wms (system) received 1 × JEANS-32 (resellable) back at berlin-dc"),
        ("InventoryItem.Restocked", "restocked 1 × JEANS-32 at berlin-dc"),
        ("Order.ReturnRefunded",
         "ana (agent) refunded EUR 59.90 for the return of 1 × JEANS-32"),
        ("Order.NoteAdded", "ana (agent) added a note"),
    ]
    positions = [i["position"] for i in items]
    assert positions == sorted(positions)
    assert [i["type"] for i in read_timeline(database_url, other)] == [
        "Order.Placed", "InventoryItem.Reserved",
    ]


def test_entries_carry_the_envelope_of_the_command_that_caused_them(
    oms: OrderManagement, database_url: str
) -> None:
    customer_id = stocked_shop(oms)
    order_id = place(oms, customer_id, ("JEANS-32", 2, "59.90"))
    sent = ana()
    oms.cancel_order(order_id, reason="duplicate order", lines=None, envelope=sent)
    catch_up(database_url, [OrderTimelineProjection()])

    cancelled = [i for i in read_timeline(database_url, order_id)
                 if i["command_id"] == str(sent.command_id)]

    assert [i["type"] for i in cancelled] == [
        "Order.LinesCancelled", "InventoryItem.Released", "InventoryItem.Released",
    ]
    for item in cancelled:
        assert (item["actor"], item["role"], item["channel"], item["reason"]) == (
            "ana", "agent", "console", "duplicate order"
        )
        assert item["recorded_at"].endswith("+00:00")
    assert cancelled[0]["summary"] == "ana (agent) cancelled 2 × JEANS-32 — duplicate order"


def test_backorders_and_rejections_are_worded_too(
    oms: OrderManagement, database_url: str
) -> None:
    customer_id = stocked_shop(oms)
    order_id = place(oms, customer_id, ("BELT-1", 3, "19.00"))
    oms.receive_stock(sku="BELT-1", location_id="hamburg-store", quantity=1, envelope=OPS)
    oms.allocate_backorders(order_id, envelope=WMS)
    hold = oms.place_hold(order_id, type=HoldType.PAYMENT, reason="card declined",
                          envelope=ana()).created_id
    assert hold is not None
    oms.reject_order(order_id, hold, envelope=ana())
    catch_up(database_url, [OrderTimelineProjection()], batch_size=3)

    summaries = [i["summary"] for i in read_timeline(database_url, order_id)]

    assert summaries == [
        "erp (client) placed order: 3 × BELT-1 (EUR 57.00); backordered 2 × BELT-1",
        "reserved 1 × BELT-1 at berlin-dc",
        "wms (system) allocated backordered 1 × BELT-1 at hamburg-store",
        "reserved 1 × BELT-1 at hamburg-store",
        "ana (agent) placed a payment hold — card declined",
        "ana (agent) rejected the order on the payment hold, cancelling 3 × BELT-1"
        " — card declined",
        "released 1 × BELT-1 at hamburg-store",
        "released 1 × BELT-1 at berlin-dc",
    ]


def test_paging_walks_the_timeline_without_gaps_or_repeats(
    oms: OrderManagement, database_url: str
) -> None:
    order_id = full_life(oms, stocked_shop(oms))
    catch_up(database_url, [OrderTimelineProjection()])
    everything = read_timeline(database_url, order_id)

    paged: list[dict[str, Any]] = []
    after = None
    with psycopg.connect(database_url, autocommit=True) as conn:
        schema = schema_of(conn, "order_timeline")
        while True:
            items, after = timeline_page(conn, schema, order_id, after=after, limit=3)
            paged.extend(items)
            if after is None:
                break

    assert paged == everything


class _Renamed(OrderTimelineProjection):
    """The same projection under another name, so it builds its own tables beside the first."""

    def __init__(self, name: str) -> None:
        self.name = name


def dump(conn: psycopg.Connection[Any], schema: str, tables: list[str]) -> dict[str, Any]:
    """Every row of every table, in a stable order."""
    return {
        table: conn.execute(
            sql.SQL("SELECT * FROM {}.{} t ORDER BY t::text").format(
                sql.Identifier(schema), sql.Identifier(table))
        ).fetchall()
        for table in tables
    }


def test_a_rebuild_in_any_batch_size_writes_identical_rows(
    oms: OrderManagement, database_url: str
) -> None:
    customer_id = stocked_shop(oms)
    full_life(oms, customer_id)
    place(oms, customer_id, ("BELT-1", 2, "19.00"))
    one_by_one, batched = _Renamed("timeline_b1"), _Renamed("timeline_b500")

    catch_up(database_url, [one_by_one], batch_size=1)
    catch_up(database_url, [batched], batch_size=500)

    tables = ["entries", "orders", "lines", "labels", "items"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        first = dump(conn, schema_of(conn, "timeline_b1"), tables)
        second = dump(conn, schema_of(conn, "timeline_b500"), tables)
    assert first == second
    assert len(first["entries"]) > 20
    assert first["labels"]


def test_events_of_other_aggregates_leave_no_entries(
    oms: OrderManagement, database_url: str
) -> None:
    stocked_shop(oms)  # locations, stock receipts and a customer: nothing order-related
    catch_up(database_url, [OrderTimelineProjection()])

    with psycopg.connect(database_url, autocommit=True) as conn:
        schema = schema_of(conn, "order_timeline")
        counts = dump(conn, schema, ["entries", "orders"])
        items = dump(conn, schema, ["items"])["items"]
    assert counts == {"entries": [], "orders": []}
    assert len(items) == 3  # inventory items are remembered for later reservations
