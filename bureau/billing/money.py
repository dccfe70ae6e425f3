"""Amounts of money: ``Decimal`` in the currency's own decimals (JPY none, USD two), never float.

Babel's CLDR data says how many decimals a currency has; every amount the bureau computes
(tax, a share of a fee) is rounded half up to them, once, where it is computed. Input that
is already finer than the currency allows is refused rather than silently rounded.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision

from bureau.billing.errors import BillingRefused

HUNDRED = Decimal(100)


@cache
def decimals(currency: str) -> int:
    """How many decimals amounts in ``currency`` have (JPY 0, USD 2, BHD 3)."""
    return int(get_currency_precision(currency.upper()))


def quantum(currency: str) -> Decimal:
    """The smallest amount of ``currency``: 1, 0.01, 0.001."""
    return Decimal(1).scaleb(-decimals(currency))


def quantize(amount: Decimal | int, currency: str) -> Decimal:
    """``amount`` rounded half up to the currency's decimals."""
    if isinstance(amount, float):
        raise TypeError("money is never a float; pass a Decimal or a string")
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


def exact(amount: Decimal | int | str, currency: str, what: str = "The amount") -> Decimal:
    """``amount`` as a Decimal of the currency's decimals; refused if not a finite number or
    finer than the currency allows (10.005 USD)."""
    if isinstance(amount, float):
        raise TypeError("money is never a float; pass a Decimal or a string")
    try:
        value = Decimal(str(amount).strip()) if isinstance(amount, str) else Decimal(amount)
    except InvalidOperation:
        raise BillingRefused(f"{what} must be a number, not {str(amount)[:40]!r}.") from None
    if not value.is_finite():
        raise BillingRefused(f"{what} must be a number.")
    rounded = quantize(value, currency)
    if rounded != value:
        places = decimals(currency)
        allowed = f"{places} decimal{'s' if places != 1 else ''}" if places else "no decimals"
        raise BillingRefused(f"{what} has too many decimals: {currency} amounts have {allowed}.")
    return rounded


def tax_on(net: Decimal, rate_pct: Decimal, currency: str) -> Decimal:
    """The tax on ``net`` at ``rate_pct`` percent, rounded half up to the currency."""
    return quantize(net * rate_pct / HUNDRED, currency)


def to_minor(amount: Decimal, places: int) -> int:
    """``amount`` in the currency's smallest unit (cents), for exact storage on every database."""
    minor = amount.scaleb(places)
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} has more than {places} decimals")
    return int(minor)


def from_minor(minor: int, places: int) -> Decimal:
    """The amount ``minor`` smallest units make, with exactly ``places`` decimals."""
    return Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def format_money(amount: Decimal, currency: str) -> str:
    """``amount`` as the site writes money: "USD 1,234.50", "JPY 500,000", "EUR -20.00"."""
    return f"{currency} {quantize(amount, currency):,.{decimals(currency)}f}"
