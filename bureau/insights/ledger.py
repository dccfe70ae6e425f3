"""The bookkeeper's CSV: every invoice issued and every payment received in a period.

One file, one row per record, in date order (an invoice before the payments of its day):
``record`` says ``invoice`` or ``payment``; a payment row names its invoice. Void invoices
stay in, marked with the day they were voided and why, so the numbers run without gaps;
credit notes carry their negative amounts. Amounts are plain decimal strings in the
invoice's decimals ("1327.15", "-120.00", "550006"), never with separators or a currency
sign, so a spreadsheet reads them as numbers; text cells are defused against formulas.
"""

from __future__ import annotations

import csv
import heapq
import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from bureau.billing.models import Invoice, Payment
from bureau.billing.money import from_minor
from bureau.bookings.models import BookingRequest
from bureau.db import AnySession
from bureau.insights.scope import Scope, on_days

COLUMNS = (
    "record",
    "date",
    "invoice",
    "kind",
    "booking",
    "client",
    "client_tax_number",
    "currency",
    "net",
    "tax_rate_pct",
    "tax",
    "total",
    "paid",
    "method",
    "payment_reference",
    "due_on",
    "voided_on",
    "void_reason",
)
# A text cell starting with one of these would run as a formula in a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str | None) -> str:
    """Text from people (names, references, reasons), with a quote before a formula start."""
    text = value or ""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def amount_cell(minor: int, places: int) -> str:
    """An amount as a plain decimal string: computed here, so never a formula."""
    return f"{from_minor(minor, places):f}"


def _about(invoice: Invoice, reference: str) -> list[str]:
    """The cells both kinds of row share: the invoice, its kind, booking and client."""
    return [
        text_cell(invoice.number),
        invoice.kind,
        text_cell(reference),
        text_cell(invoice.client_organization),
        text_cell(invoice.client_tax_number),
    ]


def _invoice_rows(session: AnySession, scope: Scope) -> Iterator[tuple[date, int, list[str]]]:
    query = (
        select(Invoice, BookingRequest.reference)
        .join(BookingRequest, BookingRequest.id == Invoice.booking_id)
        .where(*on_days(scope, Invoice.issued_on))
        .order_by(Invoice.issued_on, Invoice.id)
    )
    for invoice, reference in session.execute(query).all():
        places = invoice.decimals
        yield (
            invoice.issued_on,
            0,
            [
                "invoice",
                invoice.issued_on.isoformat(),
                *_about(invoice, reference),
                invoice.currency,
                amount_cell(invoice.net_minor, places),
                f"{Decimal(invoice.tax_rate):f}",
                amount_cell(invoice.tax_minor, places),
                amount_cell(invoice.total_minor, places),
                "",
                "",
                "",
                invoice.due_on.isoformat(),
                invoice.voided_at.date().isoformat() if invoice.voided_at else "",
                text_cell(invoice.void_reason),
            ],
        )


def _payment_rows(session: AnySession, scope: Scope) -> Iterator[tuple[date, int, list[str]]]:
    query = (
        select(Payment, Invoice, BookingRequest.reference)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .join(BookingRequest, BookingRequest.id == Invoice.booking_id)
        .where(*on_days(scope, Payment.paid_on))
        .order_by(Payment.paid_on, Payment.id)
    )
    for payment, invoice, reference in session.execute(query).all():
        yield (
            payment.paid_on,
            1,
            [
                "payment",
                payment.paid_on.isoformat(),
                *_about(invoice, reference),
                payment.currency,
                "",
                "",
                "",
                "",
                amount_cell(payment.amount_minor, invoice.decimals),
                payment.method,
                text_cell(payment.reference),
                "",
                "",
                "",
            ],
        )


def ledger_csv(session: AnySession, scope: Scope) -> str:
    """The CSV text: a header, then invoices (by day issued) and payments (by day paid)
    merged in date order; two queries, streamed through once."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    merged = heapq.merge(
        _invoice_rows(session, scope), _payment_rows(session, scope), key=lambda r: r[:2]
    )
    writer.writerows(row for _, _, row in merged)
    return buffer.getvalue()
