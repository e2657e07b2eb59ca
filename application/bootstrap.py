"""The one place that wires Evident together: settings → database → schema → services.

Nothing here runs at import time. ``open_database`` resolves where PostgreSQL is (the
``DATABASE_URL`` server, or the embedded one started in ``OMS_DATA_DIR``) and makes sure the
schema exists; ``create_order_management`` builds the application on that database. The
HTTP app, the workers and the CLI all start from here; tests build their own with a URL.
"""

from __future__ import annotations

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
