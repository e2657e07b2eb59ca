"""The order timeline (API.md § Orders: ``GET /v1/orders/{id}/timeline``).

A separate router from ``orders`` because it reads a different read model; both share the
``/v1/orders`` prefix. Paging follows log order with an opaque cursor that holds the log's
(transaction, position) pair, so a page boundary can never skip or repeat an event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

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
from projections import order_timeline
from projections.care import MASK

router = APIRouter(prefix="/v1/orders", tags=["orders"])

# Summaries that end in free text a person typed (``reported shipment DHL 1 delayed:
# <detail>``; note texts in generations built before notes were left out of summaries),
# which may name people, addresses or phone numbers.
_FREE_TEXT_SUMMARIES = frozenset({"Order.NoteAdded", "Order.DeliveryExceptionRecorded"})


def mask_item(item: dict[str, Any]) -> dict[str, Any]:
    """A timeline entry as analysts see it: the reason a person gave and any typed text in
    the summary are masked; the rest (what happened, who, when, which units) stays."""
    summary = item["summary"]
    if item["type"] in _FREE_TEXT_SUMMARIES and ": " in summary:
        summary = f"{summary.split(': ', 1)[0]}: {MASK}"
    # Summaries end with " — <reason>" where a person gave one (the hold's reason for holds):
    # whatever follows the dash is typed text.
    if " — " in summary:
        summary = f"{summary.split(' — ', 1)[0]} — {MASK}"
    return {
        **item,
        "reason": None if item["reason"] is None else MASK,
        "summary": summary,
    }


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


def _parse_cursor(parts: list[Any]) -> tuple[int, int]:
    transaction, position = parts
    if not isinstance(transaction, int) or not isinstance(position, int):
        raise TypeError(parts)
    return transaction, position


@router.get("/{order_id}/timeline", response_model=TimelineOut)
def get_timeline(
    order_id: UUID,
    request: Request,
    conn: ReadConn,
    principal: Reader,
    limit: Limit = 50,
    cursor: str | None = None,
    min_position: MinPosition = None,
) -> Any:
    """The order's events and those of its reservations, in log order, in words. Analysts
    see reasons and typed texts (notes, delivery exception details) masked."""
    schema, at = read_model(request, conn, order_timeline.NAME, min_position)
    after = decode_cursor(cursor, _parse_cursor) if cursor else None
    items, next_pair = order_timeline.timeline_page(
        conn, schema, order_id, after=after, limit=min(limit, MAX_LIMIT)
    )
    if not items and not order_timeline.order_exists(conn, schema, order_id):
        raise NotFoundError(f"there is no order {order_id}")
    if principal.masked:
        items = [mask_item(item) for item in items]
    return JSONResponse(
        {"items": items, "next_cursor": encode_cursor(*next_pair) if next_pair else None},
        headers=position_header(at),
    )
