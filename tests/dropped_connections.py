"""What a PostgreSQL restart or failover does to a running process, without restarting the
shared server: end every other session on the test's database."""

from __future__ import annotations

import psycopg


def drop_other_connections(database_url: str) -> int:
    """Terminate every session on this database but the one asking; return how many."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()
    return int(row[0]) if row else 0
