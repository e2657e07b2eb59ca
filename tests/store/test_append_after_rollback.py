"""A pooled connection goes on appending after a transaction on it rolled back.

psycopg deallocates every prepared statement of a connection when it rolls back a
transaction on it after preparing statements of its own (``DEALLOCATE ALL``). An append that
kept prepared statements of its own under names psycopg does not know (an experiment of
this project's, reverted) then failed on that connection from then on, with "prepared
statement ... does not exist". These pin the behaviour down on one pooled connection.
"""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import StoredEvent

from application.envelope import Envelope
from application.event_store import EventRecorder, datastore_for

ENVELOPE = Envelope(actor="ana", role="agent", channel="console")


class ChangedMindError(Exception):
    pass


def _event(aggregate_id: uuid.UUID, version: int) -> StoredEvent:
    return StoredEvent(aggregate_id, version, "tests:Event", b"{}")


def _append_then_change_mind(recorder: EventRecorder, aggregate: uuid.UUID) -> None:
    with recorder.datastore.get_connection() as conn, conn.transaction():
        recorder.append(conn, [_event(aggregate, 2)], ENVELOPE)
        raise ChangedMindError


def test_appends_go_on_after_a_rolled_back_transaction(database_url: str) -> None:
    recorder = EventRecorder(datastore_for(database_url, pool_size=1))  # one connection
    aggregate = uuid.uuid4()
    try:
        recorder.insert_events([_event(aggregate, 1)], envelope=ENVELOPE)
        assert [e.originator_version for e in recorder.select_events(aggregate)] == [1]
        with pytest.raises(ChangedMindError):
            _append_then_change_mind(recorder, aggregate)
        # The same connection, after psycopg's rollback: both paths still work.
        recorder.insert_events([_event(aggregate, 2)], envelope=ENVELOPE)
        with recorder.datastore.get_connection() as conn, conn.transaction():
            recorder.append(conn, [_event(aggregate, 3)], ENVELOPE)
        assert [e.originator_version for e in recorder.select_events(aggregate)] == [1, 2, 3]
    finally:
        recorder.datastore.close()
