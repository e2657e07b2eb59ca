"""Named domain errors: why a command was rejected, in words a person can act on.

Every rejected command raises one of these (never ``assert``, a bool or a silent no-op), and the
message names the rule and the values involved. Each class carries a ``kind`` -- ``not_found``,
``conflict`` (a business rule was violated) or ``invalid`` (bad input) -- so the interface layer
maps errors to responses in one table without knowing every class, and without the domain
knowing about HTTP.
"""

from __future__ import annotations

from typing import ClassVar, Literal

ErrorKind = Literal["not_found", "conflict", "invalid"]


class DomainError(Exception):
    """A command broke a rule of the domain; nothing was recorded.

    ``field``: the command's input at fault, where one is (``email``), so that an interface
    can name it beside the message.
    """

    kind: ClassVar[ErrorKind] = "conflict"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# --- input that no aggregate could accept -------------------------------------------------


class ValidationError(DomainError):
    """Input is malformed whatever the state of the aggregate."""

    kind = "invalid"


class InvalidQuantityError(ValidationError):
    """A quantity is not a positive integer."""


class InvalidAmountError(ValidationError):
    """A money amount is negative, zero, not a Decimal, or too precise for its currency."""


class InvalidCurrencyError(ValidationError):
    """A currency is not an ISO 4217 three-letter uppercase code, or is one of the codes
    that price nothing (metals, bond units, testing, "no currency")."""


class InvalidAddressError(ValidationError):
    """A postal address is missing a required part or has an invalid country."""


class InvalidTimestampError(ValidationError):
    """A time was given without a timezone."""


class BlankTextError(ValidationError):
    """A reason, note or name that must be given is empty."""


class InvalidIdentifierError(ValidationError):
    """An identifier (SKU, location id, line id ...) has the wrong shape."""


# --- orders ---------------------------------------------------------------------------------


class OrderError(DomainError):
    """An order command was rejected."""


class EmptyOrderError(OrderError):
    kind = "invalid"


class InvalidTaxRateError(OrderError):
    kind = "invalid"


class InvalidAllocationPlanError(OrderError):
    """The allocation plan does not account for exactly the ordered units."""

    kind = "invalid"


class NoLinesGivenError(OrderError):
    """A command about some lines named none."""

    kind = "invalid"


class DuplicateLineError(OrderError):
    """The same order line appears twice in one command."""

    kind = "invalid"


class LineNotFoundError(OrderError):
    kind = "not_found"


class HoldNotFoundError(OrderError):
    kind = "not_found"


class ShipmentNotFoundError(OrderError):
    kind = "not_found"


class ReturnNotFoundError(OrderError):
    kind = "not_found"


class OrderCancelledError(OrderError):
    """The order is entirely cancelled, so it accepts no further fulfilment."""


class NothingToCancelError(OrderError):
    pass


class CancelExceedsRemainingError(OrderError):
    pass


class ExceedsBackorderError(OrderError):
    """Allocating more units of a line than are waiting on backorder."""


class LineAlreadyShippedError(OrderError):
    pass


class LineCancelledError(OrderError):
    pass


class OrderOnHoldError(OrderError):
    pass


class DuplicateHoldError(OrderError):
    pass


class HoldAlreadyReleasedError(OrderError):
    pass


class DuplicateShipmentError(OrderError):
    pass


class NotReservedAtLocationError(OrderError):
    """Shipping more units from a location than are reserved there for the line."""


class ShipmentAlreadyDeliveredError(OrderError):
    pass


class NothingUnshippedError(OrderError):
    pass


class CaptureExceedsAuthorizationError(OrderError):
    pass


class RefundExceedsCapturedError(OrderError):
    pass


class NothingToVoidError(OrderError):
    pass


class CurrencyMismatchError(OrderError):
    kind = "invalid"


class DuplicateReturnError(OrderError):
    pass


class ReturnExceedsShippedError(OrderError):
    pass


class ReturnNotAwaitingApprovalError(OrderError):
    pass


class ReturnNotApprovedError(OrderError):
    """The return is not (or no longer) approved and awaiting goods."""


class ReturnNotReceivedError(OrderError):
    pass


class ReceiptExceedsReturnError(OrderError):
    pass


class DuplicateAdjustmentError(OrderError):
    pass


class DuplicateNoteError(OrderError):
    """A note with this id was already added to the order."""


# --- inventory ------------------------------------------------------------------------------


class InventoryError(DomainError):
    """An inventory command was rejected."""


class InsufficientStockError(InventoryError):
    pass


class StockBelowReservedError(InventoryError):
    """On hand would fall below what is reserved (or below zero)."""


class ExceedsReservationError(InventoryError):
    """Releasing or consuming more than an order line reserved at this location."""


class InvalidAdjustmentError(InventoryError):
    kind = "invalid"


# --- customers ------------------------------------------------------------------------------


class CustomerError(DomainError):
    """A customer command was rejected."""


class InvalidEmailError(CustomerError):
    kind = "invalid"


class InvalidPhoneError(CustomerError):
    """A phone number that no one could dial: letters, too few or too many digits."""

    kind = "invalid"


class CustomerErasedError(CustomerError):
    """The customer's personal data was erased; nothing personal may be recorded again."""


class AddressLabelExistsError(CustomerError):
    pass


class AddressNotFoundError(CustomerError):
    kind = "not_found"


class DuplicateCustomerNoteError(CustomerError):
    pass


class ConsentUnchangedError(CustomerError):
    """Granting a consent already granted, or withdrawing one not granted."""


# --- locations ------------------------------------------------------------------------------


class LocationError(DomainError):
    """A location command was rejected."""


class DuplicateLocationError(LocationError):
    pass


class InvalidPriorityError(LocationError):
    kind = "invalid"


class LocationNotFoundError(LocationError):
    kind = "not_found"
