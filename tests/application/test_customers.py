"""Customers through the application service: registration, addresses, consents, notes,
erasure and If-Match, against real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from uuid import UUID, uuid4

import pytest

from application.bootstrap import create_order_management
from application.errors import AlreadyExistsError, NotFoundError, StaleVersionError
from application.order_management import CommandResult, OrderManagement
from application.settings import Settings
from domain.customer import Customer
from domain.errors import (
    AddressLabelExistsError,
    AddressNotFoundError,
    ConsentUnchangedError,
    CustomerErasedError,
    InvalidEmailError,
)
from domain.location import LocationNetwork
from domain.values import ConsentChannel
from tests.application.builders import (
    ADDRESS,
    OTHER_ADDRESS,
    EventLog,
    add_locations,
    assert_recorded,
    envelope,
    register,
)

# Customers are independent aggregates and every specification registers its own, so the
# module shares one database (each DROP DATABASE at session end costs a checkpoint). "Nothing
# recorded" is checked as an unchanged event count around the rejected command.


@pytest.fixture(scope="module")
def shared_database_url(make_database: Callable[[], str]) -> str:
    return make_database()


@pytest.fixture(scope="module")
def oms(shared_database_url: str) -> Iterator[OrderManagement]:
    app = create_order_management(
        shared_database_url, Settings(DATABASE_URL=shared_database_url)
    )
    try:
        yield app
    finally:
        app.close()


@pytest.fixture(scope="module")
def log(shared_database_url: str) -> EventLog:
    return EventLog(shared_database_url)


@pytest.fixture
def customer_id(oms: OrderManagement) -> UUID:
    return register(oms, uuid4())


def customer(oms: OrderManagement, customer_id: UUID) -> Customer:
    found: object = oms.repository.get(customer_id)
    assert isinstance(found, Customer)
    return found


# --- registering ----------------------------------------------------------------------------


def test_registering_a_customer_with_a_client_chosen_id(
    oms: OrderManagement, log: EventLog
) -> None:
    wanted = uuid4()
    sent = envelope("shop", "client", "web")
    result = oms.register_customer(
        customer_id=wanted, name="Ada Lovelace", email="ada@example.com", phone=None,
        address=ADDRESS, envelope=sent,
    )
    assert_recorded(log, result, sent, ["Customer.Registered"])
    assert (result.id, result.version) == (wanted, 1)
    registered = customer(oms, wanted)
    assert registered.email == "ada@example.com"
    assert registered.addresses == {"default": ADDRESS}


def test_registering_without_an_id_generates_one(oms: OrderManagement) -> None:
    result = oms.register_customer(
        customer_id=None, name="Grace Hopper", email="grace@example.com", phone=None,
        address=None, envelope=envelope(),
    )
    assert isinstance(result.id, UUID)
    assert customer(oms, result.id).name == "Grace Hopper"


def test_registering_the_same_id_twice_is_already_exists(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    before = log.count()
    with pytest.raises(AlreadyExistsError) as raised:
        register(oms, customer_id)
    assert raised.value.field == "id"
    assert log.count() == before


def test_a_customer_id_taken_by_another_aggregate_is_already_exists(
    oms: OrderManagement, log: EventLog
) -> None:
    if oms.network() is None:
        add_locations(oms)
    before = log.count()
    with pytest.raises(AlreadyExistsError):
        register(oms, LocationNetwork.ID)
    assert log.count() == before


def test_registering_with_an_invalid_email_records_nothing(
    oms: OrderManagement, log: EventLog
) -> None:
    before = log.count()
    with pytest.raises(InvalidEmailError):
        oms.register_customer(
            customer_id=None, name="Ada", email="not-an-email", phone=None, address=None,
            envelope=envelope(),
        )
    assert log.count() == before


# --- addresses ------------------------------------------------------------------------------


def test_adding_an_address_under_a_new_label(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    sent = envelope()
    result = oms.add_customer_address(
        customer_id, label="work", address=OTHER_ADDRESS, envelope=sent
    )
    assert_recorded(log, result, sent, ["Customer.AddressAdded"])
    assert customer(oms, customer_id).addresses["work"] == OTHER_ADDRESS


def test_cannot_add_an_address_under_a_label_in_use(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    before = log.count()
    with pytest.raises(AddressLabelExistsError):
        oms.add_customer_address(
            customer_id, label="default", address=OTHER_ADDRESS, envelope=envelope()
        )
    assert log.count() == before


def test_changing_an_address(oms: OrderManagement, log: EventLog, customer_id: UUID) -> None:
    sent = envelope()
    result = oms.change_customer_address(
        customer_id, label="default", address=OTHER_ADDRESS, envelope=sent
    )
    assert_recorded(log, result, sent, ["Customer.AddressChanged"])
    assert customer(oms, customer_id).addresses == {"default": OTHER_ADDRESS}


def test_cannot_change_an_address_that_does_not_exist(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    before = log.count()
    with pytest.raises(AddressNotFoundError):
        oms.change_customer_address(
            customer_id, label="holiday", address=OTHER_ADDRESS, envelope=envelope()
        )
    assert log.count() == before


def test_removing_an_address(oms: OrderManagement, log: EventLog, customer_id: UUID) -> None:
    sent = envelope()
    result = oms.remove_customer_address(customer_id, label="default", envelope=sent)
    assert_recorded(log, result, sent, ["Customer.AddressRemoved"])
    assert customer(oms, customer_id).addresses == {}


def test_cannot_remove_an_address_that_does_not_exist(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    before = log.count()
    with pytest.raises(AddressNotFoundError):
        oms.remove_customer_address(customer_id, label="holiday", envelope=envelope())
    assert log.count() == before


def test_commands_on_an_unknown_customer_are_not_found(
    oms: OrderManagement, log: EventLog
) -> None:
    before = log.count()
    with pytest.raises(NotFoundError):
        oms.add_customer_address(uuid4(), label="x", address=ADDRESS, envelope=envelope())
    with pytest.raises(NotFoundError):
        oms.add_customer_note(uuid4(), text="hello", envelope=envelope())
    assert log.count() == before


# --- consents -------------------------------------------------------------------------------


def test_granting_and_withdrawing_consent(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    granting = envelope("shop", "client", "web")
    granted = oms.record_consent(
        customer_id, channel=ConsentChannel.EMAIL, granted=True, envelope=granting
    )
    assert_recorded(log, granted, granting, ["Customer.ConsentGranted"])
    assert customer(oms, customer_id).consents == {"email": True, "sms": False}

    withdrawing = envelope("shop", "client", "web")
    withdrawn = oms.record_consent(
        customer_id, channel=ConsentChannel.EMAIL, granted=False, envelope=withdrawing
    )
    assert_recorded(log, withdrawn, withdrawing, ["Customer.ConsentWithdrawn"])
    assert customer(oms, customer_id).consents == {"email": False, "sms": False}


def test_granting_a_consent_already_granted_is_rejected(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    oms.record_consent(customer_id, channel=ConsentChannel.SMS, granted=True, envelope=envelope())
    before = log.count()
    with pytest.raises(ConsentUnchangedError):
        oms.record_consent(
            customer_id, channel=ConsentChannel.SMS, granted=True, envelope=envelope()
        )
    assert log.count() == before


# --- notes ----------------------------------------------------------------------------------


def test_adding_a_note_records_the_agent_as_its_author(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    sent = envelope("bob", "agent", "console")
    result = oms.add_customer_note(customer_id, text="Prefers phone calls", envelope=sent)
    assert_recorded(log, result, sent, ["Customer.NoteAdded"])
    notes = customer(oms, customer_id).notes
    assert [(n.note_id, n.text, n.author) for n in notes] == [
        (result.created_id, "Prefers phone calls", "bob")
    ]


# --- erasure --------------------------------------------------------------------------------


def test_requesting_erasure_forgets_personal_data_and_records_the_reason(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    oms.add_customer_note(customer_id, text="VIP", envelope=envelope())
    sent = envelope()
    result = oms.request_erasure(customer_id, reason="GDPR art. 17 request", envelope=sent)
    assert_recorded(
        log, result, sent, ["Customer.ErasureRequested"], reason="GDPR art. 17 request"
    )
    erased = customer(oms, customer_id)
    assert erased.erased
    assert (erased.name, erased.email, erased.phone) == (None, None, None)
    assert erased.addresses == {}
    assert erased.notes == []


PersonalDataCommand = Callable[[OrderManagement, UUID], CommandResult]

PERSONAL_DATA_COMMANDS: dict[str, PersonalDataCommand] = {
    "add address": lambda oms, cid: oms.add_customer_address(
        cid, label="work", address=OTHER_ADDRESS, envelope=envelope()
    ),
    "change address": lambda oms, cid: oms.change_customer_address(
        cid, label="default", address=OTHER_ADDRESS, envelope=envelope()
    ),
    "remove address": lambda oms, cid: oms.remove_customer_address(
        cid, label="default", envelope=envelope()
    ),
    "grant consent": lambda oms, cid: oms.record_consent(
        cid, channel=ConsentChannel.EMAIL, granted=True, envelope=envelope()
    ),
    "add note": lambda oms, cid: oms.add_customer_note(cid, text="hello", envelope=envelope()),
    "erase again": lambda oms, cid: oms.request_erasure(cid, reason="again", envelope=envelope()),
}


@pytest.mark.parametrize("command", PERSONAL_DATA_COMMANDS.values(), ids=PERSONAL_DATA_COMMANDS)
def test_an_erased_customer_accepts_no_personal_data(
    oms: OrderManagement, log: EventLog, customer_id: UUID, command: PersonalDataCommand
) -> None:
    oms.request_erasure(customer_id, reason="customer asked", envelope=envelope())
    before = log.count()
    with pytest.raises(CustomerErasedError):
        command(oms, customer_id)
    assert log.count() == before


# --- If-Match -------------------------------------------------------------------------------


def test_a_command_at_the_expected_version_succeeds(
    oms: OrderManagement, customer_id: UUID
) -> None:
    result = oms.add_customer_note(
        customer_id, text="checked", envelope=envelope(), expected_version=1
    )
    assert result.version == 2


def test_a_command_at_a_stale_version_is_refused_and_records_nothing(
    oms: OrderManagement, log: EventLog, customer_id: UUID
) -> None:
    oms.add_customer_note(customer_id, text="first", envelope=envelope())
    before = log.count()
    with pytest.raises(StaleVersionError) as raised:
        oms.add_customer_address(
            customer_id, label="work", address=OTHER_ADDRESS, envelope=envelope(),
            expected_version=1,
        )
    assert raised.value.field == "If-Match"
    assert log.count() == before
    assert "work" not in customer(oms, customer_id).addresses
