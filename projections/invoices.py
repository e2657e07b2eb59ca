"""Invoices read model: an invoice per shipment, a credit memo per refund or goodwill credit.

Invoice numbers are legal documents: they must run without gaps and must come out the same
after any rebuild. So numbers are not taken from a database sequence (which skips values on
rollback and differs between generations) but counted by the projection itself, in log
order, in a ``counters`` row of its own schema that is updated in the same transaction as the
batch: a rebuild replays the same log in the same order and so hands out the same numbers.
Invoices (``INV-000001``) and credit memos (``CM-000001``) have a sequence each, as
accountants keep them; ``ordinal`` counts both together in issue order for paging.

A shipment event carries only line ids and quantities, so the projection keeps the prices
and tax rates of each order's ``Placed`` lines in a small ``order_lines`` table. Tax is per
line, ``quantity × unit_price × tax_rate`` rounded half-up to the currency's minor unit.
Credit memo amounts are what was paid back or credited, tax included (the events do not split
tax out), so their ``tax`` is zero and ``total`` equals ``subtotal``; amounts are positive and
``kind`` says which way the money goes. ``issued_at`` is the envelope's ``recorded_at``
(database clock), never the wall clock of the projecting process.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg import sql

from domain.money import ZERO, round_money
from domain.order import Order
from projections.bulk import insert_rows
from projections.engine import ProjectedEvent

NAME = "invoices"

INVOICE = "invoice"
CREDIT_MEMO = "credit_memo"
PREFIXES = {INVOICE: "INV-", CREDIT_MEMO: "CM-"}
ORDINAL = "ordinal"  # counter row numbering both kinds together, in issue order


def format_number(kind: str, sequence: int) -> str:
    """``INV-000001`` / ``CM-000001``; wider numbers simply grow past six digits."""
    return f"{PREFIXES[kind]}{sequence:06d}"


def _money(amount: Decimal, currency: str) -> str:
    return str(round_money(amount, currency))


_HANDLED: frozenset[type[Any]] = frozenset({
    Order.Placed, Order.Shipped, Order.PaymentRefunded, Order.ReturnRefunded,
    Order.AdjustmentAdded,
})


class InvoicesProjection:
    """Maintains ``documents`` (invoices and credit memos) and the data needed to issue them."""

    name = NAME
    # µs per logged event rebuilding it alone (units: parallel_rebuild.DEFAULT_WEIGHT).
    rebuild_weight = 24
    # The events it reads; the engine decodes no others for it.
    handles: tuple[type, ...] = tuple(_HANDLED)
    reads_personal: tuple[type, ...] = ()  # an invoice shows no address or name

    # Indexes only its queries use (apply does not): a rebuild builds them once it has
    # filled the tables rather than keeping them up through every batch.
    query_indexes: tuple[str, ...] = (
        "CREATE INDEX IF NOT EXISTS documents_order_idx ON {s}.documents (order_id, ordinal)",
        "CREATE INDEX IF NOT EXISTS documents_customer_idx ON {s}.documents (customer_id, ordinal)",
        "CREATE INDEX IF NOT EXISTS documents_issued_idx ON {s}.documents (issued_at, ordinal)",
    )

    def create_tables(self, conn: psycopg.Connection[Any], schema: str) -> None:
        s = sql.Identifier(schema)
        conn.execute(
            sql.SQL(
                """
                CREATE TABLE {s}.counters (
                    name  text PRIMARY KEY,
                    value bigint NOT NULL
                );
                INSERT INTO {s}.counters (name, value)
                    VALUES ('invoice', 0), ('credit_memo', 0), ('ordinal', 0);
                CREATE TABLE {s}.orders (
                    order_id    uuid PRIMARY KEY,
                    customer_id uuid NOT NULL,
                    currency    text NOT NULL
                );
                CREATE TABLE {s}.order_lines (
                    order_id   uuid    NOT NULL,
                    line_id    text    NOT NULL,
                    sku        text    NOT NULL,
                    unit_price numeric NOT NULL,
                    tax_rate   numeric NOT NULL,
                    PRIMARY KEY (order_id, line_id)
                );
                CREATE TABLE {s}.documents (
                    number      text        PRIMARY KEY,
                    ordinal     bigint      NOT NULL UNIQUE,
                    kind        text        NOT NULL,
                    order_id    uuid        NOT NULL,
                    customer_id uuid        NOT NULL,
                    currency    text        NOT NULL,
                    lines       jsonb       NOT NULL,
                    subtotal    numeric     NOT NULL,
                    tax         numeric     NOT NULL,
                    total       numeric     NOT NULL,
                    issued_at   timestamptz NOT NULL,
                    source      text        NOT NULL,
                    source_id   uuid,
                    position    bigint      NOT NULL
                );
                """
            ).format(s=s)
        )

    def apply(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        relevant = [e for e in events if type(e.event) in _HANDLED]
        if not relevant:
            return
        s = sql.Identifier(schema)
        # Everything this batch needs from earlier batches, in two queries.
        placed_here = {e.event.originator_id for e in relevant if type(e.event) is Order.Placed}
        wanted = list({e.event.originator_id for e in relevant} - placed_here)
        orders: dict[UUID, tuple[UUID, str]] = {}
        lines: dict[UUID, dict[str, tuple[str, Decimal, Decimal]]] = {}
        if wanted:
            for oid, cid, cur_code in conn.execute(
                sql.SQL(
                    "SELECT order_id, customer_id, currency FROM {s}.orders"
                    " WHERE order_id = ANY(%b)"
                ).format(s=s),
                (wanted,),
            ):
                orders[oid] = (cid, cur_code)
            for oid, line_id, sku, price, rate in conn.execute(
                sql.SQL(
                    "SELECT order_id, line_id, sku, unit_price, tax_rate FROM {s}.order_lines"
                    " WHERE order_id = ANY(%b)"
                ).format(s=s),
                (wanted,),
            ):
                lines.setdefault(oid, {})[line_id] = (sku, price, rate)
        counters = dict(
            conn.execute(
                sql.SQL("SELECT name, value FROM {s}.counters FOR UPDATE").format(s=s)
            ).fetchall()
        )

        new_orders: list[tuple[Any, ...]] = []
        new_lines: list[tuple[Any, ...]] = []
        documents: list[tuple[Any, ...]] = []

        def issue(
            kind: str, projected: ProjectedEvent, doc_lines: list[dict[str, Any]],
            subtotal: Decimal, tax: Decimal, source: str, source_id: UUID | None,
        ) -> None:
            oid = projected.event.originator_id
            customer_id, currency = orders[oid]
            counters[kind] += 1
            counters[ORDINAL] += 1
            documents.append((
                format_number(kind, counters[kind]), counters[ORDINAL], kind, oid,
                customer_id, currency, orjson.dumps(doc_lines).decode(),
                round_money(subtotal, currency), round_money(tax, currency),
                round_money(subtotal + tax, currency),
                projected.logged.recorded_at, source, source_id, projected.logged.position,
            ))

        for projected in relevant:
            event: Any = projected.event
            kind_of_event = type(event)
            order_id: UUID = event.originator_id
            if kind_of_event is Order.Placed:
                orders[order_id] = (event.customer_id, event.currency)
                new_orders.append((order_id, event.customer_id, event.currency))
                order_lines = lines.setdefault(order_id, {})
                for line in event.lines:
                    order_lines[line.line_id] = (line.sku, line.unit_price, line.tax_rate)
                    new_lines.append(
                        (order_id, line.line_id, line.sku, line.unit_price, line.tax_rate)
                    )
                continue
            if order_id not in orders:
                # An order placed before this projection existed cannot happen (it reads the
                # whole log); refuse loudly rather than issue a document with a gap in it.
                msg = f"event {type(event).__qualname__} for unknown order {order_id}"
                raise LookupError(msg)
            currency = orders[order_id][1]
            if kind_of_event is Order.Shipped:
                doc_lines = []
                subtotal = tax = ZERO
                for shipped in event.lines:
                    sku, price, rate = lines[order_id][shipped.line_id]
                    net = round_money(shipped.quantity * price, currency)
                    line_tax = round_money(shipped.quantity * price * rate, currency)
                    subtotal += net
                    tax += line_tax
                    doc_lines.append({
                        "line_id": shipped.line_id,
                        "sku": sku,
                        "quantity": shipped.quantity,
                        "unit_price": _money(price, currency),
                        "tax_rate": str(rate),
                        "net": _money(net, currency),
                        "tax": _money(line_tax, currency),
                        "total": _money(net + line_tax, currency),
                    })
                issue(INVOICE, projected, doc_lines, subtotal, tax, "shipment",
                      event.shipment_id)
            elif kind_of_event is Order.PaymentRefunded:
                issue(CREDIT_MEMO, projected,
                      [{"description": f"refund: {event.reason}",
                        "amount": _money(event.amount, currency)}],
                      event.amount, ZERO, "refund", None)
            elif kind_of_event is Order.ReturnRefunded:
                issue(CREDIT_MEMO, projected,
                      [{"description": f"return refund: {event.return_id}",
                        "amount": _money(event.amount, currency)}],
                      event.amount, ZERO, "return_refund", event.return_id)
            elif kind_of_event is Order.AdjustmentAdded:
                issue(CREDIT_MEMO, projected,
                      [{"description": f"goodwill: {event.reason}",
                        "amount": _money(event.amount, currency)}],
                      event.amount, ZERO, "adjustment", event.adjustment_id)

        with conn.cursor() as cur:
            insert_rows(cur, schema, "orders", _ORDER_COLUMNS, new_orders,
                        "ON CONFLICT (order_id) DO NOTHING")
            insert_rows(cur, schema, "order_lines", _LINE_COLUMNS, new_lines,
                        "ON CONFLICT DO NOTHING")
            if documents:
                insert_rows(cur, schema, "documents", _DOCUMENT_COLUMNS, documents)
                cur.executemany(
                    sql.SQL("UPDATE {s}.counters SET value = %s WHERE name = %s").format(s=s),
                    [(value, name) for name, value in sorted(counters.items())],
                )


_ORDER_COLUMNS = (("order_id", "uuid"), ("customer_id", "uuid"), ("currency", "text"))
_LINE_COLUMNS = (("order_id", "uuid"), ("line_id", "text"), ("sku", "text"),
                 ("unit_price", "numeric"), ("tax_rate", "numeric"))
_DOCUMENT_COLUMNS = (
    ("number", "text"), ("ordinal", "bigint"), ("kind", "text"), ("order_id", "uuid"),
    ("customer_id", "uuid"), ("currency", "text"), ("lines", "jsonb"), ("subtotal", "numeric"),
    ("tax", "numeric"), ("total", "numeric"), ("issued_at", "timestamptz"), ("source", "text"),
    ("source_id", "uuid"), ("position", "bigint"),
)


_COLUMNS = (
    "number, ordinal, order_id, customer_id, kind, currency, lines, subtotal, tax, total,"
    " issued_at, source, source_id"
)


def _describe(row: tuple[Any, ...]) -> dict[str, Any]:
    (number, ordinal, order_id, customer_id, kind, currency, lines, subtotal, tax, total,
     issued_at, source, source_id) = row
    return {
        "number": number,
        "ordinal": ordinal,
        "order_id": str(order_id),
        "customer_id": str(customer_id),
        "kind": kind,
        "currency": currency,
        "lines": lines,
        "subtotal": _money(subtotal, currency),
        "tax": _money(tax, currency),
        "total": _money(total, currency),
        "issued_at": issued_at.isoformat(),
        "source": source,
        "source_id": None if source_id is None else str(source_id),
    }


def get_invoice(conn: psycopg.Connection[Any], schema: str, number: str) -> dict[str, Any] | None:
    """One invoice or credit memo by number, or None."""
    row = conn.execute(
        sql.SQL("SELECT {c} FROM {s}.documents WHERE number = %s").format(
            c=sql.SQL(_COLUMNS), s=sql.Identifier(schema)
        ),
        (number,),
    ).fetchone()
    return None if row is None else _describe(row)


def list_invoices(
    conn: psycopg.Connection[Any],
    schema: str,
    *,
    order_id: UUID | None = None,
    customer_id: UUID | None = None,
    issued_from: datetime | None = None,
    issued_to: datetime | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Documents matching the filters in issue order, after the ``ordinal`` cursor.

    ``issued_from`` is inclusive and ``issued_to`` exclusive, like the order list's range.
    """
    where: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    if order_id is not None:
        where.append(sql.SQL("order_id = %s"))
        params.append(order_id)
    if customer_id is not None:
        where.append(sql.SQL("customer_id = %s"))
        params.append(customer_id)
    if issued_from is not None:
        where.append(sql.SQL("issued_at >= %s"))
        params.append(issued_from)
    if issued_to is not None:
        where.append(sql.SQL("issued_at < %s"))
        params.append(issued_to)
    if after is not None:
        where.append(sql.SQL("ordinal > %s"))
        params.append(after)
    params.append(limit)
    query = sql.SQL(
        "SELECT {c} FROM {s}.documents WHERE {where} ORDER BY ordinal LIMIT %s"
    ).format(c=sql.SQL(_COLUMNS), s=sql.Identifier(schema),
             where=sql.SQL(" AND ").join(where))
    return [_describe(row) for row in conn.execute(query, params).fetchall()]
