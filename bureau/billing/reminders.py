"""Beat's reminders about money owed: a friendly one before the due day, overdue notices after.

The organizer gets each (and the assignee a copy) once per invoice: the outbox's key is the
template, the booking, the reader and the invoice's id, so a second run queues nothing and
no table of its own is needed. An invoice found late (beat was down) gets only the latest
notice that is due, not the ones it missed.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bureau.billing.models import Invoice, InvoiceKind
from bureau.billing.notifications import remind
from bureau.billing.services import balance_due
from bureau.db import AnySession, utcnow

BEFORE_DUE = ("invoice_due_soon", timedelta(days=3))
# Overdue notices by days past the due day, latest first.
OVERDUE = (("invoice_overdue_7d", timedelta(days=7)), ("invoice_overdue_1d", timedelta(days=1)))
# Notices stop this long after the due day: older debts are the assignee's to chase.
LAST_NOTICE = timedelta(days=30)


def reminder_due(invoice: Invoice, today: date) -> str | None:
    """The reminder ``invoice`` should have had by ``today``, if any."""
    for template, late in OVERDUE:
        if invoice.due_on + late <= today:
            return template
    template, ahead = BEFORE_DUE
    # An invoice issued within the last three days before its due day needs no reminder.
    if invoice.due_on - ahead <= today <= invoice.due_on and invoice.issued_on < today:
        return template
    return None


def send_invoice_reminders(session: AnySession, today: date | None = None) -> int:
    """Queue every reminder and overdue notice now due; the number of emails queued."""
    today = today or utcnow().date()
    invoices = session.scalars(
        select(Invoice)
        .where(
            Invoice.voided_at.is_(None),
            Invoice.kind != InvoiceKind.CREDIT_NOTE,
            Invoice.due_on >= today - LAST_NOTICE,
            Invoice.due_on <= today + BEFORE_DUE[1],
        )
        .options(selectinload(Invoice.payments), selectinload(Invoice.booking))
        .order_by(Invoice.id)
    ).all()
    sent = 0
    for invoice in invoices:
        template = reminder_due(invoice, today)
        if template is not None and balance_due(invoice) > 0:
            sent += remind(session, invoice, template)
    session.commit()
    return sent
