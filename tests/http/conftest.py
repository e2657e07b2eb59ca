"""The HTTP API on a fresh database, five keys (one per role) and helpers shared by its tests.

Commands go through the public API exactly as a client sends them. Reads of read models
first run every projection in-process until it has caught up (``project``), as the worker
would; the customer profile reads the aggregate and needs no catching up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from application.settings import Settings
from interfaces.http.app import create_app
from projections import registry
from tests.projections.support import catch_up

API_KEYS = (
    "erp:client:client-key,ana:agent:agent-key,audrey:auditor:auditor-key,"
    "bo:analyst:analyst-key,root:admin:admin-key"
)
CLIENT = {"Authorization": "Bearer client-key"}
AGENT = {"Authorization": "Bearer agent-key"}
AUDITOR = {"Authorization": "Bearer auditor-key"}
ANALYST = {"Authorization": "Bearer analyst-key"}
ADMIN = {"Authorization": "Bearer admin-key"}

WAREHOUSE = "berlin-dc"
ADDRESS = {"name": "Jo Doe", "line1": "Main St 1", "city": "Berlin", "postal_code": "10115",
           "country": "DE"}
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def app(database_url: str) -> FastAPI:
    return create_app(
        Settings(DATABASE_URL=database_url, OMS_API_KEYS=API_KEYS, OMS_CONSISTENCY_WAIT=2),
        database_url,
    )


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    """A client that sends the ``client`` role's key unless a test passes other headers."""
    with TestClient(app, headers=CLIENT) as client:
        yield client


@pytest.fixture
def project(database_url: str) -> Callable[[], None]:
    """Bring every read model up to the end of the log."""

    def run() -> None:
        catch_up(database_url, registry.select())

    return run


def ok(response: httpx2.Response, status: int = 200) -> Any:
    """The body of a successful command or read, after checking its status; commands also
    answer ``{id, version, position}`` with an ``ETag`` of the version."""
    assert response.status_code == status, response.text
    body = response.json()
    if response.request.method in ("POST", "PUT") and "version" in body:
        assert {"id", "version", "position"} <= body.keys(), body
        assert response.headers["ETag"] == f'"{body["version"]}"'
    return body


def problem(response: httpx2.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with ``status``; for 422 its ``errors`` name ``field``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if field is not None:
        fields = [e["field"] for e in body["errors"]]
        assert field in fields, body
    return body


def if_match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


def add_location(http: TestClient, location_id: str = WAREHOUSE, priority: int = 1) -> None:
    ok(http.post("/v1/locations", json={"id": location_id, "name": location_id,
                                        "kind": "warehouse", "priority": priority}), 201)


def receive(http: TestClient, sku: str, quantity: int, location_id: str = WAREHOUSE) -> Any:
    return ok(http.post(f"/v1/inventory/{sku}/receipts",
                        json={"location_id": location_id, "quantity": quantity}))


def register_customer(http: TestClient, **fields: Any) -> str:
    body = {"name": "Jo Doe", "email": "jo@example.com", **fields}
    customer_id: str = ok(http.post("/v1/customers", json=body), 201)["id"]
    return customer_id


def place_order(
    http: TestClient, customer_id: str, lines: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """An order of 2 jeans at 50.00 and 1 belt at 20.00 (EUR, no tax) unless ``lines``."""
    placed: dict[str, Any] = ok(http.post("/v1/orders", json={
        "customer_id": customer_id, "channel": "web", "currency": "EUR",
        "lines": lines or [{"sku": "JEANS", "quantity": 2, "unit_price": "50.00"},
                           {"sku": "BELT", "quantity": 1, "unit_price": "20.00"}],
        "shipping_address": ADDRESS,
    }), 201)
    return placed


def shop_with_an_order(http: TestClient) -> dict[str, Any]:
    """A warehouse with jeans and belts in stock, a customer and an order that reserved
    all of its units there; answers the placed order (``id``, ``version``, ``lines``...)."""
    add_location(http)
    receive(http, "JEANS", 10)
    receive(http, "BELT", 10)
    return place_order(http, register_customer(http))
