"""The invoices no one has to remember: cancelling an accepted or confirmed booking issues
what the schedule keeps (less what is invoiced), and the balance invoice goes out by itself
once the event is close, once per booking."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from bureau.billing.automatic import balance_invoice, issue_due_balances
from bureau.billing.models import Invoice, InvoiceKind
from bureau.bookings import actions
from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.states import Status
from bureau.bookings.workflow import Actor
from bureau.extensions import db
from bureau.outbox import Job
from tests.conftest import NEXT_YEAR
from tests.workflow_helpers import accept_and_pay, contracted_booking

DESK = Actor("staff", "Greater China desk")
EVENT_DAY = date(NEXT_YEAR, 3, 10)  # in Shanghai (contracted_booking's offer)


@pytest.fixture
def booking(app: Flask) -> Iterator[BookingRequest]:
    """Contract accepted and deposit (USD 6,000 of 12,500) invoiced and paid."""
    with app.app_context():
        found = contracted_booking(app)
        accept_and_pay(db.session, found)
        db.session.commit()
        yield found
        db.session.rollback()


def live(booking: BookingRequest, kind: InvoiceKind) -> list[Invoice]:
    return list(
        db.session.scalars(
            select(Invoice).where(
                Invoice.booking_id == booking.id, Invoice.kind == kind, Invoice.voided_at.is_(None)
            )
        )
    )


def mails(kind: str = "mail.invoice_issued") -> int:
    return db.session.scalar(select(func.count()).select_from(Job).where(Job.kind == kind)) or 0


def cancel(booking: BookingRequest, notice_days: int) -> None:
    """Cancel at noon in Shanghai, ``notice_days`` before the event."""
    day = EVENT_DAY - timedelta(days=notice_days)
    now = datetime.combine(day, time(4), tzinfo=UTC)  # 12:00 in Shanghai
    actions.close(
        db.session,
        booking,
        Status.CANCELLED,
        reason="The conference was called off",
        actor=DESK,
        expected_version=None,
        now=now,
    )
    db.session.commit()


@pytest.mark.parametrize(
    ("notice", "kind", "net"),
    [
        (10, InvoiceKind.CANCELLATION, Decimal("6500.00")),  # the whole fee less the deposit
        (29, InvoiceKind.CANCELLATION, Decimal("6500.00")),
        (60, None, None),  # the deposit is kept: it is invoiced already
        (120, InvoiceKind.CREDIT_NOTE, Decimal("-6000.00")),  # the deposit back, no costs
    ],
)
def test_cancelling_an_accepted_booking_invoices_the_schedule(
    booking: BookingRequest, notice: int, kind: InvoiceKind | None, net: Decimal | None
) -> None:
    before = mails()
    cancel(booking, notice)
    assert booking.status == Status.CANCELLED
    issued = live(booking, InvoiceKind.CANCELLATION) + live(booking, InvoiceKind.CREDIT_NOTE)
    if kind is None:
        assert issued == []
        assert mails() == before
        return
    assert [(i.kind, i.net) for i in issued] == [(kind, net)]
    assert issued[0].issued_on == EVENT_DAY - timedelta(days=notice)
    assert mails() == before + 1  # emailed to the organizer with its PDF
    entries = db.session.scalars(
        select(BookingEvent.public_message).where(
            BookingEvent.booking_id == booking.id, BookingEvent.action == "invoice issued"
        )
    ).all()
    assert any(issued[0].number in (entry or "") for entry in entries)


def test_cancelling_a_confirmed_booking_invoices_the_rest_of_the_fee(
    booking: BookingRequest,
) -> None:
    actions.confirm(db.session, booking, actor=DESK, expected_version=None)
    db.session.commit()
    cancel(booking, 5)
    [invoice] = live(booking, InvoiceKind.CANCELLATION)
    assert invoice.net == Decimal("6500.00")
    assert invoice.client_address == "1 Example Road\nShanghai"  # as the organizer gave it


def test_a_booking_never_accepted_is_cancelled_without_an_invoice(app: Flask) -> None:
    with app.app_context():
        booking = contracted_booking(app)
        cancel(booking, 5)
        assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_beat_issues_the_balance_invoice_once_when_the_event_is_close(
    booking: BookingRequest,
) -> None:
    # Due 14 days before the event, sent 14 days before that (the defaults).
    first_day = EVENT_DAY - timedelta(days=28)
    assert issue_due_balances(db.session, first_day - timedelta(days=1)) == 0
    before = mails()
    assert issue_due_balances(db.session, first_day) == 1
    [invoice] = live(booking, InvoiceKind.BALANCE)
    assert invoice.net == Decimal("6500.00")
    assert invoice.due_on == EVENT_DAY - timedelta(days=14)
    assert mails() == before + 1
    # Once per booking: the next runs issue nothing more.
    assert issue_due_balances(db.session, first_day + timedelta(days=1)) == 0
    assert balance_invoice(db.session, booking, first_day) is None
    assert len(live(booking, InvoiceKind.BALANCE)) == 1


def test_the_lead_time_is_a_setting(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from bureau.contracts.settings import read_contract_settings

    assert read_contract_settings(lambda _: None).balance_invoice_lead_days == 14
    got = read_contract_settings({"BUREAU_BALANCE_INVOICE_LEAD_DAYS": "30"}.get)
    assert got.balance_invoice_lead_days == 30
    with pytest.raises(ValueError, match="BUREAU_BALANCE_INVOICE_LEAD_DAYS"):
        read_contract_settings({"BUREAU_BALANCE_INVOICE_LEAD_DAYS": "-1"}.get)
    settings = app.config["BUREAU_SETTINGS"]
    own = replace(settings, contracts=replace(settings.contracts, balance_invoice_lead_days=0))
    monkeypatch.setitem(app.config, "BUREAU_SETTINGS", own)
    with app.app_context():
        booking = contracted_booking(app)
        accept_and_pay(db.session, booking)
        assert balance_invoice(db.session, booking, EVENT_DAY - timedelta(days=15)) is None
        assert balance_invoice(db.session, booking, EVENT_DAY - timedelta(days=14)) is not None
        db.session.rollback()


def test_accepting_when_the_event_is_close_issues_both_invoices(app: Flask) -> None:
    """The event 20 days away: deposit and balance go out together on acceptance."""
    with app.app_context():
        booking = contracted_booking(app)
        offer = booking.offer
        assert offer is not None
        shift = (EVENT_DAY - timedelta(days=20)) - datetime.now(UTC).date()
        offer.starts_local -= shift
        offer.ends_local -= shift
        offer.starts_at -= shift
        offer.ends_at -= shift
        db.session.commit()
        accept_and_pay(db.session, booking)
        db.session.commit()
        assert len(live(booking, InvoiceKind.DEPOSIT)) == 1
        [balance] = live(booking, InvoiceKind.BALANCE)
        assert balance.net == Decimal("6500.00")


def test_paying_the_deposit_when_the_event_is_close_issues_the_balance(app: Flask) -> None:
    from bureau.billing.actions import payment_step
    from bureau.contracts.flow import Signer, accept
    from bureau.contracts.services import issue_version

    with app.app_context():
        booking = contracted_booking(app)
        version = issue_version(db.session, booking, actor=DESK)
        signer = Signer("Li Na", "Acme", True, "1 Road\nShanghai", None, version.sha256, "", "")
        _, deposit = accept(db.session, version, booking, signer)
        assert deposit is not None
        assert live(booking, InvoiceKind.BALANCE) == []  # the event is months away
        close_day = EVENT_DAY - timedelta(days=20)
        payment_step(
            db.session,
            booking,
            deposit.id,
            amount=str(deposit.total),
            currency="USD",
            paid_on=close_day,
            method="bank_transfer",
            reference=None,
            today=close_day,
            actor=DESK,
            expected_version=None,
        )
        [balance] = live(booking, InvoiceKind.BALANCE)
        assert (balance.issued_on, balance.net) == (close_day, Decimal("6500.00"))
        db.session.rollback()
