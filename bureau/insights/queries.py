"""The figures of the insights page, each from a few SQL aggregates (never a loop over requests).

Every figure but revenue is about a *cohort*: the requests submitted (``created_at``) within
the period, optionally only those now assigned to one staff member. Revenue is about the
contracts recorded within the period (same staff filter, on their request's assignee). Days,
weeks (Monday to Sunday) and months are UTC. Definitions are in docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, and_, case, cast, desc, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from bureau.bookings.models import (
    RATINGS,
    BookingEvent,
    BookingRequest,
    Contract,
    OrganizerFeedback,
    RequestedSpeaker,
)
from bureau.bookings.states import Status
from bureau.calendar.models import Engagement
from bureau.catalogue.models import Speaker, Topic, speaker_topics
from bureau.db import AnySession

S = Status
# The funnel's stages, each reached when the request ever entered one of its states. Later
# states count for earlier stages: an organizer's offer straight after assignment has passed
# the shortlist stage too, so the funnel only ever narrows.
FUNNEL: list[tuple[str, frozenset[Status]]] = [
    ("New", frozenset(S)),
    (
        "Shortlisted",
        frozenset(
            {
                S.SHORTLISTED,
                S.OFFER_RECEIVED,
                S.AWAITING_SPEAKER,
                S.SPEAKER_DECLINED,
                S.SPEAKER_ACCEPTED,
                S.CONTRACTED,
                S.CONFIRMED,
                S.COMPLETED,
            }
        ),
    ),
    (
        "Offer",
        frozenset(
            {
                S.OFFER_RECEIVED,
                S.AWAITING_SPEAKER,
                S.SPEAKER_DECLINED,
                S.SPEAKER_ACCEPTED,
                S.CONTRACTED,
                S.CONFIRMED,
                S.COMPLETED,
            }
        ),
    ),
    ("Confirmed", frozenset({S.CONFIRMED, S.COMPLETED})),
    ("Completed", frozenset({S.COMPLETED})),
]
# A state's rank is the furthest funnel stage it belongs to.
_RANK = {
    status.value: max(i for i, (_, states) in enumerate(FUNNEL) if status in states) for status in S
}
# Contracts of these requests count as revenue; a cancelled, withdrawn, declined or expired
# booking earns nothing.
EARNING = (S.CONTRACTED.value, S.CONFIRMED.value, S.COMPLETED.value)
SLA_ACTION = "SLA breached"  # the timeline entry bureau/calendar/reminders.py writes
TOP = 10
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Scope:
    """Which requests the figures are about: submitted in [start, end] (UTC dates, inclusive),
    and, when ``staff_id`` is set, now assigned to that staff member."""

    start: date
    end: date
    staff_id: int | None = None

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, datetime.min.time(), tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


# --- dialect helpers: the only SQL that differs between SQLite and PostgreSQL


def _dialect(session: AnySession) -> str:
    return session.get_bind().dialect.name


def day_text(session: AnySession, column: Any, unit: str) -> ColumnElement[str]:
    """The UTC week ('YYYY-MM-DD' of its Monday) or month ('YYYY-MM') of an instant, as text."""
    if _dialect(session) == "postgresql":
        utc = func.timezone("UTC", column)
        if unit == "week":
            return func.to_char(func.date_trunc("week", utc), "YYYY-MM-DD")
        return func.to_char(utc, "YYYY-MM")
    # SQLite keeps the UTC wall time as text; 'weekday 0' moves to Sunday, 6 days back is Monday.
    if unit == "week":
        return func.date(column, "weekday 0", "-6 days")
    return func.strftime("%Y-%m", column)


def seconds_between(session: AnySession, later: Any, earlier: Any) -> ColumnElement[Any]:
    if _dialect(session) == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400


# --- scope


def _conditions(scope: Scope) -> list[ColumnElement[bool]]:
    conditions = [
        BookingRequest.created_at >= scope.since,
        BookingRequest.created_at < scope.until,
    ]
    if scope.staff_id is not None:
        conditions.append(BookingRequest.assigned_staff_id == scope.staff_id)
    return conditions


def _in_scope(scope: Scope) -> Any:
    return select(BookingRequest.id).where(*_conditions(scope))


# --- requests per week by status


def weeks_of(scope: Scope) -> list[date]:
    first = scope.start - timedelta(days=scope.start.weekday())
    return [first + timedelta(weeks=i) for i in range((scope.end - first).days // 7 + 1)]


def weekly_by_status(session: AnySession, scope: Scope) -> dict[date, dict[str, int]]:
    """Requests submitted each week (by its Monday), by their current status; every week of
    the period is present, empty weeks as {}."""
    week = day_text(session, BookingRequest.created_at, "week").label("week")
    rows = session.execute(
        select(week, BookingRequest.status, func.count())
        .where(*_conditions(scope))
        .group_by(week, BookingRequest.status)
    ).all()
    weeks: dict[date, dict[str, int]] = {monday: {} for monday in weeks_of(scope)}
    for monday, status, count in rows:
        weeks.setdefault(date.fromisoformat(monday), {})[status] = count
    return weeks


# --- the funnel, response times and SLA breaches: one pass over the cohort's timeline


def _rank(column: Any) -> ColumnElement[int]:
    return case(_RANK, value=column, else_=0)


def _per_request(session: AnySession, scope: Scope) -> Any:
    """One row per request of the cohort: its furthest funnel stage (from its timeline and its
    current status), seconds to its first staff action and to its first confirmation, and
    whether it breached the SLA. One join of the cohort with its timeline, grouped."""
    created = BookingRequest.created_at
    staff_after_submission = and_(BookingEvent.actor_kind == "staff", BookingEvent.at >= created)
    responded_at = func.min(case((staff_after_submission, BookingEvent.at)))
    confirmed_at = func.min(case((BookingEvent.to_status == S.CONFIRMED.value, BookingEvent.at)))
    return (
        select(
            _rank(BookingRequest.status).label("status_rank"),
            func.coalesce(func.max(_rank(BookingEvent.to_status)), 0).label("event_rank"),
            seconds_between(session, responded_at, created).label("to_response"),
            seconds_between(session, confirmed_at, created).label("to_confirmation"),
            func.coalesce(func.max(case((BookingEvent.action == SLA_ACTION, 1), else_=0)), 0).label(
                "breached"
            ),
        )
        .outerjoin(BookingEvent, BookingEvent.booking_id == BookingRequest.id)
        .where(*_conditions(scope))
        .group_by(BookingRequest.id, BookingRequest.created_at, BookingRequest.status)
        .subquery("per_request")
    )


@dataclass
class Flow:
    funnel: list[tuple[str, int]]
    breaches: int
    responded: int
    confirmed: int
    median_response: timedelta | None
    median_confirmation: timedelta | None

    @property
    def requests(self) -> int:
        return self.funnel[0][1]


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _seconds(value: Any) -> timedelta | None:
    return None if value is None else timedelta(seconds=round(float(value)))


def _medians(session: AnySession, per: Any) -> tuple[Any, list[Any]]:
    """The rows to aggregate and the medians of seconds to response and to confirmation.

    PostgreSQL has the ordered-set aggregate ``percentile_cont``. SQLite has none: each value
    is numbered among the non-null ones (window functions), and the median is the mean of the
    middle one or two.
    """
    columns = (per.c.to_response, per.c.to_confirmation)
    if _dialect(session) == "postgresql":
        return per, [func.percentile_cont(0.5).within_group(c) for c in columns]
    numbered = select(
        per,
        *(
            func.row_number().over(partition_by=c.is_(None), order_by=c).label(f"{c.name}_pos")
            for c in columns
        ),
        *(func.count(c).over().label(f"{c.name}_n") for c in columns),
    ).subquery("numbered")
    medians = []
    for c in columns:
        value, position, n = (numbered.c[c.name + suffix] for suffix in ("", "_pos", "_n"))
        middle = or_(position == (n + 1) // 2, position == (n + 2) // 2)
        medians.append(func.avg(case((middle, value))))
    return numbered, medians


def flow(session: AnySession, scope: Scope) -> Flow:
    """The funnel, breaches and both medians in one query over the cohort's timeline."""
    rows, (median_response, median_confirmation) = _medians(session, _per_request(session, scope))
    n = rows.c
    reached = [
        _count(or_(n.status_rank >= i, n.event_rank >= i)).label(f"stage{i}")
        for i in range(len(FUNNEL))
    ]
    row = session.execute(
        select(
            *reached,
            _count(n.breached == 1).label("breaches"),
            func.count(n.to_response).label("responded"),
            func.count(n.to_confirmation).label("confirmed"),
            median_response.label("median_response"),
            median_confirmation.label("median_confirmation"),
        )
    ).one()
    counts = row._mapping
    return Flow(
        funnel=[(name, int(counts[f"stage{i}"])) for i, (name, _) in enumerate(FUNNEL)],
        breaches=int(counts["breaches"]),
        responded=int(counts["responded"]),
        confirmed=int(counts["confirmed"]),
        median_response=_seconds(counts["median_response"]),
        median_confirmation=_seconds(counts["median_confirmation"]),
    )


# --- busiest speakers and topics


@dataclass(frozen=True)
class SpeakerCount:
    name: str
    slug: str
    requested: int
    booked: int


def busiest_speakers(session: AnySession, scope: Scope, top: int = TOP) -> list[SpeakerCount]:
    """Speakers by the cohort's requests naming them, then by engagements (not cancelled)."""
    cohort = _in_scope(scope)
    requested = (
        select(RequestedSpeaker.speaker_id, func.count().label("n"))
        .where(RequestedSpeaker.booking_id.in_(cohort))
        .group_by(RequestedSpeaker.speaker_id)
        .subquery()
    )
    booked = (
        select(Engagement.speaker_id, func.count().label("n"))
        .where(Engagement.booking_id.in_(cohort), ~Engagement.is_cancelled)
        .group_by(Engagement.speaker_id)
        .subquery()
    )
    n_requested = func.coalesce(requested.c.n, 0)
    n_booked = func.coalesce(booked.c.n, 0)
    rows = session.execute(
        select(Speaker.name, Speaker.slug, n_requested, n_booked)
        .outerjoin(requested, requested.c.speaker_id == Speaker.id)
        .outerjoin(booked, booked.c.speaker_id == Speaker.id)
        .where(or_(requested.c.n.is_not(None), booked.c.n.is_not(None)))
        .order_by(desc(n_requested), desc(n_booked), Speaker.name)
        .limit(top)
    ).all()
    return [SpeakerCount(*row) for row in rows]


def busiest_topics(session: AnySession, scope: Scope, top: int = TOP) -> list[tuple[str, int]]:
    """Topics by the cohort's requests naming at least one speaker on that topic."""
    n = func.count(RequestedSpeaker.booking_id.distinct())
    rows = session.execute(
        select(Topic.name, n)
        .join(speaker_topics, speaker_topics.c.topic_id == Topic.id)
        .join(RequestedSpeaker, RequestedSpeaker.speaker_id == speaker_topics.c.speaker_id)
        .where(RequestedSpeaker.booking_id.in_(_in_scope(scope)))
        .group_by(Topic.id, Topic.name)
        .order_by(desc(n), Topic.name)
        .limit(top)
    ).all()
    return [(name, count) for name, count in rows]


# --- revenue and commission


@dataclass
class Money:
    contracts: int = 0
    revenue: int = 0
    commission: Decimal = field(default_factory=Decimal)


def months_of(scope: Scope) -> list[str]:
    months, year, month = [], scope.start.year, scope.start.month
    while (year, month) <= (scope.end.year, scope.end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def revenue_by_month(session: AnySession, scope: Scope) -> dict[str, dict[str, Money]]:
    """{currency: {'YYYY-MM': Money}} for contracts recorded in the period whose request is
    contracted, confirmed or completed. Currencies are never added together. Commission is
    fee * commission % to the cent (summed exactly as integers of 1/10,000)."""
    month = day_text(session, Contract.created_at, "month").label("month")
    # commission_pct has two decimals, so fee * pct * 100 is a whole number on every backend.
    pct_hundredths = cast(func.round(Contract.commission_pct * 100), Integer)
    conditions = [
        Contract.created_at >= scope.since,
        Contract.created_at < scope.until,
        BookingRequest.status.in_(EARNING),
    ]
    if scope.staff_id is not None:
        conditions.append(BookingRequest.assigned_staff_id == scope.staff_id)
    rows = session.execute(
        select(
            Contract.currency,
            month,
            func.count(),
            func.sum(Contract.fee),
            func.sum(Contract.fee * pct_hundredths),
        )
        .join(BookingRequest, BookingRequest.id == Contract.booking_id)
        .where(*conditions)
        .group_by(Contract.currency, month)
    ).all()
    result: dict[str, dict[str, Money]] = {}
    for currency, key, contracts, revenue, commission in sorted(rows):
        series = result.setdefault(currency, {m: Money() for m in months_of(scope)})
        series[key] = Money(
            int(contracts), int(revenue), (Decimal(int(commission)) / 10_000).quantize(CENT)
        )
    return result


# --- organizers' feedback

RECENT_COMMENTS = 10


@dataclass(frozen=True)
class Comment:
    booking_id: int
    reference: str
    event_name: str
    rating: int
    comments: str
    at: datetime


@dataclass
class Ratings:
    """The organizers' ratings given in the period: how many of each (1 to 5), and the
    latest comments."""

    counts: dict[int, int]
    recent: list[Comment]

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    @property
    def average(self) -> Decimal | None:
        if not self.count:
            return None
        total = sum(rating * n for rating, n in self.counts.items())
        return (Decimal(total) / self.count).quantize(Decimal("0.1"))


def ratings(session: AnySession, scope: Scope, recent: int = RECENT_COMMENTS) -> Ratings:
    """Feedback by when it was given (like revenue, not by the request's submission), for
    the requests in the staff filter; erased comments are not shown."""
    conditions = [
        OrganizerFeedback.created_at >= scope.since,
        OrganizerFeedback.created_at < scope.until,
    ]
    if scope.staff_id is not None:
        conditions.append(BookingRequest.assigned_staff_id == scope.staff_id)
    joined = select(OrganizerFeedback.rating, func.count()).join(
        BookingRequest, BookingRequest.id == OrganizerFeedback.booking_id
    )
    counts = dict.fromkeys(RATINGS, 0)
    for rating, n in session.execute(joined.where(*conditions).group_by(OrganizerFeedback.rating)):
        counts[rating] = n
    rows = session.execute(
        select(
            BookingRequest.id,
            BookingRequest.reference,
            BookingRequest.event_name,
            OrganizerFeedback.rating,
            OrganizerFeedback.comments,
            OrganizerFeedback.created_at,
        )
        .join(BookingRequest, BookingRequest.id == OrganizerFeedback.booking_id)
        .where(
            *conditions,
            OrganizerFeedback.comments.is_not(None),
            BookingRequest.erased_at.is_(None),
        )
        .order_by(desc(OrganizerFeedback.created_at), desc(OrganizerFeedback.id))
        .limit(recent)
    ).all()
    return Ratings(
        counts, [Comment(i, ref, name, r, text or "", at) for i, ref, name, r, text, at in rows]
    )


@dataclass
class Insights:
    scope: Scope
    weekly: dict[date, dict[str, int]]
    flow: Flow
    speakers: list[SpeakerCount]
    topics: list[tuple[str, int]]
    revenue: dict[str, dict[str, Money]]
    ratings: Ratings


def insights(session: AnySession, scope: Scope) -> Insights:
    return Insights(
        scope=scope,
        weekly=weekly_by_status(session, scope),
        flow=flow(session, scope),
        speakers=busiest_speakers(session, scope),
        topics=busiest_topics(session, scope),
        revenue=revenue_by_month(session, scope),
        ratings=ratings(session, scope),
    )
