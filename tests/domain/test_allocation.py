"""Specifications for choosing where an order's units are reserved."""

from __future__ import annotations

from decimal import Decimal

from domain.allocation import AllocationPlan, LineAllocation, StockAtLocation, plan_allocation
from domain.order_values import Allocation, NewLine


def line(sku: str, quantity: int) -> NewLine:
    return NewLine(sku, quantity, Decimal("1"))


def test_one_location_that_can_ship_everything_is_preferred_over_a_better_priority() -> None:
    stock = {
        "A": [StockAtLocation("ber", 1, 5), StockAtLocation("ham", 2, 5)],
        "B": [StockAtLocation("ham", 2, 1)],
    }
    result = plan_allocation([line("A", 2), line("B", 1)], stock)
    assert result == AllocationPlan(
        (
            LineAllocation((Allocation("ham", 2),), 0),
            LineAllocation((Allocation("ham", 1),), 0),
        )
    )


def test_among_complete_locations_the_lower_priority_number_wins() -> None:
    stock = {"A": [StockAtLocation("zzz", 1, 5), StockAtLocation("aaa", 2, 5)]}
    assert plan_allocation([line("A", 1)], stock).lines[0].allocations == (Allocation("zzz", 1),)


def test_priority_ties_are_broken_by_location_id() -> None:
    stock = {"A": [StockAtLocation("mun", 1, 5), StockAtLocation("ber", 1, 5)]}
    assert plan_allocation([line("A", 1)], stock).lines[0].allocations == (Allocation("ber", 1),)


def test_without_a_complete_location_each_line_goes_to_one_location_if_it_can() -> None:
    stock = {
        "A": [StockAtLocation("ber", 1, 3)],
        "B": [StockAtLocation("ber", 1, 1), StockAtLocation("ham", 2, 4)],
    }
    result = plan_allocation([line("A", 3), line("B", 4)], stock)
    assert result.lines == (
        LineAllocation((Allocation("ber", 3),), 0),
        LineAllocation((Allocation("ham", 4),), 0),
    )


def test_a_line_no_single_location_covers_is_split_by_priority() -> None:
    stock = {"A": [StockAtLocation("ham", 2, 2), StockAtLocation("ber", 1, 2)]}
    result = plan_allocation([line("A", 3)], stock)
    assert result.lines == (LineAllocation((Allocation("ber", 2), Allocation("ham", 1)), 0),)


def test_what_no_location_has_is_backordered_never_dropped() -> None:
    stock = {"A": [StockAtLocation("ber", 1, 2)]}
    result = plan_allocation([line("A", 5), line("C", 2)], stock)
    assert result.lines == (
        LineAllocation((Allocation("ber", 2),), 3),
        LineAllocation((), 2),
    )
    assert [la.quantity for la in result.lines] == [5, 2]


def test_lines_sharing_a_sku_share_its_stock() -> None:
    stock = {"A": [StockAtLocation("ber", 1, 3)]}
    result = plan_allocation([line("A", 2), line("A", 2)], stock)
    assert result.lines == (
        LineAllocation((Allocation("ber", 2),), 0),
        LineAllocation((Allocation("ber", 1),), 1),
    )


def test_negative_availability_counts_as_none() -> None:
    stock = {"A": [StockAtLocation("ber", 1, -4)]}
    assert plan_allocation([line("A", 1)], stock).lines == (LineAllocation((), 1),)


def test_allocation_is_deterministic_whatever_the_input_order() -> None:
    a = {"A": [StockAtLocation("ber", 1, 1), StockAtLocation("ham", 1, 1)]}
    b = {"A": [StockAtLocation("ham", 1, 1), StockAtLocation("ber", 1, 1)]}
    assert plan_allocation([line("A", 2)], a) == plan_allocation([line("A", 2)], b)
