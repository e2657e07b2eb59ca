"""The benchmark code works: a tiny log is built and all read models rebuilt from it.

No timing is asserted (rates on a shared machine are noise); what is checked is that the
generated history is one every read model can fold, that the replicas are independent,
consistent shops, and that both sides of the comparison actually processed the log.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

from application.log_reader import LogCursor, read_log
from application.personal_data import PersonalData
from application.transcoding import OrjsonTranscoder
from bench import asof, big_log, http, lag, reads, rebuild, writes
from bench.__main__ import main as bench_main
from bench.history import build_history
from bench.report import Result, format_table
from domain.customer import Customer
from domain.order import Order
from domain.values import Address
from projections.engine import Decoder, ProjectedEvent, live_schema


def test_the_rebuild_benchmark_runs_on_a_tiny_log(make_database: Callable[[], str]) -> None:
    url = make_database()

    history = build_history(url, 2_000, seed=3)
    outcome = rebuild.run(url, batch_size=500, baseline_events=500, per_model=True)

    assert history.events >= 2_000
    assert history.replicas > 1
    assert outcome.log_events == history.events
    assert set(outcome.read_models) == {
        "order_status", "order_timeline", "stock_visibility", "invoices", "care"
    }
    assert outcome.baseline.events == 500
    assert outcome.baseline_counted >= 500
    results = outcome.results()
    assert results[0].baseline == outcome.baseline.rate
    assert all(r.value > 0 for r in results)
    assert "rebuild: all 5 read models" in format_table(results)

    with psycopg.connect(url) as conn:
        live = live_schema(conn, "order_status")
        assert live is not None
        orders = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.orders").format(sql.Identifier(live[0]))
        ).fetchone()
        customers = conn.execute(
            "SELECT count(DISTINCT originator_id) FROM events"
            " WHERE topic LIKE 'domain.customer:%%'"
        ).fetchone()
    assert orders is not None
    assert orders[0] == history.orders
    assert customers is not None
    assert customers[0] == history.customers


def test_every_copy_of_the_template_tells_the_same_story(
    make_database: Callable[[], str],
) -> None:
    url = make_database()

    history = build_history(url, 1_500, seed=5)
    rebuild.run(url, batch_size=700, baseline_events=100)

    with psycopg.connect(url) as conn:
        live = live_schema(conn, "order_status")
        assert live is not None
        per_status = conn.execute(
            sql.SQL("SELECT status, count(*) FROM {}.orders GROUP BY status").format(
                sql.Identifier(live[0]))
        ).fetchall()
        stock = live_schema(conn, "stock_visibility")
        assert stock is not None
        # Each copy has its own SKUs (SKU000001-..), yet the same stock levels.
        levels = conn.execute(
            sql.SQL("SELECT substr(sku, 10), location_id, on_hand, reserved FROM {}.items"
                    " ORDER BY 1, 2").format(sql.Identifier(stock[0]))
        ).fetchall()
    assert all(count % history.replicas == 0 for _, count in per_status)
    assert len(levels) % history.replicas == 0
    distinct = {tuple(row) for row in levels}
    assert len(distinct) * history.replicas == len(levels)


def test_the_table_derives_ratio_and_verdict() -> None:
    met = Result("fast", 30_000, "events/s", baseline=1_000, target_ratio=20,
                 target_value=20_000)
    missed = Result("slow", 3_000, "events/s", baseline=1_000, target_ratio=20,
                    target_value=20_000)

    table = format_table([met, missed, Result("info", 5, "x")])

    assert met.ratio == 30
    assert met.met is True
    assert missed.met is False
    assert "30.00×" in table
    assert "NO" in table


# --- every other figure, on a tiny setup: the code paths work, both sides really ran --------


def test_the_write_benchmarks_run_both_sides(make_database: Callable[[], str]) -> None:
    url = make_database()
    build_history(url, 300, seed=2)

    results, notes = writes.run(url, writes.Sizes(seconds=0.3, warmup=0.1, pairs_per_thread=2,
                                                  threads=2))

    assert [r.row for r in results] == [1, 2, 3]
    assert all(r.value > 0 and r.baseline for r in results)
    assert not any("failed" in note for note in notes)
    with psycopg.connect(url) as conn:
        library = conn.execute("SELECT count(*) FROM librarybaseline_events").fetchone()
    assert library is not None
    assert library[0] > 0


def test_the_http_benchmark_serves_both_apps(make_database: Callable[[], str]) -> None:
    url = make_database()

    results, notes = http.run(url, http.Sizes(seconds=0.5, warmup=0.2, pairs_per_connection=4))

    assert [r.row for r in results] == [4, 4]
    assert results[0].value > 0
    assert results[0].baseline
    assert not any("failed" in note for note in notes)


def test_the_read_benchmark_reads_the_same_events_in_each_reader(
    make_database: Callable[[], str],
) -> None:
    url = make_database()
    history = build_history(url, 800, seed=4)

    [result], [note, opened, hybrid] = reads.run(url, turn_pages=1, hybrid_events=300,
                                                  opened_events=500)

    assert result.row == 5
    assert result.value > 0
    assert result.baseline
    assert f"{history.events:,} events" in note
    assert "personal data opened where a read model reads it: in Customer events" in note
    assert "every sealed box" in opened
    assert "over the first 500 events" in opened
    assert "first 300 events" in hybrid
    with psycopg.connect(url) as conn:
        library = conn.execute(f"SELECT count(*) FROM {reads.LIBRARY_TABLE}").fetchone()
        same_bytes = conn.execute(f"SELECT count(*) FROM {reads.BYTES_TABLE}").fetchone()
    assert library == (history.events,)
    assert same_bytes == (300,)


def test_the_read_benchmark_opens_personal_data_as_a_rebuild_does(
    make_database: Callable[[], str],
) -> None:
    # Evident's side of row 5 opens the customers' boxes (care reads them) and leaves an
    # order's shipping address sealed, as a rebuild of all the read models does; its other
    # reader opens every box.
    url = make_database()
    build_history(url, 800, seed=4)
    with psycopg.connect(url, autocommit=True) as conn:
        batch = read_log(conn, LogCursor.start(), 2_000)
        decoder = Decoder.for_connection(conn)
        as_rebuild = decoder.decode_batch(batch, reads.as_a_rebuild_reads())
        opened = decoder.decode_batch(batch)

    def first(decoded: list[ProjectedEvent], kind: type) -> Any:
        return next(p.event for p in decoded if type(p.event) is kind)

    assert all(p.event is not None for p in as_rebuild)
    assert isinstance(first(as_rebuild, Customer.Registered).name, str)
    assert isinstance(first(as_rebuild, Order.Placed).shipping_address, PersonalData)
    assert isinstance(first(opened, Order.Placed).shipping_address, Address)


def test_the_read_benchmark_reads_both_sides_to_their_end_in_turns() -> None:
    steps: list[str] = []

    def pages(name: str, count: int) -> reads.Pages:
        yield 0  # connecting
        for _ in range(count):
            steps.append(name)
            yield 10

    timed = reads.interleaved({"ours": pages("ours", 5), "theirs": pages("theirs", 2)}, 2)

    assert steps == ["ours", "ours", "theirs", "theirs", "ours", "ours", "ours"]
    assert [reads.total(turns)[0] for turns in timed.values()] == [50, 20]
    assert [events for events, _ in timed["ours"]] == [20, 20, 10]
    assert all(reads.total(turns)[1] > 0 for turns in timed.values())


def test_a_reader_with_a_limit_stops_after_its_turns_and_is_closed() -> None:
    steps: list[str] = []
    closed: list[str] = []

    def pages(name: str, count: int) -> reads.Pages:
        try:
            yield 0
            for _ in range(count):
                steps.append(name)
                yield 10
        finally:
            closed.append(name)

    timed = reads.interleaved({"whole": pages("whole", 4), "prefix": pages("prefix", 4)}, 1,
                              most={"prefix": 2})

    assert steps == ["whole", "prefix", "whole", "prefix", "whole", "whole"]
    assert closed == ["prefix", "whole"]
    assert reads.total(timed["prefix"])[0] == 20
    # Over the limited reader's turns, the others read the same pages.
    assert reads.total(timed["whole"], len(timed["prefix"]))[0] == 20
    assert reads.total(timed["whole"])[0] == 40


def test_the_read_baseline_holds_what_the_librarys_own_transcoder_writes(
    make_database: Callable[[], str],
) -> None:
    # The baseline's table is filled by rewriting Evident's states (decoding and encoding a
    # million values would take most of a minute): it must be exactly what the library's
    # transcoder writes for the same values, and read back as them.
    url = make_database()
    build_history(url, 1_500, seed=6)
    transcoder = reads.library_transcoder()
    ours = OrjsonTranscoder()
    with psycopg.connect(url) as conn, conn.cursor(binary=True) as cur:
        states = [bytes(row[0]) for row in cur.execute("SELECT state FROM events")]
    topics: set[str] = set()
    for state in states:
        value = ours.decode(state)
        assert reads.in_library_format(state) == transcoder.encode(value)
        assert _plain(transcoder.decode(reads.in_library_format(state))) == _plain(value)
        topics.update(type(v).__name__ for v in value.values())
    assert {"tuple", "PersonalData", "Decimal", "UUID", "datetime", "Channel"} <= topics


class _Plain(enum.Enum):
    A = "a"


def test_the_read_baseline_refuses_what_the_librarys_transcoder_could_not_store() -> None:
    # A plain enum member is not a string to the library's JSON encoder: it would raise, so
    # the rewrite must not quietly write the member's value.
    stored = b'{"x":{"$enum":["tests.test_bench_smoke:_Plain","a"]}}'
    with pytest.raises(ValueError, match="_Plain"):
        reads.in_library_format(stored)
    with pytest.raises(ValueError, match=r"\$frozenset"):
        reads.in_library_format(b'{"x":{"$frozenset":[1]}}')
    assert reads.in_library_format(b'{"x":{"$enum":["domain.values:Channel","web"]}}') == (
        b'{"x":"web"}')


def _plain(value: Any) -> Any:
    """``value`` as the library's JSON transcoder gives it back: tuples become lists and
    enum members their values (it keeps no more)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value), _plain(vars(value)))
    return value


def test_the_lag_benchmark_sees_every_order_projected(
    make_database: Callable[[], str],
) -> None:
    url = make_database()

    [result], _ = lag.run(url, lag.Sizes(rate=40, seconds=0.5, warmup=0.1, pairs_per_thread=1))

    assert result.row == 7
    assert result.value > 0
    assert result.max_value == lag.TARGET_MS


def test_the_as_of_benchmark_reads_an_order_with_its_many_events(
    make_database: Callable[[], str],
) -> None:
    url = make_database()

    [result], _ = asof.run(url, asof.Sizes(events=20, reads=10))

    assert result.row == 8
    assert "20 events" in result.figure
    assert result.value > 0
    assert result.baseline


def test_the_big_log_benchmark_compares_two_log_lengths(server_url: str) -> None:
    name = f"evident_test_{uuid.uuid4().hex[:8]}"

    [result], _ = big_log.run(server_url, name, big_log.Sizes(
        small=400, big=1_500, rounds=1, orders_per_round=3, pairs=3))

    assert result.row == 9
    assert result.value > 0
    assert result.baseline
    with psycopg.connect(server_url, autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                            (f"{name}%",)).fetchone()
    assert left == (0,)


def test_less_is_better_targets_are_judged_as_maxima() -> None:
    fast = Result("p99", 8, "ms", baseline=4, max_value=10)
    slow = Result("p50", 13, "ms", baseline=10, max_ratio=1.2)

    assert fast.met is True
    assert slow.met is False
    assert "≤ 1.2×" in format_table([fast, slow])


def test_the_quick_command_line_prints_one_table(
    server_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"evident_test_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("DATABASE_URL", server_url)
    try:
        code = bench_main(["--quick", "--database", name, "--only", "asof", "--only", "reads"])
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    out = capsys.readouterr().out
    assert code == 0
    assert "read + decode the whole log" in out
    assert "as_of read of an order" in out
    # The machine and server the figures came from, for comparing runs.
    machine_note = next(line for line in out.splitlines() if line.startswith("- machine: "))
    assert "reference loop of pure Python" in machine_note
    assert "fsync" in machine_note
    assert "synchronous_commit" in machine_note
