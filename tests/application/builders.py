"""Setup and inspection helpers for the application-service specifications.

Builders put a shop in a known state through the public commands (never by writing events
directly), so every specification also exercises the path a real client takes. ``EventLog``
reads what a command actually recorded straight from the ``events`` table: topics, envelope
columns, positions and the transaction id, which is how the tests prove that a command's
events share one envelope and one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from application.envelope import Envelope
from application.order_management import CommandResult, OrderManagement
from domain.inventory import InventoryItem, inventory_item_id
from domain.order import Order
from domain.order_values import LineQuantity, NewLine
from domain.values import Address, Channel, LocationKind

ADDRESS = Address("Ada Lovelace", "1 Analytical Way", None, "London", "N1 9GU", "GB")
OTHER_ADDRESS = Address("Ada Lovelace", "2 Difference St", "Flat 3", "Berlin", "10115", "DE")

WAREHOUSE = "berlin-dc"  # priority 1: ships first
STORE = "munich-store"  # priority 2
UNIT_PRICE = Decimal("10.00")


def envelope(
    actor: str = "ana", role: str = "agent", channel: str = "console", reason: str | None = None
) -> Envelope:
    """A fresh envelope (new command id) so each command's events can be found on their own."""
    return Envelope(actor=actor, role=role, channel=channel, reason=reason)


# --- reading the log ------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One row of the ``events`` table, as the specifications look at it."""

    position: int
    transaction: int
    originator_id: UUID
    originator_version: int
    topic: str
    actor: str
    actor_role: str
    channel: str
    reason: str | None
    correlation_id: UUID
    causation_id: UUID | None
    command_id: UUID

    @property
    def type(self) -> str:
        """``domain.order:Order.Placed`` -> ``Order.Placed``."""
        return self.topic.rpartition(":")[2]


_SELECT = (
    "SELECT notification_id AS position, xact_id::text::bigint AS transaction, originator_id,"
    " originator_version, topic, actor, actor_role, channel, reason, correlation_id,"
    " causation_id, command_id FROM events"
)


class EventLog:
    """Read-only look at the events table of one test database."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def _rows(self, where: str, params: tuple[Any, ...]) -> list[Recorded]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.cursor(row_factory=class_row(Recorded))
            return cur.execute(f"{_SELECT} {where} ORDER BY notification_id", params).fetchall()

    def count(self) -> int:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
        assert row is not None
        return int(row[0])

    def of_command(self, command_id: UUID) -> list[Recorded]:
        return self._rows("WHERE command_id = %s", (command_id,))

    def of_aggregate(self, originator_id: UUID) -> list[Recorded]:
        return self._rows("WHERE originator_id = %s", (originator_id,))

    def types_of_aggregate(self, originator_id: UUID) -> list[str]:
        return [r.type for r in self.of_aggregate(originator_id)]


def assert_recorded(
    log: EventLog,
    result: CommandResult,
    sent: Envelope,
    types: list[str],
    *,
    reason: str | None = None,
) -> list[Recorded]:
    """The command recorded exactly ``types`` (in log order), all under the envelope ``sent``
    (with ``reason`` when the command puts the person's reason into it), in one transaction,
    and answered the position of its last event."""
    rows = log.of_command(sent.command_id)
    assert [r.type for r in rows] == types
    expected_reason = reason if reason is not None else sent.reason
    for r in rows:
        assert (r.actor, r.actor_role, r.channel, r.reason) == (
            sent.actor, sent.role, sent.channel, expected_reason
        )
        assert (r.correlation_id, r.causation_id, r.command_id) == (
            sent.correlation_id, sent.causation_id, sent.command_id
        )
    assert len({r.transaction for r in rows}) == 1, "a command's events span transactions"
    assert result.position == max(r.position for r in rows)
    return rows


# --- building a shop ------------------------------------------------------------------------


def add_locations(oms: OrderManagement) -> None:
    """A warehouse that ships first and a store that ships second."""
    oms.add_location(
        location_id=WAREHOUSE, name="Berlin DC", kind=LocationKind.WAREHOUSE, priority=1,
        envelope=envelope("ops", "admin"),
    )
    oms.add_location(
        location_id=STORE, name="Munich store", kind=LocationKind.STORE, priority=2,
        envelope=envelope("ops", "admin"),
    )


def stock(oms: OrderManagement, sku: str, location_id: str, quantity: int) -> None:
    oms.receive_stock(
        sku=sku, location_id=location_id, quantity=quantity, envelope=envelope("ops", "admin")
    )


def register(oms: OrderManagement, customer_id: UUID | None = None) -> UUID:
    result = oms.register_customer(
        customer_id=customer_id, name="Ada Lovelace", email="ada@example.com",
        phone="+44 20 7946 0000", address=ADDRESS, envelope=envelope("shop", "client", "web"),
    )
    return result.id


def shop(oms: OrderManagement) -> UUID:
    """Two locations and one registered customer; returns the customer id."""
    add_locations(oms)
    return register(oms)


def lines(*wanted: tuple[str, int]) -> list[NewLine]:
    return [NewLine(sku, quantity, UNIT_PRICE, Decimal("0.19")) for sku, quantity in wanted]


def place(
    oms: OrderManagement,
    customer_id: UUID,
    *wanted: tuple[str, int],
    order_id: UUID | None = None,
    sent: Envelope | None = None,
) -> CommandResult:
    return oms.place_order(
        order_id=order_id, customer_id=customer_id, channel=Channel.WEB, currency="EUR",
        lines=lines(*wanted), shipping_address=ADDRESS, shipping_method="standard",
        envelope=sent or envelope("shop", "client", "web"),
    )


def ship_all(oms: OrderManagement, order_id: UUID, location_id: str = WAREHOUSE) -> UUID:
    """Ship every unit reserved at ``location_id``; returns the shipment id."""
    order = oms.get_order(order_id)
    wanted = [
        LineQuantity(line.line_id, line.allocated_at(location_id))
        for line in order.lines.values()
        if line.allocated_at(location_id)
    ]
    result = oms.ship(
        order_id, location_id=location_id, lines=wanted, carrier="DHL",
        tracking_number="JD0001", envelope=envelope("wms", "system", "wms"),
    )
    assert result.created_id is not None
    return result.created_id


def item(oms: OrderManagement, sku: str, location_id: str) -> InventoryItem:
    found: object = oms.repository.get(inventory_item_id(sku, location_id))
    assert isinstance(found, InventoryItem)
    return found


def order(oms: OrderManagement, order_id: UUID) -> Order:
    return oms.get_order(order_id)


def stock_levels(oms: OrderManagement, sku: str, location_id: str) -> tuple[int, int]:
    """(on hand, reserved) of the SKU at the location."""
    found = item(oms, sku, location_id)
    return found.on_hand, found.reserved
