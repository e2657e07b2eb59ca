"""Request and response bodies (API.md). Requests reject unknown fields; money is a decimal
string, never a float, so no amount is ever rounded by a JSON parser on the way in.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.values import Address

MoneyString = Annotated[
    str,
    StringConstraints(pattern=r"^-?\d{1,15}(\.\d{1,6})?$"),
    Field(description='A decimal string such as "59.90", in the order\'s currency.'),
]
RateString = Annotated[
    str,
    StringConstraints(pattern=r"^0(\.\d{1,6})?$"),
    Field(description='A tax rate from 0 up to 1, as a decimal string such as "0.19".'),
]
Quantity = Annotated[int, Field(gt=0, le=1_000_000, strict=True)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddressIn(Request):
    name: Text
    line1: Text
    line2: str | None = None
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


class CommandOut(BaseModel):
    id: UUID | str
    version: int
    position: int


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
