"""Commands are admitted a few at a time (``OMS_COMMAND_CONCURRENCY``); reads are not held up.

See ``interfaces.http.admission`` for why.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import ValidationError

from application.settings import Settings
from interfaces.http.admission import CommandRoute, command_slots
from interfaces.http.app import api_routers, create_app
from interfaces.http.deps import is_command
from tests.http.conftest import API_KEYS, CLIENT, ok, register_customer


def _app_counting_overlap(slots: int) -> tuple[FastAPI, dict[str, int]]:
    """A command and a read on ``CommandRoute``s, each noting how many of its kind overlap."""
    router = APIRouter(route_class=CommandRoute)
    running = {"POST": 0, "GET": 0}
    most = {"POST": 0, "GET": 0}

    async def take_a_while(method: str) -> dict[str, str]:
        running[method] += 1
        most[method] = max(most[method], running[method])
        await asyncio.sleep(0.02)
        running[method] -= 1
        return {"done": method}

    @router.post("/work")
    async def work() -> dict[str, str]:
        return await take_a_while("POST")

    @router.get("/work")
    async def look() -> dict[str, str]:
        return await take_a_while("GET")

    app = FastAPI()
    app.include_router(router)
    app.state.command_slots = command_slots(slots)
    return app, most


def test_no_more_commands_run_at_once_than_there_are_slots_and_reads_never_wait() -> None:
    app, most = _app_counting_overlap(slots=2)

    async def send(method: str, times: int) -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = await asyncio.gather(
                *(client.request(method, "/work") for _ in range(times)))
        return [answer.status_code for answer in answers]

    assert asyncio.run(send("POST", 6)) == [200] * 6  # every command ran, two at a time
    assert asyncio.run(send("GET", 6)) == [200] * 6
    assert most == {"POST": 2, "GET": 6}


class _CountingSlots:
    """Stands in for the app's slots: counts the requests that took one."""

    def __init__(self) -> None:
        self.taken = 0

    async def __aenter__(self) -> None:
        self.taken += 1

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


def test_the_api_sizes_its_slots_by_the_setting_and_its_commands_take_them(
    database_url: str,
) -> None:
    settings = Settings(DATABASE_URL=database_url, OMS_API_KEYS=API_KEYS,
                        OMS_COMMAND_CONCURRENCY=3)
    app = create_app(settings, database_url)
    with TestClient(app, headers=CLIENT) as http:
        slots = app.state.command_slots
        assert isinstance(slots, asyncio.Semaphore)
        assert [slots.locked(), getattr(slots, "_value", None)] == [False, 3]
        counting = app.state.command_slots = _CountingSlots()
        customer = register_customer(http)  # a command: takes a slot
        ok(http.get(f"/v1/customers/{customer}"))  # a read: does not
        ok(http.post(f"/v1/customers/{customer}/notes", json={"text": "called back"}), 201)
        assert counting.taken == 2


def test_a_concurrency_below_one_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(OMS_COMMAND_CONCURRENCY=0)
    assert "OMS_COMMAND_CONCURRENCY" in str(refused.value)
    assert "greater than or equal to 1" in str(refused.value)


def test_every_command_route_takes_a_slot() -> None:
    """A command added to a router without ``CommandRoute`` would skip the queue."""
    commands = [route for router in api_routers() for route in router.routes
                if isinstance(route, APIRoute) and is_command(route)]
    assert "/v1/orders" in {route.path for route in commands}
    assert [route.path for route in commands if not isinstance(route, CommandRoute)] == []
