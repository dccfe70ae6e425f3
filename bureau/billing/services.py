"""Issuing, paying and voiding invoices. Every refusal raises ``BillingRefused`` before
anything is written, so bad input changes nothing; callers commit.

Numbers are ``INV-<year>-<five digits>``, counted per year of issue like booking references
(bureau/counters.py) in the issuing transaction: no gaps, no duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from bureau.billing import terms
from bureau.billing.errors import BillingRefused
from bureau.billing.models import Invoice, InvoiceCounter, InvoiceKind, Payment, PaymentMethod
from bureau.billing.money import decimals, exact, format_money, tax_on, to_minor
from bureau.bookings.models import BookingRequest
from bureau.config import Settings
from bureau.counters import next_in_year
from bureau.db import AnySession, utcnow
from bureau.staff.models import StaffMember

VOID_REASON_MAX = 1000


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PARTLY_PAID = "partly paid"
    PAID = "paid"
    OVERDUE = "overdue"
    VOID = "void"
    CREDIT = "credit"  # a credit note: the bureau owes it, nothing is paid against it


# An invoice's status in the reader's words (the English is the code's).
STATUS_WORDS = {
    InvoiceStatus.OPEN: _l("open"),
    InvoiceStatus.PARTLY_PAID: _l("partly paid"),
    InvoiceStatus.PAID: _l("paid"),
    InvoiceStatus.OVERDUE: _l("overdue"),
    InvoiceStatus.VOID: _l("void"),
    InvoiceStatus.CREDIT: _l("credit"),
}


def status_words(status: InvoiceStatus) -> str:
    return str(STATUS_WORDS[status])


@dataclass(frozen=True)
class Party:
    """A name, postal address and tax number, as printed on an invoice."""

    name: str
    address: str | None = None
    tax_number: str | None = None


def issuer_from(settings: Settings) -> Party:
    """The bureau's legal details from its settings (BUREAU_LEGAL_NAME, …)."""
    return Party(settings.legal_name, settings.legal_address or None, settings.tax_number or None)


def next_invoice_number(session: AnySession, year: int) -> str:
    return f"INV-{year}-{next_in_year(session, InvoiceCounter, year):05d}"


def tax_rate(value: Decimal | int | str) -> Decimal:
    """A tax rate in percent, 0 to 100 with at most two decimals."""
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise BillingRefused(f"The tax rate must be a number, not {str(value)[:20]!r}.") from None
    if not rate.is_finite() or rate < 0 or rate > 100:
        raise BillingRefused("The tax rate must be between 0 and 100 %. Nothing was issued.")
    if rate != rate.quantize(Decimal("0.01")):
        raise BillingRefused("The tax rate may have at most two decimals. Nothing was issued.")
    return rate.quantize(Decimal("0.01"))


def invoices_of(session: AnySession, booking: BookingRequest) -> list[Invoice]:
    return list(
        session.scalars(
            select(Invoice).where(Invoice.booking_id == booking.id).order_by(Invoice.id)
        )
    )


def issue_invoice(
    session: AnySession,
    booking: BookingRequest,
    kind: InvoiceKind | str,
    *,
    net: Decimal | int | str,
    tax_rate_pct: Decimal | int | str,
    issuer: Party,
    issued_on: date,
    due_on: date,
    client: Party | None = None,
) -> Invoice:
    """Issue an invoice of ``net`` (above zero; a credit note's is stored negative) in the
    booking's currency, plus tax at ``tax_rate_pct``. A booking has at most one live deposit
    and one live balance invoice: void the old one first."""
    try:
        kind = InvoiceKind(kind)
    except ValueError:
        raise BillingRefused(f"There is no kind of invoice called {str(kind)[:30]!r}.") from None
    currency = terms.currency_of(booking)
    amount = exact(net, currency)
    if amount <= 0:
        raise BillingRefused("The amount must be above zero. Nothing was issued.")
    rate = tax_rate(tax_rate_pct)
    if due_on < issued_on:
        raise BillingRefused("The due date cannot be before the issue date.")
    if not issuer.name.strip():
        raise BillingRefused("Set the bureau's legal name (BUREAU_LEGAL_NAME) before invoicing.")
    if kind in (InvoiceKind.DEPOSIT, InvoiceKind.BALANCE):
        for other in invoices_of(session, booking):
            if other.kind == kind and other.voided_at is None:
                raise BillingRefused(
                    f"{booking.reference} already has a {kind} invoice, {other.number}: "
                    "void it first. Nothing was issued."
                )
    client = client or Party(booking.organization)
    sign = -1 if kind is InvoiceKind.CREDIT_NOTE else 1
    places = decimals(currency)
    tax = tax_on(amount, rate, currency)
    invoice = Invoice(
        number=next_invoice_number(session, issued_on.year),
        booking_id=booking.id,
        kind=kind,
        issued_on=issued_on,
        due_on=due_on,
        currency=currency,
        decimals=places,
        net_minor=sign * to_minor(amount, places),
        tax_rate=rate,
        tax_minor=sign * to_minor(tax, places),
        total_minor=sign * to_minor(amount + tax, places),
        client_organization=client.name.strip() or booking.organization,
        client_address=client.address,
        client_tax_number=client.tax_number,
        issuer_name=issuer.name,
        issuer_address=issuer.address,
        issuer_tax_number=issuer.tax_number,
    )
    session.add(invoice)
    session.flush()
    return invoice


def issue_from_terms(
    session: AnySession,
    booking: BookingRequest,
    kind: InvoiceKind,
    *,
    tax_rate_pct: Decimal | int | str,
    issuer: Party,
    issued_on: date,
    client: Party | None = None,
) -> Invoice:
    """The deposit invoice (due on the contract's deposit date) or the balance invoice (due
    two weeks before the event) the contract's terms make."""
    if kind is InvoiceKind.DEPOSIT:
        net = terms.deposit_amount(booking)
        due_on = max(terms.contract_of(booking).deposit_due, issued_on)
    elif kind is InvoiceKind.BALANCE:
        net, due_on = terms.balance_amount(booking), terms.balance_due(booking, issued_on)
    else:
        raise BillingRefused("Only deposit and balance invoices come from the terms alone.")
    return issue_invoice(
        session,
        booking,
        kind,
        net=net,
        tax_rate_pct=tax_rate_pct,
        issuer=issuer,
        issued_on=issued_on,
        due_on=due_on,
        client=client,
    )


def invoiced_net(session: AnySession, booking: BookingRequest) -> Decimal:
    """The net of every live invoice and credit note of the booking."""
    currency = terms.currency_of(booking)
    live = [i.net for i in invoices_of(session, booking) if i.voided_at is None]
    return exact(sum(live, Decimal(0)), currency)


def issue_cancellation(
    session: AnySession,
    booking: BookingRequest,
    *,
    cancelled_on: date,
    tax_rate_pct: Decimal | int | str,
    issuer: Party,
    costs: Decimal | int | str = 0,
    client: Party | None = None,
) -> Invoice | None:
    """What the schedule keeps, less what is already invoiced: a cancellation invoice for
    the rest, a credit note for too much, nothing when they agree."""
    kept = terms.kept_on_cancellation(
        booking, cancelled_on, exact(costs, terms.currency_of(booking))
    )
    difference = kept.amount - invoiced_net(session, booking)
    if difference == 0:
        return None
    kind = InvoiceKind.CANCELLATION if difference > 0 else InvoiceKind.CREDIT_NOTE
    return issue_invoice(
        session,
        booking,
        kind,
        net=abs(difference),
        tax_rate_pct=tax_rate_pct,
        issuer=issuer,
        issued_on=cancelled_on,
        due_on=cancelled_on + terms.PAYMENT_TERM,
        client=client,
    )


def balance_due(invoice: Invoice) -> Decimal:
    """What is still to be paid (a voided invoice and a credit note: nothing)."""
    if invoice.voided_at is not None or invoice.kind == InvoiceKind.CREDIT_NOTE:
        return exact(0, invoice.currency)
    return invoice.total - invoice.paid


def invoice_status(invoice: Invoice, today: date) -> InvoiceStatus:
    if invoice.voided_at is not None:
        return InvoiceStatus.VOID
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        return InvoiceStatus.CREDIT
    if balance_due(invoice) <= 0:
        return InvoiceStatus.PAID
    if today > invoice.due_on:
        return InvoiceStatus.OVERDUE
    return InvoiceStatus.PARTLY_PAID if invoice.paid > 0 else InvoiceStatus.OPEN


def record_payment(
    session: AnySession,
    invoice: Invoice,
    *,
    amount: Decimal | int | str,
    currency: str,
    paid_on: date,
    method: PaymentMethod | str,
    reference: str | None = None,
    recorded_by: StaffMember | None = None,
    today: date | None = None,
) -> Payment:
    """Record money received; partial payments add up, an overpayment is refused."""
    if invoice.voided_at is not None:
        raise BillingRefused(f"{invoice.number} is void: no payment can be recorded against it.")
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        raise BillingRefused(f"{invoice.number} is a credit note: the bureau pays it back.")
    if currency.strip().upper() != invoice.currency:
        raise BillingRefused(
            f"{invoice.number} is in {invoice.currency}; a payment in {currency[:3]} cannot be "
            "recorded against it. Convert it and record the amount received in "
            f"{invoice.currency}."
        )
    value = exact(amount, invoice.currency)
    if value <= 0:
        raise BillingRefused("A payment must be above zero. Nothing was recorded.")
    due = balance_due(invoice)
    if value > due:
        raise BillingRefused(
            f"{format_money(value, invoice.currency)} is more than the "
            f"{format_money(due, invoice.currency)} still due on {invoice.number}. "
            "Nothing was recorded."
        )
    try:
        method = PaymentMethod(method)
    except ValueError:
        raise BillingRefused(f"Unknown payment method {str(method)[:30]!r}.") from None
    if paid_on > (today or utcnow().date()):
        raise BillingRefused("A payment cannot be dated in the future.")
    payment = Payment(
        invoice=invoice,
        amount_minor=to_minor(value, invoice.decimals),
        currency=invoice.currency,
        paid_on=paid_on,
        method=method,
        reference=(reference or "").strip()[:200] or None,
        recorded_by=recorded_by,
    )
    session.add(payment)
    session.flush()
    return payment


def void_invoice(session: AnySession, invoice: Invoice, *, reason: str) -> Invoice:
    """Void an invoice nothing was paid against; its number stays used (no gap)."""
    reason = reason.strip()
    if not reason:
        raise BillingRefused("Say why the invoice is void.")
    if invoice.voided_at is not None:
        raise BillingRefused(f"{invoice.number} is already void.")
    if invoice.payments:
        raise BillingRefused(
            f"{invoice.number} has payments recorded: issue a credit note instead of voiding it."
        )
    invoice.voided_at = utcnow()
    invoice.void_reason = reason[:VOID_REASON_MAX]
    session.flush()
    return invoice
