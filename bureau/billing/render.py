"""An invoice as a page (HTML) and as paper (PDF, through bureau/documents.py).

Everything printed comes from the invoice row itself (its copies of the parties' details
and its amounts), never from the booking or the settings as they are now: a reprint years
later reads the same.
"""

from __future__ import annotations

from datetime import date

from flask import Response, render_template

from bureau.billing.models import Invoice, InvoiceKind
from bureau.billing.money import format_money
from bureau.billing.services import balance_due, invoice_status, status_words
from bureau.documents import render_pdf


def invoice_html(invoice: Invoice, today: date) -> str:
    """The whole page (needs an app context for the template)."""
    return render_template(
        "billing/invoice.html",
        invoice=invoice,
        booking=invoice.booking,
        status=status_words(invoice_status(invoice, today)),
        balance=balance_due(invoice),
        tax_rate=f"{invoice.tax_rate.normalize():f}",  # 20, 7.5
        is_credit=invoice.kind == InvoiceKind.CREDIT_NOTE,
        amount=lambda value: format_money(value, invoice.currency),
        lines=lambda text: [line for line in (text or "").splitlines() if line.strip()],
    )


def invoice_pdf(invoice: Invoice, today: date) -> bytes:
    return render_pdf(invoice_html(invoice, today))


def invoice_filename(invoice: Invoice) -> str:
    """``INV-2027-00001.pdf``: the number is the name bookkeepers file it under."""
    return f"{invoice.number}.pdf"


def invoice_document(invoice: Invoice, *, as_pdf: bool, today: date) -> Response:
    """The invoice as a page or as its PDF (shown in the browser, saved under its number),
    never stored by a cache: it is the client's, reached through a private link."""
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if not as_pdf:
        return Response(invoice_html(invoice, today), mimetype="text/html", headers=headers)
    headers["Content-Disposition"] = f'inline; filename="{invoice_filename(invoice)}"'
    return Response(invoice_pdf(invoice, today), mimetype="application/pdf", headers=headers)
