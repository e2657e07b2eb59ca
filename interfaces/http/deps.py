"""Request-scoped dependencies: the application service, a read connection, the envelope."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any
from uuid import UUID

import orjson
import psycopg
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from psycopg_pool import ConnectionPool

from application.envelope import Envelope
from application.order_management import CommandResult, OrderManagement
from interfaces.http.auth import READERS, WRITERS, Principal, admit, principal_for, require

# The cheap dependencies are ``async`` so that they run on the event loop rather than in
# the thread pool (see ``interfaces.http.auth.authenticate``).


async def oms(request: Request) -> OrderManagement:
    service: OrderManagement = request.app.state.oms
    return service


def read_connection(request: Request) -> Iterator[psycopg.Connection[Any]]:
    pool: ConnectionPool[psycopg.Connection[Any]] = request.app.state.read_pool
    with pool.connection() as conn:
        yield conn


async def envelope(request: Request) -> Envelope:
    """The envelope for events this request causes: the key's actor and role, channel 'api'.

    One dependency that reads its two headers and admits writers itself, rather than one built
    on ``require(WRITERS)`` with ``Header()`` parameters: FastAPI's resolution of each level of
    dependencies and of each declared header costs every command more than the check itself
    (measured in-process: some 40 us of the ~190 us FastAPI spent on a place-order). The
    answers, 401 and 403 included, are the same; ``document_envelope_headers`` keeps the two
    headers in the OpenAPI document.
    """
    headers = request.headers
    principal = admit(principal_for(request.app.state.api_keys, headers.get("authorization")),
                      WRITERS)
    correlation = None
    if x_correlation_id := headers.get("x-correlation-id"):
        try:
            correlation = UUID(x_correlation_id)
        except ValueError:
            correlation = None
    return Envelope(
        actor=principal.actor, role=principal.role, channel="api", correlation_id=correlation
    )


def _optional_header(name: str, title: str) -> dict[str, Any]:
    """A header parameter as FastAPI documents ``Annotated[str | None, Header()] = None``."""
    return {"name": name, "in": "header", "required": False,
            "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": title}}


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


def is_command(route: APIRoute) -> bool:
    """Whether ``route`` is a command: it takes the write ``envelope`` its events record."""
    return _depends_on(route.dependant, envelope)


def document_envelope_headers(
    openapi: dict[str, Any], routers: Iterable[APIRouter]
) -> dict[str, Any]:
    """Add ``Authorization`` and ``X-Correlation-Id`` to every operation of ``routers`` whose
    route takes an ``envelope``, which reads them without declaring them. Safe to apply twice.
    """
    documented = [_optional_header("authorization", "Authorization"),
                  _optional_header("x-correlation-id", "X-Correlation-Id")]
    paths = openapi.get("paths", {})
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not is_command(route):
                continue
            for method in sorted(route.methods or ()):
                operation = paths.get(route.path_format, {}).get(method.lower())
                if operation is None:  # not in the schema
                    continue
                parameters = operation.setdefault("parameters", [])
                present = {(p.get("in"), p.get("name")) for p in parameters}
                parameters.extend(p for p in documented if ("header", p["name"]) not in present)
    return openapi


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
    response.headers["ETag"] = _etag(result)
    return _answer(result, extra)


def command_response(result: CommandResult, status_code: int, **extra: Any) -> Response:
    """``command_answer`` as a finished response, for the busiest command (placing an order).

    A route that returns a ``Response`` skips FastAPI's validation and serialisation of its
    answer through the ``response_model`` (which still documents it): measured in-process,
    some 12 us less per place-order. The bytes are the same (compact JSON, fields in the
    model's order), which ``tests/http/test_command_envelope.py`` holds against the model.
    """
    return Response(orjson.dumps(_answer(result, extra)), status_code,
                    headers={"ETag": _etag(result)}, media_type="application/json")


def _answer(result: CommandResult, extra: dict[str, Any]) -> dict[str, Any]:
    return {"id": result.id, "version": result.version, "position": result.position, **extra}


def _etag(result: CommandResult) -> str:
    return f'"{result.version}"'
