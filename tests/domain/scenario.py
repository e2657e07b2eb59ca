"""Given-events / when-command / then-events-or-error helpers for domain specifications.

``given`` builds an aggregate from commands and clears its pending events, so ``when`` sees only
what the command under test records. ``rejected`` checks both halves of "a rejected command
records nothing": the named error is raised, and no event is pending and no state changed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID, uuid5

import pytest
from eventsourcing.domain import Aggregate

from domain.allocation import AllocationPlan, LineAllocation
from domain.errors import DomainError
from domain.order import Order
from domain.order_values import Allocation, NewLine
from domain.values import Address, Channel

A = TypeVar("A", bound=Aggregate)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
NS = UUID("8f0e2b9c-1111-4a3b-9c6d-000000000000")


def at(minutes: int = 0) -> datetime:
    return T0 + timedelta(minutes=minutes)


def uid(name: str) -> UUID:
    """A stable UUID per name, so specifications read with names rather than hex."""
    return uuid5(NS, name)


ADDRESS = Address("Ada Lovelace", "1 Analytical Way", None, "London", "N1 9GU", "GB")
OTHER_ADDRESS = Address("Ada Lovelace", "2 Difference St", "Flat 3", "Berlin", "10115", "DE")
ORDER_ID = uid("order")
CUSTOMER_ID = uid("customer")


def given(aggregate: A, *commands: Callable[[A], object]) -> A:
    for command in commands:
        command(aggregate)
    aggregate.collect_events()
    return aggregate


def when(aggregate: A, command: Callable[[A], object]) -> list[Any]:
    """Run the command and return the events it recorded."""
    command(aggregate)
    return list(aggregate.collect_events())


def then_single(events: Sequence[Any], event_type: type[Any], **attributes: Any) -> Any:
    assert [type(e) for e in events] == [event_type], events
    for name, value in attributes.items():
        assert getattr(events[0], name) == value, (name, getattr(events[0], name), value)
    return events[0]


def rejected(aggregate: A, command: Callable[[A], object], error: type[DomainError]) -> DomainError:
    before = copy.deepcopy({k: v for k, v in vars(aggregate).items() if k != "_pending_events"})
    with pytest.raises(error) as info:
        command(aggregate)
    assert aggregate.pending_events == [], "a rejected command must record nothing"
    after = {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}
    assert after == before, "a rejected command must not change state"
    return info.value


def replayed(aggregate: A, events: Sequence[Any]) -> A:
    rebuilt: Any = None
    for e in events:
        rebuilt = e.mutate(rebuilt)
    assert isinstance(rebuilt, type(aggregate))
    return rebuilt


def plan(*lines: tuple[tuple[tuple[str, int], ...], int]) -> AllocationPlan:
    """plan((("ber", 2),), 1) -> 2 reserved at ber, 1 backordered, for one line."""
    return AllocationPlan(
        tuple(
            LineAllocation(tuple(Allocation(loc, q) for loc, q in allocs), bo)
            for allocs, bo in lines
        )
    )


def place(
    lines: Sequence[NewLine] = (NewLine("SKU-A", 3, Decimal("10.00"), Decimal("0.19")),),
    allocation: AllocationPlan | None = None,
    currency: str = "EUR",
    order_id: UUID = ORDER_ID,
) -> Order:
    if allocation is None:
        allocation = AllocationPlan(
            tuple(LineAllocation((Allocation("ber", ln.quantity),), 0) for ln in lines)
        )
    return Order.place(
        order_id=order_id,
        customer_id=CUSTOMER_ID,
        channel=Channel.WEB,
        currency=currency,
        lines=lines,
        shipping_address=ADDRESS,
        shipping_method="standard",
        allocation=allocation,
        placed_at=T0,
    )


def placed(*commands: Callable[[Order], object], **kwargs: Any) -> Order:
    return given(place(**kwargs), *commands)
