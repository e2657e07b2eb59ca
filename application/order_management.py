"""The order management application: every command loads aggregates, asks the domain, and
saves all changed aggregates atomically with the command's envelope.

Handlers are verbs. They never decide business rules (the domain does) and never format
responses (interfaces do). What varies per run — the clock and new ids — is injected, so a
test can fix both. Commands that touch inventory retry, a bounded number of times, when
another command saved the same inventory item first (optimistic concurrency).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import EnvType

from application.envelope import Envelope
from application.errors import (
    AlreadyExistsError,
    ContentionError,
    InvalidRequestError,
    NotFoundError,
    StaleVersionError,
)
from application.event_store import EvidentFactory
from domain.allocation import StockAtLocation, plan_allocation
from domain.customer import Customer
from domain.inventory import InventoryItem, inventory_item_id
from domain.location import LocationNetwork
from domain.order import Order
from domain.order_values import LineQuantity, NewLine, StockRelease
from domain.values import Address, Channel, LocationKind

log = logging.getLogger("evident.application")

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class CommandResult:
    """What a command answers (API.md): the aggregate, its new version, the log position."""

    id: UUID
    version: int
    position: int
    aggregate: Any


def _now() -> datetime:
    return datetime.now(UTC)


class OrderManagement(Application[UUID]):
    """Evident's application service for orders, inventory, locations and customers."""

    name = "Evident"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Order: 50, InventoryItem: 200, LocationNetwork: 100
    }

    def __init__(
        self,
        env: EnvType,
        *,
        clock: Callable[[], datetime] = _now,
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self.clock = clock
        self.new_id = new_id
        super().__init__(env)

    def construct_factory(self, env: Any) -> Any:
        return EvidentFactory(env)

    # --- plumbing ---------------------------------------------------------------------------

    def _commit(self, *aggregates: Aggregate, envelope: Envelope) -> int:
        recordings: list[Recording[UUID]] = self.save(*aggregates, envelope=envelope)
        return max(r.notification.id for r in recordings) if recordings else 0

    def _result(self, aggregate: Aggregate, position: int) -> CommandResult:
        return CommandResult(aggregate.id, aggregate.version, position, aggregate)

    def _load(self, cls: type[A], aggregate_id: UUID, what: str) -> A:
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(f"there is no {what} {aggregate_id}") from None
        if not isinstance(aggregate, cls):
            raise NotFoundError(f"there is no {what} {aggregate_id}")
        return aggregate

    def _load_optional(self, aggregate_id: UUID) -> Any | None:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    @staticmethod
    def _check_version(aggregate: Aggregate, expected_version: int | None) -> None:
        if expected_version is not None and aggregate.version != expected_version:
            raise StaleVersionError(
                f"expected version {expected_version}, but it is at version {aggregate.version}",
                field="If-Match",
            )

    def _retrying(self, command: Callable[[], T]) -> T:
        """Run ``command`` again when another writer saved the same aggregate first."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return command()
            except IntegrityError:
                if attempt == MAX_ATTEMPTS:
                    break
                time.sleep(random.uniform(0, 0.002 * attempt))
        raise ContentionError(
            f"gave up after {MAX_ATTEMPTS} attempts: other commands kept changing the same"
            " aggregates; retry the request"
        )

    # --- locations and inventory ------------------------------------------------------------

    def network(self) -> LocationNetwork | None:
        found = self._load_optional(LocationNetwork.ID)
        return found if isinstance(found, LocationNetwork) else None

    def add_location(
        self, *, location_id: str, name: str, kind: LocationKind, priority: int,
        envelope: Envelope,
    ) -> CommandResult:
        def command() -> CommandResult:
            at = self.clock()
            network = self.network() or LocationNetwork.create(at=at)
            network.add_location(
                location_id=location_id, name=name, kind=kind, priority=priority, at=at
            )
            return self._result(network, self._commit(network, envelope=envelope))

        return self._retrying(command)

    def _inventory_item(self, sku: str, location_id: str, at: datetime) -> InventoryItem:
        network = self.network()
        if network is None:
            raise NotFoundError(f"there is no location {location_id!r}", field="location_id")
        try:
            network.location(location_id)
        except Exception as e:
            raise NotFoundError(str(e), field="location_id") from e
        found = self._load_optional(inventory_item_id(sku, location_id))
        return found if isinstance(found, InventoryItem) else InventoryItem.create(
            sku=sku, location_id=location_id, at=at
        )

    def receive_stock(
        self, *, sku: str, location_id: str, quantity: int, envelope: Envelope
    ) -> CommandResult:
        def command() -> CommandResult:
            at = self.clock()
            item = self._inventory_item(sku, location_id, at)
            item.receive(quantity=quantity, at=at)
            return self._result(item, self._commit(item, envelope=envelope))

        return self._retrying(command)

    def inventory_items(self, sku: str) -> list[InventoryItem]:
        """The SKU's inventory items at every known location (those that exist)."""
        network = self.network()
        if network is None:
            return []
        items = []
        for location in network.by_priority:
            found = self._load_optional(inventory_item_id(sku, location.location_id))
            if isinstance(found, InventoryItem):
                items.append(found)
        return items

    # --- customers --------------------------------------------------------------------------

    def register_customer(
        self,
        *,
        customer_id: UUID | None,
        name: str,
        email: str,
        phone: str | None,
        address: Address | None,
        envelope: Envelope,
    ) -> CommandResult:
        customer_id = customer_id or self.new_id()
        if self._load_optional(customer_id) is not None:
            raise AlreadyExistsError(f"customer {customer_id} already exists", field="id")
        customer = Customer.register(
            customer_id=customer_id, name=name, email=email, phone=phone, address=address,
            registered_at=self.clock(),
        )
        try:
            return self._result(customer, self._commit(customer, envelope=envelope))
        except IntegrityError:
            raise AlreadyExistsError(f"customer {customer_id} already exists", field="id") from None

    # --- orders -----------------------------------------------------------------------------

    def get_order(self, order_id: UUID, version: int | None = None) -> Order:
        try:
            order: Any = self.repository.get(order_id, version=version)
        except AggregateNotFoundError:
            raise NotFoundError(f"there is no order {order_id}") from None
        if not isinstance(order, Order):
            raise NotFoundError(f"there is no order {order_id}")
        return order

    def place_order(
        self,
        *,
        order_id: UUID | None,
        customer_id: UUID,
        channel: Channel,
        currency: str,
        lines: Sequence[NewLine],
        shipping_address: Address,
        shipping_method: str | None,
        envelope: Envelope,
    ) -> CommandResult:
        """Place an order and reserve its stock in the same transaction."""
        order_id = order_id or self.new_id()
        if self._load_optional(order_id) is not None:
            raise AlreadyExistsError(f"order {order_id} already exists", field="id")
        customer = self._load_optional(customer_id)
        if not isinstance(customer, Customer):
            raise InvalidRequestError(
                f"there is no customer {customer_id}: register the customer first",
                field="customer_id",
            )

        def command() -> CommandResult:
            at = self.clock()
            items = {
                (item.sku, item.location_id): item
                for sku in dict.fromkeys(line.sku for line in lines)
                for item in self.inventory_items(sku)
            }
            network = self.network()
            priority = {loc.location_id: loc.priority for loc in network.by_priority} if (
                network
            ) else {}
            stock: dict[str, list[StockAtLocation]] = {}
            for (sku, location_id), item in items.items():
                stock.setdefault(sku, []).append(
                    StockAtLocation(location_id, priority[location_id], item.available)
                )
            plan = plan_allocation(lines, stock)
            order = Order.place(
                order_id=order_id,
                customer_id=customer_id,
                channel=channel,
                currency=currency,
                lines=lines,
                shipping_address=shipping_address,
                shipping_method=shipping_method,
                allocation=plan,
                placed_at=at,
            )
            touched: dict[tuple[str, str], InventoryItem] = {}
            for line in order.lines.values():
                for allocation in line.allocations:
                    item = items[(line.sku, allocation.location_id)]
                    item.reserve(
                        order_id=order_id, line_id=line.line_id,
                        quantity=allocation.quantity, at=at,
                    )
                    touched[(line.sku, allocation.location_id)] = item
            return self._result(
                order, self._commit(order, *touched.values(), envelope=envelope)
            )

        try:
            return self._retrying(command)
        except AlreadyExistsError:
            raise

    def _release(
        self, order_id: UUID, releases: Iterable[StockRelease], at: datetime
    ) -> list[InventoryItem]:
        items: dict[UUID, InventoryItem] = {}
        for release in releases:
            item_id = inventory_item_id(release.sku, release.location_id)
            item = items.get(item_id) or self._load(InventoryItem, item_id, "inventory item")
            item.release(
                order_id=order_id, line_id=release.line_id, quantity=release.quantity, at=at
            )
            items[item_id] = item
        return list(items.values())

    def cancel_order(
        self,
        order_id: UUID,
        *,
        reason: str,
        lines: Sequence[LineQuantity] | None,
        envelope: Envelope,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Cancel given line quantities (or all that is unshipped) and release their stock."""

        def command() -> CommandResult:
            at = self.clock()
            order = self._load(Order, order_id, "order")
            self._check_version(order, expected_version)
            releases = order.cancel(reason=reason, lines=lines, cancelled_at=at)
            items = self._release(order_id, releases, at)
            return self._result(
                order, self._commit(order, *items, envelope=envelope.with_reason(reason))
            )

        return self._retrying(command)
