"""Figure 8: reading an order with 1,000 events as it was at a past moment, p99.

One order is placed and then given 999 more events by ordinary commands (notes, holds
placed and released, one command per event, so every event has its own ``recorded_at``).
Then ``OrderManagement.get_order(order_id, as_of=moment)`` is timed for moments spread
uniformly over the order's life, interleaved with live reads ``get_order(order_id)`` of the
same order, which are the baseline. The target is absolute: p99 of the as-of read ≤ 10 ms.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime

import psycopg

from application.envelope import Envelope
from bench.common import closing_all, evident_app, percentile, place, status, stock_evident
from bench.report import Result
from domain.values import HoldType

NAME = "asof"
TARGET_MS = 10.0


@dataclass(frozen=True)
class Sizes:
    events: int
    reads: int


FULL = Sizes(events=1_000, reads=600)
QUICK = Sizes(events=60, reads=40)


def run(database_url: str, sizes: Sizes = FULL, seed: int = 1) -> tuple[list[Result], list[str]]:
    rng = random.Random(seed)
    app = evident_app(database_url, pool_size=2)
    agent = Envelope(actor="bench", role="agent", channel="console")
    with closing_all(app):
        status(f"asof: building an order with {sizes.events:,} events")
        pair = 900_000  # SKUs of their own, away from other figures' pairs
        stock_evident(app, range(pair, pair + 1))
        customer = app.register_customer(customer_id=None, name="As Of", email="asof@example.com",
                                         phone=None, address=None, envelope=agent).id
        order_id = place(app, customer, pair).id
        version, step = 1, 0
        while version < sizes.events:
            if step % 3 == 0 or version + 2 > sizes.events:
                version = app.add_order_note(order_id, text=f"note {step}",
                                             envelope=agent).version
            else:
                hold = app.place_hold(order_id, type=HoldType.MANUAL, reason="check",
                                      envelope=agent).created_id
                assert hold is not None
                version = app.release_hold(order_id, hold, reason="checked",
                                           envelope=agent).version
            step += 1
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT min(recorded_at), max(recorded_at), max(originator_version)"
                " FROM events WHERE originator_id = %s", (order_id,)).fetchone()
        assert row is not None
        first, last, versions = row[0], row[1], int(row[2])
        if versions != sizes.events:
            raise RuntimeError(f"asof: the order has {versions} events, not {sizes.events}")
        status("asof: reading as of past moments, and live")
        span = (last - first).total_seconds()
        as_of: list[float] = []
        live: list[float] = []
        for _ in range(sizes.reads):
            moment: datetime = first + (last - first) * rng.random()
            began = time.perf_counter()
            old = app.get_order(order_id, as_of=moment)
            as_of.append(time.perf_counter() - began)
            began = time.perf_counter()
            now = app.get_order(order_id)
            live.append(time.perf_counter() - began)
            if not 1 <= old.version <= now.version == versions:
                raise RuntimeError("asof: read the wrong version")
    p99, live_p99 = percentile(as_of, 99) * 1e3, percentile(live, 99) * 1e3
    result = Result(f"as_of read of an order with {versions:,} events, p99", p99, "ms",
                    live_p99, max_value=TARGET_MS, row=8)
    note = (f"8: {sizes.reads} as-of reads at uniform moments over the order's {span:.1f} s"
            f" life, interleaved with live reads; p50 as-of"
            f" {percentile(as_of, 50) * 1e3:.2f} ms, live {percentile(live, 50) * 1e3:.2f} ms;"
            f" baseline column = live p99")
    return [result], [note]
