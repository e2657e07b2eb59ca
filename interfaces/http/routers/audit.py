"""The audit trail and its proof (API.md § audit): auditors and admins only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from application.audit import AuditFilter, audit_events, verify
from interfaces.http.auth import AUDITORS, Principal, require
from interfaces.http.deps import ReadConn
from interfaces.http.reading import MAX_LIMIT, Limit, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1/audit", tags=["audit"])

Auditor = Annotated[Principal, require(AUDITORS)]


class AuditEventOut(BaseModel):
    position: int
    recorded_at: datetime
    aggregate_id: UUID
    version: int
    type: str
    actor: str
    role: str
    channel: str
    reason: str | None
    correlation_id: UUID
    causation_id: UUID | None
    command_id: UUID
    hash: str


class AuditEventsOut(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


class VerificationOut(BaseModel):
    ok: bool
    checked: int
    first_broken: dict[str, Any] | None


def _parse_cursor(parts: list[Any]) -> int:
    (position,) = parts
    if not isinstance(position, int):
        raise TypeError(position)
    return position


@router.get("/events", response_model=AuditEventsOut)
def list_audit_events(
    conn: ReadConn,
    _: Auditor,
    aggregate_id: UUID | None = None,
    actor: str | None = None,
    type: Annotated[
        str | None, Query(description='An event type such as "Order.Shipped".')
    ] = None,
    recorded_from: Annotated[datetime | None, Query(alias="from")] = None,
    recorded_to: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Any:
    """Every recorded event's envelope, straight from the log, in log-position order."""
    limit = min(limit, MAX_LIMIT)
    after = decode_cursor(cursor, _parse_cursor) if cursor else 0
    found = AuditFilter(aggregate_id=aggregate_id, actor=actor, type=type,
                        recorded_from=recorded_from, recorded_to=recorded_to)
    items = audit_events(conn, found, after=after, limit=limit + 1)
    next_cursor = encode_cursor(items[limit - 1]["position"]) if len(items) > limit else None
    return {"items": items[:limit], "next_cursor": next_cursor}


@router.get("/verify", response_model=VerificationOut)
def verify_log(conn: ReadConn, _: Auditor) -> Any:
    """Recompute every event's hash chain; name the first broken link if any."""
    result = verify(conn)
    return {"ok": result.ok, "checked": result.checked, "first_broken": result.first_broken}
