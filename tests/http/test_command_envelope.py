"""What a command request carries besides its body: the key that says who acts, an optional
``X-Correlation-Id`` recorded with its events, and both documented in ``/openapi.json``
although the envelope reads them itself (``interfaces.http.deps.envelope``); and the
place-order answer, which the route serialises itself, byte for byte what its documented
model gives."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from fastapi.testclient import TestClient

from interfaces.http.schemas import OrderPlacedOut
from tests.http.conftest import AUDITOR, CLIENT, ok, register_customer, shop_with_an_order


def _recorded(http: TestClient, aggregate_id: str) -> list[dict[str, Any]]:
    page = ok(http.get("/v1/audit/events", params={"aggregate_id": aggregate_id},
                       headers=AUDITOR))
    items: list[dict[str, Any]] = page["items"]
    return items


def test_a_commands_events_carry_the_callers_correlation_id_and_actor(
    http: TestClient,
) -> None:
    correlation = str(uuid4())
    customer = ok(http.post("/v1/customers", json={"name": "Jo Doe", "email": "jo@example.com"},
                            headers={**CLIENT, "X-Correlation-Id": correlation}), 201)
    events = _recorded(http, customer["id"])
    assert events
    assert {e["correlation_id"] for e in events} == {correlation}
    assert {(e["actor"], e["role"], e["channel"]) for e in events} == {("erp", "client", "api")}


def test_a_malformed_correlation_id_is_ignored_not_refused(http: TestClient) -> None:
    customer = ok(http.post("/v1/customers", json={"name": "Jo Doe", "email": "jo@example.com"},
                            headers={**CLIENT, "X-Correlation-Id": "not-a-uuid"}), 201)
    (event,) = _recorded(http, customer["id"])
    assert event["correlation_id"] != "not-a-uuid"  # a fresh one, as without the header


def test_every_command_documents_the_key_and_correlation_headers(http: TestClient) -> None:
    document = ok(http.get("/openapi.json"))
    # Every POST and PUT under /v1 records events, except a rebuild (an operator's request).
    commands = [(method, path, operation)
                for path, item in document["paths"].items()
                if path.startswith("/v1/") and not path.startswith("/v1/projections/")
                for method, operation in item.items() if method in {"post", "put"}]
    assert ("post", "/v1/orders") in {(m, p) for m, p, _ in commands}
    for method, path, operation in commands:
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert {"authorization", "x-correlation-id"} <= headers, (method, path)


def test_the_place_order_answer_is_what_its_documented_model_serialises(
    http: TestClient,
) -> None:
    shop_with_an_order(http)  # a warehouse with jeans in stock
    response = http.post("/v1/orders", json={
        "customer_id": register_customer(http), "channel": "web",
        "currency": "EUR", "lines": [{"sku": "JEANS", "quantity": 1, "unit_price": "50.00"}],
        "shipping_address": {"name": "Jo Doe", "line1": "Main St 1", "city": "Berlin",
                             "postal_code": "10115", "country": "DE"},
    })
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    model = OrderPlacedOut.model_validate_json(response.content)
    assert response.content == model.model_dump_json().encode()
    assert response.headers["etag"] == f'"{model.version}"'
    assert model.lines[0].allocated[0].quantity == 1
