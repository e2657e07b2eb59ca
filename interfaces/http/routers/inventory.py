"""Locations and inventory (API.md § Locations and inventory)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from application.bridge import run_bridged
from application.errors import InvalidRequestError
from domain.values import LocationKind
from interfaces.http.admission import CommandRoute
from interfaces.http.deps import OMS, ExpectedVersion, WriteEnvelope, command_answer
from interfaces.http.schemas import AdjustmentIn, CommandOut, LocationIn, ReceiptIn, SafetyStockIn

router = APIRouter(tags=["inventory"], route_class=CommandRoute)

Sku = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("/v1/locations", status_code=201, response_model=CommandOut)
async def add_location(
    body: LocationIn, oms: OMS, envelope: WriteEnvelope, response: Response
) -> Any:
    """Add a fulfilment location; lower priority ships first."""
    result = await run_bridged(
        oms.add_location,
        location_id=body.id, name=body.name, kind=LocationKind(body.kind),
        priority=body.priority, envelope=envelope,
    )
    response.headers["ETag"] = f'"{result.version}"'
    return {"id": body.id, "version": result.version, "position": result.position}


@router.post("/v1/inventory/{sku}/receipts", response_model=CommandOut)
async def receive_stock(
    sku: Sku, body: ReceiptIn, oms: OMS, envelope: WriteEnvelope, response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Stock arrives at a location."""
    result = await run_bridged(
        oms.receive_stock,
        sku=sku, location_id=body.location_id, quantity=body.quantity, envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response)


@router.post("/v1/inventory/{sku}/adjustments", response_model=CommandOut)
async def adjust_stock(
    sku: Sku, body: AdjustmentIn, oms: OMS, envelope: WriteEnvelope, response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Correct on hand at a location after a cycle count, damage or loss: by a signed
    ``quantity_delta``, or to the ``counted`` quantity (exactly one of the two)."""
    if (body.quantity_delta is None) == (body.counted is None):
        given = "both" if body.quantity_delta is not None else "neither"
        raise InvalidRequestError(
            f"give exactly one of quantity_delta or counted ({given} given)",
            field="quantity_delta" if given == "neither" else "counted",
        )
    result = await run_bridged(
        oms.adjust_stock,
        sku=sku, location_id=body.location_id, reason=body.reason,
        quantity_delta=body.quantity_delta, counted=body.counted, envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response)


@router.put("/v1/inventory/{sku}/safety-stock", response_model=CommandOut)
async def set_safety_stock(
    sku: Sku, body: SafetyStockIn, oms: OMS, envelope: WriteEnvelope, response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Keep ``quantity`` units of the SKU at a location back from orders."""
    result = await run_bridged(
        oms.set_safety_stock,
        sku=sku, location_id=body.location_id, quantity=body.quantity, envelope=envelope,
        expected_version=expected_version,
    )
    return command_answer(result, response)

