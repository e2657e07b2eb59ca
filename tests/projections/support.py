"""Run projections in-process until they have caught up with the log (for tests)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg

from application.log_reader import count_after
from projections.engine import Decoder, Projection, catch_up_once, ensure_projection, live_schema


def catch_up(
    database_url: str, projections: Sequence[Projection], batch_size: int = 500,
    timeout: float = 30,
) -> None:
    """Apply every committed event to each projection's live tables.

    Waits while the read horizon is held back by a transaction open elsewhere on the
    cluster (another test, another database): those events are committed but not yet
    safe to read, and stopping early would make the test see a partial read model.
    """
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        decoder = Decoder.for_connection(conn)
        for projection in projections:
            ensure_projection(conn, projection)
            while True:
                if catch_up_once(conn, projection, decoder, batch_size):
                    continue
                live = live_schema(conn, projection.name)
                if live is None or count_after(conn, live[1]) == 0:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{projection.name} did not catch up in {timeout} s")
                time.sleep(0.01)


def schema_of(conn: psycopg.Connection[Any], name: str) -> str:
    live = live_schema(conn, name)
    assert live is not None, f"projection {name} does not exist"
    return live[0]
