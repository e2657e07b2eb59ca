"""Figure 7: live lag, from a command's return to its order being visible in order status.

A real projection worker runs in its own process (``oms project order_status``, exactly as
an operator starts it) and is given time to catch up with the log; each of the 16 threads
orders each of its SKU pairs once (not measured, see ``_prime``) and the worker catches up
again, so that the run starts in the steady state it measures. Then ``place_order``
commands are issued at a paced, steady rate (500/s by default: command k is due at
``start + k / rate``, taken by the next free of 16 threads; a thread never waits for the
worker) for about ten seconds. An observer in a process of its own asks the live
``order_status`` table every 2 ms which of the orders due by then it has not seen yet are
there; an order's lag is the time from its command returning to the end of the first poll
that found it (at most one poll late; 0 for an order found before the thread that placed it
had stamped its return). Both times are read from the system-wide monotonic clock. The
observer is not a thread beside the 16 issuing commands: there it waited for the GIL (its
2 ms sleeps overran by 7 ms at p99 and 27 ms at worst, and its queries took 19 ms at p99),
which added the observer's own delays to the figure. It knows every order's id and due time
from the start (the ids are drawn before the run), so nothing needs to reach it while the
commands run. Commands of the first second are a warm-up and not counted. When the
application cannot keep the rate on this machine, the rate it achieved is reported beside
the figure.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from application.log_reader import count_after
from application.order_management import OrderManagement
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
            _wait_caught_up(database_url, worker, timeout=600)
            status("lag: ordering every SKU pair once (not measured)")
            _prime(app, customers, base, sizes)
            schema = _wait_caught_up(database_url, worker, timeout=600)
            lags, placed, achieved, unseen, early = _measure(app, database_url, schema,
                                                             customers, base, sizes)
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
            f" {len(lags):,} orders after {sizes.warmup:g} s warm-up ({early} seen before"
            f" their return was stamped, counted as 0); worker"
            f" `oms project order_status`, poll every {POLL * 1e3:g} ms")
    return [result], [note]


def _prime(app: OrderManagement, customers: list[UUID], base: int, sizes: Sizes) -> None:
    """Each thread orders each of its SKU pairs once, as fast as it can, before the paced run.

    The paced run cycles through the pairs, so without this its first cycle reads every
    inventory item from the store (stocking saved them without going through a command's
    cache): those commands ran 100-250 ms behind their schedule, then caught up in a burst
    at well above the asked rate, and the figure measured that start-up rather than the
    steady rate it names.
    """
    def order_each(t: int) -> None:
        for n in range(sizes.pairs_per_thread):
            place(app, customers[t], base + t * sizes.pairs_per_thread + n)

    _in_threads(order_each)


def _in_threads(work: Callable[[int], None]) -> None:
    """``work(t)`` in each of the ``THREADS`` threads at once; the first error, if any, stops
    that thread and is raised once all have finished."""
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            work(t)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"lag: a command failed: {errors[0]!r}")


def _now() -> float:
    """The system-wide monotonic clock: the same reading here as in the observer's process."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def _observe(database_url: str, schema: str, ids: list[UUID], rate: float,
             channel: Connection) -> None:
    """The observer (a process of its own): report when each order was first seen.

    Handshake on ``channel``: send "ready" once connected, receive the start time; then
    poll every ``POLL`` for the orders due by now (order k at ``start + k / rate``) not
    seen yet. When the commands are done, the ids they placed arrive; once all of those are
    seen (or a minute has passed) the observer sends back ``{order id: seen at}``.
    """
    query = sql.SQL("SELECT order_id FROM {}.orders WHERE order_id = ANY(%s)").format(
        sql.Identifier(schema))
    seen: dict[UUID, float] = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(query, ([],), prepare=True)
        channel.send("ready")
        start: float = channel.recv()
        pending: set[UUID] = set()
        due = 0  # ids[:due] are due
        placed: set[UUID] | None = None  # known once the commands are done
        give_up = float("inf")
        while placed is None or not placed <= seen.keys():
            now = _now()
            if placed is None and channel.poll():
                try:
                    placed = set(channel.recv())
                except EOFError:  # the run failed and closed its end: nothing to report
                    return
                give_up = now + 60
            if now > give_up:
                break
            while due < len(ids) and start + due / rate <= now:
                pending.add(ids[due])
                due += 1
            if pending:
                found = conn.execute(query, (list(pending),), prepare=True).fetchall()
                now = _now()
                for (order_id,) in found:
                    seen[order_id] = now
                    pending.discard(order_id)
            time.sleep(POLL)
    channel.send(seen)


def _measure(
    app: OrderManagement,
    database_url: str,
    schema: str,
    customers: list[UUID],
    base: int,
    sizes: Sizes,
) -> tuple[list[float], int, float, int, int]:
    """The lags of the measured orders, how many were placed, the rate achieved, how many
    placed orders were never seen, and how many were seen before their return was stamped."""
    returned: dict[UUID, float] = {}
    placed: list[UUID] = []
    lock = threading.Lock()
    tickets = itertools.count()
    total = int(sizes.rate * (sizes.warmup + sizes.seconds))
    ids = [app.new_id() for _ in range(total)]  # time-ordered, as the application draws them
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    observer = context.Process(target=_observe, name="lag observer",
                               args=(database_url, schema, ids, sizes.rate, theirs))
    observer.start()
    theirs.close()  # the observer's end: once it exits, reading ours ends at once
    try:
        if _receive(ours, observer, 60, "word that it is ready") != "ready":
            raise RuntimeError("lag: the observer sent something else than 'ready'")
        start = _now() + 0.2
        ours.send(start)

        def issue(t: int) -> None:
            n = 0
            while (k := next(tickets)) < total:
                due = start + k / sizes.rate
                delay = due - _now()
                if delay > 0:
                    time.sleep(delay)
                place(app, customers[t],
                      base + t * sizes.pairs_per_thread + n % sizes.pairs_per_thread,
                      order_id=ids[k])
                now = _now()
                n += 1
                with lock:
                    placed.append(ids[k])
                    if due >= start + sizes.warmup:
                        returned[ids[k]] = now

        status(f"lag: placing orders at {sizes.rate:g}/s for {sizes.warmup + sizes.seconds:g} s")
        _in_threads(issue)
        elapsed = _now() - start
        ours.send(placed)
        seen: dict[UUID, float] = _receive(ours, observer, 90, "report")
    finally:
        ours.close()
        observer.join(timeout=15)
        if observer.is_alive():
            observer.kill()
            observer.join()
    # An order the observer found before its command's return was stamped (the thread had
    # not got the GIL back yet) was visible when the command returned: its lag is 0.
    lags = [max(seen[o] - returned[o], 0.0) for o in returned if o in seen]
    early = sum(1 for o in returned if o in seen and seen[o] < returned[o])
    return lags, total, total / elapsed, len(returned) - len(seen.keys() & returned.keys()), early


def _receive(channel: Connection, observer: BaseProcess, timeout: float, what: str) -> Any:
    """The observer's next message, or a clear error as soon as it exits without sending it."""
    ready = wait([channel, observer.sentinel], timeout)
    if channel in ready:
        try:
            return channel.recv()
        except EOFError:
            pass
    observer.join(timeout=5)
    if observer.exitcode is not None:
        raise RuntimeError(f"lag: the observer exited with {observer.exitcode} before its {what}")
    raise RuntimeError(f"lag: no {what} from the observer within {timeout:g} s")
