"""Staff notes on a request's timeline."""

from __future__ import annotations

from bureau.bookings.actions import check_version
from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor, note
from bureau.db import AnySession, utcnow


def add_note(
    session: AnySession,
    booking: BookingRequest,
    text: str,
    *,
    actor: Actor,
    expected_version: int | None,
) -> None:
    """A note on the timeline. The request counts as changed, so a form opened before the
    note is refused as stale."""
    check_version(booking, expected_version)
    note(session, booking, actor=actor, action="note", details={"text": text})
    booking.updated_at = utcnow()
