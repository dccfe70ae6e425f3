"""Billing upkeep run by beat."""

from __future__ import annotations

from celery import shared_task

from bureau.billing.automatic import issue_due_balances
from bureau.billing.reminders import send_invoice_reminders
from bureau.extensions import db


@shared_task(name="bureau.billing.reminders")
def invoice_reminders() -> int:
    """Reminders before the due day and overdue notices after it, once each."""
    try:
        return send_invoice_reminders(db.session)
    finally:
        db.session.remove()


@shared_task(name="bureau.billing.balances")
def balance_invoices() -> int:
    """The balance invoices now due to go out, once per booking."""
    try:
        return issue_due_balances(db.session)
    finally:
        db.session.remove()
