"""The order timeline (API.md § Orders: ``GET /v1/orders/{id}/timeline``).

A separate router from ``orders`` because it reads a different read model; both share the
``/v1/orders`` prefix. Paging follows log order with an opaque cursor that holds the log's
(transaction, position) pair, so a page boundary can never skip or repeat an event.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from application.errors import InvalidRequestError, NotFoundError
from interfaces.http.deps import ReadConn, Reader
from projections import order_timeline
from projections.consistency import read_model_at

router = APIRouter(prefix="/v1/orders", tags=["orders"])

MinPosition = Annotated[int | None, Query(ge=0, description="Wait until this position is read.")]
MAX_LIMIT = 500


class TimelineItemOut(BaseModel):
    position: int
    recorded_at: datetime
    type: str
    actor: str
    role: str
    channel: str
    reason: str | None
    summary: str
    command_id: UUID


class TimelineOut(BaseModel):
    items: list[TimelineItemOut]
    next_cursor: str | None


def _encode_cursor(pair: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(pair))).decode()


def _decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        transaction, position = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(transaction, int) or not isinstance(position, int):
            raise TypeError(cursor)
    except (ValueError, TypeError) as e:
        raise InvalidRequestError("cursor is not one this API returned", field="cursor") from e
    return transaction, position


@router.get("/{order_id}/timeline", response_model=TimelineOut)
def get_timeline(
    order_id: UUID,
    request: Request,
    conn: ReadConn,
    _: Reader,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: str | None = None,
    min_position: MinPosition = None,
) -> Any:
    """The order's events and those of its reservations, in log order, in words."""
    schema, at = read_model_at(
        conn, order_timeline.NAME, min_position, request.app.state.settings.consistency_wait
    )
    after = _decode_cursor(cursor) if cursor else None
    items, next_pair = order_timeline.timeline_page(
        conn, schema, order_id, after=after, limit=min(limit, MAX_LIMIT)
    )
    if not items and not order_timeline.order_exists(conn, schema, order_id):
        raise NotFoundError(f"there is no order {order_id}")
    return JSONResponse(
        {"items": items, "next_cursor": _encode_cursor(next_pair) if next_pair else None},
        headers={"X-Evident-Position": str(at.position)},
    )
