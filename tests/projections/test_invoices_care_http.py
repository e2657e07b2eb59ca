"""The invoice and care endpoints over HTTP: shapes, 404 problems, paging, analyst masking,
read-your-writes headers. The app is built here with the two routers included, as the lead
will include them in ``create_app``."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from application.envelope import Envelope
from application.order_management import OrderManagement
from application.settings import Settings
from interfaces.http.app import create_app
from projections.care import CareProjection
from projections.invoices import InvoicesProjection
from tests.projections.test_invoices import History, record_history, settle

AGENT = {"Authorization": "Bearer k"}
ANALYST = {"Authorization": "Bearer a"}


@pytest.fixture
def history(oms: OrderManagement, agent: Envelope, database_url: str) -> History:
    recorded = record_history(oms, agent)
    settle(database_url, [InvoicesProjection(), CareProjection()])
    return recorded


@pytest.fixture
def http(database_url: str, oms: OrderManagement, history: History) -> Iterator[TestClient]:
    app = create_app(
        Settings(DATABASE_URL=database_url, OMS_API_KEYS="ana:agent:k,bo:analyst:a"),
        database_url, oms=oms,
    )
    with TestClient(app) as client:
        yield client


def test_lists_invoices_with_filters_and_the_read_model_position(
    http: TestClient, history: History
) -> None:
    response = http.get("/v1/invoices", headers=AGENT)
    assert response.status_code == 200, response.text
    assert int(response.headers["X-Evident-Position"]) > 0
    body = response.json()
    assert body["next_cursor"] is None
    assert [i["number"] for i in body["items"]] == [
        "INV-000001", "INV-000002", "CM-000001", "CM-000002", "CM-000003", "INV-000003",
        "INV-000004",
    ]
    first = body["items"][0]
    assert {"number", "order_id", "customer_id", "kind", "currency", "lines", "subtotal",
            "tax", "total", "issued_at"} <= set(first)
    assert (first["subtotal"], first["tax"], first["total"]) == ("59.90", "11.38", "71.28")
    by_order = http.get("/v1/invoices", params={"order_id": str(history.returning)},
                        headers=ANALYST).json()
    assert [i["number"] for i in by_order["items"]] == ["INV-000003"]
    by_customer = http.get("/v1/invoices", params={"customer_id": str(history.customer)},
                           headers=AGENT).json()
    assert len(by_customer["items"]) == 5
    cut = body["items"][3]["issued_at"]
    later = http.get("/v1/invoices", params={"from": cut}, headers=AGENT).json()["items"]
    earlier = http.get("/v1/invoices", params={"to": cut}, headers=AGENT).json()["items"]
    assert len(later) + len(earlier) == len(body["items"])
    assert all(i["issued_at"] >= cut for i in later)


def test_pages_invoices_with_a_cursor(http: TestClient, history: History) -> None:
    numbers: list[str] = []
    params: dict[str, str | int] = {"limit": 3}
    pages = 0
    while True:
        page = http.get("/v1/invoices", params=params, headers=AGENT)
        assert page.status_code == 200, page.text
        numbers += [i["number"] for i in page.json()["items"]]
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        params = {"limit": 3, "cursor": cursor}
    assert pages == 3
    assert len(numbers) == 7 == len(set(numbers))
    bad = http.get("/v1/invoices", params={"cursor": "nonsense"}, headers=AGENT)
    assert bad.status_code == 422


def test_gets_one_invoice_or_a_404_problem(http: TestClient, history: History) -> None:
    memo = http.get("/v1/invoices/CM-000002", headers=ANALYST)
    assert memo.status_code == 200, memo.text
    assert memo.json()["kind"] == "credit_memo"
    assert memo.json()["total"] == "5.00"
    assert "X-Evident-Position" in memo.headers
    missing = http.get("/v1/invoices/INV-424242", headers=AGENT)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert http.get("/v1/invoices").status_code == 401
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/v1/invoices", "/v1/invoices/{number}", "/v1/care/queue",
            "/v1/customers/{customer_id}/dashboard"} <= set(paths)


def test_read_your_writes_waits_for_the_invoice_of_a_new_shipment(
    http: TestClient, oms: OrderManagement, agent: Envelope, history: History,
    database_url: str,
) -> None:
    result = oms.refund_payment(history.shipped, amount=Decimal("1.00"), reason="again",
                                envelope=agent)
    settle(database_url, [InvoicesProjection()])
    response = http.get("/v1/invoices/CM-000004", params={"min_position": result.position},
                        headers=AGENT)
    assert response.status_code == 200, response.text
    assert int(response.headers["X-Evident-Position"]) >= result.position


def test_the_dashboard_for_agents_shows_personal_data(http: TestClient, history: History) -> None:
    response = http.get(f"/v1/customers/{history.customer}/dashboard", headers=AGENT)
    assert response.status_code == 200, response.text
    assert "X-Evident-Position" in response.headers
    body = response.json()
    assert set(body) >= {"customer", "orders", "lifetime_value", "open_returns", "notes",
                         "consents"}
    assert body["customer"]["name"] == "Jo Doe"
    assert body["customer"]["email"] == "jo@example.com"
    assert body["notes"][0]["text"] == "prefers phone calls"
    assert body["lifetime_value"] == {"EUR": "120.00"}
    assert {o["id"] for o in body["orders"]} == {str(history.shipped), str(history.held)}
    assert all(set(o) >= {"id", "status", "placed_at", "total"} for o in body["orders"])


def test_the_dashboard_for_analysts_is_masked(http: TestClient, history: History) -> None:
    body = http.get(f"/v1/customers/{history.customer}/dashboard", headers=ANALYST).json()
    customer = body["customer"]
    assert (customer["name"], customer["email"], customer["phone"]) == ("•••", "•••", "•••")
    assert {a["line1"] for a in customer["addresses"]} == {"•••"}
    assert [n["text"] for n in body["notes"]] == ["•••"]
    assert body["lifetime_value"] == {"EUR": "120.00"}


def test_an_unknown_customer_has_no_dashboard(http: TestClient, history: History) -> None:
    response = http.get(f"/v1/customers/{uuid4()}/dashboard", headers=AGENT)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_the_care_queue_pages_and_honours_the_backorder_age(
    http: TestClient, history: History
) -> None:
    default = http.get("/v1/care/queue", headers=AGENT)
    assert default.status_code == 200, default.text
    assert "X-Evident-Position" in default.headers
    assert "backorder" not in {i["kind"] for i in default.json()["items"]}
    assert len(default.json()["items"]) == 4

    app: Any = http.app
    app.state.settings = app.state.settings.model_copy(update={"care_backorder_age": 0})
    items: list[dict[str, str]] = []
    params: dict[str, str | int] = {"limit": 2}
    while True:
        page = http.get("/v1/care/queue", params=params, headers=ANALYST)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        params = {"limit": 2, "cursor": cursor}
    assert len(items) == 5 == len({i["key"] for i in items})
    assert all(set(i) >= {"order_id", "reason", "since"} for i in items)
    assert {i["order_id"] for i in items if i["kind"] == "backorder"} == {
        str(history.backordered)
    }
    hold = next(i for i in items if i["kind"] == "hold")
    assert hold["reason"] == "hold: fraud — mismatched address"
