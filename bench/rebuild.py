"""Figure 6: how fast all five read models rebuild from the log, against the library's runner.

The figure is what an analyst waits for: every read model in ``projections.registry`` (order
status, order timeline, stock visibility, invoices, care) rebuilt in one pass over the log
(``projections.engine.rebuild_together``, as ``oms projections rebuild --all``), with a large
batch; its rate is the log's length divided by the time it took. Each model is also rebuilt
alone, for the per-model rows.

The baseline is the eventsourcing library's own ``ProjectionRunner`` over the same log in the
same run, driving the simplest view one can write the library's way: a
``PostgresTrackingRecorder`` that counts events per type, each count updated in one
transaction with its tracking record (the documented pattern, and the cheapest view
possible, so the comparison favours the baseline). The runner reads the log through
``OrderManagement``'s own recorder. It commits once per event, which is why it is slow and
why it runs over a prefix of the log only: its rate does not depend on the log's length.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import psycopg
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg.sql import SQL, Identifier

from application.event_store import EVENTS_TABLE, postgres_env
from application.log_reader import LogCursor, count_after
from application.order_management import OrderManagement
from bench.report import Result
from projections import registry
from projections.engine import live_schema, rebuild
from projections.parallel_rebuild import DEFAULT_BATCH_SIZE, rebuild_in_parallel, split

NAME = "rebuild"
TARGET_RATIO = 20.0
TARGET_RATE = 20_000.0
DEFAULT_BASELINE_EVENTS = 10_000  # its rate is that of a commit, whatever the length

# ``progress(total, description)`` yields ``advance(n)``: a bar on a terminal, else nothing.
Progress = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]


@dataclass(frozen=True)
class Measured:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class RebuildOutcome:
    """Everything measured: each read model's rebuild, the baseline, and the log."""

    log_events: int
    batch_size: int
    together: Measured
    read_models: dict[str, Measured]
    baseline: Measured
    baseline_counted: int  # events the baseline view counted (it may run a little past)
    notes: list[str] = field(default_factory=list)

    @property
    def all_five(self) -> Measured:
        """All read models rebuilt as ``oms projections rebuild --all`` does."""
        return self.together

    def results(self) -> list[Result]:
        base = self.baseline.rate
        rows = [Result(f"rebuild: all {len(registry.FACTORIES)} read models, {self.log_events:,}"
                       f" events, batches of {self.batch_size:,}", self.all_five.rate,
                       "events/s", base, TARGET_RATIO, TARGET_RATE, row=6)]
        rows += [Result(f"  {name} alone", m.rate, "events/s", base)
                 for name, m in self.read_models.items()]
        return rows


def _quiet(total: int, description: str) -> AbstractContextManager[Callable[[int], None]]:
    return nullcontext(lambda _: None)


def measure_read_models(
    database_url: str, *, batch_size: int, per_model: bool = False, progress: Progress = _quiet
) -> tuple[int, Measured, dict[str, Measured]]:
    """Rebuild every registered read model from the whole log as ``oms projections rebuild
    --all`` does (``rebuild_in_parallel``: a process per core, each rebuilding a group of
    them in one pass); then, with ``per_model``, each alone in one process."""
    measured: dict[str, Measured] = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        total = count_after(conn, LogCursor.start())
    with progress(total, "rebuild all read models") as advance:
        started = time.perf_counter()
        rebuild_in_parallel(database_url, registry.select(), batch_size=batch_size,
                            on_progress=advance)
        together = Measured(total, time.perf_counter() - started)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for projection in registry.select():
            _check_live(conn, projection.name)
        for projection in registry.select() if per_model else []:
            with progress(total, f"rebuild {projection.name}") as advance:
                started = time.perf_counter()
                rebuild(conn, projection, batch_size=batch_size, on_progress=advance)
                seconds = time.perf_counter() - started
            _check_live(conn, projection.name)
            measured[projection.name] = Measured(total, seconds)
    return total, together, measured


def _check_live(conn: psycopg.Connection[Any], name: str) -> None:
    """The read model reached the end of the log and is running (guards the benchmark)."""
    live = live_schema(conn, name)
    if live is None or count_after(conn, live[1]):
        raise RuntimeError(f"{name} did not reach the end of the log")
    state = conn.execute(
        "SELECT state, error FROM projection_tracking WHERE name = %s AND live", (name,),
    ).fetchone()
    if state is None or state[0] != "running":
        raise RuntimeError(f"{name} stopped: {state}")


# --- the baseline: the library's ProjectionRunner on one simple view ---------------------------

COUNTS_TABLE = "bench_event_counts"


class EventCountsView(PostgresTrackingRecorder):
    """Events per type, each count committed with its tracking record (library pattern)."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        table = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(COUNTS_TABLE))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {} (event_type text PRIMARY KEY, events bigint NOT NULL)"
        ).format(table))
        self._count = SQL(
            "INSERT INTO {} AS c (event_type, events) VALUES (%s, 1)"
            " ON CONFLICT (event_type) DO UPDATE SET events = c.events + 1"
        ).format(table)

    def count_event(self, event_type: str, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)
            curs.execute(self._count, (event_type,), prepare=True)

    def counted(self) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT coalesce(sum(events), 0) AS n FROM {}.{}").format(
                Identifier(self.datastore.schema), Identifier(COUNTS_TABLE)))
            row = curs.fetchone()
        return int(row["n"]) if row else 0


class EventCounts(Projection[EventCountsView]):
    name = COUNTS_TABLE

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.count_event(type(domain_event).__qualname__, tracking)


def measure_baseline(
    database_url: str, events: int, *, progress: Progress = _quiet, timeout: float = 600
) -> tuple[Measured, int]:
    """Run the library's ``ProjectionRunner`` until its view has processed the first
    ``events`` events of the log; return the rate and how many events the view counted."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT notification_id FROM {EVENTS_TABLE} ORDER BY notification_id"
            " OFFSET %s LIMIT 1",
            (events - 1,),
        ).fetchone()
    if row is None:
        raise ValueError(f"the log holds fewer than {events} events")
    target = int(row[0])
    prefix = COUNTS_TABLE.upper()
    env = {
        **postgres_env(database_url, pool_size=2),
        # The view is built by the library's own Postgres factory, and creates its tables.
        f"{prefix}_PERSISTENCE_MODULE": "eventsourcing.postgres",
        f"{prefix}_CREATE_TABLE": "yes",
    }
    with progress(events, "baseline: library ProjectionRunner") as advance:
        started = time.perf_counter()
        runner = ProjectionRunner(
            application_class=OrderManagement,
            projection_class=EventCounts,
            view_class=EventCountsView,
            env=env,
        )
        view = runner.view
        try:
            with runner:
                reported = 0
                while (done := view.max_tracking_id(runner.app_name) or 0) < target:
                    if runner.is_interrupted.is_set():
                        runner.run_forever(timeout=0)  # re-raises the processing error
                        raise RuntimeError("the projection runner stopped early")
                    if time.perf_counter() - started > timeout:
                        raise TimeoutError(f"baseline did not reach {events} events")
                    advance(done - reported)
                    reported = done
                    time.sleep(0.02)
                seconds = time.perf_counter() - started
                advance(events - reported)
            counted = view.counted()
        finally:
            view.datastore.close()
    return Measured(events, seconds), counted


def run(
    database_url: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    baseline_events: int = DEFAULT_BASELINE_EVENTS,
    per_model: bool = False,
    progress: Progress = _quiet,
) -> RebuildOutcome:
    """Rebuild all read models, then run the baseline over the first ``baseline_events``."""
    total, together, read_models = measure_read_models(
        database_url, batch_size=batch_size, per_model=per_model, progress=progress)
    baseline_events = min(baseline_events, total)
    baseline, counted = measure_baseline(database_url, baseline_events, progress=progress)
    parts = split(registry.select())
    alone = "; each alone in one process: " + ", ".join(
        f"{n} {m.seconds:.1f} s" for n, m in read_models.items()) if read_models else ""
    notes = [
        f"rebuild: projections.parallel_rebuild.rebuild_in_parallel (as oms projections"
        f" rebuild --all) over {total:,} events in {together.seconds:.1f} s, in {len(parts)}"
        f" processes: {' | '.join(', '.join(p.name for p in g) for g in parts)}{alone}",
        f"baseline: eventsourcing {version('eventsourcing')} ProjectionRunner, one view"
        f" counting events per type (one transaction per event), over the first"
        f" {baseline_events:,} of the same {total:,} events in {baseline.seconds:.1f} s",
    ]
    return RebuildOutcome(total, batch_size, together, read_models, baseline, counted, notes)
