"""How far each projection has got, and how far behind the log it is (operators watch this)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from application.log_reader import LogCursor, count_after, oldest_after, read_head


def projection_status(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """One entry per tracked projection: position, head, lag in events and seconds, state."""
    exists = conn.execute("SELECT to_regclass('projection_tracking') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    head = read_head(conn)
    rows = conn.execute(
        "SELECT t.name, t.transaction, t.position, t.state, t.error, t.error_position"
        " FROM projection_tracking t WHERE t.live ORDER BY t.name"
    ).fetchall()
    building = {
        name: (int(generation), int(position))
        for name, generation, position in conn.execute(
            "SELECT name, generation, position FROM projection_tracking"
            " WHERE NOT live AND state IN ('building', 'halted')"
        ).fetchall()
    }
    clock = conn.execute("SELECT clock_timestamp()").fetchone()
    now: datetime = clock[0] if clock else datetime.now(UTC)  # the clock recorded_at uses
    items = []
    for name, transaction, position, state, error, error_position in rows:
        cursor = LogCursor(int(transaction), int(position))
        lag_events = count_after(conn, cursor) if cursor < head.cursor else 0
        lag_seconds = 0.0
        if lag_events:
            # How long the oldest event not yet applied has been waiting: what a reader
            # waits for (not the age of the last applied one, which may be days old).
            oldest = oldest_after(conn, cursor)
            if oldest is not None:
                lag_seconds = max(0.0, (now - oldest).total_seconds())
        items.append(
            {
                "name": name,
                "position": int(position),
                "head": head.cursor.position,
                "lag_events": lag_events,
                "lag_seconds": round(lag_seconds, 3),
                "state": "halted" if state == "halted" else (
                    "catching_up" if lag_events else "live"
                ),
                "error": None if error is None else f"{error} (at position {error_position})",
                "rebuild": None if name not in building else {
                    "generation": building[name][0], "position": building[name][1],
                },
            }
        )
    return items
