"""The care read model: the customer dashboard and the agents' work queue, built from the
shared history in ``test_invoices`` (fixtures ``oms`` and ``agent`` come from there too)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import psycopg

from application.envelope import Envelope
from application.order_management import OrderManagement
from domain.values import ExceptionKind
from projections.care import CareProjection, get_dashboard, list_queue, mask_dashboard
from tests.projections.support import schema_of
from tests.projections.test_invoices import (
    record_history,
    replay,
    settle,
    table_rows,
)

NOW = timedelta(0)


def _queue(database_url: str, backorder_age: timedelta = NOW) -> list[dict[str, str]]:
    with psycopg.connect(database_url) as conn:
        return list_queue(conn, schema_of(conn, "care"), backorder_age=backorder_age,
                          limit=500)


def test_the_dashboard_shows_profile_orders_money_returns_notes_and_consents(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    history = record_history(oms, agent)
    settle(database_url, [CareProjection()])
    with psycopg.connect(database_url) as conn:
        dashboard = get_dashboard(conn, schema_of(conn, "care"), history.customer)
    assert dashboard is not None
    assert dashboard["customer"] == {
        "id": str(history.customer), "name": "Jo Doe", "email": "jo@example.com",
        "phone": "+49 30 1234", "erased": False,
        "addresses": [
            {"label": "default", "name": "Jo Doe", "line1": "Main St 1", "line2": "Flat 2",
             "city": "Berlin", "postal_code": "10115", "country": "DE"},
            {"label": "work", "name": "Jo Doe", "line1": "Office Rd 9", "line2": None,
             "city": "Hamburg", "postal_code": "20095", "country": "DE"},
        ],
    }
    orders = {o["id"]: o for o in dashboard["orders"]}
    assert orders[str(history.shipped)]["status"] == "shipped"  # one shipment not delivered
    # 119.80 + 19.00 + 0.25 + tax 22.76 + 0.00 + 0.03
    assert orders[str(history.shipped)]["total"] == "161.84"
    assert orders[str(history.held)]["status"] == "on_hold"
    assert orders[str(history.held)]["total"] == "71.28"
    # captured 150.00 − refunded (10.00 + 20.00 for the return)
    assert dashboard["lifetime_value"] == {"EUR": "120.00"}
    assert dashboard["open_returns"] == []  # its only return was received
    assert [(n["text"], n["author"]) for n in dashboard["notes"]] == [
        ("prefers phone calls", "ana")
    ]
    assert dashboard["consents"] == {"email": True, "sms": False}


def test_open_returns_and_orders_of_another_customer(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    history = record_history(oms, agent)
    settle(database_url, [CareProjection()])
    with psycopg.connect(database_url) as conn:
        schema = schema_of(conn, "care")
        dashboard = get_dashboard(conn, schema, history.other_customer)
        assert get_dashboard(conn, schema, uuid4()) is None
    assert dashboard is not None
    assert dashboard["customer"]["addresses"] == []
    assert [(r["return_id"], r["status"], r["reason"]) for r in dashboard["open_returns"]] == [
        (str(history.return_id), "requested", "not as described")
    ]
    statuses = {o["id"]: o["status"] for o in dashboard["orders"]}
    assert statuses[str(history.released)] == "open"
    assert statuses[str(history.backordered)] == "open"
    assert statuses[str(history.returning)] == "shipped"
    # One entry per currency the customer ordered in, each to its own minor unit.
    assert dashboard["lifetime_value"] == {"EUR": "0.00", "JPY": "0"}


def test_erasure_forgets_personal_data_but_keeps_orders(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    history = record_history(oms, agent)
    settle(database_url, [CareProjection()])  # the note is projected before the erasure
    oms.request_erasure(history.customer, reason="GDPR request", envelope=agent)
    settle(database_url, [CareProjection()])
    with psycopg.connect(database_url) as conn:
        dashboard = get_dashboard(conn, schema_of(conn, "care"), history.customer)
    assert dashboard is not None
    assert dashboard["customer"]["erased"] is True
    assert (dashboard["customer"]["name"], dashboard["customer"]["email"]) == (None, None)
    assert dashboard["customer"]["addresses"] == []
    assert dashboard["notes"] == []
    assert dashboard["consents"] == {"email": False, "sms": False}
    assert len(dashboard["orders"]) == 2
    assert dashboard["lifetime_value"] == {"EUR": "120.00"}


def test_masking_replaces_personal_data_for_analysts(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    history = record_history(oms, agent)
    settle(database_url, [CareProjection()])
    with psycopg.connect(database_url) as conn:
        dashboard = get_dashboard(conn, schema_of(conn, "care"), history.customer)
    assert dashboard is not None
    masked = mask_dashboard(dashboard)
    customer = masked["customer"]
    assert (customer["name"], customer["email"], customer["phone"]) == ("•••",) * 3
    assert customer["addresses"][0] == {
        "label": "default", "name": "•••", "line1": "•••", "line2": "•••", "city": "Berlin",
        "postal_code": "10115", "country": "DE",
    }
    assert customer["addresses"][1]["line2"] is None
    assert [n["text"] for n in masked["notes"]] == ["•••"]
    assert masked["orders"] == dashboard["orders"]
    assert dashboard["customer"]["name"] == "Jo Doe"  # the original is untouched


def test_the_queue_lists_holds_failures_exceptions_backorders_and_returns(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    history = record_history(oms, agent)
    settle(database_url, [CareProjection()])
    queue = _queue(database_url)
    assert sorted((i["order_id"], i["kind"], i["reason"]) for i in queue) == sorted([
        (str(history.held), "hold", "hold: fraud — mismatched address"),
        (str(history.held), "payment_failure",
         "payment authorization failed: psp — insufficient funds"),
        (str(history.shipped), "delivery_exception", "delivery exception: delayed — depot closed"),
        (str(history.backordered), "backorder", "backorder: 2 units on line 1"),
        (str(history.returning), "return_approval", "return awaiting approval: not as described"),
    ])
    assert [i["since"] for i in queue] == sorted(i["since"] for i in queue)
    # With the default age of two days, a backorder placed a moment ago is not due yet.
    assert "backorder" not in {i["kind"] for i in _queue(database_url, timedelta(days=2))}


def test_queue_items_disappear_when_resolved(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    history = record_history(oms, agent)
    settle(database_url, [CareProjection()])
    hold = next(i for i in _queue(database_url) if i["kind"] == "hold")
    hold_id = hold["key"].removeprefix("hold:")
    oms.release_hold(history.held, UUID(hold_id), reason="verified", envelope=agent)
    oms.authorize_payment(history.held, amount=Decimal("71.28"), provider="psp",
                          reference="r2", envelope=agent)
    oms.mark_delivered(history.shipped, history.first_shipment, envelope=agent)
    oms.decide_return(history.returning, history.return_id, approved=True, reason=None,
                      envelope=agent)
    oms.cancel_order(history.backordered, reason="no stock", lines=None, envelope=agent)
    settle(database_url, [CareProjection()])
    queue = _queue(database_url)
    assert [(i["order_id"], i["kind"]) for i in queue] == [
        (str(history.returning), "return_receipt")
    ]
    assert queue[0]["reason"] == "return awaiting receipt: not as described"


def test_a_repeated_delivery_exception_keeps_its_first_since(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    history = record_history(oms, agent)
    settle(database_url, [CareProjection()])
    before = next(i for i in _queue(database_url) if i["kind"] == "delivery_exception")
    oms.record_delivery_exception(history.shipped, history.first_shipment,
                                  kind=ExceptionKind.LOST, detail="gone", envelope=agent)
    settle(database_url, [CareProjection()])
    after = next(i for i in _queue(database_url) if i["kind"] == "delivery_exception")
    assert after["since"] == before["since"]
    assert after["reason"] == "delivery exception: lost — gone"


def test_rows_are_identical_whatever_the_batch_size(
    oms: OrderManagement, agent: Envelope, database_url: str
) -> None:
    history = record_history(oms, agent)
    oms.request_erasure(history.other_customer, reason="asked", envelope=agent)
    settle(database_url, [CareProjection()], batch_size=500)
    replay(database_url, CareProjection(), "care_one_by_one", batch_size=1)
    replay(database_url, CareProjection(), "care_by_five", batch_size=5)
    with psycopg.connect(database_url) as conn:
        live = table_rows(conn, schema_of(conn, "care"))
        assert live["queue"]
        assert live["orders"]
        assert live["customers"]
        assert table_rows(conn, "care_one_by_one") == live
        assert table_rows(conn, "care_by_five") == live
