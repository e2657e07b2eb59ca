"""Care read model: the customer dashboard and the agents' work queue.

Care agents need two views the order status read model does not give: everything about one
customer on one screen (profile, orders, money, open returns, notes, consents) and a queue of
orders that need a person (open holds, failed payment authorizations, delivery exceptions,
old backorders, returns awaiting a decision or the goods).

Each order's care-relevant state is a small JSON document (``orders.state``) folded from its
events in Python; a batch loads the state of the orders it touches in one query, folds all
their events in log order, and writes the orders back, then replaces those orders' queue
items and open returns with what the new state says. Queue items are therefore a pure
function of the log, which keeps rebuilds identical and makes "an item disappears when it is
resolved" hold by construction. The queue stores a backorder's ``since`` (when the order was
recorded) and leaves the age test to the query, which compares it with the database's
``now()``: an item becomes due without any new event.

Personal data is erased here as in the aggregate: after ``ErasureRequested`` the customer's
name, email, phone, addresses and notes are gone from this read model too. Masking for
analysts is the interface's job (``mask_dashboard``), so one read model serves every role.

``lifetime_value`` is captured minus refunded over the customer's orders, one decimal string
per currency (``{"EUR": "59.90"}``): sums across currencies would be meaningless.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg import sql

from domain.customer import Customer
from domain.money import ZERO, round_money
from domain.order import Order
from projections.bulk import insert_rows
from projections.engine import ProjectedEvent
from projections.state import CommittedState

NAME = "care"

MASK = "•••"
DEFAULT_BACKORDER_AGE = timedelta(days=2)

_ORDER_EVENTS: frozenset[type[Any]] = frozenset({
    Order.Placed, Order.LinesCancelled, Order.BackorderAllocated, Order.HoldPlaced,
    Order.HoldReleased, Order.Rejected, Order.PaymentAuthorized, Order.AuthorizationFailed,
    Order.PaymentCaptured, Order.PaymentRefunded, Order.Shipped, Order.Delivered,
    Order.DeliveryExceptionRecorded, Order.ReturnRequested, Order.ReturnApproved,
    Order.ReturnRejected, Order.ReturnReceived, Order.ReturnRefunded,
})
_CUSTOMER_EVENTS: frozenset[type[Any]] = frozenset({
    Customer.Registered, Customer.AddressAdded, Customer.AddressChanged,
    Customer.AddressRemoved, Customer.ConsentGranted, Customer.ConsentWithdrawn,
    Customer.NoteAdded, Customer.ErasureRequested,
})


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _address(address: Any) -> dict[str, Any]:
    return {
        "name": address.name, "line1": address.line1, "line2": address.line2,
        "city": address.city, "postal_code": address.postal_code, "country": address.country,
    }


# --- order state ------------------------------------------------------------------------------
#
# {"lines": {line_id: {"sku", "q", "p", "r", "c", "s", "b"}},   quantities and price/tax rate
#  "holds": {hold_id: {"type", "reason", "since"}},              open holds only
#  "shipments": {shipment_id: {"delivered", "exception"}},       exception: {kind, detail, since}
#  "failure": {"provider", "reason", "since"} | None,            unresolved authorization failure
#  "returns": {return_id: {"status", "reason", "since", "requested_at", "lines"}},  open only
#  "captured": "0.00", "refunded": "0.00", "recorded_at": "..."}


def _new_state(event: Any, recorded_at: datetime) -> dict[str, Any]:
    return {
        "lines": {
            line.line_id: {
                "sku": line.sku, "q": line.quantity, "p": str(line.unit_price),
                "r": str(line.tax_rate), "c": 0, "s": 0, "b": line.backordered,
            }
            for line in event.lines
        },
        "holds": {},
        "shipments": {},
        "failure": None,
        "returns": {},
        "captured": "0",
        "refunded": "0",
        "recorded_at": _iso(recorded_at),
    }


def _cancel(state: dict[str, Any], cancelled: Sequence[Any]) -> None:
    for c in cancelled:
        line = state["lines"][c.line_id]
        line["c"] += c.quantity
        line["b"] -= c.backordered


def _add(state: dict[str, Any], key: str, amount: Decimal) -> None:
    state[key] = str(Decimal(state[key]) + amount)


def _fold(state: dict[str, Any], event: Any, at: str) -> None:
    """Apply one order event (not ``Placed``) to the order's care state."""
    kind = type(event)
    if kind is Order.LinesCancelled:
        _cancel(state, event.lines)
    elif kind is Order.BackorderAllocated:
        state["lines"][event.line_id]["b"] -= event.quantity
    elif kind is Order.HoldPlaced:
        state["holds"][str(event.hold_id)] = {
            "type": str(event.type), "reason": event.reason, "since": at,
        }
    elif kind is Order.HoldReleased:
        state["holds"].pop(str(event.hold_id), None)
    elif kind is Order.Rejected:
        state["holds"].pop(str(event.hold_id), None)
        _cancel(state, event.lines)
    elif kind is Order.PaymentAuthorized:
        state["failure"] = None
    elif kind is Order.AuthorizationFailed:
        since = state["failure"]["since"] if state["failure"] else at
        state["failure"] = {"provider": event.provider, "reason": event.reason, "since": since}
    elif kind is Order.PaymentCaptured:
        _add(state, "captured", event.amount)
    elif kind is Order.PaymentRefunded:
        _add(state, "refunded", event.amount)
    elif kind is Order.Shipped:
        for q in event.lines:
            state["lines"][q.line_id]["s"] += q.quantity
        state["shipments"][str(event.shipment_id)] = {"delivered": False, "exception": None}
    elif kind is Order.Delivered:
        state["shipments"][str(event.shipment_id)] = {"delivered": True, "exception": None}
    elif kind is Order.DeliveryExceptionRecorded:
        shipment = state["shipments"][str(event.shipment_id)]
        since = shipment["exception"]["since"] if shipment["exception"] else at
        shipment["exception"] = {"kind": str(event.kind), "detail": event.detail, "since": since}
    elif kind is Order.ReturnRequested:
        state["returns"][str(event.return_id)] = {
            "status": "requested", "reason": event.reason, "since": at, "requested_at": at,
            "lines": [{"line_id": q.line_id, "quantity": q.quantity} for q in event.lines],
        }
    elif kind is Order.ReturnApproved:
        ret = state["returns"].get(str(event.return_id))
        if ret is not None:
            ret["status"] = "approved"
            ret["since"] = at
    elif kind in (Order.ReturnRejected, Order.ReturnReceived):
        state["returns"].pop(str(event.return_id), None)
    elif kind is Order.ReturnRefunded:
        _add(state, "refunded", event.amount)


def _status(state: dict[str, Any]) -> str:
    """The order's status by the same rules as ``Order.status`` (API.md)."""
    if state["holds"]:
        return "on_hold"
    lines = state["lines"].values()
    if all(line["c"] == line["q"] for line in lines):
        return "cancelled"
    if sum(line["s"] for line in lines) == 0:
        return "open"
    if any(line["q"] - line["c"] - line["s"] > 0 for line in lines):
        return "partially_shipped"
    if all(s["delivered"] for s in state["shipments"].values()):
        return "delivered"
    return "shipped"


def _total(state: dict[str, Any], currency: str) -> Decimal:
    """Ordered − cancelled + tax, with tax rounded per line like ``Order.totals``."""
    ordered = cancelled = tax = ZERO
    for line in state["lines"].values():
        price, rate = Decimal(line["p"]), Decimal(line["r"])
        ordered += line["q"] * price
        cancelled += line["c"] * price
        tax += round_money((line["q"] - line["c"]) * price * rate, currency)
    return round_money(ordered, currency) - round_money(cancelled, currency) + tax


def _queue_items(
    order_id: UUID, customer_id: UUID, state: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """The queue rows an order's state calls for: (key, order, customer, kind, reason, since)."""
    items: list[tuple[Any, ...]] = []
    for hold_id, hold in state["holds"].items():
        items.append((f"hold:{hold_id}", order_id, customer_id, "hold",
                      f"hold: {hold['type']} — {hold['reason']}", hold["since"]))
    failure = state["failure"]
    # A failed authorization stops mattering once nothing is left to pay for.
    cancelled = all(line["c"] == line["q"] for line in state["lines"].values())
    if failure is not None and not cancelled:
        items.append((f"payment:{order_id}", order_id, customer_id, "payment_failure",
                      f"payment authorization failed: {failure['provider']} — "
                      f"{failure['reason']}", failure["since"]))
    for shipment_id, shipment in state["shipments"].items():
        exception = shipment["exception"]
        if exception is not None and not shipment["delivered"]:
            items.append((f"delivery:{shipment_id}", order_id, customer_id,
                          "delivery_exception",
                          f"delivery exception: {exception['kind']} — {exception['detail']}",
                          exception["since"]))
    backordered = {lid: line["b"] for lid, line in state["lines"].items() if line["b"] > 0}
    if backordered:
        units = sum(backordered.values())
        items.append((f"backorder:{order_id}", order_id, customer_id, "backorder",
                      f"backorder: {units} unit{'s' if units != 1 else ''} on line"
                      f"{'s' if len(backordered) != 1 else ''} {', '.join(backordered)}",
                      state["recorded_at"]))
    for return_id, ret in state["returns"].items():
        awaiting = "approval" if ret["status"] == "requested" else "receipt"
        items.append((f"return:{return_id}", order_id, customer_id, f"return_{awaiting}",
                      f"return awaiting {awaiting}: {ret['reason']}", ret["since"]))
    return items


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


_CUSTOMER_COLUMNS = (
    ("customer_id", "uuid"), ("name", "text"), ("email", "text"), ("phone", "text"),
    ("addresses", "jsonb"), ("consent_email", "boolean"), ("consent_sms", "boolean"),
    ("erased", "boolean"), ("registered_at", "timestamptz"), ("position", "bigint"),
)
_NOTE_COLUMNS = (
    ("customer_id", "uuid"), ("note_id", "uuid"), ("text", "text"), ("author", "text"),
    ("at", "timestamptz"), ("position", "bigint"),
)
_ORDER_COLUMNS = (
    ("order_id", "uuid"), ("customer_id", "uuid"), ("currency", "text"),
    ("placed_at", "timestamptz"), ("status", "text"), ("total", "numeric"),
    ("captured", "numeric"), ("refunded", "numeric"), ("position", "bigint"),
    ("state", "jsonb"),
)
_RETURN_COLUMNS = (
    ("return_id", "uuid"), ("order_id", "uuid"), ("customer_id", "uuid"), ("status", "text"),
    ("reason", "text"), ("requested_at", "timestamptz"), ("lines", "jsonb"),
)
_QUEUE_COLUMNS = (
    ("item_key", "text"), ("order_id", "uuid"), ("customer_id", "uuid"), ("kind", "text"),
    ("reason", "text"), ("since", "timestamptz"),
)


class CareProjection:
    """Maintains ``customers``, ``customer_notes``, ``orders``, ``open_returns`` and ``queue``."""

    name = NAME
    # µs per logged event rebuilding it alone (units: parallel_rebuild.DEFAULT_WEIGHT).
    rebuild_weight = 35
    # The events it reads; the engine decodes no others for it.
    handles: tuple[type, ...] = (*_ORDER_EVENTS, *_CUSTOMER_EVENTS)
    # Customers' names, contacts, addresses and notes; nothing personal of orders.
    reads_personal: tuple[type, ...] = tuple(_CUSTOMER_EVENTS)

    # Indexes only its queries use (apply does not): a rebuild builds them once it has
    # filled the tables rather than keeping them up through every batch.
    query_indexes: tuple[str, ...] = (
        "CREATE INDEX IF NOT EXISTS orders_customer_idx ON {s}.orders (customer_id, placed_at)",
        "CREATE INDEX IF NOT EXISTS open_returns_customer_idx"
        " ON {s}.open_returns (customer_id, requested_at)",
        "CREATE INDEX IF NOT EXISTS queue_since_idx ON {s}.queue (since, item_key)",
    )

    def __init__(self) -> None:
        # Orders' care state as committed, so a batch does not read and parse it back first.
        self._orders: CommittedState[UUID, dict[str, Any]] = CommittedState()

    def create_tables(self, conn: psycopg.Connection[Any], schema: str) -> None:
        s = sql.Identifier(schema)
        conn.execute(
            sql.SQL(
                """
                CREATE TABLE {s}.customers (
                    customer_id   uuid PRIMARY KEY,
                    name          text,
                    email         text,
                    phone         text,
                    addresses     jsonb   NOT NULL,
                    consent_email boolean NOT NULL,
                    consent_sms   boolean NOT NULL,
                    erased        boolean NOT NULL,
                    registered_at timestamptz NOT NULL,
                    position      bigint  NOT NULL
                );
                CREATE TABLE {s}.customer_notes (
                    customer_id uuid        NOT NULL,
                    note_id     uuid        NOT NULL,
                    text        text        NOT NULL,
                    author      text        NOT NULL,
                    at          timestamptz NOT NULL,
                    position    bigint      NOT NULL,
                    PRIMARY KEY (customer_id, note_id)
                );
                CREATE TABLE {s}.orders (
                    order_id    uuid PRIMARY KEY,
                    customer_id uuid        NOT NULL,
                    currency    text        NOT NULL,
                    placed_at   timestamptz NOT NULL,
                    status      text        NOT NULL,
                    total       numeric     NOT NULL,
                    captured    numeric     NOT NULL,
                    refunded    numeric     NOT NULL,
                    position    bigint      NOT NULL,
                    state       jsonb       NOT NULL
                );
                CREATE TABLE {s}.open_returns (
                    return_id    uuid PRIMARY KEY,
                    order_id     uuid        NOT NULL,
                    customer_id  uuid        NOT NULL,
                    status       text        NOT NULL,
                    reason       text        NOT NULL,
                    requested_at timestamptz NOT NULL,
                    lines        jsonb       NOT NULL
                );
                CREATE INDEX ON {s}.open_returns (order_id);
                CREATE TABLE {s}.queue (
                    item_key    text PRIMARY KEY,
                    order_id    uuid        NOT NULL,
                    customer_id uuid        NOT NULL,
                    kind        text        NOT NULL,
                    reason      text        NOT NULL,
                    since       timestamptz NOT NULL
                );
                CREATE INDEX ON {s}.queue (order_id);
                """
            ).format(s=s)
        )

    def apply(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        order_events = [e for e in events if type(e.event) in _ORDER_EVENTS]
        customer_events = [e for e in events if type(e.event) in _CUSTOMER_EVENTS]
        if customer_events:
            self._apply_customers(conn, schema, customer_events)
        if order_events:
            self._apply_orders(conn, schema, order_events)

    def settled(self, schema: str, committed: bool) -> None:
        self._orders.settled(schema, committed)

    # --- customers ------------------------------------------------------------------------

    def _apply_customers(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        s = sql.Identifier(schema)
        ids = list({e.event.originator_id for e in events})
        customers: dict[UUID, dict[str, Any]] = {}
        for row in conn.execute(
            sql.SQL(
                "SELECT customer_id, name, email, phone, addresses, consent_email, consent_sms,"
                " erased, registered_at, position FROM {s}.customers WHERE customer_id = ANY(%b)"
            ).format(s=s),
            (ids,),
        ):
            customers[row[0]] = {
                "name": row[1], "email": row[2], "phone": row[3], "addresses": row[4],
                "consent_email": row[5], "consent_sms": row[6], "erased": row[7],
                "registered_at": row[8], "position": row[9],
            }
        new_notes: dict[UUID, list[tuple[Any, ...]]] = {}
        erased: set[UUID] = set()
        for projected in events:
            event: Any = projected.event
            kind = type(event)
            customer_id: UUID = event.originator_id
            if kind is Customer.Registered:
                customers[customer_id] = {
                    "name": event.name, "email": event.email, "phone": event.phone,
                    "addresses": {} if event.address is None
                    else {"default": _address(event.address)},
                    "consent_email": False, "consent_sms": False, "erased": False,
                    "registered_at": event.registered_at,
                    "position": projected.logged.position,
                }
                continue
            customer = customers[customer_id]
            customer["position"] = projected.logged.position
            if kind in (Customer.AddressAdded, Customer.AddressChanged):
                customer["addresses"][event.label] = _address(event.address)
            elif kind is Customer.AddressRemoved:
                customer["addresses"].pop(event.label, None)
            elif kind in (Customer.ConsentGranted, Customer.ConsentWithdrawn):
                customer[f"consent_{event.channel}"] = kind is Customer.ConsentGranted
            elif kind is Customer.NoteAdded:
                new_notes.setdefault(customer_id, []).append((
                    customer_id, event.note_id, event.text, event.author,
                    projected.logged.recorded_at, projected.logged.position,
                ))
            elif kind is Customer.ErasureRequested:
                customer.update(name=None, email=None, phone=None, addresses={},
                                consent_email=False, consent_sms=False, erased=True)
                new_notes.pop(customer_id, None)
                erased.add(customer_id)
        with conn.cursor() as cur:
            insert_rows(
                cur, schema, "customers", _CUSTOMER_COLUMNS,
                [
                    (cid, c["name"], c["email"], c["phone"], _json_text(c["addresses"]),
                     c["consent_email"], c["consent_sms"], c["erased"], c["registered_at"],
                     c["position"])
                    for cid, c in customers.items()
                ],
                "ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name,"
                " email = excluded.email, phone = excluded.phone,"
                " addresses = excluded.addresses, consent_email = excluded.consent_email,"
                " consent_sms = excluded.consent_sms, erased = excluded.erased,"
                " position = excluded.position",
            )
            if erased:
                cur.execute(
                    sql.SQL("DELETE FROM {s}.customer_notes WHERE customer_id = ANY(%b)").format(
                        s=s
                    ),
                    (list(erased),),
                )
            notes = [note for batch in new_notes.values() for note in batch]
            insert_rows(cur, schema, "customer_notes", _NOTE_COLUMNS, notes,
                        "ON CONFLICT DO NOTHING")

    # --- orders ---------------------------------------------------------------------------

    def _apply_orders(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        s = sql.Identifier(schema)
        known, unknown = self._orders.known(schema, {e.event.originator_id for e in events})
        # Kept with the JSON text its row was written with: parsing it is the copy.
        orders = {order_id: {**order, "state": orjson.loads(order["state"])}
                  for order_id, order in known.items()}
        if unknown:
            for oid, cid, currency, placed_at, state in conn.execute(
                sql.SQL(
                    "SELECT order_id, customer_id, currency, placed_at, state FROM {s}.orders"
                    " WHERE order_id = ANY(%b)"
                ).format(s=s),
                (unknown,),
            ):
                orders[oid] = {"customer_id": cid, "currency": currency,
                               "placed_at": placed_at, "state": state}
        positions: dict[UUID, int] = {}
        for projected in events:
            event: Any = projected.event
            order_id: UUID = event.originator_id
            at = projected.logged.recorded_at
            if type(event) is Order.Placed:
                orders[order_id] = {"customer_id": event.customer_id, "currency": event.currency,
                                    "placed_at": event.placed_at,
                                    "state": _new_state(event, at)}
            else:
                _fold(orders[order_id]["state"], event, _iso(at))
            positions[order_id] = projected.logged.position
        touched = list(positions)
        order_rows: list[tuple[Any, ...]] = []
        returns: list[tuple[Any, ...]] = []
        queue: list[tuple[Any, ...]] = []
        for order_id in touched:
            order = orders[order_id]
            state, currency, customer_id = order["state"], order["currency"], order["customer_id"]
            state_text = _json_text(state)
            order_rows.append((
                order_id, customer_id, currency, order["placed_at"], _status(state),
                _total(state, currency), round_money(Decimal(state["captured"]), currency),
                round_money(Decimal(state["refunded"]), currency), positions[order_id],
                state_text,
            ))
            self._orders.put(schema, order_id, {**order, "state": state_text})
            returns.extend(
                (UUID(return_id), order_id, customer_id, ret["status"], ret["reason"],
                 ret["requested_at"], _json_text(ret["lines"]))
                for return_id, ret in state["returns"].items()
            )
            queue.extend(_queue_items(order_id, customer_id, state))
        with conn.cursor() as cur:
            insert_rows(
                cur, schema, "orders", _ORDER_COLUMNS, order_rows,
                "ON CONFLICT (order_id) DO UPDATE SET status = excluded.status,"
                " total = excluded.total, captured = excluded.captured,"
                " refunded = excluded.refunded, position = excluded.position,"
                " state = excluded.state",
            )
            # Derived rows are replaced wholesale for the touched orders: what the state says
            # now is all there is, so resolved items vanish without per-event bookkeeping.
            cur.execute(
                sql.SQL("DELETE FROM {s}.open_returns WHERE order_id = ANY(%b)").format(s=s),
                (touched,),
            )
            cur.execute(
                sql.SQL("DELETE FROM {s}.queue WHERE order_id = ANY(%b)").format(s=s),
                (touched,),
            )
            insert_rows(cur, schema, "open_returns", _RETURN_COLUMNS, returns)
            insert_rows(cur, schema, "queue", _QUEUE_COLUMNS, queue)


# --- queries ----------------------------------------------------------------------------------


def get_dashboard(
    conn: psycopg.Connection[Any], schema: str, customer_id: UUID
) -> dict[str, Any] | None:
    """Everything care needs about one customer, or None if there is no such customer."""
    s = sql.Identifier(schema)
    row = conn.execute(
        sql.SQL(
            "SELECT name, email, phone, addresses, consent_email, consent_sms, erased"
            " FROM {s}.customers WHERE customer_id = %s"
        ).format(s=s),
        (customer_id,),
    ).fetchone()
    if row is None:
        return None
    name, email, phone, addresses, consent_email, consent_sms, erased = row
    orders = conn.execute(
        sql.SQL(
            "SELECT order_id, status, placed_at, total, currency, captured, refunded"
            " FROM {s}.orders WHERE customer_id = %s ORDER BY placed_at DESC, order_id"
        ).format(s=s),
        (customer_id,),
    ).fetchall()
    lifetime: dict[str, Decimal] = {}
    for *_, currency, captured, refunded in orders:
        lifetime[currency] = lifetime.get(currency, ZERO) + captured - refunded
    returns = conn.execute(
        sql.SQL(
            "SELECT return_id, order_id, status, reason, requested_at, lines"
            " FROM {s}.open_returns WHERE customer_id = %s ORDER BY requested_at, return_id"
        ).format(s=s),
        (customer_id,),
    ).fetchall()
    notes = conn.execute(
        sql.SQL(
            "SELECT text, author, at FROM {s}.customer_notes WHERE customer_id = %s"
            " ORDER BY position"
        ).format(s=s),
        (customer_id,),
    ).fetchall()
    return {
        "customer": {
            "id": str(customer_id),
            "name": name,
            "email": email,
            "phone": phone,
            "addresses": [{"label": label, **address}
                          for label, address in sorted(addresses.items())],
            "erased": erased,
        },
        "orders": [
            {"id": str(order_id), "status": status, "placed_at": placed_at.isoformat(),
             "total": str(round_money(total, currency)), "currency": currency}
            for order_id, status, placed_at, total, currency, _, _ in orders
        ],
        "lifetime_value": {
            currency: str(round_money(amount, currency))
            for currency, amount in sorted(lifetime.items())
        },
        "open_returns": [
            {"return_id": str(return_id), "order_id": str(order_id), "status": status,
             "reason": reason, "requested_at": requested_at.isoformat(), "lines": lines}
            for return_id, order_id, status, reason, requested_at, lines in returns
        ],
        "notes": [{"text": text, "author": author, "at": at.isoformat()}
                  for text, author, at in notes],
        "consents": {"email": consent_email, "sms": consent_sms},
    }


def _masked(value: str | None) -> str | None:
    return None if value is None else MASK


def mask_dashboard(dashboard: dict[str, Any]) -> dict[str, Any]:
    """The dashboard with personal data replaced by ``•••`` (what analysts may see).

    Names, email, phone, the street lines and recipient of addresses, and note texts are
    masked; city, postal code and country stay, since regional analysis needs them.
    """
    customer = dashboard["customer"]
    return {
        **dashboard,
        "customer": {
            **customer,
            "name": _masked(customer["name"]),
            "email": _masked(customer["email"]),
            "phone": _masked(customer["phone"]),
            "addresses": [
                {**a, "name": _masked(a["name"]), "line1": _masked(a["line1"]),
                 "line2": _masked(a["line2"])}
                for a in customer["addresses"]
            ],
        },
        "notes": [{**note, "text": MASK} for note in dashboard["notes"]],
    }


def list_queue(
    conn: psycopg.Connection[Any],
    schema: str,
    *,
    backorder_age: timedelta = DEFAULT_BACKORDER_AGE,
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Open work items, longest waiting first, after the ``(since, key)`` cursor.

    Backorders count only once they are older than ``backorder_age`` by the database clock.
    """
    where: list[sql.Composable] = [
        sql.SQL("(kind <> 'backorder' OR since <= now() - %s)")
    ]
    params: list[Any] = [backorder_age]
    if after is not None:
        where.append(sql.SQL("(since, item_key) > (%s, %s)"))
        params.extend(after)
    params.append(limit)
    rows = conn.execute(
        sql.SQL(
            "SELECT item_key, order_id, customer_id, kind, reason, since FROM {s}.queue"
            " WHERE {where} ORDER BY since, item_key LIMIT %s"
        ).format(s=sql.Identifier(schema), where=sql.SQL(" AND ").join(where)),
        params,
    ).fetchall()
    return [
        {"key": key, "order_id": str(order_id), "customer_id": str(customer_id), "kind": kind,
         "reason": reason, "since": since.isoformat()}
        for key, order_id, customer_id, kind, reason, since in rows
    ]
