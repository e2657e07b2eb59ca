"""Payments, returns and goodwill through the application service, against real PostgreSQL.

Receiving a return changes the order and (for resellable units) the inventory item at the
receiving location, so those events must share one transaction like placing and shipping do.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from application.errors import NotFoundError, StaleVersionError
from application.order_management import OrderManagement
from domain.errors import (
    CaptureExceedsAuthorizationError,
    NothingToVoidError,
    OrderCancelledError,
    ReceiptExceedsReturnError,
    RefundExceedsCapturedError,
    ReturnExceedsShippedError,
    ReturnNotApprovedError,
    ReturnNotAwaitingApprovalError,
)
from domain.order_values import LineQuantity, ReturnedLine
from domain.values import PaymentStatus, ReturnCondition, ReturnStatus
from tests.application.builders import (
    STORE,
    WAREHOUSE,
    EventLog,
    assert_recorded,
    envelope,
    order,
    place,
    ship_all,
    shop,
    stock,
    stock_levels,
)

SKU = "BOOT-42"


@pytest.fixture
def log(database_url: str) -> EventLog:
    return EventLog(database_url)


@pytest.fixture
def order_id(oms: OrderManagement) -> UUID:
    """An order for 3 units at 10.00 EUR + 19% tax (35.70), reserved at the warehouse."""
    customer_id = shop(oms)
    stock(oms, SKU, WAREHOUSE, 10)
    return place(oms, customer_id, (SKU, 3)).id


def authorize(oms: OrderManagement, order_id: UUID, amount: str = "35.70") -> None:
    oms.authorize_payment(
        order_id, amount=Decimal(amount), provider="stripe", reference="pi_1",
        envelope=envelope("stripe", "client", "payments"),
    )


def capture(oms: OrderManagement, order_id: UUID, amount: str = "35.70") -> None:
    oms.capture_payment(
        order_id, amount=Decimal(amount), envelope=envelope("stripe", "client", "payments")
    )


# --- payments -------------------------------------------------------------------------------


def test_authorizing_a_payment(oms: OrderManagement, log: EventLog, order_id: UUID) -> None:
    sent = envelope("stripe", "client", "payments")
    result = oms.authorize_payment(
        order_id, amount=Decimal("35.70"), provider="stripe", reference="pi_123", envelope=sent
    )
    assert_recorded(log, result, sent, ["Order.PaymentAuthorized"])
    paid = order(oms, order_id)
    assert paid.payment_status is PaymentStatus.AUTHORIZED
    assert paid.authorized == Decimal("35.70")


def test_recording_an_authorization_failure_keeps_the_order_unpaid(
    oms: OrderManagement, log: EventLog, order_id: UUID
) -> None:
    sent = envelope("stripe", "client", "payments")
    result = oms.record_authorization_failure(
        order_id, provider="stripe", reason="card declined", envelope=sent
    )
    assert_recorded(log, result, sent, ["Order.AuthorizationFailed"], reason="card declined")
    failed = order(oms, order_id)
    assert failed.payment_status is PaymentStatus.UNPAID
    assert [f.reason for f in failed.authorization_failures] == ["card declined"]


def test_cannot_authorize_a_cancelled_order(
    oms: OrderManagement, log: EventLog, order_id: UUID
) -> None:
    oms.cancel_order(order_id, reason="gone", lines=None, envelope=envelope())
    before = log.count()
    with pytest.raises(OrderCancelledError):
        authorize(oms, order_id)
    assert log.count() == before


def test_capturing_part_of_an_authorization(
    oms: OrderManagement, log: EventLog, order_id: UUID
) -> None:
    authorize(oms, order_id)
    sent = envelope("stripe", "client", "payments")
    result = oms.capture_payment(order_id, amount=Decimal("20.00"), envelope=sent)
    assert_recorded(log, result, sent, ["Order.PaymentCaptured"])
    captured = order(oms, order_id)
    assert captured.payment_status is PaymentStatus.PARTIALLY_CAPTURED
    assert captured.authorization_remaining == Decimal("15.70")


def test_cannot_capture_more_than_was_authorized(
    oms: OrderManagement, log: EventLog, order_id: UUID
) -> None:
    authorize(oms, order_id, "30.00")
    capture(oms, order_id, "20.00")
    before = log.count()
    with pytest.raises(CaptureExceedsAuthorizationError):
        capture(oms, order_id, "10.01")
    assert log.count() == before
    assert order(oms, order_id).captured == Decimal("20.00")


def test_voiding_gives_back_the_uncaptured_authorization(
    oms: OrderManagement, log: EventLog, order_id: UUID
) -> None:
    authorize(oms, order_id)
    capture(oms, order_id, "30.00")
    sent = envelope("stripe", "client", "payments")
    result = oms.void_authorization(order_id, envelope=sent)
    assert_recorded(log, result, sent, ["Order.AuthorizationVoided"])
    voided = order(oms, order_id)
    assert voided.voided == Decimal("5.70")
    assert voided.payment_status is PaymentStatus.CAPTURED


def test_cannot_void_when_nothing_is_left_to_void(
    oms: OrderManagement, log: EventLog, order_id: UUID
) -> None:
    authorize(oms, order_id)
    capture(oms, order_id)
    before = log.count()
    with pytest.raises(NothingToVoidError):
        oms.void_authorization(order_id, envelope=envelope())
    assert log.count() == before


def test_refunding_part_of_a_capture(
    oms: OrderManagement, log: EventLog, order_id: UUID
) -> None:
    authorize(oms, order_id)
    capture(oms, order_id)
    sent = envelope()
    result = oms.refund_payment(
        order_id, amount=Decimal("5.00"), reason="late delivery", envelope=sent
    )
    assert_recorded(log, result, sent, ["Order.PaymentRefunded"], reason="late delivery")
    refunded = order(oms, order_id)
    assert refunded.payment_status is PaymentStatus.PARTIALLY_REFUNDED
    assert refunded.refundable == Decimal("30.70")


def test_cannot_refund_more_than_was_captured(
    oms: OrderManagement, log: EventLog, order_id: UUID
) -> None:
    authorize(oms, order_id)
    capture(oms, order_id, "10.00")
    before = log.count()
    with pytest.raises(RefundExceedsCapturedError):
        oms.refund_payment(order_id, amount=Decimal("10.01"), reason="x", envelope=envelope())
    assert log.count() == before


def test_capturing_at_a_stale_version_is_refused(
    oms: OrderManagement, log: EventLog, order_id: UUID
) -> None:
    authorize(oms, order_id)  # order is now at version 2
    before = log.count()
    with pytest.raises(StaleVersionError):
        oms.capture_payment(
            order_id, amount=Decimal("1.00"), envelope=envelope(), expected_version=1
        )
    assert log.count() == before
    result = oms.capture_payment(
        order_id, amount=Decimal("1.00"), envelope=envelope(), expected_version=2
    )
    assert result.version == 3


# --- returns --------------------------------------------------------------------------------


@pytest.fixture
def shipped_order_id(oms: OrderManagement, order_id: UUID) -> UUID:
    """The order, paid in full and all 3 units shipped from the warehouse (on hand 7)."""
    authorize(oms, order_id)
    capture(oms, order_id)
    ship_all(oms, order_id)
    return order_id


def request_return(oms: OrderManagement, order_id: UUID, quantity: int = 2) -> UUID:
    result = oms.request_return(
        order_id, reason="too small", lines=[LineQuantity("1", quantity)], envelope=envelope()
    )
    assert result.created_id is not None
    return result.created_id


def approved_return(oms: OrderManagement, order_id: UUID, quantity: int = 2) -> UUID:
    return_id = request_return(oms, order_id, quantity)
    oms.decide_return(order_id, return_id, approved=True, reason=None, envelope=envelope())
    return return_id


def test_requesting_a_return_of_shipped_units(
    oms: OrderManagement, log: EventLog, shipped_order_id: UUID
) -> None:
    sent = envelope("shop", "client", "web")
    result = oms.request_return(
        shipped_order_id, reason="too small", lines=[LineQuantity("1", 2)], envelope=sent
    )
    assert_recorded(log, result, sent, ["Order.ReturnRequested"], reason="too small")
    assert result.created_id is not None
    assert order(oms, shipped_order_id).return_(result.created_id).status is (
        ReturnStatus.REQUESTED
    )


def test_cannot_return_more_than_was_shipped(
    oms: OrderManagement, log: EventLog, order_id: UUID
) -> None:
    ship_all(oms, order_id)
    request_return(oms, order_id, 2)
    before = log.count()
    with pytest.raises(ReturnExceedsShippedError):
        oms.request_return(
            order_id, reason="more", lines=[LineQuantity("1", 2)], envelope=envelope()
        )
    assert log.count() == before


def test_approving_a_return(oms: OrderManagement, log: EventLog, shipped_order_id: UUID) -> None:
    return_id = request_return(oms, shipped_order_id)
    sent = envelope()
    result = oms.decide_return(
        shipped_order_id, return_id, approved=True, reason="within 30 days", envelope=sent
    )
    assert_recorded(log, result, sent, ["Order.ReturnApproved"], reason="within 30 days")
    assert order(oms, shipped_order_id).return_(return_id).status is ReturnStatus.APPROVED


def test_a_rejected_return_cannot_be_received(
    oms: OrderManagement, log: EventLog, shipped_order_id: UUID
) -> None:
    return_id = request_return(oms, shipped_order_id)
    sent = envelope()
    result = oms.decide_return(
        shipped_order_id, return_id, approved=False, reason="worn", envelope=sent
    )
    assert_recorded(log, result, sent, ["Order.ReturnRejected"], reason="worn")
    before = log.count()
    with pytest.raises(ReturnNotApprovedError):
        oms.receive_return(
            shipped_order_id, return_id, location_id=WAREHOUSE,
            lines=[ReturnedLine("1", 2, ReturnCondition.RESELLABLE)], envelope=envelope(),
        )
    with pytest.raises(ReturnNotAwaitingApprovalError):
        oms.decide_return(
            shipped_order_id, return_id, approved=True, reason=None, envelope=envelope()
        )
    assert log.count() == before
    assert stock_levels(oms, SKU, WAREHOUSE) == (7, 0)


def test_receiving_a_return_puts_resellable_units_back_on_hand_but_not_damaged_ones(
    oms: OrderManagement, log: EventLog, shipped_order_id: UUID
) -> None:
    return_id = approved_return(oms, shipped_order_id)
    sent = envelope("wms", "system", "wms")
    result = oms.receive_return(
        shipped_order_id, return_id, location_id=WAREHOUSE,
        lines=[
            ReturnedLine("1", 1, ReturnCondition.RESELLABLE),
            ReturnedLine("1", 1, ReturnCondition.DAMAGED),
        ],
        envelope=sent,
    )
    assert_recorded(log, result, sent, ["Order.ReturnReceived", "InventoryItem.Restocked"])
    assert stock_levels(oms, SKU, WAREHOUSE) == (8, 0)
    received = order(oms, shipped_order_id)
    assert received.return_(return_id).status is ReturnStatus.RECEIVED
    assert received.lines["1"].returned == 2


def test_receiving_only_damaged_units_changes_no_stock(
    oms: OrderManagement, log: EventLog, shipped_order_id: UUID
) -> None:
    return_id = approved_return(oms, shipped_order_id)
    sent = envelope()
    result = oms.receive_return(
        shipped_order_id, return_id, location_id=WAREHOUSE,
        lines=[ReturnedLine("1", 2, ReturnCondition.DAMAGED)], envelope=sent,
    )
    assert_recorded(log, result, sent, ["Order.ReturnReceived"])
    assert stock_levels(oms, SKU, WAREHOUSE) == (7, 0)


def test_a_return_received_where_the_sku_was_never_stocked_creates_its_item(
    oms: OrderManagement, log: EventLog, shipped_order_id: UUID
) -> None:
    return_id = approved_return(oms, shipped_order_id)
    sent = envelope()
    result = oms.receive_return(
        shipped_order_id, return_id, location_id=STORE,
        lines=[ReturnedLine("1", 2, ReturnCondition.RESELLABLE)], envelope=sent,
    )
    assert_recorded(
        log, result, sent,
        ["Order.ReturnReceived", "InventoryItem.Created", "InventoryItem.Restocked"],
    )
    assert stock_levels(oms, SKU, STORE) == (2, 0)
    assert stock_levels(oms, SKU, WAREHOUSE) == (7, 0)


@pytest.mark.parametrize(
    "condition",
    [
        ReturnCondition.RESELLABLE,
        ReturnCondition.DAMAGED,
    ],
)
def test_a_return_received_at_an_unknown_location_is_not_found(
    oms: OrderManagement, log: EventLog, shipped_order_id: UUID, condition: ReturnCondition
) -> None:
    return_id = approved_return(oms, shipped_order_id)
    before = log.count()
    with pytest.raises(NotFoundError):
        oms.receive_return(
            shipped_order_id, return_id, location_id="nowhere",
            lines=[ReturnedLine("1", 2, condition)], envelope=envelope(),
        )
    assert log.count() == before


def test_cannot_receive_more_than_the_return_covers(
    oms: OrderManagement, log: EventLog, shipped_order_id: UUID
) -> None:
    return_id = approved_return(oms, shipped_order_id, 1)
    before = log.count()
    with pytest.raises(ReceiptExceedsReturnError):
        oms.receive_return(
            shipped_order_id, return_id, location_id=WAREHOUSE,
            lines=[ReturnedLine("1", 2, ReturnCondition.RESELLABLE)], envelope=envelope(),
        )
    assert log.count() == before
    assert stock_levels(oms, SKU, WAREHOUSE) == (7, 0)


def test_refunding_a_received_return(
    oms: OrderManagement, log: EventLog, shipped_order_id: UUID
) -> None:
    return_id = approved_return(oms, shipped_order_id)
    oms.receive_return(
        shipped_order_id, return_id, location_id=WAREHOUSE,
        lines=[ReturnedLine("1", 2, ReturnCondition.RESELLABLE)], envelope=envelope(),
    )
    sent = envelope()
    result = oms.refund_return(
        shipped_order_id, return_id, amount=Decimal("23.80"), envelope=sent
    )
    assert_recorded(log, result, sent, ["Order.ReturnRefunded"])
    refunded = order(oms, shipped_order_id)
    assert refunded.return_(return_id).refunded == Decimal("23.80")
    assert refunded.payment_status is PaymentStatus.PARTIALLY_REFUNDED


def test_cannot_refund_a_return_for_more_than_was_captured(
    oms: OrderManagement, log: EventLog, shipped_order_id: UUID
) -> None:
    return_id = approved_return(oms, shipped_order_id)
    before = log.count()
    with pytest.raises(RefundExceedsCapturedError):
        oms.refund_return(
            shipped_order_id, return_id, amount=Decimal("35.71"), envelope=envelope()
        )
    assert log.count() == before


def test_cannot_refund_a_return_still_awaiting_a_decision(
    oms: OrderManagement, log: EventLog, shipped_order_id: UUID
) -> None:
    return_id = request_return(oms, shipped_order_id)
    before = log.count()
    with pytest.raises(ReturnNotApprovedError):
        oms.refund_return(
            shipped_order_id, return_id, amount=Decimal("1.00"), envelope=envelope()
        )
    assert log.count() == before


# --- goodwill -------------------------------------------------------------------------------


def test_adding_a_goodwill_adjustment_credits_the_order(
    oms: OrderManagement, log: EventLog, order_id: UUID
) -> None:
    sent = envelope()
    result = oms.add_adjustment(
        order_id, amount=Decimal("5.00"), reason="apology for delay", envelope=sent
    )
    assert_recorded(log, result, sent, ["Order.AdjustmentAdded"], reason="apology for delay")
    adjusted = order(oms, order_id)
    assert [a.adjustment_id for a in adjusted.adjustments] == [result.created_id]
    assert adjusted.totals.adjustments == Decimal("5.00")
    assert adjusted.totals.balance_due == Decimal("30.70")
