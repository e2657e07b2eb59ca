"""A clock tests move by hand, so recorded times are predictable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Starts at 2026-03-31 12:00 UTC and advances one second per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now
