"""Figures 1–3: commands per second through ``application/``, against the library's default.

1 and 2. A one-event command, ``OrderManagement.register_customer`` (check the id is free,
register, seal the personal fields, append with the envelope), 8 threads and 1 thread. The
baseline is the library's default ``Application`` with its Postgres recorder (table lock,
JSON transcoder) saving a new ``Customer`` built by the same domain call: the same aggregate
and the same one event, on its own table in the same database.

3. ``OrderManagement.place_order`` with two lines whose SKUs are stocked at one location each,
so every order reserves at two locations: one ``Order.Placed`` and two
``InventoryItem.Reserved`` events in one transaction. Each thread orders its own SKUs, so
the figure measures throughput, not contention. The baseline does what the library's default
application does for the same command: load the two inventory items from its repository,
plan the allocation and place the order with the same domain code, and save the order and
both items together — the same aggregates and the same events.

Both sides share one application instance across threads with the same pool size
(``bench.common.POOL_SIZE`` connections); the two sides run alternately.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any
from uuid import uuid4

from bench.common import (
    ADDRESS,
    CLIENT,
    POOL_SIZE,
    Run,
    closing_all,
    drive,
    evident_app,
    library_app,
    place,
    register_customers,
    sku_a,
    sku_b,
    status,
    stock_evident,
    stock_library,
    two_line_order,
)
from bench.history import STORE, WAREHOUSE
from bench.report import Result
from domain.allocation import StockAtLocation, plan_allocation
from domain.customer import Customer
from domain.inventory import InventoryItem, inventory_item_id
from domain.order import Order
from domain.values import Channel

NAME = "writes"


@dataclass(frozen=True)
class Sizes:
    seconds: float
    warmup: float
    pairs_per_thread: int
    threads: int = 8
    rounds: int = 1  # alternating windows per side, sharing ``seconds``


FULL = Sizes(seconds=6.0, warmup=0.5, pairs_per_thread=64, rounds=3)
QUICK = Sizes(seconds=0.8, warmup=0.2, pairs_per_thread=4, rounds=1)


def _new_customer() -> Customer:
    return Customer.register(customer_id=uuid4(), name="Bench Customer",
                             email="bench@example.com", phone=None, address=ADDRESS,
                             registered_at=datetime.now(UTC))


def run(database_url: str, sizes: Sizes = FULL) -> tuple[list[Result], list[str]]:
    evident = evident_app(database_url)
    library = library_app(database_url)
    with closing_all(evident, library):
        runs: dict[str, Run] = {}

        def register(t: int, i: int) -> None:
            evident.register_customer(customer_id=None, name="Bench Customer",
                                      email="bench@example.com", phone=None, address=ADDRESS,
                                      envelope=CLIENT)

        def save_new_customer(t: int, i: int) -> None:
            library.save(_new_customer())

        for threads in (sizes.threads, 1):
            status(f"writes: register a customer, {threads} thread(s)")
            runs[f"evident {threads}"], runs[f"library {threads}"] = _alternately(
                sizes, threads, register, save_new_customer)

        status("writes: stocking for place-order")
        pairs = range(sizes.threads * sizes.pairs_per_thread)
        stock_evident(evident, pairs)
        stock_library(library, pairs)
        customers = register_customers(evident, sizes.threads)

        def pair(t: int, i: int) -> int:
            return t * sizes.pairs_per_thread + i % sizes.pairs_per_thread

        def place_evident(t: int, i: int) -> None:
            place(evident, customers[t], pair(t, i))

        def place_library(t: int, i: int) -> None:
            n = pair(t, i)
            lines = two_line_order(n)
            at = datetime.now(UTC)
            items: dict[tuple[str, str], InventoryItem] = {}
            stock: dict[str, list[StockAtLocation]] = {}
            for sku, location, priority in ((sku_a(n), WAREHOUSE, 1), (sku_b(n), STORE, 2)):
                item: Any = library.repository.get(inventory_item_id(sku, location))
                items[(sku, location)] = item
                stock[sku] = [StockAtLocation(location, priority, item.available)]
            order_id = uuid4()
            order = Order.place(order_id=order_id, customer_id=customers[t],
                                channel=Channel.WEB, currency="EUR", lines=lines,
                                shipping_address=ADDRESS, shipping_method="standard",
                                allocation=plan_allocation(lines, stock), placed_at=at)
            for line in order.lines.values():
                for allocation in line.allocations:
                    items[(line.sku, allocation.location_id)].reserve(
                        order_id=order_id, line_id=line.line_id,
                        quantity=allocation.quantity, at=at)
            library.save(order, *items.values())

        status(f"writes: place an order, {sizes.threads} threads")
        runs["evident place"], runs["library place"] = _alternately(
            sizes, sizes.threads, place_evident, place_library)
        _check_reservations(evident, library, sizes)

    results = [
        Result(f"register a customer (1 event), {sizes.threads} threads",
               runs[f"evident {sizes.threads}"].rate, "cmd/s",
               runs[f"library {sizes.threads}"].rate, target_ratio=2.4, row=1),
        Result("register a customer (1 event), 1 thread", runs["evident 1"].rate, "cmd/s",
               runs["library 1"].rate, target_ratio=2.0, row=2),
        Result(f"place order (2 lines, 2 locations), {sizes.threads} threads",
               runs["evident place"].rate, "cmd/s", runs["library place"].rate,
               target_ratio=2.0, row=3),
    ]
    notes = [
        f"1–3: eventsourcing {version('eventsourcing')} default Application +"
        f" eventsourcing.postgres recorder (table lock) + JSONTranscoder with dataclass"
        f" transcodings, own table in the same database; both sides one shared app,"
        f" pool {POOL_SIZE} (+{POOL_SIZE} overflow); {sizes.rounds} alternating windows of"
        f" {sizes.seconds / sizes.rounds:g} s per side after {sizes.warmup:g} s warm-ups,"
        " median rate",
        "1–3 p50/p99 ms (evident | library): " + "; ".join(
            f"{label} {runs['evident ' + key].percentile(50) * 1e3:.1f}/"
            f"{runs['evident ' + key].percentile(99) * 1e3:.1f} |"
            f" {runs['library ' + key].percentile(50) * 1e3:.1f}/"
            f"{runs['library ' + key].percentile(99) * 1e3:.1f}"
            for label, key in (("register×8", str(sizes.threads)), ("register×1", "1"),
                               ("place×8", "place"))),
    ]
    failed = {k: r for k, r in runs.items() if r.errors}
    notes += [f"{k}: {r.errors} commands failed, first: {r.first_error}"
              for k, r in failed.items()]
    return results, notes


def _alternately(
    sizes: Sizes, threads: int, ours: Callable[[int, int], Any],
    theirs: Callable[[int, int], Any],
) -> tuple[Run, Run]:
    """Both sides in ``sizes.rounds`` alternating windows, so that what the machine does
    meanwhile (a checkpoint, another process) falls on both alike; each side's rate is the
    median of its windows', its latencies all of them."""
    windows: dict[str, list[Run]] = {"ours": [], "theirs": []}
    seconds = sizes.seconds / sizes.rounds
    for _ in range(sizes.rounds):
        windows["ours"].append(drive(threads, seconds, ours, warmup=sizes.warmup))
        windows["theirs"].append(drive(threads, seconds, theirs, warmup=sizes.warmup))
    return _merged(windows["ours"]), _merged(windows["theirs"])


def _merged(runs: list[Run]) -> Run:
    median = statistics.median(run.rate for run in runs)
    merged = Run(runs[0].threads, 0.0, [x for run in runs for x in run.latencies],
                 sum(run.errors for run in runs),
                 next((run.first_error for run in runs if run.first_error), None))
    merged.seconds = merged.count / median if median else 0.0  # so that rate is the median
    return merged


def _check_reservations(evident: Any, library: Any, sizes: Sizes) -> None:
    """Both sides really reserved at two locations (guards the benchmark, not the app)."""
    for app in (evident, library):
        item: Any = app.repository.get(inventory_item_id(sku_b(0), STORE))
        if item.reserved <= 0:
            raise RuntimeError(f"{type(app).__name__}: place-order reserved nothing at {STORE}")
