"""``POST /v1/inventory/{sku}/adjustments`` and ``PUT /v1/inventory/{sku}/safety-stock``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.http.conftest import (
    ANALYST,
    AUDITOR,
    WAREHOUSE,
    add_location,
    ok,
    place_order,
    problem,
    receive,
    register_customer,
)

ADJUST = "/v1/inventory/JEANS/adjustments"
SAFETY = "/v1/inventory/JEANS/safety-stock"


def test_stock_is_corrected_by_a_delta_or_to_a_counted_quantity(
    http: TestClient, project: Callable[[], None]
) -> None:
    add_location(http)
    received = receive(http, "JEANS", 10)

    damaged = ok(http.post(ADJUST, json={"location_id": WAREHOUSE, "reason": "damage",
                                         "quantity_delta": -3}))
    assert damaged["id"] == received["id"]  # the inventory item of JEANS at berlin-dc
    assert damaged["version"] == received["version"] + 1
    assert damaged["position"] > received["position"]
    counted = ok(http.post(ADJUST, json={"location_id": WAREHOUSE, "reason": "cycle count",
                                         "counted": 12}))
    assert counted["version"] == damaged["version"] + 1

    project()
    stock = ok(http.get("/v1/inventory/JEANS", params={"min_position": counted["position"]}))
    assert (stock["on_hand"], stock["available"]) == (12, 12)


def test_an_adjustment_needs_exactly_one_of_delta_and_counted(http: TestClient) -> None:
    add_location(http)
    receive(http, "JEANS", 10)
    base = {"location_id": WAREHOUSE, "reason": "cycle count"}

    both = problem(http.post(ADJUST, json={**base, "quantity_delta": 1, "counted": 3}), 422,
                   "counted")
    assert "exactly one of quantity_delta or counted" in both["detail"]
    problem(http.post(ADJUST, json=base), 422, "quantity_delta")
    problem(http.post(ADJUST, json={**base, "quantity_delta": 0}), 422, "quantity_delta")
    problem(http.post(ADJUST, json={**base, "quantity_delta": "2"}), 422, "quantity_delta")
    problem(http.post(ADJUST, json={**base, "counted": -1}), 422, "counted")
    problem(http.post(ADJUST, json={"location_id": WAREHOUSE, "counted": 1}), 422, "reason")
    problem(http.post(ADJUST, json={**base, "counted": 1, "sku": "JEANS"}), 422, "sku")
    problem(http.post(ADJUST, json={**base, "location_id": "nowhere", "counted": 1}), 404)


def test_stock_cannot_be_counted_below_what_orders_reserved(http: TestClient) -> None:
    add_location(http)
    receive(http, "JEANS", 10)
    receive(http, "BELT", 10)
    place_order(http, register_customer(http))  # reserves 2 JEANS

    refused = problem(http.post(ADJUST, json={"location_id": WAREHOUSE, "reason": "loss",
                                              "counted": 1}), 409)
    assert "reserved" in refused["detail"]
    ok(http.post(ADJUST, json={"location_id": WAREHOUSE, "reason": "loss", "counted": 2}))


def test_safety_stock_is_set_per_location_and_lowers_what_is_available(
    http: TestClient, project: Callable[[], None]
) -> None:
    add_location(http)
    receive(http, "JEANS", 10)

    first = ok(http.put(SAFETY, json={"location_id": WAREHOUSE, "quantity": 4}))
    ok(http.put(SAFETY, json={"location_id": WAREHOUSE, "quantity": 3}))
    zero = ok(http.put(SAFETY, json={"location_id": WAREHOUSE, "quantity": 0}))
    assert zero["version"] == first["version"] + 2
    latest = ok(http.put(SAFETY, json={"location_id": WAREHOUSE, "quantity": 3}))

    problem(http.put(SAFETY, json={"location_id": WAREHOUSE, "quantity": -1}), 422, "quantity")
    problem(http.put(SAFETY, json={"location_id": WAREHOUSE, "quantity": 1.5}), 422, "quantity")
    problem(http.put(SAFETY, json={"location_id": WAREHOUSE}), 422, "quantity")
    problem(http.put(SAFETY, json={"location_id": WAREHOUSE, "quantity": 1, "x": 1}), 422, "x")
    problem(http.put(SAFETY, json={"location_id": "nowhere", "quantity": 1}), 404)
    problem(http.put(SAFETY, json={"location_id": WAREHOUSE, "quantity": 1}, headers=ANALYST),
            403)
    problem(http.post(ADJUST, json={"location_id": WAREHOUSE, "reason": "loss", "counted": 1},
                      headers=AUDITOR), 403)

    project()
    stock = ok(http.get("/v1/inventory/JEANS", params={"min_position": latest["position"]}))
    assert (stock["on_hand"], stock["safety_stock"], stock["available"]) == (10, 3, 7)
