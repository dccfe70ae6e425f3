"""Sending a failed email again."""

from __future__ import annotations

from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor, note
from bureau.db import AnySession
from bureau.mail.models import Notification
from bureau.outbox import retry_failed


def booking_of(session: AnySession, notification: Notification) -> BookingRequest | None:
    return session.get(BookingRequest, notification.booking_id) if notification.booking_id else None


def resend(session: AnySession, notification: Notification, *, actor: Actor) -> bool:
    """Queue a failed email again and note it on its request's timeline; False (and nothing
    changed) when the email had not failed. The job goes to the broker on commit."""
    if not retry_failed(session, [notification.job_id]):
        return False
    booking = booking_of(session, notification)
    if booking is not None:
        note(
            session,
            booking,
            actor=actor,
            action="email resent",
            details={"to": notification.recipient, "subject": notification.subject},
        )
    return True
