"""Customers (API.md § Customers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from interfaces.http.deps import OMS, WriteEnvelope
from interfaces.http.schemas import CommandOut, CustomerIn

router = APIRouter(prefix="/v1/customers", tags=["customers"])


@router.post("", status_code=201, response_model=CommandOut)
def register_customer(
    body: CustomerIn, oms: OMS, envelope: WriteEnvelope, response: Response
) -> Any:
    """Register a customer; a client may choose the id (the same id twice is a 409)."""
    result = oms.register_customer(
        customer_id=body.id,
        name=body.name,
        email=body.email,
        phone=body.phone,
        address=body.address.to_domain() if body.address else None,
        envelope=envelope,
    )
    response.headers["ETag"] = f'"{result.version}"'
    return {"id": result.id, "version": result.version, "position": result.position}
