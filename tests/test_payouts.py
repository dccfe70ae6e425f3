"""Payout statements (issue 18.6): the speaker's fee less commission, made once when the
booking is completed, due after the event; staff mark them paid; the speaker reads only
their own through a signed link."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select, update

from bureau.billing import payouts
from bureau.billing.errors import BillingRefused
from bureau.billing.models import PayoutStatement
from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.states import Status
from bureau.catalogue.models import Speaker
from bureau.db import AnySession, utcnow
from bureau.extensions import db
from bureau.signed_links import LinkProblem
from bureau.staff.models import Role
from tests.conftest import NEXT_YEAR
from tests.test_completion import signed_in
from tests.test_transitions import DESK_EMAIL, booking_in, complete, desk, forced_into
from tests.workflow_helpers import post_form

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


def pay(
    session: AnySession,
    booking: BookingRequest,
    paid_on: date,
    reference: str | None = None,
    *,
    today: date,
) -> PayoutStatement:
    """The desk marks the booking's payout paid."""
    return payouts.mark_paid(
        session, booking, paid_on=paid_on, reference=reference, actor=desk(session), today=today
    )


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
    pay(db_session, booking, statement.due_on + timedelta(days=1), "  TRX-1 ", today=today)
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
        pay(db_session, booking, today, "again", today=today)


def test_refusals_change_nothing(db_session: AnySession) -> None:
    booking = booking_in(db_session, Status.COMPLETED)
    statement = payouts.statement_of(db_session, booking)
    assert statement is not None
    today = date(NEXT_YEAR, 1, 1)
    with pytest.raises(BillingRefused, match="future"):
        pay(db_session, booking, today + timedelta(days=1), None, today=today)
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
    paid = pay(db_session, booking, statement.event_on, None, today=statement.event_on)
    assert "before its due day" in payouts.paid_message(paid)
    assert paid.reference is None


# --- the pages


def completed_booking_id(app: Flask) -> int:
    with app.app_context():
        return booking_in(db.session, Status.COMPLETED).id


def statement_row(app: Flask, booking_id: int) -> PayoutStatement:
    with app.app_context():
        statement = db.session.scalars(
            select(PayoutStatement).where(PayoutStatement.booking_id == booking_id)
        ).one()
        db.session.expunge(statement)
        return statement


def test_staff_mark_a_payout_paid_from_the_request_page(app: Flask) -> None:
    booking_id = completed_booking_id(app)
    agent = signed_in(app, DESK_EMAIL, Role.AGENT)
    path = f"/staff/requests/{booking_id}"
    page = agent.get(path).get_data(as_text=True)
    assert "Speaker's payout" in page
    assert "USD 10,000.00" in page
    assert "/speaker/payouts/" in page  # the speaker's link, to send them
    # A future date is refused, said, and nothing is saved.
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()
    refused = post_form(agent, f"{path}/payout", path, {"paid_on": tomorrow, "reference": "X"})
    assert refused.status_code == 422
    assert "cannot be dated in the future" in refused.get_data(as_text=True)
    assert statement_row(app, booking_id).paid_on is None
    # A missing date is the form's error.
    missing = post_form(agent, f"{path}/payout", path, {"paid_on": "", "reference": "X"})
    assert missing.status_code == 422
    assert statement_row(app, booking_id).paid_on is None
    today = utcnow().date()
    done = post_form(
        agent, f"{path}/payout", path, {"paid_on": today.isoformat(), "reference": "TRX <42>"}
    )
    assert done.status_code == 303
    statement = statement_row(app, booking_id)
    assert (statement.paid_on, statement.reference) == (today, "TRX <42>")
    page = agent.get(path).get_data(as_text=True)
    assert "recorded as paid" in page  # the flash
    assert "Speaker&#39;s payout paid" in page or "Speaker's payout paid" in page  # timeline
    assert "TRX &lt;42&gt;" in page
    assert "Mark the payout paid" not in page
    # Paying twice is refused.
    again = post_form(agent, f"{path}/payout", path, {"paid_on": today.isoformat()})
    assert again.status_code == 422
    assert "already recorded as paid" in again.get_data(as_text=True)
    assert statement_row(app, booking_id).reference == "TRX <42>"


def test_another_agent_cannot_mark_it_paid(app: Flask) -> None:
    booking_id = completed_booking_id(app)
    other = signed_in(app, "europe.desk@bureau.localhost", Role.AGENT)
    path = f"/staff/requests/{booking_id}"
    page = other.get(path).get_data(as_text=True)
    assert "Mark the payout paid" not in page
    response = post_form(other, f"{path}/payout", path, {"paid_on": utcnow().date().isoformat()})
    assert response.status_code == 403
    assert statement_row(app, booking_id).paid_on is None


def test_the_speaker_sees_only_their_own_statements(app: Flask) -> None:
    booking_id = completed_booking_id(app)
    with app.app_context():
        mine = db.session.get(BookingRequest, booking_id)
        assert mine is not None
        mine.event_name = "<script>alert(1)</script> Summit"
        speaker_id = mine.offer.speaker_id if mine.offer else 0
        # Another speaker's statement, on another completed booking.
        other_booking = forced_into(db.session, Status.COMPLETED)
        other_booking.event_name = "Someone Else's Gala"
        someone = db.session.scalars(select(Speaker).where(Speaker.id != speaker_id)).first()
        assert someone is not None
        theirs = payouts.statement_of(db.session, mine)
        assert theirs is not None
        db.session.add(
            PayoutStatement(
                booking_id=other_booking.id,
                speaker_id=someone.id,
                currency="JPY",
                decimals=0,
                fee_minor=900000,
                commission_pct=Decimal(20),
                commission_minor=180000,
                net_minor=720000,
                event_on=EVENT_DAY,
                due_on=EVENT_DAY,
            )
        )
        db.session.commit()
        token = payouts.statements_token(speaker_id)
    response = app.test_client().get(f"/speaker/payouts/{token}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "USD 10,000.00" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Summit" in page
    assert "<script>alert(1)" not in page
    assert "Someone Else" not in page
    assert "720,000" not in page


def test_forged_or_expired_links_are_refused(app: Flask) -> None:
    client = app.test_client()
    with app.app_context():
        good = payouts.statements_token(1)
        blackout = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="bureau.blackouts")
        other_purpose = blackout.dumps({"speaker": 1})
        forged = URLSafeTimedSerializer("not the key", salt=payouts.LINK_SALT).dumps({"speaker": 1})
    for token in (forged, other_purpose, good[:-3] + "abc", "nonsense"):
        response = client.get(f"/speaker/payouts/{token}")
        assert response.status_code == 404
        assert "This link is not valid." in response.get_data(as_text=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(payouts, "LINK_MAX_AGE", -1)  # every link is now too old
        expired = client.get(f"/speaker/payouts/{good}")
        assert expired.status_code == 404
        assert "This link has expired" in expired.get_data(as_text=True)
        with app.app_context(), pytest.raises(LinkProblem, match="expired"):
            payouts.read_statements_token(good)


def test_of_two_marking_it_paid_at_once_the_second_is_refused(db_session: AnySession) -> None:
    booking = booking_in(db_session, Status.COMPLETED)
    statement = payouts.statement_of(db_session, booking)
    assert statement is not None
    assert statement.paid_on is None
    # Another process records it between this one's read and its write.
    db_session.execute(
        update(PayoutStatement)
        .where(PayoutStatement.id == statement.id)
        .values(paid_on=statement.due_on, reference="theirs")
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(BillingRefused, match="a moment ago"):
        pay(db_session, booking, statement.due_on, "mine", today=statement.due_on)


def test_scripts_outside_the_app_use_the_default_days() -> None:
    assert payouts.payout_days() == 30


def test_a_booking_completed_before_payouts_gets_its_statement_when_paid(
    db_session: AnySession,
) -> None:
    booking = booking_in(db_session, Status.COMPLETED)
    db_session.query(PayoutStatement).delete()
    db_session.commit()
    draft = payouts.draft_statement(booking)
    assert draft is not None
    assert draft.net == Decimal("10000.00")
    paid = pay(db_session, booking, draft.due_on, None, today=draft.due_on)
    db_session.commit()
    assert paid.id is not None
    assert paid.paid_on == draft.due_on
    assert count(db_session) == 1
