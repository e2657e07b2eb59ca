"""The Customer aggregate: who buys, how to reach them, what they agreed to, what care knows.

A customer's record changes independently of their orders (addresses, consents, notes), so it
is its own aggregate. It holds personal data, so it also carries the right to erasure: once
erasure is requested the aggregate forgets the data in memory and refuses every command that
would record personal data again. (Making the data unreadable in stored events is the job of the
persistence layer, which can key encryption by customer id.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    AddressLabelExistsError,
    AddressNotFoundError,
    ConsentUnchangedError,
    CustomerErasedError,
    DuplicateCustomerNoteError,
    InvalidEmailError,
    InvalidPhoneError,
)
from domain.values import Address, ConsentChannel, require_aware, require_text

# Deliberately loose: the only reliable email check is sending one; this catches typos.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def require_email(email: str) -> str:
    if not isinstance(email, str) or len(email) > 254 or not _EMAIL.fullmatch(email):
        raise InvalidEmailError(f"email must look like name@example.com, got {email!r}",
                                field="email")
    return email


# Also loose: numbers are written in many national styles, so any grouping with spaces
# (no-break ones too, as pasted), dashes, dots, slashes or brackets (in pairs, around digits
# and spaces only, as in "(030)") passes, with an optional leading + and an extension. What
# it stops is what no one can dial: words, stray brackets, or a digit count E.164 does not
# allow. The international prefix 00 and a bracketed trunk 0, as in "+49 (0)30", are not
# part of the number, so they are not counted.
_PHONE = re.compile(
    r"(?P<number>\+?[0-9 \u00a0().\-/]+)"
    r"(?:[ \u00a0]*,?[ \u00a0]*(?:x|ext\.?|extension|#)[ \u00a0]*[0-9]{1,6})?",
    re.IGNORECASE,
)
_NOT_COUNTED = re.compile(r"^00|\(0\)")
# An area code or a trunk 0 in brackets, as in "(030)" or "(0)": at least one digit.
_BRACKETED = re.compile(r"\([ \u00a0]*[0-9][0-9 \u00a0]*\)")
PHONE_DIGITS = (3, 15)
PHONE_LENGTH = 40


def require_phone(phone: str) -> str:
    """A dialable number: 3 to 15 digits (E.164's most), in any common written form; returns
    it without surrounding spaces."""
    if not isinstance(phone, str):
        raise InvalidPhoneError(f"phone must be text, got {phone!r}", field="phone")
    phone = phone.strip()
    if len(phone) > PHONE_LENGTH:
        raise InvalidPhoneError(
            f"phone must be at most {PHONE_LENGTH} characters, got {len(phone)}", field="phone")
    written = _PHONE.fullmatch(phone)
    if written is None:
        raise InvalidPhoneError(
            f"phone must be digits with an optional leading +, spaces, dashes, dots, slashes"
            f" or brackets and an optional extension (x123), got {phone!r}", field="phone")
    number = written["number"]
    unbracketed = _BRACKETED.sub("", number)
    if "(" in unbracketed or ")" in unbracketed:
        raise InvalidPhoneError(
            f"phone must close each bracket it opens, with only digits inside, as in"
            f" (030), got {phone!r}", field="phone")
    digits = sum(c.isdigit() for c in _NOT_COUNTED.sub("", number))
    low, high = PHONE_DIGITS
    if not low <= digits <= high:
        raise InvalidPhoneError(
            f"phone must have {low} to {high} digits (not counting an extension, a leading 00"
            f" or a bracketed 0), got {digits} in {phone!r}", field="phone")
    return phone


@dataclass(frozen=True)
class CustomerNote:
    note_id: UUID
    text: str
    author: str
    at: datetime


class Customer(Aggregate):
    """A customer. Construct with ``Customer.register(...)``."""

    class Registered(Aggregate.Created):
        name: str
        email: str
        phone: str | None
        address: Address | None
        registered_at: datetime

    class AddressAdded(Aggregate.Event):
        label: str
        address: Address

    class AddressChanged(Aggregate.Event):
        label: str
        address: Address

    class AddressRemoved(Aggregate.Event):
        label: str

    class ConsentGranted(Aggregate.Event):
        channel: ConsentChannel

    class ConsentWithdrawn(Aggregate.Event):
        channel: ConsentChannel

    class NoteAdded(Aggregate.Event):
        note_id: UUID
        text: str
        author: str

    class ErasureRequested(Aggregate.Event):
        reason: str

    @classmethod
    def register(
        cls,
        *,
        customer_id: UUID,
        name: str,
        email: str,
        phone: str | None,
        address: Address | None,
        registered_at: datetime,
    ) -> Customer:
        require_text(name, "customer name")
        require_email(email)
        if phone is not None:
            phone = require_phone(phone)
        require_aware(registered_at, "registered_at")
        return cls(
            id=customer_id,
            name=name,
            email=email,
            phone=phone,
            address=address,
            registered_at=registered_at,
            timestamp=registered_at,
        )

    @event(Registered)
    def __init__(
        self,
        id: UUID,
        name: str,
        email: str,
        phone: str | None,
        address: Address | None,
        registered_at: datetime,
        timestamp: datetime,
    ) -> None:
        self.name: str | None = name
        self.email: str | None = email
        self.phone = phone
        self.registered_at = registered_at
        # The address given at registration is the "default" one.
        self.addresses: dict[str, Address] = {} if address is None else {"default": address}
        self.consents: dict[str, bool] = {c.value: False for c in ConsentChannel}
        self.notes: list[CustomerNote] = []
        self.erased = False
        self.erasure_reason: str | None = None

    def _require_not_erased(self, doing: str) -> None:
        if self.erased:
            raise CustomerErasedError(
                f"cannot {doing} for customer {self.id}: their personal data was erased"
            )

    def address(self, label: str) -> Address:
        try:
            return self.addresses[label]
        except KeyError:
            raise AddressNotFoundError(
                f"customer {self.id} has no address labelled {label!r}"
            ) from None

    # --- addresses --------------------------------------------------------------------------

    def add_address(self, *, label: str, address: Address, at: datetime) -> None:
        require_text(label, "address label")
        require_aware(at, "at")
        self._require_not_erased("add an address")
        if label in self.addresses:
            raise AddressLabelExistsError(
                f"customer {self.id} already has an address labelled {label!r}"
            )
        self._add_address(label=label, address=address, timestamp=at)

    @event(AddressAdded)
    def _add_address(self, label: str, address: Address, timestamp: datetime) -> None:
        self.addresses[label] = address

    def change_address(self, *, label: str, address: Address, at: datetime) -> None:
        require_aware(at, "at")
        self._require_not_erased("change an address")
        self.address(label)
        self._change_address(label=label, address=address, timestamp=at)

    @event(AddressChanged)
    def _change_address(self, label: str, address: Address, timestamp: datetime) -> None:
        self.addresses[label] = address

    def remove_address(self, *, label: str, at: datetime) -> None:
        require_aware(at, "at")
        self._require_not_erased("remove an address")
        self.address(label)
        self._remove_address(label=label, timestamp=at)

    @event(AddressRemoved)
    def _remove_address(self, label: str, timestamp: datetime) -> None:
        del self.addresses[label]

    # --- consents ---------------------------------------------------------------------------

    def grant_consent(self, *, channel: ConsentChannel, at: datetime) -> None:
        consent = ConsentChannel(channel)
        require_aware(at, "at")
        self._require_not_erased("grant consent")
        if self.consents[consent.value]:
            raise ConsentUnchangedError(f"customer {self.id} already consented to {consent}")
        self._grant_consent(channel=consent, timestamp=at)

    @event(ConsentGranted)
    def _grant_consent(self, channel: ConsentChannel, timestamp: datetime) -> None:
        self.consents[channel.value] = True

    def withdraw_consent(self, *, channel: ConsentChannel, at: datetime) -> None:
        """Allowed even after erasure: withdrawing can only reduce what we may do."""
        consent = ConsentChannel(channel)
        require_aware(at, "at")
        if not self.consents[consent.value]:
            raise ConsentUnchangedError(f"customer {self.id} has not consented to {consent}")
        self._withdraw_consent(channel=consent, timestamp=at)

    @event(ConsentWithdrawn)
    def _withdraw_consent(self, channel: ConsentChannel, timestamp: datetime) -> None:
        self.consents[channel.value] = False

    # --- care -------------------------------------------------------------------------------

    def add_note(self, *, note_id: UUID, text: str, author: str, at: datetime) -> None:
        require_text(text, "note text")
        require_text(author, "note author")
        require_aware(at, "at")
        self._require_not_erased("add a note")
        if any(n.note_id == note_id for n in self.notes):
            raise DuplicateCustomerNoteError(f"customer {self.id} already has a note {note_id}")
        self._add_note(note_id=note_id, text=text, author=author, timestamp=at)

    @event(NoteAdded)
    def _add_note(self, note_id: UUID, text: str, author: str, timestamp: datetime) -> None:
        self.notes.append(CustomerNote(note_id, text, author, timestamp))

    # --- erasure ----------------------------------------------------------------------------

    def request_erasure(self, *, reason: str, at: datetime) -> None:
        require_text(reason, "erasure reason")
        require_aware(at, "at")
        self._require_not_erased("request erasure again")
        self._request_erasure(reason=reason, timestamp=at)

    @event(ErasureRequested)
    def _request_erasure(self, reason: str, timestamp: datetime) -> None:
        self.erased = True
        self.erasure_reason = reason
        self.name = None
        self.email = None
        self.phone = None
        self.addresses = {}
        self.notes = []
        self.consents = {c.value: False for c in ConsentChannel}
