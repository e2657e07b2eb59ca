"""Customer care (API.md): the customer dashboard and the agents' work queue.

Both read the ``care`` read model. Analysts see the dashboard with personal data masked; the
read model itself is unmasked, so masking is decided per request by the caller's role.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from application.errors import NotFoundError
from interfaces.http.deps import ReadConn, Reader
from interfaces.http.reading import (
    MAX_LIMIT,
    Limit,
    MinPosition,
    decode_cursor,
    encode_cursor,
    position_header,
    read_model,
)
from projections import care

log = logging.getLogger("evident.http.care")

router = APIRouter(tags=["care"])


def backorder_age(request: Request) -> timedelta:
    """How old a backorder must be to need an agent (``OMS_CARE_BACKORDER_AGE`` seconds)."""
    return timedelta(seconds=request.app.state.settings.care_backorder_age)


@router.get("/v1/customers/{customer_id}/dashboard")
def customer_dashboard(
    customer_id: UUID,
    request: Request,
    conn: ReadConn,
    principal: Reader,
    min_position: MinPosition = None,
) -> Any:
    """Profile, orders, lifetime value, open returns, notes and consents of one customer."""
    schema, position = read_model(request, conn, care.NAME, min_position)
    dashboard = care.get_dashboard(conn, schema, customer_id)
    if dashboard is None:
        raise NotFoundError(f"there is no customer {customer_id}")
    if principal.masked:
        dashboard = care.mask_dashboard(dashboard)
    return JSONResponse(dashboard, headers=position_header(position))


def _parse_cursor(parts: list[Any]) -> tuple[datetime, str]:
    since, key = parts
    if not isinstance(key, str):
        raise TypeError(key)
    return datetime.fromisoformat(since), key


@router.get("/v1/care/queue")
def care_queue(
    request: Request,
    conn: ReadConn,
    _: Reader,
    limit: Limit = 50,
    cursor: str | None = None,
    min_position: MinPosition = None,
) -> Any:
    """Orders that need an agent, longest waiting first."""
    schema, position = read_model(request, conn, care.NAME, min_position)
    limit = min(limit, MAX_LIMIT)
    items = care.list_queue(
        conn, schema, backorder_age=backorder_age(request),
        after=decode_cursor(cursor, _parse_cursor) if cursor else None, limit=limit + 1,
    )
    last = items[limit - 1] if len(items) > limit else None
    next_cursor = encode_cursor(last["since"], last["key"]) if last else None
    return JSONResponse(
        {"items": items[:limit], "next_cursor": next_cursor},
        headers=position_header(position),
    )
