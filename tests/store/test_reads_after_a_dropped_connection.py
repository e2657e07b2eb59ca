"""Reads survive the server dropping the application's pooled connections (a PostgreSQL
restart, a failover, an idle timeout) as the library's own recorders do: a read that meets
a dead connection is tried again, up to 10 times, on the next one the pool hands out (the
pool replaces the dead ones), for events and snapshots alike."""

from __future__ import annotations

from eventsourcing.persistence import StoredEvent

from application.bootstrap import create_order_management
from application.envelope import Envelope
from application.settings import Settings
from tests.dropped_connections import drop_other_connections


def test_event_and_snapshot_reads_retry_on_connections_the_server_dropped(
    database_url: str, agent: Envelope
) -> None:
    # A pool smaller than the 10 attempts: every dead connection is met at most once.
    oms = create_order_management(database_url,
                                  Settings(DATABASE_URL=database_url, OMS_DB_POOL_SIZE=2))
    try:
        customer = oms.register_customer(customer_id=None, name="Jo", email="jo@example.com",
                                         phone=None, address=None, envelope=agent).id
        events = oms.events.recorder
        snapshots = oms.snapshots.recorder  # type: ignore[union-attr]
        snapshots.insert_events([StoredEvent(customer, 1, "domain.customer:Customer", b"{}")])

        assert drop_other_connections(database_url) >= 1
        assert [e.originator_version for e in events.select_events(customer)] == [1]
        assert drop_other_connections(database_url) >= 1
        assert [s.state for s in snapshots.select_events(customer, lte=1, desc=True,
                                                         limit=1)] == [b"{}"]
    finally:
        oms.close()
