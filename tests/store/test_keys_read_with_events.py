"""Readers fetch each data subject's key with the subject's events, and it is always fresh.

An event holding personal data names its subject in ``events.subject_id``; the log reader
and the aggregate reader join the key table in the same query. These specifications check
that what is read opens exactly as before, that an erased key comes back as nothing (so the
data reads as erased), and that an event stored without its subject named (an older row)
still opens, through a key query of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext
from typing import Any
from uuid import UUID

import psycopg

from application.envelope import Envelope
from application.log_reader import LogCursor, read_log
from application.order_management import OrderManagement
from application.personal_data import REDACTED, KeyStore, PersonalDataMapper
from domain.customer import Customer
from domain.inventory import InventoryItem
from projections.engine import Decoder, Wanted


def _register(oms: OrderManagement, agent: Envelope, name: str) -> Customer:
    result = oms.register_customer(customer_id=None, name=name, email=f"{name}@example.com",
                                   phone=None, address=None, envelope=agent)
    customer = result.aggregate
    assert isinstance(customer, Customer)
    return customer


def _names(database_url: str) -> dict[str, str]:
    """Customer names as the projection decoder reads them from the log."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        batch = read_log(conn, LogCursor.start(), 100)
        decoded = Decoder.for_connection(conn).decode_batch(batch)
    return {e.event.email: e.event.name for e in decoded
            if isinstance(e.event, Customer.Registered) and e.event.email != REDACTED}


def _unname_subject(conn: psycopg.Connection[Any], subject: UUID) -> None:
    """Make the subject's events look like rows written before events named their subject."""
    conn.execute("ALTER TABLE events DISABLE TRIGGER events_refuse_update_delete")
    conn.execute("UPDATE events SET subject_id = NULL WHERE originator_id = %s", (subject,))
    conn.execute("ALTER TABLE events ENABLE TRIGGER events_refuse_update_delete")


def test_events_name_their_subject_and_are_read_with_its_key(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    ada = _register(oms, agent, "ada")
    with psycopg.connect(database_url, autocommit=True) as conn:
        [logged] = [e for e in read_log(conn, LogCursor.start(), 10)
                    if e.originator_id == ada.id]
        stored = conn.execute(
            "SELECT key FROM personal_data_keys WHERE subject_id = %s", (ada.id,)
        ).fetchone()
    assert logged.subject_id == ada.id
    assert stored is not None
    assert logged.subject_key == bytes(stored[0])
    assert _names(database_url) == {"ada@example.com": "ada"}
    assert oms.repository.get(ada.id).name == "ada"


def test_an_erased_subject_comes_with_no_key_and_reads_as_erased(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    ada = _register(oms, agent, "ada")
    _register(oms, agent, "bob")
    oms.request_erasure(ada.id, reason="asked", envelope=agent)

    with psycopg.connect(database_url, autocommit=True) as conn:
        first = next(e for e in read_log(conn, LogCursor.start(), 10)
                     if e.originator_id == ada.id)
    assert first.subject_id == ada.id
    assert first.subject_key is None
    assert _names(database_url) == {"bob@example.com": "bob"}
    assert oms.repository.get(ada.id, version=1).name == REDACTED


def test_an_event_stored_without_its_subject_named_still_opens(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    ada = _register(oms, agent, "ada")
    with psycopg.connect(database_url, autocommit=True) as conn:
        _unname_subject(conn, ada.id)
    assert _names(database_url) == {"ada@example.com": "ada"}
    assert oms.repository.get(ada.id, version=1).name == "ada"


class _CountingKeys(KeyStore):
    """The key table, noting each set of subjects a reader asks it for."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        super().__init__(lambda: nullcontext(conn))
        self.asked: list[set[UUID]] = []

    def keys(self, subjects: Iterable[UUID]) -> dict[UUID, bytes | None]:
        wanted = set(subjects)
        if wanted:
            self.asked.append(wanted)
        return super().keys(wanted)


def test_keys_of_unnamed_subjects_are_asked_for_only_by_readers_that_open_them(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    ada = _register(oms, agent, "ada")
    with psycopg.connect(database_url, autocommit=True) as conn:
        _unname_subject(conn, ada.id)
        batch = read_log(conn, LogCursor.start(), 100)
        keys = _CountingKeys(conn)
        decoder = Decoder(PersonalDataMapper(keys))

        decoder.decode_batch(batch, Wanted((InventoryItem.Received,), ()))
        decoder.decode_batch(batch, Wanted((Customer.Registered,), ()))
        assert keys.asked == []  # nobody opens ada's name: no key is read

        decoded = decoder.decode_batch(batch, Wanted((Customer.Event,), (Customer.Event,)))
    assert keys.asked == [{ada.id}]  # one query for the batch
    assert [e.event.name for e in decoded if isinstance(e.event, Customer.Registered)] == ["ada"]
