"""Locations and inventory (API.md § Locations and inventory)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from domain.values import LocationKind
from interfaces.http.deps import OMS, WriteEnvelope
from interfaces.http.schemas import CommandOut, LocationIn, ReceiptIn

router = APIRouter(tags=["inventory"])

Sku = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("/v1/locations", status_code=201, response_model=CommandOut)
def add_location(body: LocationIn, oms: OMS, envelope: WriteEnvelope, response: Response) -> Any:
    """Add a fulfilment location; lower priority ships first."""
    result = oms.add_location(
        location_id=body.id, name=body.name, kind=LocationKind(body.kind),
        priority=body.priority, envelope=envelope,
    )
    response.headers["ETag"] = f'"{result.version}"'
    return {"id": body.id, "version": result.version, "position": result.position}


@router.post("/v1/inventory/{sku}/receipts", response_model=CommandOut)
def receive_stock(
    sku: Sku, body: ReceiptIn, oms: OMS, envelope: WriteEnvelope, response: Response
) -> Any:
    """Stock arrives at a location."""
    result = oms.receive_stock(
        sku=sku, location_id=body.location_id, quantity=body.quantity, envelope=envelope
    )
    response.headers["ETag"] = f'"{result.version}"'
    return {"id": result.id, "version": result.version, "position": result.position}
