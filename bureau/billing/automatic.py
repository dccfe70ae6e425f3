"""The invoices no one has to remember: the cancellation invoice (or credit note) when an
accepted or confirmed booking is cancelled, and the balance invoice when the event comes
within ``BUREAU_BALANCE_DUE_DAYS`` + ``BUREAU_BALANCE_INVOICE_LEAD_DAYS``.

Each is issued in the caller's transaction with its timeline entry and its email (the PDF
attached); the caller commits. The balance invoice is once per booking: a live one already
there (billing refuses a second) means there is nothing to do.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import select

from bureau.billing import services, terms
from bureau.billing.errors import BillingRefused
from bureau.billing.models import KIND_TITLES, Invoice, InvoiceKind
from bureau.billing.money import format_money
from bureau.billing.notifications import send_invoice
from bureau.bookings.models import BookingRequest
from bureau.bookings.states import Status
from bureau.bookings.workflow import SYSTEM, Actor, note
from bureau.contracts.models import VersionStatus
from bureau.contracts.services import current_version
from bureau.contracts.settings import contract_settings
from bureau.db import AnySession, utcnow
from bureau.outbox import is_quiet
from bureau.templating import exact_money


def _client(session: AnySession, booking: BookingRequest) -> services.Party | None:
    """The client as the latest invoice names them (what the organizer gave on accepting)."""
    issued = services.invoices_of(session, booking)
    if not issued:
        return None
    last = issued[-1]
    return services.Party(last.client_organization, last.client_address, last.client_tax_number)


def announce(
    session: AnySession,
    booking: BookingRequest,
    invoice: Invoice,
    actor: Actor,
    now: datetime | None = None,
) -> None:
    """The timeline entry (at ``now``) and the email with the PDF."""
    total = format_money(invoice.total, invoice.currency)
    note(
        session,
        booking,
        actor=actor,
        action="invoice issued",
        public_message=_l(
            "%(title)s %(number)s sent: %(total)s.",
            title=KIND_TITLES[InvoiceKind(invoice.kind)],
            number=invoice.number,
            total=LazyString(exact_money, invoice.total, invoice.currency),
        ),
        details={"invoice": invoice.number, "kind": invoice.kind, "total": total},
        now=now,
    )
    send_invoice(session, booking, invoice)


def day_at_event(booking: BookingRequest, moment: datetime) -> date:
    """The day ``moment`` is where the event is held: notice is counted there."""
    dated = booking.offer or booking
    return moment.astimezone(ZoneInfo(dated.timezone)).date()


def bound(session: AnySession, booking: BookingRequest, was: str) -> bool:
    """Whether the booking was under contract: confirmed, or its contract accepted."""
    if booking.contract is None:
        return False
    if was == Status.CONFIRMED:
        return True
    version = current_version(session, booking)
    return version is not None and version.status == VersionStatus.ACCEPTED


def cancellation_invoice(
    session: AnySession,
    booking: BookingRequest,
    *,
    was: str,
    actor: Actor,
    now: datetime | None = None,
) -> Invoice | None:
    """What the schedule keeps on cancelling a booking that was ``was``, less what is
    invoiced: a cancellation invoice, a credit note, or nothing (None)."""
    if is_quiet(session) or not bound(session, booking, was):
        return None  # quiet: the past is being written (the demo history), nobody to bill
    settings = current_app.config["BUREAU_SETTINGS"]
    invoice = services.issue_cancellation(
        session,
        booking,
        cancelled_on=day_at_event(booking, now or utcnow()),
        tax_rate_pct=settings.tax_rate,
        issuer=services.issuer_from(settings),
        client=_client(session, booking),
    )
    if invoice is not None:
        announce(session, booking, invoice, actor, now)
    return invoice


def balance_issue_day(booking: BookingRequest) -> date:
    """The day the balance invoice goes out: the lead time before the balance is due."""
    days = contract_settings()
    ahead = timedelta(days=days.balance_due_days + days.balance_invoice_lead_days)
    return terms.event_date(booking) - ahead


def balance_invoice(
    session: AnySession,
    booking: BookingRequest,
    today: date | None = None,
    *,
    now: datetime | None = None,
) -> Invoice | None:
    """Issue the balance invoice when it is time and there is none live yet; else None.
    ``now`` stamps the timeline entry."""
    today = today or (now or utcnow()).date()
    open_ = booking.status in (Status.CONTRACTED, Status.CONFIRMED)
    if is_quiet(session) or booking.contract is None or not open_:
        return None
    if booking.status == Status.CONTRACTED and not bound(session, booking, booking.status):
        return None
    if terms.balance_amount(booking) <= 0 or today < balance_issue_day(booking):
        return None
    live = [i for i in services.invoices_of(session, booking) if i.voided_at is None]
    if any(i.kind == InvoiceKind.BALANCE for i in live):
        return None
    settings = current_app.config["BUREAU_SETTINGS"]
    try:
        invoice = services.issue_from_terms(
            session,
            booking,
            InvoiceKind.BALANCE,
            tax_rate_pct=settings.tax_rate,
            issuer=services.issuer_from(settings),
            issued_on=today,
            client=_client(session, booking),
        )
    except BillingRefused:  # refused before anything was written: nothing to do
        return None
    announce(session, booking, invoice, SYSTEM, now)
    return invoice


def issue_due_balances(session: AnySession, today: date | None = None) -> int:
    """Beat's pass: every balance invoice now due to go out; the number issued."""
    bookings = session.scalars(
        select(BookingRequest)
        .where(BookingRequest.status.in_((Status.CONTRACTED, Status.CONFIRMED)))
        .order_by(BookingRequest.id)
    ).all()
    issued = sum(balance_invoice(session, booking, today) is not None for booking in bookings)
    session.commit()
    return issued
