"""The append through libpq directly (``application.prepared``) stores exactly what psycopg's
cursor would, fails as it would, and is only taken where it behaves like the cursor."""

from __future__ import annotations

import enum
import uuid
from decimal import Decimal

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from application.envelope import Envelope
from application.event_store import EventRecorder, datastore_for
from application.prepared import PreparedInserts, dump, numbered, runs_as_is


class Reason(enum.StrEnum):
    RECOUNT = "recount"


ENVELOPE = Envelope(actor="ana", role="agent", channel="console", reason=Reason.RECOUNT)


def _events(aggregate_id: uuid.UUID, *versions: int) -> list[StoredEvent]:
    return [StoredEvent(aggregate_id, v, "tests:Event", b'{"n":%d}' % v) for v in versions]


def _stored(url: str, aggregate_id: uuid.UUID) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT originator_version, topic, state, actor, actor_role, channel, reason,"
            " correlation_id, causation_id, command_id FROM events WHERE originator_id = %s"
            " ORDER BY originator_version", (aggregate_id,)).fetchall()


def test_numbered_placeholders_follow_their_order() -> None:
    assert numbered("SELECT %b::uuid, %b::bigint") == "SELECT $1::uuid, $2::bigint"


def test_dump_writes_postgres_binary_formats() -> None:
    some = uuid.uuid4()
    assert dump([some, 7, -1, "é", b"\x00\x01", None, Reason.RECOUNT]) == [
        some.bytes, (7).to_bytes(8, "big"), (-1).to_bytes(8, "big", signed=True),
        "é".encode(), b"\x00\x01", None, b"recount"]


@pytest.mark.parametrize("value", [Decimal("1.5"), True, 1.5], ids=["decimal", "bool", "float"])
def test_dump_refuses_what_the_append_never_binds(value: object) -> None:
    with pytest.raises(psycopg.ProgrammingError, match=type(value).__qualname__):
        dump([value])


def test_the_direct_path_stores_what_the_cursor_stores(database_url: str) -> None:
    recorder = EventRecorder(datastore_for(database_url))
    direct, cursor = uuid.uuid4(), uuid.uuid4()
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            assert runs_as_is(conn)
            first = recorder.append(conn, _events(direct, 1, 2), ENVELOPE)
        with psycopg.connect(database_url) as conn:  # not autocommit: psycopg's cursor
            assert not runs_as_is(conn)
            second = recorder.append(conn, _events(cursor, 1, 2), ENVELOPE)
            conn.commit()
    finally:
        recorder.datastore.close()
    assert second[0] > first[1] > first[0]
    assert _stored(database_url, direct) == _stored(database_url, cursor)
    assert [row[6] for row in _stored(database_url, direct)] == ["recount", "recount"]


def test_a_version_taken_is_an_integrity_error_and_writes_nothing(database_url: str) -> None:
    recorder = EventRecorder(datastore_for(database_url))
    aggregate = uuid.uuid4()
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            recorder.append(conn, _events(aggregate, 1), ENVELOPE)
            with pytest.raises(IntegrityError):
                recorder.append(conn, _events(aggregate, 2, 1), ENVELOPE)
            # The statement is prepared; the connection goes on working.
            recorder.append(conn, _events(aggregate, 2), ENVELOPE)
    finally:
        recorder.datastore.close()
    assert [row[0] for row in _stored(database_url, aggregate)] == [1, 2]


def test_inside_an_open_transaction_it_rolls_back_with_it(database_url: str) -> None:
    recorder = EventRecorder(datastore_for(database_url))
    aggregate = uuid.uuid4()

    def append_then_change_mind(conn: psycopg.Connection[object]) -> None:
        with conn.transaction():
            assert runs_as_is(conn)
            recorder.append(conn, _events(aggregate, 1), ENVELOPE)
            raise RuntimeError("the caller changes its mind")

    try:
        with psycopg.connect(database_url, autocommit=True) as conn, pytest.raises(RuntimeError):
            append_then_change_mind(conn)
    finally:
        recorder.datastore.close()
    assert _stored(database_url, aggregate) == []


def test_statements_are_prepared_once_per_connection(database_url: str) -> None:
    inserts = PreparedInserts()
    statement = "INSERT INTO t (n) VALUES ($1::bigint) RETURNING n * 2"
    with psycopg.connect(database_url, autocommit=True) as one, psycopg.connect(
        database_url, autocommit=True
    ) as two:
        one.execute("CREATE TABLE t (n bigint PRIMARY KEY)")
        assert inserts.returning_int8(one, b"t_insert", statement, [1]) == [2]
        assert inserts.returning_int8(one, b"t_insert", statement, [2]) == [4]
        assert inserts.returning_int8(two, b"t_insert", statement, [3]) == [6]
        prepared = one.execute("SELECT count(*) FROM pg_prepared_statements"
                               " WHERE name = 't_insert'").fetchone()
        assert prepared == (1,)
        # Another recorder's registry meets the name already prepared on the connection.
        assert PreparedInserts().returning_int8(one, b"t_insert", statement, [4]) == [8]
        with pytest.raises(psycopg.errors.UniqueViolation):
            inserts.returning_int8(two, b"t_insert", statement, [3])
