"""The projection engine: exactly-once batches under SIGKILL, halting on a poisoned event,
one worker per projection, deterministic rebuilds that keep serving until they switch."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from application.bootstrap import create_order_management
from application.envelope import Envelope
from application.log_reader import LogCursor, count_after, read_log
from application.order_management import OrderManagement
from application.settings import Settings
from domain.order_values import LineQuantity, NewLine
from domain.values import Address, Channel, LocationKind
from projections import registry
from projections.engine import (
    Decoder,
    ProjectedEvent,
    ProjectionHaltedError,
    Worker,
    _applying,
    catch_up_once,
    ensure_projection,
    live_schema,
    rebuild,
    rebuild_together,
    resume,
)
from projections.order_status import OrderStatusProjection
from projections.parallel_rebuild import groups, rebuild_in_parallel, weight
from projections.status import projection_status
from tests.dropped_connections import drop_other_connections
from tests.projections.counting import CountingProjection
from tests.projections.support import catch_up

ADDRESS = Address("Jo Doe", "Main St 1", None, "Berlin", "10115", "DE")
AGENT = Envelope(actor="ana", role="agent", channel="test")


def _history(database_url: str, orders: int) -> int:
    """Write a realistic log: locations, stock, customers, orders, some cancelled."""
    oms: OrderManagement = create_order_management(
        database_url, Settings(DATABASE_URL=database_url))
    try:
        oms.add_location(location_id="berlin", name="Berlin", kind=LocationKind.WAREHOUSE,
                         priority=1, envelope=AGENT)
        oms.add_location(location_id="hamburg", name="Hamburg", kind=LocationKind.STORE,
                         priority=2, envelope=AGENT)
        for sku in ("JEANS-32", "BELT-1"):
            oms.receive_stock(sku=sku, location_id="berlin", quantity=orders, envelope=AGENT)
            oms.receive_stock(sku=sku, location_id="hamburg", quantity=orders, envelope=AGENT)
        customer = oms.register_customer(customer_id=None, name="Jo", email="jo@example.com",
                                         phone=None, address=None, envelope=AGENT)
        rng = random.Random(7)
        for n in range(orders):
            placed = oms.place_order(
                order_id=None, customer_id=customer.id, channel=Channel.WEB, currency="EUR",
                lines=[NewLine("JEANS-32", rng.randint(1, 3), Decimal("59.90")),
                       NewLine("BELT-1", 1, Decimal("19.00"), Decimal("0.19"))],
                shipping_address=ADDRESS, shipping_method=None, envelope=AGENT,
            )
            if n % 3 == 0:
                oms.cancel_order(placed.id, reason="changed mind",
                                 lines=[LineQuantity("1", 1)], envelope=AGENT)
    finally:
        oms.close()
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    return int(row[0])


def _rows(conn: psycopg.Connection[Any], schema: str, table: str, order_by: str) -> list[Any]:
    return conn.execute(sql.SQL("SELECT * FROM {}.{} ORDER BY {}").format(
        sql.Identifier(schema), sql.Identifier(table), sql.SQL(order_by))).fetchall()


@pytest.mark.slow
def test_a_worker_killed_at_random_moments_loses_nothing_and_repeats_nothing(
    database_url: str,
) -> None:
    total = _history(database_url, orders=150)
    rng = random.Random(42)
    kills = 0
    command = [sys.executable, "-m", "tests.projections.counting", database_url, "20", "0.01"]
    while kills < 12:
        worker = subprocess.Popen(command)
        time.sleep(rng.uniform(0.2, 0.6))
        worker.kill()  # SIGKILL: no cleanup, mid-transaction
        worker.wait()
        kills += 1
    # Finally let a worker finish the catch-up.
    worker = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 60
        with psycopg.connect(database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                status = {s["name"]: s for s in projection_status(conn)}
                if all(s["lag_events"] == 0 for s in status.values()) and len(status) == 2:
                    break
                time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    with psycopg.connect(database_url, autocommit=True) as conn:
        status = {s["name"]: s for s in projection_status(conn)}
        assert all(s["state"] == "live" for s in status.values()), status
        counted = live_schema(conn, "applied_events")
        assert counted is not None
        applied = _rows(conn, counted[0], "applied", "position")
        assert len(applied) == total, "an event was lost"  # duplicates are refused by the PK
        live = live_schema(conn, "order_status")
        assert live is not None
        killed_rows = _rows(conn, live[0], "orders", "order_id")
        rebuild(conn, OrderStatusProjection())
        fresh = live_schema(conn, "order_status")
        assert fresh is not None
        assert fresh[0] != live[0]
        assert _rows(conn, fresh[0], "orders", "order_id") == killed_rows


def test_two_rebuilds_of_the_same_log_produce_identical_tables(database_url: str) -> None:
    _history(database_url, orders=20)
    # Bring the live generation to the head first: a rebuild never switches to a generation
    # behind the live one, so both rebuilds then cover the whole log.
    catch_up(database_url, [OrderStatusProjection()])
    with psycopg.connect(database_url, autocommit=True) as conn:
        first = rebuild(conn, OrderStatusProjection(), batch_size=7)
        first_rows = _rows(conn, f"order_status_g{first}", "orders", "order_id")
        first_skus = _rows(conn, f"order_status_g{first}", "order_skus", "sku, order_id")
        second = rebuild(conn, OrderStatusProjection(), batch_size=500)
        assert _rows(conn, f"order_status_g{second}", "orders", "order_id") == first_rows
        assert _rows(conn, f"order_status_g{second}", "order_skus", "sku, order_id") == (
            first_skus)
        assert len(first_rows) == 20


class Poisonable(CountingProjection):
    """Raises on one chosen position until 'fixed'."""

    name = "poisonable"

    def __init__(self, poison: int) -> None:
        super().__init__()
        self.poison = poison
        self.fixed = False

    def apply(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        if not self.fixed and any(e.logged.position == self.poison for e in events):
            raise ValueError(f"cannot handle the event at {self.poison}")
        super().apply(conn, schema, events)


def _drain(conn: psycopg.Connection[Any], projection: Poisonable, decoder: Decoder) -> None:
    while catch_up_once(conn, projection, decoder, batch_size=4):
        pass


def test_a_poisoned_event_halts_the_projection_there_and_a_fix_resumes_it(
    database_url: str,
) -> None:
    total = _history(database_url, orders=5)
    with psycopg.connect(database_url, autocommit=True) as conn:
        poison = conn.execute(
            "SELECT notification_id FROM events ORDER BY notification_id OFFSET 10 LIMIT 1"
        ).fetchone()
        assert poison is not None
        projection = Poisonable(poison[0])
        ensure_projection(conn, projection)
        decoder = Decoder.for_connection(conn)
        with pytest.raises(ProjectionHaltedError):
            _drain(conn, projection, decoder)
        [status] = [s for s in projection_status(conn) if s["name"] == "poisonable"]
        assert status["state"] == "halted"
        assert f"at position {poison[0]}" in status["error"]
        assert "ValueError" in status["error"]
        # Halted means halted: no retry loop, no skip.
        assert catch_up_once(conn, projection, decoder) == 0
        schema = f"poisonable_g{ensure_projection(conn, projection)}"
        applied = [r[0] for r in _rows(conn, schema, "applied", "position")]
        assert applied == list(range(1, poison[0]))  # everything before it, nothing after

        projection.fixed = True
        resume(conn, projection.name)
    catch_up(database_url, [projection], batch_size=4)
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert len(_rows(conn, schema, "applied", "position")) == total


def _stderr_lines(worker: subprocess.Popen[bytes]) -> list[str]:
    """The lines ``worker`` writes to stderr, gathered by a thread as they come."""
    lines: list[str] = []

    def gather() -> None:
        assert worker.stderr is not None
        lines.extend(line.decode() for line in worker.stderr)

    threading.Thread(target=gather, daemon=True).start()
    return lines


def test_two_workers_on_one_projection_exactly_one_applies(database_url: str) -> None:
    total = _history(database_url, orders=30)
    names = ("order_status", "applied_events")
    command = [sys.executable, "-m", "tests.projections.counting", database_url, "5", "0.005"]
    workers = [subprocess.Popen(command, stderr=subprocess.PIPE) for _ in range(2)]
    logs = [_stderr_lines(worker) for worker in workers]

    def decided(log: list[str], name: str) -> bool:
        return any(f"projection {name}: " in line for line in list(log))

    try:
        deadline = time.monotonic() + 60
        with psycopg.connect(database_url, autocommit=True) as conn:
            # Caught up, and both workers past start-up: each has said, for each projection,
            # whether it applies it or stands by (a worker still starting holds a passing DDL
            # lock, and has not yet tried to take any projection).
            while time.monotonic() < deadline:
                status = {s["name"]: s for s in projection_status(conn)}
                if (len(status) == 2 and all(s["lag_events"] == 0 for s in status.values())
                        and all(decided(log, name) for log in logs for name in names)):
                    break
                time.sleep(0.2)
            live = live_schema(conn, "applied_events")
            assert live is not None
            assert len(_rows(conn, live[0], "applied", "position")) == total
            held = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())"
            ).fetchone()
            assert held == (2,), "each of the two projections is held by one worker"
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=20)
    outputs = ["".join(log) for log in logs]
    # Locks are per projection: one worker may take both, or (starting at the same moment)
    # each take one; either way each projection has exactly one worker applying it.
    for name in names:
        applying = [f"projection {name}: this worker applies it" in out for out in outputs]
        standing_by = [f"projection {name}: another worker applies it; standing by" in out
                       for out in outputs]
        assert sorted(applying) == [False, True], outputs
        assert standing_by == [not each for each in applying], outputs


def _caught_up(database_url: str, names: int, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            status = {s["name"]: s for s in projection_status(conn)}
            if len(status) == names and all(s["lag_events"] == 0 for s in status.values()):
                return status
            assert time.monotonic() < deadline, f"the worker did not catch up: {status}"
            time.sleep(0.1)


@pytest.mark.parametrize("while_", ["waiting", "applying"])
def test_a_worker_reconnects_when_the_database_drops_its_connection(
    database_url: str, caplog: pytest.LogCaptureFixture, while_: str
) -> None:
    """Dropped while it waits for events, or in the middle of a batch: the batch is not
    taken for a poisoned event (nothing halts), and every event is applied once."""
    total = _history(database_url, orders=10)
    delay = 0.3 if while_ == "applying" else 0.0
    worker = Worker(database_url, [OrderStatusProjection(), CountingProjection(delay)],
                    batch_size=5, poll_interval=0.1)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        if while_ == "waiting":
            _caught_up(database_url, names=2)
        else:
            time.sleep(1.0)  # ten batches of 0.3 s each: the drop lands inside one
        # The worker's one connection (the history's pool is closed).
        assert drop_other_connections(database_url) == 1
        oms = create_order_management(database_url, Settings(DATABASE_URL=database_url))
        try:
            for n in range(5):
                oms.register_customer(customer_id=None, name=f"Al {n}", email="al@example.com",
                                      phone=None, address=None, envelope=AGENT)
        finally:
            oms.close()
        status = _caught_up(database_url, names=2, seconds=60)
        assert all(s["state"] == "live" for s in status.values()), status
        assert thread.is_alive()
    finally:
        worker.stop()
        thread.join(timeout=20)
    assert "database connection lost" in caplog.text
    with psycopg.connect(database_url, autocommit=True) as conn:
        counted = live_schema(conn, "applied_events")
        assert counted is not None
        # Every event once: the primary key refuses a second application.
        assert len(_rows(conn, counted[0], "applied", "position")) == total + 5


class ZoneSeen(CountingProjection):
    """Counts events, noting the time zone of the ``recorded_at`` each arrived with."""

    def __init__(self) -> None:
        super().__init__()
        self.zones: set[Any] = set()

    def apply(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        self.zones.update(e.logged.recorded_at.tzinfo for e in events)
        super().apply(conn, schema, events)


def test_a_worker_reads_the_log_in_utc_whatever_zone_its_url_sets(database_url: str) -> None:
    total = _history(database_url, orders=2)
    seen = ZoneSeen()
    in_kolkata = make_conninfo(database_url, options="-c TimeZone=Asia/Kolkata")
    worker = Worker(in_kolkata, [seen], batch_size=5, poll_interval=0.1)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        _caught_up(database_url, names=1)
    finally:
        worker.stop()
        thread.join(timeout=20)
    assert seen.zones == {UTC}
    with psycopg.connect(database_url, autocommit=True) as conn:
        counted = live_schema(conn, "applied_events")
        assert counted is not None
        assert len(_rows(conn, counted[0], "applied", "position")) == total


class SlowOrderStatus(OrderStatusProjection):
    def apply(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        time.sleep(0.05)
        super().apply(conn, schema, events)


def test_queries_keep_answering_from_the_old_tables_during_a_rebuild(database_url: str) -> None:
    _history(database_url, orders=30)
    catch_up(database_url, [OrderStatusProjection()])
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = live_schema(conn, "order_status")
        assert before is not None
        expected = _rows(conn, before[0], "orders", "order_id")

    def run() -> None:
        with psycopg.connect(database_url, autocommit=True) as c:
            rebuild(c, SlowOrderStatus(), batch_size=5)

    builder = threading.Thread(target=run)
    builder.start()
    answers = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        while builder.is_alive():
            live = live_schema(conn, "order_status")
            assert live is not None
            if live[0] == before[0]:
                assert _rows(conn, live[0], "orders", "order_id") == expected
                answers += 1
            time.sleep(0.02)
        builder.join()
        after = live_schema(conn, "order_status")
        assert after is not None
        assert after[0] != before[0]
        assert _rows(conn, after[0], "orders", "order_id") == expected
    assert answers > 5, "the rebuild finished before any query could run during it"


def _digest(conn: psycopg.Connection[Any], schema: str) -> dict[str, str]:
    tables = [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
    ).fetchall()]
    digests = {}
    for table in tables:
        row = conn.execute(sql.SQL(
            "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {}.{} t"
        ).format(sql.Identifier(schema), sql.Identifier(table))).fetchone()
        assert row is not None
        digests[table] = row[0]
    return digests


def test_rebuilding_every_read_model_in_one_pass_matches_rebuilding_each(
    database_url: str,
) -> None:
    _history(database_url, orders=25)
    projections = registry.select()
    catch_up(database_url, projections)
    with psycopg.connect(database_url, autocommit=True) as conn:
        together = rebuild_together(conn, projections, batch_size=13)
        first = {p.name: _digest(conn, f"{p.name}_g{together[p.name]}") for p in projections}
        for projection in projections:
            generation = rebuild(conn, projection, batch_size=500)
            assert _digest(conn, f"{projection.name}_g{generation}") == first[projection.name]
    assert all(any(d for d in tables.values()) for tables in first.values())


def test_a_parallel_rebuild_matches_rebuilding_in_one_process(database_url: str) -> None:
    _history(database_url, orders=25)
    projections = registry.select()
    with psycopg.connect(database_url, autocommit=True) as conn:
        together = rebuild_together(conn, projections, batch_size=13)
        expected = {p.name: _digest(conn, f"{p.name}_g{together[p.name]}") for p in projections}
    progress: list[int] = []

    generations = rebuild_in_parallel(database_url, registry.select(), workers=2,
                                      batch_size=17, on_progress=progress.append)

    with psycopg.connect(database_url, autocommit=True) as conn:
        for projection in projections:
            assert generations[projection.name] == together[projection.name] + 1
            assert _digest(conn, f"{projection.name}_g{generations[projection.name]}") == (
                expected[projection.name]), projection.name
            live = live_schema(conn, projection.name)
            assert live is not None
            assert live[0] == f"{projection.name}_g{generations[projection.name]}"
        total = count_after(conn, LogCursor.start())
    assert sum(progress) == total


def test_parallel_rebuild_groups_balance_the_projections_weights() -> None:
    found = groups(registry.select(), 2)
    weights = [sum(weight(p) for p in group) for group in found]
    assert sorted(p.name for g in found for p in g) == sorted(registry.FACTORIES)
    assert max(weights) - min(weights) <= max(weight(p) for p in registry.select())
    assert len(groups(registry.select(), 1)) == 1
    assert len(groups(registry.select()[:1], 4)) == 1


def test_a_batch_that_rolled_back_leaves_nothing_in_a_projections_memory(
    database_url: str,
) -> None:
    _history(database_url, orders=12)
    projection = OrderStatusProjection()
    with psycopg.connect(database_url, autocommit=True) as conn:
        decoder = Decoder.for_connection(conn)
        ensure_projection(conn, projection)
        for _ in range(3):  # some orders are now in the projection's memory
            catch_up_once(conn, projection, decoder, batch_size=15)
        live = live_schema(conn, projection.name)
        assert live is not None

        def apply_then_fail() -> None:
            batch = decoder.decode_batch(read_log(conn, live[1], 40))
            with _applying(conn, (projection, live[0])):
                projection.apply(conn, live[0], batch)
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError, match="rolled back"):
            apply_then_fail()
    catch_up(database_url, [projection])  # the same object, after the rollback
    with psycopg.connect(database_url, autocommit=True) as conn:
        kept = _rows(conn, live[0], "orders", "order_id")
        fresh = rebuild(conn, OrderStatusProjection())
        assert _rows(conn, f"{projection.name}_g{fresh}", "orders", "order_id") == kept


def test_order_status_started_afresh_continues_each_order_from_its_events(
    database_url: str,
) -> None:
    """A new process keeps no orders in memory: each batch here is applied by a fresh
    projection, which folds the orders it meets again from their events (up to the version
    their rows record) and must end where one process that kept them all ends."""
    _history(database_url, orders=12)
    with psycopg.connect(database_url, autocommit=True) as conn:
        decoder = Decoder.for_connection(conn)
        ensure_projection(conn, OrderStatusProjection())
        while catch_up_once(conn, OrderStatusProjection(), decoder, batch_size=7):
            pass
        live = live_schema(conn, "order_status")
        assert live is not None
        restarted = _rows(conn, live[0], "orders", "order_id")
        fresh = rebuild(conn, OrderStatusProjection(), batch_size=10_000)
        assert _rows(conn, f"order_status_g{fresh}", "orders", "order_id") == restarted
    assert len(restarted) == 12
    assert max(row[7] for row in restarted) >= 2  # orders continued across batches


def _indexes(conn: psycopg.Connection[Any], schema: str) -> set[str]:
    rows = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s",
                        (schema,)).fetchall()
    return {name for (name,) in rows}


def test_a_rebuilt_generation_has_the_query_indexes_a_live_one_has(database_url: str) -> None:
    """A rebuild builds the indexes only queries use after filling its tables (not through
    every batch); the generation it makes live must not lack any of them."""
    _history(database_url, orders=3)
    projections = registry.select()
    catch_up(database_url, projections)
    with psycopg.connect(database_url, autocommit=True) as conn:
        first = {p.name: _indexes(conn, f"{p.name}_g1") for p in projections}
        assert "orders_status_idx" in first["order_status"]
        assert "documents_customer_idx" in first["invoices"]
        rebuilt = rebuild_together(conn, projections, batch_size=50)
        for projection in projections:
            assert _indexes(conn, f"{projection.name}_g{rebuilt[projection.name]}") == (
                first[projection.name]), projection.name
