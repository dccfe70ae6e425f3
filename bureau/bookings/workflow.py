"""Booking state changes: the allowed transitions and the one function that makes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bureau.bookings.models import PUBLIC_MESSAGE_MAX, BookingEvent, BookingRequest
from bureau.bookings.states import CLOSED_STATES, Status
from bureau.db import AnySession, utcnow

S = Status
# Every open state can end: the bureau declines, the organizer withdraws, or it is cancelled.
_EXITS = {S.DECLINED, S.WITHDRAWN, S.CANCELLED}
ALLOWED: dict[Status, set[Status]] = {
    S.NEW: {S.ASSIGNED, S.UNASSIGNED} | _EXITS,
    S.UNASSIGNED: {S.ASSIGNED} | _EXITS,
    S.ASSIGNED: {S.SHORTLISTED, S.OFFER_RECEIVED} | _EXITS,
    S.SHORTLISTED: {S.SHORTLISTED, S.OFFER_RECEIVED} | _EXITS,
    S.OFFER_RECEIVED: {S.AWAITING_SPEAKER, S.SHORTLISTED} | _EXITS,
    S.AWAITING_SPEAKER: {S.SPEAKER_ACCEPTED, S.SPEAKER_DECLINED, S.EXPIRED} | _EXITS,
    S.SPEAKER_DECLINED: {S.SHORTLISTED, S.OFFER_RECEIVED} | _EXITS,
    S.SPEAKER_ACCEPTED: {S.CONTRACTED, S.EXPIRED} | _EXITS,
    S.CONTRACTED: {S.CONFIRMED, S.EXPIRED} | _EXITS,
    S.CONFIRMED: {S.COMPLETED, S.CANCELLED},
    # A hold or offer that timed out can be taken up again with the shortlist's alternates.
    S.EXPIRED: {S.SHORTLISTED},
}
for _closed in CLOSED_STATES - {S.EXPIRED}:
    ALLOWED[_closed] = set()


@dataclass(frozen=True)
class Actor:
    """Who acts: passed explicitly, never read from the request."""

    kind: str  # organizer, staff, speaker, system
    label: str
    id: int | None = None


SYSTEM = Actor("system", "Bureau")


class TransitionNotAllowed(Exception):
    pass


def transition(
    session: AnySession,
    booking: BookingRequest,
    to: Status,
    *,
    actor: Actor,
    action: str,
    public_message: str | None = None,
    details: dict[str, Any] | None = None,
) -> BookingEvent:
    """Move a booking to ``to`` if the table allows it, and write its timeline entry.

    Side effects: the status changes; a BookingEvent is added; on flush the ``version``
    column rises (SQLAlchemy's optimistic lock: a concurrent change makes the flush fail
    with StaleDataError and nothing is applied). The caller records the jobs the change
    implies in the same transaction and commits.
    """
    current = Status(booking.status)
    if to not in ALLOWED[current]:
        raise TransitionNotAllowed(f"{booking.reference}: {current} → {to} is not allowed")
    booking.status = to
    # Always write the row, so the version moves even when the status stays the same
    # (a second shortlist): a concurrent stale change then fails.
    booking.updated_at = utcnow()
    return note(
        session,
        booking,
        actor=actor,
        action=action,
        from_status=current,
        to_status=to,
        public_message=public_message,
        details=details,
    )


def note(
    session: AnySession,
    booking: BookingRequest,
    *,
    actor: Actor,
    action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    public_message: str | None = None,
    details: dict[str, Any] | None = None,
) -> BookingEvent:
    """Add a timeline entry without a state change (e.g. a reassignment).

    A public message longer than its column (a 1,000-character reason after "The request
    was withdrawn: ") is cut with an ellipsis: PostgreSQL refuses it whole, and the full
    text stays in ``details``.
    """
    if public_message is not None and len(public_message) > PUBLIC_MESSAGE_MAX:
        public_message = public_message[: PUBLIC_MESSAGE_MAX - 1] + "…"
    entry = BookingEvent(
        booking=booking,
        at=utcnow(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        from_status=from_status,
        to_status=to_status,
        public_message=public_message,
        details=details or {},
    )
    session.add(entry)
    return entry
