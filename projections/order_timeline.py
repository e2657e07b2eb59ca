"""Order timeline read model: everything that happened to one order, in log order, in words.

Care agents and auditors ask "what happened to this order, who did it, and why?". The answer
is the order's own events plus the stock movements made on its behalf (reservations, releases,
consumptions by shipments, restocks from returns), which live on ``InventoryItem`` aggregates
but carry the ``order_id``. Each becomes one row with the envelope columns copied from the log
(who, role, channel, reason, command) and a one-line ``summary`` written for people.

Summaries name SKUs, locations, currencies, hold types and parcels, which most events only
refer to by id, so the projection keeps small lookup tables (an order's currency and line
SKUs from ``Order.Placed``, an inventory item's SKU and location from
``InventoryItem.Created``, labels for holds, shipments and returns). They are filled from
the log like everything else, so a rebuild writes identical rows. Events of other aggregates
and event types it does not know are ignored; an order event it has no wording for still
appears, with a generic summary, because the timeline must show every fact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg import sql

from application.log_reader import LoggedEvent
from domain.inventory import InventoryItem
from domain.money import round_money
from domain.order import Order
from domain.order_values import ReturnedLine
from projections.engine import ProjectedEvent

NAME = "order_timeline"

# Stock movements that belong to an order's timeline (they carry ``order_id``).
_ORDER_STOCK_EVENTS = (
    InventoryItem.Reserved,
    InventoryItem.Released,
    InventoryItem.Consumed,
    InventoryItem.Restocked,
)


def event_type(event: object) -> str:
    """``Order.LinesCancelled``, ``InventoryItem.Reserved``: the class as it is nested."""
    return type(event).__qualname__


class _Units(Protocol):
    @property
    def line_id(self) -> str: ...

    @property
    def quantity(self) -> int: ...


@dataclass
class _Batch:
    """What one batch needs to word its events: lookups loaded from the tables, extended by
    the batch's own events in log order, and the rows the batch adds."""

    currency: dict[UUID, str] = field(default_factory=dict)
    skus: dict[tuple[UUID, str], str] = field(default_factory=dict)
    labels: dict[tuple[UUID, UUID], str] = field(default_factory=dict)
    items: dict[UUID, tuple[str, str]] = field(default_factory=dict)
    new_orders: list[tuple[UUID, str]] = field(default_factory=list)
    new_lines: list[tuple[UUID, str, str]] = field(default_factory=list)
    new_labels: list[tuple[UUID, UUID, str]] = field(default_factory=list)
    new_items: list[tuple[UUID, str, str]] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)

    def label(self, order_id: UUID, ref_id: UUID, text: str) -> None:
        self.labels[(order_id, ref_id)] = text
        self.new_labels.append((order_id, ref_id, text))

    def label_of(self, order_id: UUID, ref_id: UUID, kind: str) -> str:
        return self.labels.get((order_id, ref_id), f"{kind} {str(ref_id)[:8]}")

    def sku(self, order_id: UUID, line_id: str) -> str:
        return self.skus.get((order_id, line_id), f"line {line_id}")

    def units(self, order_id: UUID, lines: Iterable[_Units]) -> str:
        """``2 × JEANS-32, 1 × BELT-1``."""
        return ", ".join(f"{q.quantity} × {self.sku(order_id, q.line_id)}" for q in lines)

    def money(self, order_id: UUID, amount: Decimal) -> str:
        """``EUR 138.80``."""
        currency = self.currency.get(order_id)
        if currency is None:
            return str(amount)
        return f"{currency} {round_money(amount, currency)}"

    def where(self, item_id: UUID) -> tuple[str, str]:
        """(sku, location) of an inventory item."""
        return self.items.get(item_id, (f"item {str(item_id)[:8]}", "an unknown location"))


# --- wording: one function per event type; each returns the part after "actor (role)" -------

Words = Callable[[_Batch, Any], str]


def _placed(b: _Batch, e: Order.Placed) -> str:
    b.currency[e.originator_id] = e.currency
    b.new_orders.append((e.originator_id, e.currency))
    for line in e.lines:
        b.skus[(e.originator_id, line.line_id)] = line.sku
        b.new_lines.append((e.originator_id, line.line_id, line.sku))
    total = sum((line.quantity * line.unit_price for line in e.lines), Decimal(0))
    text = f"placed order: {b.units(e.originator_id, e.lines)} ({b.money(e.originator_id, total)})"
    backordered = [line for line in e.lines if line.backordered]
    if backordered:
        text += "; backordered " + ", ".join(
            f"{line.backordered} × {line.sku}" for line in backordered
        )
    return text


def _cancelled(b: _Batch, e: Order.LinesCancelled) -> str:
    return f"cancelled {b.units(e.originator_id, e.lines)}"


def _backorder_allocated(b: _Batch, e: Order.BackorderAllocated) -> str:
    sku = b.sku(e.originator_id, e.line_id)
    return f"allocated backordered {e.quantity} × {sku} at {e.location_id}"


def _hold_placed(b: _Batch, e: Order.HoldPlaced) -> str:
    b.label(e.originator_id, e.hold_id, f"{e.type} hold")
    return f"placed a {e.type} hold"


def _hold_released(b: _Batch, e: Order.HoldReleased) -> str:
    return f"released the {b.label_of(e.originator_id, e.hold_id, 'hold')}"


def _rejected(b: _Batch, e: Order.Rejected) -> str:
    hold = b.label_of(e.originator_id, e.hold_id, "hold")
    cancelled = f", cancelling {b.units(e.originator_id, e.lines)}" if e.lines else ""
    return f"rejected the order on the {hold}{cancelled}"


def _authorized(b: _Batch, e: Order.PaymentAuthorized) -> str:
    amount = b.money(e.originator_id, e.amount)
    return f"recorded a payment authorization of {amount} by {e.provider} ({e.reference})"


def _authorization_failed(b: _Batch, e: Order.AuthorizationFailed) -> str:
    return f"recorded a failed payment authorization by {e.provider}"


def _captured(b: _Batch, e: Order.PaymentCaptured) -> str:
    return f"captured {b.money(e.originator_id, e.amount)}"


def _voided(b: _Batch, e: Order.AuthorizationVoided) -> str:
    return f"voided the remaining authorization of {b.money(e.originator_id, e.amount)}"


def _refunded(b: _Batch, e: Order.PaymentRefunded) -> str:
    return f"refunded {b.money(e.originator_id, e.amount)}"


def _shipped(b: _Batch, e: Order.Shipped) -> str:
    parcel = f"{e.carrier} {e.tracking_number}"
    b.label(e.originator_id, e.shipment_id, f"shipment {parcel}")
    return f"shipped {b.units(e.originator_id, e.lines)} from {e.location_id} ({parcel})"


def _delivered(b: _Batch, e: Order.Delivered) -> str:
    return f"marked {b.label_of(e.originator_id, e.shipment_id, 'shipment')} delivered"


def _delivery_exception(b: _Batch, e: Order.DeliveryExceptionRecorded) -> str:
    shipment = b.label_of(e.originator_id, e.shipment_id, "shipment")
    return f"reported {shipment} {e.kind}: {e.detail}"


def _address_changed(b: _Batch, e: Order.ShippingAddressChanged) -> str:
    # Never the address itself: personal data stays out of read models that outlive erasure.
    return "changed the shipping address"


def _return_requested(b: _Batch, e: Order.ReturnRequested) -> str:
    units = b.units(e.originator_id, e.lines)
    b.label(e.originator_id, e.return_id, f"return of {units}")
    return f"requested a return of {units}"


def _return_approved(b: _Batch, e: Order.ReturnApproved) -> str:
    return f"approved the {b.label_of(e.originator_id, e.return_id, 'return')}"


def _return_rejected(b: _Batch, e: Order.ReturnRejected) -> str:
    return f"rejected the {b.label_of(e.originator_id, e.return_id, 'return')}"


def _return_received(b: _Batch, e: Order.ReturnReceived) -> str:
    received = ", ".join(_returned(b, e.originator_id, line) for line in e.lines)
    return f"received {received} back at {e.location_id}"


def _returned(b: _Batch, order_id: UUID, line: ReturnedLine) -> str:
    return f"{line.quantity} × {b.sku(order_id, line.line_id)} ({line.condition})"


def _return_refunded(b: _Batch, e: Order.ReturnRefunded) -> str:
    ret = b.label_of(e.originator_id, e.return_id, "return")
    return f"refunded {b.money(e.originator_id, e.amount)} for the {ret}"


def _adjustment(b: _Batch, e: Order.AdjustmentAdded) -> str:
    return f"credited {b.money(e.originator_id, e.amount)} goodwill"


def _note(b: _Batch, e: Order.NoteAdded) -> str:
    # The text is personal data kept sealed in the log (care dashboard, order page);
    # a summary copied into this table would outlive an erasure.
    return "added a note"


ORDER_WORDS: dict[type[Any], Words] = {
    Order.Placed: _placed,
    Order.LinesCancelled: _cancelled,
    Order.BackorderAllocated: _backorder_allocated,
    Order.HoldPlaced: _hold_placed,
    Order.HoldReleased: _hold_released,
    Order.Rejected: _rejected,
    Order.PaymentAuthorized: _authorized,
    Order.AuthorizationFailed: _authorization_failed,
    Order.PaymentCaptured: _captured,
    Order.AuthorizationVoided: _voided,
    Order.PaymentRefunded: _refunded,
    Order.Shipped: _shipped,
    Order.Delivered: _delivered,
    Order.DeliveryExceptionRecorded: _delivery_exception,
    Order.ShippingAddressChanged: _address_changed,
    Order.ReturnRequested: _return_requested,
    Order.ReturnApproved: _return_approved,
    Order.ReturnRejected: _return_rejected,
    Order.ReturnReceived: _return_received,
    Order.ReturnRefunded: _return_refunded,
    Order.AdjustmentAdded: _adjustment,
    Order.NoteAdded: _note,
}

STOCK_VERBS: dict[type[Any], str] = {
    InventoryItem.Reserved: "reserved",
    InventoryItem.Released: "released",
    InventoryItem.Consumed: "consumed",
    InventoryItem.Restocked: "restocked",
}


def _order_summary(b: _Batch, logged: LoggedEvent, event: Any) -> str:
    """``ana (agent) cancelled 1 × JEANS-32 — customer changed their mind``."""
    words = ORDER_WORDS.get(type(event))
    text = words(b, event) if words else event_type(event)
    reason = logged.reason or getattr(event, "reason", None)
    suffix = f" — {reason}" if reason else ""
    return f"{logged.actor} ({logged.actor_role}) {text}{suffix}"


def _stock_summary(b: _Batch, event: Any) -> str:
    """``reserved 2 × JEANS-32 at berlin-dc``: a consequence of the order event before it, so
    the actor is not repeated."""
    sku, location_id = b.where(event.originator_id)
    verb = STOCK_VERBS.get(type(event), event_type(event))
    return f"{verb} {event.quantity} × {sku} at {location_id}"


# --- the projection -----------------------------------------------------------------------


class OrderTimelineProjection:
    """Maintains ``entries`` and its lookups (``orders``, ``lines``, ``labels``, ``items``)."""

    name = NAME
    # µs per logged event rebuilding it alone (units: parallel_rebuild.DEFAULT_WEIGHT).
    rebuild_weight = 33
    # The events it reads; the engine decodes no others for it.
    handles: tuple[type, ...] = (Order.Event, InventoryItem.Created, *_ORDER_STOCK_EVENTS)
    reads_personal: tuple[type, ...] = ()  # summaries never quote personal data

    def create_tables(self, conn: psycopg.Connection[Any], schema: str) -> None:
        conn.execute(
            sql.SQL(
                """
                CREATE TABLE {s}.entries (
                    order_id        uuid        NOT NULL,
                    log_transaction bigint      NOT NULL,
                    position        bigint      NOT NULL,
                    recorded_at     timestamptz NOT NULL,
                    type            text        NOT NULL,
                    actor           text        NOT NULL,
                    role            text        NOT NULL,
                    channel         text        NOT NULL,
                    reason          text,
                    summary         text        NOT NULL,
                    command_id      uuid        NOT NULL,
                    PRIMARY KEY (order_id, log_transaction, position)
                );
                CREATE TABLE {s}.orders (
                    order_id uuid PRIMARY KEY,
                    currency text NOT NULL
                );
                CREATE TABLE {s}.lines (
                    order_id uuid NOT NULL,
                    line_id  text NOT NULL,
                    sku      text NOT NULL,
                    PRIMARY KEY (order_id, line_id)
                );
                CREATE TABLE {s}.labels (
                    order_id uuid NOT NULL,
                    ref_id   uuid NOT NULL,
                    label    text NOT NULL,
                    PRIMARY KEY (order_id, ref_id)
                );
                CREATE TABLE {s}.items (
                    item_id     uuid PRIMARY KEY,
                    sku         text NOT NULL,
                    location_id text NOT NULL
                );
                """
            ).format(s=sql.Identifier(schema))
        )

    def apply(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        relevant = [
            p for p in events
            if isinstance(p.event, self.handles)
        ]
        if not relevant:
            return
        s = sql.Identifier(schema)
        batch = self._load(conn, s, relevant)
        for projected in relevant:
            logged = projected.logged
            event: Any = projected.event
            if isinstance(event, InventoryItem.Created):
                where = (event.sku, event.location_id)
                batch.items[event.originator_id] = where
                batch.new_items.append((event.originator_id, *where))
                continue
            if isinstance(event, Order.Event):
                order_id = event.originator_id
                summary = _order_summary(batch, logged, event)
            else:
                order_id = event.order_id
                summary = _stock_summary(batch, event)
            batch.entries.append((
                order_id, logged.transaction, logged.position, logged.recorded_at,
                event_type(event), logged.actor, logged.actor_role, logged.channel,
                logged.reason, summary, logged.command_id,
            ))
        self._save(conn, s, batch)

    @staticmethod
    def _load(
        conn: psycopg.Connection[Any], s: sql.Identifier, relevant: Sequence[ProjectedEvent]
    ) -> _Batch:
        """Lookups for the orders and items this batch mentions that earlier batches stored."""
        batch = _Batch()
        order_ids: set[UUID] = set()
        item_ids: set[UUID] = set()
        for p in relevant:
            event: Any = p.event
            if isinstance(event, Order.Event) and not isinstance(event, Order.Placed):
                order_ids.add(event.originator_id)
            elif isinstance(event, _ORDER_STOCK_EVENTS):
                order_ids.add(event.order_id)
                item_ids.add(event.originator_id)
        if order_ids:
            ids = list(order_ids)
            params = (ids,)
            for order_id, currency in conn.execute(
                sql.SQL("SELECT order_id, currency FROM {s}.orders WHERE order_id = ANY(%b)")
                .format(s=s), params,
            ):
                batch.currency[order_id] = currency
            for order_id, line_id, sku in conn.execute(
                sql.SQL("SELECT order_id, line_id, sku FROM {s}.lines WHERE order_id = ANY(%b)")
                .format(s=s), params,
            ):
                batch.skus[(order_id, line_id)] = sku
            for order_id, ref_id, label in conn.execute(
                sql.SQL("SELECT order_id, ref_id, label FROM {s}.labels"
                        " WHERE order_id = ANY(%b)").format(s=s), params,
            ):
                batch.labels[(order_id, ref_id)] = label
        if item_ids:
            for item_id, sku, location_id in conn.execute(
                sql.SQL("SELECT item_id, sku, location_id FROM {s}.items WHERE item_id = ANY(%b)")
                .format(s=s), (list(item_ids),),
            ):
                batch.items[item_id] = (sku, location_id)
        return batch

    @staticmethod
    def _save(conn: psycopg.Connection[Any], s: sql.Identifier, batch: _Batch) -> None:
        # COPY: the rows are new (each event is applied exactly once), so no conflict handling
        # is needed, and it is the fastest way in; a duplicate would fail the batch loudly.
        # Binary, with the columns' types declared: psycopg then writes each value with its
        # binary dumper, a fraction of the client's time for text (a UUID or a timestamp is
        # formatted as text in Python), and PostgreSQL parses less.
        with conn.cursor() as cur:
            for table, rows in (
                ("orders", batch.new_orders),
                ("lines", batch.new_lines),
                ("labels", batch.new_labels),
                ("items", batch.new_items),
                ("entries", batch.entries),
            ):
                if not rows:
                    continue
                columns = _COLUMNS[table]
                copy = sql.SQL("COPY {s}.{t} ({c}) FROM STDIN (FORMAT binary)").format(
                    s=s, t=sql.Identifier(table),
                    c=sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns),
                )
                with cur.copy(copy) as writer:
                    writer.set_types([kind for _, kind in columns])
                    for row in rows:
                        writer.write_row(row)


# Each table's columns as the batch's rows hold them: (name, PostgreSQL type).
_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "orders": (("order_id", "uuid"), ("currency", "text")),
    "lines": (("order_id", "uuid"), ("line_id", "text"), ("sku", "text")),
    "labels": (("order_id", "uuid"), ("ref_id", "uuid"), ("label", "text")),
    "items": (("item_id", "uuid"), ("sku", "text"), ("location_id", "text")),
    "entries": (("order_id", "uuid"), ("log_transaction", "int8"), ("position", "int8"),
                ("recorded_at", "timestamptz"), ("type", "text"), ("actor", "text"),
                ("role", "text"), ("channel", "text"), ("reason", "text"), ("summary", "text"),
                ("command_id", "uuid")),
}


# --- queries ------------------------------------------------------------------------------


def order_exists(conn: psycopg.Connection[Any], schema: str, order_id: UUID) -> bool:
    row = conn.execute(
        sql.SQL("SELECT 1 FROM {s}.orders WHERE order_id = %s").format(s=sql.Identifier(schema)),
        (order_id,),
    ).fetchone()
    return row is not None


def timeline_page(
    conn: psycopg.Connection[Any],
    schema: str,
    order_id: UUID,
    *,
    after: tuple[int, int] | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    """Up to ``limit`` of the order's entries in log order after the ``(transaction,
    position)`` cursor, and the cursor to continue from (None on the last page)."""
    where = sql.SQL("order_id = %s")
    params: list[Any] = [order_id]
    if after is not None:
        where = sql.SQL("order_id = %s AND (log_transaction, position) > (%s, %s)")
        params.extend(after)
    params.append(limit + 1)
    rows = conn.execute(
        sql.SQL(
            "SELECT log_transaction, position, recorded_at, type, actor, role, channel, reason,"
            " summary, command_id FROM {s}.entries WHERE {where}"
            " ORDER BY log_transaction, position LIMIT %s"
        ).format(s=sql.Identifier(schema), where=where),
        params,
    ).fetchall()
    items = [
        {
            "position": position,
            "recorded_at": recorded_at.astimezone(UTC).isoformat(),
            "type": type_,
            "actor": actor,
            "role": role,
            "channel": channel,
            "reason": reason,
            "summary": summary,
            "command_id": str(command_id),
        }
        for (_, position, recorded_at, type_, actor, role, channel, reason, summary,
             command_id) in rows[:limit]
    ]
    more = len(rows) > limit
    return items, (int(rows[limit - 1][0]), int(rows[limit - 1][1])) if more else None
