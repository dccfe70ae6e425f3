"""Booking state changes: the allowed transitions and the one function that makes them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import select

from bureau.bookings.models import PUBLIC_MESSAGE_MAX, BookingEvent, BookingRequest
from bureau.bookings.states import CLOSED_STATES, FUNNEL_RANK, SLA_BREACHED, Status
from bureau.calendar.models import Engagement
from bureau.db import AnySession, utcnow
from bureau.i18n import speaking
from bureau.staff.models import StaffMember

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


class ActorKind(StrEnum):
    """Who acts, as stored in ``BookingEvent.actor_kind`` (the values are the stored strings)."""

    ORGANIZER = "organizer"
    STAFF = "staff"
    SPEAKER = "speaker"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """Who acts: passed explicitly, never read from the request."""

    kind: ActorKind
    label: str
    id: int | None = None

    def __init__(self, kind: ActorKind | str, label: str, id: int | None = None) -> None:
        # A plain string is accepted and checked: an unknown kind raises ValueError.
        object.__setattr__(self, "kind", ActorKind(kind))
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "id", id)


SYSTEM = Actor(ActorKind.SYSTEM, "Bureau")


class TransitionNotAllowed(Exception):
    pass


class Conflict(Exception):
    """Someone else changed the booking since the actor looked at it."""


class ActionError(Exception):
    """The step cannot be taken with this input; the message says why."""


def check_version(booking: BookingRequest, expected: int | None) -> None:
    """Refuse a change made from a stale view (``expected``: the version the actor saw)."""
    if expected is not None and booking.version != expected:
        raise Conflict(
            _(
                "%(reference)s was changed by someone else a moment ago (now: %(status)s). "
                "Nothing was saved; look at it again.",
                reference=booking.reference,
                status=booking.status,
            )
        )


def event_end(session: AnySession, booking: BookingRequest) -> tuple[datetime, str]:
    """When the event ends (UTC) and its zone: the engagement's (it follows reschedules),
    else the latest offer's, else the request's."""
    engagement = session.scalars(
        select(Engagement).where(Engagement.booking_id == booking.id)
    ).one_or_none()
    dated = engagement or booking.offer or booking
    return dated.ends_at, dated.timezone


def _after_the_event(session: AnySession, booking: BookingRequest, now: datetime) -> str | None:
    ends_at, zone = event_end(session, booking)
    if now >= ends_at:
        return None
    local = ends_at.astimezone(ZoneInfo(zone))
    return (
        f"{booking.reference} cannot be completed before its event ends "
        f"({local:%a %-d %b %Y, %H:%M} {zone})."
    )


# What must be true, beyond the table, to enter a state: a refusal's reason, or None.
Guard = Callable[[AnySession, BookingRequest, datetime], str | None]
GUARDS: dict[Status, Guard] = {S.COMPLETED: _after_the_event}


def refusal(
    session: AnySession, booking: BookingRequest, to: Status, now: datetime | None = None
) -> str | None:
    """Why ``booking`` cannot move to ``to`` now (None when it can)."""
    current = Status(booking.status)
    if to not in ALLOWED[current]:
        return f"{booking.reference}: {current} → {to} is not allowed"
    guard = GUARDS.get(to)
    return guard(session, booking, now or utcnow()) if guard else None


def transition(
    session: AnySession,
    booking: BookingRequest,
    to: Status,
    *,
    actor: Actor,
    action: str,
    public_message: str | LazyString | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
    overriding: str | None = None,
) -> BookingEvent:
    """Move a booking to ``to`` if the table and the state's guard allow it, and write its
    timeline entry.

    ``now`` (default: the present) is the guard's moment and, unless it lies ahead, the
    timeline entry's: an earlier one replays the past (the demo history), a later one
    only asks the guard about that moment. ``overriding`` is an admin's reason for taking
    the step before the guard allows it (the caller checks the admin); it is written to the
    timeline entry. The table is never overridden: that is ``correct_state``'s job.

    Side effects: the status changes; a BookingEvent is added; on flush the ``version``
    column rises (SQLAlchemy's optimistic lock: a concurrent change makes the flush fail
    with StaleDataError and nothing is applied). The caller records the jobs the change
    implies in the same transaction and commits; per state entered (emails:
    bookings/notifications.py, one ``notify_*`` per step):

    - assigned / unassigned (bookings/routing.py): the new assignee is told, or every
      admin alerted; the organizer's acknowledgement.
    - shortlisted: the organizer gets the shortlist.
    - offer_received: the assignee hears of an organizer's own offer.
    - awaiting_speaker: a hold on the speaker's date; the speaker is asked (signed link).
    - speaker_accepted / speaker_declined: assignee and organizer hear; a decline releases
      the hold.
    - contracted: the organizer gets the contract's terms.
    - confirmed: the hold is confirmed, an engagement created, an invitation queued per
      attendee (calendar/invites.py); the organizer is told.
    - completed: the organizer is asked for feedback (once per booking, ever).
    - declined / withdrawn / cancelled: holds released, a confirmed engagement cancelled
      (invitations with METHOD:CANCEL); whoever did not close it hears.
    - expired (beat, calendar/holds.py): organizer and assignee hear.
    """
    current = Status(booking.status)
    if to not in ALLOWED[current]:
        raise TransitionNotAllowed(f"{booking.reference}: {current} → {to} is not allowed")
    now = now or utcnow()
    refused = refusal(session, booking, to, now)
    if refused and not (overriding and overriding.strip()):
        raise TransitionNotAllowed(refused)
    if refused:
        details = {**(details or {}), "override": overriding, "refused": refused}
    booking.status = to
    # Always write the row, so the version moves even when the status stays the same
    # (a second shortlist): a concurrent stale change then fails.
    at = min(now, utcnow())
    booking.updated_at = at
    return note(
        session,
        booking,
        actor=actor,
        action=action,
        from_status=current,
        to_status=to,
        public_message=public_message,
        details=details,
        now=at,
    )


def note(
    session: AnySession,
    booking: BookingRequest,
    *,
    actor: Actor,
    action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    public_message: str | LazyString | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
    attached: bool = True,
) -> BookingEvent:
    """Add a timeline entry without a state change (e.g. a reassignment), at ``now``
    (default: the present). ``attached=False``: the entry only, neither tied to ``booking``
    (its ``booking_id`` is the caller's to set) nor added to the session, for a caller that
    inserts it in a statement of its own.

    The public message is what the organizer reads on their status page, so it is written
    in their language (the request's ``locale``) when it happens and stored as written: a
    fact fixed at that moment, as the email they got then. Pass a ``lazy_gettext`` sentence
    (its words and dates lazy too): it is resolved here, in the booking's language, whoever
    triggered the step. Staff see the same words the organizer sees.

    A public message longer than its column (a 1,000-character reason after "The request
    was withdrawn: ") is cut with an ellipsis: PostgreSQL refuses it whole, and the full
    text stays in ``details``.
    """
    text = None
    if public_message is not None:
        with speaking(booking.locale):
            text = str(public_message)
        if len(text) > PUBLIC_MESSAGE_MAX:
            text = text[: PUBLIC_MESSAGE_MAX - 1] + "…"
    entry = BookingEvent(
        at=now or utcnow(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        from_status=from_status,
        to_status=to_status,
        public_message=text,
        details=details or {},
    )
    keep_facts(booking, entry)
    if attached:
        entry.booking = booking
        session.add(entry)
    return entry


def keep_facts(booking: BookingRequest, entry: BookingEvent) -> None:
    """Bring the request's timeline facts (BookingRequest.funnel_stage, first_response_at,
    first_confirmed_at, sla_breached; docs/topics/insights.md) up to date with a new entry,
    in the same transaction. Only a fact that changes is set, so an entry that changes none
    leaves the row alone; one that does rides on the row's UPDATE (and moves its version, as
    any change to the request does)."""
    stage = max(
        booking.funnel_stage or 0,
        FUNNEL_RANK.get(entry.to_status or "", 0),
        FUNNEL_RANK.get(booking.status or "", 0),
    )
    if stage != booking.funnel_stage:
        booking.funnel_stage = stage
    at = entry.at
    submitted = booking.created_at
    staff = entry.actor_kind == ActorKind.STAFF and (submitted is None or at >= submitted)
    if staff and (booking.first_response_at is None or at < booking.first_response_at):
        booking.first_response_at = at
    confirmed = entry.to_status == S.CONFIRMED
    if confirmed and (booking.first_confirmed_at is None or at < booking.first_confirmed_at):
        booking.first_confirmed_at = at
    if entry.action == SLA_BREACHED and not booking.sla_breached:
        booking.sla_breached = True


def assign(
    session: AnySession,
    booking: BookingRequest,
    staff: StaffMember,
    *,
    actor: Actor,
    action: str,
    details: dict[str, Any],
    note_details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """Give the booking to ``staff`` (by the rules or an admin's choice): a new or
    unassigned one enters ``assigned`` through ``action``; one further along gets a
    "reassigned" note (with ``note_details``, default ``details``)."""
    now = now or utcnow()
    booking.assigned_staff = staff
    booking.assigned_staff_id = staff.id
    booking.assigned_at = now
    if booking.status in (S.NEW, S.UNASSIGNED):
        transition(
            session,
            booking,
            S.ASSIGNED,
            actor=actor,
            action=action,
            public_message=_l(
                "Your request is with %(name)s, who will be in touch.", name=staff.name
            ),
            details=details,
            now=now,
        )
    else:
        note(
            session,
            booking,
            actor=actor,
            action="reassigned",
            details=details if note_details is None else note_details,
            now=now,
        )
