"""Stock visibility read model: on hand, reserved, safety stock and available per SKU and
location, with network totals per SKU and a low-stock flag.

Every inventory movement is a small delta (+5 received, +2 reserved, -1 consumed...), and a
rebuild replays all of them, so this projection is built for throughput: a batch's events are
folded per inventory item in Python (several events of one item become one row change), then
written with one ``executemany`` per statement kind (psycopg pipelines them in one round trip)
and one set-based statement that recomputes the touched SKUs' totals. ``available`` and
``low_stock`` are generated columns, so their rule is stated once, in the table definition.

Deltas commute and the totals are recomputed from the per-location rows, so any batching of
the same log yields identical rows; each row also records the position and time of the last
event that changed it. Only ``InventoryItem`` events count; all others are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from domain.inventory import InventoryItem
from projections.engine import ProjectedEvent

NAME = "stock_visibility"

# The one definition of the derived columns (API.md: available never below 0). Low stock
# means what is left to sell is at or below the buffer kept back, or nothing is left.
_AVAILABLE = "greatest(on_hand - reserved - safety_stock, 0)"
_LOW_STOCK = f"({_AVAILABLE} <= safety_stock OR {_AVAILABLE} = 0)"

_ITEM_COLUMNS = ("location_id", "on_hand", "reserved", "safety_stock", "available", "low_stock")
_SKU_COLUMNS = ("sku", "on_hand", "reserved", "safety_stock", "available", "low_stock")


@dataclass
class _Change:
    """The net effect of one batch on one inventory item."""

    on_hand: int = 0
    reserved: int = 0
    safety_stock: int | None = None  # absolute; None = unchanged
    position: int = 0
    updated_at: datetime | None = None


def fold(events: Sequence[ProjectedEvent]) -> tuple[dict[UUID, tuple[str, str]],
                                                     dict[UUID, _Change]]:
    """Items created in the batch (id -> (sku, location)) and each touched item's net change."""
    created: dict[UUID, tuple[str, str]] = {}
    changes: dict[UUID, _Change] = {}
    for projected in events:
        event: Any = projected.event
        if not isinstance(event, InventoryItem.Event):
            continue
        item_id = event.originator_id
        change = changes.get(item_id)
        if change is None:
            change = changes[item_id] = _Change()
        if isinstance(event, InventoryItem.Created):
            created[item_id] = (event.sku, event.location_id)
        elif isinstance(event, InventoryItem.Received | InventoryItem.Restocked):
            change.on_hand += event.quantity
        elif isinstance(event, InventoryItem.Adjusted):
            change.on_hand += event.quantity_delta
        elif isinstance(event, InventoryItem.SafetyStockChanged):
            change.safety_stock = event.quantity
        elif isinstance(event, InventoryItem.Reserved):
            change.reserved += event.quantity
        elif isinstance(event, InventoryItem.Released):
            change.reserved -= event.quantity
        elif isinstance(event, InventoryItem.Consumed):
            change.reserved -= event.quantity
            change.on_hand -= event.quantity
        else:
            continue  # an inventory event this model does not know leaves the row as it was
        change.position = projected.logged.position
        change.updated_at = projected.logged.recorded_at
    return created, {k: v for k, v in changes.items() if v.updated_at is not None}


class StockVisibilityProjection:
    """Maintains ``items`` (per SKU and location) and ``skus`` (network totals)."""

    name = NAME
    # µs per logged event rebuilding it alone (units: parallel_rebuild.DEFAULT_WEIGHT).
    rebuild_weight = 11
    # The events it reads; the engine decodes no others for it.
    handles: tuple[type, ...] = (InventoryItem.Event,)
    reads_personal: tuple[type, ...] = ()

    def create_tables(self, conn: psycopg.Connection[Any], schema: str) -> None:
        # COLLATE "C": SKU order (and so paging) must not depend on the server's locale.
        conn.execute(
            sql.SQL(
                f"""
                CREATE TABLE {{s}}.items (
                    item_id      uuid        PRIMARY KEY,
                    sku          text        COLLATE "C" NOT NULL,
                    location_id  text        COLLATE "C" NOT NULL,
                    on_hand      bigint      NOT NULL,
                    reserved     bigint      NOT NULL,
                    safety_stock bigint      NOT NULL,
                    available    bigint      GENERATED ALWAYS AS ({_AVAILABLE}) STORED,
                    low_stock    boolean     GENERATED ALWAYS AS ({_LOW_STOCK}) STORED,
                    position     bigint      NOT NULL,
                    updated_at   timestamptz NOT NULL,
                    UNIQUE (sku, location_id)
                );
                CREATE INDEX ON {{s}}.items (location_id, low_stock, sku);
                CREATE TABLE {{s}}.skus (
                    sku          text        COLLATE "C" PRIMARY KEY,
                    on_hand      bigint      NOT NULL,
                    reserved     bigint      NOT NULL,
                    safety_stock bigint      NOT NULL,
                    available    bigint      NOT NULL,
                    low_stock    boolean     GENERATED ALWAYS AS
                                 (available <= safety_stock OR available = 0) STORED,
                    locations    int         NOT NULL,
                    position     bigint      NOT NULL,
                    updated_at   timestamptz NOT NULL
                );
                CREATE INDEX ON {{s}}.skus (low_stock, sku);
                """
            ).format(s=sql.Identifier(schema))
        )

    def apply(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        created, changes = fold(events)
        if not changes:
            return
        s = sql.Identifier(schema)
        inserts: list[list[Any]] = [[] for _ in range(8)]
        updates: list[list[Any]] = [[] for _ in range(6)]
        for item_id, c in changes.items():
            if item_id in created:
                sku, location_id = created[item_id]
                row: tuple[Any, ...] = (item_id, sku, location_id, c.on_hand, c.reserved,
                                        c.safety_stock or 0, c.position, c.updated_at)
                columns = inserts
            else:
                row = (item_id, c.on_hand, c.reserved, c.safety_stock, c.position, c.updated_at)
                columns = updates
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        # One statement per kind, the batch passed as arrays: a round trip and one plan
        # instead of one statement per item.
        with conn.cursor() as cur:
            if inserts[0]:
                # A plain INSERT: an item created twice means a corrupt log, so it must fail.
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {s}.items (item_id, sku, location_id, on_hand, reserved,"
                        " safety_stock, position, updated_at)"
                        " SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::bigint[],"
                        " %b::bigint[], %b::bigint[], %b::bigint[], %b::timestamptz[])"
                    ).format(s=s),
                    inserts,
                )
            if updates[0]:
                cur.execute(
                    sql.SQL(
                        "UPDATE {s}.items t SET on_hand = t.on_hand + d.on_hand,"
                        " reserved = t.reserved + d.reserved,"
                        " safety_stock = coalesce(d.safety_stock, t.safety_stock),"
                        " position = d.position, updated_at = d.updated_at"
                        " FROM unnest(%b::uuid[], %b::bigint[], %b::bigint[], %b::bigint[],"
                        " %b::bigint[], %b::timestamptz[])"
                        " AS d(item_id, on_hand, reserved, safety_stock, position, updated_at)"
                        " WHERE t.item_id = d.item_id"
                    ).format(s=s),
                    updates,
                )
                if cur.rowcount != len(updates[0]):
                    msg = (f"{len(updates[0]) - cur.rowcount} inventory items changed in this"
                           " batch were never created: the log or this projection is"
                           " inconsistent")
                    raise RuntimeError(msg)
            cur.execute(
                sql.SQL(
                    "INSERT INTO {s}.skus (sku, on_hand, reserved, safety_stock, available,"
                    " locations, position, updated_at)"
                    " SELECT sku, sum(on_hand), sum(reserved), sum(safety_stock), sum(available),"
                    " count(*), max(position), max(updated_at) FROM {s}.items"
                    " WHERE sku IN (SELECT sku FROM {s}.items WHERE item_id = ANY(%b))"
                    " GROUP BY sku"
                    " ON CONFLICT (sku) DO UPDATE SET on_hand = excluded.on_hand,"
                    " reserved = excluded.reserved, safety_stock = excluded.safety_stock,"
                    " available = excluded.available, locations = excluded.locations,"
                    " position = excluded.position, updated_at = excluded.updated_at"
                ).format(s=s),
                (list(changes),),
            )


# --- queries ------------------------------------------------------------------------------


def _describe(total: Sequence[Any], locations: Sequence[Sequence[Any]]) -> dict[str, Any]:
    view = dict(zip(_SKU_COLUMNS, total, strict=True))
    view["locations"] = [dict(zip(_ITEM_COLUMNS, row, strict=True)) for row in locations]
    return view


def _with_locations(
    conn: psycopg.Connection[Any], s: sql.Identifier, totals: Sequence[Sequence[Any]]
) -> list[dict[str, Any]]:
    by_sku: dict[str, list[Sequence[Any]]] = {row[0]: [] for row in totals}
    if by_sku:
        for sku, *row in conn.execute(
            sql.SQL(
                "SELECT sku, location_id, on_hand, reserved, safety_stock, available, low_stock"
                " FROM {s}.items WHERE sku = ANY(%b) ORDER BY sku, location_id"
            ).format(s=s),
            (list(by_sku),),
        ):
            by_sku[sku].append(row)
    return [_describe(total, by_sku[total[0]]) for total in totals]


_SELECT_SKUS = (
    "SELECT t.sku, t.on_hand, t.reserved, t.safety_stock, t.available, t.low_stock"
    " FROM {s}.skus t"
)


def describe_items(sku: str, items: Sequence[InventoryItem]) -> dict[str, Any]:
    """The ``GET /v1/inventory/{sku}`` shape from the aggregates themselves (for ``as_of``),
    by the same rules as the tables: available floored at 0; low when available is at or
    below safety stock, or nothing is available."""
    def low(available: int, safety: int) -> bool:
        return available <= safety or available == 0

    locations = [
        {"location_id": i.location_id, "on_hand": i.on_hand, "reserved": i.reserved,
         "safety_stock": i.safety_stock, "available": i.available,
         "low_stock": low(i.available, i.safety_stock)}
        for i in sorted(items, key=lambda i: i.location_id)
    ]
    total = {k: sum(getattr(i, k) for i in items)
             for k in ("on_hand", "reserved", "safety_stock", "available")}
    return {"sku": sku, **total, "low_stock": low(total["available"], total["safety_stock"]),
            "locations": locations}


def get_sku(conn: psycopg.Connection[Any], schema: str, sku: str) -> dict[str, Any] | None:
    """``GET /v1/inventory/{sku}``: network totals and every location, or None if unknown."""
    s = sql.Identifier(schema)
    total = conn.execute(
        sql.SQL(_SELECT_SKUS + " WHERE t.sku = %s").format(s=s), (sku,)
    ).fetchone()
    if total is None:
        return None
    return _with_locations(conn, s, [total])[0]


def list_skus(
    conn: psycopg.Connection[Any],
    schema: str,
    *,
    location_id: str | None = None,
    low_stock: bool | None = None,
    after: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """SKUs in SKU order after ``after``, and the SKU to continue after (None on the last page).

    With ``location_id``, only SKUs stocked there, and ``low_stock`` applies to that location;
    without it, ``low_stock`` applies to the network totals. Items always have the full shape.
    """
    s = sql.Identifier(schema)
    where: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    if location_id is not None:
        here: sql.Composable = sql.SQL("i.sku = t.sku AND i.location_id = %s")
        params.append(location_id)
        if low_stock is not None:
            here = sql.SQL("{} AND i.low_stock = %s").format(here)
            params.append(low_stock)
        where.append(sql.SQL("EXISTS (SELECT 1 FROM {s}.items i WHERE {here})").format(
            s=s, here=here))
    elif low_stock is not None:
        where.append(sql.SQL("t.low_stock = %s"))
        params.append(low_stock)
    if after is not None:
        where.append(sql.SQL("t.sku > %s"))
        params.append(after)
    params.append(limit + 1)
    totals = conn.execute(
        sql.SQL(_SELECT_SKUS + " WHERE {where} ORDER BY t.sku LIMIT %s").format(
            s=s, where=sql.SQL(" AND ").join(where)
        ),
        params,
    ).fetchall()
    more = len(totals) > limit
    totals = totals[:limit]
    return _with_locations(conn, s, totals), (str(totals[-1][0]) if more else None)
