"""Figure 7: live lag, from a command's return to its order being visible in order status.

A real projection worker runs in its own process (``oms project order_status``, exactly as
an operator starts it) and is given time to catch up with the log. Then ``place_order``
commands are issued at a paced, steady rate (500/s by default: command k is due at
``start + k / rate``, taken by the next free of 16 threads; a thread never waits for the
worker) for about ten seconds. A poller in this process asks the live ``order_status``
table every 2 ms which of the placed-but-not-yet-seen orders are there; an order's lag is
the time from its command returning to the end of the first poll that found it (an upper
bound, at most one poll too late). Commands of the first second are a warm-up and not
counted. When the application cannot keep the rate on this machine, the rate it achieved
is reported beside the figure.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from uuid import UUID

import psycopg
from psycopg import sql

from application.log_reader import count_after
from bench.common import (
    closing_all,
    evident_app,
    percentile,
    place,
    register_customers,
    status,
    stock_evident,
)
from bench.report import Result
from projections.engine import live_schema

NAME = "lag"
TARGET_MS = 100.0
THREADS = 16
POLL = 0.002


@dataclass(frozen=True)
class Sizes:
    rate: float
    seconds: float
    warmup: float
    pairs_per_thread: int = 32


FULL = Sizes(rate=500.0, seconds=10.0, warmup=1.0)
QUICK = Sizes(rate=100.0, seconds=1.5, warmup=0.3, pairs_per_thread=2)


def _start_worker(database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url, "OMS_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "interfaces.cli", "project", "order_status"],
                            env=env, stdin=subprocess.DEVNULL)


def _wait_caught_up(database_url: str, worker: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"lag: the projection worker exited with {worker.returncode}")
            live = live_schema(conn, "order_status")
            if live is not None and count_after(conn, live[1]) == 0:
                return live[0]
            time.sleep(0.1)
    raise TimeoutError("lag: the order_status worker did not catch up with the log")


def run(database_url: str, sizes: Sizes = FULL) -> tuple[list[Result], list[str]]:
    app = evident_app(database_url)
    with closing_all(app):
        status("lag: stocking, and starting `oms project order_status`")
        base = 500_000  # SKU pairs of their own
        stock_evident(app, range(base, base + THREADS * sizes.pairs_per_thread))
        customers = register_customers(app, THREADS)
        worker = _start_worker(database_url)
        try:
            schema = _wait_caught_up(database_url, worker, timeout=600)
            lags, placed, achieved, unseen = _measure(app, database_url, schema, customers,
                                                      base, sizes)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    if unseen:
        raise RuntimeError(f"lag: {unseen} placed orders never appeared in order status")
    p99 = percentile(lags, 99) * 1e3
    result = Result(f"live lag command → order status, p99, at {achieved:,.0f} cmd/s"
                    f" (asked {sizes.rate:,.0f})", p99, "ms", None, max_value=TARGET_MS, row=7)
    note = (f"7: {placed:,} place_order commands paced at {sizes.rate:,.0f}/s for"
            f" {sizes.seconds:g} s by {THREADS} threads, {achieved:,.0f}/s achieved;"
            f" lag p50 {percentile(lags, 50) * 1e3:.1f} ms, max {max(lags) * 1e3:.1f} ms over"
            f" {len(lags):,} orders after {sizes.warmup:g} s warm-up; worker"
            f" `oms project order_status`, poll every {POLL * 1e3:g} ms")
    return [result], [note]


def _measure(
    app: object,
    database_url: str,
    schema: str,
    customers: list[UUID],
    base: int,
    sizes: Sizes,
) -> tuple[list[float], int, float, int]:
    returned: dict[UUID, float] = {}
    seen: dict[UUID, float] = {}
    lock = threading.Lock()
    tickets = itertools.count()
    total = int(sizes.rate * (sizes.warmup + sizes.seconds))
    done = threading.Event()
    start = time.perf_counter() + 0.2
    first_error: list[BaseException] = []

    def issue(t: int) -> None:
        n = 0
        while (k := next(tickets)) < total:
            due = start + k / sizes.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                order_id = place(app, customers[t],  # type: ignore[arg-type]
                                 base + t * sizes.pairs_per_thread + n % sizes.pairs_per_thread).id
            except Exception as error:
                first_error.append(error)
                return
            now = time.perf_counter()
            n += 1
            if due >= start + sizes.warmup:
                with lock:
                    returned[order_id] = now

    def poll() -> None:
        query = sql.SQL("SELECT order_id FROM {}.orders WHERE order_id = ANY(%s)").format(
            sql.Identifier(schema))
        with psycopg.connect(database_url, autocommit=True) as conn:
            while True:
                with lock:
                    pending = [o for o in returned if o not in seen]
                finished = done.is_set()
                if pending:
                    found = conn.execute(query, (pending,), prepare=True).fetchall()
                    now = time.perf_counter()
                    for (order_id,) in found:
                        seen[order_id] = now
                    if finished and len(found) == len(pending):
                        return
                elif finished:
                    return
                if finished and time.perf_counter() > deadline[0]:
                    return
                time.sleep(POLL)

    deadline = [float("inf")]
    poller = threading.Thread(target=poll, daemon=True)
    threads = [threading.Thread(target=issue, args=(t,), daemon=True) for t in range(THREADS)]
    status(f"lag: placing orders at {sizes.rate:g}/s for {sizes.warmup + sizes.seconds:g} s")
    poller.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    deadline[0] = time.perf_counter() + 60
    done.set()
    poller.join()
    if first_error:
        raise RuntimeError(f"lag: a command failed: {first_error[0]!r}")
    lags = [seen[o] - returned[o] for o in returned if o in seen]
    return lags, total, total / elapsed, len(returned) - len(seen)
