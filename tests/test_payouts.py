"""Payout statements (issue 18.6): the speaker's fee less commission, made once when the
booking is completed, due after the event; staff mark them paid; the speaker reads only
their own through a signed link."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bureau.billing import payouts
from bureau.billing.errors import BillingRefused
from bureau.billing.models import PayoutStatement
from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.states import Status
from bureau.db import AnySession
from tests.conftest import NEXT_YEAR
from tests.test_transitions import booking_in, complete, desk, forced_into

EVENT_DAY = date(NEXT_YEAR, 3, 10)  # the test offer's day, in Shanghai


def count(session: AnySession) -> int:
    return int(session.scalar(select(func.count()).select_from(PayoutStatement)) or 0)


def completed_with(
    session: AnySession, currency: str, fee: int, commission_pct: str
) -> BookingRequest:
    """A booking taken to completion whose contract is in ``currency``."""
    booking = booking_in(session, Status.CONFIRMED)
    assert booking.contract is not None
    booking.contract.currency = currency
    booking.contract.fee = fee
    booking.contract.deposit_amount = 0
    booking.contract.commission_pct = Decimal(commission_pct)
    session.commit()
    complete(session, booking)
    session.commit()
    return booking


def test_completing_makes_one_statement_of_fee_less_commission(db_session: AnySession) -> None:
    booking = booking_in(db_session, Status.COMPLETED)
    statement = payouts.statement_of(db_session, booking)
    assert statement is not None
    assert booking.offer is not None
    assert statement.speaker_id == booking.offer.speaker_id
    assert (statement.currency, statement.fee, statement.commission, statement.net) == (
        "USD",
        Decimal("12500.00"),
        Decimal("2500.00"),
        Decimal("10000.00"),
    )
    assert statement.event_on == EVENT_DAY
    assert statement.due_on == EVENT_DAY + timedelta(days=30)  # BUREAU_PAYOUT_DAYS default
    assert not statement.is_paid
    # Made once: asking again (or completing again after a correction) returns the same row.
    assert payouts.make_statement(db_session, booking) is statement
    db_session.commit()
    assert count(db_session) == 1


@pytest.mark.parametrize(
    ("currency", "fee", "pct", "commission", "net"),
    [
        ("JPY", 1234567, "12.5", "154321", "1080246"),  # 154320.875 rounds half up, no decimals
        ("USD", 12345, "12.35", "1524.61", "10820.39"),  # 1524.6075
        ("EUR", 10000, "0", "0.00", "10000.00"),
    ],
)
def test_amounts_are_exact_in_the_currencys_decimals(
    db_session: AnySession, currency: str, fee: int, pct: str, commission: str, net: str
) -> None:
    booking = completed_with(db_session, currency, fee, pct)
    statement = payouts.statement_of(db_session, booking)
    assert statement is not None
    assert statement.currency == currency
    assert str(statement.commission) == commission
    assert str(statement.net) == net
    assert statement.fee == statement.commission + statement.net
    assert statement.commission_pct == Decimal(pct)


def test_the_due_day_follows_the_setting(db_session: AnySession) -> None:
    booking = booking_in(db_session, Status.CONFIRMED)
    draft = payouts.draft_statement(booking, days=45)
    assert draft is not None
    assert draft.due_on == EVENT_DAY + timedelta(days=45)
    assert draft not in db_session  # a draft is never saved by itself


def test_marking_paid_records_once_with_a_timeline_entry(db_session: AnySession) -> None:
    booking = booking_in(db_session, Status.COMPLETED)
    statement = payouts.statement_of(db_session, booking)
    assert statement is not None
    today = statement.due_on + timedelta(days=2)
    payouts.mark_paid(
        db_session,
        booking,
        paid_on=statement.due_on + timedelta(days=1),
        reference="  TRX-1 ",
        actor=desk(db_session),
        today=today,
    )
    db_session.commit()
    assert statement.paid_on == statement.due_on + timedelta(days=1)
    assert statement.reference == "TRX-1"
    assert statement.paid_by_id == desk(db_session).id
    entry = db_session.scalars(
        select(BookingEvent).where(
            BookingEvent.booking_id == booking.id, BookingEvent.action == "payout paid"
        )
    ).one()
    assert entry.public_message is None  # staff-only
    assert entry.details["early"] is False
    assert entry.details["net"] == "10000.00"
    with pytest.raises(BillingRefused, match="already recorded as paid"):
        payouts.mark_paid(
            db_session,
            booking,
            paid_on=today,
            reference="again",
            actor=desk(db_session),
            today=today,
        )


def test_refusals_change_nothing(db_session: AnySession) -> None:
    booking = booking_in(db_session, Status.COMPLETED)
    statement = payouts.statement_of(db_session, booking)
    assert statement is not None
    today = date(NEXT_YEAR, 1, 1)
    with pytest.raises(BillingRefused, match="future"):
        payouts.mark_paid(
            db_session,
            booking,
            paid_on=today + timedelta(days=1),
            reference=None,
            actor=desk(db_session),
            today=today,
        )
    assert statement.paid_on is None
    confirmed = forced_into(db_session, Status.CONFIRMED)
    with pytest.raises(BillingRefused, match="completed"):
        payouts.mark_paid(
            db_session, confirmed, paid_on=today, reference=None, actor=desk(db_session)
        )
    assert payouts.statement_of(db_session, confirmed) is None


def test_early_payment_is_allowed_and_said(db_session: AnySession) -> None:
    booking = booking_in(db_session, Status.COMPLETED)
    statement = payouts.statement_of(db_session, booking)
    assert statement is not None
    paid = payouts.mark_paid(
        db_session,
        booking,
        paid_on=statement.event_on,
        reference=None,
        actor=desk(db_session),
        today=statement.event_on,
    )
    assert "before its due day" in payouts.paid_message(paid)
    assert paid.reference is None
