"""The invoices read model: what is issued for shipments, refunds and goodwill, with numbers
that run without gaps and come out the same however the log is batched.

The history here is shared with the care and HTTP tests (``record_history``): one customer
with a shipped, refunded and returned order, an order on hold with a failed authorization, a
backordered order, an order with an undecided return, and a JPY order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from application.envelope import Envelope
from application.log_reader import LogCursor, read_log
from application.order_management import OrderManagement
from domain.order_values import LineQuantity, NewLine, ReturnedLine
from domain.values import (
    Address,
    Channel,
    ConsentChannel,
    ExceptionKind,
    HoldType,
    LocationKind,
    ReturnCondition,
)
from projections.engine import Decoder, Projection, live_schema
from projections.invoices import InvoicesProjection, get_invoice, list_invoices
from tests.projections.support import catch_up, schema_of

ADDRESS = Address("Jo Doe", "Main St 1", "Flat 2", "Berlin", "10115", "DE")


@dataclass(frozen=True)
class History:
    customer: UUID
    other_customer: UUID
    shipped: UUID  # shipped twice, refunded, credited, returned and refunded
    held: UUID  # on hold (fraud) with a failed authorization
    released: UUID  # a hold placed and released
    backordered: UUID  # one line waiting for stock
    returning: UUID  # a return requested, not decided
    yen: UUID  # a JPY order, shipped
    first_shipment: UUID  # of ``shipped``: ends in a delivery exception
    second_shipment: UUID  # of ``shipped``: delivered
    return_id: UUID  # of ``returning``


def _line(sku: str, quantity: int, price: str, rate: str = "0") -> NewLine:
    return NewLine(sku, quantity, Decimal(price), Decimal(rate))


def record_history(oms: OrderManagement, agent: Envelope) -> History:
    """Commands covering every event the invoices and care read models care about."""
    oms.add_location(location_id="berlin-dc", name="Berlin DC", kind=LocationKind.WAREHOUSE,
                     priority=1, envelope=agent)
    for sku, quantity in (("JEANS", 10), ("BELT", 1), ("PEN", 5), ("TEA", 3)):
        oms.receive_stock(sku=sku, location_id="berlin-dc", quantity=quantity, envelope=agent)
    customer = oms.register_customer(customer_id=None, name="Jo Doe", email="jo@example.com",
                                     phone="+49 30 1234", address=ADDRESS, envelope=agent).id
    other = oms.register_customer(customer_id=None, name="Max Muster", email="max@example.com",
                                  phone=None, address=None, envelope=agent).id
    oms.record_consent(customer, channel=ConsentChannel.EMAIL, granted=True, envelope=agent)
    oms.add_customer_note(customer, text="prefers phone calls", envelope=agent)
    oms.add_customer_address(customer, label="work", address=Address(
        "Jo Doe", "Office Rd 9", None, "Hamburg", "20095", "DE"), envelope=agent)

    def place(customer_id: UUID, currency: str, *lines: NewLine) -> UUID:
        return oms.place_order(order_id=None, customer_id=customer_id, channel=Channel.WEB,
                               currency=currency, lines=lines, shipping_address=ADDRESS,
                               shipping_method=None, envelope=agent).id

    shipped = place(customer, "EUR", _line("JEANS", 2, "59.90", "0.19"), _line("BELT", 1, "19.00"),
                    _line("PEN", 1, "0.25", "0.1"))
    oms.authorize_payment(shipped, amount=Decimal("200.00"), provider="psp", reference="r1",
                          envelope=agent)
    oms.capture_payment(shipped, amount=Decimal("150.00"), envelope=agent)
    first = oms.ship(shipped, location_id="berlin-dc", lines=[LineQuantity("1", 1)],
                     carrier="DHL", tracking_number="T1", envelope=agent).created_id
    second = oms.ship(shipped, location_id="berlin-dc",
                      lines=[LineQuantity("1", 1), LineQuantity("2", 1), LineQuantity("3", 1)],
                      carrier="DHL", tracking_number="T2", envelope=agent).created_id
    assert first is not None
    assert second is not None
    oms.record_delivery_exception(shipped, first, kind=ExceptionKind.DELAYED,
                                  detail="depot closed", envelope=agent)
    oms.mark_delivered(shipped, second, envelope=agent)
    oms.refund_payment(shipped, amount=Decimal("10.00"), reason="late delivery", envelope=agent)
    oms.add_adjustment(shipped, amount=Decimal("5.00"), reason="sorry", envelope=agent)
    ret = oms.request_return(shipped, reason="too small", lines=[LineQuantity("1", 1)],
                             envelope=agent).created_id
    assert ret is not None
    oms.decide_return(shipped, ret, approved=True, reason=None, envelope=agent)
    oms.receive_return(shipped, ret, location_id="berlin-dc",
                       lines=[ReturnedLine("1", 1, ReturnCondition.RESELLABLE)], envelope=agent)
    oms.refund_return(shipped, ret, amount=Decimal("20.00"), envelope=agent)

    held = place(customer, "EUR", _line("JEANS", 1, "59.90", "0.19"))
    oms.place_hold(held, type=HoldType.FRAUD, reason="mismatched address", envelope=agent)
    oms.record_authorization_failure(held, provider="psp", reason="insufficient funds",
                                     envelope=agent)

    released = place(other, "EUR", _line("TEA", 1, "4.50", "0.07"))
    hold = oms.place_hold(released, type=HoldType.MANUAL, reason="check", envelope=agent)
    assert hold.created_id is not None
    oms.release_hold(released, hold.created_id, reason="fine", envelope=agent)

    backordered = place(other, "EUR", _line("RARE", 2, "10.00"))

    returning = place(other, "EUR", _line("TEA", 1, "4.50", "0.07"))
    oms.ship(returning, location_id="berlin-dc", lines=[LineQuantity("1", 1)], carrier="UPS",
             tracking_number="T3", envelope=agent)
    return_id = oms.request_return(returning, reason="not as described",
                                   lines=[LineQuantity("1", 1)], envelope=agent).created_id
    assert return_id is not None

    oms.receive_stock(sku="CAMERA", location_id="berlin-dc", quantity=2, envelope=agent)
    yen = place(other, "JPY", _line("CAMERA", 1, "999", "0.085"), _line("CAMERA", 1, "1000", "0.1"))
    oms.ship(yen, location_id="berlin-dc", lines=[LineQuantity("1", 1), LineQuantity("2", 1)],
             carrier="JP", tracking_number="T4", envelope=agent)
    return History(customer, other, shipped, held, released, backordered, returning, yen,
                   first, second, return_id)


def _head(conn: psycopg.Connection[Any]) -> LogCursor:
    """The cursor of the newest event written so far (every command here has committed)."""
    row = conn.execute(
        "SELECT xact_id::text::bigint, notification_id FROM events"
        " ORDER BY notification_id DESC LIMIT 1"
    ).fetchone()
    assert row is not None
    return LogCursor(row[0], row[1])


def settle(database_url: str, projections: Sequence[Projection], batch_size: int = 500) -> None:
    """``catch_up`` until every projection has applied the last event written.

    The reader only reads below the cluster-wide snapshot horizon, so a transaction of another
    database on a shared server can briefly hide our committed events; ``catch_up`` alone
    would then stop early.
    """
    deadline = time.monotonic() + 30
    with psycopg.connect(database_url, autocommit=True) as conn:
        head = _head(conn)
        while True:
            catch_up(database_url, projections, batch_size)
            behind = [
                p.name for p in projections
                if (live := live_schema(conn, p.name)) is None or live[1] < head
            ]
            if not behind:
                return
            assert time.monotonic() < deadline, f"{behind} did not catch up"
            time.sleep(0.01)


def replay(database_url: str, projection: Projection, schema: str, batch_size: int) -> None:
    """Apply the whole log to fresh tables in ``schema``, ``batch_size`` events per transaction,
    as a rebuild into a new generation would."""
    deadline = time.monotonic() + 30
    with psycopg.connect(database_url, autocommit=True) as conn:
        decoder = Decoder.for_connection(conn)
        head = _head(conn)
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        with conn.transaction():
            projection.create_tables(conn, schema)
        cursor = LogCursor.start()
        while cursor < head:
            batch = read_log(conn, cursor, batch_size)
            if not batch:
                assert time.monotonic() < deadline, "the log did not become readable"
                time.sleep(0.01)
                continue
            with conn.transaction():
                projection.apply(conn, schema, [decoder.decode(e) for e in batch])
            cursor = batch[-1].cursor


def table_rows(conn: psycopg.Connection[Any], schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in ``schema``, in a stable order."""
    tables = [row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
        " ORDER BY table_name", (schema,))]
    return {
        table: sorted(
            (tuple(str(v) for v in row) for row in conn.execute(
                sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(schema),
                                                      sql.Identifier(table)))),
        )
        for table in tables
    }


def _documents(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        return list_invoices(conn, schema_of(conn, "invoices"), limit=500)


def test_an_invoice_for_every_shipment_with_tax_rounded_half_up_per_line(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    history = record_history(oms, agent)
    settle(database_url, [InvoicesProjection()])
    invoices = [d for d in _documents(database_url) if d["kind"] == "invoice"]
    assert [d["number"] for d in invoices] == [
        "INV-000001", "INV-000002", "INV-000003", "INV-000004"
    ]
    first, second, returning, yen = invoices
    assert first["order_id"] == str(history.shipped)
    assert first["customer_id"] == str(history.customer)
    assert (first["subtotal"], first["tax"], first["total"]) == ("59.90", "11.38", "71.28")
    assert first["lines"] == [{
        "line_id": "1", "sku": "JEANS", "quantity": 1, "unit_price": "59.90",
        "tax_rate": "0.19", "net": "59.90", "tax": "11.38", "total": "71.28",
    }]
    # 0.25 × 0.1 = 0.025 rounds half-up to 0.03 (banker's rounding would give 0.02).
    assert [line["tax"] for line in second["lines"]] == ["11.38", "0.00", "0.03"]
    assert (second["subtotal"], second["tax"], second["total"]) == ("79.15", "11.41", "90.56")
    assert returning["order_id"] == str(history.returning)
    assert (returning["tax"], returning["total"]) == ("0.32", "4.82")
    # JPY has no minor unit: 999 × 0.085 = 84.915 → 85, 1000 × 0.1 = 100.
    assert yen["currency"] == "JPY"
    assert (yen["subtotal"], yen["tax"], yen["total"]) == ("1999", "185", "2184")
    assert first["source"] == "shipment"
    assert first["source_id"] == str(history.first_shipment)


def test_a_credit_memo_for_every_refund_return_refund_and_goodwill_adjustment(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    history = record_history(oms, agent)
    settle(database_url, [InvoicesProjection()])
    memos = [d for d in _documents(database_url) if d["kind"] == "credit_memo"]
    assert [(m["number"], m["source"], m["total"]) for m in memos] == [
        ("CM-000001", "refund", "10.00"),
        ("CM-000002", "adjustment", "5.00"),
        ("CM-000003", "return_refund", "20.00"),
    ]
    assert all(m["order_id"] == str(history.shipped) for m in memos)
    assert memos[0]["lines"] == [{"description": "refund: late delivery", "amount": "10.00"}]
    assert (memos[1]["subtotal"], memos[1]["tax"]) == ("5.00", "0.00")


def test_documents_are_issued_in_log_order_at_the_recorded_time(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    record_history(oms, agent)
    settle(database_url, [InvoicesProjection()])
    documents = _documents(database_url)
    assert [d["ordinal"] for d in documents] == list(range(1, len(documents) + 1))
    with psycopg.connect(database_url) as conn:
        schema = schema_of(conn, "invoices")
        recorded = conn.execute(
            sql.SQL("SELECT d.number, e.recorded_at FROM {}.documents d"
                    " JOIN events e ON e.notification_id = d.position ORDER BY d.ordinal").format(
                sql.Identifier(schema))
        ).fetchall()
        assert [r[0] for r in recorded] == [d["number"] for d in documents]
        assert [r[1].isoformat() for r in recorded] == [d["issued_at"] for d in documents]
        assert get_invoice(conn, schema, "INV-000002") == documents[1]
        assert get_invoice(conn, schema, "INV-999999") is None


def test_filters_by_order_customer_and_issue_time_and_pages_by_ordinal(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    history = record_history(oms, agent)
    settle(database_url, [InvoicesProjection()])
    with psycopg.connect(database_url) as conn:
        schema = schema_of(conn, "invoices")
        everything = list_invoices(conn, schema)
        by_order = list_invoices(conn, schema, order_id=history.shipped)
        assert [d["number"] for d in by_order] == [
            "INV-000001", "INV-000002", "CM-000001", "CM-000002", "CM-000003"
        ]
        by_customer = list_invoices(conn, schema, customer_id=history.other_customer)
        assert [d["number"] for d in by_customer] == ["INV-000003", "INV-000004"]
        cut = everything[3]
        cut_at = datetime.fromisoformat(cut["issued_at"])
        before = list_invoices(conn, schema, issued_to=cut_at)
        since = list_invoices(conn, schema, issued_from=cut_at)
        assert before
        assert since
        assert all(datetime.fromisoformat(d["issued_at"]) < cut_at for d in before)
        assert len(before) + len(since) == len(everything)
        page = list_invoices(conn, schema, after=2, limit=2)
        assert [d["ordinal"] for d in page] == [3, 4]


def test_numbers_and_rows_are_identical_whatever_the_batch_size(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    record_history(oms, agent)
    settle(database_url, [InvoicesProjection()], batch_size=500)
    replay(database_url, InvoicesProjection(), "invoices_one_by_one", batch_size=1)
    replay(database_url, InvoicesProjection(), "invoices_by_seven", batch_size=7)
    with psycopg.connect(database_url) as conn:
        live = table_rows(conn, schema_of(conn, "invoices"))
        assert live["documents"]
        assert table_rows(conn, "invoices_one_by_one") == live
        assert table_rows(conn, "invoices_by_seven") == live


def test_later_batches_continue_the_sequences_without_gaps(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    history = record_history(oms, agent)
    settle(database_url, [InvoicesProjection()])
    oms.refund_payment(history.shipped, amount=Decimal("1.00"), reason="again", envelope=agent)
    settle(database_url, [InvoicesProjection()])
    numbers = [d["number"] for d in _documents(database_url)]
    assert numbers[-1] == "CM-000004"
    assert sorted(n for n in numbers if n.startswith("CM-")) == [
        f"CM-{i:06d}" for i in range(1, 5)
    ]
