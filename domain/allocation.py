"""Deciding where an order's units ship from, as a pure function of the order and stock.

Placing an order reserves stock; which locations to reserve at is a decision worth testing on
its own, so it is made here, deterministically, from a snapshot of availability the application
reads in the same transaction. Rules: prefer one location that can ship the whole order (one
parcel, no splits), lower priority number first, then location id; otherwise allocate each line
from a single location if one can cover it, else split it across locations by priority. What no
location has is backordered, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain.order_values import Allocation, NewLine


@dataclass(frozen=True)
class StockAtLocation:
    """Units of a SKU available (on hand - reserved - safety stock) at a location."""

    location_id: str
    priority: int
    available: int


@dataclass(frozen=True)
class LineAllocation:
    allocations: tuple[Allocation, ...]
    backordered: int

    @property
    def quantity(self) -> int:
        return sum(a.quantity for a in self.allocations) + self.backordered


@dataclass(frozen=True)
class AllocationPlan:
    """One ``LineAllocation`` per order line, in the order of the lines."""

    lines: tuple[LineAllocation, ...]

    @staticmethod
    def backorder_all(lines: Sequence[NewLine]) -> AllocationPlan:
        """A plan that reserves nothing (no stock anywhere)."""
        return AllocationPlan(tuple(LineAllocation((), line.quantity) for line in lines))


def _ranked(stock: Mapping[str, Sequence[StockAtLocation]]) -> list[tuple[int, str]]:
    priorities: dict[str, int] = {}
    for entries in stock.values():
        for entry in entries:
            known = priorities.get(entry.location_id)
            priorities[entry.location_id] = (
                entry.priority if known is None else min(known, entry.priority)
            )
    return sorted((priority, location_id) for location_id, priority in priorities.items())


def plan_allocation(
    lines: Sequence[NewLine], stock: Mapping[str, Sequence[StockAtLocation]]
) -> AllocationPlan:
    """Decide per line which locations reserve how many units; the rest is backordered."""
    ranked = _ranked(stock)
    # Remaining availability per (sku, location); several lines may share a SKU.
    remaining: dict[tuple[str, str], int] = {}
    for sku, entries in stock.items():
        for entry in entries:
            key = (sku, entry.location_id)
            remaining[key] = remaining.get(key, 0) + max(entry.available, 0)

    needed: dict[str, int] = {}
    for line in lines:
        needed[line.sku] = needed.get(line.sku, 0) + line.quantity
    for _, location_id in ranked:
        if all(remaining.get((sku, location_id), 0) >= qty for sku, qty in needed.items()):
            return AllocationPlan(
                tuple(
                    LineAllocation((Allocation(location_id, line.quantity),), 0) for line in lines
                )
            )

    planned: list[LineAllocation] = []
    for line in lines:
        whole = next(
            (loc for _, loc in ranked if remaining.get((line.sku, loc), 0) >= line.quantity),
            None,
        )
        allocations: list[Allocation] = []
        if whole is not None:
            allocations.append(Allocation(whole, line.quantity))
            remaining[(line.sku, whole)] -= line.quantity
            outstanding = 0
        else:
            outstanding = line.quantity
            for _, loc in ranked:
                here = min(remaining.get((line.sku, loc), 0), outstanding)
                if here > 0:
                    allocations.append(Allocation(loc, here))
                    remaining[(line.sku, loc)] -= here
                    outstanding -= here
                if outstanding == 0:
                    break
        planned.append(LineAllocation(tuple(allocations), outstanding))
    return AllocationPlan(tuple(planned))
