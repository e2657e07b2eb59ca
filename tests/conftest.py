"""Shared fixtures: a real PostgreSQL for every test that touches the store.

``DATABASE_URL`` names the server (CI points it at the machine's PostgreSQL). Without it,
the suite starts Evident's embedded PostgreSQL in a temporary directory, exactly as a user
would get with no configuration. Each test that needs a clean log gets its own database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from application.bootstrap import create_order_management
from application.embedded_postgres import EmbeddedPostgres
from application.envelope import Envelope
from application.event_store import create_schema
from application.order_management import OrderManagement
from application.settings import Settings
from tests.clock import Clock


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    server = EmbeddedPostgres(Path(tmp_path_factory.mktemp("embedded-pg")))
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


def _with_dbname(url: str, dbname: str) -> str:
    parts = conninfo_to_dict(url)
    parts["dbname"] = dbname
    return make_conninfo(**{k: str(v) for k, v in parts.items()})


@pytest.fixture(scope="session")
def make_database(server_url: str) -> Iterator[Callable[[], str]]:
    """Create empty databases with the Evident schema; all are dropped at the end."""
    created: list[str] = []
    admin_db = str(conninfo_to_dict(server_url).get("dbname") or "postgres")
    admin_url = _with_dbname(server_url, admin_db)

    def make() -> str:
        name = f"evident_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        url = _with_dbname(server_url, name)
        with psycopg.connect(url, autocommit=True) as conn:
            create_schema(conn)
        return url

    yield make
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(make_database: Callable[[], str]) -> str:
    """A fresh, empty Evident database for one test."""
    return make_database()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def oms(database_url: str, clock: Clock) -> Iterator[OrderManagement]:
    """The application service on a fresh database, with a predictable clock."""
    app = create_order_management(database_url, Settings(DATABASE_URL=database_url))
    app.clock = clock
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def agent() -> Envelope:
    return Envelope(actor="ana", role="agent", channel="console")
