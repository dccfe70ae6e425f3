"""The Invoices panel's steps on a request's page: issue, void, record a payment, and the
invoice itself as a page and a PDF. Only staff who may act on the request reach them; a
refusal (BillingRefused) is flashed by request_actions.workflow_failed and changes nothing."""

from __future__ import annotations

from flask import abort, current_app
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from bureau.billing import actions
from bureau.billing.forms import IssueInvoiceForm, PaymentForm, VoidInvoiceForm
from bureau.billing.models import Invoice, InvoiceKind
from bureau.billing.money import format_money
from bureau.billing.render import invoice_document
from bureau.billing.services import balance_due, issuer_from
from bureau.db import utcnow
from bureau.extensions import db
from bureau.params import row_id
from bureau.staff.blueprint import bp
from bureau.staff.request_actions import Step, allowed_booking, workflow_step


@workflow_step("invoice_issue", IssueInvoiceForm)
def invoice_issue(step: Step[IssueInvoiceForm]) -> str:
    invoice = step.run(
        actions.issue_step,
        InvoiceKind(step.form.kind.data),
        tax_rate_pct=step.form.tax_rate.data or "",
        issuer=issuer_from(current_app.config["BUREAU_SETTINGS"]),
        today=utcnow().date(),
    )
    total = format_money(invoice.total, invoice.currency)
    return str(
        _(
            "%(title)s %(number)s issued for %(total)s; it is emailed to the organizer.",
            title=invoice.title,
            number=invoice.number,
            total=total,
        )
    )


@workflow_step("invoice_void", VoidInvoiceForm)
def invoice_void(step: Step[VoidInvoiceForm]) -> str:
    invoice = step.run(
        actions.void_step, row_id(step.form.invoice_id.data), reason=step.form.reason.data or ""
    )
    return str(_("%(number)s is void.", number=invoice.number))


@workflow_step("invoice_payment", PaymentForm)
def invoice_payment(step: Step[PaymentForm]) -> str:
    form = step.form
    payment = step.run(
        actions.payment_step,
        row_id(form.invoice_id.data),
        amount=form.amount.data or "",
        currency=form.currency.data or "",
        paid_on=form.paid_on.data,
        method=form.method.data or "",
        reference=form.reference.data,
        today=utcnow().date(),
    )
    invoice = payment.invoice
    left = balance_due(invoice)
    paid = format_money(payment.amount, invoice.currency)
    if left:
        return str(
            _(
                "Payment of %(amount)s recorded: %(left)s still due.",
                amount=paid,
                left=format_money(left, invoice.currency),
            )
        )
    return str(_("Payment of %(amount)s recorded: paid in full.", amount=paid))


@bp.get("/requests/<id:booking_id>/invoices/<id:invoice_id>", defaults={"as_pdf": False})
@bp.get("/requests/<id:booking_id>/invoices/<id:invoice_id>.pdf", defaults={"as_pdf": True})
def invoice_page(booking_id: int, invoice_id: int, as_pdf: bool) -> ResponseReturnValue:
    """The invoice as the organizer has it, as a page or a PDF."""
    booking = allowed_booking(booking_id)
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None or invoice.booking_id != booking.id:
        abort(404)
    return invoice_document(invoice, as_pdf=as_pdf, today=utcnow().date())
