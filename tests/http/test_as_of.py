"""Time travel over HTTP: an order, a SKU's stock and a customer as they were at a past
moment or version, answered from the event store in the same shape as the live reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import psycopg
from fastapi.testclient import TestClient

from tests.http.conftest import ADDRESS, AGENT, ANALYST, WAREHOUSE, ok, problem


def _now(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    moment: datetime = row[0]
    return moment.isoformat()


def test_order_stock_and_customer_as_of_a_moment(
    http: TestClient, database_url: str, project: Callable[[], None]
) -> None:
    ok(http.post("/v1/locations", json={"id": WAREHOUSE, "name": "Berlin", "kind": "warehouse",
                                        "priority": 1}), 201)
    ok(http.post("/v1/inventory/JEANS-32/receipts",
                 json={"location_id": WAREHOUSE, "quantity": 5}))
    customer = ok(http.post("/v1/customers", json={"name": "Jo", "email": "jo@example.com"}),
                  201)
    order = ok(http.post("/v1/orders", json={
        "customer_id": customer["id"], "channel": "web", "currency": "EUR",
        "lines": [{"sku": "JEANS-32", "quantity": 3, "unit_price": "59.90"}],
        "shipping_address": ADDRESS}), 201)
    project()
    live_then = ok(http.get(f"/v1/orders/{order['id']}"))
    moment = _now(database_url)
    ok(http.post(f"/v1/orders/{order['id']}/cancellations",
                 json={"reason": "changed mind", "lines": [{"line_id": "1", "quantity": 2}]}))
    http.post(f"/v1/customers/{customer['id']}/notes", json={"text": "called"})

    then = http.get(f"/v1/orders/{order['id']}", params={"as_of": moment})
    assert ok(then) == live_then  # the same shape and values as the live read model had
    assert then.headers["ETag"] == '"1"'
    assert ok(http.get(f"/v1/orders/{order['id']}", params={"version": 1})) == live_then
    assert ok(http.get(f"/v1/orders/{order['id']}"))["version"] == 1  # read model not caught up
    project()
    assert ok(http.get(f"/v1/orders/{order['id']}"))["lines"][0]["cancelled"] == 2

    stock_then = ok(http.get("/v1/inventory/JEANS-32", params={"as_of": moment}))
    assert (stock_then["on_hand"], stock_then["reserved"], stock_then["available"]) == (5, 3, 2)
    assert stock_then["locations"][0]["location_id"] == WAREHOUSE
    stock_now = ok(http.get("/v1/inventory/JEANS-32"))
    assert stock_now["reserved"] == 1

    profile_then = ok(http.get(f"/v1/customers/{customer['id']}",
                               params={"as_of": moment}, headers=AGENT))
    assert profile_then["version"] == 1
    masked = ok(http.get(f"/v1/customers/{customer['id']}", params={"version": 1},
                         headers=ANALYST))
    assert masked["name"] != "Jo"

    problem(http.get(f"/v1/orders/{order['id']}", params={"as_of": "2026-01-01T00:00:00"}),
            422, "as_of")
    problem(http.get(f"/v1/orders/{order['id']}", params={"as_of": "2000-01-01T00:00:00Z"}),
            404)
    problem(http.get(f"/v1/orders/{order['id']}", params={"version": 99}), 404)
    problem(http.get("/v1/inventory/JEANS-32", params={"as_of": "2000-01-01T00:00:00Z"}), 404)
