"""Holds, rejection, shipping address and payments on an order (API.md § Orders)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.http.conftest import (
    ADDRESS,
    AGENT,
    ANALYST,
    UNKNOWN,
    WAREHOUSE,
    if_match,
    ok,
    problem,
    shop_with_an_order,
)


def test_a_hold_stops_shipping_until_it_is_released(
    http: TestClient, project: Callable[[], None]
) -> None:
    order = shop_with_an_order(http)
    url = f"/v1/orders/{order['id']}"
    ship = {"location_id": WAREHOUSE, "lines": [{"line_id": "1", "quantity": 1}],
            "carrier": "DHL", "tracking_number": "JD1"}

    held = ok(http.post(f"{url}/holds", json={"type": "fraud", "reason": "odd address"},
                        headers=if_match(order["version"])), 201)
    assert held["id"] == order["id"]
    assert held["version"] == order["version"] + 1
    hold = f"{url}/holds/{held['hold_id']}"
    refused = problem(http.post(f"{url}/shipments", json=ship), 409)
    assert "on hold" in refused["detail"]

    problem(http.post(f"{hold}/release", json={}, headers=if_match(order["version"])), 412)
    problem(http.post(f"{url}/holds/{UNKNOWN}/release", json={}), 404)
    problem(http.post(f"/v1/orders/{UNKNOWN}/holds/{held['hold_id']}/release", json={}), 404)
    problem(http.post(f"{hold}/release", json={"reason": "x", "by": "me"}), 422, "by")
    released = ok(http.post(f"{hold}/release", json={"reason": "customer called back"},
                            headers={**AGENT, **if_match(held["version"])}))
    assert released["version"] == held["version"] + 1
    problem(http.post(f"{hold}/release"), 409)  # already released; no body is fine
    ok(http.post(f"{url}/shipments", json=ship), 201)

    problem(http.post(f"{url}/holds", json={"type": "weird", "reason": "x"}), 422, "type")
    problem(http.post(f"{url}/holds", json={"type": "manual"}), 422, "reason")
    problem(http.post(f"/v1/orders/{UNKNOWN}/holds", json={"type": "manual", "reason": "x"}),
            404)
    problem(http.post(f"{url}/holds", json={"type": "manual", "reason": "x"}, headers=ANALYST),
            403)

    project()
    timeline = ok(http.get(f"{url}/timeline"))["items"]
    held_entry = next(i for i in timeline if i["type"] == "Order.HoldPlaced")
    assert (held_entry["actor"], held_entry["role"], held_entry["reason"]) == (
        "erp", "client", "odd address")
    assert "odd address" in held_entry["summary"]
    masked = ok(http.get(f"{url}/timeline", headers=ANALYST))["items"]
    masked_entry = next(i for i in masked if i["type"] == "Order.HoldPlaced")
    assert masked_entry["reason"] == "•••"
    assert "odd address" not in masked_entry["summary"]
    assert all("odd address" not in str(i) for i in masked)


def test_rejecting_a_held_order_cancels_everything_unshipped(
    http: TestClient, project: Callable[[], None]
) -> None:
    order = shop_with_an_order(http)
    url = f"/v1/orders/{order['id']}"
    held = ok(http.post(f"{url}/holds", json={"type": "payment", "reason": "card declined"}),
              201)
    rejection = f"{url}/holds/{held['hold_id']}/rejection"

    problem(http.post(rejection, json={"why": "x"}), 422, "why")
    problem(http.post(rejection, json={}, headers=if_match(order["version"])), 412)
    problem(http.post(f"{url}/holds/{UNKNOWN}/rejection", json={}), 404)
    rejected = ok(http.post(rejection, json={}, headers=if_match(held["version"])))
    problem(http.post(rejection, json={}), 409)
    problem(http.post(f"{url}/holds", json={"type": "manual", "reason": "x"}), 409)

    project()
    view = ok(http.get(url, params={"min_position": rejected["position"]}))
    assert view["status"] == "cancelled"
    assert [line["cancelled"] for line in view["lines"]] == [2, 1]
    stock = ok(http.get("/v1/inventory/JEANS"))
    assert (stock["reserved"], stock["available"]) == (0, 10)


def test_the_shipping_address_changes_only_while_something_is_unshipped(
    http: TestClient,
) -> None:
    order = shop_with_an_order(http)
    url = f"/v1/orders/{order['id']}"
    new = {**ADDRESS, "line1": "Other St 9"}

    changed = ok(http.put(f"{url}/shipping-address", json=new,
                          headers=if_match(order["version"])))
    assert changed["version"] == order["version"] + 1
    problem(http.put(f"{url}/shipping-address", json=new, headers=if_match(order["version"])),
            412)
    problem(http.put(f"{url}/shipping-address", json={**new, "country": "de"}), 422, "country")
    problem(http.put(f"{url}/shipping-address", json={**new, "label": "x"}), 422, "label")
    problem(http.put(f"/v1/orders/{UNKNOWN}/shipping-address", json=new), 404)

    ok(http.post(f"{url}/shipments", json={
        "location_id": WAREHOUSE, "carrier": "DHL", "tracking_number": "JD1",
        "lines": [{"line_id": "1", "quantity": 2}, {"line_id": "2", "quantity": 1}],
    }), 201)
    refused = problem(http.put(f"{url}/shipping-address", json=new), 409)
    assert "nothing is left to ship" in refused["detail"]


def test_payments_are_authorized_captured_voided_and_refunded_within_limits(
    http: TestClient, project: Callable[[], None]
) -> None:
    order = shop_with_an_order(http)  # 120.00 EUR
    url = f"/v1/orders/{order['id']}/payments"

    ok(http.post(f"{url}/authorization-failures",
                 json={"provider": "stripe", "reason": "insufficient funds"}))
    problem(http.post(f"{url}/authorization-failures", json={"provider": "stripe"}), 422,
            "reason")
    authorized = ok(http.post(f"{url}/authorizations", json={
        "amount": "100.00", "provider": "stripe", "reference": "pi_1"}))
    for bad in ("abc", "1.5e3", "-5.00", "0", "0.00", 10):
        problem(http.post(f"{url}/captures", json={"amount": bad}), 422, "amount")
    problem(http.post(f"{url}/captures", json={"amount": "10.001"}), 422, "amount")  # cents only
    problem(http.post(f"{url}/captures", json={"amount": "100.01"}), 409)
    problem(http.post(f"{url}/captures", json={"amount": "60.00"},
                      headers=if_match(authorized["version"] - 1)), 412)
    captured = ok(http.post(f"{url}/captures", json={"amount": "60.00"},
                            headers=if_match(authorized["version"])))
    ok(http.post(f"{url}/voids", json={}))
    problem(http.post(f"{url}/voids"), 409)  # nothing left to void; no body is fine
    problem(http.post(f"{url}/voids", json={"amount": "1.00"}), 422, "amount")
    problem(http.post(f"{url}/captures", json={"amount": "0.01"}), 409)

    problem(http.post(f"{url}/refunds", json={"amount": "60.01", "reason": "x"}), 409)
    problem(http.post(f"{url}/refunds", json={"amount": "10.00"}), 422, "reason")
    problem(http.post(f"{url}/authorizations", json={"amount": "1.00", "provider": "x"}), 422,
            "reference")
    refunded = ok(http.post(f"{url}/refunds", json={"amount": "10.00", "reason": "late"}))
    assert refunded["version"] == captured["version"] + 2
    for path, body in (
        ("authorizations", {"amount": "1.00", "provider": "x", "reference": "x"}),
        ("captures", {"amount": "1.00"}),
        ("refunds", {"amount": "1.00", "reason": "x"}),
        ("voids", {}),
        ("authorization-failures", {"provider": "x", "reason": "x"}),
    ):
        problem(http.post(f"/v1/orders/{UNKNOWN}/payments/{path}", json=body), 404)

    project()
    view = ok(http.get(f"/v1/orders/{order['id']}",
                       params={"min_position": refunded["position"]}))
    assert view["payment_status"] == "partially_refunded"
    assert (view["totals"]["captured"], view["totals"]["refunded"]) == ("60.00", "10.00")
