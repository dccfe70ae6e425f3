"""Calendar upkeep run by beat."""

from __future__ import annotations

from celery import shared_task

from bureau.bookings.actions import expire_holds
from bureau.extensions import db


@shared_task(name="bureau.calendar.expire_holds")
def expire_stale_holds() -> int:
    """Release holds past their expiry: their bookings expire, staff and organizer are told."""
    try:
        return expire_holds(db.session)
    finally:
        db.session.remove()
