"""The value objects an order is made of: command inputs, event payloads and line state.

They are frozen dataclasses of plain values so they can travel inside events (and snapshots)
unchanged, and so the order's state can be copied and compared safely. Inputs (``NewLine``,
``LineQuantity``, ``ReturnedLine``) are what callers pass; outputs (``StockRelease``,
``StockConsumption``, ``Restock``) tell the application which inventory items to change in the
same transaction as the order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from domain.values import (
    ExceptionKind,
    HoldType,
    ReturnCondition,
    ReturnStatus,
    ShipmentStatus,
)

# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewLine:
    """A line of an order being placed."""

    sku: str
    quantity: int
    unit_price: Decimal
    tax_rate: Decimal = Decimal(0)


@dataclass(frozen=True)
class LineQuantity:
    """Some units of one order line (to cancel, ship or return)."""

    line_id: str
    quantity: int


@dataclass(frozen=True)
class ReturnedLine:
    """Units of a line received back, and the condition they came back in."""

    line_id: str
    quantity: int
    condition: ReturnCondition


@dataclass(frozen=True)
class Allocation:
    """Units of a line reserved at one location."""

    location_id: str
    quantity: int


# --- outputs for the application ------------------------------------------------------------


@dataclass(frozen=True)
class StockRelease:
    """Release this many units reserved for the order line at the location."""

    sku: str
    location_id: str
    line_id: str
    quantity: int


@dataclass(frozen=True)
class StockReservation:
    """Reserve this many units for the order line at the location."""

    sku: str
    location_id: str
    line_id: str
    quantity: int


@dataclass(frozen=True)
class StockConsumption:
    """These reserved units left the location in a shipment."""

    sku: str
    location_id: str
    line_id: str
    quantity: int
    shipment_id: UUID


@dataclass(frozen=True)
class Restock:
    """Resellable returned units to put back on hand at the location."""

    sku: str
    location_id: str
    line_id: str
    quantity: int
    return_id: UUID


# --- event payloads -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacedLine:
    line_id: str
    sku: str
    quantity: int
    unit_price: Decimal
    tax_rate: Decimal
    allocations: tuple[Allocation, ...]
    backordered: int


@dataclass(frozen=True)
class CancelledLine:
    """Units cancelled on a line: ``backordered`` of them were never reserved, ``released``
    were reserved at these locations and are released."""

    line_id: str
    quantity: int
    backordered: int
    released: tuple[Allocation, ...]


# --- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderLine:
    """What is known about one line. ``allocations`` is what is still reserved and unshipped."""

    line_id: str
    sku: str
    quantity: int
    unit_price: Decimal
    tax_rate: Decimal
    cancelled: int = 0
    shipped: int = 0
    returned: int = 0
    backordered: int = 0
    allocations: tuple[Allocation, ...] = ()

    @property
    def cancellable(self) -> int:
        """Units neither shipped nor cancelled yet."""
        return self.quantity - self.cancelled - self.shipped

    @property
    def allocated(self) -> int:
        return sum(a.quantity for a in self.allocations)

    def allocated_at(self, location_id: str) -> int:
        return sum(a.quantity for a in self.allocations if a.location_id == location_id)


@dataclass(frozen=True)
class Hold:
    hold_id: UUID
    type: HoldType
    reason: str
    placed_at: datetime
    released: bool = False
    release_reason: str | None = None


@dataclass(frozen=True)
class DeliveryException:
    kind: ExceptionKind
    detail: str
    at: datetime


@dataclass(frozen=True)
class Shipment:
    shipment_id: UUID
    location_id: str
    lines: tuple[LineQuantity, ...]
    carrier: str
    tracking_number: str
    shipped_at: datetime
    status: ShipmentStatus = ShipmentStatus.SHIPPED
    delivered_at: datetime | None = None
    exceptions: tuple[DeliveryException, ...] = ()


@dataclass(frozen=True)
class Return:
    return_id: UUID
    reason: str
    lines: tuple[LineQuantity, ...]
    requested_at: datetime
    status: ReturnStatus = ReturnStatus.REQUESTED
    decision_reason: str | None = None
    location_id: str | None = None
    received: tuple[ReturnedLine, ...] = ()
    refunded: Decimal = field(default=Decimal(0))

    def requested_of(self, line_id: str) -> int:
        return sum(q.quantity for q in self.lines if q.line_id == line_id)


@dataclass(frozen=True)
class Authorization:
    amount: Decimal
    provider: str
    reference: str
    at: datetime


@dataclass(frozen=True)
class AuthorizationFailure:
    provider: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Adjustment:
    adjustment_id: UUID
    amount: Decimal
    reason: str
    at: datetime


@dataclass(frozen=True)
class Note:
    note_id: UUID
    text: str
    author: str
    at: datetime


@dataclass(frozen=True)
class OrderTotals:
    """Money totals as the read side shows them (all in the order's currency)."""

    ordered: Decimal
    cancelled: Decimal
    tax: Decimal
    adjustments: Decimal
    authorized: Decimal
    captured: Decimal
    refunded: Decimal
    balance_due: Decimal
