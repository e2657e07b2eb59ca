"""Order status read model: one row per order, in the shape ``GET /v1/orders/{id}`` answers.

Rather than re-implement the order's rules (status, payment status, totals) in SQL, the
projection folds each order's events into the domain's own ``Order`` aggregate and stores
its description. The aggregates it folded are kept in memory as committed, so the next
batch continues from them; an order not in memory (after a restart, or evicted) is folded
again from its own events up to the version its row records. The read model keeps no copy
of the aggregate's state: encoding one per changed order per batch was the largest cost of
a rebuild, and a copy is one more place personal data could linger. The same ``describe``
function serves the as-of reconstruction, so live and historical answers share one shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import copy
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import sql

from application.aggregate_cache import copy_aggregate
from application.log_reader import events_up_to
from application.personal_data import REDACTED_ADDRESS
from application.transcoding import OrjsonTranscoder
from domain.order import Order
from projections.bulk import insert_rows
from projections.engine import ProjectedEvent
from projections.state import CommittedState

NAME = "order_status"

PERSONAL_STATE: dict[str, Any] = {"shipping_address": REDACTED_ADDRESS, "notes": []}


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot describe {type(value).__qualname__}")


def to_json(value: object) -> Any:
    """Plain JSON-compatible data (Decimals as strings) for jsonb columns and responses."""
    return orjson.loads(orjson.dumps(value, default=_json_default))


def describe(order: Order) -> dict[str, Any]:
    """The order as clients see it (API.md, ``GET /v1/orders/{id}``)."""
    totals = order.totals
    return {
        "id": order.id,
        "status": order.status.value,
        "payment_status": order.payment_status.value,
        "customer_id": order.customer_id,
        "channel": order.channel.value,
        "currency": order.currency,
        "placed_at": order.placed_at,
        "version": order.version,
        "lines": [
            {
                "line_id": line.line_id,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "tax_rate": line.tax_rate,
                "cancelled": line.cancelled,
                "shipped": line.shipped,
                "returned": line.returned,
                "backordered": line.backordered,
                "allocated": [
                    {"location_id": a.location_id, "quantity": a.quantity}
                    for a in line.allocations
                ],
            }
            for line in order.lines.values()
        ],
        "shipments": [
            {
                "shipment_id": s.shipment_id,
                "location_id": s.location_id,
                "carrier": s.carrier,
                "tracking_number": s.tracking_number,
                "status": s.status.value,
            }
            for s in order.shipments.values()
        ],
        "totals": {
            "ordered": totals.ordered,
            "cancelled": totals.cancelled,
            "tax": totals.tax,
            "captured": totals.captured,
            "refunded": totals.refunded,
            "balance_due": totals.balance_due,
        },
    }


class OrderStatusProjection:
    """Maintains ``orders`` and ``order_skus`` in its generation's schema."""

    name = NAME
    # µs per logged event rebuilding it alone (units: parallel_rebuild.DEFAULT_WEIGHT).
    rebuild_weight = 36
    # The events it reads; the engine decodes no others for it.
    handles: tuple[type, ...] = (Order.Event,)
    reads_personal: tuple[type, ...] = ()  # it never shows the address or notes

    # Indexes only its queries use (apply does not): a rebuild builds them once it has
    # filled the tables rather than keeping them up through every batch.
    query_indexes: tuple[str, ...] = (
        "CREATE INDEX IF NOT EXISTS orders_placed_idx ON {s}.orders (placed_at, order_id)",
        "CREATE INDEX IF NOT EXISTS orders_status_idx ON {s}.orders (status, placed_at)",
        "CREATE INDEX IF NOT EXISTS orders_customer_idx ON {s}.orders (customer_id, placed_at)",
        "CREATE INDEX IF NOT EXISTS orders_channel_idx ON {s}.orders (channel, placed_at)",
    )

    def __init__(self) -> None:
        self._mapper: Mapper[UUID] = Mapper(transcoder=OrjsonTranscoder())
        # Orders as committed, so a batch does not read and decode them back first.
        self._state: CommittedState[UUID, Order] = CommittedState()

    def create_tables(self, conn: psycopg.Connection[Any], schema: str) -> None:
        s = sql.Identifier(schema)
        conn.execute(
            sql.SQL(
                """
                CREATE TABLE {s}.orders (
                    order_id       uuid PRIMARY KEY,
                    customer_id    uuid NOT NULL,
                    channel        text NOT NULL,
                    status         text NOT NULL,
                    payment_status text NOT NULL,
                    currency       text NOT NULL,
                    placed_at      timestamptz NOT NULL,
                    version        bigint NOT NULL,
                    position       bigint NOT NULL,
                    view           jsonb NOT NULL
                );
                CREATE TABLE {s}.order_skus (
                    sku      text NOT NULL,
                    order_id uuid NOT NULL,
                    PRIMARY KEY (sku, order_id)
                );
                """
            ).format(s=s)
        )

    def apply(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        touched = [e for e in events if isinstance(e.event, self.handles)]
        if not touched:
            return
        orders = self._orders_before(conn, schema, touched)
        positions: dict[UUID, int] = {}
        placed: list[UUID] = []
        for projected in touched:
            event: Any = projected.event
            order = orders.get(event.originator_id)
            if order is not None and event.originator_version <= order.version:
                continue  # already folded in (a snapshot can be ahead of the batch start)
            if order is None:
                placed.append(event.originator_id)
            orders[event.originator_id] = event.mutate(order)
            positions[event.originator_id] = projected.logged.position
        rows = []
        for order_id, position in positions.items():
            order = orders[order_id]
            rows.append((
                order.id, order.customer_id, order.channel.value, order.status.value,
                order.payment_status.value, order.currency, order.placed_at, order.version,
                position, orjson.dumps(describe(order), default=_json_default).decode(),
            ))
            self._state.put(schema, order_id, order)
        skus = [(line.sku, order_id) for order_id in placed
                for line in orders[order_id].lines.values()]
        with conn.cursor() as cur:
            insert_rows(cur, schema, "orders", _ORDER_COLUMNS, rows,
                        "ON CONFLICT (order_id) DO UPDATE SET status = excluded.status,"
                        " payment_status = excluded.payment_status, version = excluded.version,"
                        " position = excluded.position, view = excluded.view")
            insert_rows(cur, schema, "order_skus", _SKU_COLUMNS, skus, "ON CONFLICT DO NOTHING")

    def _orders_before(
        self, conn: psycopg.Connection[Any], schema: str, touched: Sequence[ProjectedEvent]
    ) -> dict[UUID, Order]:
        """The touched orders as earlier batches left them (copies, to fold this batch into):
        from memory when this process applied those batches, else folded again from their
        events up to the versions their rows record."""
        known, unknown = self._state.known(
            schema, dict.fromkeys(e.event.originator_id for e in touched))
        orders = {order_id: copy_aggregate(order) for order_id, order in known.items()}
        if unknown:
            rows = conn.execute(
                sql.SQL("SELECT order_id, version FROM {s}.orders WHERE order_id = ANY(%b)")
                .format(s=sql.Identifier(schema)),
                (unknown,),
            ).fetchall()
            for originator_id, version, topic, state in events_up_to(conn, dict(rows)):
                event: Any = self._mapper.to_domain_event(
                    StoredEvent(originator_id, version, topic, state)
                )
                orders[originator_id] = event.mutate(orders.get(originator_id))
            for order_id, _ in rows:
                # Sealed boxes, not values, since the events were read without keys; this
                # read model never shows either.
                for name, blank in PERSONAL_STATE.items():
                    setattr(orders[order_id], name, copy(blank))
        return orders

    def settled(self, schema: str, committed: bool) -> None:
        self._state.settled(schema, committed)


_ORDER_COLUMNS = (
    ("order_id", "uuid"), ("customer_id", "uuid"), ("channel", "text"), ("status", "text"),
    ("payment_status", "text"), ("currency", "text"), ("placed_at", "timestamptz"),
    ("version", "bigint"), ("position", "bigint"), ("view", "jsonb"),
)
_SKU_COLUMNS = (("sku", "text"), ("order_id", "uuid"))


def get_order(conn: psycopg.Connection[Any], schema: str, order_id: UUID) -> Any | None:
    """The order's description as last projected, or None."""
    row = conn.execute(
        sql.SQL("SELECT view FROM {s}.orders WHERE order_id = %s").format(
            s=sql.Identifier(schema)
        ),
        (order_id,),
    ).fetchone()
    return None if row is None else row[0]


def list_orders(
    conn: psycopg.Connection[Any],
    schema: str,
    *,
    status: str | None = None,
    customer_id: UUID | None = None,
    channel: str | None = None,
    sku: str | None = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
    after: tuple[datetime, UUID] | None = None,
    limit: int = 50,
) -> list[Any]:
    """Orders matching the filters, oldest first, after the ``(placed_at, id)`` cursor."""
    s = sql.Identifier(schema)
    where: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    for column, value in (("status", status), ("customer_id", customer_id),
                          ("channel", channel)):
        if value is not None:
            where.append(sql.SQL("o.{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if sku is not None:
        where.append(sql.SQL("o.order_id IN (SELECT order_id FROM {s}.order_skus"
                             " WHERE sku = %s)").format(s=s))
        params.append(sku)
    if placed_from is not None:
        where.append(sql.SQL("o.placed_at >= %s"))
        params.append(placed_from)
    if placed_to is not None:
        where.append(sql.SQL("o.placed_at < %s"))
        params.append(placed_to)
    if after is not None:
        where.append(sql.SQL("(o.placed_at, o.order_id) > (%s, %s)"))
        params.extend(after)
    params.append(limit)
    query = sql.SQL(
        "SELECT view FROM {s}.orders o WHERE {where} ORDER BY o.placed_at, o.order_id LIMIT %s"
    ).format(s=s, where=sql.SQL(" AND ").join(where))
    return [row[0] for row in conn.execute(query, params).fetchall()]
