"""The emails an invoice sends: itself (with its PDF) when issued, and the reminders.

Each goes through the outbox with the invoice's id as its sequence, so the outbox's unique
key sends each email once per invoice: issuing, the reminder before the due day, and each
overdue notice. What the email says is fixed in its facts when queued; the PDF is made when
the worker composes the message (and stored with it, so a retry sends the same bytes).
"""

from __future__ import annotations

from typing import Any

from bureau.billing.models import Invoice
from bureau.billing.money import format_money
from bureau.billing.render import invoice_filename, invoice_pdf
from bureau.billing.services import balance_due
from bureau.bookings.models import BookingRequest
from bureau.db import AnySession, utcnow
from bureau.mail.attachments import Attachment, attaches
from bureau.mail.recipients import Addressee, assignee_of, organizer_of, queue_mail
from bureau.outbox import Job
from bureau.templating import day_words

ISSUED = "invoice_issued"


def invoice_facts(invoice: Invoice) -> dict[str, Any]:
    """What an email about ``invoice`` tells, in words (plain JSON for the job's payload);
    its kind and days too, for the words in its reader's language (mail/compose.py)."""
    return {
        "number": invoice.number,
        "kind": str(invoice.kind),
        "issued_on": invoice.issued_on.isoformat(),
        "due_on": invoice.due_on.isoformat(),
        "title": str(invoice.title),
        "total": format_money(invoice.total, invoice.currency),
        "balance": format_money(balance_due(invoice), invoice.currency),
        "issued": day_words(invoice.issued_on),
        "due": day_words(invoice.due_on),
    }


def queue_invoice_mail(
    session: AnySession,
    booking: BookingRequest,
    invoice: Invoice,
    template: str,
    to: Addressee | None,
) -> Job | None:
    """Queue ``template`` about ``invoice`` for ``to``; None if it went already."""
    return queue_mail(
        session,
        booking,
        template,
        to,
        sequence=invoice.id,
        facts={"invoice": invoice_facts(invoice)},
        invoice_id=invoice.id,
    )


def send_invoice(session: AnySession, booking: BookingRequest, invoice: Invoice) -> Job | None:
    """Email the organizer the invoice, its PDF attached."""
    return queue_invoice_mail(session, booking, invoice, ISSUED, organizer_of(booking))


def remind(session: AnySession, invoice: Invoice, template: str) -> int:
    """A reminder or overdue notice to the organizer, and the same to the assignee."""
    booking = invoice.booking
    sent = [
        queue_invoice_mail(session, booking, invoice, template, to)
        for to in (organizer_of(booking), assignee_of(booking))
    ]
    return sum(job is not None for job in sent)


@attaches(ISSUED)
def invoice_attachment(session: AnySession, payload: dict[str, Any]) -> list[Attachment]:
    """The invoice's PDF, as it reads when the email is composed."""
    invoice_id = payload.get("invoice_id")
    invoice = session.get(Invoice, invoice_id) if invoice_id else None
    if invoice is None:
        return []
    pdf = invoice_pdf(invoice, utcnow().date())
    return [Attachment(invoice_filename(invoice), "application/pdf", pdf)]
