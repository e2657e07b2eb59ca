"""Figure 9: does placing an order slow down as the log grows? p50 with 1M events vs 10k.

Two databases on the same server, identical except for the length of their log: a 10k-event
history is built (``bench.history``) and stocked for the benchmark, then cloned with
``CREATE DATABASE … TEMPLATE`` and the clone's log extended by COPY to ``--big-log`` events
(1,000,000 by default; ``--big-log 10000000`` for the issue's 10M, which takes roughly ten
minutes more to load on a 2-core machine). Both logs are vacuumed and analysed after
loading. Single-threaded ``place_order`` commands then alternate between the two databases
in rounds, so drift on the machine hits both alike; the figure is the p50 on the big log,
the baseline the p50 on the small one, and the target a ratio of at most 1.2×.

Both databases are dropped at the end: a 10M-event log takes about 15 GB.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from application.event_store import create_schema
from bench.common import (
    closing_all,
    evident_app,
    percentile,
    place,
    register_customers,
    status,
    stock_evident,
)
from bench.history import build_history, extend_history
from bench.report import Result

NAME = "big_log"
TARGET_RATIO = 1.2
DEFAULT_BIG = 1_000_000
Progress = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]


def _quiet(total: int, description: str) -> AbstractContextManager[Callable[[int], None]]:
    return nullcontext(lambda _: None)


@dataclass(frozen=True)
class Sizes:
    small: int
    big: int
    rounds: int
    orders_per_round: int
    pairs: int = 200


FULL = Sizes(small=10_000, big=DEFAULT_BIG, rounds=4, orders_per_round=100)
QUICK = Sizes(small=1_000, big=5_000, rounds=2, orders_per_round=10, pairs=10)


def _url(server_url: str, dbname: str) -> str:
    parts = conninfo_to_dict(server_url)
    parts["dbname"] = dbname
    return make_conninfo(**{k: str(v) for k, v in parts.items() if v is not None})


def _drop(server_url: str, *names: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def run(
    server_url: str,
    base_name: str,
    sizes: Sizes = FULL,
    *,
    seed: int = 1,
    progress: Progress = _quiet,
    keep: bool = False,
) -> tuple[list[Result], list[str]]:
    small_name, big_name = f"{base_name}_log_small", f"{base_name}_log_big"
    _drop(server_url, small_name, big_name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(small_name)))
    small_url, big_url = _url(server_url, small_name), _url(server_url, big_name)
    try:
        with psycopg.connect(small_url, autocommit=True) as conn:
            create_schema(conn)
        status(f"big_log: building a {sizes.small:,}-event log")
        history = build_history(small_url, sizes.small, seed=seed)
        app = evident_app(small_url, pool_size=2)
        with closing_all(app):
            stock_evident(app, range(sizes.pairs))
            [customer] = register_customers(app, 1)
        with psycopg.connect(small_url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
            small_events = _count(conn)
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(big_name), sql.Identifier(small_name)))
        started = time.perf_counter()
        with progress(sizes.big - small_events, f"big_log: extending a copy to {sizes.big:,}"
                      " events by COPY") as advance:
            big = extend_history(big_url, history, sizes.big, seed=seed, on_progress=advance)
        load_seconds = time.perf_counter() - started
        with psycopg.connect(big_url, autocommit=True) as conn:
            big_events = _count(conn)

        status("big_log: placing orders on both logs, alternately")
        latencies: dict[str, list[float]] = {"small": [], "big": []}
        apps = {"small": evident_app(small_url, pool_size=2),
                "big": evident_app(big_url, pool_size=2)}
        with closing_all(*apps.values()):
            n = 0
            for app in apps.values():  # warm each side's pool, caches and prepared plans
                for _ in range(5):
                    place(app, customer, n % sizes.pairs)
                    n += 1
            for _ in range(sizes.rounds):
                for key, app in apps.items():
                    for _ in range(sizes.orders_per_round):
                        began = time.perf_counter()
                        place(app, customer, n % sizes.pairs)
                        latencies[key].append(time.perf_counter() - began)
                        n += 1
    finally:
        if not keep:
            _drop(server_url, small_name, big_name)
    p50_big, p50_small = percentile(latencies["big"], 50), percentile(latencies["small"], 50)
    result = Result(f"place order p50, {big_events:,} events stored vs {small_events:,}",
                    p50_big * 1e3, "ms", p50_small * 1e3, max_ratio=TARGET_RATIO, row=9)
    note = (f"9: {sizes.rounds} alternating rounds of {sizes.orders_per_round} single-threaded"
            f" place_order commands per log; p99 big {percentile(latencies['big'], 99) * 1e3:.1f}"
            f" ms, small {percentile(latencies['small'], 99) * 1e3:.1f} ms; big log loaded by"
            f" COPY in {load_seconds:.0f} s ({big.replicas - history.replicas} more copies of the"
            f" template); --big-log 10000000 for the 10M figure")
    return [result], [note]


def _count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0
