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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import psycopg
from eventsourcing.utils import resolve_topic
from psycopg import sql

from application.event_store import NOTIFY_CHANNEL
from application.log_reader import LogCursor, LoggedEvent, count_after, read_ahead, read_log
from application.personal_data import PERSONAL_FIELDS, KeyStore, PersonalDataMapper, event_type

log = logging.getLogger("evident.projections")

TRACKING_SQL = """
CREATE TABLE IF NOT EXISTS projection_tracking (
    name           text        NOT NULL,
    generation     int         NOT NULL,
    live           boolean     NOT NULL DEFAULT false,
    transaction    bigint      NOT NULL DEFAULT 0,
    position       bigint      NOT NULL DEFAULT 0,
    state          text        NOT NULL DEFAULT 'idle',
    error          text,
    error_position bigint,
    started_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, generation)
);
CREATE UNIQUE INDEX IF NOT EXISTS projection_tracking_live_idx
    ON projection_tracking (name) WHERE live;
"""


class ProjectedEvent(NamedTuple):
    """An event as a projection sees it: decoded, with its log envelope.

    ``event`` is None for an event of a class none of the projections being applied
    declares it ``handles``: decoding is most of the cost of reading the log, and a
    projection skips such events anyway.
    """

    logged: LoggedEvent
    event: Any


class Projection(Protocol):
    """What a read model gives the engine."""

    name: str

    def create_tables(self, conn: psycopg.Connection[Any], schema: str) -> None:
        """Create this projection's tables in ``schema`` (which exists and is empty), with
        the indexes ``apply`` needs.

        A projection may also list ``query_indexes``: statements (``{s}`` for the schema,
        ``CREATE INDEX IF NOT EXISTS``) for the indexes only its queries use. A live
        generation gets them with its tables; a rebuild adds them once it has filled its
        tables and before it goes live, since building an index once is cheaper than
        keeping it up to date through every batch of a rebuild.
        """

    def apply(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        """Apply a batch of events inside the caller's transaction.

        A projection may declare ``handles``, the event classes it reads (events of other
        classes reach it undecoded, as ``event`` None), and ``reads_personal``, those whose
        personal data it reads (in others, sealed boxes stay sealed: opening them is a
        decryption and a second decode per field), and define ``settled(schema,
        committed)``: the engine calls it
        when the transaction its batches were applied in has ended, so that state it keeps
        in memory between batches (``projections.state``) follows only what committed.
        """


@contextmanager
def _applying(
    conn: psycopg.Connection[Any], *projections: tuple[Projection, str]
) -> Iterator[None]:
    """A transaction for batches of ``(projection, schema)``, telling each projection that
    keeps state between batches whether it committed."""
    try:
        with conn.transaction():
            yield
    except BaseException:
        _settle(projections, committed=False)
        raise
    _settle(projections, committed=True)


def _create_indexes(conn: psycopg.Connection[Any], projection: Projection, schema: str) -> None:
    for statement in getattr(projection, "query_indexes", ()):
        conn.execute(sql.SQL(statement).format(s=sql.Identifier(schema)))


def _settle(projections: Sequence[tuple[Projection, str]], *, committed: bool) -> None:
    for projection, schema in projections:
        settled = getattr(projection, "settled", None)
        if settled is not None:
            settled(schema, committed)


class ProjectionHaltedError(RuntimeError):
    """A handler raised: the projection stopped at that event rather than skip it."""


def schema_name(projection: str, generation: int) -> str:
    return f"{projection}_g{generation}"


def _lock_key(name: str) -> int:
    return zlib.crc32(f"evident-projection:{name}".encode())


def _create_generation(
    conn: psycopg.Connection[Any], projection: Projection, generation: int, *, live: bool
) -> None:
    schema = schema_name(projection.name, generation)
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    projection.create_tables(conn, schema)
    if live:
        _create_indexes(conn, projection, schema)
    conn.execute(
        "INSERT INTO projection_tracking (name, generation, live, state)"
        " VALUES (%s, %s, %s, %s)",
        (projection.name, generation, live, "running" if live else "building"),
    )


def ensure_tracking(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("ddl"),))
        conn.execute(TRACKING_SQL)


def ensure_projection(conn: psycopg.Connection[Any], projection: Projection) -> int:
    """Create tracking and the first generation's tables if missing; return the live generation.

    A projection added later starts at the beginning of the log, so it backfills all history.
    """
    ensure_tracking(conn)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("ddl"),))
        row = conn.execute(
            "SELECT generation FROM projection_tracking WHERE name = %s AND live",
            (projection.name,),
        ).fetchone()
        if row is not None:
            return int(row[0])
        newest = conn.execute(
            "SELECT coalesce(max(generation), 0) FROM projection_tracking WHERE name = %s",
            (projection.name,),
        ).fetchone()
        generation = int(newest[0]) + 1 if newest else 1
        _create_generation(conn, projection, generation, live=True)
        return generation


def live_schema(conn: psycopg.Connection[Any], name: str) -> tuple[str, LogCursor] | None:
    """The schema queries should read for projection ``name`` and how far it has got, or
    None while no worker has created it yet."""
    try:
        # Every read-model request asks this: one query, not a catalogue lookup first.
        row = conn.execute(
            "SELECT generation, transaction, position FROM projection_tracking"
            " WHERE name = %s AND live",
            (name,),
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        return None  # no worker has started yet
    if row is None:
        return None
    return schema_name(name, int(row[0])), LogCursor(int(row[1]), int(row[2]))


class Decoder:
    """Turns logged events into domain events with the library's mapper (upcasting included),
    opening personal data with keys fetched once per batch."""

    def __init__(self, mapper: PersonalDataMapper) -> None:
        self._mapper = mapper
        # What to do with each topic, per ``Wanted`` (see _plans_for), worked out once.
        self._plans: dict[Wanted | None, dict[str, _Plan]] = {}

    @classmethod
    def for_connection(cls, conn: psycopg.Connection[Any]) -> Decoder:
        """A decoder that reads personal-data keys through ``conn``."""
        return cls(PersonalDataMapper(KeyStore(lambda: nullcontext(conn))))

    def decode(self, logged: LoggedEvent) -> ProjectedEvent:
        return self.decode_batch([logged])[0]

    def decode_batch(
        self, batch: Sequence[LoggedEvent], wanted: Wanted | None = None
    ) -> list[ProjectedEvent]:
        """Decode a page of the log: every event with its personal data opened, or as
        ``wanted`` says (events of other classes come back with ``event`` None, sealed
        boxes stay sealed in events of classes no one reads personal data of). Keys of data
        subjects come with their events; only an event stored without its subject named
        needs one key query more."""
        mapper = self._mapper
        plans = self._plans_for(wanted, batch)
        # Boxes of subjects not named with their event (stored before subjects were) are
        # opened with keys fetched for the whole batch at once.
        mapper.prefetch([logged.state for logged in batch
                         if logged.subject_id is None and plans[logged.topic].prefetch])
        try:
            event_from = mapper.event_from
            projected = tuple.__new__  # ProjectedEvent(...) without its __new__'s frame
            decoded = []
            for logged in batch:
                plan = plans[logged.topic]
                event = event_from(
                    logged.topic, logged.state, logged.originator_id, logged.originator_version,
                    logged.subject_id, logged.subject_key, open_personal=plan.open_personal,
                ) if plan.decode else None
                decoded.append(projected(ProjectedEvent, (logged, event)))
            return decoded
        finally:
            mapper.forget_prefetched()

    def _plans_for(self, wanted: Wanted | None, batch: Sequence[LoggedEvent]) -> dict[str, _Plan]:
        """Each topic of ``batch`` planned for ``wanted`` (from the cache, or worked out)."""
        plans = self._plans.get(wanted)
        if plans is None:
            plans = self._plans[wanted] = {}
        events, personal = wanted if wanted is not None else (None, None)
        for topic in {logged.topic for logged in batch} - plans.keys():
            kind = resolve_topic(topic)
            decode = events is None or issubclass(kind, events)
            open_personal = decode and (personal is None or issubclass(kind, personal))
            plans[topic] = _Plan(decode, open_personal,
                                 open_personal and event_type(topic) in PERSONAL_FIELDS)
        return plans


class _Plan(NamedTuple):
    """What a decoder does with events of one topic: decode them at all, open their personal
    data, and fetch keys for boxes of subjects not named with the event (only event types
    that hold personal data can have any)."""

    decode: bool
    open_personal: bool
    prefetch: bool


class Wanted(NamedTuple):
    """What a group of projections reads: the event classes it handles, and those whose
    personal data it reads (None: every class)."""

    events: tuple[type, ...] | None
    personal: tuple[type, ...] | None


def _union(projections: Sequence[Projection], attribute: str) -> tuple[type, ...] | None:
    found: list[type] = []
    for projection in projections:
        classes = getattr(projection, attribute, None)
        if classes is None:
            return None
        found.extend(classes)
    return tuple(dict.fromkeys(found))


def wanted_by(projections: Sequence[Projection]) -> Wanted:
    """What ``projections`` read, from what each declares it ``handles`` and whose personal
    data it ``reads_personal``; a projection that declares nothing reads everything."""
    return Wanted(_union(projections, "handles"), _union(projections, "reads_personal"))


@dataclass(frozen=True)
class _Tracked:
    generation: int
    cursor: LogCursor
    state: str
    live: bool


def _tracked(
    conn: psycopg.Connection[Any], name: str, generation: int | None
) -> _Tracked | None:
    if generation is None:
        row = conn.execute(
            "SELECT generation, transaction, position, state, live FROM projection_tracking"
            " WHERE name = %s AND live",
            (name,),
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT generation, transaction, position, state, live FROM projection_tracking"
            " WHERE name = %s AND generation = %s",
            (name, generation),
        ).fetchone()
    if row is None:
        return None
    return _Tracked(int(row[0]), LogCursor(int(row[1]), int(row[2])), str(row[3]), bool(row[4]))


def _apply_batch(
    conn: psycopg.Connection[Any],
    projection: Projection,
    decoder: Decoder,
    tracked: _Tracked,
    batch: Sequence[LoggedEvent],
) -> None:
    """Apply ``batch`` and move the cursor, in the caller's transaction."""
    _apply_decoded(conn, projection, tracked,
                   decoder.decode_batch(batch, wanted_by([projection])))


def _apply_decoded(
    conn: psycopg.Connection[Any],
    projection: Projection,
    tracked: _Tracked,
    events: Sequence[ProjectedEvent],
) -> None:
    schema = schema_name(projection.name, tracked.generation)
    projection.apply(conn, schema, events)
    last = events[-1].logged.cursor
    updated = conn.execute(
        "UPDATE projection_tracking SET transaction = %s, position = %s,"
        " state = CASE WHEN live THEN 'running' ELSE state END,"
        " error = NULL, error_position = NULL, updated_at = now()"
        " WHERE name = %s AND generation = %s AND live = %s"
        " AND transaction = %s AND position = %s",
        (last.transaction, last.position, projection.name, tracked.generation, tracked.live,
         tracked.cursor.transaction, tracked.cursor.position),
    )
    if updated.rowcount != 1:
        # Another worker moved the cursor, or a rebuild switched generations: this batch
        # must not count. The caller's transaction rolls it back.
        raise _CursorMovedError


def catch_up_once(
    conn: psycopg.Connection[Any],
    projection: Projection,
    decoder: Decoder,
    batch_size: int = 500,
    *,
    generation: int | None = None,
) -> int:
    """Apply the next batch to the live generation (or to ``generation`` while rebuilding);
    return how many events were applied."""
    tracked = _tracked(conn, projection.name, generation)
    if tracked is None or tracked.state == "halted":
        return 0
    batch = read_log(conn, tracked.cursor, batch_size)
    if not batch:
        return 0
    try:
        with _applying(conn, (projection, schema_name(projection.name, tracked.generation))):
            _apply_batch(conn, projection, decoder, tracked, batch)
    except _CursorMovedError:
        log.info("projection %s: cursor moved elsewhere; batch discarded", projection.name)
        return 0
    except Exception as error:
        if conn.broken or conn.closed:
            # The database went away, not the event: nothing of the batch was committed,
            # and whoever runs the projection next (this worker, reconnected) applies it.
            raise
        _halt(conn, projection, decoder, tracked, batch, error)
        raise ProjectionHaltedError(str(error)) from error
    return len(batch)


class _CursorMovedError(Exception):
    pass


def _halt(
    conn: psycopg.Connection[Any],
    projection: Projection,
    decoder: Decoder,
    tracked: _Tracked,
    batch: Sequence[LoggedEvent],
    error: Exception,
) -> None:
    """Apply the batch event by event up to the poisoned one, then record where and why."""
    for logged in batch:
        current = _tracked(conn, projection.name, tracked.generation)
        if current is None:
            return
        try:
            with _applying(conn, (projection, schema_name(projection.name, current.generation))):
                _apply_batch(conn, projection, decoder, current, [logged])
        except _CursorMovedError:
            return
        except Exception as poisoned:
            message = f"{type(poisoned).__name__}: {poisoned}"
            conn.execute(
                "UPDATE projection_tracking SET state = 'halted', error = %s,"
                " error_position = %s, updated_at = now() WHERE name = %s AND generation = %s",
                (message, logged.position, projection.name, tracked.generation),
            )
            log.error("projection %s halted at position %s: %s",
                      projection.name, logged.position, message)
            return
    # The whole batch failed but no single event does: record the batch error itself.
    conn.execute(
        "UPDATE projection_tracking SET state = 'halted', error = %s, updated_at = now()"
        " WHERE name = %s AND generation = %s",
        (f"{type(error).__name__}: {error}", projection.name, tracked.generation),
    )


def resume(conn: psycopg.Connection[Any], name: str) -> None:
    """Clear a halt so the projection retries from the event that failed (after a code fix).

    Workers do this when they start, so restarting a fixed worker resumes; a worker never
    retries in a loop by itself.
    """
    conn.execute(
        "UPDATE projection_tracking SET state = CASE WHEN live THEN 'running' ELSE 'building'"
        " END, error = NULL, error_position = NULL WHERE name = %s AND state = 'halted'",
        (name,),
    )


class AlreadyRebuildingError(RuntimeError):
    """Another process is rebuilding this projection right now."""


def rebuild(
    conn: psycopg.Connection[Any],
    projection: Projection,
    decoder: Decoder | None = None,
    batch_size: int = 2000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Build a new generation from the whole log while the live one keeps serving, then
    switch to it in one transaction. Returns the new generation."""
    return rebuild_together(conn, [projection], decoder, batch_size, on_progress)[
        projection.name]


def rebuild_together(
    conn: psycopg.Connection[Any],
    projections: Sequence[Projection],
    decoder: Decoder | None = None,
    batch_size: int = 2000,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Rebuild several projections in one pass over the log, then switch each.

    Reading and decoding is most of a rebuild's cost, so each page is read and decoded once
    and applied to every new generation in one transaction. An interrupted rebuild resumes
    from each generation's own cursor the next time. The previous generation is kept
    (queries that started before the switch may still read it); older ones are dropped.
    Returns the new generation of each projection.
    """
    decoder = decoder or Decoder.for_connection(conn)
    locked: list[Projection] = []
    try:
        for projection in projections:
            ensure_projection(conn, projection)
            key = _lock_key(f"rebuild:{projection.name}")
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not row or not row[0]:
                raise AlreadyRebuildingError(
                    f"projection {projection.name!r} is already rebuilding")
            locked.append(projection)
        generations = {p.name: _building_generation(conn, p) for p in projections}
        _fill_together(conn, projections, generations, decoder, batch_size, on_progress)
        for projection in projections:
            with conn.transaction():
                _create_indexes(conn, projection,
                                schema_name(projection.name, generations[projection.name]))
        for projection in projections:
            generation = generations[projection.name]
            while not _switch(conn, projection, decoder, generation, batch_size):
                # The live generation had read further than this snapshot's horizon allows
                # us to (a transaction open elsewhere holds it back): wait, catch up, retry.
                time.sleep(0.05)
                while applied := catch_up_once(conn, projection, decoder, batch_size,
                                               generation=generation):
                    if on_progress:
                        on_progress(applied)
        return generations
    finally:
        for projection in locked:
            conn.execute("SELECT pg_advisory_unlock(%s)",
                         (_lock_key(f"rebuild:{projection.name}"),))


def _fill_together(
    conn: psycopg.Connection[Any],
    projections: Sequence[Projection],
    generations: dict[str, int],
    decoder: Decoder,
    batch_size: int,
    on_progress: Callable[[int], None] | None,
) -> None:
    def current() -> dict[str, _Tracked]:
        found = {}
        for p in projections:
            tracked = _tracked(conn, p.name, generations[p.name])
            if tracked is None or tracked.state == "halted":
                raise ProjectionHaltedError(f"rebuild of {p.name!r} halted")
            found[p.name] = tracked
        return found

    cursor = min(t.cursor for t in current().values())
    wanted = wanted_by(projections)
    # The next batch is read while this one is decoded and applied.
    for batch in read_ahead(conn, cursor, batch_size):
        decoded = decoder.decode_batch(batch, wanted)
        tracked = current()
        targets = [(p, schema_name(p.name, tracked[p.name].generation)) for p in projections]
        try:
            with _applying(conn, *targets):
                first = batch[0].cursor
                for projection in projections:
                    here = tracked[projection.name]
                    # Usually every projection stands where the batch begins; one that an
                    # earlier, interrupted rebuild took further skips what it has.
                    mine = decoded if here.cursor < first else [
                        e for e in decoded if e.logged.cursor > here.cursor
                    ]
                    if mine:
                        _apply_decoded(conn, projection, here, mine)
        except _CursorMovedError:
            raise AlreadyRebuildingError("another process moved a rebuild cursor") from None
        except Exception:
            # Let each projection take the batch on its own: the one that fails halts at its
            # poisoned event with the error recorded (ProjectionHaltedError).
            for projection in projections:
                catch_up_once(conn, projection, decoder, batch_size,
                              generation=tracked[projection.name].generation)
            raise
        if on_progress:
            on_progress(len(batch))


def _building_generation(conn: psycopg.Connection[Any], projection: Projection) -> int:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("ddl"),))
        row = conn.execute(
            "SELECT generation FROM projection_tracking WHERE name = %s AND NOT live"
            " AND state IN ('building', 'halted') ORDER BY generation DESC LIMIT 1",
            (projection.name,),
        ).fetchone()
        if row is not None:
            return int(row[0])
        newest = conn.execute(
            "SELECT max(generation) FROM projection_tracking WHERE name = %s",
            (projection.name,),
        ).fetchone()
        generation = int(newest[0]) + 1 if newest and newest[0] is not None else 1
        _create_generation(conn, projection, generation, live=False)
        return generation


def _switch(
    conn: psycopg.Connection[Any],
    projection: Projection,
    decoder: Decoder,
    generation: int,
    batch_size: int,
) -> bool:
    """Make ``generation`` live, atomically, at or beyond the point the old one had reached.

    Returns False (changing nothing) if the new generation cannot yet reach that point.
    """
    try:
        _switch_in_transaction(conn, projection, decoder, generation, batch_size)
    except _NotYetError:
        return False
    log.info("projection %s: generation %s is live", projection.name, generation)
    return True


class _NotYetError(Exception):
    pass


def _switch_in_transaction(
    conn: psycopg.Connection[Any],
    projection: Projection,
    decoder: Decoder,
    generation: int,
    batch_size: int,
) -> None:
    with _applying(conn, (projection, schema_name(projection.name, generation))):
        # Lock the live row: the live worker's next cursor update waits, then finds the row
        # no longer live and discards its batch. Nothing is applied to both or to neither.
        row = conn.execute(
            "SELECT transaction, position FROM projection_tracking WHERE name = %s AND live"
            " FOR UPDATE",
            (projection.name,),
        ).fetchone()
        old = LogCursor(int(row[0]), int(row[1])) if row else LogCursor.start()
        while True:
            tracked = _tracked(conn, projection.name, generation)
            if tracked is None or tracked.state == "halted":
                raise ProjectionHaltedError(f"rebuild of {projection.name!r} halted")
            batch = read_log(conn, tracked.cursor, batch_size)
            if not batch:
                break
            _apply_batch(conn, projection, decoder, tracked, batch)
        if tracked.cursor < old:
            raise _NotYetError  # rolls the transaction back; the caller waits and retries
        conn.execute(
            "UPDATE projection_tracking SET live = false, updated_at = now()"
            " WHERE name = %s AND live",
            (projection.name,),
        )
        conn.execute(
            "UPDATE projection_tracking SET live = true, state = 'running', updated_at = now()"
            " WHERE name = %s AND generation = %s",
            (projection.name, generation),
        )
        stale = conn.execute(
            "DELETE FROM projection_tracking WHERE name = %s AND generation < %s"
            " RETURNING generation",
            (projection.name, generation - 1),
        ).fetchall()
        for (stale_generation,) in stale:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema_name(projection.name, int(stale_generation)))))


@dataclass(frozen=True)
class Until:
    """A point in the log's history: events recorded at or before ``moment``, or with a
    position at or below ``position``."""

    moment: datetime | None = None
    position: int | None = None

    def includes(self, logged: LoggedEvent) -> bool:
        if self.position is not None and logged.position > self.position:
            return False
        return self.moment is None or logged.recorded_at <= self.moment


HORIZON_WAIT = 60.0
# After it last applied events, a worker looks for more every LINGER_POLL seconds for LINGER.
LINGER = 0.25
LINGER_POLL = 0.004
# Waits between attempts to reconnect after the database dropped a worker's connection.
RECONNECT_FIRST = 0.5
RECONNECT_MAX = 5.0


class HorizonHeldBackError(RuntimeError):
    """Committed events stayed unreadable: a transaction somewhere on the cluster is open."""


class ReplayTargetError(ValueError):
    """The schema to replay into is not one Evident may fill."""


def replay(
    conn: psycopg.Connection[Any],
    projection: Projection,
    into: str,
    until: Until,
    decoder: Decoder | None = None,
    batch_size: int = 2000,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Build ``projection``'s tables in schema ``into`` from the log as it stood at ``until``.

    A point-in-time copy for auditors (stock and invoices at quarter close): it never
    touches the live generation or tracking. The whole log is scanned because positions and
    recorded times are not in the same order across concurrent transactions; events after
    ``until`` are skipped. Returns how many events were applied.
    """
    if not into.isidentifier() or into.startswith("pg_") or into == "public" or (
        f"{projection.name}_g" in into
    ):
        raise ReplayTargetError(
            f"--into must be a new schema name (letters, digits, underscore), got {into!r}"
        )
    decoder = decoder or Decoder.for_connection(conn)
    exists = conn.execute(
        "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (into,)
    ).fetchone()
    if exists:
        raise ReplayTargetError(f"schema {into!r} already exists; choose another or drop it")
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(into)))
        projection.create_tables(conn, into)
    cursor, applied = LogCursor.start(), 0
    deadline = time.monotonic() + HORIZON_WAIT
    wanted = wanted_by([projection])
    while True:
        batch = read_log(conn, cursor, batch_size)
        if not batch:
            if count_after(conn, cursor) == 0:
                break
            # Committed events lie above the read horizon (a transaction open elsewhere on
            # the cluster): a point-in-time copy must not silently leave them out.
            if time.monotonic() > deadline:
                raise HorizonHeldBackError(
                    f"the log's read horizon stayed held back for {HORIZON_WAIT:g} s by a"
                    " long-open transaction; end it and replay again"
                )
            time.sleep(0.05)
            continue
        cursor = batch[-1].cursor
        chosen = decoder.decode_batch([e for e in batch if until.includes(e)], wanted)
        if chosen:
            with _applying(conn, (projection, into)):
                projection.apply(conn, into, chosen)
            applied += len(chosen)
        if on_progress:
            on_progress(len(batch))
    with conn.transaction():
        _create_indexes(conn, projection, into)
    return applied


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
        self._busy_at = 0.0

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        """Run until stopped. A database that cannot be reached at the start is an error;
        once running, a lost connection (a restart, a failover) is reconnected, waiting
        longer each time up to ``RECONNECT_MAX`` seconds. The session locks went with the
        old connection, so the projections are taken anew, each from its recorded cursor:
        a batch the database dropped was never committed, and nothing is applied twice."""
        conn: psycopg.Connection[Any] | None = psycopg.connect(self.database_url,
                                                              autocommit=True)
        while conn is not None:
            try:
                with conn:
                    self._run_on(conn)
                return
            except (psycopg.OperationalError, psycopg.InterfaceError) as lost:
                conn = self._reconnect(lost)

    def _reconnect(self, lost: psycopg.Error) -> psycopg.Connection[Any] | None:
        """A new connection once the database answers again, or None if stopped first."""
        wait = RECONNECT_FIRST
        while True:
            log.warning("database connection lost (%s: %s); reconnecting in %.1f s",
                        type(lost).__name__, (str(lost).strip() or "-").splitlines()[0], wait)
            if self.stopping.wait(wait):
                return None
            try:
                return psycopg.connect(self.database_url, autocommit=True)
            except psycopg.OperationalError as error:
                lost, wait = error, min(wait * 2, RECONNECT_MAX)

    def _run_on(self, conn: psycopg.Connection[Any]) -> None:
        for projection in self.projections:
            ensure_projection(conn, projection)
        owned = self._acquire(conn)
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
        for projection in owned:
            resume(conn, projection.name)
        decoder = Decoder.for_connection(conn)
        while not self.stopping.is_set():
            taken_over = self._acquire(conn, exclude=owned)
            for projection in taken_over:
                resume(conn, projection.name)
            owned += taken_over
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
            if busy:
                self._busy_at = time.monotonic()
            else:
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
        """Return when new events were announced, the poll interval passed, or we must stop.

        Writers announce at most one commit per few milliseconds (``EventRecorder``), so for
        a while after it last found events the worker looks again every ``LINGER_POLL``
        seconds: the commits between two announcements are picked up without waiting for
        the next one, or for the poll interval once writing stops.
        """
        # Notifications that arrived while we were applying are queued by psycopg: if there
        # are any, there may be more to read right away.
        if any(True for _ in conn.notifies(timeout=0)):
            return
        now = time.monotonic()
        lingering = now - self._busy_at < LINGER
        deadline = now + (LINGER_POLL if lingering else self.poll_interval)
        while not self.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # Short slices so a stop request is noticed within a quarter of a second.
            for _ in conn.notifies(timeout=min(remaining, 0.25), stop_after=1):
                return
