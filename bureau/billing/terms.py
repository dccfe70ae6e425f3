"""What a booking's contract terms make due: the deposit, the balance, and on cancellation
what the bureau keeps by the schedule.

One schedule in the code: the contracts' (``BUREAU_CANCELLATION_SCHEDULE``, parsed by
bureau/contracts/schedule.py, the trade's usual terms by default), the one the agreement
states; the balance is due ``BUREAU_BALANCE_DUE_DAYS`` before the event, as it also says.
Notice is counted to the event's date where it is held. Fee and deposit are net of tax.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from bureau.billing.errors import BillingRefused
from bureau.billing.money import exact, quantize
from bureau.bookings.models import BookingRequest, Contract
from bureau.contracts.schedule import charge
from bureau.contracts.settings import contract_settings

PAYMENT_TERM = timedelta(days=14)  # a cancellation invoice is due two weeks after issue


def contract_of(booking: BookingRequest) -> Contract:
    if booking.contract is None:
        raise BillingRefused(
            f"{booking.reference} has no contract terms yet: record the fee and deposit first."
        )
    return booking.contract


def currency_of(booking: BookingRequest) -> str:
    """The contract's currency, else the request's."""
    return booking.contract.currency if booking.contract else booking.currency


def event_date(booking: BookingRequest) -> date:
    """The event's day where it is held: the latest offer's, else the request's."""
    dated = booking.offer or booking
    return dated.starts_local.date()


def deposit_amount(booking: BookingRequest) -> Decimal:
    contract = contract_of(booking)
    return quantize(contract.deposit_amount, contract.currency)


def balance_amount(booking: BookingRequest) -> Decimal:
    """The fee less the deposit."""
    contract = contract_of(booking)
    return quantize(contract.fee - contract.deposit_amount, contract.currency)


def balance_due(booking: BookingRequest, issued_on: date) -> date:
    """``BUREAU_BALANCE_DUE_DAYS`` (14 by default) before the event, or the issue day when
    the event is closer than that."""
    before = timedelta(days=contract_settings().balance_due_days)
    return max(event_date(booking) - before, issued_on)


@dataclass(frozen=True)
class Kept:
    """What the bureau keeps of the fee on a cancellation, and by which rule."""

    amount: Decimal
    rule: str


def kept_on_cancellation(
    booking: BookingRequest, cancelled_on: date, costs: Decimal | int = 0
) -> Kept:
    """What the schedule lets the bureau keep (net of tax) for a cancellation on
    ``cancelled_on``; ``costs`` (at most the deposit) are kept when the deposit is refunded."""
    contract = contract_of(booking)
    currency = contract.currency
    deposit, fee = deposit_amount(booking), quantize(contract.fee, currency)
    costs = exact(costs, currency, "The costs")
    if costs < 0 or costs > deposit:
        raise BillingRefused("The costs kept must be between zero and the deposit.")
    owed = charge(
        contract_settings().schedule,
        fee=fee,
        deposit=deposit,
        event_day=event_date(booking),
        cancelled_on=cancelled_on,
        costs=costs,
    )
    notice = max(owed.notice_days, 0)
    return Kept(quantize(owed.owed, currency), f"{notice} days' notice: {owed.rule.words()}")
