"""A client that closes its connection before its request is read is not a server error.

Nothing is run, nothing is answered (no one is listening), and nothing is raised to the
server, which would log a traceback for it (see ``problems.install``).
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from fastapi import FastAPI, Response
from starlette.types import Message

from interfaces.http import problems
from interfaces.http.admission import command_slots
from interfaces.http.direct import DirectCommandRoute
from interfaces.http.schemas import CustomerIn


def _app(ran: list[str]) -> FastAPI:
    app = FastAPI()
    problems.install(app)
    app.state.command_slots = command_slots(4)

    async def register(body: CustomerIn) -> Response:
        ran.append(body.name)
        return Response(status_code=201)

    app.router.add_api_route("/v1/customers", register, methods=["POST"],
                             route_class_override=DirectCommandRoute)
    return app


def test_the_request_of_a_client_that_left_is_not_run_and_raises_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []
    sent: list[Message] = []

    async def left() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/customers", "query_string": b"",
             "headers": [(b"content-type", b"application/json")]}
    with caplog.at_level(logging.INFO):
        asyncio.run(_app(ran)(scope, left, send))  # raises nothing for the server to log
    assert ran == []
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "the client left before POST /v1/customers was read; not run")]
