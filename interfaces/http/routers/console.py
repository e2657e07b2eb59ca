"""The care console (issue 7): the agents' web page at ``/console`` and its few helpers.

The page itself, its stylesheet and its script are static files shipped in
``interfaces/console`` and need no key: the page asks for one and sends it as
``Authorization: Bearer`` on every call. Everything the page shows or does goes through
the ``/v1`` API, except three read-only helpers under ``/console/api`` that the API has no
endpoint for: who the key belongs to (so the page can follow its role), a customer search by
name or email, and the open holds and returns of one order (so an agent can release or act
on them). The helpers read the care read model like ``/v1`` reads do (``min_position`` waits
for it) and keep its rules: analysts see reasons masked and may not search by personal data.
None of them is part of the v1 contract, so none appears in ``/openapi.json``.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from psycopg import sql

from interfaces.http.auth import WRITERS, Principal, authenticate
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
from projections.care import MASK

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

# The only files the page loads: name → media type. Nothing else under the package is served.
_STATIC = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
# The page is ours and loads nothing from elsewhere; say so to the browser.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _asset(*parts: str) -> bytes:
    return resources.files("interfaces.console").joinpath(*parts).read_bytes()


@router.get("", response_class=HTMLResponse)
def console_page() -> HTMLResponse:
    """The single page of the console (no key needed: it asks for one)."""
    return HTMLResponse(_asset("index.html"), headers=_SECURITY_HEADERS)


@router.get("/static/{name}")
def console_static(name: str) -> Response:
    """The console's stylesheet and script."""
    media_type = _STATIC.get(name)
    if media_type is None:
        raise HTTPException(404, f"there is no console file {name!r}")
    return Response(_asset("static", name), media_type=media_type, headers=_SECURITY_HEADERS)


@router.get("/api/whoami")
def whoami(principal: Annotated[Principal, Depends(authenticate)]) -> dict[str, Any]:
    """The key's actor and role, and what the page may therefore offer."""
    return {
        "actor": principal.actor,
        "role": principal.role,
        "masked": principal.masked,
        "can_write": principal.role in WRITERS,
    }


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _parse_cursor(parts: list[Any]) -> tuple[str, UUID]:
    name, customer_id = parts
    if not isinstance(name, str):
        raise TypeError(name)
    return name, UUID(customer_id)


@router.get("/api/customers")
def search_customers(
    request: Request,
    conn: ReadConn,
    principal: Reader,
    q: Annotated[str, Query(min_length=2, max_length=200)],
    limit: Limit = 20,
    cursor: str | None = None,
    min_position: MinPosition = None,
) -> Any:
    """Customers whose name or email contains ``q`` (case-insensitive), by name.

    Personal data is the search key, so analysts (who see it masked) may not search by it.
    Erased customers have no name or email left and are never found.
    """
    if principal.masked:
        raise HTTPException(403, "analysts see personal data masked and cannot search by it")
    schema, position = read_model(request, conn, care.NAME, min_position)
    limit = min(limit, MAX_LIMIT)
    pattern = _like(q.strip())
    where: list[sql.Composable] = [
        sql.SQL("NOT c.erased AND (c.name ILIKE %s OR c.email ILIKE %s)")
    ]
    params: list[Any] = [pattern, pattern]
    if cursor:
        where.append(sql.SQL("(c.name, c.customer_id) > (%s, %s)"))
        params.extend(decode_cursor(cursor, _parse_cursor))
    params.append(limit + 1)
    s = sql.Identifier(schema)
    rows = conn.execute(
        sql.SQL(
            "SELECT c.customer_id, c.name, c.email,"
            " (SELECT count(*) FROM {s}.orders o WHERE o.customer_id = c.customer_id)"
            " FROM {s}.customers c WHERE {where} ORDER BY c.name, c.customer_id LIMIT %s"
        ).format(s=s, where=sql.SQL(" AND ").join(where)),
        params,
    ).fetchall()
    items = [
        {"id": str(customer_id), "name": name, "email": email, "orders": orders}
        for customer_id, name, email, orders in rows
    ]
    last = items[limit - 1] if len(items) > limit else None
    next_cursor = encode_cursor(last["name"], last["id"]) if last else None
    return JSONResponse(
        {"items": items[:limit], "next_cursor": next_cursor}, headers=position_header(position)
    )


@router.get("/api/orders/{order_id}/care")
def order_care(
    order_id: UUID,
    request: Request,
    conn: ReadConn,
    principal: Reader,
    min_position: MinPosition = None,
) -> Any:
    """The order's open holds and open returns (with their ids, so the page can act on them)
    as the care read model has them; ``{"holds": [], "returns": []}`` for an order it lacks."""
    schema, position = read_model(request, conn, care.NAME, min_position)
    row = conn.execute(
        sql.SQL("SELECT state FROM {s}.orders WHERE order_id = %s").format(
            s=sql.Identifier(schema)
        ),
        (order_id,),
    ).fetchone()
    state: dict[str, Any] = row[0] if row else {"holds": {}, "returns": {}}

    def reason(text: str | None) -> str | None:
        return MASK if principal.masked and text is not None else text

    holds = [
        {"hold_id": hold_id, "type": hold["type"], "reason": reason(hold["reason"]),
         "since": hold["since"]}
        for hold_id, hold in sorted(state["holds"].items(), key=lambda kv: kv[1]["since"])
    ]
    returns = [
        {"return_id": return_id, "status": ret["status"], "reason": reason(ret["reason"]),
         "requested_at": ret["requested_at"], "lines": ret["lines"]}
        for return_id, ret in sorted(
            state["returns"].items(), key=lambda kv: kv[1]["requested_at"]
        )
    ]
    return JSONResponse({"holds": holds, "returns": returns}, headers=position_header(position))
