"""A test-only projection that records every event it applies, keyed by position, so that
applying any event twice is impossible to miss (the primary key refuses it)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from projections.engine import ProjectedEvent, Worker
from projections.order_status import OrderStatusProjection


class CountingProjection:
    name = "applied_events"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def create_tables(self, conn: psycopg.Connection[Any], schema: str) -> None:
        conn.execute(sql.SQL(
            "CREATE TABLE {}.applied (position bigint PRIMARY KEY, originator_id uuid NOT NULL,"
            " originator_version bigint NOT NULL)"
        ).format(sql.Identifier(schema)))

    def apply(
        self, conn: psycopg.Connection[Any], schema: str, events: Sequence[ProjectedEvent]
    ) -> None:
        if self.delay:
            time.sleep(self.delay)  # widen the window in which a kill lands mid-batch
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("INSERT INTO {}.applied VALUES (%s, %s, %s)").format(
                    sql.Identifier(schema)),
                [(e.logged.position, e.logged.originator_id, e.logged.originator_version)
                 for e in events],
            )


def main() -> None:
    """``python -m tests.projections.counting URL BATCH DELAY``: a worker in its own process."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    url, batch, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    Worker(url, [OrderStatusProjection(), CountingProjection(delay)], batch_size=batch,
           poll_interval=0.1).run()


if __name__ == "__main__":
    main()
