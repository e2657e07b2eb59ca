"""Reading the event log in order without ever missing an event: the one place that does it.

Writers do not lock the table, so positions (``notification_id``) are handed out in insert
order but become visible in commit order: a reader that simply asks for "positions after
N" can pass a position that a slower transaction fills a moment later, and never see it.

The guard (DESIGN decision 5): each event records the id of the transaction that wrote it,
and a reader only reads events whose transaction id is below ``pg_snapshot_xmin`` of a
fresh snapshot — every transaction below that horizon has finished, so nothing can appear
behind the reader any more. Events are read in (transaction id, position) order and the
reader's cursor is that **pair**: a later-committing transaction always has a transaction
id at or above the horizon the reader saw, so it sorts after the cursor. A cursor holding
the position alone would skip such events; that is why ``LogCursor`` has two fields.

Any long-open write transaction holds the horizon back and so delays every reader, which is
why projection batches commit quickly. Everything that reads the log goes through here so
that the mechanism can change in one place.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row

from application.event_store import EVENTS_TABLE, SUBJECT_KEY


@dataclass(frozen=True, order=True)
class LogCursor:
    """Where a reader stands: the last (transaction id, position) it has seen."""

    transaction: int
    position: int

    @classmethod
    def start(cls) -> LogCursor:
        return cls(0, 0)


class LoggedEvent(NamedTuple):
    """One stored event as read from the log, with the parts of its envelope that read
    models show.

    A named tuple rather than a dataclass: every projection reads every event through
    here, and a tuple is built in a fraction of a frozen dataclass's time. For the same
    reason it leaves out the correlation and causation ids, which no read model shows (each
    id is a UUID to build per event); the audit trail reads them from the table itself
    (``application.audit``).
    """

    transaction: int
    position: int
    originator_id: UUID
    originator_version: int
    topic: str
    state: bytes
    recorded_at: datetime
    actor: str
    actor_role: str
    channel: str
    reason: str | None
    command_id: UUID
    # The data subject whose personal data the event holds, and their key as the key table
    # has it now (None once erased), read with the event (application.personal_data).
    subject_id: UUID | None = None
    subject_key: bytes | None = None

    @property
    def cursor(self) -> LogCursor:
        return LogCursor(self.transaction, self.position)


_COLUMNS = (
    "e.xact_id::text::bigint AS transaction, e.notification_id AS position, e.originator_id,"
    " e.originator_version, e.topic, e.state, e.recorded_at, e.actor, e.actor_role, e.channel,"
    f" e.reason, e.command_id, e.subject_id, {SUBJECT_KEY}"
)
_FROM = f"{EVENTS_TABLE} e"

_READ_GUARDED = (
    f"SELECT {_COLUMNS} FROM {_FROM}"
    " WHERE (e.xact_id, e.notification_id) > (%(tx)s::text::xid8, %(pos)s)"
    "   AND e.xact_id < pg_snapshot_xmin(pg_current_snapshot())"
    " ORDER BY e.xact_id, e.notification_id LIMIT %(limit)s"
)

# The naive reader, kept only so tests can show what the guard prevents (negative control).
_READ_UNGUARDED = (
    f"SELECT {_COLUMNS} FROM {_FROM}"
    " WHERE e.notification_id > %(pos)s ORDER BY e.notification_id LIMIT %(limit)s"
)


def _logged_events(cursor: Any) -> Any:
    """psycopg row factory: each row, in ``_COLUMNS`` order, as a ``LoggedEvent``."""
    return LoggedEvent._make


def read_log(
    conn: psycopg.Connection[Any],
    after: LogCursor,
    limit: int = 500,
    *,
    guarded: bool = True,
) -> list[LoggedEvent]:
    """The next ``limit`` events after ``after`` that can never be preceded by a later commit,
    their ``recorded_at`` in UTC: the first read on a connection sets its session's time zone
    to UTC (``_in_utc``), so a reader's connection should be its own.

    ``guarded=False`` reads by position alone and exists only for the negative control.
    """
    _in_utc(conn)
    sql = _READ_GUARDED if guarded else _READ_UNGUARDED
    params = {"tx": str(after.transaction), "pos": after.position, "limit": limit}
    # Binary results: states arrive as their bytes (not hex to decode), ids as 16 bytes.
    with conn.cursor(row_factory=_logged_events, binary=True) as cur:
        cur.execute(sql, params, prepare=True)
        return cur.fetchall()


def _in_utc(conn: psycopg.Connection[Any]) -> None:
    """Have ``conn``'s session give timestamps in UTC, as every reader of the log does.

    psycopg hands each ``timestamptz`` back in the session's time zone. For any zone but
    ``UTC`` itself (even the ``Etc/UTC`` a server is commonly given) that is a zoneinfo
    conversion per value: on the benchmark log, loading ``recorded_at`` took 2.0 us of the
    6 us a logged event takes to load, and 0.4 us in UTC. It also keeps what read models
    write from the envelope's time (care's JSON, say) the same whatever zone a server or a
    connection string sets, and whichever connection read them: the instant never changed,
    only how it was spelt.
    """
    if conn.info.timezone is not UTC:
        conn.execute("SET TIME ZONE 'UTC'")


def read_ahead(
    conn: psycopg.Connection[Any], after: LogCursor, limit: int = 500
) -> Iterator[list[LoggedEvent]]:
    """Every page of the log after ``after``, in order, as successive ``read_log`` calls
    would give them; each page is read while the caller handles the one before.

    Reading a page means waiting for PostgreSQL to select and send it, which the reader's
    process spends idle (about a sixth of reading and decoding the log, measured on the
    bench log). Here a thread reads the next pages meanwhile, up to two ahead, on a
    connection of its own opened with ``conn``'s parameters (``conn`` stays the caller's:
    a rebuild writes on it). The cursor is carried from each page's last event exactly as a
    caller of ``read_log`` carries it, so the pages are as gap-safe. Leaving the loop, or
    closing the iterator, stops the thread and closes its connection; an error in the
    thread is raised to the caller.
    """
    info = conn.info
    # A page waits here while the thread reads the one after it: two pages ahead, so that
    # the caller never waits for the thread to get the GIL and send its next query.
    pages: queue.Queue[list[LoggedEvent] | BaseException] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def read() -> None:
        try:
            with psycopg.connect(info.dsn, password=info.password, autocommit=True) as own:
                cursor = after
                while not stop.is_set():
                    page = read_log(own, cursor, limit)
                    pages.put(page)
                    if not page:
                        return
                    cursor = page[-1].cursor
        except BaseException as error:  # handed to the caller, raised there
            pages.put(error)

    reader = threading.Thread(target=read, name="log-read-ahead", daemon=True)
    reader.start()
    try:
        while page := pages.get():
            if isinstance(page, BaseException):
                raise page
            yield page
    finally:
        stop.set()
        while reader.is_alive():  # it may be waiting to hand over a page
            with contextlib.suppress(queue.Empty):
                pages.get(timeout=0.01)


@dataclass(frozen=True)
class LogHead:
    """The newest readable event: where a fully caught-up reader would stand."""

    cursor: LogCursor
    recorded_at: datetime | None


def read_head(conn: psycopg.Connection[Any]) -> LogHead:
    """The newest committed event: where a fully caught-up reader will stand.

    Unlike ``read_log`` this ignores the horizon: an event committed while an older
    transaction is still open exists, and a reader that has not applied it is behind.
    """
    row = conn.execute(
        "SELECT xact_id::text::bigint, notification_id, recorded_at FROM events"
        " ORDER BY xact_id DESC, notification_id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return LogHead(LogCursor.start(), None)
    return LogHead(LogCursor(row[0], row[1]), row[2])


def count_after(conn: psycopg.Connection[Any], cursor: LogCursor) -> int:
    """How many committed events lie beyond ``cursor``: a projection's lag in events.

    Events above the read horizon count too: they are committed, just not yet safe to read
    because an older transaction (in any database of the cluster) is still open.
    """
    row = conn.execute(
        "SELECT count(*) FROM events WHERE (xact_id, notification_id) > (%s::text::xid8, %s)",
        (str(cursor.transaction), cursor.position),
    ).fetchone()
    return int(row[0]) if row else 0


def cursor_of_position(conn: psycopg.Connection[Any], position: int) -> LogCursor | None:
    """The pair cursor of the event at ``position``, or None if no such event is visible yet.

    Read-your-writes: a client holds the position its command returned; a read model has
    reached it when its cursor is at or beyond this pair.
    """
    row = conn.execute(
        "SELECT xact_id::text::bigint FROM events WHERE notification_id = %s", (position,)
    ).fetchone()
    if row is None:
        return None
    return LogCursor(row[0], position)


def oldest_after(conn: psycopg.Connection[Any], cursor: LogCursor) -> datetime | None:
    """When the first committed event beyond ``cursor`` was recorded: how long the oldest
    event a reader has not applied yet has been waiting starts there."""
    row = conn.execute(
        "SELECT recorded_at FROM events WHERE (xact_id, notification_id) > (%s::text::xid8, %s)"
        " ORDER BY xact_id, notification_id LIMIT 1",
        (str(cursor.transaction), cursor.position),
    ).fetchone()
    return None if row is None else row[0]


def events_up_to(
    conn: psycopg.Connection[Any], versions: dict[UUID, int]
) -> list[tuple[UUID, int, str, bytes]]:
    """Each aggregate's stored events from its first up to ``versions[id]``, in version order
    per aggregate: how a read model that keeps no copy of an aggregate's state gets it back
    (the events a projection applied to an aggregate are exactly those up to the version it
    recorded, whatever their positions)."""
    if not versions:
        return []
    with conn.cursor(binary=True, row_factory=tuple_row) as cur:
        cur.execute(
            f"SELECT e.originator_id, e.originator_version, e.topic, e.state"
            f" FROM unnest(%s::uuid[], %s::bigint[]) AS w(id, version)"
            f" JOIN {EVENTS_TABLE} e ON e.originator_id = w.id"
            f" AND e.originator_version <= w.version"
            f" ORDER BY e.originator_id, e.originator_version",
            (list(versions), list(versions.values())),
        )
        return cur.fetchall()
