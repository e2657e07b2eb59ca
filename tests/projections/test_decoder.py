"""The projection engine's decoder opens only what the projections it decodes for read:
events of classes none of them handles stay undecoded, personal data none of them reads
stays sealed, and a decoder asked for everything opens everything."""

from __future__ import annotations

from typing import Any

import psycopg

from application.envelope import Envelope
from application.log_reader import LogCursor, read_log
from application.order_management import OrderManagement
from application.personal_data import PersonalData
from domain.customer import Customer
from domain.inventory import InventoryItem
from domain.order import Order
from projections import registry
from projections.engine import Decoder, Wanted, wanted_by
from tests.shop import ADDRESS, place_one_order


def _decoded(database_url: str, wanted: Wanted | None) -> dict[type, Any]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        batch = read_log(conn, LogCursor.start(), 100)
        decoded = Decoder.for_connection(conn).decode_batch(batch, wanted)
    assert [e.logged for e in decoded] == batch
    return {type(e.event): e.event for e in decoded}


def test_everything_is_decoded_and_opened_when_nothing_is_declared(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    place_one_order(oms, agent, quantity=1, stock=5, customer_address=ADDRESS)
    events = _decoded(database_url, None)
    assert events[Order.Placed].shipping_address == ADDRESS
    assert events[Customer.Registered].name == "Jo"


def test_personal_data_no_projection_reads_stays_sealed(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    place_one_order(oms, agent, quantity=1, stock=5, customer_address=ADDRESS)
    events = _decoded(database_url, Wanted((Order.Event, Customer.Event), (Customer.Event,)))
    assert type(events[Order.Placed].shipping_address) is PersonalData
    assert events[Customer.Registered].name == "Jo"
    assert events[Customer.Registered].address == ADDRESS
    assert type(None) in events  # inventory events: handled by neither, not decoded
    assert not any(isinstance(e, InventoryItem.Event) for e in events.values())


def test_a_group_opens_what_any_of_its_projections_reads(database_url: str) -> None:
    by_name = {p.name: p for p in registry.select()}
    assert wanted_by([by_name["order_status"]]).personal == ()
    care = wanted_by([by_name["order_status"], by_name["care"]])
    assert care.personal is not None
    assert Customer.Registered in care.personal
    assert Order.Placed not in care.personal

    class Undeclared:
        name = "undeclared"

    assert wanted_by([by_name["order_status"], Undeclared()]) == (None, None)  # type: ignore[list-item]
