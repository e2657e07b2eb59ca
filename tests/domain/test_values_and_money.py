"""Specifications for money, shared values and the error vocabulary."""

from __future__ import annotations

import inspect
from decimal import Decimal

import pytest

import domain.errors as errors_module
from domain.errors import (
    DomainError,
    InvalidAddressError,
    InvalidAmountError,
    InvalidCurrencyError,
    InvalidIdentifierError,
)
from domain.money import minor_units, round_money, validate_amount, validate_currency
from domain.values import Address, require_sku


@pytest.mark.parametrize(("currency", "places"), [("EUR", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3)])
def test_each_currency_has_its_minor_units(currency: str, places: int) -> None:
    assert minor_units(currency) == places


@pytest.mark.parametrize("currency", ["eur", "EURO", "E1R", "", "€"])
def test_a_currency_must_be_three_uppercase_letters(currency: str) -> None:
    with pytest.raises(InvalidCurrencyError, match="three-letter") as refused:
        validate_currency(currency)
    assert refused.value.field == "currency"


@pytest.mark.parametrize("currency", ["XXX", "XTS", "XAU", "XDR"])
def test_codes_for_no_currency_of_payment_are_refused(currency: str) -> None:
    with pytest.raises(InvalidCurrencyError, match="no currency of payment") as refused:
        validate_currency(currency)
    assert refused.value.field == "currency"
    assert minor_units(currency) == 2  # what was recorded before stays readable


@pytest.mark.parametrize("currency", ["XAF", "XOF", "XPF", "XCD", "CHF"])
def test_currencies_whose_code_begins_with_x_are_currencies(currency: str) -> None:
    assert validate_currency(currency) == currency


def test_money_rounds_half_up_to_the_minor_unit() -> None:
    assert round_money(Decimal("0.125"), "EUR") == Decimal("0.13")
    assert round_money(Decimal("-0.125"), "EUR") == Decimal("-0.13")
    assert round_money(Decimal("2.5"), "JPY") == Decimal("3")
    assert round_money(Decimal("0.0005"), "KWD") == Decimal("0.001")


def test_amounts_are_recorded_at_the_currency_precision() -> None:
    assert str(validate_amount(Decimal("50"), "EUR")) == "50.00"
    assert str(validate_amount(Decimal("1.500"), "EUR")) == "1.50"


@pytest.mark.parametrize(
    "amount", [Decimal("0"), Decimal("-1"), Decimal("NaN"), Decimal("Infinity"), 1.5, 2]
)
def test_an_amount_must_be_a_positive_finite_decimal(amount: object) -> None:
    with pytest.raises(InvalidAmountError):
        validate_amount(amount, "EUR")  # type: ignore[arg-type]


def test_an_address_needs_its_parts_and_a_country_code() -> None:
    Address("N", "L1", None, "C", "P", "DE")
    with pytest.raises(InvalidAddressError):
        Address("", "L1", None, "C", "P", "DE")
    with pytest.raises(InvalidAddressError):
        Address("N", "L1", None, "C", "P", "Germany")


def test_a_sku_has_no_surrounding_spaces() -> None:
    assert require_sku("A-1 B") == "A-1 B"
    with pytest.raises(InvalidIdentifierError):
        require_sku(" A")


def test_every_named_error_says_what_kind_of_failure_it_is() -> None:
    classes = [
        cls
        for _, cls in inspect.getmembers(errors_module, inspect.isclass)
        if issubclass(cls, DomainError)
    ]
    assert len(classes) > 30
    for cls in classes:
        assert cls.kind in {"not_found", "conflict", "invalid"}, cls
        assert cls is DomainError or cls.__mro__[1] is not Exception
