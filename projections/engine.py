"""The projection engine: batches of events applied with their tracking position, exactly once.

A projection owns some tables and handlers. The engine reads the log through
``application.log_reader`` (the one gap-safe reader), decodes a page of events and, in
**one transaction**, applies them and advances the projection's pair cursor in
``projection_tracking``. A crash at any instant therefore loses nothing and repeats
nothing: either the rows and the cursor moved together, or neither did.

Each projection's tables live in their own PostgreSQL schema, one per *generation*
(``order_status_g1``). Queries read the generation named in ``projection_tracking``, which
is what lets a rebuild fill a new generation while the old one keeps answering and then
switch in one transaction.

One worker applies a projection at a time: it holds a session advisory lock named after the
projection; a second worker for the same projection waits as a stand-by. The cursor update
also checks the cursor it started from, so even a misbehaving second worker cannot apply a
batch twice. A handler that raises stops its projection at that event with the error in
``projection_tracking``; once the code is fixed, the projection resumes from there.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import sql

from application.event_store import NOTIFY_CHANNEL
from application.log_reader import LogCursor, LoggedEvent, read_log
from application.transcoding import OrjsonTranscoder

log = logging.getLogger("evident.projections")

TRACKING_SQL = """
CREATE TABLE IF NOT EXISTS projection_tracking (
    name         text        PRIMARY KEY,
    generation   int         NOT NULL,
    transaction  bigint      NOT NULL DEFAULT 0,
    position     bigint      NOT NULL DEFAULT 0,
    state        text        NOT NULL DEFAULT 'idle',
    error        text,
    error_position bigint,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class ProjectedEvent:
    """An event as a projection sees it: decoded, with its log envelope."""

    logged: LoggedEvent
    event: DomainEventProtocol[Any]


class Projection(Protocol):
    """What a read model gives the engine."""

    name: str

    def create_tables(self, conn: psycopg.Connection[Any], schema: str) -> None:
        """Create this projection's tables in ``schema`` (which exists and is empty)."""

    def apply(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        """Apply a batch of events inside the caller's transaction."""


class ProjectionHaltedError(RuntimeError):
    """A handler raised: the projection stopped at that event rather than skip it."""


def schema_name(projection: str, generation: int) -> str:
    return f"{projection}_g{generation}"


def _lock_key(name: str) -> int:
    return zlib.crc32(f"evident-projection:{name}".encode())


def ensure_projection(conn: psycopg.Connection[Any], projection: Projection) -> int:
    """Create tracking and the first generation's tables if missing; return the live generation.

    A projection added later starts at the beginning of the log, so it backfills all history.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("ddl"),))
        conn.execute(TRACKING_SQL)
        row = conn.execute(
            "SELECT generation FROM projection_tracking WHERE name = %s", (projection.name,)
        ).fetchone()
        if row is not None:
            return int(row[0])
        schema = schema_name(projection.name, 1)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        projection.create_tables(conn, schema)
        conn.execute(
            "INSERT INTO projection_tracking (name, generation) VALUES (%s, 1)",
            (projection.name,),
        )
        return 1


def live_schema(conn: psycopg.Connection[Any], name: str) -> tuple[str, LogCursor] | None:
    """The schema queries should read for projection ``name`` and how far it has got, or
    None while no worker has created it yet."""
    exists = conn.execute("SELECT to_regclass('projection_tracking') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute(
        "SELECT generation, transaction, position FROM projection_tracking WHERE name = %s",
        (name,),
    ).fetchone()
    if row is None:
        return None
    return schema_name(name, int(row[0])), LogCursor(int(row[1]), int(row[2]))


class Decoder:
    """Turns logged events into domain events with the library's mapper (upcasting included)."""

    def __init__(self) -> None:
        self._mapper: Mapper[Any] = Mapper(transcoder=OrjsonTranscoder())

    def decode(self, logged: LoggedEvent) -> ProjectedEvent:
        stored = StoredEvent(
            originator_id=logged.originator_id,
            originator_version=logged.originator_version,
            topic=logged.topic,
            state=logged.state,
        )
        return ProjectedEvent(logged, self._mapper.to_domain_event(stored))


def _cursor(conn: psycopg.Connection[Any], name: str) -> tuple[int, LogCursor, str]:
    row = conn.execute(
        "SELECT generation, transaction, position, state FROM projection_tracking"
        " WHERE name = %s",
        (name,),
    ).fetchone()
    if row is None:
        msg = f"projection {name!r} is not tracked"
        raise LookupError(msg)
    return int(row[0]), LogCursor(int(row[1]), int(row[2])), str(row[3])


def catch_up_once(
    conn: psycopg.Connection[Any],
    projection: Projection,
    decoder: Decoder,
    batch_size: int = 500,
) -> int:
    """Apply the next batch to the live generation; return how many events were applied."""
    generation, cursor, state = _cursor(conn, projection.name)
    if state == "halted":
        return 0
    batch = read_log(conn, cursor, batch_size)
    if not batch:
        return 0
    schema = schema_name(projection.name, generation)
    try:
        decoded = [decoder.decode(e) for e in batch]
        with conn.transaction():
            projection.apply(conn, schema, decoded)
            last = batch[-1].cursor
            updated = conn.execute(
                "UPDATE projection_tracking SET transaction = %s, position = %s,"
                " state = 'running', error = NULL, error_position = NULL, updated_at = now()"
                " WHERE name = %s AND generation = %s AND transaction = %s AND position = %s",
                (last.transaction, last.position, projection.name, generation,
                 cursor.transaction, cursor.position),
            )
            if updated.rowcount != 1:
                # Another worker moved the cursor: roll our batch back, never apply twice.
                raise _CursorMovedError
    except _CursorMovedError:
        log.warning("projection %s: cursor moved by another worker; batch discarded",
                    projection.name)
        return 0
    except Exception as error:
        _halt(conn, projection, decoder, batch, schema, error)
        raise ProjectionHaltedError(str(error)) from error
    return len(batch)


class _CursorMovedError(Exception):
    pass


def _halt(
    conn: psycopg.Connection[Any],
    projection: Projection,
    decoder: Decoder,
    batch: Sequence[LoggedEvent],
    schema: str,
    error: Exception,
) -> None:
    """Apply the batch event by event up to the poisoned one, then record where and why."""
    for logged in batch:
        try:
            with conn.transaction():
                projection.apply(conn, schema, [decoder.decode(logged)])
                conn.execute(
                    "UPDATE projection_tracking SET transaction = %s, position = %s,"
                    " updated_at = now() WHERE name = %s",
                    (logged.transaction, logged.position, projection.name),
                )
        except Exception as poisoned:
            message = f"{type(poisoned).__name__}: {poisoned}"
            conn.execute(
                "UPDATE projection_tracking SET state = 'halted', error = %s,"
                " error_position = %s, updated_at = now() WHERE name = %s",
                (message, logged.position, projection.name),
            )
            log.error("projection %s halted at position %s: %s",
                      projection.name, logged.position, message)
            return
    # The whole batch failed but no single event does: record the batch error itself.
    conn.execute(
        "UPDATE projection_tracking SET state = 'halted', error = %s, updated_at = now()"
        " WHERE name = %s",
        (f"{type(error).__name__}: {error}", projection.name),
    )


def resume(conn: psycopg.Connection[Any], name: str) -> None:
    """Clear a halt so the projection retries from the event that failed (after a code fix)."""
    conn.execute(
        "UPDATE projection_tracking SET state = 'running', error = NULL, error_position = NULL"
        " WHERE name = %s AND state = 'halted'",
        (name,),
    )


class Worker:
    """Runs projections in this process until stopped, waking on NOTIFY, polling as fallback."""

    def __init__(
        self,
        database_url: str,
        projections: Sequence[Projection],
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        on_progress: Callable[[str, int], None] | None = None,
    ) -> None:
        self.database_url = database_url
        self.projections = list(projections)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.stopping = threading.Event()
        self._on_progress = on_progress

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            for projection in self.projections:
                ensure_projection(conn, projection)
            owned = self._acquire(conn)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
            decoder = Decoder()
            while not self.stopping.is_set():
                owned += self._acquire(conn, exclude=owned)
                busy = False
                for projection in owned:
                    try:
                        applied = catch_up_once(conn, projection, decoder, self.batch_size)
                    except ProjectionHaltedError:
                        applied = 0
                    if applied:
                        busy = True
                        if self._on_progress:
                            self._on_progress(projection.name, applied)
                if not busy:
                    self._wait_for_notification(conn)

    def _acquire(
        self, conn: psycopg.Connection[Any], exclude: Sequence[Projection] = ()
    ) -> list[Projection]:
        """Take the session lock of every projection no other worker is running."""
        acquired = []
        for projection in self.projections:
            if projection in exclude:
                continue
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (_lock_key(projection.name),)
            ).fetchone()
            if row and row[0]:
                log.info("projection %s: this worker applies it", projection.name)
                acquired.append(projection)
            elif not exclude:
                log.info("projection %s: another worker applies it; standing by",
                         projection.name)
        return acquired

    def _wait_for_notification(self, conn: psycopg.Connection[Any]) -> None:
        """Return when new events were announced, the poll interval passed, or we must stop."""
        # Notifications that arrived while we were applying are queued by psycopg: if there
        # are any, there may be more to read right away.
        if any(True for _ in conn.notifies(timeout=0)):
            return
        deadline = time.monotonic() + self.poll_interval
        while not self.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # Short slices so a stop request is noticed within a quarter of a second.
            for _ in conn.notifies(timeout=min(remaining, 0.25), stop_after=1):
                return
