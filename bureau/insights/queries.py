"""The figures of the insights page, each from a few SQL aggregates (never a loop over requests).

This module is the entry: ``insights()`` gathers every figure. The period and staff filter are
in ``scope``, the funnel and timings in ``flow``, the SQL that differs by database in
``dialect``; definitions are in docs/topics/insights.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Integer, cast, desc, func, or_, select

from bureau.bookings.models import (
    RATINGS,
    BookingRequest,
    Contract,
    OrganizerFeedback,
    RequestedSpeaker,
)
from bureau.bookings.states import Status
from bureau.calendar.models import Engagement
from bureau.catalogue.models import Speaker, Topic, speaker_topics
from bureau.db import AnySession, utcnow
from bureau.insights.dialect import monday, monday_of, month_text
from bureau.insights.flow import Flow, flow
from bureau.insights.money_flow import Billing, billing
from bureau.insights.scope import Scope, cohort, cohort_ids, months_of, weeks_of, within

__all__ = [
    "Billing",
    "Comment",
    "Flow",
    "Insights",
    "Money",
    "Ratings",
    "Scope",
    "SpeakerCount",
    "busiest_speakers",
    "busiest_topics",
    "insights",
    "ratings",
    "revenue_by_month",
    "weekly_by_status",
]

# Contracts of these requests count as revenue; a cancelled, withdrawn, declined or expired
# booking earns nothing.
EARNING = (Status.CONTRACTED.value, Status.CONFIRMED.value, Status.COMPLETED.value)
TOP = 10
CENT = Decimal("0.01")


# --- requests per week by status


def weekly_by_status(session: AnySession, scope: Scope) -> dict[date, dict[str, int]]:
    """Requests submitted each week (by its Monday), by their current status; every week of
    the period is present, empty weeks as {}."""
    week = monday_of(session, BookingRequest.created_at).label("week")
    rows = session.execute(
        select(week, BookingRequest.status, func.count())
        .where(*cohort(scope))
        .group_by(week, BookingRequest.status)
    ).all()
    weeks: dict[date, dict[str, int]] = {first: {} for first in weeks_of(scope)}
    for first, status, count in rows:
        weeks.setdefault(monday(first), {})[status] = count
    return weeks


# --- busiest speakers and topics


@dataclass(frozen=True)
class SpeakerCount:
    name: str
    slug: str
    requested: int
    booked: int


def busiest_speakers(session: AnySession, scope: Scope, top: int = TOP) -> list[SpeakerCount]:
    """Speakers by the cohort's requests naming them, then by engagements (not cancelled)."""
    ids = cohort_ids(scope)
    requested = (
        select(RequestedSpeaker.speaker_id, func.count().label("n"))
        .where(RequestedSpeaker.booking_id.in_(ids))
        .group_by(RequestedSpeaker.speaker_id)
        .subquery()
    )
    booked = (
        select(Engagement.speaker_id, func.count().label("n"))
        .where(Engagement.booking_id.in_(ids), ~Engagement.is_cancelled)
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
        .where(RequestedSpeaker.booking_id.in_(cohort_ids(scope)))
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


def revenue_by_month(session: AnySession, scope: Scope) -> dict[str, dict[str, Money]]:
    """{currency: {'YYYY-MM': Money}} for contracts recorded in the period whose request is
    contracted, confirmed or completed. Currencies are never added together. Commission is
    fee * commission % to the cent (summed exactly as integers of 1/10,000)."""
    month = month_text(session, Contract.created_at).label("month")
    # commission_pct has two decimals, so fee * pct * 100 is a whole number on every backend.
    pct_hundredths = cast(func.round(Contract.commission_pct * 100), Integer)
    conditions = [*within(scope, Contract.created_at), BookingRequest.status.in_(EARNING)]
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
    conditions = within(scope, OrganizerFeedback.created_at)
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
    billing: Billing


def insights(session: AnySession, scope: Scope, today: date | None = None) -> Insights:
    """Every figure of the page; receivables are aged as of ``today`` (UTC, by default)."""
    return Insights(
        scope=scope,
        weekly=weekly_by_status(session, scope),
        flow=flow(session, scope),
        speakers=busiest_speakers(session, scope),
        topics=busiest_topics(session, scope),
        revenue=revenue_by_month(session, scope),
        ratings=ratings(session, scope),
        billing=billing(session, scope, today or utcnow().date()),
    )
