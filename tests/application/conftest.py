"""An ``OrderManagement`` on a fresh database, with a fixed clock and a location to ship from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from application.bootstrap import create_order_management
from application.envelope import Envelope
from application.order_management import OrderManagement
from application.settings import Settings


class Clock:
    """A clock tests move by hand, so recorded times are predictable."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def oms(database_url: str, clock: Clock) -> Iterator[OrderManagement]:
    app = create_order_management(database_url, Settings(DATABASE_URL=database_url))
    app.clock = clock
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def agent() -> Envelope:
    return Envelope(actor="ana", role="agent", channel="console")
