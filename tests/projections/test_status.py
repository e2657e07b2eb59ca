"""Projection status: lag counts the events not applied yet and how long the oldest of them
has waited — not how old the last applied event is."""

from __future__ import annotations

import psycopg

from application.envelope import Envelope
from application.order_management import OrderManagement
from projections import registry
from projections.status import projection_status
from tests.projections.support import catch_up


def test_lag_after_an_idle_period_is_the_age_of_the_waiting_event(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    oms.register_customer(customer_id=None, name="Jo", email="jo@example.com", phone=None,
                          address=None, envelope=agent)
    catch_up(database_url, registry.select(["care"]))
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        # Pretend everything so far happened two days ago (bypassing the append-only guard).
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("UPDATE events SET recorded_at = recorded_at - interval '2 days'")
    oms.register_customer(customer_id=None, name="Al", email="al@example.com", phone=None,
                          address=None, envelope=agent)
    with psycopg.connect(database_url, autocommit=True) as conn:
        [care] = [s for s in projection_status(conn) if s["name"] == "care"]
    assert care["lag_events"] == 1
    assert care["state"] == "catching_up"
    assert 0 <= care["lag_seconds"] < 60, care
    catch_up(database_url, registry.select(["care"]))
    with psycopg.connect(database_url, autocommit=True) as conn:
        [care] = [s for s in projection_status(conn) if s["name"] == "care"]
    assert (care["lag_events"], care["lag_seconds"], care["state"]) == (0, 0.0, "live")
