"""``GET /v1/orders/{id}/timeline`` and ``GET /v1/inventory[/{sku}]`` over HTTP.

Writes go through the public API; the projections are caught up in-process (as a worker
would) before reading, except where a test shows what a read does when the read model is
behind the position the client asks for (``min_position``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from application.settings import Settings
from interfaces.http.app import create_app
from projections.order_timeline import OrderTimelineProjection
from projections.stock_visibility import StockVisibilityProjection
from tests.projections.support import catch_up

AGENT = {"Authorization": "Bearer agent-key"}
ANALYST = {"Authorization": "Bearer analyst-key"}
ADDRESS = {"name": "Jo Doe", "line1": "Main St 1", "city": "Berlin", "postal_code": "10115",
           "country": "DE"}


@pytest.fixture
def http(database_url: str) -> Iterator[TestClient]:
    settings = Settings(DATABASE_URL=database_url, OMS_CONSISTENCY_WAIT=0.3,
                        OMS_API_KEYS="ana:agent:agent-key,bo:analyst:analyst-key")
    app = create_app(settings, database_url)
    with TestClient(app, headers=AGENT) as client:
        yield client


def project(database_url: str) -> None:
    catch_up(database_url, [OrderTimelineProjection(), StockVisibilityProjection()])


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def shop_with_an_order(http: TestClient) -> dict[str, Any]:
    """Two locations, jeans and belts in stock, one order split across both, partly
    cancelled. Returns the cancellation's answer plus the order ``id``."""
    for location_id, priority in (("berlin-dc", 1), ("hamburg-store", 2)):
        ok(http.post("/v1/locations", json={"id": location_id, "name": location_id,
                                            "kind": "warehouse", "priority": priority}), 201)
    for sku, location_id, quantity in (("JEANS-32", "berlin-dc", 1), ("BELT-1", "berlin-dc", 1),
                                       ("JEANS-32", "hamburg-store", 1)):
        ok(http.post(f"/v1/inventory/{sku}/receipts",
                     json={"location_id": location_id, "quantity": quantity}))
    customer = ok(http.post("/v1/customers", json={"name": "Jo Doe",
                                                   "email": "jo@example.com"}), 201)
    order = ok(http.post("/v1/orders", json={
        "customer_id": customer["id"], "channel": "web", "currency": "EUR",
        "lines": [{"sku": "JEANS-32", "quantity": 2, "unit_price": "59.90"},
                  {"sku": "BELT-1", "quantity": 1, "unit_price": "19.00"}],
        "shipping_address": ADDRESS,
    }), 201)
    cancelled = ok(http.post(f"/v1/orders/{order['id']}/cancellations", json={
        "reason": "customer changed their mind", "lines": [{"line_id": "1", "quantity": 1}],
    }))
    return {**cancelled, "id": order["id"]}


def test_the_timeline_endpoint_pages_through_the_orders_events(
    http: TestClient, database_url: str
) -> None:
    order = shop_with_an_order(http)
    project(database_url)

    whole = http.get(f"/v1/orders/{order['id']}/timeline", params={"limit": 500})
    body = ok(whole)

    assert int(whole.headers["X-Evident-Position"]) >= order["position"]
    assert body["next_cursor"] is None
    assert [i["summary"] for i in body["items"]] == [
        "ana (agent) placed order: 2 × JEANS-32, 1 × BELT-1 (EUR 138.80)",
        "reserved 1 × JEANS-32 at berlin-dc",
        "reserved 1 × JEANS-32 at hamburg-store",
        "reserved 1 × BELT-1 at berlin-dc",
        "ana (agent) cancelled 1 × JEANS-32 — customer changed their mind",
        "released 1 × JEANS-32 at hamburg-store",
    ]
    cancel = body["items"][4]
    assert set(cancel) >= {"position", "recorded_at", "type", "actor", "role", "channel",
                           "reason", "summary", "command_id"}
    assert (cancel["type"], cancel["actor"], cancel["role"], cancel["channel"],
            cancel["reason"]) == ("Order.LinesCancelled", "ana", "agent", "api",
                                  "customer changed their mind")
    assert cancel["position"] < order["position"]  # the release came after, in one command

    paged: list[Any] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = ok(http.get(f"/v1/orders/{order['id']}/timeline", params=params))
        assert len(page["items"]) <= 4
        paged.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == body["items"]


def test_an_order_without_a_timeline_is_a_404_problem(
    http: TestClient, database_url: str
) -> None:
    shop_with_an_order(http)
    project(database_url)

    missing = http.get(f"/v1/orders/{uuid.uuid4()}/timeline")

    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 404


def test_a_cursor_this_api_did_not_issue_is_invalid_input(
    http: TestClient, database_url: str
) -> None:
    order = shop_with_an_order(http)
    project(database_url)

    for path in (f"/v1/orders/{order['id']}/timeline", "/v1/inventory"):
        bad = http.get(path, params={"cursor": "not a cursor!"})
        assert bad.status_code == 422, (path, bad.text)
        assert bad.json()["errors"][0]["field"] == "cursor"


def test_reads_wait_for_min_position_and_answer_503_when_it_is_not_reached(
    http: TestClient, database_url: str
) -> None:
    order = shop_with_an_order(http)
    project(database_url)
    later = ok(http.post("/v1/inventory/BELT-1/receipts",
                         json={"location_id": "hamburg-store", "quantity": 2}))

    for path in (f"/v1/orders/{order['id']}/timeline", "/v1/inventory/BELT-1", "/v1/inventory"):
        behind = http.get(path, params={"min_position": later["position"]})
        assert behind.status_code == 503, (path, behind.text)
        assert behind.headers["Retry-After"]
        assert http.get(path, params={"min_position": order["position"]}).status_code == 200

    project(database_url)
    caught_up = http.get("/v1/inventory/BELT-1", params={"min_position": later["position"]})
    assert ok(caught_up)["on_hand"] == 3
    assert int(caught_up.headers["X-Evident-Position"]) >= later["position"]


def test_stock_of_one_sku_shows_totals_and_every_location(
    http: TestClient, database_url: str
) -> None:
    order = shop_with_an_order(http)
    project(database_url)

    answer = http.get("/v1/inventory/JEANS-32", params={"min_position": order["position"]},
                      headers=ANALYST)
    jeans = ok(answer)

    assert int(answer.headers["X-Evident-Position"]) >= order["position"]
    assert (jeans["sku"], jeans["on_hand"], jeans["reserved"]) == ("JEANS-32", 2, 1)
    assert [(loc["location_id"], loc["on_hand"], loc["reserved"])
            for loc in jeans["locations"]] == [("berlin-dc", 1, 1), ("hamburg-store", 1, 0)]
    assert jeans["locations"][0]["available"] == 0
    assert jeans["locations"][0]["low_stock"] is True
    assert set(jeans["locations"][1]) == {"location_id", "on_hand", "reserved", "safety_stock",
                                          "available", "low_stock"}

    unknown = http.get("/v1/inventory/NO-SUCH-SKU")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


def test_the_stock_list_filters_and_pages(http: TestClient, database_url: str) -> None:
    shop_with_an_order(http)
    ok(http.post("/v1/inventory/SOCKS-3/receipts",
                 json={"location_id": "hamburg-store", "quantity": 10}))
    project(database_url)

    def skus(**params: Any) -> list[str]:
        return [i["sku"] for i in ok(http.get("/v1/inventory", params=params))["items"]]

    assert skus() == ["BELT-1", "JEANS-32", "SOCKS-3"]
    assert skus(low_stock="true") == ["BELT-1"]  # its only unit is reserved
    assert skus(low_stock="false") == ["JEANS-32", "SOCKS-3"]
    assert skus(location_id="hamburg-store") == ["JEANS-32", "SOCKS-3"]
    assert skus(location_id="berlin-dc", low_stock="true") == ["BELT-1", "JEANS-32"]
    assert skus(location_id="nowhere") == []

    first = http.get("/v1/inventory", params={"limit": 2})
    page = ok(first)
    assert first.headers["X-Evident-Position"]
    assert [i["sku"] for i in page["items"]] == ["BELT-1", "JEANS-32"]
    assert page["items"][1]["locations"][0]["location_id"] == "berlin-dc"
    rest = ok(http.get("/v1/inventory", params={"limit": 2, "cursor": page["next_cursor"]}))
    assert ([i["sku"] for i in rest["items"]], rest["next_cursor"]) == (["SOCKS-3"], None)
    assert len(ok(http.get("/v1/inventory", params={"limit": 10_000}))["items"]) == 3


def test_reading_needs_a_key(http: TestClient, database_url: str) -> None:
    order = shop_with_an_order(http)
    project(database_url)

    for path in (f"/v1/orders/{order['id']}/timeline", "/v1/inventory/JEANS-32",
                 "/v1/inventory"):
        assert http.get(path, headers={"Authorization": ""}).status_code == 401
        assert http.get(path, headers=ANALYST).status_code == 200
