"""Customer care (API.md): the customer dashboard and the agents' work queue.

Both read the ``care`` read model. Analysts see the dashboard with personal data masked; the
read model itself is unmasked, so masking is decided per request by the caller's role.
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from application.errors import InvalidRequestError, NotFoundError
from interfaces.http.deps import ReadConn, Reader
from projections import care
from projections.consistency import read_model_at

log = logging.getLogger("evident.http.care")

router = APIRouter(tags=["care"])

MinPosition = Annotated[int | None, Query(ge=0, description="Wait until this position is read.")]

def backorder_age(request: Request) -> timedelta:
    """How old a backorder must be to need an agent (``OMS_CARE_BACKORDER_AGE`` seconds)."""
    return timedelta(seconds=request.app.state.settings.care_backorder_age)


def _read_model(request: Request, conn: ReadConn, min_position: int | None) -> tuple[str, int]:
    schema, cursor = read_model_at(
        conn, care.NAME, min_position, request.app.state.settings.consistency_wait
    )
    return schema, cursor.position


@router.get("/v1/customers/{customer_id}/dashboard")
def customer_dashboard(
    customer_id: UUID,
    request: Request,
    conn: ReadConn,
    principal: Reader,
    min_position: MinPosition = None,
) -> Any:
    """Profile, orders, lifetime value, open returns, notes and consents of one customer."""
    schema, position = _read_model(request, conn, min_position)
    dashboard = care.get_dashboard(conn, schema, customer_id)
    if dashboard is None:
        raise NotFoundError(f"there is no customer {customer_id}")
    if principal.masked:
        dashboard = care.mask_dashboard(dashboard)
    return JSONResponse(dashboard, headers={"X-Evident-Position": str(position)})


def _encode_cursor(item: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([item["since"], item["key"]])).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        since, key = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(key, str):
            raise TypeError(key)
        return datetime.fromisoformat(since), key
    except (ValueError, TypeError) as e:
        raise InvalidRequestError("cursor is not one this API returned", field="cursor") from e


@router.get("/v1/care/queue")
def care_queue(
    request: Request,
    conn: ReadConn,
    _: Reader,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: str | None = None,
    min_position: MinPosition = None,
) -> Any:
    """Orders that need an agent, longest waiting first."""
    schema, position = _read_model(request, conn, min_position)
    limit = min(limit, 500)
    items = care.list_queue(
        conn, schema, backorder_age=backorder_age(request),
        after=_decode_cursor(cursor) if cursor else None, limit=limit + 1,
    )
    next_cursor = _encode_cursor(items[limit - 1]) if len(items) > limit else None
    return JSONResponse(
        {"items": items[:limit], "next_cursor": next_cursor},
        headers={"X-Evident-Position": str(position)},
    )
