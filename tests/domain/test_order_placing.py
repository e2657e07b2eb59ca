"""Specifications for placing an order."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from domain.allocation import AllocationPlan
from domain.errors import (
    EmptyOrderError,
    InvalidAllocationPlanError,
    InvalidAmountError,
    InvalidCurrencyError,
    InvalidQuantityError,
    InvalidTaxRateError,
    InvalidTimestampError,
)
from domain.order import Order
from domain.order_values import Allocation, NewLine, PlacedLine
from domain.values import Channel, OrderStatus, PaymentStatus
from tests.domain.scenario import ADDRESS, CUSTOMER_ID, ORDER_ID, T0, place, plan


def test_placing_an_order_records_lines_allocations_and_backorders() -> None:
    order = place(
        lines=[
            NewLine("SKU-A", 3, Decimal("10.00"), Decimal("0.19")),
            NewLine("SKU-B", 2, Decimal("5")),
        ],
        allocation=plan(((("ber", 2), ("ham", 1)), 0), ((), 2)),
    )
    (placed,) = order.collect_events()
    assert isinstance(placed, Order.Placed)
    assert placed.originator_id == ORDER_ID
    assert placed.timestamp == T0
    assert placed.placed_at == T0
    assert placed.customer_id == CUSTOMER_ID
    assert placed.channel is Channel.WEB
    assert placed.shipping_address == ADDRESS
    assert placed.lines == (
        PlacedLine(
            "1",
            "SKU-A",
            3,
            Decimal("10.00"),
            Decimal("0.19"),
            (Allocation("ber", 2), Allocation("ham", 1)),
            0,
        ),
        PlacedLine("2", "SKU-B", 2, Decimal("5.00"), Decimal(0), (), 2),
    )


def test_a_placed_order_is_open_and_unpaid_with_totals() -> None:
    order = place(
        lines=[
            NewLine("SKU-A", 3, Decimal("3.33"), Decimal("0.19")),
            NewLine("SKU-B", 1, Decimal("0.05"), Decimal("0.07")),
        ]
    )
    assert order.status is OrderStatus.OPEN
    assert order.payment_status is PaymentStatus.UNPAID
    totals = order.totals
    assert totals.ordered == Decimal("10.04")
    # 9.99 * 0.19 = 1.8981 -> 1.90; 0.05 * 0.07 = 0.0035 -> 0.00 (per line, half up)
    assert totals.tax == Decimal("1.90")
    assert totals.balance_due == Decimal("11.94")


def test_tax_is_rounded_half_up_per_line() -> None:
    order = place(lines=[NewLine("SKU-A", 1, Decimal("0.50"), Decimal("0.05"))])
    assert order.totals.tax == Decimal("0.03")  # 0.025 -> 0.03


def test_a_zero_decimal_currency_takes_whole_amounts() -> None:
    order = place(lines=[NewLine("SKU-A", 2, Decimal("1500"), Decimal("0.1"))], currency="JPY")
    assert order.totals.ordered == Decimal("3000")
    assert order.totals.tax == Decimal("300")


def test_cannot_place_an_empty_order() -> None:
    with pytest.raises(EmptyOrderError):
        place(lines=[], allocation=AllocationPlan(()))


@pytest.mark.parametrize("quantity", [0, -1])
def test_cannot_order_a_non_positive_quantity(quantity: int) -> None:
    with pytest.raises(InvalidQuantityError):
        place(lines=[NewLine("SKU-A", quantity, Decimal("1"))], allocation=plan(((), quantity)))


def test_cannot_order_at_a_negative_price() -> None:
    with pytest.raises(InvalidAmountError):
        place(lines=[NewLine("SKU-A", 1, Decimal("-1"))])


def test_a_free_item_may_be_ordered() -> None:
    assert place(lines=[NewLine("SKU-A", 1, Decimal("0"))]).totals.ordered == Decimal("0.00")


@pytest.mark.parametrize("rate", [Decimal("-0.01"), Decimal(1), Decimal("1.5")])
def test_cannot_order_with_a_tax_rate_outside_zero_to_one(rate: Decimal) -> None:
    with pytest.raises(InvalidTaxRateError):
        place(lines=[NewLine("SKU-A", 1, Decimal("1"), rate)])


@pytest.mark.parametrize("currency", ["eur", "EU", "EURO", "", "12A"])
def test_cannot_order_in_a_malformed_currency(currency: str) -> None:
    with pytest.raises(InvalidCurrencyError):
        place(currency=currency)


def test_cannot_price_more_precisely_than_the_currency_allows() -> None:
    with pytest.raises(InvalidAmountError, match="2 decimal places"):
        place(lines=[NewLine("SKU-A", 1, Decimal("1.001"))])
    with pytest.raises(InvalidAmountError):
        place(lines=[NewLine("SKU-A", 1, Decimal("1.5"))], currency="JPY")


def test_cannot_place_with_a_plan_that_loses_units() -> None:
    with pytest.raises(InvalidAllocationPlanError):
        place(allocation=plan(((("ber", 1),), 1)))  # 2 of the 3 ordered units


def test_cannot_place_with_a_naive_time() -> None:
    with pytest.raises(InvalidTimestampError):
        Order.place(
            order_id=ORDER_ID,
            customer_id=CUSTOMER_ID,
            channel=Channel.WEB,
            currency="EUR",
            lines=[NewLine("SKU-A", 1, Decimal("1"))],
            shipping_address=ADDRESS,
            shipping_method=None,
            allocation=plan(((), 1)),
            placed_at=datetime(2024, 1, 1),
        )
