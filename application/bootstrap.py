"""The one place that wires Evident together: settings → database → schema → services.

Nothing here runs at import time. ``open_database`` resolves where PostgreSQL is (the
``DATABASE_URL`` server, or the embedded one started in ``OMS_DATA_DIR``) and makes sure the
schema exists; ``create_order_management`` builds the application on that database. The
HTTP app, the workers and the CLI all start from here; tests build their own with a URL.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from application.embedded_postgres import EmbeddedPostgres
from application.event_store import create_schema, postgres_env
from application.order_management import OrderManagement
from application.settings import Settings

log = logging.getLogger("evident.bootstrap")


def init_schema(database_url: str) -> None:
    """Create the event store schema (idempotent): what ``oms db init`` and every start do."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        create_schema(conn)


@contextmanager
def open_database(settings: Settings) -> Iterator[str]:
    """Yield a ready database URL; stop the embedded server (if we started one) on exit."""
    if settings.database_url:
        init_schema(settings.database_url)
        yield settings.database_url
        return
    server = EmbeddedPostgres(settings.data_dir)
    url = server.start()
    try:
        init_schema(url)
        yield url
    finally:
        server.stop()


def create_order_management(database_url: str, settings: Settings) -> OrderManagement:
    """The application service on ``database_url``, with the pool size from settings."""
    return OrderManagement(
        env=postgres_env(database_url, settings.pool_size, settings.aggregate_cache)
    )


# Collect young objects after this many allocations (CPython's default is 700), the middle
# generation every 50 young collections, the oldest every 100 of those.
GC_THRESHOLDS = (50_000, 50, 100)


def tune_garbage_collector() -> None:
    """Collect less often, and never walk what exists once the process has started.

    A server process holds many long-lived objects (the framework, the aggregate cache) and
    makes many short-lived ones per request. With CPython's default thresholds a collection
    runs every few requests and full collections walk every long-lived object: on the
    place-order-over-HTTP benchmark that was about a third of the server's CPU and most of
    its p99 latency. Freezing what exists after start-up keeps it out of every later
    collection, and larger thresholds gather young garbage in fewer passes; cycles are
    still collected. The long-running commands call this once they are set up; code that
    builds applications for itself (tests) keeps the defaults.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
