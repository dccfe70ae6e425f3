"""Holds on a speaker's date: ended with their booking's step, or expired by beat."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from bureau.bookings.models import BookingRequest
from bureau.bookings.notifications import notify_hold_expired
from bureau.bookings.states import Status
from bureau.bookings.workflow import ALLOWED, SYSTEM, transition
from bureau.calendar.models import Hold, HoldState
from bureau.db import AnySession, utcnow


def expire_holds(session: AnySession, now: datetime | None = None) -> int:
    """Release holds past their expiry; their bookings expire; staff and organizer hear."""
    now = now or utcnow()
    due = session.scalars(
        select(Hold).where(Hold.state == HoldState.ACTIVE, Hold.expires_at <= now).limit(200)
    ).all()
    expired = 0
    for hold in due:
        if expire_hold(session, hold, now):
            session.commit()
            expired += 1
    return expired


def expire_hold(session: AnySession, hold: Hold, now: datetime) -> bool:
    """End one hold as expired (unless it ended already) and its booking's wait with it.
    The caller commits."""
    claimed = session.execute(
        update(Hold)
        .where(Hold.id == hold.id, Hold.state == HoldState.ACTIVE)
        .values(state=HoldState.EXPIRED, updated_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    booking = session.get(BookingRequest, hold.booking_id)
    if booking is not None and Status.EXPIRED in ALLOWED[Status(booking.status)]:
        transition(
            session,
            booking,
            Status.EXPIRED,
            actor=SYSTEM,
            action="hold expired",
            public_message=_l("The hold on the speaker's date expired before confirmation."),
            details={"hold": hold.id},
            now=now,
        )
        notify_hold_expired(session, booking)
    return True


def end_holds(
    session: AnySession, booking: BookingRequest, state: HoldState, now: datetime | None = None
) -> None:
    """The booking's active holds end as ``state`` (confirmed, or released), at ``now``."""
    session.execute(
        update(Hold)
        .where(Hold.booking_id == booking.id, Hold.state == HoldState.ACTIVE)
        .values(state=state, updated_at=now or utcnow())
    )
