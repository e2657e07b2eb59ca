"""Stateful property test: an order and its inventory items stay consistent under any commands.

Hypothesis drives random sequences of order and stock commands, wired the way the application
wires them (releases, consumptions and restocks applied to the inventory items), and after every
step checks the invariants that span aggregates: stock reserved at each item equals the open
allocations pointing at it, no line ships more than it keeps, money flows in order
(refunds <= captures <= authorizations), on hand never goes negative, rejected commands record
nothing, and replaying every recorded event rebuilds identical aggregates.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.allocation import StockAtLocation, plan_allocation
from domain.errors import DomainError
from domain.inventory import InventoryItem, inventory_item_id, reservation_key
from domain.order import Order
from domain.order_values import LineQuantity, NewLine, ReturnedLine
from domain.values import Address, Channel, HoldType, ReturnCondition, ReturnStatus
from tests.aggregate_shape import shape_violations
from tests.domain.scenario import at, uid

LOCATIONS = {"ber": 1, "ham": 2, "mun": 3}
SKUS = ("A", "B")
ADDRESS = Address("N", "L", None, "C", "P", "DE")
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "500"))

R = TypeVar("R")


def cents(n: int) -> Decimal:
    return Decimal(n).scaleb(-2)


def _state(aggregate: Aggregate) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


class OrderWithStock(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = 0
        self.history: dict[UUID, list[Any]] = {}
        self.items: dict[tuple[str, str], InventoryItem] = {}
        self.shipments: list[UUID] = []
        self.returns: list[UUID] = []
        self.holds: list[UUID] = []

    # --- plumbing ---------------------------------------------------------------------------

    def now(self) -> Any:
        self.clock += 1
        return at(self.clock)

    def record(self, aggregate: Aggregate) -> None:
        self.history.setdefault(aggregate.id, []).extend(aggregate.collect_events())

    def attempt(self, aggregate: Aggregate, command: Callable[[], R]) -> R | None:
        """Run a command; if the domain rejects it, nothing may have been recorded or changed."""
        before = copy.deepcopy(_state(aggregate))
        try:
            result = command()
        except DomainError:
            assert aggregate.pending_events == []
            assert _state(aggregate) == before
            return None
        self.record(aggregate)
        return result

    def item(self, sku: str, location_id: str) -> InventoryItem:
        return self.items[(sku, location_id)]

    # --- setup ------------------------------------------------------------------------------

    @initialize(
        stock=st.fixed_dictionaries(
            {(sku, loc): st.integers(0, 8) for sku in SKUS for loc in LOCATIONS}
        ),
        lines=st.lists(
            st.tuples(st.sampled_from(SKUS), st.integers(1, 6), st.integers(0, 2000)),
            min_size=1,
            max_size=3,
        ),
    )
    def place(self, stock: dict[tuple[str, str], int], lines: list[tuple[str, int, int]]) -> None:
        for sku in SKUS:
            for location_id in LOCATIONS:
                item = InventoryItem.create(sku=sku, location_id=location_id, at=self.now())
                self.items[(sku, location_id)] = item
                if stock.get((sku, location_id)):
                    item.receive(quantity=stock[(sku, location_id)], at=self.now())
                self.record(item)
        new_lines = [NewLine(sku, q, cents(p), Decimal("0.19")) for sku, q, p in lines]
        availability = {
            sku: [
                StockAtLocation(loc, prio, self.item(sku, loc).available)
                for loc, prio in LOCATIONS.items()
            ]
            for sku in SKUS
        }
        self.order = Order.place(
            order_id=uid("order"),
            customer_id=uid("customer"),
            channel=Channel.WEB,
            currency="EUR",
            lines=new_lines,
            shipping_address=ADDRESS,
            shipping_method=None,
            allocation=plan_allocation(new_lines, availability),
            placed_at=self.now(),
        )
        for line in self.order.lines.values():
            for allocation in line.allocations:
                item = self.item(line.sku, allocation.location_id)
                item.reserve(
                    order_id=self.order.id,
                    line_id=line.line_id,
                    quantity=allocation.quantity,
                    at=self.now(),
                )
                self.record(item)
        self.record(self.order)

    # --- order commands ---------------------------------------------------------------------

    def _release(self, releases: Any) -> None:
        for r in releases or ():
            item = self.item(r.sku, r.location_id)
            item.release(
                order_id=self.order.id, line_id=r.line_id, quantity=r.quantity, at=self.now()
            )
            self.record(item)

    @rule(line=st.sampled_from(["1", "2", "3", "9"]) | st.none(), quantity=st.integers(0, 7))
    def cancel(self, line: str | None, quantity: int) -> None:
        lines = None if line is None else [LineQuantity(line, quantity)]
        releases = self.attempt(
            self.order,
            lambda: self.order.cancel(reason="r", lines=lines, cancelled_at=self.now()),
        )
        self._release(releases)

    @rule(hold_type=st.sampled_from(HoldType))
    def place_hold(self, hold_type: HoldType) -> None:
        hold_id = uid(f"hold-{len(self.holds)}")
        self.holds.append(hold_id)
        self.attempt(
            self.order,
            lambda: self.order.place_hold(
                hold_id=hold_id, type=hold_type, reason="check", at=self.now()
            ),
        )

    @rule(index=st.integers(0, 3), reject=st.booleans())
    def end_hold(self, index: int, reject: bool) -> None:
        if not self.holds:
            return
        hold_id = self.holds[index % len(self.holds)]
        if reject:
            self._release(
                self.attempt(
                    self.order, lambda: self.order.reject(hold_id=hold_id, rejected_at=self.now())
                )
            )
        else:
            self.attempt(
                self.order, lambda: self.order.release_hold(hold_id=hold_id, at=self.now())
            )

    @rule(amount=st.integers(-100, 9000))
    def authorize(self, amount: int) -> None:
        self.attempt(
            self.order,
            lambda: self.order.authorize(
                amount=cents(amount), provider="psp", reference="ref", at=self.now()
            ),
        )

    @rule(amount=st.integers(0, 9000))
    def capture(self, amount: int) -> None:
        self.attempt(self.order, lambda: self.order.capture(amount=cents(amount), at=self.now()))

    @rule()
    def void(self) -> None:
        self.attempt(self.order, lambda: self.order.void_remaining_authorization(at=self.now()))

    @rule(amount=st.integers(0, 9000))
    def refund(self, amount: int) -> None:
        self.attempt(
            self.order, lambda: self.order.refund(amount=cents(amount), reason="r", at=self.now())
        )

    @rule(
        location_id=st.sampled_from(sorted(LOCATIONS)),
        line=st.sampled_from(["1", "2", "3"]),
        quantity=st.integers(1, 6),
    )
    def ship(self, location_id: str, line: str, quantity: int) -> None:
        shipment_id = uid(f"shipment-{len(self.shipments)}")
        consumed = self.attempt(
            self.order,
            lambda: self.order.ship(
                shipment_id=shipment_id,
                location_id=location_id,
                lines=[LineQuantity(line, quantity)],
                carrier="c",
                tracking_number="t",
                shipped_at=self.now(),
            ),
        )
        if consumed is None:
            return
        self.shipments.append(shipment_id)
        for c in consumed:
            item = self.item(c.sku, c.location_id)
            item.consume(
                order_id=self.order.id,
                line_id=c.line_id,
                quantity=c.quantity,
                shipment_id=c.shipment_id,
                at=self.now(),
            )
            self.record(item)

    @rule(index=st.integers(0, 5))
    def deliver(self, index: int) -> None:
        if self.shipments:
            shipment_id = self.shipments[index % len(self.shipments)]
            self.attempt(
                self.order,
                lambda: self.order.mark_delivered(shipment_id=shipment_id, at=self.now()),
            )

    @rule(line=st.sampled_from(["1", "2", "3"]), quantity=st.integers(1, 4))
    def request_return(self, line: str, quantity: int) -> None:
        return_id = uid(f"return-{len(self.returns)}")
        self.returns.append(return_id)
        self.attempt(
            self.order,
            lambda: self.order.request_return(
                return_id=return_id, reason="r", lines=[LineQuantity(line, quantity)], at=self.now()
            ),
        )

    @rule(index=st.integers(0, 5), approved=st.booleans())
    def decide_return(self, index: int, approved: bool) -> None:
        if self.returns:
            return_id = self.returns[index % len(self.returns)]
            self.attempt(
                self.order,
                lambda: self.order.approve_return(
                    return_id=return_id, approved=approved, at=self.now()
                ),
            )

    @rule(
        index=st.integers(0, 5),
        location_id=st.sampled_from(sorted(LOCATIONS)),
        condition=st.sampled_from(ReturnCondition),
    )
    def receive_return(self, index: int, location_id: str, condition: ReturnCondition) -> None:
        if not self.returns:
            return
        return_id = self.returns[index % len(self.returns)]
        ret = self.order.returns.get(str(return_id))
        lines = (
            []
            if ret is None
            else [ReturnedLine(q.line_id, q.quantity, condition) for q in ret.lines]
        )
        restocks = self.attempt(
            self.order,
            lambda: self.order.receive_return(
                return_id=return_id, location_id=location_id, lines=lines, at=self.now()
            ),
        )
        for r in restocks or ():
            item = self.item(r.sku, r.location_id)
            item.restock(
                order_id=self.order.id, return_id=r.return_id, quantity=r.quantity, at=self.now()
            )
            self.record(item)

    @rule(index=st.integers(0, 5), amount=st.integers(1, 3000))
    def refund_return(self, index: int, amount: int) -> None:
        if self.returns:
            return_id = self.returns[index % len(self.returns)]
            self.attempt(
                self.order,
                lambda: self.order.refund_return(
                    return_id=return_id, amount=cents(amount), at=self.now()
                ),
            )

    @rule(
        line=st.sampled_from(["1", "2", "3"]),
        location_id=st.sampled_from(sorted(LOCATIONS)),
        quantity=st.integers(0, 4),
    )
    def allocate_backorder(self, line: str, location_id: str, quantity: int) -> None:
        order_line = self.order.lines.get(line)
        # The application reserves in the same transaction; a failed reservation would roll
        # the whole command back, so only try what the item can actually reserve.
        if order_line is None or self.item(order_line.sku, location_id).available < quantity:
            return
        reservation = self.attempt(
            self.order,
            lambda: self.order.allocate_backorder(
                line_id=line, location_id=location_id, quantity=quantity, at=self.now()
            ),
        )
        if reservation is not None:
            item = self.item(reservation.sku, reservation.location_id)
            item.reserve(
                order_id=self.order.id,
                line_id=reservation.line_id,
                quantity=reservation.quantity,
                at=self.now(),
            )
            self.record(item)

    @rule(
        sku=st.sampled_from(SKUS),
        location_id=st.sampled_from(sorted(LOCATIONS)),
        q=st.integers(1, 5),
    )
    def receive_stock(self, sku: str, location_id: str, q: int) -> None:
        item = self.item(sku, location_id)
        self.attempt(item, lambda: item.receive(quantity=q, at=self.now()))

    # --- steered commands: likely to succeed, so that deep states are reached -------------

    @precondition(lambda self: hasattr(self, "order") and not self.order.is_on_hold)
    @rule(pick=st.integers(0, 10**6), share=st.integers(0, 10**6))
    def ship_something_reserved(self, pick: int, share: int) -> None:
        options = [
            (line.line_id, a.location_id, a.quantity)
            for line in self.order.lines.values()
            for a in line.allocations
        ]
        if options:
            line_id, location_id, reserved = options[pick % len(options)]
            self.ship(location_id, line_id, 1 + share % reserved)

    @precondition(lambda self: hasattr(self, "order") and self.order.is_on_hold)
    @rule(reject=st.sampled_from([False, False, True]))
    def end_open_hold(self, reject: bool) -> None:
        hold = self.order.open_holds[0]
        self.holds.append(hold.hold_id)
        self.end_hold(len(self.holds) - 1, reject)

    @precondition(lambda self: hasattr(self, "order"))
    @rule(pick=st.integers(0, 10**6), share=st.integers(0, 10**6))
    def return_something_shipped(self, pick: int, share: int) -> None:
        options = [
            (line.line_id, self.order.returnable(line.line_id))
            for line in self.order.lines.values()
            if self.order.returnable(line.line_id) > 0
        ]
        if options:
            line_id, returnable = options[pick % len(options)]
            self.request_return(line_id, 1 + share % returnable)

    @precondition(lambda self: hasattr(self, "order"))
    @rule(pick=st.integers(0, 10**6), condition=st.sampled_from(ReturnCondition))
    def progress_a_return(self, pick: int, condition: ReturnCondition) -> None:
        open_returns = [
            r.return_id
            for r in self.order.returns.values()
            if r.status in (ReturnStatus.REQUESTED, ReturnStatus.APPROVED)
        ]
        if not open_returns:
            return
        return_id = open_returns[pick % len(open_returns)]
        index = self.returns.index(return_id)
        if self.order.return_(return_id).status is ReturnStatus.REQUESTED:
            self.decide_return(index, approved=pick % 4 != 0)
        else:
            self.receive_return(index, sorted(LOCATIONS)[pick % 3], condition)

    @precondition(lambda self: hasattr(self, "order"))
    @rule(share=st.integers(1, 100))
    def move_money(self, share: int) -> None:
        o = self.order
        if o.authorized == 0:
            total = o.totals
            self.authorize(int((total.ordered + total.tax) * 100) or 1)
        elif o.authorization_remaining > 0:
            self.capture(max(int(o.authorization_remaining * share), 1))
        elif o.refundable > 0:
            amount = max(int(o.refundable * share), 1)
            received = [r for r in o.returns.values() if r.status is ReturnStatus.RECEIVED]
            if received and share % 2:
                self.refund_return(self.returns.index(received[0].return_id), amount)
            else:
                self.refund(amount)

    # --- stock commands ---------------------------------------------------------------------

    @rule(
        sku=st.sampled_from(SKUS),
        location_id=st.sampled_from(sorted(LOCATIONS)),
        delta=st.integers(-4, 4),
    )
    def adjust_stock(self, sku: str, location_id: str, delta: int) -> None:
        item = self.item(sku, location_id)
        self.attempt(item, lambda: item.adjust(reason="count", quantity_delta=delta, at=self.now()))

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def reservations_match_open_allocations(self) -> None:
        if not hasattr(self, "order"):
            return
        for (sku, location_id), item in self.items.items():
            expected = 0
            for line in self.order.lines.values():
                if line.sku != sku:
                    continue
                here = line.allocated_at(location_id)
                expected += here
                assert (
                    item.reservations.get(reservation_key(self.order.id, line.line_id), 0) == here
                )
            assert item.reserved == expected
            assert item.id == inventory_item_id(sku, location_id)

    @invariant()
    def lines_account_for_every_unit(self) -> None:
        if not hasattr(self, "order"):
            return
        for line in self.order.lines.values():
            assert 0 <= line.shipped <= line.quantity - line.cancelled
            assert (
                line.quantity == line.cancelled + line.shipped + line.backordered + line.allocated
            )
            assert 0 <= line.returned <= line.shipped
            assert line.backordered >= 0

    @invariant()
    def money_flows_in_order(self) -> None:
        if not hasattr(self, "order"):
            return
        o = self.order
        assert Decimal(0) <= o.refunded <= o.captured <= o.authorized - o.voided
        assert o.voided >= 0

    @invariant()
    def stock_is_never_negative(self) -> None:
        for item in self.items.values():
            assert item.on_hand >= item.reserved >= 0
            assert item.available >= 0

    @invariant()
    def returns_never_exceed_shipments(self) -> None:
        if not hasattr(self, "order"):
            return
        for line in self.order.lines.values():
            claimed = line.shipped - self.order.returnable(line.line_id)
            assert 0 <= claimed <= line.shipped
        for ret in self.order.returns.values():
            if ret.status is ReturnStatus.RECEIVED:
                assert ret.received

    def _aggregates(self) -> list[Aggregate]:
        aggregates: list[Aggregate] = list(self.items.values())
        if hasattr(self, "order"):
            aggregates.append(self.order)
        return aggregates

    @invariant()
    def aggregates_keep_the_shape_the_cache_copies_cheaply(self) -> None:
        for aggregate in self._aggregates():
            assert not shape_violations(aggregate)

    @invariant()
    def replay_rebuilds_identical_aggregates(self) -> None:
        for aggregate in self._aggregates():
            rebuilt: Any = None
            for e in self.history[aggregate.id]:
                rebuilt = e.mutate(rebuilt)
            assert rebuilt == aggregate


OrderWithStock.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOrderWithStock = OrderWithStock.TestCase
