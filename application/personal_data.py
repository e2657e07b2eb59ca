"""Crypto-shredding: personal data in events is encrypted with a key per customer, so that
erasing the key makes it unreadable everywhere while the events themselves stay.

The log is append-only and must stay so; the right to be forgotten is honoured by making
the personal parts of events undecipherable instead of deleting them. When an event that
carries personal data is stored, each personal field is sealed (AES-GCM) with its data
subject's key and stored as a ``PersonalData`` box naming the subject. Reading it back
opens the box with the key; once the key is erased (``KeyStore.erase``) the field reads as
a redaction marker of the right shape, everywhere: aggregates, read models rebuilt from the
log, exports. Amounts, quantities and ids are not personal and stay readable for audit.

Which fields are personal is declared once, in ``PERSONAL_FIELDS``. The subject of a
customer's event is the customer; the subject of an order's event is the order's customer
(``customer_id`` of its ``Placed`` event, which is not personal and stays in clear).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from application.bridge import blocking
from application.errors import ApplicationError
from application.transcoding import OrjsonTranscoder
from domain.values import Address

REDACTED = "[erased]"
# A value of the right type, so that aggregates and read models still load after erasure.
REDACTED_ADDRESS = Address(REDACTED, REDACTED, None, REDACTED, REDACTED, "ZZ")

# Event type (as in the topic, "Aggregate.Event") → its personal fields.
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "Customer.Registered": ("name", "email", "phone", "address"),
    "Customer.AddressAdded": ("address",),
    "Customer.AddressChanged": ("address",),
    "Customer.NoteAdded": ("text",),
    "Order.Placed": ("shipping_address",),
    "Order.ShippingAddressChanged": ("address",),
    "Order.NoteAdded": ("text",),
}

KEYS_SQL = """
CREATE TABLE IF NOT EXISTS personal_data_keys (
    subject_id uuid PRIMARY KEY,
    key        bytea,             -- NULL once erased: the tombstone stops a new key
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at  timestamptz
);
"""


class SubjectErasedError(ApplicationError):
    """Personal data for a subject whose key was erased must not be stored again."""

    kind = "conflict"


@dataclass(frozen=True)
class PersonalData:
    """A sealed personal field: whose it is, and the AES-GCM nonce + ciphertext (base64)."""

    subject: UUID
    sealed: str


@dataclass(frozen=True)
class PersonalStoredEvent(StoredEvent):
    """A stored event that holds personal data: which subject's, and, when it was read from
    the store, that subject's key as the key table had it (None once erased).

    The subject is stored in its own column (``events.subject_id``) so that readers fetch
    the key with the event, in the same query, instead of looking for boxes in every state
    and asking the key table again for each batch or event.
    """

    subject: UUID | None = None
    subject_key: bytes | None = None


Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


_SUBJECTS_REMEMBERED = 100_000


class KeyStore:
    """Per-subject keys in PostgreSQL, in their own table so erasure is one DELETE-like update."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._cache: dict[UUID, bytes] = {}
        self._subjects: dict[UUID, UUID] = {}

    def key_for(self, subject: UUID) -> bytes:
        """The subject's key, created on first use; refused once the subject was erased."""
        cached = self._cache.get(subject)
        if cached is not None:
            return cached
        return blocking(self._fetch_key, subject)

    def _fetch_key(self, subject: UUID) -> bytes:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT key, erased_at FROM personal_data_keys WHERE subject_id = %s",
                (subject,),
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO personal_data_keys (subject_id, key) VALUES (%s, %s)"
                    " ON CONFLICT (subject_id) DO NOTHING",
                    (subject, os.urandom(32)),
                )
                row = conn.execute(
                    "SELECT key, erased_at FROM personal_data_keys WHERE subject_id = %s",
                    (subject,),
                ).fetchone()
        key = _first(row)
        if key is None:
            raise SubjectErasedError(f"personal data of {subject} was erased")
        # Keys are only cached for writing: the domain refuses personal data for an erased
        # customer, and reads always ask the table, so an erased key never opens anything.
        self._cache[subject] = bytes(key)
        return bytes(key)

    def keys(self, subjects: Iterable[UUID]) -> dict[UUID, bytes | None]:
        """Existing keys (None for erased or unknown subjects), in one query."""
        wanted = list(set(subjects))
        if not wanted:
            return {}
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT subject_id, key FROM personal_data_keys WHERE subject_id = ANY(%s)",
                (wanted,),
            ).fetchall()
        found: dict[UUID, bytes | None] = dict.fromkeys(wanted)
        for row in rows:
            subject, key = _pair(row)
            found[subject] = None if key is None else bytes(key)
        return found

    def subject_of(self, order_id: UUID) -> UUID | None:
        """The customer of an order, from its first event's clear-text ``customer_id``
        (remembered: an order's customer never changes)."""
        subject = self._subjects.get(order_id)
        if subject is None:
            subject = blocking(self._subject_of, order_id)
            if subject is not None:
                if len(self._subjects) >= _SUBJECTS_REMEMBERED:
                    self._subjects.clear()
                self._subjects[order_id] = subject
        return subject

    def _subject_of(self, order_id: UUID) -> UUID | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT state FROM events WHERE originator_id = %s AND originator_version = 1",
                (order_id,),
            ).fetchone()
        state = _first(row)
        if state is None:
            return None
        found = _CUSTOMER_IN_STATE.search(bytes(state))
        return UUID(found.group(1).decode()) if found else None

    def erase(self, subject: UUID) -> None:
        """Destroy the subject's key (keeping a tombstone), and the snapshots that hold their
        data in plaintext (snapshots are a cache; aggregates load from events without them)."""
        blocking(self._erase, subject)
        self._cache.pop(subject, None)
        _cipher.cache_clear()  # nor is the key kept here inside a cipher (erasures are rare)

    def _erase(self, subject: UUID) -> None:
        with self._connect() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO personal_data_keys (subject_id, key, erased_at)"
                " VALUES (%s, NULL, now()) ON CONFLICT (subject_id)"
                " DO UPDATE SET key = NULL, erased_at = now()",
                (subject,),
            )
            # Snapshots of the customer and of their orders (whose state names the customer).
            conn.execute(
                "DELETE FROM snapshots WHERE originator_id = %s"
                " OR position(%s::bytea IN state) > 0",
                (subject, f'"customer_id":{{"$uuid":"{subject}"}}'.encode()),
            )


def _first(row: Any) -> Any:
    if row is None:
        return None
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _pair(row: Any) -> tuple[UUID, Any]:
    values = list(row.values()) if isinstance(row, dict) else list(row)
    return UUID(str(values[0])), values[1]


def event_type(topic: str) -> str:
    """The event type a stored topic names, as ``PERSONAL_FIELDS`` keys it ("Order.Placed")."""
    return topic.rpartition(":")[2]


_CUSTOMER_IN_STATE = re.compile(rb'"customer_id":\{"\$uuid":"([0-9a-f-]{36})"')
_SUBJECT_IN_STATE = re.compile(
    rb'personal_data:PersonalData",\{"subject":\{"\$uuid":"([0-9a-f-]{36})"'
)


def subjects_in(states: Iterable[bytes]) -> set[UUID]:
    """The data subjects whose boxes appear in these stored states (to fetch keys in bulk)."""
    found: set[UUID] = set()
    for state in states:
        if state.find(b"PersonalData") != -1:  # not ``in``: see ``event_from``
            found.update(UUID(m.decode()) for m in _SUBJECT_IN_STATE.findall(state))
    return found


@lru_cache(maxsize=65536)
def _cipher(key: bytes) -> AESGCM:
    """An AES-GCM cipher for ``key``; setting one up costs as much as using it, so the
    ciphers of recently used keys are kept (a rebuild meets every customer's key). The
    keys themselves always come from the key table, so an erased key opens nothing."""
    return AESGCM(key)


def _redacted(field: str) -> Any:
    return REDACTED_ADDRESS if "address" in field else REDACTED


class PersonalDataMapper(Mapper[UUID]):
    """The library's mapper, sealing personal fields on the way in and opening them (or
    redacting them) on the way out."""

    def __init__(self, keys: KeyStore, transcoder: Transcoder | None = None) -> None:
        super().__init__(transcoder=transcoder or OrjsonTranscoder())
        self.keys = keys
        self._values = OrjsonTranscoder()
        self._prefetched: dict[UUID, bytes | None] | None = None
        # Keys made for new subjects while mapping a command's events, for the recorder to
        # store in the same statement as those events (see take_new_keys). Per context, not
        # per thread: bridged commands (``application.bridge``) share the loop's thread.
        self._new_keys: ContextVar[dict[UUID, bytes] | None] = ContextVar(
            "evident_new_keys", default=None
        )
        # Per event class: its personal fields, whether it registers a new subject, and
        # whether its subject is its own aggregate (a customer).
        self._fields: dict[type, tuple[tuple[str, ...], bool, bool]] = {}
        # Per stored topic: its event class and that class's version (see event_from).
        self._classes: dict[str, tuple[Any, int]] = {}

    def take_new_keys(self) -> dict[UUID, bytes]:
        """Keys created for subjects first seen by this context's last mapping (a thread's or
        a bridged command's); cleared."""
        new = self._new_keys.get() or {}
        self._new_keys.set(None)
        return new

    # --- writing ------------------------------------------------------------------------------

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        kind = type(domain_event)
        known = self._fields.get(kind)
        if known is None:
            named = event_type(get_topic(kind))
            known = self._fields[kind] = (
                PERSONAL_FIELDS.get(named, ()), named == "Customer.Registered",
                named.startswith("Customer."),
            )
        fields, registers_subject, of_customer = known
        if not fields:
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))
        subject = domain_event.originator_id if of_customer else self._subject(domain_event, state)
        present = [name for name in fields if state.get(name) is not None]
        # One call for all the randomness this event needs: a system call costs more than
        # the encryption it feeds.
        random = os.urandom(32 + 12 * len(present))
        if registers_subject:
            # A new subject: its key is stored with the event, in the same transaction (a
            # duplicate registration fails on both at once), so there is no extra commit.
            key = random[:32]
            pending = self._new_keys.get()
            if pending is None:
                pending = {}
                self._new_keys.set(pending)
            pending[subject] = key
        else:
            key = self.keys.key_for(subject)
        cipher = _cipher(key)
        for n, name in enumerate(present):
            state[name] = self._seal(subject, cipher, random[32 + 12 * n:44 + 12 * n],
                                     state[name])
        sealed = object.__new__(kind)
        object.__setattr__(sealed, "__dict__", state)
        stored = super().to_stored_event(sealed)
        return PersonalStoredEvent(stored.originator_id, stored.originator_version,
                                   stored.topic, stored.state, subject)

    def _subject(self, domain_event: DomainEventProtocol[UUID], state: dict[str, Any]) -> UUID:
        """The customer an order's event is about."""
        customer_id = state.get("customer_id")
        if isinstance(customer_id, UUID):
            return customer_id
        subject = self.keys.subject_of(domain_event.originator_id)
        if subject is None:
            raise SubjectErasedError(f"no data subject known for {domain_event.originator_id}")
        return subject

    def _seal(self, subject: UUID, cipher: AESGCM, nonce: bytes, value: Any) -> PersonalData:
        # The subject id is bound in as associated data: a box cannot be moved to another
        # subject's event and still open.
        sealed = cipher.encrypt(nonce, self._values.encode(value), subject.bytes)
        return PersonalData(subject, base64.b64encode(nonce + sealed).decode())

    # --- reading ------------------------------------------------------------------------------

    def prefetch(self, states: Iterable[bytes]) -> None:
        """Fetch the keys a batch of stored events needs in one query (projections)."""
        self._prefetched = self.keys.keys(subjects_in(states))

    def forget_prefetched(self) -> None:
        self._prefetched = None

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        subject, key = ((stored_event.subject, stored_event.subject_key)
                        if isinstance(stored_event, PersonalStoredEvent) else (None, None))
        event: DomainEventProtocol[UUID] = self.event_from(
            stored_event.topic, stored_event.state, stored_event.originator_id,
            stored_event.originator_version, subject, key,
        )
        return event

    def event_from(
        self,
        topic: str,
        state: bytes,
        originator_id: Any,
        originator_version: int,
        subject: UUID | None = None,
        subject_key: bytes | None = None,
        *,
        open_personal: bool = True,
    ) -> Any:
        """The domain event stored as ``state`` under ``topic``, its personal data opened
        (with ``subject_key`` for boxes of ``subject``, read with the event; others' keys
        from the batch's prefetch or the key table), or left sealed if not ``open_personal``
        (for readers that never look at it).

        What the library's ``Mapper.to_domain_event`` does (the same topic resolution and
        upcasting), for the parts Evident uses, without a ``StoredEvent`` to build first:
        every projection decodes every event through here, so its overhead counts.
        """
        # Every event read passes through here: the class and its version are looked up
        # once per topic, not resolved and asked for each event.
        known = self._classes.get(topic)
        if known is None:
            kind = resolve_topic(topic)
            known = self._classes[topic] = (kind, getattr(kind, "class_version", 1))
        kind, class_version = known
        try:
            event_state: dict[str, Any] = self.transcoder.decode(state)
        except Exception as e:
            msg = (f"Failed to deserialise state of stored event with topic '{topic}',"
                   f" originator_id '{originator_id}' and originator_version"
                   f" {originator_version}: {e}")
            raise MapperDeserialisationError(msg) from e
        if type(originator_id) is not UUID:
            originator_id = UUID(str(originator_id))
        event_state["originator_id"] = originator_id
        event_state["originator_version"] = originator_version
        from_version = event_state.pop("class_version", 1)
        while from_version < class_version:
            getattr(kind, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        # An event that names its data subject holds sealed boxes; one stored before
        # subjects were named is searched for them.
        # ``find`` rather than ``in``: ``bytes.__contains__`` first tries its operand as an
        # integer, and raises, formats and clears a TypeError on every call.
        if open_personal and (subject is not None or state.find(b"PersonalData") != -1):
            self.open_values(event_state, subject, subject_key)
        domain_event = object.__new__(kind)
        object.__setattr__(domain_event, "__dict__", event_state)
        return domain_event

    def open_values(
        self,
        state: dict[str, Any],
        subject: UUID | None = None,
        subject_key: bytes | None = None,
    ) -> None:
        """Replace sealed fields in a decoded event state by their values or the marker.

        Boxes of ``subject`` open with ``subject_key`` (read from the key table with the
        event: None means erased); any others with the batch's prefetched keys, or keys
        asked for now.
        """
        boxes = {name: v for name, v in state.items() if type(v) is PersonalData}
        if not boxes:
            return
        known = self._prefetched or {}
        asked: dict[UUID, bytes | None] = {}
        missing = {
            b.subject for b in boxes.values() if b.subject != subject and b.subject not in known
        }
        if missing:
            asked = self.keys.keys(missing)  # one query per event at most
        for name, box in boxes.items():
            if box.subject == subject:
                key = subject_key
            else:
                key = known[box.subject] if box.subject in known else asked.get(box.subject)
            state[name] = self._open(name, box, key)

    def _open(self, field: str, box: PersonalData, key: bytes | None) -> Any:
        if key is None:
            return _redacted(field)
        raw = binascii.a2b_base64(box.sealed)  # base64.b64decode, one call fewer
        plain = _cipher(key).decrypt(raw[:12], raw[12:], box.subject.bytes)
        return self._values.decode(plain)


def create_keys_schema(conn: psycopg.Connection[Any]) -> None:
    conn.execute(KEYS_SQL)
