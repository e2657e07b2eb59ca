"""Money rules shared by every aggregate: currencies, their precision and rounding.

Amounts are ``Decimal`` with an ISO 4217 currency code, never float, so that what a customer
is charged, refunded and invoiced adds up to the cent. The precision of each currency decides
which amounts are acceptable input and how computed amounts (tax) are rounded: half-up to the
currency's minor unit, as invoices require.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from domain.errors import InvalidAmountError, InvalidCurrencyError

_CURRENCY_SHAPE = re.compile(r"[A-Z]{3}")

# ISO 4217 currencies whose minor unit is not the usual two digits. Any other well-formed
# code is accepted with two decimals: the list of currencies changes, the shape does not.
_MINOR_UNITS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}  # fmt: skip

ZERO = Decimal(0)


# Codes ISO 4217 reserves for things no order is priced in: precious metals, bond-market
# units, units of account (SDR, the Arab Accounting Dinar), the test code and "no currency".
# (XAF, XOF, XPF, XCD and XCG begin with X too, and are real currencies.)
NOT_PAYABLE: frozenset[str] = frozenset({
    "XAG", "XAU", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XAD",
    "XTS", "XXX",
})  # fmt: skip


def _require_shape(currency: str) -> str:
    if not isinstance(currency, str) or not _CURRENCY_SHAPE.fullmatch(currency):
        raise InvalidCurrencyError(
            f"currency must be a three-letter uppercase ISO 4217 code, got {currency!r}",
            field="currency")
    return currency


def validate_currency(currency: str) -> str:
    """Return ``currency`` when it is a three-letter uppercase ISO 4217 code that prices
    goods (not a metal, a bond unit, the test code or "no currency")."""
    if _require_shape(currency) in NOT_PAYABLE:
        raise InvalidCurrencyError(
            f"currency {currency} is an ISO 4217 code for no currency of payment (metals,"
            f" bond units, SDR, testing, none); price orders in a currency such as EUR",
            field="currency")
    return currency


def minor_units(currency: str) -> int:
    """How many decimal places amounts in ``currency`` may have (JPY 0, EUR 2, KWD 3).

    Only the shape is checked: what was recorded must stay readable even if the list of
    payable currencies changes."""
    return _MINOR_UNITS.get(_require_shape(currency), 2)


@cache
def quantum(currency: str) -> Decimal:
    """The smallest amount in ``currency`` (Decimal("0.01") for EUR); computed once per
    currency, since totals round every line."""
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` half-up to the minor unit of ``currency``."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str) -> str:
    """Render an amount for error messages, e.g. ``50.00 EUR``."""
    return f"{round_money(amount, currency)} {currency}"


def validate_amount(
    amount: Decimal, currency: str, *, what: str = "amount", allow_zero: bool = False,
    field: str | None = None,
) -> Decimal:
    """Check an input amount: a finite Decimal, positive, within the currency's precision.

    Returns it quantized to the currency's minor unit so that "50" and "50.00" are recorded
    the same way. ``field``: the input the amount came in, named by the errors.
    """
    if isinstance(amount, bool) or not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidAmountError(f"{what} must be a finite Decimal, got {amount!r}", field=field)
    if amount < 0 or (amount == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "more than zero"
        raise InvalidAmountError(f"{what} must be {bound}, got {amount} {currency}", field=field)
    places = minor_units(currency)
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise InvalidAmountError(
            f"{what} {amount} has more than the {places} decimal places {currency} allows",
            field=field,
        )
    return amount.quantize(quantum(currency))
