"""Reading the log ahead (``read_ahead``): the same pages as ``read_log`` gives, in the same
order, read by a thread on a connection of its own that ends with the loop, and whose errors
reach the caller."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import psycopg
import pytest

from application.envelope import Envelope
from application.log_reader import LogCursor, LoggedEvent, read_ahead, read_log
from application.order_management import OrderManagement


def _register(oms: OrderManagement, agent: Envelope, count: int) -> None:
    for n in range(count):
        oms.register_customer(customer_id=None, name=f"c{n}", email=f"c{n}@example.com",
                              phone=None, address=None, envelope=agent)


def _pages_by_read_log(
    conn: psycopg.Connection[Any], cursor: LogCursor, limit: int
) -> list[list[LoggedEvent]]:
    pages = []
    while page := read_log(conn, cursor, limit):
        pages.append(page)
        cursor = page[-1].cursor
    return pages


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "log-read-ahead"]


def _sessions(conn: psycopg.Connection[Any]) -> set[int]:
    """The backends on this database (a closed connection's backend leaves within moments)."""
    rows = conn.execute("SELECT pid FROM pg_stat_activity"
                        " WHERE datname = current_database()").fetchall()
    return {int(pid) for pid, in rows}


def _gone(conn: psycopg.Connection[Any], pids: set[int]) -> bool:
    deadline = time.monotonic() + 5
    while pids & _sessions(conn):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_it_gives_the_pages_read_log_gives_from_any_cursor(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    _register(oms, agent, 11)
    with psycopg.connect(database_url, autocommit=True) as conn:
        expected = _pages_by_read_log(conn, LogCursor.start(), 3)
        assert len(expected) >= 4  # several full pages and a last, shorter one

        assert list(read_ahead(conn, LogCursor.start(), 3)) == expected
        middle = expected[1][-1].cursor
        assert list(read_ahead(conn, middle, 3)) == _pages_by_read_log(conn, middle, 3)
        end = expected[-1][-1].cursor
        assert list(read_ahead(conn, end, 3)) == []
    assert _readers() == []


def test_the_log_is_read_in_utc_whatever_zone_the_connection_was_given(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    """The instants the table holds, spelt in UTC, so that read models write the same text
    whatever zone a server or a connection string sets (and loading them costs less)."""
    _register(oms, agent, 3)
    kolkata = "-c TimeZone=Asia/Kolkata"
    with psycopg.connect(database_url, autocommit=True, options=kolkata) as conn:
        stored = [at for at, in conn.execute(
            "SELECT recorded_at FROM events ORDER BY xact_id, notification_id")]
        assert {at.utcoffset() for at in stored} == {timedelta(hours=5, minutes=30)}

        read = read_log(conn, LogCursor.start(), 10)
        assert [e.recorded_at for e in read] == stored  # the same instants
        assert all(e.recorded_at.tzinfo is UTC for e in read)
    with psycopg.connect(database_url, autocommit=True, options=kolkata) as conn:
        ahead = [event for page in read_ahead(conn, LogCursor.start(), 2) for event in page]
        assert ahead == read
        assert all(e.recorded_at.tzinfo is UTC for e in ahead)


@pytest.fixture
def six_events(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> Iterator[psycopg.Connection[Any]]:
    """A connection to a log of six events, with no other session on the database."""
    _register(oms, agent, 6)
    oms.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def test_leaving_the_loop_early_ends_the_thread_and_its_connection(
    six_events: psycopg.Connection[Any],
) -> None:
    before = _sessions(six_events)
    for page in read_ahead(six_events, LogCursor.start(), 1):
        assert len(page) == 1
        assert len(_readers()) == 1
        reader = _sessions(six_events) - before  # the reader's own connection
        assert len(reader) == 1
        break
    assert _readers() == []
    assert _gone(six_events, reader)


def test_an_error_in_the_reader_is_raised_to_the_caller(
    six_events: psycopg.Connection[Any],
) -> None:
    pages = read_ahead(six_events, LogCursor.start(), 1)
    assert len(next(pages)) == 1
    # The server drops the reader's connection (a restart, a failover): the next read fails
    # in the thread, and the caller sees the error rather than a shorter log.
    six_events.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    with pytest.raises(psycopg.OperationalError):
        for _ in pages:
            pass
    assert _readers() == []
