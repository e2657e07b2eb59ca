"""Customers (API.md § Customers): registration, addresses, consents, notes, erasure, profile.

The profile is read from the customer aggregate itself (not a read model), so it is always
current and carries the aggregate's version as its ``ETag`` for a following ``If-Match``.
Analysts see it with personal data masked, as on the care dashboard.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response

from application.bridge import run_bridged
from domain.customer import Customer
from domain.errors import AddressLabelExistsError
from domain.values import ConsentChannel
from interfaces.http.admission import CommandRoute
from interfaces.http.deps import OMS, ExpectedVersion, Reader, WriteEnvelope, command_answer
from interfaces.http.reading import AsOf, MinPosition
from interfaces.http.schemas import (
    CommandOut,
    ConsentIn,
    CustomerAddressIn,
    CustomerIn,
    CustomerOut,
    ErasureIn,
    NoteAddedOut,
    NoteIn,
)
from projections.care import MASK

router = APIRouter(prefix="/v1/customers", tags=["customers"], route_class=CommandRoute)


@router.post("", status_code=201, response_model=CommandOut)
async def register_customer(
    body: CustomerIn, oms: OMS, envelope: WriteEnvelope, response: Response
) -> Any:
    """Register a customer; a client may choose the id (the same id twice is a 409)."""
    result = await run_bridged(
        oms.register_customer,
        customer_id=body.id,
        name=body.name,
        email=body.email,
        phone=body.phone,
        address=body.address.to_domain() if body.address else None,
        envelope=envelope,
    )
    return command_answer(result, response)


@router.post(
    "/{customer_id}/addresses",
    status_code=201,
    response_model=CommandOut,
    responses={200: {"model": CommandOut, "description": "An existing label was changed."}},
)
async def add_address(
    customer_id: UUID,
    body: CustomerAddressIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Add an address under a new label (201), or change the address under an existing
    label (200): the API has no separate endpoint for changing a customer's address."""
    address = body.to_domain()
    try:
        result = await run_bridged(
            oms.add_customer_address,
            customer_id, label=body.label, address=address, envelope=envelope,
            expected_version=expected_version,
        )
    except AddressLabelExistsError:
        # Nothing was recorded; changing checks the version (and the label) again.
        result = await run_bridged(
            oms.change_customer_address,
            customer_id, label=body.label, address=address, envelope=envelope,
            expected_version=expected_version,
        )
        response.status_code = 200
    return command_answer(result, response)


@router.post("/{customer_id}/consents", response_model=CommandOut)
async def record_consent(
    customer_id: UUID,
    body: ConsentIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Grant or withdraw consent to contact the customer on a channel (409 if unchanged)."""
    result = await run_bridged(
        oms.record_consent,
        customer_id, channel=ConsentChannel(body.channel), granted=body.granted,
        envelope=envelope, expected_version=expected_version,
    )
    return command_answer(result, response)


@router.post("/{customer_id}/notes", status_code=201, response_model=NoteAddedOut)
async def add_note(
    customer_id: UUID,
    body: NoteIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """A care note about the customer; the key's actor is its author."""
    result = await run_bridged(
        oms.add_customer_note,
        customer_id, text=body.text, envelope=envelope, expected_version=expected_version
    )
    return command_answer(result, response, note_id=result.created_id)


@router.post("/{customer_id}/erasure", response_model=CommandOut)
async def request_erasure(
    customer_id: UUID,
    body: ErasureIn,
    oms: OMS,
    envelope: WriteEnvelope,
    response: Response,
    expected_version: ExpectedVersion,
) -> Any:
    """Erase the customer's personal data; their orders keep their amounts."""
    result = await run_bridged(
        oms.request_erasure,
        customer_id, reason=body.reason, envelope=envelope, expected_version=expected_version
    )
    return command_answer(result, response)


def _masked(value: str | None) -> str | None:
    return None if value is None else MASK


def _shown(value: str | None) -> str | None:
    return value


@router.get("/{customer_id}", response_model=CustomerOut)
def get_customer(
    customer_id: UUID,
    oms: OMS,
    principal: Reader,
    response: Response,
    min_position: MinPosition = None,
    as_of: AsOf = None,
    version: Annotated[int | None, Query(ge=1, description="The profile at this version.")] = None,
) -> Any:
    """The customer's profile from the event store (always current, so ``min_position`` has
    nothing to wait for), or as it was at ``as_of``/``version``. Analysts see names, email,
    phone and street lines masked."""
    del min_position
    customer: Any = oms.aggregate_as_of(Customer, customer_id, "customer", version=version,
                                        as_of=as_of)
    mask = _masked if principal.masked else _shown
    response.headers["ETag"] = f'"{customer.version}"'
    return {
        "id": customer.id,
        "name": mask(customer.name),
        "email": mask(customer.email),
        "phone": mask(customer.phone),
        "addresses": [
            {
                "label": label,
                "name": mask(address.name),
                "line1": mask(address.line1),
                "line2": mask(address.line2),
                "city": address.city,
                "postal_code": address.postal_code,
                "country": address.country,
            }
            for label, address in sorted(customer.addresses.items())
        ],
        "consents": dict(customer.consents),
        "erased": customer.erased,
        "registered_at": customer.registered_at,
        "version": customer.version,
    }
