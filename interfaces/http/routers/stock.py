"""Stock levels (API.md § Locations and inventory: ``GET /v1/inventory[/{sku}]``).

Reads the stock visibility read model; the commands that move stock live in the
``inventory`` router. Every role may read stock.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from application.errors import NotFoundError
from interfaces.http.deps import OMS, ReadConn, Reader
from interfaces.http.reading import (
    MAX_LIMIT,
    AsOf,
    Limit,
    MinPosition,
    decode_cursor,
    encode_cursor,
    position_header,
    read_model,
)
from projections import stock_visibility

router = APIRouter(prefix="/v1/inventory", tags=["inventory"])

Sku = Annotated[str, Path(min_length=1, max_length=128)]


class StockAtLocationOut(BaseModel):
    location_id: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    low_stock: bool


class StockOut(BaseModel):
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    low_stock: bool
    locations: list[StockAtLocationOut]


class StockListOut(BaseModel):
    items: list[StockOut]
    next_cursor: str | None


def _parse_cursor(parts: list[Any]) -> str:
    (sku,) = parts
    if not isinstance(sku, str):
        raise TypeError(sku)
    return sku


@router.get("", response_model=StockListOut)
def list_stock(
    request: Request,
    conn: ReadConn,
    _: Reader,
    location_id: str | None = None,
    low_stock: bool | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
    min_position: MinPosition = None,
) -> Any:
    """SKUs in SKU order; ``location_id`` keeps those stocked there (and ``low_stock`` then
    means low at that location), otherwise ``low_stock`` looks at network totals."""
    schema, position = read_model(request, conn, stock_visibility.NAME, min_position)
    items, last = stock_visibility.list_skus(
        conn, schema, location_id=location_id, low_stock=low_stock,
        after=decode_cursor(cursor, _parse_cursor) if cursor else None, limit=min(limit, MAX_LIMIT),
    )
    return JSONResponse(
        {"items": items, "next_cursor": encode_cursor(last) if last is not None else None},
        headers=position_header(position),
    )


@router.get("/{sku}", response_model=StockOut)
def get_stock(
    sku: Sku,
    request: Request,
    conn: ReadConn,
    oms: OMS,
    _: Reader,
    min_position: MinPosition = None,
    as_of: AsOf = None,
) -> Any:
    """Network totals of one SKU and its stock at every location (now, or ``as_of``)."""
    if as_of is not None:
        items = oms.inventory_as_of(sku, as_of)
        if not items:
            raise NotFoundError(f"there was no stock record for SKU {sku!r} at {as_of}")
        return JSONResponse(stock_visibility.describe_items(sku, items))
    schema, position = read_model(request, conn, stock_visibility.NAME, min_position)
    view = stock_visibility.get_sku(conn, schema, sku)
    if view is None:
        raise NotFoundError(f"there is no stock record for SKU {sku!r}")
    return JSONResponse(view, headers=position_header(position))
