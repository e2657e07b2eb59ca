"""Placing an order with bad line input (API.md § Orders): a 422 that names the line's field
and the rule, and nothing recorded; so do later order commands whose input the domain
refuses."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from tests.http.conftest import ADDRESS, ok, problem, register_customer, shop_with_an_order

GOOD = {"sku": "JEANS", "quantity": 1, "unit_price": "50.00"}


@pytest.mark.parametrize(("lines", "field", "rule"), [
    ([{**GOOD, "unit_price": "-1.00"}], "lines.0.unit_price", "zero or more"),
    ([GOOD, {**GOOD, "unit_price": "1.005"}], "lines.1.unit_price", "decimal places"),
    ([GOOD, {**GOOD, "sku": " JEANS"}], "lines.1.sku", "surrounding spaces"),
])
def test_a_bad_line_is_refused_naming_its_field_and_nothing_is_recorded(
    http: TestClient, lines: list[dict[str, Any]], field: str, rule: str
) -> None:
    order_id = str(uuid4())
    body = problem(http.post("/v1/orders", json={
        "id": order_id, "customer_id": register_customer(http), "channel": "web",
        "currency": "EUR", "lines": lines, "shipping_address": ADDRESS,
    }), 422, field)
    assert rule in body["detail"]
    problem(http.get(f"/v1/orders/{order_id}", params={"version": 1}), 404)


def test_an_order_in_no_currency_of_payment_is_refused_naming_the_currency(
    http: TestClient,
) -> None:
    order_id = str(uuid4())
    body = problem(http.post("/v1/orders", json={
        "id": order_id, "customer_id": register_customer(http), "channel": "web",
        "currency": "XXX", "lines": [GOOD], "shipping_address": ADDRESS,
    }), 422, "currency")
    assert "no currency of payment" in body["detail"]
    problem(http.get(f"/v1/orders/{order_id}", params={"version": 1}), 404)


def test_a_blank_shipping_method_is_refused_naming_its_field(http: TestClient) -> None:
    body = problem(http.post("/v1/orders", json={
        "customer_id": register_customer(http), "channel": "web", "currency": "EUR",
        "lines": [GOOD], "shipping_address": ADDRESS, "shipping_method": "  ",
    }), 422, "shipping_method")
    assert "must not be empty" in body["detail"]


def test_an_order_command_naming_no_line_or_a_malformed_location_names_that_field(
    http: TestClient,
) -> None:
    order = shop_with_an_order(http)
    url = f"/v1/orders/{order['id']}"
    problem(http.post(f"{url}/cancellations", json={"reason": "changed mind", "lines": []}),
            422, "lines")
    problem(http.post(f"{url}/shipments", json={
        "location_id": "Main Warehouse", "lines": [{"line_id": "1", "quantity": 1}],
        "carrier": "DHL", "tracking_number": "T1"}), 422, "location_id")
    ok(http.get(url, params={"version": order["version"]}))
    problem(http.get(url, params={"version": order["version"] + 1}), 404)  # nothing recorded
