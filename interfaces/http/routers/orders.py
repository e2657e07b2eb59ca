"""Orders (API.md § Orders): place, cancel, hold, pay, ship, return, credit, note, read.

Every command answers ``{id, version, position}`` (plus the id of what it created: a hold,
shipment, return, adjustment or note, answered with 201), sets ``ETag`` to the order's new
version and honours ``If-Match``. Business rules live in the domain; its errors become
404/409/422 in ``problems``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from application.bridge import run_bridged
from application.errors import NotFoundError
from domain.order_values import LineQuantity, NewLine, ReturnedLine
from domain.values import Channel, ExceptionKind, HoldType, ReturnCondition
from interfaces.http.admission import CommandRoute
from interfaces.http.deps import (
    OMS,
    ExpectedVersion,
    ReadConn,
    Reader,
    WriteEnvelope,
    command_answer,
    command_response,
)
from interfaces.http.direct import DirectCommandRoute
from interfaces.http.reading import (
    MAX_LIMIT,
    AsOf,
    Limit,
    MinPosition,
    decode_cursor,
    encode_cursor,
    position_header,
    read_model,
)
from interfaces.http.schemas import (
    AddressIn,
    AdjustmentAddedOut,
    AuthorizationFailureIn,
    AuthorizationIn,
    CancellationIn,
    CaptureIn,
    CommandOut,
    DeliveryExceptionIn,
    EmptyIn,
    HoldIn,
    HoldPlacedOut,
    HoldReleaseIn,
    LineQuantityIn,
    NoteAddedOut,
    NoteIn,
    OrderAdjustmentIn,
    OrderIn,
    OrderListOut,
    OrderOut,
    OrderPlacedOut,
    RefundIn,
    ReturnCreatedOut,
    ReturnDecisionIn,
    ReturnIn,
    ReturnReceiptIn,
    ReturnRefundIn,
    ShipmentCreatedOut,
    ShipmentIn,
)
from projections import order_status

router = APIRouter(prefix="/v1/orders", tags=["orders"], route_class=CommandRoute)


def _parse_cursor(parts: list[Any]) -> tuple[datetime, UUID]:
    return datetime.fromisoformat(parts[0]), UUID(parts[1])


def _lines(lines: list[LineQuantityIn]) -> list[LineQuantity]:
    return [LineQuantity(line.line_id, line.quantity) for line in lines]


async def place_order(body: OrderIn, oms: OMS, envelope: WriteEnvelope) -> Response:
    """Place an order; stock is reserved in the same transaction."""
    result = await run_bridged(
        oms.place_order,
        order_id=body.id,
        customer_id=body.customer_id,
        channel=Channel(body.channel),
        currency=body.currency,
        lines=[
            NewLine(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.decimal_price(),
                tax_rate=Decimal(line.tax_rate or "0"),
            )
            for line in body.lines
        ],
        shipping_address=body.shipping_address.to_domain(),
        shipping_method=body.shipping_method,
        envelope=envelope,
    )
    order = result.aggregate
    return command_response(
        result,
        201,
        status=order.status.value,
        lines=[
            {
                "line_id": line.line_id,
                "sku": line.sku,
                "quantity": line.quantity,
                "allocated": [
                    {"location_id": a.location_id, "quantity": a.quantity}
                    for a in line.allocations
                ],
                "backordered": line.backordered,
            }
            for line in order.lines.values()
        ],
    )


# The busiest route: its well-formed requests skip FastAPI's request handling
# (``interfaces.http.direct``).
router.add_api_route("", place_order, methods=["POST"], status_code=201,
                     response_model=OrderPlacedOut, route_class_override=DirectCommandRoute)


@router.post("/{order_id}/cancellations", response_model=CommandOut)
async def cancel_order(
    order_id: UUID,
    body: CancellationIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Cancel given line quantities, or everything not yet shipped."""
    result = await run_bridged(
        oms.cancel_order,
        order_id,
        reason=body.reason,
        lines=None if body.lines is None else _lines(body.lines),
        envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response)


@router.put("/{order_id}/shipping-address", response_model=CommandOut)
async def change_shipping_address(
    order_id: UUID,
    body: AddressIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Ship what is still unshipped to another address (409 once everything has shipped)."""
    result = await run_bridged(
        oms.change_shipping_address,
        order_id, address=body.to_domain(), envelope=envelope, expected_version=expected_version
    )
    return command_answer(result, response)


# --- holds ----------------------------------------------------------------------------------


@router.post("/{order_id}/holds", status_code=201, response_model=HoldPlacedOut)
async def place_hold(
    order_id: UUID,
    body: HoldIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Stop fulfilment until the hold is released or the order rejected."""
    result = await run_bridged(
        oms.place_hold,
        order_id, type=HoldType(body.type), reason=body.reason, envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response, hold_id=result.created_id)


@router.post("/{order_id}/holds/{hold_id}/release", response_model=CommandOut)
async def release_hold(
    order_id: UUID,
    hold_id: UUID,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
    body: HoldReleaseIn | None = None,
) -> Any:
    """Release an open hold; fulfilment continues once no hold is open."""
    result = await run_bridged(
        oms.release_hold,
        order_id, hold_id, reason=body.reason if body else None, envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response)


@router.post("/{order_id}/holds/{hold_id}/rejection", response_model=CommandOut)
async def reject_order(
    order_id: UUID,
    hold_id: UUID,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
    body: EmptyIn | None = None,
) -> Any:
    """End an open hold by rejecting the order: everything unshipped is cancelled (for the
    hold's reason) and its stock released. Body: ``{}``."""
    result = await run_bridged(
        oms.reject_order,
        order_id, hold_id, envelope=envelope, expected_version=expected_version
    )
    return command_answer(result, response)


# --- payments -------------------------------------------------------------------------------


@router.post("/{order_id}/payments/authorizations", response_model=CommandOut)
async def authorize_payment(
    order_id: UUID,
    body: AuthorizationIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Record that a payment provider authorized an amount (never card data)."""
    result = await run_bridged(
        oms.authorize_payment,
        order_id, amount=Decimal(body.amount), provider=body.provider,
        reference=body.reference, envelope=envelope, expected_version=expected_version,
    )
    return command_answer(result, response)


@router.post("/{order_id}/payments/authorization-failures", response_model=CommandOut)
async def record_authorization_failure(
    order_id: UUID,
    body: AuthorizationFailureIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Record that a payment provider declined to authorize (the order shows in care)."""
    result = await run_bridged(
        oms.record_authorization_failure,
        order_id, provider=body.provider, reason=body.reason, envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response)


@router.post("/{order_id}/payments/captures", response_model=CommandOut)
async def capture_payment(
    order_id: UUID,
    body: CaptureIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Capture up to what is authorized and not yet captured (409 beyond that)."""
    result = await run_bridged(
        oms.capture_payment,
        order_id, amount=Decimal(body.amount), envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response)


@router.post("/{order_id}/payments/voids", response_model=CommandOut)
async def void_authorization(
    order_id: UUID,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
    body: EmptyIn | None = None,
) -> Any:
    """Give back what is authorized and will not be captured. Body: ``{}``."""
    result = await run_bridged(
        oms.void_authorization,
        order_id, envelope=envelope, expected_version=expected_version
    )
    return command_answer(result, response)


@router.post("/{order_id}/payments/refunds", response_model=CommandOut)
async def refund_payment(
    order_id: UUID,
    body: RefundIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Refund up to what is captured and not yet refunded (409 beyond that)."""
    result = await run_bridged(
        oms.refund_payment,
        order_id, amount=Decimal(body.amount), reason=body.reason, envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response)


# --- fulfilment -----------------------------------------------------------------------------


@router.post("/{order_id}/shipments", status_code=201, response_model=ShipmentCreatedOut)
async def ship(
    order_id: UUID,
    body: ShipmentIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Ship units reserved at a location; not while the order is on hold."""
    result = await run_bridged(
        oms.ship,
        order_id, location_id=body.location_id, lines=_lines(body.lines),
        carrier=body.carrier, tracking_number=body.tracking_number, envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response, shipment_id=result.created_id)


@router.post("/{order_id}/shipments/{shipment_id}/delivery", response_model=CommandOut)
async def mark_delivered(
    order_id: UUID,
    shipment_id: UUID,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
    body: EmptyIn | None = None,
) -> Any:
    """The carrier delivered the shipment. Body: ``{}``."""
    result = await run_bridged(
        oms.mark_delivered,
        order_id, shipment_id, envelope=envelope, expected_version=expected_version
    )
    return command_answer(result, response)


@router.post("/{order_id}/shipments/{shipment_id}/exceptions", response_model=CommandOut)
async def record_delivery_exception(
    order_id: UUID,
    shipment_id: UUID,
    body: DeliveryExceptionIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """The carrier reports a problem with an undelivered shipment."""
    result = await run_bridged(
        oms.record_delivery_exception,
        order_id, shipment_id, kind=ExceptionKind(body.kind), detail=body.detail,
        envelope=envelope, expected_version=expected_version,
    )
    return command_answer(result, response)


@router.post("/{order_id}/backorders/allocation", response_model=CommandOut)
async def allocate_backorders(
    order_id: UUID,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
    body: EmptyIn | None = None,
) -> Any:
    """Reserve stock that has arrived for backordered units. Body: ``{}``."""
    result = await run_bridged(
        oms.allocate_backorders,
        order_id, envelope=envelope, expected_version=expected_version
    )
    return command_answer(result, response)


# --- returns --------------------------------------------------------------------------------


@router.post("/{order_id}/returns", status_code=201, response_model=ReturnCreatedOut)
async def request_return(
    order_id: UUID,
    body: ReturnIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Ask to return shipped units."""
    result = await run_bridged(
        oms.request_return,
        order_id, reason=body.reason, lines=_lines(body.lines), envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response, return_id=result.created_id)


@router.post("/{order_id}/returns/{return_id}/approval", response_model=CommandOut)
async def decide_return(
    order_id: UUID,
    return_id: UUID,
    body: ReturnDecisionIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Approve (await the goods) or reject a requested return."""
    result = await run_bridged(
        oms.decide_return,
        order_id, return_id, approved=body.approved, reason=body.reason, envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response)


@router.post("/{order_id}/returns/{return_id}/receipt", response_model=CommandOut)
async def receive_return(
    order_id: UUID,
    return_id: UUID,
    body: ReturnReceiptIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Goods of an approved return arrived; resellable units go back to stock there."""
    result = await run_bridged(
        oms.receive_return,
        order_id, return_id, location_id=body.location_id,
        lines=[
            ReturnedLine(line.line_id, line.quantity, ReturnCondition(line.condition))
            for line in body.lines
        ],
        envelope=envelope, expected_version=expected_version,
    )
    return command_answer(result, response)


@router.post("/{order_id}/returns/{return_id}/refund", response_model=CommandOut)
async def refund_return(
    order_id: UUID,
    return_id: UUID,
    body: ReturnRefundIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Pay money back for an approved or received return."""
    result = await run_bridged(
        oms.refund_return,
        order_id, return_id, amount=Decimal(body.amount), envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response)


# --- care -----------------------------------------------------------------------------------


@router.post("/{order_id}/adjustments", status_code=201, response_model=AdjustmentAddedOut)
async def add_adjustment(
    order_id: UUID,
    body: OrderAdjustmentIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Credit the customer goodwill money; it lowers the balance due."""
    result = await run_bridged(
        oms.add_adjustment,
        order_id, amount=Decimal(body.amount), reason=body.reason, envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response, adjustment_id=result.created_id)


@router.post("/{order_id}/notes", status_code=201, response_model=NoteAddedOut)
async def add_note(
    order_id: UUID,
    body: NoteIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """A care note on the order; the key's actor is its author."""
    result = await run_bridged(
        oms.add_order_note,
        order_id, text=body.text, envelope=envelope, expected_version=expected_version
    )
    return command_answer(result, response, note_id=result.created_id)


@router.get("", response_model=OrderListOut)
def list_orders(
    request: Request,
    conn: ReadConn,
    _: Reader,
    status: str | None = None,
    customer_id: UUID | None = None,
    channel: str | None = None,
    sku: str | None = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
    min_position: MinPosition = None,
) -> Any:
    """Orders from the order status read model, oldest first."""
    schema, position = read_model(request, conn, order_status.NAME, min_position)
    limit = min(limit, MAX_LIMIT)
    items = order_status.list_orders(
        conn, schema, status=status, customer_id=customer_id, channel=channel, sku=sku,
        placed_from=placed_from, placed_to=placed_to,
        after=decode_cursor(cursor, _parse_cursor) if cursor else None, limit=limit + 1,
    )
    last = items[limit - 1] if len(items) > limit else None
    next_cursor = encode_cursor(last["placed_at"], last["id"]) if last else None
    return JSONResponse(
        {"items": items[:limit], "next_cursor": next_cursor},
        headers=position_header(position),
    )


@router.get("/{order_id}", response_model=OrderOut)
def get_order(
    order_id: UUID,
    request: Request,
    conn: ReadConn,
    oms: OMS,
    _: Reader,
    min_position: MinPosition = None,
    as_of: AsOf = None,
    version: Annotated[
        int | None, Query(ge=1, description="Reconstruct the order up to this version."),
    ] = None,
) -> Any:
    """The order as the order status read model has it; with ``as_of`` or ``version``, as it
    was then, reconstructed from the event store in the same shape."""
    if as_of is not None or version is not None:
        then = oms.get_order(order_id, version=version, as_of=as_of)
        view = order_status.to_json(order_status.describe(then))
        return JSONResponse(view, headers={"ETag": f'"{then.version}"'})
    schema, position = read_model(request, conn, order_status.NAME, min_position)
    view = order_status.get_order(conn, schema, order_id)
    if view is None:
        raise NotFoundError(f"there is no order {order_id}")
    return JSONResponse(
        view, headers={**position_header(position), "ETag": f'"{view["version"]}"'}
    )
