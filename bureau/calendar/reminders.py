"""Time-driven duties run by beat: event reminders, hold-expiry warnings, the response SLA.

Each sends through the outbox with a dedupe key that makes it happen once: a reminder per
recipient per engagement SEQUENCE (a rescheduled event is reminded afresh), a warning per
hold, an escalation per booking.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import joinedload

from bureau.bookings.models import BookingRequest
from bureau.bookings.states import SLA_BREACHED, Status
from bureau.bookings.workflow import SYSTEM, note
from bureau.calendar.invites import engagement_people
from bureau.calendar.models import Engagement, Hold, HoldState
from bureau.db import AnySession, utcnow
from bureau.mail.recipients import assignee_of, queue_mail, staff_member
from bureau.staff.models import Role, StaffMember

REMINDERS = {"reminder_7d": timedelta(days=7), "reminder_1d": timedelta(days=1)}
HOLD_WARNING = timedelta(hours=24)
# First response within this many working hours of the assignee (Monday to Friday, 09:00 to 17:00).
FIRST_RESPONSE_SLA = timedelta(hours=8)
WORKDAY_START, WORKDAY_END = time(9), time(17)


def send_event_reminders(session: AnySession, now: datetime | None = None) -> int:
    """Remind speaker and organizer 7 days and 1 day before an engagement, once each."""
    now = now or utcnow()
    sent = 0
    horizon = now + max(REMINDERS.values())
    engagements = session.scalars(
        select(Engagement).where(
            ~Engagement.is_cancelled, Engagement.starts_at > now, Engagement.starts_at <= horizon
        )
    ).all()
    for engagement in engagements:
        booking = session.get(BookingRequest, engagement.booking_id)
        if booking is None or booking.status != Status.CONFIRMED:
            continue
        people = engagement_people(booking, engagement)
        for template, lead in REMINDERS.items():
            if engagement.starts_at - lead > now:
                continue
            if template == "reminder_7d" and engagement.starts_at - now <= REMINDERS["reminder_1d"]:
                continue  # confirmed late: the 1-day reminder says it all
            for to in people:
                job = queue_mail(
                    session,
                    booking,
                    template,
                    to,
                    sequence=engagement.sequence,
                    about_engagement=engagement.id,
                )
                sent += job is not None
    session.commit()
    return sent


def warn_expiring_holds(session: AnySession, now: datetime | None = None) -> int:
    """Tell the assignee a day before a hold lapses (once per hold)."""
    now = now or utcnow()
    sent = 0
    holds = session.scalars(
        select(Hold).where(
            Hold.state == HoldState.ACTIVE,
            Hold.expires_at > now,
            Hold.expires_at <= now + HOLD_WARNING,
        )
    ).all()
    for hold in holds:
        booking = session.get(BookingRequest, hold.booking_id)
        if booking is not None:
            job = queue_mail(
                session, booking, "hold_expiring", assignee_of(booking), sequence=hold.id
            )
            sent += job is not None
    session.commit()
    return sent


def working_time(start: datetime, end: datetime, zone: ZoneInfo) -> timedelta:
    """Working hours between two instants: Monday to Friday, 09:00 to 17:00 local time.

    DST-safe: each day's window is placed in local time, then compared as instants.
    """
    if end <= start:
        return timedelta(0)
    total = timedelta(0)
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        if day.weekday() < 5:
            opens = datetime.combine(day, WORKDAY_START, tzinfo=zone)
            closes = datetime.combine(day, WORKDAY_END, tzinfo=zone)
            overlap = min(closes, end) - max(opens, start)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return total


def add_working_time(start: datetime, amount: timedelta, zone: ZoneInfo) -> datetime:
    """The instant when ``amount`` of working time (Monday to Friday, 09:00 to 17:00 in
    ``zone``) has passed since ``start``; the inverse of working_time."""
    day = start.astimezone(zone).date()
    left = amount
    while True:
        if day.weekday() < 5:
            opens = datetime.combine(day, WORKDAY_START, tzinfo=zone)
            closes = datetime.combine(day, WORKDAY_END, tzinfo=zone)
            begin = max(opens, start)
            if closes > begin:
                if begin + left <= closes:
                    return (begin + left).astimezone(UTC)
                left -= closes - begin
        day += timedelta(days=1)


def working_time_cutoff(end: datetime, amount: timedelta, zone: ZoneInfo) -> datetime:
    """The earliest instant ``c`` with ``working_time(c, end, zone) <= amount``: whatever
    started before it has more than ``amount`` of working time behind it at ``end``, whatever
    started at or after it has not. One walk back from ``end`` answers for every start, so a
    query can compare start times with it instead of counting each row's working hours."""
    left = amount
    day = end.astimezone(zone).date()
    while True:
        if day.weekday() < 5:
            opens = datetime.combine(day, WORKDAY_START, tzinfo=zone).astimezone(UTC)
            closes = min(datetime.combine(day, WORKDAY_END, tzinfo=zone).astimezone(UTC), end)
            if closes > opens:
                if left < closes - opens:
                    return closes - left
                left -= closes - opens  # spent exactly: the flat stretch before it is not over
        day -= timedelta(days=1)


def first_response_overdue(assigned_at: datetime, now: datetime, zone: ZoneInfo) -> bool:
    """More than FIRST_RESPONSE_SLA of working time between the assignment and ``now``.

    Work bounded whatever the age: nothing before the due moment is overdue; past it, the
    working time is counted up to four days after it at most (a weekday's hours always fall
    in between, so the answer is the same as counting up to ``now``)."""
    due = add_working_time(assigned_at, FIRST_RESPONSE_SLA, zone)
    if now <= due:
        return False
    counted_until = min(now, due + timedelta(days=4))
    return working_time(assigned_at, counted_until, zone) > FIRST_RESPONSE_SLA


def awaiting_first_action() -> ColumnElement[bool]:
    """Assigned and nobody on the staff has acted on it yet (routing and escalation notes
    are the system's, not an action): no staff entry on its timeline, which its
    first_response_at tells (workflow.keep_facts sets it with the first). So it is read from
    the partial index of exactly these requests (ix_booking_requests_awaiting) instead of
    probing each one's timeline: 6 ms of a dashboard view at a million requests."""
    return and_(
        BookingRequest.status == Status.ASSIGNED,
        BookingRequest.first_response_at.is_(None),
        BookingRequest.assigned_staff_id.is_not(None),
        BookingRequest.assigned_at.is_not(None),
    )


# Any 7 days of the clock hold five weekdays of working hours (32 h at the very least, a
# clock change included), far more than FIRST_RESPONSE_SLA and a weekday's hours past its
# due time: a request assigned that long ago and still awaiting its first action is overdue
# by first_response_overdue without counting (tests/test_dashboard.py checks the two agree).
SURELY_OVERDUE = timedelta(days=7)


def surely_overdue(now: datetime) -> ColumnElement[bool]:
    """The breaches SQL can tell alone: awaiting a first action, assigned SURELY_OVERDUE ago."""
    return and_(awaiting_first_action(), BookingRequest.assigned_at <= now - SURELY_OVERDUE)


def recent_first_response_breaches(session: AnySession, now: datetime) -> set[int]:
    """The breaches among requests assigned within SURELY_OVERDUE, by the exact rule: a
    request breaches when assigned before its assignee's zone's working_time_cutoff at
    ``now``, one instant per zone, so SQL picks them alone and the cost follows the last
    week's assignments, not the years of requests behind them. (Counting each candidate's
    working hours in Python cost ~8 ms a page for the ~800 of a week at a million.)"""
    desks: dict[str, list[int]] = {}
    zones: dict[str, ZoneInfo] = {}
    for staff_id, name in session.execute(select(StaffMember.id, StaffMember.timezone)):
        zone = staff_zone(name)
        zones[zone.key] = zone
        desks.setdefault(zone.key, []).append(staff_id)
    if not desks:
        return set()
    breached = or_(
        *(
            and_(
                BookingRequest.assigned_staff_id.in_(ids),
                BookingRequest.assigned_at
                < working_time_cutoff(now, FIRST_RESPONSE_SLA, zones[key]),
            )
            for key, ids in sorted(desks.items())
        )
    )
    return set(
        session.scalars(
            select(BookingRequest.id).where(
                awaiting_first_action(),
                BookingRequest.assigned_at > now - SURELY_OVERDUE,
                breached,
            )
        )
    )


def overdue_condition(now: datetime, recent: Iterable[int]) -> ColumnElement[bool]:
    """ "Overdue" at ``now`` as SQL: surely_overdue, or one of ``recent`` (the ids
    recent_first_response_breaches found at the same ``now``). The escalation and the
    dashboard's Overdue queue both select with it."""
    return or_(surely_overdue(now), BookingRequest.id.in_(sorted(recent)))


def first_response_breaches(session: AnySession, now: datetime | None = None) -> set[int]:
    """The one definition of "overdue": requests still waiting for their assignee's first
    action after FIRST_RESPONSE_SLA of the assignee's working hours (their own zone), by
    request id. Used by the escalation; the dashboard's Overdue queue selects with the same
    overdue_condition (its recent breaches computed once per page).

    Working hours are not SQL arithmetic, so SQL only narrows the candidates: any breach
    was assigned at least FIRST_RESPONSE_SLA of wall-clock time ago (working time never
    runs faster than the clock), and any assigned SURELY_OVERDUE ago is one; the exact rule
    is applied here to those in between.
    """
    now = now or utcnow()
    recent = recent_first_response_breaches(session, now)
    return set(session.scalars(select(BookingRequest.id).where(overdue_condition(now, recent))))


def staff_zone(name: str) -> ZoneInfo:
    """A staff member's zone; UTC if the stored name is not one this system knows."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def escalate_slow_first_responses(session: AnySession, now: datetime | None = None) -> int:
    """Requests still waiting for their assignee's first action after the SLA's working
    hours (in the assignee's zone) are escalated to the admins, once."""
    now = now or utcnow()
    breaches = first_response_breaches(session, now)
    waiting = session.scalars(
        select(BookingRequest)
        .where(BookingRequest.id.in_(breaches))
        .options(joinedload(BookingRequest.assigned_staff))
        .order_by(BookingRequest.id)
    ).all()
    admins = session.scalars(
        select(StaffMember).where(StaffMember.role == Role.ADMIN, StaffMember.is_active)
    ).all()
    escalated = 0
    for booking in waiting:
        staff = booking.assigned_staff
        if staff is None or booking.assigned_at is None:
            continue
        recorded = [
            queue_mail(session, booking, "sla_breach", staff_member(a), sequence=0) is not None
            for a in admins
        ]
        if any(recorded):
            note_breach(session, booking, staff, now)
            escalated += 1
    session.commit()
    return escalated


def note_breach(
    session: AnySession, booking: BookingRequest, staff: StaffMember, now: datetime
) -> None:
    """The timeline's record of an escalation: how many working hours went by unanswered."""
    assert booking.assigned_at is not None
    elapsed = working_time(booking.assigned_at, now, staff_zone(staff.timezone))
    note(
        session,
        booking,
        actor=SYSTEM,
        action=SLA_BREACHED,
        details={
            "reason": f"no first response after {elapsed} working hours",
            "assignee": staff.name,
        },
        now=now,
    )
