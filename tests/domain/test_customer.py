"""Specifications for customers: contact data, consents, notes and erasure."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.customer import Customer
from domain.errors import (
    AddressLabelExistsError,
    AddressNotFoundError,
    ConsentUnchangedError,
    CustomerErasedError,
    DuplicateCustomerNoteError,
    InvalidEmailError,
    InvalidPhoneError,
)
from domain.values import ConsentChannel
from tests.domain.scenario import (
    ADDRESS,
    OTHER_ADDRESS,
    T0,
    at,
    given,
    rejected,
    then_single,
    uid,
    when,
)

CID = uid("customer")


def register(email: str = "ada@example.com", phone: str | None = None) -> Customer:
    return Customer.register(
        customer_id=CID, name="Ada", email=email, phone=phone, address=ADDRESS, registered_at=T0
    )


def customer(*commands: Callable[[Customer], object]) -> Customer:
    return given(register(), *commands)


def erase(c: Customer) -> None:
    c.request_erasure(reason="GDPR art. 17", at=at(9))


def test_registering_a_customer() -> None:
    c = register()
    (event,) = c.collect_events()
    assert isinstance(event, Customer.Registered)
    assert (event.name, event.email, event.address) == ("Ada", "ada@example.com", ADDRESS)
    assert c.addresses == {"default": ADDRESS}


@pytest.mark.parametrize("email", ["ada", "ada@", "@example.com", "ada@example", "a da@x.com"])
def test_cannot_register_with_a_malformed_email(email: str) -> None:
    with pytest.raises(InvalidEmailError):
        register(email)


@pytest.mark.parametrize(
    "phone", ["+49 30 1234567", "030/123456", "+1 (555) 010-9999 x12", "+44 20.7946.0000",
              "+33 1 23 45 67 89 ext. 4", "+49 (0)30 1234567", "030 / 123 45 67",
              "+49\u00a030\u00a01234567", "+1 555 0100, ext. 12", "+1 555 0100 #12",
              "0049 30 12345678901", "(030) 123 456", "+1 ( 555 ) 0100"],
)
def test_phones_in_any_common_written_form_are_kept_as_written(phone: str) -> None:
    (event,) = register(phone=phone).collect_events()
    assert isinstance(event, Customer.Registered)
    assert event.phone == phone


def test_a_phone_is_kept_without_surrounding_spaces() -> None:
    (event,) = register(phone=" +49 30 1234567 ").collect_events()
    assert isinstance(event, Customer.Registered)
    assert event.phone == "+49 30 1234567"


@pytest.mark.parametrize(
    ("phone", "rule"),
    [("abc", "digits with"), ("call me", "digits with"), ("+49 30 12a", "digits with"),
     ("++49 30 1", "digits with"), ("", "digits with"), ("  ", "digits with"),
     ("123\nx12", "digits with"), ("x12", "digits with"), ("12", "3 to 15 digits"),
     ("+49 1234 5678 9012 34", "3 to 15 digits"), ("1" * 41, "at most 40 characters"),
     ("((((123", "close each bracket"), ("(030 1234567", "close each bracket"),
     ("030) 1234567", "close each bracket"), ("(03(0)) 123456", "close each bracket"),
     ("() 1234567", "close each bracket"), ("(-) 1234567", "close each bracket"),
     ("( ) 1234567", "close each bracket"), ("(\u00a0)(\u00a0)123", "close each bracket"),
     ("+1 (555-0100)", "close each bracket")],
)
def test_cannot_register_with_a_phone_no_one_could_dial(phone: str, rule: str) -> None:
    with pytest.raises(InvalidPhoneError, match=rule) as refused:
        register(phone=phone)
    assert refused.value.field == "phone"


def test_adding_an_address() -> None:
    c = customer()
    events = when(c, lambda x: x.add_address(label="work", address=OTHER_ADDRESS, at=at(1)))
    then_single(events, Customer.AddressAdded, label="work", address=OTHER_ADDRESS)


def test_cannot_add_an_address_under_a_taken_label() -> None:
    rejected(
        customer(),
        lambda x: x.add_address(label="default", address=OTHER_ADDRESS, at=at(1)),
        AddressLabelExistsError,
    )


def test_changing_and_removing_an_address() -> None:
    c = customer()
    when(c, lambda x: x.change_address(label="default", address=OTHER_ADDRESS, at=at(1)))
    assert c.address("default") == OTHER_ADDRESS
    then_single(
        when(c, lambda x: x.remove_address(label="default", at=at(2))),
        Customer.AddressRemoved,
        label="default",
    )
    assert c.addresses == {}


def test_cannot_change_an_unknown_address() -> None:
    rejected(
        customer(),
        lambda x: x.change_address(label="home", address=OTHER_ADDRESS, at=at(1)),
        AddressNotFoundError,
    )


def test_granting_and_withdrawing_consent() -> None:
    c = customer()
    grant = when(c, lambda x: x.grant_consent(channel=ConsentChannel.EMAIL, at=at(1)))
    then_single(grant, Customer.ConsentGranted, channel=ConsentChannel.EMAIL)
    assert c.consents == {"email": True, "sms": False}
    when(c, lambda x: x.withdraw_consent(channel=ConsentChannel.EMAIL, at=at(2)))
    assert c.consents["email"] is False


def test_cannot_withdraw_a_consent_never_given() -> None:
    rejected(
        customer(),
        lambda x: x.withdraw_consent(channel=ConsentChannel.SMS, at=at(1)),
        ConsentUnchangedError,
    )


def test_adding_a_note_and_not_twice() -> None:
    c = customer()
    events = when(c, lambda x: x.add_note(note_id=uid("n"), text="VIP", author="agent", at=at(1)))
    then_single(events, Customer.NoteAdded, text="VIP")
    rejected(
        c,
        lambda x: x.add_note(note_id=uid("n"), text="VIP", author="agent", at=at(1)),
        DuplicateCustomerNoteError,
    )


def test_erasure_forgets_personal_data() -> None:
    c = customer(lambda x: x.grant_consent(channel=ConsentChannel.SMS, at=at(1)))
    then_single(when(c, erase), Customer.ErasureRequested, reason="GDPR art. 17")
    assert (c.name, c.email, c.phone, c.addresses, c.notes) == (None, None, None, {}, [])
    assert c.consents == {"email": False, "sms": False}


def test_after_erasure_no_personal_data_is_accepted() -> None:
    c = customer(erase)
    rejected(
        c,
        lambda x: x.add_address(label="new", address=OTHER_ADDRESS, at=at(10)),
        CustomerErasedError,
    )
    rejected(
        c,
        lambda x: x.add_note(note_id=uid("n"), text="t", author="a", at=at(10)),
        CustomerErasedError,
    )
    rejected(
        c, lambda x: x.grant_consent(channel=ConsentChannel.EMAIL, at=at(10)), CustomerErasedError
    )
    rejected(c, erase, CustomerErasedError)
