"""Value objects and vocabularies shared by the aggregates, with the checks that guard them.

Events may only carry plain values (str, int, Decimal, UUID, aware datetimes, StrEnum members and
frozen dataclasses of these), so the vocabularies are ``StrEnum`` and composite values are frozen
dataclasses. The small ``require_*`` guards live here so every aggregate words its input errors
the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.errors import (
    BlankTextError,
    InvalidAddressError,
    InvalidIdentifierError,
    InvalidQuantityError,
    InvalidTimestampError,
)


class Channel(StrEnum):
    WEB = "web"
    STORE = "store"
    PHONE = "phone"
    MARKETPLACE = "marketplace"
    AGENT = "agent"


class LocationKind(StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"


class HoldType(StrEnum):
    FRAUD = "fraud"
    PAYMENT = "payment"
    ADDRESS = "address"
    MANUAL = "manual"


class ExceptionKind(StrEnum):
    DELAYED = "delayed"
    LOST = "lost"
    DAMAGED = "damaged"


class ReturnCondition(StrEnum):
    RESELLABLE = "resellable"
    DAMAGED = "damaged"


class ConsentChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class AdjustmentReason(StrEnum):
    """Why stock on hand was corrected outside receipts, shipments and returns."""

    CYCLE_COUNT = "cycle_count"
    DAMAGE = "damage"
    LOSS = "loss"
    FOUND = "found"
    CORRECTION = "correction"


class OrderStatus(StrEnum):
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    OPEN = "open"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"


class PaymentStatus(StrEnum):
    UNPAID = "unpaid"
    AUTHORIZED = "authorized"
    PARTIALLY_CAPTURED = "partially_captured"
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class ShipmentStatus(StrEnum):
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    EXCEPTION = "exception"


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    RECEIVED = "received"


_COUNTRY = re.compile(r"[A-Z]{2}")
_SKU = re.compile(r"\S(.{0,126}\S)?")


@dataclass(frozen=True)
class Address:
    """A postal address; ``country`` is an ISO 3166-1 alpha-2 code such as ``DE``."""

    name: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str

    def __post_init__(self) -> None:
        # Validated on construction so that no event can ever carry half an address.
        for part in ("name", "line1", "city", "postal_code"):
            value = getattr(self, part)
            if not isinstance(value, str) or not value.strip():
                raise InvalidAddressError(f"address {part} must not be empty")
        if self.line2 is not None and not isinstance(self.line2, str):
            raise InvalidAddressError("address line2 must be text or absent")
        if not isinstance(self.country, str) or not _COUNTRY.fullmatch(self.country):
            raise InvalidAddressError(
                f"address country must be an ISO 3166-1 alpha-2 code like 'DE', "
                f"got {self.country!r}"
            )


def require_aware(moment: datetime, what: str) -> datetime:
    """Reject naive datetimes: a time without an offset is ambiguous forever after."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidTimestampError(f"{what} must be a timezone-aware datetime, got {moment!r}")
    return moment


def require_optional_aware(moment: datetime | None, what: str) -> datetime | None:
    return None if moment is None else require_aware(moment, what)


def require_text(value: str, what: str, *, field: str | None = None) -> str:
    """Reject empty or whitespace-only text where a person must say something. ``field``:
    the input it came in (errors)."""
    if not isinstance(value, str) or not value.strip():
        raise BlankTextError(f"{what} must not be empty", field=field)
    return value


def require_quantity(quantity: int, what: str = "quantity", *, field: str | None = None) -> int:
    """Quantities are whole units, more than zero. ``field``: the input it came in (errors)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidQuantityError(
            f"{what} must be a whole number more than 0, got {quantity!r}", field=field)
    return quantity


def require_sku(sku: str, *, field: str | None = None) -> str:
    if not isinstance(sku, str) or not _SKU.fullmatch(sku):
        raise InvalidIdentifierError(
            f"sku must be 1 to 128 characters without surrounding spaces, got {sku!r}",
            field=field,
        )
    return sku
