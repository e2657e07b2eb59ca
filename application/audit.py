"""The audit trail: who did what and when, straight from the log, and proof it was not altered.

Every event carries a hash the database computed when it was inserted, over the event's
content, its envelope and the previous event of the same aggregate (``event_store``).
``verify`` recomputes every hash from the stored rows in one pass; an event whose stored
hash differs from the recomputed one (or whose predecessor changed) is a broken link.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from application.event_store import EVENTS_TABLE


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_broken: dict[str, Any] | None


def verify(conn: psycopg.Connection[Any]) -> Verification:
    """Recompute the hash chain of every aggregate; name the first broken link in log order."""
    rows = conn.execute(
        f"""
        WITH chained AS (
            SELECT e.notification_id, e.originator_id, e.originator_version, e.hash,
                   evident_event_hash(
                       lag(e.hash) OVER (PARTITION BY e.originator_id
                                         ORDER BY e.originator_version), e) AS expected,
                   lag(e.originator_version) OVER (PARTITION BY e.originator_id
                                                   ORDER BY e.originator_version) AS previous
              FROM {EVENTS_TABLE} e
        )
        SELECT count(*) AS checked,
               (SELECT row(c.notification_id, c.originator_id, c.originator_version)
                  FROM chained c
                 WHERE c.hash IS DISTINCT FROM c.expected
                    OR (c.originator_version > 1
                        AND c.previous IS DISTINCT FROM c.originator_version - 1)
                 ORDER BY c.notification_id LIMIT 1) AS broken
          FROM chained
        """
    ).fetchone()
    checked = int(rows[0]) if rows else 0
    broken = rows[1] if rows else None
    if broken is None:
        return Verification(True, checked, None)
    position, aggregate_id, version = broken
    return Verification(
        False,
        checked,
        {"position": int(position), "aggregate_id": str(aggregate_id), "version": int(version)},
    )


@dataclass(frozen=True)
class AuditFilter:
    aggregate_id: UUID | None = None
    actor: str | None = None
    type: str | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None


def _where(f: AuditFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    if f.aggregate_id is not None:
        clauses.append("originator_id = %s")
        params.append(f.aggregate_id)
    if f.actor is not None:
        clauses.append("actor = %s")
        params.append(f.actor)
    if f.type is not None:
        # Types are shown as "Order.Shipped": match the end of the stored topic.
        clauses.append("topic LIKE %s")
        params.append("%:" + f.type.replace("%", r"\%").replace("_", r"\_"))
    if f.recorded_from is not None:
        clauses.append("recorded_at >= %s")
        params.append(f.recorded_from)
    if f.recorded_to is not None:
        clauses.append("recorded_at < %s")
        params.append(f.recorded_to)
    return " AND ".join(clauses), params


_COLUMNS = (
    "notification_id AS position, recorded_at, originator_id AS aggregate_id,"
    " originator_version AS version, split_part(topic, ':', 2) AS type, actor,"
    " actor_role AS role, channel, reason, correlation_id, causation_id, command_id,"
    " encode(hash, 'hex') AS hash"
)


def audit_events(
    conn: psycopg.Connection[Any], f: AuditFilter, *, after: int = 0, limit: int = 50
) -> list[dict[str, Any]]:
    """Envelopes of matching events in position order, after position ``after``."""
    where, params = _where(f)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM {EVENTS_TABLE} WHERE {where} AND notification_id > %s"
            " ORDER BY notification_id LIMIT %s",
            [*params, after, limit],
        )
        return cur.fetchall()


def stream_events(
    conn: psycopg.Connection[Any], f: AuditFilter, page: int = 2000
) -> Iterator[dict[str, Any]]:
    """Every matching event with its envelope and stored state, page by page (for export)."""
    after = 0
    where, params = _where(f)
    while True:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"SELECT {_COLUMNS}, state FROM {EVENTS_TABLE} WHERE {where}"
                " AND notification_id > %s ORDER BY notification_id LIMIT %s",
                [*params, after, page],
            )
            rows = cur.fetchall()
        if not rows:
            return
        yield from rows
        after = rows[-1]["position"]
