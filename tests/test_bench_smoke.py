"""The benchmark code works: a tiny log is built and all read models rebuilt from it.

No timing is asserted (rates on a shared machine are noise); what is checked is that the
generated history is one every read model can fold, that the replicas are independent,
consistent shops, and that both sides of the comparison actually processed the log.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from bench import rebuild
from bench.history import build_history
from bench.report import Result, format_table
from projections.engine import live_schema


def test_the_rebuild_benchmark_runs_on_a_tiny_log(make_database: Callable[[], str]) -> None:
    url = make_database()

    history = build_history(url, 2_000, seed=3)
    outcome = rebuild.run(url, batch_size=500, baseline_events=500)

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
    assert "30.0×" in table
    assert "NO" in table
