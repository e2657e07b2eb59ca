"""Invoices and credit memos (API.md § Invoices), read from the ``invoices`` read model.

Any role may read them. Documents are listed in issue order; the cursor is the position of
the last document in that order, so a page never shifts when new documents are issued.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
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
from projections import invoices

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])


def _parse_cursor(parts: list[Any]) -> int:
    (ordinal,) = parts
    if not isinstance(ordinal, int):
        raise TypeError(ordinal)
    return ordinal


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
    limit: Limit = 50,
    cursor: str | None = None,
    min_position: MinPosition = None,
) -> Any:
    """Invoices and credit memos in issue order."""
    schema, position = read_model(request, conn, invoices.NAME, min_position)
    limit = min(limit, MAX_LIMIT)
    items = invoices.list_invoices(
        conn, schema, order_id=order_id, customer_id=customer_id, issued_from=issued_from,
        issued_to=issued_to, after=decode_cursor(cursor, _parse_cursor) if cursor else None,
        limit=limit + 1,
    )
    next_cursor = encode_cursor(items[limit - 1]["ordinal"]) if len(items) > limit else None
    return JSONResponse(
        {"items": items[:limit], "next_cursor": next_cursor},
        headers=position_header(position),
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
    schema, position = read_model(request, conn, invoices.NAME, min_position)
    document = invoices.get_invoice(conn, schema, number)
    if document is None:
        raise NotFoundError(f"there is no invoice or credit memo {number}")
    return JSONResponse(document, headers=position_header(position))
