"""Calendar upkeep run by beat."""

from __future__ import annotations

from celery import shared_task

from bureau.calendar import sources
from bureau.calendar.holds import expire_holds
from bureau.calendar.reminders import (
    escalate_slow_first_responses,
    send_event_reminders,
    warn_expiring_holds,
)
from bureau.extensions import db


@shared_task(name="bureau.calendar.expire_holds")
def expire_stale_holds() -> int:
    """Release holds past their expiry: their bookings expire, staff and organizer are told."""
    try:
        return expire_holds(db.session)
    finally:
        db.session.remove()


@shared_task(name="bureau.calendar.duties")
def calendar_duties() -> dict[str, int]:
    """Event reminders, hold-expiry warnings and first-response escalations, each once."""
    try:
        return {
            "reminders": send_event_reminders(db.session),
            "hold_warnings": warn_expiring_holds(db.session),
            "escalations": escalate_slow_first_responses(db.session),
        }
    finally:
        db.session.remove()


@shared_task(name="bureau.calendar.fetch_due")
def fetch_due_calendars() -> int:
    """Send one fetch task per speaker calendar that is due, so that a slow or failing
    calendar never holds up the others."""
    try:
        due = sources.claim_due(db.session)
    finally:
        db.session.remove()
    for source_id in due:
        fetch_calendar.delay(source_id)
    return len(due)


@shared_task(name="bureau.calendar.fetch")
def fetch_calendar(source_id: int) -> str:
    """Fetch one speaker's own calendar and keep its busy intervals."""
    try:
        return sources.refresh(db.session, source_id)
    finally:
        db.session.remove()
