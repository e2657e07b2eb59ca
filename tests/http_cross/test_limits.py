"""Limits (API.md § Conventions): bodies over 1 MiB are a 413 problem; lists stop at 500.

The body limit is checked both ways a client can send a body: with a declared
``Content-Length`` (refused before a byte is read) and chunked (counted as it streams). The
list clamp is checked on a read model that really holds more than 500 orders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from application.order_management import OrderManagement
from application.settings import Settings
from interfaces.http.app import create_app
from interfaces.http.limits import MAX_BODY_BYTES, BodyLimitMiddleware
from projections.order_status import OrderStatusProjection
from tests.application.builders import place, shop
from tests.projections.support import catch_up

AGENT = {"Authorization": "Bearer k"}


@pytest.fixture
def http(database_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(DATABASE_URL=database_url, OMS_API_KEYS="ana:agent:k"),
                     database_url)
    with TestClient(app) as client:
        yield client


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    while total > 0:
        yield b" " * min(size, total)
        total -= size


def assert_too_large(response: Any) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413


@pytest.mark.parametrize("idempotency", [{}, {"Idempotency-Key": "k"}], ids=["plain", "keyed"])
def test_a_declared_body_over_1_mib_is_a_413(
    http: TestClient, idempotency: dict[str, str]
) -> None:
    response = http.post(
        "/v1/customers", content=b" " * (MAX_BODY_BYTES + 1),
        headers={**AGENT, **idempotency, "Content-Type": "application/json"},
    )
    assert_too_large(response)


@pytest.mark.parametrize("idempotency", [{}, {"Idempotency-Key": "k"}], ids=["plain", "keyed"])
def test_a_chunked_body_over_1_mib_is_a_413(
    http: TestClient, idempotency: dict[str, str]
) -> None:
    response = http.post(
        "/v1/customers", content=_chunks(MAX_BODY_BYTES + 1),
        headers={**AGENT, **idempotency, "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_too_large(response)


def test_a_body_of_exactly_1_mib_is_read(http: TestClient) -> None:
    response = http.post(
        "/v1/customers", content=_chunks(MAX_BODY_BYTES),
        headers={**AGENT, "Content-Type": "application/json"},
    )
    assert response.status_code == 422  # read and parsed: whitespace is not a customer


async def _run(app: Any, scope: Scope, messages: list[Message]) -> list[Message]:
    queue = list(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _scope(headers: list[tuple[bytes, bytes]]) -> Scope:
    return {"type": "http", "method": "POST", "path": "/", "headers": headers,
            "query_string": b""}


def test_a_streamed_body_is_cut_off_as_soon_as_it_passes_the_limit() -> None:
    received: list[int] = []

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            received.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    chunk = {"type": "http.request", "body": b"x" * 40, "more_body": True}
    sent = asyncio.run(_run(
        BodyLimitMiddleware(endpoint, max_bytes=100), _scope([]),
        [chunk, chunk, chunk, chunk, {"type": "http.request", "body": b""}],
    ))
    assert received == [40, 40]  # the third chunk (120 bytes in all) never reaches the endpoint
    assert sent[0]["status"] == 413
    assert (b"content-type", b"application/problem+json") in sent[0]["headers"]


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body() -> None:
    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the endpoint must not run")

    sent = asyncio.run(_run(
        BodyLimitMiddleware(endpoint, max_bytes=100), _scope([(b"content-length", b"101")]),
        [{"type": "http.request", "body": b"x" * 101}],
    ))
    assert sent[0]["status"] == 413


@pytest.mark.slow
def test_a_list_never_answers_more_than_500_items(
    http: TestClient, oms: OrderManagement, database_url: str
) -> None:
    customer = shop(oms)
    for _ in range(501):
        place(oms, customer, ("SKU-1", 1))
    catch_up(database_url, [OrderStatusProjection()])
    response = http.get("/v1/orders", params={"limit": 10_000}, headers=AGENT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["items"]) == 500
    assert body["next_cursor"] is not None
