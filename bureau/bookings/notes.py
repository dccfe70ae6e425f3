"""Staff notes on a request's timeline."""

from __future__ import annotations

from datetime import datetime

from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor, check_version, note
from bureau.db import AnySession, utcnow


def add_note(
    session: AnySession,
    booking: BookingRequest,
    text: str,
    *,
    actor: Actor,
    expected_version: int | None,
    now: datetime | None = None,
) -> None:
    """A note on the timeline. The request counts as changed, so a form opened before the
    note is refused as stale."""
    check_version(booking, expected_version)
    now = now or utcnow()
    note(session, booking, actor=actor, action="note", details={"text": text}, now=now)
    booking.updated_at = now
