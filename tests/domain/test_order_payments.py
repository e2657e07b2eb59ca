"""Specifications for authorizing, capturing, voiding and refunding payments."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from domain.errors import (
    CaptureExceedsAuthorizationError,
    InvalidAmountError,
    NothingToVoidError,
    OrderCancelledError,
    RefundExceedsCapturedError,
)
from domain.order import Order
from domain.values import PaymentStatus
from tests.domain.scenario import at, placed, rejected, then_single, when


def authorize(amount: str) -> Callable[[Order], object]:
    return lambda o: o.authorize(
        amount=Decimal(amount), provider="stripe", reference="pi_1", at=at(1)
    )


def capture(amount: str) -> Callable[[Order], object]:
    return lambda o: o.capture(amount=Decimal(amount), at=at(2))


def test_authorizing_records_the_amount_and_reference() -> None:
    order = placed()
    events = when(order, authorize("50"))
    then_single(
        events,
        Order.PaymentAuthorized,
        amount=Decimal("50.00"),
        provider="stripe",
        reference="pi_1",
    )
    assert order.payment_status is PaymentStatus.AUTHORIZED


def test_an_authorization_failure_is_recorded_for_care() -> None:
    order = placed()
    events = when(
        order,
        lambda o: o.record_authorization_failure(provider="stripe", reason="declined", at=at(1)),
    )
    then_single(events, Order.AuthorizationFailed, provider="stripe", reason="declined")
    assert order.payment_status is PaymentStatus.UNPAID


def test_capturing_part_of_the_authorization() -> None:
    order = placed(authorize("50"))
    then_single(when(order, capture("20")), Order.PaymentCaptured, amount=Decimal("20.00"))
    assert order.payment_status is PaymentStatus.PARTIALLY_CAPTURED


def test_capturing_all_of_the_authorization() -> None:
    order = placed(authorize("50"), capture("20"))
    when(order, capture("30"))
    assert order.payment_status is PaymentStatus.CAPTURED


def test_cannot_capture_more_than_authorized_and_not_yet_captured() -> None:
    order = placed(authorize("50"))
    error = rejected(order, capture("60"), CaptureExceedsAuthorizationError)
    assert str(error) == (
        "cannot capture 60.00 EUR: only 50.00 EUR authorized and not yet captured"
    )


def test_cannot_capture_more_decimals_than_the_currency_has() -> None:
    rejected(placed(authorize("50")), capture("1.234"), InvalidAmountError)


@pytest.mark.parametrize("amount", ["0", "-5"])
def test_cannot_capture_a_non_positive_amount(amount: str) -> None:
    rejected(placed(authorize("50")), capture(amount), InvalidAmountError)


def test_voiding_gives_back_what_will_not_be_captured() -> None:
    order = placed(authorize("50"), capture("20"))
    events = when(order, lambda o: o.void_remaining_authorization(at=at(3)))
    then_single(events, Order.AuthorizationVoided, amount=Decimal("30.00"))
    assert order.payment_status is PaymentStatus.CAPTURED
    rejected(order, capture("1"), CaptureExceedsAuthorizationError)


def test_cannot_void_when_nothing_remains_authorized() -> None:
    rejected(placed(), lambda o: o.void_remaining_authorization(at=at(3)), NothingToVoidError)


def test_refunding_part_of_the_captured_money() -> None:
    order = placed(authorize("50"), capture("50"))
    events = when(order, lambda o: o.refund(amount=Decimal("10"), reason="late", at=at(4)))
    then_single(events, Order.PaymentRefunded, amount=Decimal("10.00"), reason="late")
    assert str(order.payment_status) == "partially_refunded"
    when(order, lambda o: o.refund(amount=Decimal("40"), reason="late", at=at(5)))
    assert order.payment_status is PaymentStatus.REFUNDED


def test_cannot_refund_more_than_captured_and_not_yet_refunded() -> None:
    order = placed(authorize("50"), capture("30"))
    error = rejected(
        order,
        lambda o: o.refund(amount=Decimal("30.01"), reason="r", at=at(4)),
        RefundExceedsCapturedError,
    )
    assert "only 30.00 EUR captured and not yet refunded" in str(error)


def test_cannot_authorize_a_cancelled_order() -> None:
    order = placed(lambda o: o.cancel(reason="r", lines=None, cancelled_at=at(0)))
    rejected(order, authorize("5"), OrderCancelledError)


def test_balance_due_is_what_is_owed_minus_what_was_kept() -> None:
    order = placed(authorize("35.70"), capture("35.70"))  # 3 x 10.00 + 19% tax
    assert order.totals.balance_due == Decimal("0.00")
    when(order, lambda o: o.refund(amount=Decimal("5"), reason="r", at=at(4)))
    assert order.totals.balance_due == Decimal("5.00")
