"""The event store: one append-only PostgreSQL log for every aggregate, with envelopes.

This is the one module that owns how events are written (DESIGN decisions 1–5). It extends
the eventsourcing library at its documented seams rather than forking it:

* ``EventRecorder`` subclasses the library's Postgres application recorder. It writes the
  envelope (actor, role, channel, reason, correlation/causation/command ids) as columns,
  lets the database stamp ``recorded_at`` and the writing transaction's id, and does **not**
  take the library's table lock: readers stay gap-free by reading below the snapshot
  horizon instead (see ``application.log_reader``), so writers run in parallel.
* ``EvidentFactory`` subclasses the library's Postgres factory so applications get our
  recorder, our snapshot table and the orjson transcoder.
* ``create_schema`` creates everything idempotently, including the triggers that make the
  database itself refuse UPDATE, DELETE and TRUNCATE on the log.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Mapper,
    OperationalError,
    ProgrammingError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import Environment, retry
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL
from psycopg_pool import AsyncConnectionPool

from application.bridge import await_only, bridged
from application.envelope import Envelope
from application.personal_data import (
    KEYS_SQL,
    KeyStore,
    PersonalDataMapper,
    PersonalStoredEvent,
)
from application.pools import recent_first
from application.transcoding import OrjsonTranscoder

EVENTS_TABLE = "events"
SNAPSHOTS_TABLE = "snapshots"
NOTIFY_CHANNEL = "evident_events"
# At most one NOTIFY per this many seconds per process (see EventRecorder._claim_announcement).
ANNOUNCE_INTERVAL = 0.005

# Why an advisory lock: two processes starting at once (API and worker) would otherwise
# race on CREATE ... IF NOT EXISTS, which is not concurrency-safe in PostgreSQL.
SCHEMA_LOCK_KEY = 0x45564944  # "EVID"


def _chain_hash(row: str) -> str:
    """The SQL of an event's chained hash (``previous``: the hash of the event before it),
    for the event ``row`` names: one template for the SQL function and the trigger."""
    return f"""sha256(
        coalesce(previous, ''::bytea)
        || convert_to(jsonb_build_array(
               {row}.originator_id, {row}.originator_version, {row}.topic,
               to_char({row}.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               {row}.actor, {row}.actor_role, {row}.channel, {row}.reason,
               {row}.correlation_id, {row}.causation_id, {row}.command_id)::text, 'UTF8')
        || {row}.state)"""


SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (
    notification_id    bigserial   NOT NULL,
    originator_id      uuid        NOT NULL,
    originator_version bigint      NOT NULL,
    topic              text        NOT NULL,
    state              bytea       NOT NULL,
    xact_id            xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    actor              text        NOT NULL,
    actor_role         text        NOT NULL,
    channel            text        NOT NULL,
    reason             text,
    correlation_id     uuid        NOT NULL,
    causation_id       uuid,
    command_id         uuid        NOT NULL,
    PRIMARY KEY (originator_id, originator_version)
);
CREATE UNIQUE INDEX IF NOT EXISTS {EVENTS_TABLE}_position_idx
    ON {EVENTS_TABLE} (notification_id);
CREATE UNIQUE INDEX IF NOT EXISTS {EVENTS_TABLE}_log_order_idx
    ON {EVENTS_TABLE} (xact_id, notification_id);
CREATE INDEX IF NOT EXISTS {EVENTS_TABLE}_aggregate_time_idx
    ON {EVENTS_TABLE} (originator_id, recorded_at);
CREATE INDEX IF NOT EXISTS {EVENTS_TABLE}_recorded_at_idx
    ON {EVENTS_TABLE} (recorded_at);
-- The data subject whose personal data the event holds (sealed, see personal_data), so
-- that readers fetch the subject's key with the event. Not part of the hash: the sealed
-- boxes in the state name their subject themselves, bound into their encryption.
ALTER TABLE {EVENTS_TABLE} ADD COLUMN IF NOT EXISTS subject_id uuid;

-- Nothing looks events up by command id (timelines group by it in their own tables), so an
-- index on it would only slow every append down.
DROP INDEX IF EXISTS {EVENTS_TABLE}_command_idx;

-- Tamper evidence: each event's hash covers its content, its envelope and the hash of the
-- previous event of the same aggregate, computed by the database as the row is inserted.
ALTER TABLE {EVENTS_TABLE} ADD COLUMN IF NOT EXISTS hash bytea;
CREATE OR REPLACE FUNCTION evident_event_hash(previous bytea, e {EVENTS_TABLE}) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT {_chain_hash('e')}
$$;
CREATE OR REPLACE FUNCTION evident_chain_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous bytea;
BEGIN
    IF NEW.originator_version > 1 THEN
        SELECT hash INTO previous FROM {EVENTS_TABLE}
         WHERE originator_id = NEW.originator_id
           AND originator_version = NEW.originator_version - 1;
    END IF;
    -- evident_event_hash(previous, NEW), written out (from the same template): calling the
    -- SQL function from here would plan it anew in every transaction, which costs more than
    -- the hash itself. tests/store/test_tamper_evidence.py checks that the two agree.
    NEW.hash := {_chain_hash('NEW')};
    RETURN NEW;
END;
$$;
CREATE OR REPLACE TRIGGER {EVENTS_TABLE}_chain
    BEFORE INSERT ON {EVENTS_TABLE}
    FOR EACH ROW EXECUTE FUNCTION evident_chain_event();

CREATE OR REPLACE FUNCTION evident_refuse_log_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on table % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a new event that corrects the old one instead.';
END;
$$;
CREATE OR REPLACE TRIGGER {EVENTS_TABLE}_refuse_update_delete
    BEFORE UPDATE OR DELETE ON {EVENTS_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION evident_refuse_log_change();
CREATE OR REPLACE TRIGGER {EVENTS_TABLE}_refuse_truncate
    BEFORE TRUNCATE ON {EVENTS_TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION evident_refuse_log_change();
REVOKE UPDATE, DELETE, TRUNCATE ON {EVENTS_TABLE} FROM PUBLIC;

CREATE TABLE IF NOT EXISTS {SNAPSHOTS_TABLE} (
    originator_id      uuid   NOT NULL,
    originator_version bigint NOT NULL,
    topic              text   NOT NULL,
    state              bytea  NOT NULL,
    PRIMARY KEY (originator_id, originator_version)
);
"""

# The role an operator should run the application as: it may read and append to the log,
# and nothing else on it. Created only where the connecting user may create roles.
APP_ROLE_SQL = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'evident_app') THEN
        CREATE ROLE evident_app NOLOGIN;
    END IF;
    GRANT SELECT, INSERT ON {EVENTS_TABLE} TO evident_app;
    GRANT USAGE ON SEQUENCE {EVENTS_TABLE}_notification_id_seq TO evident_app;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'evident_app role not created: the connecting user may not create roles';
END;
$$;
"""


def create_schema(conn: psycopg.Connection[Any]) -> None:
    """Create the event store's tables, indexes and guards; safe to run any number of times."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        conn.execute(SCHEMA_SQL)
        conn.execute(KEYS_SQL)
        conn.execute(APP_ROLE_SQL)


# The key by a subquery, asked only for events that hold personal data, not by a join: a
# join lets the planner hash the whole key table (a row per customer ever registered) to
# find the keys of a handful of events.
SUBJECT_KEY = (
    "CASE WHEN e.subject_id IS NULL THEN NULL ELSE (SELECT k.key FROM personal_data_keys k"
    " WHERE k.subject_id = e.subject_id) END AS subject_key"
)

_SELECT_EVENTS = (
    f"SELECT e.originator_id, e.originator_version, e.topic, e.state, e.subject_id,"
    f" {SUBJECT_KEY} FROM {EVENTS_TABLE} e WHERE e.originator_id = %s"
)


class _BinarySelect:
    """The library's ``select_events`` (one aggregate's rows, versions in (gt, lte], by
    version, at most ``limit``) with binary results: states arrive as their bytes. In text
    a 150 KB snapshot comes as twice as many hex digits for psycopg to turn back into bytes,
    which costs about 1 ms more. Subclasses say what to select (rows ``e`` of one
    aggregate) and how a row becomes a ``StoredEvent``."""

    datastore: PostgresDatastore
    _select_sql: str

    @staticmethod
    def _stored(row: tuple[Any, ...]) -> StoredEvent:
        return StoredEvent(*row)

    # As the library's: a pooled connection that the server dropped is replaced and the
    # read tried again.
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        statement = self._select_sql
        params: list[Any] = [originator_id]
        if gt is not None:
            params.append(gt)
            statement += " AND e.originator_version > %s"
        if lte is not None:
            params.append(lte)
            statement += " AND e.originator_version <= %s"
        statement += " ORDER BY e.originator_version" + (" DESC" if desc else "")
        if limit is not None:
            params.append(limit)
            statement += " LIMIT %s"
        with self.datastore.get_connection() as conn, conn.cursor(
            row_factory=tuple_row, binary=True
        ) as cur:
            rows = cur.execute(statement, params, prepare=True).fetchall()
        return [self._stored(row) for row in rows]


class EventRecorder(_BinarySelect, PostgresApplicationRecorder):
    """Appends stored events with their envelope in one statement, without a table lock."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, events_table_name=events_table_name)
        self._table = events_table_name
        self._statements: dict[tuple[int, int, bool, int], str] = {}
        self._next_announcement = 0.0
        # Set by an asyncio server (interfaces.http.app): appends and version lookups of
        # commands it runs with ``application.bridge.run_bridged`` go through this pool.
        self.async_pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None

    def _lock_table(self, curs: psycopg.Cursor[DictRow]) -> None:
        """Deliberately nothing: gap-safety comes from the reader (DESIGN decision 5)."""

    def create_table(self) -> None:
        with self.datastore.get_connection() as conn:
            create_schema(conn)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        envelope = kwargs.get("envelope")
        if not isinstance(envelope, Envelope):
            msg = "every event needs an envelope: save(..., envelope=Envelope(...))"
            raise ProgrammingError(msg)
        new_keys = self.take_new_keys()
        guard = kwargs.get("guard")
        pool = self.async_pool
        if pool is not None and bridged():
            return await_only(self._append_async(pool, stored_events, envelope, new_keys, guard))
        with self.datastore.get_connection() as conn:
            return self.append(conn, stored_events, envelope, new_keys, guard)

    _select_sql = _SELECT_EVENTS

    @staticmethod
    def _stored(row: tuple[Any, ...]) -> StoredEvent:
        """Each event with its data subject's key, read in the same query (see
        ``PersonalStoredEvent``)."""
        i, v, topic, state, subject, key = row
        if subject is not None:
            return PersonalStoredEvent(i, v, topic, state, subject, key)
        return StoredEvent(i, v, topic, state)

    def take_new_keys(self) -> dict[UUID, bytes]:
        """Personal-data keys to store with the events being inserted (set by the factory)."""
        return {}

    def _statement(self, events: int, keys: int, announce: bool, guarded: int) -> str:
        """The INSERT for ``events`` rows (and ``keys`` new personal-data keys), made once.

        Plain ``VALUES`` rows rather than arrays to ``unnest``: nothing to build into arrays
        on the way out, nothing to unpack on the way in, and PostgreSQL numbers and returns
        the rows in the order they are listed, which is the order the events were raised.
        With a guard of ``guarded`` aggregates it inserts nothing unless they are still at the
        versions the command read (0: still absent); see ``append``.
        """
        shape = (events, keys, announce, guarded)
        statement = self._statements.get(shape)
        if statement is None:
            # Parameters travel in binary: a state's bytes as they are, not as hex text. The
            # casts let PostgreSQL type the rows where they are not an INSERT's own VALUES.
            row = "(%b::uuid, %b::bigint, %b::text, %b::bytea, %b::text, %b::text, %b::text," \
                  " %b::text, %b::uuid, %b::uuid, %b::uuid, %b::uuid)"
            rows = ", ".join([row] * events)
            # PostgreSQL delivers one notification per channel and payload per transaction,
            # however many rows ask for it.
            notify = f", pg_notify('{NOTIFY_CHANNEL}', '')" if announce else ""
            columns = (
                "originator_id, originator_version, topic, state, actor, actor_role, channel,"
                " reason, correlation_id, causation_id, command_id, subject_id"
            )
            prelude: list[str] = []
            if guarded:
                read = ", ".join(["(%b::uuid, %b::bigint)"] * guarded)
                prelude.append(
                    f"guard AS (SELECT NOT EXISTS (SELECT FROM (VALUES {read})"
                    " AS g(id, version) WHERE coalesce((SELECT e.originator_version FROM"
                    f" {self._table} e WHERE e.originator_id = g.id ORDER BY"
                    " e.originator_version DESC LIMIT 1), 0) <> g.version) AS holds)"
                )
                source = f"SELECT * FROM (VALUES {rows}) AS v WHERE (SELECT holds FROM guard)"
            else:
                source = f"VALUES {rows}"
            if keys:
                # New data subjects' keys go in with their first events: one statement, so a
                # duplicate registration fails on both at once and there is no extra commit.
                pairs = ", ".join(["(%b::uuid, %b::bytea)"] * keys)
                where = " WHERE (SELECT holds FROM guard)" if guarded else ""
                prelude.append(
                    "new_keys AS (INSERT INTO personal_data_keys (subject_id, key)"
                    f" SELECT * FROM (VALUES {pairs}) AS k{where})"
                )
            with_clause = f"WITH {', '.join(prelude)} " if prelude else ""
            statement = (
                f"{with_clause}INSERT INTO {self._table} ({columns}) {source}"
                f" RETURNING notification_id{notify}"
            )
            self._statements[shape] = statement
        return statement

    def _claim_announcement(self) -> bool:
        """Whether this append should wake the projection workers (LISTEN/NOTIFY).

        A NOTIFY takes PostgreSQL's global notification lock from the commit until the
        transaction ends, so writers that all notified would commit one at a time; a NOTIFY
        of its own after the commit costs a second round trip. So at most one append per
        ``ANNOUNCE_INTERVAL`` (per process) carries the NOTIFY in its own statement. A
        worker that was woken keeps looking at short intervals for a while afterwards
        (``projections.engine.Worker``), which covers the commits in between.
        """
        now = time.monotonic()
        if now < self._next_announcement:
            return False
        self._next_announcement = now + ANNOUNCE_INTERVAL
        return True

    def _release_announcement(self) -> None:
        """A claimed NOTIFY was not sent (the append failed): the next append sends it."""
        self._next_announcement = 0.0

    def append(
        self,
        conn: psycopg.Connection[Any],
        stored_events: Sequence[StoredEvent],
        envelope: Envelope,
        new_keys: dict[UUID, bytes] | None = None,
        guard: dict[UUID, int] | None = None,
    ) -> list[int]:
        """Append events on ``conn`` (in its transaction, if one is open); return positions.

        One statement is one transaction in autocommit: a command's events from every
        aggregate it touched are all recorded, or none are. ``new_keys`` (new data subjects'
        keys) are inserted by the same statement.

        A version already taken raises ``IntegrityError`` (optimistic concurrency): that
        protects every aggregate the command changed. ``guard`` protects those it only read:
        aggregate id → the version it read (0 for one it found absent). If any has moved
        on, nothing is inserted and ``StaleReadError`` says so.
        """
        append = _Append(self, stored_events, envelope, new_keys, guard)
        try:
            with conn.cursor(row_factory=tuple_row) as cur:
                rows = cur.execute(append.statement, append.params, prepare=True).fetchall()
        except BaseException as error:
            raise append.failed(error) from error
        return append.positions(rows)

    async def _append_async(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        stored_events: Sequence[StoredEvent],
        envelope: Envelope,
        new_keys: dict[UUID, bytes] | None,
        guard: dict[UUID, int] | None,
    ) -> list[int]:
        """``append`` on a connection of the asyncio pool (a command run by ``run_bridged``)."""
        append = _Append(self, stored_events, envelope, new_keys, guard)
        try:
            async with pool.connection() as conn:
                cur = conn.cursor(row_factory=tuple_row)
                await cur.execute(append.statement, append.params, prepare=True)
                rows = await cur.fetchall()
        except BaseException as error:
            raise append.failed(error) from error
        return append.positions(rows)

    def current_versions(self, ids: Sequence[UUID]) -> dict[UUID, int]:
        """The current version of each of ``ids`` that exists, in one query.

        One backward step down the primary key per id: a hot inventory item may have hundreds
        of thousands of events, and ``max()`` over them would read them all.
        """
        pool = self.async_pool
        if pool is not None and bridged():
            return await_only(self._current_versions_async(pool, ids))
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            rows = cur.execute(_VERSIONS_SQL, (list(ids),), prepare=True).fetchall()
        return dict(rows)

    async def _current_versions_async(
        self, pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]], ids: Sequence[UUID]
    ) -> dict[UUID, int]:
        async with pool.connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            await cur.execute(_VERSIONS_SQL, (list(ids),), prepare=True)
            return dict(await cur.fetchall())

    def version_and_snapshot(
        self, aggregate_id: UUID, *, moment: datetime | None = None, version: int | None = None
    ) -> tuple[int | None, int | None]:
        """In one query: the aggregate's version at ``moment`` (or ``version`` itself), and
        the version of its newest snapshot at or below that (reading it as it was)."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            row = cur.execute(_VERSION_AND_SNAPSHOT_SQL,
                              {"id": aggregate_id, "t": moment, "v": version},
                              prepare=True).fetchone()
        return (None, None) if row is None else (row[0], row[1])


_VERSIONS_SQL = (
    f"SELECT v.id, e.originator_version FROM unnest(%s::uuid[]) AS v(id)"
    f" CROSS JOIN LATERAL (SELECT originator_version FROM {EVENTS_TABLE}"
    " WHERE originator_id = v.id ORDER BY originator_version DESC LIMIT 1) e"
)

# The version is worked out once (MATERIALIZED): as a plain subquery PostgreSQL inlines it
# into both places that use it and walks the aggregate's events after the moment twice.
_VERSION_AND_SNAPSHOT_SQL = (
    "WITH v AS MATERIALIZED (SELECT CASE WHEN %(t)s::timestamptz IS NULL THEN %(v)s::bigint"
    f" ELSE (SELECT max(originator_version) FROM {EVENTS_TABLE} WHERE originator_id = %(id)s"
    " AND recorded_at <= %(t)s) END AS version)"
    f" SELECT v.version, (SELECT max(s.originator_version) FROM {SNAPSHOTS_TABLE} s"
    " WHERE s.originator_id = %(id)s AND s.originator_version <= v.version) FROM v"
)


class _Append:
    """One append's statement and parameters, and what its outcome means."""

    def __init__(
        self,
        recorder: EventRecorder,
        stored_events: Sequence[StoredEvent],
        envelope: Envelope,
        new_keys: dict[UUID, bytes] | None,
        guard: dict[UUID, int] | None,
    ) -> None:
        self.recorder = recorder
        self.events = len(stored_events)
        self.guarded = bool(guard)
        # In the order the statement names them: the guard, the keys, the events.
        params: list[Any] = []
        if guard:
            for read in guard.items():
                params += read
        if new_keys:
            for subject, key in new_keys.items():
                params += (subject, key)
        context = (
            envelope.actor,
            envelope.role,
            envelope.channel,
            envelope.reason,
            envelope.correlation_id,
            envelope.causation_id,
            envelope.command_id,
        )
        for e in stored_events:
            params += (e.originator_id, e.originator_version, e.topic, e.state, *context,
                       e.subject if type(e) is PersonalStoredEvent else None)
        self.params = params
        self.announce = recorder._claim_announcement()
        self.statement = recorder._statement(self.events, len(new_keys or ()), self.announce,
                                             len(guard or ()))

    def _not_announced(self) -> None:
        if self.announce:
            self.recorder._release_announcement()

    def failed(self, error: BaseException) -> BaseException:
        """The error to raise for ``error``."""
        self._not_announced()
        if isinstance(error, psycopg.errors.UniqueViolation):
            # Someone else saved this aggregate version first: optimistic concurrency.
            return IntegrityError(str(error))
        return error

    def positions(self, rows: list[tuple[Any, ...]]) -> list[int]:
        if len(rows) != self.events:
            self._not_announced()
            if self.guarded and not rows:
                raise StaleReadError("an aggregate the command read has changed since")
            msg = f"inserted {len(rows)} of {self.events} events"
            raise ProgrammingError(msg)
        return [row[0] for row in rows]


class StaleReadError(IntegrityError):
    """An aggregate a command only read changed before its events were appended: the command
    must be decided again on the current state (like any optimistic-concurrency conflict)."""


class SnapshotRecorder(_BinarySelect, PostgresAggregateRecorder):
    """Stores snapshots in a plain table; they are a cache, rebuilt from the log at will."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = SNAPSHOTS_TABLE):
        super().__init__(datastore, events_table_name=events_table_name)
        self._insert_sql = SQL(
            "INSERT INTO {table} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[])"
            " ON CONFLICT DO NOTHING"
        ).format(table=SQL(events_table_name))
        self._select_sql = (
            "SELECT e.originator_id, e.originator_version, e.topic, e.state"
            f" FROM {events_table_name} e WHERE e.originator_id = %s"
        )

    def create_table(self) -> None:
        with self.datastore.get_connection() as conn:
            create_schema(conn)

    def _insert_stored_events(
        self, curs: psycopg.Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        curs.execute(
            self._insert_sql,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )


def datastore_for(database_url: str, pool_size: int = 2) -> PostgresDatastore:
    """A library datastore (connection pool) for a libpq URL, for code outside applications."""
    env = postgres_env(database_url, pool_size)
    return recent_first(PostgresDatastore(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        pool_size=pool_size,
    ))


def postgres_env(
    database_url: str, pool_size: int = 10, aggregate_cache: int = 0
) -> dict[str, str]:
    """Translate a libpq URL into the library's POSTGRES_* settings.

    ``aggregate_cache`` turns on the library's aggregate cache with fast-forward: a cached
    aggregate is brought up to date from the log on each read (one indexed query for the
    events after its version), so hot inventory items are not replayed for every order.
    """
    parts = conninfo_to_dict(database_url)
    cache = {"AGGREGATE_CACHE_MAXSIZE": str(aggregate_cache)} if aggregate_cache else {}
    return {
        **cache,
        "PERSISTENCE_MODULE": "application.event_store",
        "POSTGRES_DBNAME": str(parts.get("dbname", "postgres")),
        "POSTGRES_HOST": str(parts.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(parts.get("port", "5432")),
        "POSTGRES_USER": str(parts.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(parts.get("password", "")),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
        "CREATE_TABLE": "no",
        "IS_SNAPSHOTTING_ENABLED": "yes",
    }


class EvidentFactory(PostgresFactory):
    """The library's Postgres factory, giving applications Evident's recorders and transcoder."""

    def __init__(self, env: Environment | dict[str, str] | None):
        super().__init__(env)
        recent_first(self.datastore)

    def transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def mapper(
        self, transcoder: Transcoder | None = None, mapper_class: Any = None
    ) -> Mapper[Any]:
        """Every event goes through the personal-data mapper: personal fields sealed per
        customer (``application.personal_data``)."""
        mapper = PersonalDataMapper(KeyStore(self.datastore.get_connection), transcoder)
        self._personal_data_mapper = mapper
        return mapper

    def application_recorder(self) -> EventRecorder:
        recorder = EventRecorder(self.datastore)
        mapper = getattr(self, "_personal_data_mapper", None)
        if mapper is not None:
            # New customers' keys travel with their first event: one statement, one commit.
            recorder.take_new_keys = mapper.take_new_keys  # type: ignore[method-assign]
        return recorder

    def aggregate_recorder(self, purpose: str = "events") -> PostgresAggregateRecorder:
        if purpose == "snapshots":
            return SnapshotRecorder(self.datastore)
        recorder = EventRecorder(self.datastore)
        return recorder


# The library resolves ``PERSISTENCE_MODULE`` to a module and uses its ``Factory``.
Factory = EvidentFactory
