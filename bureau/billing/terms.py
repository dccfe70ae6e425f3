"""What a booking's contract terms make due: the deposit, the balance, and on cancellation
what the bureau keeps by the schedule.

The trade's usual schedule, by days of notice before the event (its date where it is held):
90 or more, the deposit is refunded less the bureau's costs; 30 to 89, the deposit is kept;
under 30, the whole fee is due. The contract's fee and deposit are net of tax.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from bureau.billing.errors import BillingRefused
from bureau.billing.money import exact, quantize
from bureau.bookings.models import BookingRequest, Contract

REFUND_NOTICE_DAYS = 90  # this much notice or more: the deposit is refunded less costs
KEEP_DEPOSIT_NOTICE_DAYS = 30  # this much or more (and under 90): the deposit is kept
BALANCE_DUE_BEFORE = timedelta(days=14)  # the balance is due two weeks before the event
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
    """Two weeks before the event, or the issue day when the event is closer than that."""
    return max(event_date(booking) - BALANCE_DUE_BEFORE, issued_on)


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
    notice = (event_date(booking) - cancelled_on).days
    if notice >= REFUND_NOTICE_DAYS:
        return Kept(costs, f"{notice} days' notice: the deposit is refunded less costs")
    if notice >= KEEP_DEPOSIT_NOTICE_DAYS:
        return Kept(deposit, f"{notice} days' notice: the deposit is kept")
    return Kept(fee, f"{max(notice, 0)} days' notice: the whole fee is due")
