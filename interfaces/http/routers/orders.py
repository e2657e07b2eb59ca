"""Orders: place, cancel, read (API.md § Orders)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from application.errors import NotFoundError
from domain.order_values import LineQuantity, NewLine
from domain.values import Channel
from interfaces.http.deps import OMS, ReadConn, Reader, WriteEnvelope, parse_if_match
from interfaces.http.reading import (
    MAX_LIMIT,
    Limit,
    MinPosition,
    decode_cursor,
    encode_cursor,
    position_header,
    read_model,
)
from interfaces.http.schemas import (
    CancellationIn,
    CommandOut,
    OrderIn,
    OrderListOut,
    OrderOut,
    OrderPlacedOut,
)
from projections import order_status

router = APIRouter(prefix="/v1/orders", tags=["orders"])



def _parse_cursor(parts: list[Any]) -> tuple[datetime, UUID]:
    return datetime.fromisoformat(parts[0]), UUID(parts[1])


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
    limit: Limit = 50,
    cursor: str | None = None,
    min_position: MinPosition = None,
) -> Any:
    """Orders from the order status read model, oldest first."""
    schema, position = read_model(request, conn, order_status.NAME, min_position)
    limit = min(limit, MAX_LIMIT)
    items = order_status.list_orders(
        conn, schema, status=status, customer_id=customer_id, channel=channel, sku=sku,
        placed_from=placed_from, placed_to=placed_to,
        after=decode_cursor(cursor, _parse_cursor) if cursor else None, limit=limit + 1,
    )
    last = items[limit - 1] if len(items) > limit else None
    next_cursor = encode_cursor(last["placed_at"], last["id"]) if last else None
    return JSONResponse(
        {"items": items[:limit], "next_cursor": next_cursor},
        headers=position_header(position),
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
    schema, position = read_model(request, conn, order_status.NAME, min_position)
    view = order_status.get_order(conn, schema, order_id)
    if view is None:
        raise NotFoundError(f"there is no order {order_id}")
    return JSONResponse(
        view, headers={**position_header(position), "ETag": f'"{view["version"]}"'}
    )
