"""The database itself refuses to change or remove recorded events, even for a superuser."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from application.envelope import Envelope
from application.event_store import EventRecorder, datastore_for


def _append_one(url: str) -> None:
    recorder = EventRecorder(datastore_for(url))
    try:
        recorder.insert_events(
            [StoredEvent(uuid.uuid4(), 1, "tests:Event", b"{}")],
            envelope=Envelope(actor="ana", role="agent", channel="test"),
        )
    finally:
        recorder.datastore.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET actor = 'mallory'",
        "DELETE FROM events",
        "TRUNCATE events",
    ],
    ids=["update", "delete", "truncate"],
)
def test_the_log_refuses_to_change(database_url: str, statement: str) -> None:
    _append_one(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
        count = conn.execute("SELECT count(*), min(actor) FROM events").fetchone()
    assert count == (1, "ana")
