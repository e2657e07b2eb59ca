"""Orders: place, cancel, read (API.md § Orders)."""

from __future__ import annotations

import base64
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from application.errors import InvalidRequestError, NotFoundError
from domain.order_values import LineQuantity, NewLine
from domain.values import Channel
from interfaces.http.deps import OMS, ReadConn, Reader, WriteEnvelope, parse_if_match
from interfaces.http.schemas import (
    CancellationIn,
    CommandOut,
    OrderIn,
    OrderListOut,
    OrderOut,
    OrderPlacedOut,
)
from projections import order_status
from projections.consistency import read_model_at

router = APIRouter(prefix="/v1/orders", tags=["orders"])

MinPosition = Annotated[int | None, Query(ge=0, description="Wait until this position is read.")]


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


@router.post("", status_code=201, response_model=OrderPlacedOut)
def place_order(body: OrderIn, oms: OMS, envelope: WriteEnvelope, response: Response) -> Any:
    """Place an order; stock is reserved in the same transaction."""
    result = oms.place_order(
        order_id=body.id,
        customer_id=body.customer_id,
        channel=Channel(body.channel),
        currency=body.currency,
        lines=[
            NewLine(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.decimal_price(),
                tax_rate=Decimal(line.tax_rate or "0"),
            )
            for line in body.lines
        ],
        shipping_address=body.shipping_address.to_domain(),
        shipping_method=body.shipping_method,
        envelope=envelope,
    )
    order = result.aggregate
    _etag(response, result.version)
    return {
        "id": result.id,
        "version": result.version,
        "position": result.position,
        "status": order.status.value,
        "lines": [
            {
                "line_id": line.line_id,
                "sku": line.sku,
                "quantity": line.quantity,
                "allocated": [
                    {"location_id": a.location_id, "quantity": a.quantity}
                    for a in line.allocations
                ],
                "backordered": line.backordered,
            }
            for line in order.lines.values()
        ],
    }


@router.post("/{order_id}/cancellations", response_model=CommandOut)
def cancel_order(
    order_id: UUID,
    body: CancellationIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> Any:
    """Cancel given line quantities, or everything not yet shipped."""
    result = oms.cancel_order(
        order_id,
        reason=body.reason,
        lines=None if body.lines is None else [
            LineQuantity(line.line_id, line.quantity) for line in body.lines
        ],
        envelope=envelope,
        expected_version=parse_if_match(if_match),
    )
    _etag(response, result.version)
    return {"id": result.id, "version": result.version, "position": result.position}


def _read_model(request: Request, conn: ReadConn, min_position: int | None) -> tuple[str, int]:
    schema, cursor = read_model_at(
        conn, order_status.NAME, min_position, request.app.state.settings.consistency_wait
    )
    return schema, cursor.position


def _encode_cursor(view: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([view["placed_at"], view["id"]])).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        placed_at, order_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(placed_at), UUID(order_id)
    except (ValueError, TypeError) as e:
        raise InvalidRequestError("cursor is not one this API returned", field="cursor") from e


@router.get("", response_model=OrderListOut)
def list_orders(
    request: Request,
    conn: ReadConn,
    _: Reader,
    status: str | None = None,
    customer_id: UUID | None = None,
    channel: str | None = None,
    sku: str | None = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: str | None = None,
    min_position: MinPosition = None,
) -> Any:
    """Orders from the order status read model, oldest first."""
    schema, position = _read_model(request, conn, min_position)
    limit = min(limit, 500)
    items = order_status.list_orders(
        conn, schema, status=status, customer_id=customer_id, channel=channel, sku=sku,
        placed_from=placed_from, placed_to=placed_to,
        after=_decode_cursor(cursor) if cursor else None, limit=limit + 1,
    )
    next_cursor = _encode_cursor(items[limit - 1]) if len(items) > limit else None
    return JSONResponse(
        {"items": items[:limit], "next_cursor": next_cursor},
        headers={"X-Evident-Position": str(position)},
    )


@router.get("/{order_id}", response_model=OrderOut)
def get_order(
    order_id: UUID,
    request: Request,
    conn: ReadConn,
    _: Reader,
    min_position: MinPosition = None,
) -> Any:
    """The order as the order status read model has it."""
    schema, position = _read_model(request, conn, min_position)
    view = order_status.get_order(conn, schema, order_id)
    if view is None:
        raise NotFoundError(f"there is no order {order_id}")
    return JSONResponse(
        view, headers={"X-Evident-Position": str(position), "ETag": f'"{view["version"]}"'}
    )
