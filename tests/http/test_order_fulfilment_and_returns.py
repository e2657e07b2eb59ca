"""Shipments, delivery, returns, goodwill credits, notes and backorders (API.md § Orders)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.http.conftest import (
    AGENT,
    ANALYST,
    UNKNOWN,
    WAREHOUSE,
    add_location,
    if_match,
    ok,
    place_order,
    problem,
    receive,
    register_customer,
    shop_with_an_order,
)


def shipment(lines: list[tuple[str, int]], **fields: Any) -> dict[str, Any]:
    return {"location_id": WAREHOUSE, "carrier": "DHL", "tracking_number": "JD1",
            "lines": [{"line_id": line_id, "quantity": q} for line_id, q in lines], **fields}


def test_shipments_consume_reservations_and_are_delivered_or_go_wrong(
    http: TestClient, project: Callable[[], None]
) -> None:
    order = shop_with_an_order(http)
    url = f"/v1/orders/{order['id']}"

    problem(http.post(f"{url}/shipments", json=shipment([("1", 1)]),
                      headers=if_match(order["version"] - 1)), 412)
    problem(http.post(f"{url}/shipments", json=shipment([("9", 1)])), 404)
    problem(http.post(f"{url}/shipments", json=shipment([("1", 3)])), 409)  # 2 reserved
    problem(http.post(f"{url}/shipments", json=shipment([("1", 1)], location_id="nowhere")),
            409)
    problem(http.post(f"{url}/shipments", json=shipment([])), 422, "lines")
    problem(http.post(f"{url}/shipments", json=shipment([("1", 0)])), 422, "lines.0.quantity")
    problem(http.post(f"{url}/shipments", json=shipment([("1", 1)], weight=2)), 422, "weight")
    problem(http.post(f"{url}/shipments", json=shipment([("1", 1)], carrier="")), 422,
            "carrier")
    problem(http.post(f"/v1/orders/{UNKNOWN}/shipments", json=shipment([("1", 1)])), 404)

    first = ok(http.post(f"{url}/shipments", json=shipment([("1", 2)]),
                         headers=if_match(order["version"])), 201)
    assert first["version"] == order["version"] + 1
    second = ok(http.post(f"{url}/shipments",
                          json=shipment([("2", 1)], tracking_number="JD2")), 201)
    assert first["shipment_id"] != second["shipment_id"]
    refused = problem(http.post(f"{url}/cancellations", json={
        "reason": "too late", "lines": [{"line_id": "1", "quantity": 1}]}), 409)
    assert "line 1" in refused["detail"]

    delivery = f"{url}/shipments/{first['shipment_id']}/delivery"
    problem(http.post(delivery, json={"signed_by": "x"}), 422, "signed_by")
    delivered = ok(http.post(delivery, json={}))
    problem(http.post(delivery), 409)
    problem(http.post(f"{url}/shipments/{UNKNOWN}/delivery", json={}), 404)
    problem(http.post(f"{url}/shipments/{first['shipment_id']}/exceptions",
                      json={"kind": "lost", "detail": "x"}), 409)
    exceptions = f"{url}/shipments/{second['shipment_id']}/exceptions"
    problem(http.post(exceptions, json={"kind": "stolen", "detail": "x"}), 422, "kind")
    problem(http.post(exceptions, json={"kind": "delayed"}), 422, "detail")
    problem(http.post(exceptions, json={"kind": "delayed", "detail": "x"},
                      headers=if_match(delivered["version"] - 1)), 412)
    problem(http.post(f"{url}/shipments/{UNKNOWN}/exceptions",
                      json={"kind": "delayed", "detail": "x"}), 404)
    late = ok(http.post(exceptions, json={"kind": "delayed",
                                          "detail": "left with Mrs Smith at No. 3"},
                        headers=if_match(delivered["version"])))

    project()
    view = ok(http.get(url, params={"min_position": late["position"]}))
    assert view["status"] == "shipped"
    assert [(s["tracking_number"], s["status"]) for s in view["shipments"]] == [
        ("JD1", "delivered"), ("JD2", "exception")]
    assert ok(http.get("/v1/inventory/JEANS"))["on_hand"] == 8
    seen = ok(http.get(f"{url}/timeline", headers=AGENT))["items"]
    assert any("Mrs Smith" in i["summary"] for i in seen)
    masked = ok(http.get(f"{url}/timeline", headers=ANALYST))["items"]
    assert not any("Mrs Smith" in i["summary"] for i in masked)
    assert masked[-1]["summary"].endswith("delayed: •••")


def test_returns_are_requested_decided_received_and_refunded(
    http: TestClient, project: Callable[[], None]
) -> None:
    order = shop_with_an_order(http)
    url = f"/v1/orders/{order['id']}"
    problem(http.post(f"{url}/returns", json={"reason": "too small",
                                              "lines": [{"line_id": "1", "quantity": 1}]}), 409)
    ok(http.post(f"{url}/shipments", json=shipment([("1", 2), ("2", 1)])), 201)
    ok(http.post(f"{url}/payments/authorizations",
                 json={"amount": "120.00", "provider": "stripe", "reference": "pi_1"}))
    ok(http.post(f"{url}/payments/captures", json={"amount": "120.00"}))

    problem(http.post(f"{url}/returns", json={"reason": "x", "lines": []}), 422, "lines")
    problem(http.post(f"{url}/returns", json={"lines": [{"line_id": "1", "quantity": 1}]}),
            422, "reason")
    problem(http.post(f"{url}/returns", json={"reason": "x",
                                              "lines": [{"line_id": "1", "quantity": 3}]}), 409)
    problem(http.post(f"/v1/orders/{UNKNOWN}/returns",
                      json={"reason": "x", "lines": [{"line_id": "1", "quantity": 1}]}), 404)
    requested = ok(http.post(f"{url}/returns", json={
        "reason": "too small", "lines": [{"line_id": "1", "quantity": 2}]}), 201)
    ret = f"{url}/returns/{requested['return_id']}"

    problem(http.post(f"{ret}/receipt", json={
        "location_id": WAREHOUSE, "lines": [{"line_id": "1", "quantity": 1,
                                            "condition": "resellable"}]}), 409)  # not approved
    problem(http.post(f"{ret}/refund", json={"amount": "10.00"}), 409)  # not approved
    problem(http.post(f"{ret}/approval", json={"approved": "yes"}), 422, "approved")
    problem(http.post(f"{ret}/approval", json={"approved": True},
                      headers=if_match(requested["version"] - 1)), 412)
    problem(http.post(f"{url}/returns/{UNKNOWN}/approval", json={"approved": True}), 404)
    ok(http.post(f"{ret}/approval", json={"approved": True, "reason": "within 30 days"},
                 headers={**AGENT, **if_match(requested["version"])}))
    problem(http.post(f"{ret}/approval", json={"approved": False}), 409)

    receipt = {"location_id": WAREHOUSE, "lines": [
        {"line_id": "1", "quantity": 1, "condition": "resellable"},
        {"line_id": "1", "quantity": 1, "condition": "damaged"}]}
    problem(http.post(f"{ret}/receipt", json={**receipt, "lines": [
        {"line_id": "1", "quantity": 1, "condition": "worn"}]}), 422, "lines.0.condition")
    problem(http.post(f"{ret}/receipt", json={**receipt, "location_id": "nowhere"}), 404)
    problem(http.post(f"{ret}/receipt", json={**receipt, "lines": [
        {"line_id": "1", "quantity": 3, "condition": "damaged"}]}), 409)
    problem(http.post(f"{url}/returns/{UNKNOWN}/receipt", json=receipt), 404)
    ok(http.post(f"{ret}/receipt", json=receipt))

    problem(http.post(f"{ret}/refund", json={"amount": "-1"}), 422, "amount")
    problem(http.post(f"{ret}/refund", json={"amount": "120.01"}), 409)
    problem(http.post(f"{url}/returns/{UNKNOWN}/refund", json={"amount": "1.00"}), 404)
    refunded = ok(http.post(f"{ret}/refund", json={"amount": "100.00"}))

    project()
    view = ok(http.get(url, params={"min_position": refunded["position"]}))
    assert view["lines"][0]["returned"] == 2
    assert view["totals"]["refunded"] == "100.00"
    stock = ok(http.get("/v1/inventory/JEANS"))
    assert stock["on_hand"] == 9  # 10 - 2 shipped + 1 resellable back


def test_goodwill_credits_and_notes_are_created_with_their_own_ids(
    http: TestClient, project: Callable[[], None]
) -> None:
    order = shop_with_an_order(http)
    url = f"/v1/orders/{order['id']}"

    credit = ok(http.post(f"{url}/adjustments", json={"amount": "5.00", "reason": "late parcel"},
                          headers=if_match(order["version"])), 201)
    assert credit["adjustment_id"]
    problem(http.post(f"{url}/adjustments", json={"amount": "5", "reason": "x"},
                      headers=if_match(order["version"])), 412)
    problem(http.post(f"{url}/adjustments", json={"amount": 5.0, "reason": "x"}), 422, "amount")
    problem(http.post(f"{url}/adjustments", json={"amount": "0", "reason": "x"}), 422, "amount")
    problem(http.post(f"{url}/adjustments", json={"amount": "5.00"}), 422, "reason")
    problem(http.post(f"/v1/orders/{UNKNOWN}/adjustments",
                      json={"amount": "5.00", "reason": "x"}), 404)

    note = ok(http.post(f"{url}/notes", json={"text": "call Jo on +49 30 1234"},
                        headers=AGENT), 201)
    other = ok(http.post(f"{url}/notes", json={"text": "done"},
                         headers=if_match(note["version"])), 201)
    assert note["note_id"] != other["note_id"]
    problem(http.post(f"{url}/notes", json={"text": "  "}), 422, "text")
    problem(http.post(f"{url}/notes", json={"text": "x", "private": True}), 422, "private")
    problem(http.post(f"{url}/notes", json={"text": "x"}, headers=if_match(note["version"])),
            412)
    problem(http.post(f"/v1/orders/{UNKNOWN}/notes", json={"text": "x"}), 404)
    problem(http.post(f"{url}/notes", json={"text": "x"}, headers=ANALYST), 403)
    problem(http.post(f"{url}/notes", json={"text": "x"}, headers={"Authorization": ""}), 401)

    project()
    view = ok(http.get(url, params={"min_position": other["position"]}))
    assert view["totals"]["balance_due"] == "115.00"
    items = ok(http.get(f"{url}/timeline"))["items"]
    noted = [i for i in items if i["type"] == "Order.NoteAdded"]
    assert [i["actor"] for i in noted] == ["ana", "erp"]
    assert noted[0]["summary"].startswith("ana (agent) added a note")
    masked = ok(http.get(f"{url}/timeline", headers=ANALYST))["items"]
    assert not any("+49 30 1234" in i["summary"] for i in masked)
    credited = next(i for i in masked if i["type"] == "Order.AdjustmentAdded")
    assert credited["reason"] == "•••"


def test_backordered_units_are_allocated_when_stock_arrives(
    http: TestClient, project: Callable[[], None]
) -> None:
    add_location(http)
    receive(http, "JEANS", 1)
    order = place_order(http, register_customer(http),
                        [{"sku": "JEANS", "quantity": 3, "unit_price": "50.00"}])
    assert order["lines"][0]["backordered"] == 2
    url = f"/v1/orders/{order['id']}/backorders/allocation"

    problem(http.post(url, json={"sku": "JEANS"}), 422, "sku")
    problem(http.post(url, json={}, headers=if_match(order["version"] - 1)), 412)
    problem(http.post(f"/v1/orders/{UNKNOWN}/backorders/allocation", json={}), 404)
    receive(http, "JEANS", 5)
    allocated = ok(http.post(url, headers=if_match(order["version"])))
    assert allocated["version"] == order["version"] + 1

    project()
    view = ok(http.get(f"/v1/orders/{order['id']}",
                       params={"min_position": allocated["position"]}))
    assert view["lines"][0]["backordered"] == 0
    assert view["lines"][0]["allocated"] == [{"location_id": WAREHOUSE, "quantity": 3}]
