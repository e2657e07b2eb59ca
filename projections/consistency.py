"""Read-your-writes: wait until a read model has processed a given log position.

A command answers with the position of its last event; a query may pass it back as
``min_position``. Positions alone do not order the log (see ``application.log_reader``),
so the wait compares pair cursors: the read model has reached position N once its cursor
is at or beyond N's (transaction, position).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from application.errors import NotCaughtUpError
from application.log_reader import LogCursor, cursor_of_position
from projections.engine import live_schema


def read_model_at(
    conn: psycopg.Connection[Any],
    projection: str,
    min_position: int | None,
    timeout: float,
) -> tuple[str, LogCursor]:
    """The live schema of ``projection`` once it has reached ``min_position``.

    Raises ``NotCaughtUpError`` (503 with Retry-After) if it has not within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    wanted: LogCursor | None = None
    delay = 0.005
    while True:
        live = live_schema(conn, projection)
        if live is not None:
            schema, cursor = live
            if min_position is None or min_position <= 0:
                return schema, cursor
            if wanted is None:
                wanted = cursor_of_position(conn, min_position)
            if wanted is not None and cursor >= wanted:
                return schema, cursor
        if time.monotonic() >= deadline or (live is None and not min_position):
            if live is None:
                msg = (f"read model {projection!r} does not exist yet: is a projection worker"
                       " (`oms project`) running?")
            else:
                msg = (f"read model {projection!r} has not reached position {min_position}"
                       f" within {timeout:g} s (it is at {live[1].position}); retry shortly")
            raise NotCaughtUpError(msg, field="min_position")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
