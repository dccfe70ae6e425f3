"""The terms a contract starts from, for staff to amend."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bureau.bookings.models import BookingRequest

COMMISSION_PCT = 20
DEPOSIT_DUE_AFTER = timedelta(days=14)


def contract_defaults(booking: BookingRequest, now: datetime) -> dict[str, Any]:
    """The standing offer's fee and currency, the usual commission, half the fee as a
    deposit due in two weeks."""
    offer = booking.offer
    return {
        "fee": offer.fee if offer else None,
        "currency": offer.currency if offer else booking.currency,
        "commission_pct": COMMISSION_PCT,
        "deposit_amount": (offer.fee // 2) if offer else None,
        "deposit_due": (now + DEPOSIT_DUE_AFTER).date(),
    }
