"""What the benchmarks share: the two applications compared, a shop to command, a load driver.

Every write figure compares Evident's ``OrderManagement`` with the eventsourcing library's
*default* ``Application`` (its Postgres recorder with the table lock, its JSON transcoder),
each on its own table in the same benchmark database, each with the same connection pool
size. The library's JSON transcoder does not know our value objects, so the baseline
registers one small ``Transcoding`` per dataclass it meets (the library's documented way);
enums are ``StrEnum`` and so already plain JSON strings.

``drive`` runs a command in N threads for a fixed time after a short warm-up and returns how
many completed inside the measured window and how long each took.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoding

from application.bootstrap import create_order_management
from application.envelope import Envelope
from application.event_store import postgres_env
from application.order_management import OrderManagement
from application.settings import Settings
from bench.history import STORE, WAREHOUSE
from domain.inventory import InventoryItem
from domain.order_values import Allocation, NewLine, PlacedLine
from domain.values import Address, Channel, LocationKind

POOL_SIZE = 8  # connections per application, both sides alike
BASELINE_NAME = "LibraryBaseline"  # → the library's own table ``librarybaseline_events``

CLIENT = Envelope(actor="bench", role="client", channel="web")
OPS = Envelope(actor="bench", role="admin", channel="console")
ADDRESS = Address("Bench Customer", "1 Hauptstraße", None, "Berlin", "10115", "DE")
PRICE = Decimal("19.99")
TAX = Decimal("0.19")


def status(message: str) -> None:
    """A line of progress on a terminal; nothing when stderr is piped."""
    if sys.stderr.isatty():
        print(f"bench: {message}", file=sys.stderr, flush=True)


# --- the two applications ------------------------------------------------------------------


def evident_app(database_url: str, pool_size: int = POOL_SIZE) -> OrderManagement:
    """Evident's application wired as ``oms serve`` wires it (its default settings, the
    aggregate cache included), with ``pool_size`` connections like the baseline."""
    settings = Settings(DATABASE_URL=database_url, OMS_DB_POOL_SIZE=pool_size)
    return create_order_management(database_url, settings)


def _dataclass_transcoding(cls: type[Any]) -> Transcoding:
    names = [f.name for f in dataclasses.fields(cls)]

    class AsDict(Transcoding):
        type = cls
        name = cls.__qualname__

        def encode(self, obj: Any) -> dict[str, Any]:
            return {n: getattr(obj, n) for n in names}

        def decode(self, data: dict[str, Any]) -> Any:
            return cls(**data)

    return AsDict()


def register_dataclasses(transcoder: JSONTranscoder, classes: Iterable[type[Any]]) -> None:
    """One ``Transcoding`` per dataclass, the library's documented way to store a type its
    JSON transcoder does not know."""
    for cls in classes:
        transcoder.register(_dataclass_transcoding(cls))


class LibraryBaseline(Application[UUID]):
    """The library's default application: default recorder, default JSON transcoder."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_dataclasses(transcoder, (Address, PlacedLine, Allocation))


def library_env(database_url: str, pool_size: int = POOL_SIZE) -> dict[str, str]:
    env = postgres_env(database_url, pool_size)
    env.pop("IS_SNAPSHOTTING_ENABLED")  # the library's default: no snapshots
    env.update({"PERSISTENCE_MODULE": "eventsourcing.postgres", "CREATE_TABLE": "yes"})
    return env


def library_app(database_url: str, pool_size: int = POOL_SIZE) -> LibraryBaseline:
    return LibraryBaseline(env=library_env(database_url, pool_size))


# --- a shop to command ---------------------------------------------------------------------

# Each order has two lines whose SKUs are stocked at one location each (A only at the
# warehouse, B only at the store), so every order reserves at exactly two locations.
def sku_a(n: int) -> str:
    return f"BENCH-A-{n:05d}"


def sku_b(n: int) -> str:
    return f"BENCH-B-{n:05d}"


STOCK = 1_000_000  # plenty: no order ever backorders


def two_line_order(n: int) -> list[NewLine]:
    return [NewLine(sku_a(n), 1, PRICE, TAX), NewLine(sku_b(n), 2, PRICE, TAX)]


def ensure_network(app: OrderManagement) -> None:
    """The history's two locations, added if this log has none (a bench on an empty log)."""
    network = app.network()
    for location, kind, priority in ((WAREHOUSE, LocationKind.WAREHOUSE, 1),
                                     (STORE, LocationKind.STORE, 2)):
        if network is None or location not in network.locations:
            app.add_location(location_id=location, name=location, kind=kind,
                             priority=priority, envelope=OPS)


def stock_items(pairs: range) -> list[InventoryItem]:
    """Inventory items for SKU pairs, built with the domain: A at the warehouse, B at the store."""
    at = datetime.now(UTC)
    items = []
    for n in pairs:
        for sku, location in ((sku_a(n), WAREHOUSE), (sku_b(n), STORE)):
            item = InventoryItem.create(sku=sku, location_id=location, at=at)
            item.receive(quantity=STOCK, at=at)
            items.append(item)
    return items


def stock_evident(app: OrderManagement, pairs: range, chunk: int = 200) -> None:
    """Stock ``pairs`` in Evident's log (setup, not measured: saved in large batches)."""
    ensure_network(app)
    items = stock_items(pairs)
    for start in range(0, len(items), chunk):
        app.save(*items[start:start + chunk], envelope=OPS)


def stock_library(app: Application[UUID], pairs: range, chunk: int = 200) -> None:
    items = stock_items(pairs)
    for start in range(0, len(items), chunk):
        app.save(*items[start:start + chunk])


def register_customers(app: OrderManagement, count: int) -> list[UUID]:
    return [app.register_customer(customer_id=None, name=f"Bench {n}",
                                  email=f"bench{n}@example.com", phone=None,
                                  address=ADDRESS, envelope=CLIENT).id
            for n in range(count)]


def place(app: OrderManagement, customer: UUID, n: int, order_id: UUID | None = None) -> Any:
    return app.place_order(order_id=order_id, customer_id=customer, channel=Channel.WEB,
                           currency="EUR", lines=two_line_order(n),
                           shipping_address=ADDRESS, shipping_method="standard",
                           envelope=CLIENT)


# --- driving load --------------------------------------------------------------------------


@dataclass
class Run:
    """Commands completed inside the measured window, and each one's latency (seconds)."""

    threads: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(p * 10) - 1]


def drive(
    threads: int,
    seconds: float,
    command: Callable[[int, int], Any],
    *,
    warmup: float = 1.0,
) -> Run:
    """Run ``command(thread, i)`` back to back in ``threads`` threads; count the commands that
    *started and finished* inside the window after ``warmup``."""
    start_barrier = threading.Barrier(threads + 1)
    stop = threading.Event()
    window: list[float] = []
    per_thread: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        start_barrier.wait()
        i = 0
        while not stop.is_set():
            began = time.perf_counter()
            try:
                command(t, i)
            except Exception as error:  # counted and reported, never hidden
                errors.append(error)
                i += 1
                continue
            ended = time.perf_counter()
            if window and began >= window[0] and ended <= window[1]:
                per_thread[t].append(ended - began)
            i += 1

    pool = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for thread in pool:
        thread.start()
    start_barrier.wait()
    now = time.perf_counter()
    window.extend((now + warmup, now + warmup + seconds))
    time.sleep(warmup + seconds)
    stop.set()
    for thread in pool:
        thread.join(timeout=60)
    run = Run(threads, seconds, [x for lat in per_thread for x in lat], len(errors))
    if errors:
        run.first_error = f"{type(errors[0]).__name__}: {errors[0]}"
    return run


@contextmanager
def closing_all(*apps: Any) -> Iterator[None]:
    try:
        yield
    finally:
        for app in apps:
            app.close()


def new_id() -> UUID:
    return uuid4()
