"""Stock levels (API.md § Locations and inventory: ``GET /v1/inventory[/{sku}]``).

Reads the stock visibility read model; the commands that move stock live in the
``inventory`` router. Every role may read stock.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from application.errors import InvalidRequestError, NotFoundError
from interfaces.http.deps import ReadConn, Reader
from projections import stock_visibility
from projections.consistency import read_model_at

router = APIRouter(prefix="/v1/inventory", tags=["inventory"])

MinPosition = Annotated[int | None, Query(ge=0, description="Wait until this position is read.")]
Sku = Annotated[str, Path(min_length=1, max_length=128)]
MAX_LIMIT = 500


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


def _read_model(request: Request, conn: ReadConn, min_position: int | None) -> tuple[str, int]:
    schema, cursor = read_model_at(
        conn, stock_visibility.NAME, min_position, request.app.state.settings.consistency_wait
    )
    return schema, cursor.position


def _encode_cursor(sku: str) -> str:
    return base64.urlsafe_b64encode(sku.encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, binascii.Error) as e:
        raise InvalidRequestError("cursor is not one this API returned", field="cursor") from e


@router.get("", response_model=StockListOut)
def list_stock(
    request: Request,
    conn: ReadConn,
    _: Reader,
    location_id: str | None = None,
    low_stock: bool | None = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: str | None = None,
    min_position: MinPosition = None,
) -> Any:
    """SKUs in SKU order; ``location_id`` keeps those stocked there (and ``low_stock`` then
    means low at that location), otherwise ``low_stock`` looks at network totals."""
    schema, position = _read_model(request, conn, min_position)
    items, last = stock_visibility.list_skus(
        conn, schema, location_id=location_id, low_stock=low_stock,
        after=_decode_cursor(cursor) if cursor else None, limit=min(limit, MAX_LIMIT),
    )
    return JSONResponse(
        {"items": items, "next_cursor": _encode_cursor(last) if last is not None else None},
        headers={"X-Evident-Position": str(position)},
    )


@router.get("/{sku}", response_model=StockOut)
def get_stock(
    sku: Sku, request: Request, conn: ReadConn, _: Reader, min_position: MinPosition = None
) -> Any:
    """Network totals of one SKU and its stock at every location."""
    schema, position = _read_model(request, conn, min_position)
    view = stock_visibility.get_sku(conn, schema, sku)
    if view is None:
        raise NotFoundError(f"there is no stock record for SKU {sku!r}")
    return JSONResponse(view, headers={"X-Evident-Position": str(position)})
