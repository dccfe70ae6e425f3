"""The billing steps staff take on a request: issue, void, record a payment.

Each is one step of the request's process, like those in bureau/bookings/actions.py: it
checks the version the staff member saw (a stale form is refused), does the bookkeeping
through services.py (which refuses bad input before writing anything), writes the timeline
entry and queues the emails the step implies, in the caller's transaction.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from bureau.billing import services
from bureau.billing.automatic import announce, balance_invoice
from bureau.billing.errors import BillingRefused
from bureau.billing.models import KIND_TITLES, Invoice, InvoiceKind, Payment
from bureau.billing.money import format_money
from bureau.bookings.actions import check_version
from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor, note
from bureau.db import AnySession, utcnow
from bureau.staff.models import StaffMember
from bureau.templating import exact_money


def _touched(booking: BookingRequest) -> None:
    """The entry is a change: the version rises, so a form opened before it is stale."""
    booking.updated_at = utcnow()


def invoice_of(session: AnySession, booking: BookingRequest, invoice_id: int | None) -> Invoice:
    """The booking's invoice ``invoice_id``; refused when it is another booking's."""
    invoice = session.get(Invoice, invoice_id) if invoice_id else None
    if invoice is None or invoice.booking_id != booking.id:
        raise BillingRefused("Choose one of this request's invoices. Nothing was changed.")
    return invoice


def issue_step(
    session: AnySession,
    booking: BookingRequest,
    kind: InvoiceKind,
    *,
    tax_rate_pct: Decimal | str,
    issuer: services.Party,
    today: date,
    actor: Actor,
    expected_version: int | None,
) -> Invoice:
    """Issue the deposit or balance invoice the contract's terms make, note it on the
    timeline, and email it to the organizer with its PDF."""
    check_version(booking, expected_version)
    invoice = services.issue_from_terms(
        session, booking, kind, tax_rate_pct=tax_rate_pct, issuer=issuer, issued_on=today
    )
    announce(session, booking, invoice, actor)
    _touched(booking)
    return invoice


def void_step(
    session: AnySession,
    booking: BookingRequest,
    invoice_id: int | None,
    *,
    reason: str,
    actor: Actor,
    expected_version: int | None,
) -> Invoice:
    check_version(booking, expected_version)
    invoice = services.void_invoice(
        session, invoice_of(session, booking, invoice_id), reason=reason
    )
    note(
        session,
        booking,
        actor=actor,
        action="invoice voided",
        public_message=_l(
            "%(title)s %(number)s was cancelled.",
            title=KIND_TITLES[InvoiceKind(invoice.kind)],
            number=invoice.number,
        ),
        details={"invoice": invoice.number, "reason": invoice.void_reason},
    )
    _touched(booking)
    return invoice


def payment_step(
    session: AnySession,
    booking: BookingRequest,
    invoice_id: int | None,
    *,
    amount: str,
    currency: str,
    paid_on: date,
    method: str,
    reference: str | None,
    today: date,
    actor: Actor,
    expected_version: int | None,
) -> Payment:
    check_version(booking, expected_version)
    invoice = invoice_of(session, booking, invoice_id)
    payment = services.record_payment(
        session,
        invoice,
        amount=amount,
        currency=currency,
        paid_on=paid_on,
        method=method,
        reference=reference,
        recorded_by=session.get(StaffMember, actor.id) if actor.id else None,
        today=today,
    )
    paid = format_money(payment.amount, invoice.currency)
    left = services.balance_due(invoice)
    in_words = LazyString(exact_money, payment.amount, invoice.currency)
    note(
        session,
        booking,
        actor=actor,
        action="payment recorded",
        public_message=(
            _l(
                "Payment of %(paid)s received for %(number)s; %(left)s still due.",
                paid=in_words,
                number=invoice.number,
                left=LazyString(exact_money, left, invoice.currency),
            )
            if left
            else _l(
                "Payment of %(paid)s received for %(number)s: paid in full.",
                paid=in_words,
                number=invoice.number,
            )
        ),
        details={"invoice": invoice.number, "amount": paid, "method": payment.method},
    )
    if invoice.kind == InvoiceKind.DEPOSIT:  # the event may already be close
        balance_invoice(session, booking, today)
    _touched(booking)
    return payment
