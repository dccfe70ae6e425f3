"""What beat runs, and how often."""

from __future__ import annotations

from typing import Any

from bureau.config import Settings
from bureau.insights.snapshot import REFRESH


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    schedule = {
        "sweep-outbox": {
            "task": "bureau.jobs.sweep",
            "schedule": settings.sweep_interval,
            # A sweep that waited longer than its interval is superseded by the next one.
            "options": {"expires": settings.sweep_interval},
        },
        "calendar-duties": {
            "task": "bureau.calendar.duties",
            "schedule": 300.0,
            "options": {"expires": 300.0},
        },
        "expire-holds": {
            "task": "bureau.calendar.expire_holds",
            "schedule": 60.0,
            "options": {"expires": 60.0},
        },
        # Speakers' own calendars: each is fetched when due (BUREAU_CALENDAR_INTERVAL).
        "fetch-calendars": {
            "task": "bureau.calendar.fetch_due",
            "schedule": 60.0,
            "options": {"expires": 60.0},
        },
        # Invoice reminders and overdue notices (each once, by the outbox's key).
        "invoice-reminders": {
            "task": "bureau.billing.reminders",
            "schedule": 3_600.0,
            "options": {"expires": 3_600.0},
        },
        # Balance invoices whose time has come (BUREAU_BALANCE_INVOICE_LEAD_DAYS), once each.
        "balance-invoices": {
            "task": "bureau.billing.balances",
            "schedule": 3_600.0,
            "options": {"expires": 3_600.0},
        },
        # The insights page's snapshots viewed lately (bureau/insights/snapshot.py).
        "insights-snapshots": {
            "task": "bureau.insights.refresh",
            "schedule": REFRESH.total_seconds(),
            "options": {"expires": REFRESH.total_seconds()},
        },
        # Contact details of requests that never became bookings, past BUREAU_RETENTION_DAYS.
        "privacy-retention": {
            "task": "bureau.privacy.apply_retention",
            "schedule": 86_400.0,
            "options": {"expires": 3_600.0},
        },
    }
    if settings.imap_url:
        # Replies in the bureau's mailbox (bureau/inbound/): stored, then filed away.
        schedule["inbound-mail"] = {
            "task": "bureau.inbound.poll",
            "schedule": 60.0,
            "options": {"expires": 60.0},
        }
    return schedule
