"""Specifications for returns: request, decide, receive goods, refund."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

from domain.errors import (
    DuplicateReturnError,
    ReceiptExceedsReturnError,
    RefundExceedsCapturedError,
    ReturnExceedsShippedError,
    ReturnNotApprovedError,
    ReturnNotAwaitingApprovalError,
    ReturnNotFoundError,
)
from domain.order import Order
from domain.order_values import LineQuantity, Restock, ReturnedLine
from domain.values import ReturnCondition, ReturnStatus
from tests.domain.scenario import at, placed, rejected, then_single, uid, when

R1 = uid("r1")


def paid_and_shipped(order: Order) -> None:
    order.authorize(amount=Decimal("35.70"), provider="p", reference="x", at=at(1))
    order.capture(amount=Decimal("35.70"), at=at(2))
    order.ship(
        shipment_id=uid("s1"),
        location_id="ber",
        lines=[LineQuantity("1", 2)],
        carrier="DHL",
        tracking_number="T",
        shipped_at=at(3),
    )


def request(quantity: int = 2, return_id: UUID = R1) -> Callable[[Order], object]:
    return lambda o: o.request_return(
        return_id=return_id, reason="too small", lines=[LineQuantity("1", quantity)], at=at(4)
    )


def approve(o: Order) -> None:
    o.approve_return(return_id=R1, approved=True, reason="ok", at=at(5))


def test_requesting_a_return_of_shipped_units() -> None:
    o = placed(paid_and_shipped)
    events = when(o, request())
    then_single(events, Order.ReturnRequested, return_id=R1, lines=(LineQuantity("1", 2),))
    assert o.return_(R1).status is ReturnStatus.REQUESTED


def test_cannot_return_more_than_was_shipped() -> None:
    rejected(placed(paid_and_shipped), request(3), ReturnExceedsShippedError)


def test_units_claimed_by_an_open_return_cannot_be_returned_again() -> None:
    o = placed(paid_and_shipped, request(2))
    rejected(o, request(1, uid("r2")), ReturnExceedsShippedError)


def test_cannot_reuse_a_return_id() -> None:
    o = placed(paid_and_shipped, request(1))
    rejected(o, request(1), DuplicateReturnError)


def test_approving_a_return() -> None:
    o = placed(paid_and_shipped, request())
    then_single(when(o, approve), Order.ReturnApproved, return_id=R1, reason="ok")


def test_rejecting_a_return_frees_its_units() -> None:
    o = placed(paid_and_shipped, request())
    events = when(o, lambda x: x.approve_return(return_id=R1, approved=False, at=at(5)))
    then_single(events, Order.ReturnRejected, return_id=R1, reason=None)
    assert o.returnable("1") == 2


def test_cannot_decide_a_return_twice() -> None:
    o = placed(paid_and_shipped, request(), approve)
    rejected(o, approve, ReturnNotAwaitingApprovalError)


def test_cannot_decide_an_unknown_return() -> None:
    rejected(placed(paid_and_shipped), approve, ReturnNotFoundError)


def test_receiving_returned_goods_restocks_the_resellable_ones() -> None:
    o = placed(paid_and_shipped, request(), approve)
    restocks: list[Restock] = []
    got = [
        ReturnedLine("1", 1, ReturnCondition.RESELLABLE),
        ReturnedLine("1", 1, ReturnCondition.DAMAGED),
    ]
    events = when(
        o,
        lambda x: restocks.extend(
            x.receive_return(return_id=R1, location_id="ham", lines=got, at=at(6))
        ),
    )
    then_single(events, Order.ReturnReceived, return_id=R1, location_id="ham", lines=tuple(got))
    assert restocks == [Restock("SKU-A", "ham", "1", 1, R1)]
    assert o.lines["1"].returned == 2


def test_cannot_receive_goods_for_an_unapproved_return() -> None:
    o = placed(paid_and_shipped, request())
    rejected(
        o,
        lambda x: x.receive_return(
            return_id=R1,
            location_id="ber",
            lines=[ReturnedLine("1", 1, ReturnCondition.RESELLABLE)],
            at=at(6),
        ),
        ReturnNotApprovedError,
    )


def test_cannot_receive_more_than_the_return_covers() -> None:
    o = placed(paid_and_shipped, request(1), approve)
    rejected(
        o,
        lambda x: x.receive_return(
            return_id=R1,
            location_id="ber",
            lines=[ReturnedLine("1", 2, ReturnCondition.RESELLABLE)],
            at=at(6),
        ),
        ReceiptExceedsReturnError,
    )


def test_refunding_a_return_credits_the_customer_and_keeps_the_balance() -> None:
    o = placed(paid_and_shipped, request(), approve)
    events = when(o, lambda x: x.refund_return(return_id=R1, amount=Decimal("20"), at=at(7)))
    then_single(events, Order.ReturnRefunded, return_id=R1, amount=Decimal("20.00"))
    assert o.refunded == Decimal("20.00")
    assert o.totals.balance_due == Decimal("0.00")


def test_cannot_refund_a_return_before_it_is_approved() -> None:
    o = placed(paid_and_shipped, request())
    rejected(
        o,
        lambda x: x.refund_return(return_id=R1, amount=Decimal("1"), at=at(7)),
        ReturnNotApprovedError,
    )


def test_cannot_refund_a_return_beyond_what_was_captured() -> None:
    o = placed(paid_and_shipped, request(), approve)
    rejected(
        o,
        lambda x: x.refund_return(return_id=R1, amount=Decimal("40"), at=at(7)),
        RefundExceedsCapturedError,
    )
