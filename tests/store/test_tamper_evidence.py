"""The log proves it was not altered: every event's hash chains to its predecessor, and a
row changed behind the append-only guard (by a superuser disabling triggers) is found."""

from __future__ import annotations

from decimal import Decimal

import psycopg

from application.audit import verify
from application.envelope import Envelope
from application.order_management import OrderManagement
from domain.order_values import LineQuantity, NewLine
from domain.values import Address, Channel

ADDRESS = Address("Jo Doe", "Main St 1", None, "Berlin", "10115", "DE")


def _orders(oms: OrderManagement, agent: Envelope) -> list[int]:
    customer = oms.register_customer(customer_id=None, name="Jo", email="jo@example.com",
                                     phone=None, address=None, envelope=agent)
    positions = []
    for _ in range(3):
        placed = oms.place_order(
            order_id=None, customer_id=customer.id, channel=Channel.WEB, currency="EUR",
            lines=[NewLine("JEANS-32", 2, Decimal("59.90"))], shipping_address=ADDRESS,
            shipping_method=None, envelope=agent,
        )
        cancelled = oms.cancel_order(placed.id, reason="changed mind",
                                     lines=[LineQuantity("1", 1)], envelope=agent)
        positions.append(cancelled.position)
    return positions


def test_an_untouched_log_verifies(database_url: str, oms: OrderManagement,
                                   agent: Envelope) -> None:
    _orders(oms, agent)
    with psycopg.connect(database_url) as conn:
        result = verify(conn)
        count = conn.execute("SELECT count(*), count(hash) FROM events").fetchone()
    assert result.ok
    assert result.first_broken is None
    assert count is not None
    assert result.checked == count[0] == count[1]


def test_a_row_altered_as_superuser_is_named_as_the_first_broken_link(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    positions = _orders(oms, agent)
    target = positions[1]
    with psycopg.connect(database_url, autocommit=True) as conn:
        # A superuser can bypass the append-only triggers; the chain still tells.
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("UPDATE events SET reason = 'nothing to see' WHERE notification_id = %s",
                         (target,))
        result = verify(conn)
    assert not result.ok
    assert result.first_broken is not None
    assert result.first_broken["position"] == target


def test_a_deleted_event_breaks_the_chain_of_its_aggregate(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    positions = _orders(oms, agent)
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT originator_id FROM events WHERE notification_id = %s", (positions[0],)
        ).fetchone()
        assert row is not None
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            # Remove the order's Placed event: the cancellation no longer chains to anything.
            conn.execute("DELETE FROM events WHERE originator_id = %s AND originator_version = 1",
                         (row[0],))
        result = verify(conn)
    assert not result.ok
    assert result.first_broken is not None
    assert result.first_broken["aggregate_id"] == str(row[0])
