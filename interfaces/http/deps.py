"""Request-scoped dependencies: the application service, a read connection, the envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any
from uuid import UUID

import psycopg
from fastapi import Depends, Header, Request, Response
from psycopg_pool import ConnectionPool

from application.envelope import Envelope
from application.order_management import CommandResult, OrderManagement
from interfaces.http.auth import READERS, WRITERS, Principal, require

# The cheap dependencies are ``async`` so that they run on the event loop rather than in
# the thread pool (see ``interfaces.http.auth.authenticate``).


async def oms(request: Request) -> OrderManagement:
    service: OrderManagement = request.app.state.oms
    return service


def read_connection(request: Request) -> Iterator[psycopg.Connection[Any]]:
    pool: ConnectionPool[psycopg.Connection[Any]] = request.app.state.read_pool
    with pool.connection() as conn:
        yield conn


async def envelope(
    principal: Annotated[Principal, require(WRITERS)],
    x_correlation_id: Annotated[str | None, Header()] = None,
) -> Envelope:
    """The envelope for events this request causes: the key's actor and role, channel 'api'."""
    correlation = None
    if x_correlation_id:
        try:
            correlation = UUID(x_correlation_id)
        except ValueError:
            correlation = None
    return Envelope(
        actor=principal.actor, role=principal.role, channel="api", correlation_id=correlation
    )


OMS = Annotated[OrderManagement, Depends(oms)]
ReadConn = Annotated[psycopg.Connection[Any], Depends(read_connection)]
WriteEnvelope = Annotated[Envelope, Depends(envelope)]
Reader = Annotated[Principal, require(READERS)]


async def _expected_version(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """``If-Match: "<version>"``: the command fails with 412 if the aggregate has moved on."""
    return parse_if_match(if_match)


def parse_if_match(value: str | None) -> int | None:
    """``If-Match: "7"`` → 7 (API.md); anything else is ignored as no precondition."""
    if not value:
        return None
    stripped = value.strip().removeprefix("W/").strip('"')
    return int(stripped) if stripped.isdigit() else None


ExpectedVersion = Annotated[int | None, Depends(_expected_version)]


def command_answer(result: CommandResult, response: Response, **extra: Any) -> dict[str, Any]:
    """What every command answers (API.md): ``{id, version, position, ...}`` and an ETag."""
    response.headers["ETag"] = f'"{result.version}"'
    return {"id": result.id, "version": result.version, "position": result.position, **extra}
