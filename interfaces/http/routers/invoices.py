"""Invoices and credit memos (API.md § Invoices), read from the ``invoices`` read model.

Any role may read them. Documents are listed in issue order; the cursor is the position of
the last document in that order, so a page never shifts when new documents are issued.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from application.errors import InvalidRequestError, NotFoundError
from interfaces.http.deps import ReadConn, Reader
from projections import invoices
from projections.consistency import read_model_at

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])

MinPosition = Annotated[int | None, Query(ge=0, description="Wait until this position is read.")]


def _read_model(request: Request, conn: ReadConn, min_position: int | None) -> tuple[str, int]:
    schema, cursor = read_model_at(
        conn, invoices.NAME, min_position, request.app.state.settings.consistency_wait
    )
    return schema, cursor.position


def _encode_cursor(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([document["ordinal"]])).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        (ordinal,) = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(ordinal, int):
            raise TypeError(ordinal)
        return ordinal
    except (ValueError, TypeError) as e:
        raise InvalidRequestError("cursor is not one this API returned", field="cursor") from e


@router.get("")
def list_invoices(
    request: Request,
    conn: ReadConn,
    _: Reader,
    order_id: UUID | None = None,
    customer_id: UUID | None = None,
    issued_from: Annotated[
        datetime | None, Query(alias="from", description="Issued at or after (inclusive).")
    ] = None,
    issued_to: Annotated[
        datetime | None, Query(alias="to", description="Issued before (exclusive).")
    ] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    cursor: str | None = None,
    min_position: MinPosition = None,
) -> Any:
    """Invoices and credit memos in issue order."""
    schema, position = _read_model(request, conn, min_position)
    limit = min(limit, 500)
    items = invoices.list_invoices(
        conn, schema, order_id=order_id, customer_id=customer_id, issued_from=issued_from,
        issued_to=issued_to, after=_decode_cursor(cursor) if cursor else None, limit=limit + 1,
    )
    next_cursor = _encode_cursor(items[limit - 1]) if len(items) > limit else None
    return JSONResponse(
        {"items": items[:limit], "next_cursor": next_cursor},
        headers={"X-Evident-Position": str(position)},
    )


@router.get("/{number}")
def get_invoice(
    number: str,
    request: Request,
    conn: ReadConn,
    _: Reader,
    min_position: MinPosition = None,
) -> Any:
    """One invoice (``INV-…``) or credit memo (``CM-…``) by number."""
    schema, position = _read_model(request, conn, min_position)
    document = invoices.get_invoice(conn, schema, number)
    if document is None:
        raise NotFoundError(f"there is no invoice or credit memo {number}")
    return JSONResponse(document, headers={"X-Evident-Position": str(position)})
