"""Request and response bodies (API.md). Requests reject unknown fields; money is a decimal
string, never a float, so no amount is ever rounded by a JSON parser on the way in.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)

from domain.values import Address

MoneyString = Annotated[
    str,
    StringConstraints(pattern=r"^-?\d{1,15}(\.\d{1,6})?$"),
    Field(description='A decimal string such as "59.90", in the order\'s currency.'),
]


def _more_than_zero(value: str) -> str:
    if Decimal(value) <= 0:
        raise ValueError("must be more than 0")
    return value


PositiveMoneyString = Annotated[
    str,
    StringConstraints(pattern=r"^\d{1,15}(\.\d{1,6})?$"),
    AfterValidator(_more_than_zero),
    Field(description='A decimal string more than 0, such as "59.90", in the order\'s currency.'),
]
RateString = Annotated[
    str,
    StringConstraints(pattern=r"^0(\.\d{1,6})?$"),
    Field(description='A tax rate from 0 up to 1, as a decimal string such as "0.19".'),
]
Quantity = Annotated[int, Field(gt=0, le=1_000_000, strict=True)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _blank_as_absent(value: str | None) -> str | None:
    """An address form's empty second line is no second line, not one of spaces."""
    if value is None:
        return None
    return value.strip() or None


class AddressIn(Request):
    name: Text
    line1: Text
    line2: Annotated[str | None, Field(max_length=2000), AfterValidator(_blank_as_absent)] = None
    city: Text
    postal_code: Text
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]

    def to_domain(self) -> Address:
        return Address(
            name=self.name, line1=self.line1, line2=self.line2, city=self.city,
            postal_code=self.postal_code, country=self.country,
        )


class CustomerIn(Request):
    id: UUID | None = None
    name: Text
    email: Text
    phone: str | None = None
    address: AddressIn | None = None


class LocationIn(Request):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    name: Text
    kind: Literal["warehouse", "store"]
    priority: Annotated[int, Field(strict=True, ge=0, le=1_000_000)]


class ReceiptIn(Request):
    location_id: Text
    quantity: Quantity


class OrderLineIn(Request):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    quantity: Quantity
    unit_price: MoneyString
    tax_rate: RateString | None = None

    def decimal_price(self) -> Decimal:
        return Decimal(self.unit_price)


class OrderIn(Request):
    id: UUID | None = None
    customer_id: UUID
    channel: Literal["web", "store", "phone", "marketplace", "agent"]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=500)]
    shipping_address: AddressIn
    shipping_method: str | None = None


class LineQuantityIn(Request):
    line_id: Text
    quantity: Quantity


class CancellationIn(Request):
    reason: Text
    lines: list[LineQuantityIn] | None = None


class AdjustmentIn(Request):
    """A stock correction: exactly one of ``quantity_delta`` (signed) or ``counted``."""

    location_id: Text
    reason: Text
    quantity_delta: Annotated[
        int | None,
        Field(strict=True, ge=-1_000_000_000, le=1_000_000_000,
              description="Signed change of on hand (not 0); or give `counted`."),
    ] = None
    counted: Annotated[
        int | None,
        Field(strict=True, ge=0, le=1_000_000_000,
              description="On hand as counted (a cycle count); or give `quantity_delta`."),
    ] = None

    @field_validator("quantity_delta")
    @classmethod
    def _not_zero(cls, value: int | None) -> int | None:
        if value == 0:
            raise ValueError("must not be 0")
        return value


class SafetyStockIn(Request):
    location_id: Text
    quantity: Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]


class CustomerAddressIn(AddressIn):
    """A labelled address of a customer; an existing label is changed, a new one added."""

    label: ShortText


class ConsentIn(Request):
    channel: Literal["email", "sms"]
    granted: StrictBool


class NoteIn(Request):
    text: Text


class ErasureIn(Request):
    reason: Text


class EmptyIn(Request):
    """A command that needs no input: ``{}`` (or no body at all)."""


class HoldIn(Request):
    type: Literal["fraud", "payment", "address", "manual"]
    reason: Text


class HoldReleaseIn(Request):
    reason: Text | None = None


class AuthorizationIn(Request):
    amount: PositiveMoneyString
    provider: ShortText
    reference: ShortText


class AuthorizationFailureIn(Request):
    provider: ShortText
    reason: Text


class CaptureIn(Request):
    amount: PositiveMoneyString


class RefundIn(Request):
    amount: PositiveMoneyString
    reason: Text


class ShipmentIn(Request):
    location_id: Text
    lines: Annotated[list[LineQuantityIn], Field(min_length=1, max_length=500)]
    carrier: ShortText
    tracking_number: ShortText


class DeliveryExceptionIn(Request):
    kind: Literal["delayed", "lost", "damaged"]
    detail: Text


class ReturnIn(Request):
    reason: Text
    lines: Annotated[list[LineQuantityIn], Field(min_length=1, max_length=500)]


class ReturnDecisionIn(Request):
    approved: StrictBool
    reason: Text | None = None


class ReturnedLineIn(Request):
    line_id: Text
    quantity: Quantity
    condition: Literal["resellable", "damaged"]


class ReturnReceiptIn(Request):
    location_id: Text
    lines: Annotated[list[ReturnedLineIn], Field(min_length=1, max_length=500)]


class ReturnRefundIn(Request):
    amount: PositiveMoneyString


class OrderAdjustmentIn(Request):
    """A goodwill credit."""

    amount: PositiveMoneyString
    reason: Text


class CommandOut(BaseModel):
    id: UUID | str
    version: int
    position: int


class HoldPlacedOut(CommandOut):
    hold_id: UUID


class ShipmentCreatedOut(CommandOut):
    shipment_id: UUID


class ReturnCreatedOut(CommandOut):
    return_id: UUID


class NoteAddedOut(CommandOut):
    note_id: UUID


class AdjustmentAddedOut(CommandOut):
    adjustment_id: UUID


class CustomerAddressOut(BaseModel):
    label: str
    name: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str


class CustomerOut(BaseModel):
    """A customer's profile; after erasure the personal fields are null."""

    id: UUID
    name: str | None
    email: str | None
    phone: str | None
    addresses: list[CustomerAddressOut]
    consents: dict[str, bool]
    erased: bool
    registered_at: datetime
    version: int


class AllocationOut(BaseModel):
    location_id: str
    quantity: int


class PlacedLineOut(BaseModel):
    line_id: str
    sku: str
    quantity: int
    allocated: list[AllocationOut]
    backordered: int


class OrderPlacedOut(CommandOut):
    status: str
    lines: list[PlacedLineOut]


class OrderLineOut(BaseModel):
    line_id: str
    sku: str
    quantity: int
    unit_price: str
    tax_rate: str
    cancelled: int
    shipped: int
    returned: int
    backordered: int
    allocated: list[AllocationOut]


class ShipmentOut(BaseModel):
    shipment_id: UUID
    location_id: str
    carrier: str
    tracking_number: str
    status: str


class TotalsOut(BaseModel):
    ordered: str
    cancelled: str
    tax: str
    captured: str
    refunded: str
    balance_due: str


class OrderOut(BaseModel):
    id: UUID
    status: str
    payment_status: str
    customer_id: UUID
    channel: str
    currency: str
    placed_at: datetime
    version: int
    lines: list[OrderLineOut]
    shipments: list[ShipmentOut]
    totals: TotalsOut


class OrderListOut(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}
