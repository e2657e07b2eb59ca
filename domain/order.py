"""The Order aggregate: the life of one customer order from placement to refund.

An order is the consistency boundary for everything a customer or agent does to it -- cancel
lines, hold, take payment, ship, return, refund -- so its rules live here and nowhere else. Every
command validates first in a plain method and only then triggers a private ``@event`` method that
merely mutates state, so a rejected command records nothing and replaying the events rebuilds
exactly the same order. Stock lives in ``InventoryItem`` aggregates; the order records which
locations hold its reservations and returns the releases/consumptions/restocks the application
must apply to those items in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.allocation import AllocationPlan
from domain.errors import (
    CancelExceedsRemainingError,
    CaptureExceedsAuthorizationError,
    DuplicateAdjustmentError,
    DuplicateHoldError,
    DuplicateLineError,
    DuplicateNoteError,
    DuplicateReturnError,
    DuplicateShipmentError,
    EmptyOrderError,
    ExceedsBackorderError,
    HoldAlreadyReleasedError,
    HoldNotFoundError,
    InvalidAddressError,
    InvalidAllocationPlanError,
    InvalidTaxRateError,
    LineAlreadyShippedError,
    LineCancelledError,
    LineNotFoundError,
    NoLinesGivenError,
    NothingToCancelError,
    NothingToVoidError,
    NothingUnshippedError,
    NotReservedAtLocationError,
    OrderCancelledError,
    OrderOnHoldError,
    ReceiptExceedsReturnError,
    RefundExceedsCapturedError,
    ReturnExceedsShippedError,
    ReturnNotApprovedError,
    ReturnNotAwaitingApprovalError,
    ReturnNotFoundError,
    ShipmentAlreadyDeliveredError,
    ShipmentNotFoundError,
)
from domain.location import require_location_id
from domain.money import ZERO, format_money, round_money, validate_amount, validate_currency
from domain.order_values import (
    Adjustment,
    Allocation,
    Authorization,
    AuthorizationFailure,
    CancelledLine,
    DeliveryException,
    Hold,
    LineQuantity,
    NewLine,
    Note,
    OrderLine,
    OrderTotals,
    PlacedLine,
    Restock,
    Return,
    ReturnedLine,
    Shipment,
    StockConsumption,
    StockRelease,
    StockReservation,
)
from domain.values import (
    Address,
    Channel,
    ExceptionKind,
    HoldType,
    OrderStatus,
    PaymentStatus,
    ReturnCondition,
    ReturnStatus,
    ShipmentStatus,
    require_aware,
    require_quantity,
    require_sku,
    require_text,
)


def _require_address(address: Address) -> Address:
    if not isinstance(address, Address):
        raise InvalidAddressError(f"expected an address, got {type(address).__name__}")
    return address


def _unique_line_ids(lines: Sequence[LineQuantity] | Sequence[ReturnedLine], what: str) -> None:
    seen: set[str] = set()
    for line in lines:
        if line.line_id in seen:
            raise DuplicateLineError(f"line {line.line_id} appears twice in the {what}")
        seen.add(line.line_id)


class Order(Aggregate):
    """One customer order. Construct with ``Order.place(...)``."""

    # --- events -----------------------------------------------------------------------------

    class Placed(Aggregate.Created):
        customer_id: UUID
        channel: Channel
        currency: str
        lines: tuple[PlacedLine, ...]
        shipping_address: Address
        shipping_method: str | None
        placed_at: datetime

    class LinesCancelled(Aggregate.Event):
        reason: str
        lines: tuple[CancelledLine, ...]
        cancelled_at: datetime

    class BackorderAllocated(Aggregate.Event):
        line_id: str
        location_id: str
        quantity: int

    class HoldPlaced(Aggregate.Event):
        hold_id: UUID
        type: HoldType
        reason: str

    class HoldReleased(Aggregate.Event):
        hold_id: UUID
        reason: str | None

    class Rejected(Aggregate.Event):
        """A hold ended in rejection: the hold is closed and everything unshipped cancelled."""

        hold_id: UUID
        reason: str
        lines: tuple[CancelledLine, ...]

    class PaymentAuthorized(Aggregate.Event):
        amount: Decimal
        provider: str
        reference: str

    class AuthorizationFailed(Aggregate.Event):
        provider: str
        reason: str

    class PaymentCaptured(Aggregate.Event):
        amount: Decimal

    class AuthorizationVoided(Aggregate.Event):
        amount: Decimal

    class PaymentRefunded(Aggregate.Event):
        amount: Decimal
        reason: str

    class Shipped(Aggregate.Event):
        shipment_id: UUID
        location_id: str
        lines: tuple[LineQuantity, ...]
        carrier: str
        tracking_number: str
        shipped_at: datetime

    class Delivered(Aggregate.Event):
        shipment_id: UUID

    class DeliveryExceptionRecorded(Aggregate.Event):
        shipment_id: UUID
        kind: ExceptionKind
        detail: str

    class ShippingAddressChanged(Aggregate.Event):
        address: Address

    class ReturnRequested(Aggregate.Event):
        return_id: UUID
        reason: str
        lines: tuple[LineQuantity, ...]

    class ReturnApproved(Aggregate.Event):
        return_id: UUID
        reason: str | None

    class ReturnRejected(Aggregate.Event):
        return_id: UUID
        reason: str | None

    class ReturnReceived(Aggregate.Event):
        return_id: UUID
        location_id: str
        lines: tuple[ReturnedLine, ...]

    class ReturnRefunded(Aggregate.Event):
        return_id: UUID
        amount: Decimal

    class AdjustmentAdded(Aggregate.Event):
        adjustment_id: UUID
        amount: Decimal
        reason: str

    class NoteAdded(Aggregate.Event):
        note_id: UUID
        text: str
        author: str

    # --- placing ----------------------------------------------------------------------------

    @classmethod
    def place(
        cls,
        *,
        order_id: UUID,
        customer_id: UUID,
        channel: Channel,
        currency: str,
        lines: Sequence[NewLine],
        shipping_address: Address,
        shipping_method: str | None,
        allocation: AllocationPlan,
        placed_at: datetime,
    ) -> Order:
        """Place an order whose stock is reserved as ``allocation`` says."""
        validate_currency(currency)
        channel = Channel(channel)
        require_aware(placed_at, "placed_at")
        _require_address(shipping_address)
        if shipping_method is not None:
            require_text(shipping_method, "shipping method", field="shipping_method")
        if not lines:
            raise EmptyOrderError("an order needs at least one line")
        if len(allocation.lines) != len(lines):
            raise InvalidAllocationPlanError(
                f"allocation plan covers {len(allocation.lines)} lines, the order has {len(lines)}"
            )
        placed: list[PlacedLine] = []
        for number, (line, planned) in enumerate(zip(lines, allocation.lines, strict=True), 1):
            field = f"lines.{number - 1}."  # the command's input, as interfaces name it
            require_sku(line.sku, field=field + "sku")
            require_quantity(line.quantity, f"quantity of line {number}", field=field + "quantity")
            price = validate_amount(
                line.unit_price, currency, what=f"unit price of line {number}", allow_zero=True,
                field=field + "unit_price",
            )
            rate = line.tax_rate
            if not isinstance(rate, Decimal) or not rate.is_finite() or not 0 <= rate < 1:
                raise InvalidTaxRateError(
                    f"tax rate of line {number} must be a Decimal from 0 up to (not including) 1,"
                    f" got {rate!r}", field=field + "tax_rate",
                )
            for reserved_at in planned.allocations:
                require_location_id(reserved_at.location_id)
            if planned.backordered < 0 or any(a.quantity <= 0 for a in planned.allocations):
                raise InvalidAllocationPlanError(
                    f"allocation plan for line {number} has a non-positive quantity"
                )
            if planned.quantity != line.quantity:
                raise InvalidAllocationPlanError(
                    f"allocation plan for line {number} accounts for {planned.quantity} units,"
                    f" the line orders {line.quantity}"
                )
            placed.append(
                PlacedLine(
                    line_id=str(number),
                    sku=line.sku,
                    quantity=line.quantity,
                    unit_price=price,
                    tax_rate=rate,
                    allocations=tuple(planned.allocations),
                    backordered=planned.backordered,
                )
            )
        return cls(
            id=order_id,
            customer_id=customer_id,
            channel=channel,
            currency=currency,
            lines=tuple(placed),
            shipping_address=shipping_address,
            shipping_method=shipping_method,
            placed_at=placed_at,
            timestamp=placed_at,
        )

    @event(Placed)
    def __init__(
        self,
        id: UUID,  # the library passes the aggregate id by this name
        customer_id: UUID,
        channel: Channel,
        currency: str,
        lines: tuple[PlacedLine, ...],
        shipping_address: Address,
        shipping_method: str | None,
        placed_at: datetime,
        timestamp: datetime,
    ) -> None:
        self.customer_id = customer_id
        self.channel = channel
        self.currency = currency
        self.shipping_address = shipping_address
        self.shipping_method = shipping_method
        self.placed_at = placed_at
        self.lines: dict[str, OrderLine] = {
            line.line_id: OrderLine(
                line_id=line.line_id,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                tax_rate=line.tax_rate,
                backordered=line.backordered,
                allocations=line.allocations,
            )
            for line in lines
        }
        # Keyed by str(uuid) so that state stays plain enough for any snapshot transcoder.
        self.holds: dict[str, Hold] = {}
        self.shipments: dict[str, Shipment] = {}
        self.returns: dict[str, Return] = {}
        self.authorizations: list[Authorization] = []
        self.authorization_failures: list[AuthorizationFailure] = []
        self.adjustments: list[Adjustment] = []
        self.notes: list[Note] = []
        self.authorized = ZERO
        self.captured = ZERO
        self.voided = ZERO
        self.refunded = ZERO
        self.return_refunded = ZERO

    # --- lookups ----------------------------------------------------------------------------

    def line(self, line_id: str) -> OrderLine:
        try:
            return self.lines[line_id]
        except KeyError:
            raise LineNotFoundError(
                f"order {self.id} has no line {line_id!r} (lines: {', '.join(self.lines)})"
            ) from None

    def hold(self, hold_id: UUID) -> Hold:
        try:
            return self.holds[str(hold_id)]
        except KeyError:
            raise HoldNotFoundError(f"order {self.id} has no hold {hold_id}") from None

    def shipment(self, shipment_id: UUID) -> Shipment:
        try:
            return self.shipments[str(shipment_id)]
        except KeyError:
            raise ShipmentNotFoundError(f"order {self.id} has no shipment {shipment_id}") from None

    def return_(self, return_id: UUID) -> Return:
        try:
            return self.returns[str(return_id)]
        except KeyError:
            raise ReturnNotFoundError(f"order {self.id} has no return {return_id}") from None

    # --- derived state for the read side ----------------------------------------------------

    @property
    def open_holds(self) -> list[Hold]:
        return [hold for hold in self.holds.values() if not hold.released]

    @property
    def is_on_hold(self) -> bool:
        return bool(self.open_holds)

    @property
    def is_cancelled(self) -> bool:
        return all(line.cancelled == line.quantity for line in self.lines.values())

    @property
    def unshipped(self) -> int:
        """Units neither shipped nor cancelled."""
        return sum(line.cancellable for line in self.lines.values())

    @property
    def status(self) -> OrderStatus:
        if self.is_on_hold:
            return OrderStatus.ON_HOLD
        if self.is_cancelled:
            return OrderStatus.CANCELLED
        shipped = sum(line.shipped for line in self.lines.values())
        if shipped == 0:
            return OrderStatus.OPEN
        if self.unshipped > 0:
            return OrderStatus.PARTIALLY_SHIPPED
        if all(s.status is ShipmentStatus.DELIVERED for s in self.shipments.values()):
            return OrderStatus.DELIVERED
        return OrderStatus.SHIPPED

    @property
    def authorization_remaining(self) -> Decimal:
        """Authorized and neither captured nor voided."""
        return self.authorized - self.captured - self.voided

    @property
    def refundable(self) -> Decimal:
        return self.captured - self.refunded

    @property
    def payment_status(self) -> PaymentStatus:
        if self.refunded > 0:
            if self.refunded >= self.captured:
                return PaymentStatus.REFUNDED
            return PaymentStatus.PARTIALLY_REFUNDED
        if self.captured > 0:
            if self.authorization_remaining > 0:
                return PaymentStatus.PARTIALLY_CAPTURED
            return PaymentStatus.CAPTURED
        if self.authorization_remaining > 0:
            return PaymentStatus.AUTHORIZED
        return PaymentStatus.UNPAID

    def line_tax(self, line: OrderLine) -> Decimal:
        """Tax on the units not cancelled, rounded half-up per line as invoices do."""
        return round_money(
            (line.quantity - line.cancelled) * line.unit_price * line.tax_rate, self.currency
        )

    @property
    def totals(self) -> OrderTotals:
        """Money view of the order.

        ``balance_due`` = (ordered - cancelled + tax) - credits - (captured - refunded), where
        credits are goodwill adjustments and return refunds. So a return refund leaves the balance
        unchanged (credit and payout cancel out), a goodwill adjustment makes it negative until
        paid out, and a plain refund raises it (money given back that was owed).
        """
        cur = self.currency
        ordered = round_money(
            sum((ln.quantity * ln.unit_price for ln in self.lines.values()), ZERO), cur
        )
        cancelled = round_money(
            sum((ln.cancelled * ln.unit_price for ln in self.lines.values()), ZERO), cur
        )
        tax = sum((self.line_tax(ln) for ln in self.lines.values()), round_money(ZERO, cur))
        adjustments = sum((a.amount for a in self.adjustments), round_money(ZERO, cur))
        owed = ordered - cancelled + tax
        # Goodwill and return refunds are credits; money actually kept is captured - refunded.
        credits = adjustments + self.return_refunded
        paid = self.captured - self.refunded
        return OrderTotals(
            ordered=ordered,
            cancelled=cancelled,
            tax=tax,
            adjustments=adjustments,
            authorized=round_money(self.authorized, cur),
            captured=round_money(self.captured, cur),
            refunded=round_money(self.refunded, cur),
            balance_due=round_money(owed - credits - paid, cur),
        )

    def returnable(self, line_id: str) -> int:
        """Shipped units of a line not already claimed by a return."""
        line = self.line(line_id)
        claimed = 0
        for ret in self.returns.values():
            if ret.status in (ReturnStatus.REQUESTED, ReturnStatus.APPROVED):
                claimed += ret.requested_of(line_id)
            elif ret.status is ReturnStatus.RECEIVED:
                claimed += sum(r.quantity for r in ret.received if r.line_id == line_id)
        return line.shipped - claimed

    # --- cancelling -------------------------------------------------------------------------

    def _plan_cancellation(self, lines: Sequence[LineQuantity] | None) -> list[CancelledLine]:
        if lines is None:
            wanted = [
                LineQuantity(line.line_id, line.cancellable)
                for line in self.lines.values()
                if line.cancellable > 0
            ]
            if not wanted:
                raise NothingToCancelError(
                    f"nothing left to cancel on order {self.id}: every unit is shipped or cancelled"
                )
        else:
            if not lines:
                raise NoLinesGivenError("name at least one line to cancel, or none for all",
                                        field="lines")
            _unique_line_ids(lines, "cancellation")
            wanted = list(lines)
        planned: list[CancelledLine] = []
        for want in wanted:
            line = self.line(want.line_id)
            require_quantity(want.quantity, f"quantity to cancel on line {want.line_id}")
            if want.quantity > line.cancellable:
                if line.cancellable == 0 and line.shipped > 0:
                    raise LineAlreadyShippedError(
                        f"cannot cancel line {line.line_id}: its units are shipped"
                        f" ({line.shipped} shipped, {line.cancelled} cancelled)"
                    )
                if line.cancellable == 0:
                    raise LineCancelledError(
                        f"cannot cancel line {line.line_id}: it is already cancelled"
                    )
                raise CancelExceedsRemainingError(
                    f"cannot cancel {want.quantity} of line {line.line_id}: only"
                    f" {line.cancellable} neither shipped nor cancelled"
                )
            planned.append(self._cancel_units(line, want.quantity))
        return planned

    @staticmethod
    def _cancel_units(line: OrderLine, quantity: int) -> CancelledLine:
        # Backordered units cost nothing to cancel; then release the reservations made last
        # (lowest priority), keeping stock at the preferred location for what remains.
        from_backorder = min(line.backordered, quantity)
        outstanding = quantity - from_backorder
        released: list[Allocation] = []
        for allocation in reversed(line.allocations):
            if outstanding == 0:
                break
            here = min(allocation.quantity, outstanding)
            released.append(Allocation(allocation.location_id, here))
            outstanding -= here
        return CancelledLine(line.line_id, quantity, from_backorder, tuple(released))

    def _releases(self, cancelled: Sequence[CancelledLine]) -> list[StockRelease]:
        return [
            StockRelease(self.lines[c.line_id].sku, r.location_id, c.line_id, r.quantity)
            for c in cancelled
            for r in c.released
        ]

    def cancel(
        self, *, reason: str, lines: Sequence[LineQuantity] | None, cancelled_at: datetime
    ) -> list[StockRelease]:
        """Cancel some units (or, with ``lines=None``, everything not yet shipped).

        Returns the reservations the application must release in the same transaction.
        """
        require_text(reason, "cancellation reason")
        require_aware(cancelled_at, "cancelled_at")
        planned = self._plan_cancellation(lines)
        self._cancel(
            reason=reason, lines=tuple(planned), cancelled_at=cancelled_at, timestamp=cancelled_at
        )
        return self._releases(planned)

    @event(LinesCancelled)
    def _cancel(
        self,
        reason: str,
        lines: tuple[CancelledLine, ...],
        cancelled_at: datetime,
        timestamp: datetime,
    ) -> None:
        self._apply_cancellation(lines)

    def _apply_cancellation(self, cancelled: tuple[CancelledLine, ...]) -> None:
        for c in cancelled:
            line = self.lines[c.line_id]
            remaining = list(line.allocations)
            for released in c.released:
                remaining = _take(remaining, released.location_id, released.quantity)
            self.lines[c.line_id] = replace(
                line,
                cancelled=line.cancelled + c.quantity,
                backordered=line.backordered - c.backordered,
                allocations=tuple(remaining),
            )

    # --- backorders ------------------------------------------------------------------------

    def allocate_backorder(
        self, *, line_id: str, location_id: str, quantity: int, at: datetime
    ) -> StockReservation:
        """Stock arrived for backordered units: reserve them at ``location_id``.

        Returns the reservation the application must make on the inventory item in the same
        transaction (which fails the whole command if the stock is not available after all).
        """
        require_location_id(location_id, field="location_id")
        require_aware(at, "at")
        line = self.line(line_id)
        require_quantity(quantity, f"quantity to allocate on line {line_id}")
        if quantity > line.backordered:
            raise ExceedsBackorderError(
                f"cannot allocate {quantity} of line {line_id}: only {line.backordered} backordered"
            )
        self._allocate_backorder(
            line_id=line_id, location_id=location_id, quantity=quantity, timestamp=at
        )
        return StockReservation(line.sku, location_id, line_id, quantity)

    @event(BackorderAllocated)
    def _allocate_backorder(
        self, line_id: str, location_id: str, quantity: int, timestamp: datetime
    ) -> None:
        line = self.lines[line_id]
        allocations = list(line.allocations)
        for i, allocation in enumerate(allocations):
            if allocation.location_id == location_id:
                allocations[i] = Allocation(location_id, allocation.quantity + quantity)
                break
        else:
            allocations.append(Allocation(location_id, quantity))
        self.lines[line_id] = replace(
            line, backordered=line.backordered - quantity, allocations=tuple(allocations)
        )

    # --- holds ------------------------------------------------------------------------------

    def place_hold(self, *, hold_id: UUID, type: HoldType, reason: str, at: datetime) -> None:
        """Stop fulfilment until the hold is released (fraud check, payment, address ...)."""
        hold_type = HoldType(type)
        require_text(reason, "hold reason")
        require_aware(at, "at")
        if str(hold_id) in self.holds:
            raise DuplicateHoldError(f"order {self.id} already has a hold {hold_id}")
        if self.is_cancelled:
            raise OrderCancelledError(f"cannot hold order {self.id}: it is cancelled")
        self._place_hold(hold_id=hold_id, type=hold_type, reason=reason, timestamp=at)

    @event(HoldPlaced)
    def _place_hold(self, hold_id: UUID, type: HoldType, reason: str, timestamp: datetime) -> None:
        self.holds[str(hold_id)] = Hold(hold_id, type, reason, timestamp)

    def _require_open_hold(self, hold_id: UUID) -> Hold:
        hold = self.hold(hold_id)
        if hold.released:
            raise HoldAlreadyReleasedError(f"hold {hold_id} on order {self.id} is already released")
        return hold

    def release_hold(self, *, hold_id: UUID, reason: str | None = None, at: datetime) -> None:
        if reason is not None:
            require_text(reason, "release reason")
        require_aware(at, "at")
        self._require_open_hold(hold_id)
        self._release_hold(hold_id=hold_id, reason=reason, timestamp=at)

    @event(HoldReleased)
    def _release_hold(self, hold_id: UUID, reason: str | None, timestamp: datetime) -> None:
        key = str(hold_id)
        self.holds[key] = replace(self.holds[key], released=True, release_reason=reason)

    def reject(self, *, hold_id: UUID, rejected_at: datetime) -> list[StockRelease]:
        """End a hold by rejecting the order: cancel everything unshipped for the hold's reason."""
        require_aware(rejected_at, "rejected_at")
        hold = self._require_open_hold(hold_id)
        planned = self._plan_cancellation(None)
        self._reject(
            hold_id=hold_id, reason=hold.reason, lines=tuple(planned), timestamp=rejected_at
        )
        return self._releases(planned)

    @event(Rejected)
    def _reject(
        self, hold_id: UUID, reason: str, lines: tuple[CancelledLine, ...], timestamp: datetime
    ) -> None:
        key = str(hold_id)
        self.holds[key] = replace(self.holds[key], released=True, release_reason=reason)
        self._apply_cancellation(lines)

    # --- payments ---------------------------------------------------------------------------

    def _money(self, amount: Decimal, what: str) -> Decimal:
        # Every payment command takes its amount as ``amount``.
        return validate_amount(amount, self.currency, what=what, field="amount")

    def authorize(self, *, amount: Decimal, provider: str, reference: str, at: datetime) -> None:
        """Record that a payment provider authorized ``amount`` (never card data)."""
        amount = self._money(amount, "authorized amount")
        require_text(provider, "payment provider")
        require_text(reference, "payment reference")
        require_aware(at, "at")
        if self.is_cancelled:
            raise OrderCancelledError(f"cannot authorize payment on order {self.id}: cancelled")
        self._authorize(amount=amount, provider=provider, reference=reference, timestamp=at)

    @event(PaymentAuthorized)
    def _authorize(
        self, amount: Decimal, provider: str, reference: str, timestamp: datetime
    ) -> None:
        self.authorizations.append(Authorization(amount, provider, reference, timestamp))
        self.authorized += amount

    def record_authorization_failure(self, *, provider: str, reason: str, at: datetime) -> None:
        require_text(provider, "payment provider")
        require_text(reason, "failure reason")
        require_aware(at, "at")
        self._fail_authorization(provider=provider, reason=reason, timestamp=at)

    @event(AuthorizationFailed)
    def _fail_authorization(self, provider: str, reason: str, timestamp: datetime) -> None:
        self.authorization_failures.append(AuthorizationFailure(provider, reason, timestamp))

    def capture(self, *, amount: Decimal, at: datetime) -> None:
        amount = self._money(amount, "capture amount")
        require_aware(at, "at")
        if amount > self.authorization_remaining:
            raise CaptureExceedsAuthorizationError(
                f"cannot capture {format_money(amount, self.currency)}: only"
                f" {format_money(self.authorization_remaining, self.currency)} authorized"
                " and not yet captured"
            )
        self._capture(amount=amount, timestamp=at)

    @event(PaymentCaptured)
    def _capture(self, amount: Decimal, timestamp: datetime) -> None:
        self.captured += amount

    def void_remaining_authorization(self, *, at: datetime) -> None:
        """Give back the part of the authorization that will never be captured."""
        require_aware(at, "at")
        remaining = self.authorization_remaining
        if remaining <= 0:
            raise NothingToVoidError(
                f"nothing to void on order {self.id}: every authorized amount is captured or voided"
            )
        self._void(amount=remaining, timestamp=at)

    @event(AuthorizationVoided)
    def _void(self, amount: Decimal, timestamp: datetime) -> None:
        self.voided += amount

    def _require_refundable(self, amount: Decimal) -> None:
        if amount > self.refundable:
            raise RefundExceedsCapturedError(
                f"cannot refund {format_money(amount, self.currency)}: only"
                f" {format_money(self.refundable, self.currency)} captured and not yet refunded"
            )

    def refund(self, *, amount: Decimal, reason: str, at: datetime) -> None:
        amount = self._money(amount, "refund amount")
        require_text(reason, "refund reason")
        require_aware(at, "at")
        self._require_refundable(amount)
        self._refund(amount=amount, reason=reason, timestamp=at)

    @event(PaymentRefunded)
    def _refund(self, amount: Decimal, reason: str, timestamp: datetime) -> None:
        self.refunded += amount

    # --- fulfilment -------------------------------------------------------------------------

    def ship(
        self,
        *,
        shipment_id: UUID,
        location_id: str,
        lines: Sequence[LineQuantity],
        carrier: str,
        tracking_number: str,
        shipped_at: datetime,
    ) -> list[StockConsumption]:
        """Ship reserved units from one location; returns the stock the parcel consumed."""
        require_location_id(location_id, field="location_id")
        require_text(carrier, "carrier")
        require_text(tracking_number, "tracking number")
        require_aware(shipped_at, "shipped_at")
        if str(shipment_id) in self.shipments:
            raise DuplicateShipmentError(f"order {self.id} already has a shipment {shipment_id}")
        if not lines:
            raise NoLinesGivenError("a shipment needs at least one line", field="lines")
        _unique_line_ids(lines, "shipment")
        for want in lines:
            line = self.line(want.line_id)
            require_quantity(want.quantity, f"quantity to ship on line {want.line_id}")
            if line.cancellable == 0:
                if line.shipped > 0:
                    raise LineAlreadyShippedError(
                        f"cannot ship line {line.line_id}: every unit not cancelled is shipped"
                    )
                raise LineCancelledError(f"cannot ship line {line.line_id}: it is cancelled")
            reserved_here = line.allocated_at(location_id)
            if want.quantity > reserved_here:
                raise NotReservedAtLocationError(
                    f"cannot ship {want.quantity} of line {line.line_id} from {location_id}:"
                    f" only {reserved_here} reserved there"
                )
        if self.is_on_hold:
            reasons = "; ".join(f"{h.type}: {h.reason}" for h in self.open_holds)
            raise OrderOnHoldError(f"cannot ship order {self.id} while it is on hold ({reasons})")
        self._ship(
            shipment_id=shipment_id,
            location_id=location_id,
            lines=tuple(LineQuantity(q.line_id, q.quantity) for q in lines),
            carrier=carrier,
            tracking_number=tracking_number,
            shipped_at=shipped_at,
            timestamp=shipped_at,
        )
        return [
            StockConsumption(
                self.lines[q.line_id].sku, location_id, q.line_id, q.quantity, shipment_id
            )
            for q in lines
        ]

    @event(Shipped)
    def _ship(
        self,
        shipment_id: UUID,
        location_id: str,
        lines: tuple[LineQuantity, ...],
        carrier: str,
        tracking_number: str,
        shipped_at: datetime,
        timestamp: datetime,
    ) -> None:
        for q in lines:
            line = self.lines[q.line_id]
            self.lines[q.line_id] = replace(
                line,
                shipped=line.shipped + q.quantity,
                allocations=tuple(_take(list(line.allocations), location_id, q.quantity)),
            )
        self.shipments[str(shipment_id)] = Shipment(
            shipment_id, location_id, lines, carrier, tracking_number, shipped_at
        )

    def mark_delivered(self, *, shipment_id: UUID, at: datetime) -> None:
        require_aware(at, "at")
        shipment = self.shipment(shipment_id)
        if shipment.status is ShipmentStatus.DELIVERED:
            raise ShipmentAlreadyDeliveredError(f"shipment {shipment_id} is already delivered")
        self._deliver(shipment_id=shipment_id, timestamp=at)

    @event(Delivered)
    def _deliver(self, shipment_id: UUID, timestamp: datetime) -> None:
        key = str(shipment_id)
        self.shipments[key] = replace(
            self.shipments[key], status=ShipmentStatus.DELIVERED, delivered_at=timestamp
        )

    def record_delivery_exception(
        self, *, shipment_id: UUID, kind: ExceptionKind, detail: str, at: datetime
    ) -> None:
        exception_kind = ExceptionKind(kind)
        require_text(detail, "exception detail")
        require_aware(at, "at")
        shipment = self.shipment(shipment_id)
        if shipment.status is ShipmentStatus.DELIVERED:
            raise ShipmentAlreadyDeliveredError(
                f"shipment {shipment_id} is delivered; report problems with it as a return"
            )
        self._record_exception(
            shipment_id=shipment_id, kind=exception_kind, detail=detail, timestamp=at
        )

    @event(DeliveryExceptionRecorded)
    def _record_exception(
        self, shipment_id: UUID, kind: ExceptionKind, detail: str, timestamp: datetime
    ) -> None:
        key = str(shipment_id)
        shipment = self.shipments[key]
        self.shipments[key] = replace(
            shipment,
            status=ShipmentStatus.EXCEPTION,
            exceptions=(*shipment.exceptions, DeliveryException(kind, detail, timestamp)),
        )

    def change_shipping_address(self, *, address: Address, at: datetime) -> None:
        _require_address(address)
        require_aware(at, "at")
        if self.unshipped == 0:
            raise NothingUnshippedError(
                f"cannot change the shipping address of order {self.id}: nothing is left to ship"
            )
        self._change_address(address=address, timestamp=at)

    @event(ShippingAddressChanged)
    def _change_address(self, address: Address, timestamp: datetime) -> None:
        self.shipping_address = address

    # --- returns ----------------------------------------------------------------------------

    def request_return(
        self,
        *,
        return_id: UUID,
        reason: str,
        lines: Sequence[LineQuantity],
        at: datetime,
    ) -> None:
        require_text(reason, "return reason")
        require_aware(at, "at")
        if str(return_id) in self.returns:
            raise DuplicateReturnError(f"order {self.id} already has a return {return_id}")
        if not lines:
            raise NoLinesGivenError("a return needs at least one line", field="lines")
        _unique_line_ids(lines, "return")
        for want in lines:
            require_quantity(want.quantity, f"quantity to return on line {want.line_id}")
            returnable = self.returnable(want.line_id)
            if want.quantity > returnable:
                raise ReturnExceedsShippedError(
                    f"cannot return {want.quantity} of line {want.line_id}: only {returnable}"
                    " shipped and not already returned"
                )
        self._request_return(
            return_id=return_id,
            reason=reason,
            lines=tuple(LineQuantity(q.line_id, q.quantity) for q in lines),
            timestamp=at,
        )

    @event(ReturnRequested)
    def _request_return(
        self, return_id: UUID, reason: str, lines: tuple[LineQuantity, ...], timestamp: datetime
    ) -> None:
        self.returns[str(return_id)] = Return(return_id, reason, lines, timestamp)

    def approve_return(
        self,
        *,
        return_id: UUID,
        approved: bool,
        reason: str | None = None,
        at: datetime,
    ) -> None:
        """Decide a return request: approved returns await the goods, rejected ones end."""
        if reason is not None:
            require_text(reason, "decision reason")
        require_aware(at, "at")
        ret = self.return_(return_id)
        if ret.status is not ReturnStatus.REQUESTED:
            raise ReturnNotAwaitingApprovalError(
                f"return {return_id} is {ret.status}, not awaiting a decision"
            )
        if approved:
            self._approve_return(return_id=return_id, reason=reason, timestamp=at)
        else:
            self._reject_return(return_id=return_id, reason=reason, timestamp=at)

    @event(ReturnApproved)
    def _approve_return(self, return_id: UUID, reason: str | None, timestamp: datetime) -> None:
        key = str(return_id)
        self.returns[key] = replace(
            self.returns[key], status=ReturnStatus.APPROVED, decision_reason=reason
        )

    @event(ReturnRejected)
    def _reject_return(self, return_id: UUID, reason: str | None, timestamp: datetime) -> None:
        key = str(return_id)
        self.returns[key] = replace(
            self.returns[key], status=ReturnStatus.REJECTED, decision_reason=reason
        )

    def receive_return(
        self,
        *,
        return_id: UUID,
        location_id: str,
        lines: Sequence[ReturnedLine],
        at: datetime,
    ) -> list[Restock]:
        """Goods of an approved return arrived; resellable units go back to stock there."""
        require_location_id(location_id, field="location_id")
        require_aware(at, "at")
        ret = self.return_(return_id)
        if ret.status is not ReturnStatus.APPROVED:
            raise ReturnNotApprovedError(
                f"cannot receive goods for return {return_id}: it is {ret.status}, not approved"
            )
        if not lines:
            raise NoLinesGivenError("a return receipt needs at least one line", field="lines")
        received: dict[str, int] = {}
        seen: set[tuple[str, ReturnCondition]] = set()
        for got in lines:
            condition = ReturnCondition(got.condition)
            if (got.line_id, condition) in seen:
                raise DuplicateLineError(
                    f"line {got.line_id} appears twice as {condition} in the receipt"
                )
            seen.add((got.line_id, condition))
            self.line(got.line_id)
            require_quantity(got.quantity, f"quantity received on line {got.line_id}")
            received[got.line_id] = received.get(got.line_id, 0) + got.quantity
        for line_id, quantity in received.items():
            requested = ret.requested_of(line_id)
            if quantity > requested:
                raise ReceiptExceedsReturnError(
                    f"received {quantity} of line {line_id} but return {return_id} covers"
                    f" {requested}"
                )
        normalized = tuple(
            ReturnedLine(g.line_id, g.quantity, ReturnCondition(g.condition)) for g in lines
        )
        self._receive_return(
            return_id=return_id, location_id=location_id, lines=normalized, timestamp=at
        )
        return [
            Restock(self.lines[g.line_id].sku, location_id, g.line_id, g.quantity, return_id)
            for g in normalized
            if g.condition is ReturnCondition.RESELLABLE
        ]

    @event(ReturnReceived)
    def _receive_return(
        self,
        return_id: UUID,
        location_id: str,
        lines: tuple[ReturnedLine, ...],
        timestamp: datetime,
    ) -> None:
        key = str(return_id)
        self.returns[key] = replace(
            self.returns[key], status=ReturnStatus.RECEIVED, location_id=location_id, received=lines
        )
        for got in lines:
            line = self.lines[got.line_id]
            self.lines[got.line_id] = replace(line, returned=line.returned + got.quantity)

    def refund_return(self, *, return_id: UUID, amount: Decimal, at: datetime) -> None:
        """Pay back money for an approved or received return (a credit, not a plain refund)."""
        amount = self._money(amount, "return refund amount")
        require_aware(at, "at")
        ret = self.return_(return_id)
        if ret.status not in (ReturnStatus.APPROVED, ReturnStatus.RECEIVED):
            raise ReturnNotApprovedError(
                f"cannot refund return {return_id}: it is {ret.status}, not approved"
            )
        self._require_refundable(amount)
        self._refund_return(return_id=return_id, amount=amount, timestamp=at)

    @event(ReturnRefunded)
    def _refund_return(self, return_id: UUID, amount: Decimal, timestamp: datetime) -> None:
        key = str(return_id)
        self.returns[key] = replace(self.returns[key], refunded=self.returns[key].refunded + amount)
        self.refunded += amount
        self.return_refunded += amount

    # --- care -------------------------------------------------------------------------------

    def add_adjustment(
        self, *, adjustment_id: UUID, amount: Decimal, reason: str, at: datetime
    ) -> None:
        """Credit the customer goodwill money (it lowers the balance due)."""
        amount = self._money(amount, "adjustment amount")
        require_text(reason, "adjustment reason")
        require_aware(at, "at")
        if any(a.adjustment_id == adjustment_id for a in self.adjustments):
            raise DuplicateAdjustmentError(
                f"order {self.id} already has an adjustment {adjustment_id}"
            )
        self._add_adjustment(
            adjustment_id=adjustment_id, amount=amount, reason=reason, timestamp=at
        )

    @event(AdjustmentAdded)
    def _add_adjustment(
        self, adjustment_id: UUID, amount: Decimal, reason: str, timestamp: datetime
    ) -> None:
        self.adjustments.append(Adjustment(adjustment_id, amount, reason, timestamp))

    def add_note(self, *, note_id: UUID, text: str, author: str, at: datetime) -> None:
        require_text(text, "note text")
        require_text(author, "note author")
        require_aware(at, "at")
        if any(n.note_id == note_id for n in self.notes):
            raise DuplicateNoteError(f"order {self.id} already has a note {note_id}")
        self._add_note(note_id=note_id, text=text, author=author, timestamp=at)

    @event(NoteAdded)
    def _add_note(self, note_id: UUID, text: str, author: str, timestamp: datetime) -> None:
        self.notes.append(Note(note_id, text, author, timestamp))


def _take(allocations: list[Allocation], location_id: str, quantity: int) -> list[Allocation]:
    """Remove ``quantity`` units reserved at ``location_id`` from a line's allocations."""
    result: list[Allocation] = []
    for allocation in allocations:
        if allocation.location_id == location_id and quantity > 0:
            here = min(allocation.quantity, quantity)
            quantity -= here
            if allocation.quantity > here:
                result.append(Allocation(location_id, allocation.quantity - here))
        else:
            result.append(allocation)
    if quantity:
        # Commands check reservations before triggering events, so this means a corrupt log.
        raise RuntimeError(f"{quantity} more units than reserved at {location_id}")
    return result
