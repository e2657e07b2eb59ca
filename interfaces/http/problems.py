"""One table from errors to RFC 9457 problem responses, and the handlers that apply it.

Domain errors carry a ``kind`` (not_found, conflict, invalid); this module is the only place
that turns kinds and infrastructure errors into HTTP status codes. No handler lets a stack
trace reach a client.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from application.errors import ApplicationError
from domain.errors import DomainError

log = logging.getLogger("evident.http")

STATUS_BY_KIND = {
    "not_found": 404,
    "conflict": 409,
    "invalid": 422,
    "precondition_failed": 412,
    "unavailable": 503,
}

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    422: "Invalid input",
    500: "Internal error",
    503: "Service unavailable",
}


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error answers."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}
# Documented on every route so clients (and schemathesis) know the error shape.
DOCUMENTED: dict[int | str, dict[str, Any]] = {
    status: {**_PROBLEM, "description": TITLES[status]}
    for status in (401, 403, 404, 409, 412, 413, 422, 503)
}


def document_problem_media_type(doc: dict[str, Any]) -> dict[str, Any]:
    """FastAPI files response models under application/json; errors are problem+json."""
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if str(status) in {str(k) for k in DOCUMENTED} and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
    return doc


def problem(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(DomainError)
    def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        status = STATUS_BY_KIND[exc.kind]
        errors = [{"field": exc.field or "body", "message": exc.message}] if status == 422 else None
        return problem(status, exc.message, type_=f"/problems/{type(exc).__name__}",
                       errors=errors)

    @app.exception_handler(ApplicationError)
    def application_error(_: Request, exc: ApplicationError) -> JSONResponse:
        status = STATUS_BY_KIND[exc.kind]
        errors = [{"field": exc.field or "body", "message": exc.message}] if status == 422 else None
        headers = {"Retry-After": "1"} if status == 503 else None
        return problem(status, exc.message, type_=f"/problems/{type(exc).__name__}",
                       errors=errors, headers=headers)

    @app.exception_handler(AggregateNotFoundError)
    def not_found(_: Request, exc: AggregateNotFoundError) -> JSONResponse:
        return problem(404, "no such resource")

    @app.exception_handler(IntegrityError)
    def version_conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        return problem(409, "the resource was changed by another request; read it and retry")

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg.InterfaceError)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The server restarted, failed over or dropped the connection: the pools replace
        # their dead connections, so the client should simply try again (not an internal
        # error).
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        refresh = getattr(request.app.state, "refresh_pools", None)
        if refresh is not None:
            try:
                await refresh()
            except psycopg.Error as still_down:  # the database is not back yet
                log.warning("database still unavailable: %s", still_down)
        return problem(503, "the database is unavailable or dropped the connection; retry"
                       " shortly (a command that named its own id is safe to repeat; one that"
                       " did not may have been recorded: read before repeating it)",
                       headers={"Retry-After": "1"})

    @app.exception_handler(ClientDisconnect)
    def client_gone(request: Request, _: ClientDisconnect) -> JSONResponse:
        # The client closed its connection before the route read the request (it stopped
        # waiting, say, while the command queued for a slot): nothing was run and no one is
        # left to answer. Not the server's error, so no traceback: logged as one, by the
        # error handler and again by uvicorn, the commands a load generator leaves queued
        # when it stops (34-52 per run of bench/http.py) held the event loop for 13-74 ms
        # in all, and the first requests of the window that followed took some 20 ms longer.
        log.info("the client left before %s %s was read; not run", request.method,
                 request.url.path)
        return problem(400, "the client closed the connection before the request was read")

    @app.exception_handler(RequestValidationError)
    def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail),
                       headers=dict(exc.headers) if exc.headers else None)

    @app.exception_handler(Exception)
    def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "an unexpected error occurred; it has been logged")
