"""Stock of one SKU at one location, and the reservations orders hold against it.

Each (SKU, location) pair is its own small aggregate so that orders for different SKUs, or the
same SKU at different locations, never contend for the same version. Its id is derived from the
pair (uuid5), so the application finds it without a lookup table. The invariants: on hand never
goes negative, reservations never exceed on hand, and an order line can only release or consume
what it reserved here -- which is why reservations are kept per (order, line).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    ExceedsReservationError,
    InsufficientStockError,
    InvalidAdjustmentError,
    InvalidQuantityError,
    StockBelowReservedError,
)
from domain.location import require_location_id
from domain.values import require_aware, require_quantity, require_sku, require_text

INVENTORY_NAMESPACE = UUID("5b0f4a3e-8c1d-4d61-9a57-2f1e8e6b7c10")


@lru_cache(maxsize=65536)
def inventory_item_id(sku: str, location_id: str) -> UUID:
    """The id of the inventory item for ``sku`` at ``location_id`` (stable forever; remembered,
    since every order asks for it at every location)."""
    return uuid5(INVENTORY_NAMESPACE, f"{sku}@{location_id}")


def reservation_key(order_id: UUID, line_id: str) -> str:
    return f"{order_id}/{line_id}"


class InventoryItem(Aggregate):
    """Units of one SKU at one location. Construct with ``InventoryItem.create(...)``."""

    class Created(Aggregate.Created):
        sku: str
        location_id: str

    class Received(Aggregate.Event):
        quantity: int

    class Adjusted(Aggregate.Event):
        """On hand corrected by ``quantity_delta``; ``counted`` is set for cycle counts."""

        reason: str
        quantity_delta: int
        counted: int | None

    class SafetyStockChanged(Aggregate.Event):
        quantity: int

    class Reserved(Aggregate.Event):
        order_id: UUID
        line_id: str
        quantity: int

    class Released(Aggregate.Event):
        order_id: UUID
        line_id: str
        quantity: int

    class Consumed(Aggregate.Event):
        order_id: UUID
        line_id: str
        quantity: int
        shipment_id: UUID

    class Restocked(Aggregate.Event):
        order_id: UUID
        return_id: UUID
        quantity: int

    @classmethod
    def create(cls, *, sku: str, location_id: str, at: datetime) -> InventoryItem:
        require_sku(sku)
        require_location_id(location_id, field="location_id")
        require_aware(at, "at")
        return cls(
            id=inventory_item_id(sku, location_id), sku=sku, location_id=location_id, timestamp=at
        )

    @event(Created)
    def __init__(self, id: UUID, sku: str, location_id: str, timestamp: datetime) -> None:
        self.sku = sku
        self.location_id = location_id
        self.on_hand = 0
        self.reserved = 0
        self.safety_stock = 0
        # "order_id/line_id" -> units reserved here and not yet released or consumed.
        self.reservations: dict[str, int] = {}

    @property
    def available(self) -> int:
        """What new orders may reserve: on hand - reserved - safety stock, never below 0."""
        return max(self.on_hand - self.reserved - self.safety_stock, 0)

    def reserved_for(self, order_id: UUID, line_id: str) -> int:
        return self.reservations.get(reservation_key(order_id, line_id), 0)

    def _describe(self) -> str:
        return (
            f"{self.sku} at {self.location_id} (on hand {self.on_hand}, reserved {self.reserved},"
            f" safety stock {self.safety_stock})"
        )

    # --- stock movements --------------------------------------------------------------------

    def receive(self, *, quantity: int, at: datetime) -> None:
        require_quantity(quantity, "quantity received")
        require_aware(at, "at")
        self._receive(quantity=quantity, timestamp=at)

    @event(Received)
    def _receive(self, quantity: int, timestamp: datetime) -> None:
        self.on_hand += quantity

    def adjust(
        self,
        *,
        reason: str,
        quantity_delta: int | None = None,
        counted: int | None = None,
        at: datetime,
    ) -> None:
        """Correct on hand by a signed delta, or to a counted quantity (cycle count)."""
        require_text(reason, "adjustment reason")
        require_aware(at, "at")
        if (quantity_delta is None) == (counted is None):
            raise InvalidAdjustmentError("give either quantity_delta or counted, not both or none")
        if counted is not None:
            if isinstance(counted, bool) or not isinstance(counted, int) or counted < 0:
                raise InvalidQuantityError(f"counted must be a whole number >= 0, got {counted!r}")
            delta = counted - self.on_hand
        else:
            given = quantity_delta
            if isinstance(given, bool) or not isinstance(given, int) or given == 0:
                raise InvalidQuantityError(
                    f"quantity_delta must be a non-zero whole number, got {quantity_delta!r}"
                )
            delta = given
        if self.on_hand + delta < self.reserved:
            raise StockBelowReservedError(
                f"cannot adjust {self._describe()} by {delta}: on hand would be"
                f" {self.on_hand + delta}, below the {self.reserved} reserved"
            )
        self._adjust(reason=reason, quantity_delta=delta, counted=counted, timestamp=at)

    @event(Adjusted)
    def _adjust(
        self, reason: str, quantity_delta: int, counted: int | None, timestamp: datetime
    ) -> None:
        self.on_hand += quantity_delta

    def set_safety_stock(self, *, quantity: int, at: datetime) -> None:
        """Keep ``quantity`` units back from orders (display stock, damage buffer)."""
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise InvalidQuantityError(
                f"safety stock must be a whole number >= 0, got {quantity!r}"
            )
        require_aware(at, "at")
        self._change_safety_stock(quantity=quantity, timestamp=at)

    @event(SafetyStockChanged)
    def _change_safety_stock(self, quantity: int, timestamp: datetime) -> None:
        self.safety_stock = quantity

    # --- reservations -----------------------------------------------------------------------

    def reserve(self, *, order_id: UUID, line_id: str, quantity: int, at: datetime) -> None:
        require_text(line_id, "line id")
        require_quantity(quantity, "quantity to reserve")
        require_aware(at, "at")
        if quantity > self.available:
            raise InsufficientStockError(
                f"cannot reserve {quantity} of {self._describe()}: only {self.available} available"
            )
        self._reserve(order_id=order_id, line_id=line_id, quantity=quantity, timestamp=at)

    @event(Reserved)
    def _reserve(self, order_id: UUID, line_id: str, quantity: int, timestamp: datetime) -> None:
        key = reservation_key(order_id, line_id)
        self.reservations[key] = self.reservations.get(key, 0) + quantity
        self.reserved += quantity

    def _require_reserved(self, order_id: UUID, line_id: str, quantity: int, verb: str) -> None:
        held = self.reserved_for(order_id, line_id)
        if quantity > held:
            raise ExceedsReservationError(
                f"cannot {verb} {quantity} of {self.sku} at {self.location_id} for order"
                f" {order_id} line {line_id}: only {held} reserved for it here"
            )

    def release(self, *, order_id: UUID, line_id: str, quantity: int, at: datetime) -> None:
        require_quantity(quantity, "quantity to release")
        require_aware(at, "at")
        self._require_reserved(order_id, line_id, quantity, "release")
        self._release(order_id=order_id, line_id=line_id, quantity=quantity, timestamp=at)

    @event(Released)
    def _release(self, order_id: UUID, line_id: str, quantity: int, timestamp: datetime) -> None:
        self._unreserve(order_id, line_id, quantity)

    def _unreserve(self, order_id: UUID, line_id: str, quantity: int) -> None:
        key = reservation_key(order_id, line_id)
        left = self.reservations[key] - quantity
        if left:
            self.reservations[key] = left
        else:
            del self.reservations[key]
        self.reserved -= quantity

    def consume(
        self, *, order_id: UUID, line_id: str, quantity: int, shipment_id: UUID, at: datetime
    ) -> None:
        """Reserved units left the building in a shipment."""
        require_quantity(quantity, "quantity shipped")
        require_aware(at, "at")
        self._require_reserved(order_id, line_id, quantity, "ship")
        self._consume(
            order_id=order_id,
            line_id=line_id,
            quantity=quantity,
            shipment_id=shipment_id,
            timestamp=at,
        )

    @event(Consumed)
    def _consume(
        self,
        order_id: UUID,
        line_id: str,
        quantity: int,
        shipment_id: UUID,
        timestamp: datetime,
    ) -> None:
        self._unreserve(order_id, line_id, quantity)
        self.on_hand -= quantity

    def restock(self, *, order_id: UUID, return_id: UUID, quantity: int, at: datetime) -> None:
        """Resellable returned units are back on the shelf."""
        require_quantity(quantity, "quantity restocked")
        require_aware(at, "at")
        self._restock(order_id=order_id, return_id=return_id, quantity=quantity, timestamp=at)

    @event(Restocked)
    def _restock(self, order_id: UUID, return_id: UUID, quantity: int, timestamp: datetime) -> None:
        self.on_hand += quantity
