"""The smallest shop a test needs to place an order: one warehouse in Berlin, stock of one SKU
there, one customer, one order of that SKU."""

from __future__ import annotations

from decimal import Decimal

from application.envelope import Envelope
from application.order_management import CommandResult, OrderManagement
from domain.order_values import NewLine
from domain.values import Address, Channel, LocationKind

ADDRESS = Address("Jo Doe", "Main St 1", None, "Berlin", "10115", "DE")
SKU = "JEANS-32"


def place_one_order(
    oms: OrderManagement, agent: Envelope, *, quantity: int, stock: int,
    customer_address: Address | None = None,
) -> CommandResult:
    """Set the shop up and place its order (to ``ADDRESS``); the placement's result."""
    oms.add_location(location_id="berlin", name="Berlin", kind=LocationKind.WAREHOUSE,
                     priority=1, envelope=agent)
    oms.receive_stock(sku=SKU, location_id="berlin", quantity=stock, envelope=agent)
    customer = oms.register_customer(customer_id=None, name="Jo", email="jo@example.com",
                                     phone=None, address=customer_address, envelope=agent)
    return oms.place_order(
        order_id=None, customer_id=customer.id, channel=Channel.WEB, currency="EUR",
        lines=[NewLine(SKU, quantity, Decimal("59.90"))], shipping_address=ADDRESS,
        shipping_method=None, envelope=agent,
    )
