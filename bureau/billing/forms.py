"""The staff forms of a request's Invoices panel. Amounts and rates are taken as text:
services.py checks them exactly (a Decimal in the currency's decimals, never a float) and
says what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from bureau.billing.models import KIND_TITLES, Invoice, InvoiceKind, PaymentMethod
from bureau.billing.money import format_money
from bureau.billing.services import InvoiceStatus, balance_due, invoice_status, invoices_of
from bureau.bookings.forms import choices
from bureau.bookings.models import BookingRequest
from bureau.db import AnySession
from bureau.staff.forms import VersionedForm

ISSUABLE = (InvoiceKind.DEPOSIT, InvoiceKind.BALANCE)
METHOD_WORDS = {
    PaymentMethod.BANK_TRANSFER: _l("Bank transfer"),
    PaymentMethod.CARD: _l("Card"),
    PaymentMethod.CHEQUE: _l("Cheque"),
    PaymentMethod.CASH: _l("Cash"),
    PaymentMethod.OTHER: _l("Other"),
}


class IssueInvoiceForm(VersionedForm):
    kind = SelectField(
        _l("Invoice"),
        choices=choices([(k.value, KIND_TITLES[k]) for k in ISSUABLE], blank=None),
        validators=[DataRequired()],
    )
    tax_rate = StringField(_l("Tax rate (%)"), validators=[DataRequired(), Length(max=20)])


class InvoiceForm(VersionedForm):
    """A form about one of the request's invoices (checked to be this request's)."""

    invoice_id = HiddenField(validators=[DataRequired(), Length(max=12)])


class VoidInvoiceForm(InvoiceForm):
    reason = StringField(_l("Why void it"), validators=[DataRequired(), Length(max=1000)])


class PaymentForm(InvoiceForm):
    amount = StringField(_l("Amount received"), validators=[DataRequired(), Length(max=30)])
    currency = StringField(_l("Currency"), validators=[DataRequired(), Length(min=3, max=3)])
    paid_on = DateField(_l("Received on"), validators=[DataRequired()])
    method = SelectField(
        _l("Method"),
        choices=choices([(m.value, w) for m, w in METHOD_WORDS.items()], blank=None),
        validators=[DataRequired()],
    )
    reference = StringField(_l("Reference"), validators=[Optional(), Length(max=200)])


@dataclass(frozen=True)
class InvoiceRow:
    """One invoice as the panel lists it, with its forms when it can still take them."""

    invoice: Invoice
    status: InvoiceStatus
    total: str
    balance: str
    pay: PaymentForm | None
    void: VoidInvoiceForm | None


def _bound(bound: dict[str, Any], name: str, invoice_id: int) -> Any:
    """The staff member's refused form for this invoice, to show with its errors."""
    form = bound.get(name)
    return form if form is not None and form.invoice_id.data == str(invoice_id) else None


def invoice_panel(
    session: AnySession,
    booking: BookingRequest,
    bound: dict[str, Any],
    *,
    today: date,
    tax_rate: Decimal,
) -> dict[str, Any]:
    """The request's invoices and the forms to issue, void and pay them (bound ones keep
    the staff member's input)."""
    version = str(booking.version)
    rows = []
    for invoice in invoices_of(session, booking):
        status = invoice_status(invoice, today)
        due = balance_due(invoice)
        live = status not in (InvoiceStatus.VOID, InvoiceStatus.CREDIT)
        pay = void = None
        if live and due > 0:
            pay = _bound(bound, "invoice_payment", invoice.id) or PaymentForm(
                formdata=None,
                invoice_id=str(invoice.id),
                amount=str(due),
                currency=invoice.currency,
                paid_on=today,
            )
        if live and not invoice.payments:
            void = _bound(bound, "invoice_void", invoice.id) or VoidInvoiceForm(
                formdata=None, invoice_id=str(invoice.id)
            )
        for form in (pay, void):
            if form is not None:
                form.version.data = version
        money = {"total": invoice.total, "balance": due}
        words = {name: format_money(value, invoice.currency) for name, value in money.items()}
        rows.append(InvoiceRow(invoice, status, pay=pay, void=void, **words))
    issue = None
    if booking.contract is not None:
        issue = bound.get("invoice_issue") or IssueInvoiceForm(
            formdata=None, tax_rate=f"{tax_rate.normalize():f}"
        )
        issue.version.data = version
    return {"rows": rows, "issue": issue}
