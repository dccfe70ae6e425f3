"""How the cohort's requests moved: the funnel, response and confirmation times, SLA breaches.

All of them come from one pass over the cohort's timeline (one join, grouped by request, then
aggregated), never a loop over requests. Definitions are in docs/topics/insights.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.states import Status
from bureau.db import AnySession
from bureau.insights.dialect import medians, seconds_between
from bureau.insights.scope import Scope, cohort

S = Status
# The funnel's stages, each reached when the request ever entered one of its states. Later
# states count for earlier stages: an organizer's offer straight after assignment has passed
# the shortlist stage too, so the funnel only ever narrows.
_CONFIRMED = frozenset({S.CONFIRMED, S.COMPLETED})
_OFFER = _CONFIRMED | {
    S.OFFER_RECEIVED,
    S.AWAITING_SPEAKER,
    S.SPEAKER_DECLINED,
    S.SPEAKER_ACCEPTED,
    S.CONTRACTED,
}
FUNNEL: list[tuple[str, frozenset[Status]]] = [
    ("New", frozenset(S)),
    ("Shortlisted", _OFFER | {S.SHORTLISTED}),
    ("Offer", _OFFER),
    ("Confirmed", _CONFIRMED),
    ("Completed", frozenset({S.COMPLETED})),
]
# A state's rank is the furthest funnel stage it belongs to.
_RANK = {
    status.value: max(i for i, (_, states) in enumerate(FUNNEL) if status in states) for status in S
}
SLA_ACTION = "SLA breached"  # the timeline entry bureau/calendar/reminders.py writes


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
        .where(*cohort(scope))
        .group_by(BookingRequest.id, BookingRequest.created_at, BookingRequest.status)
        .subquery("per_request")
    )


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _seconds(value: Any) -> timedelta | None:
    return None if value is None else timedelta(seconds=round(float(value)))


def flow(session: AnySession, scope: Scope) -> Flow:
    """The funnel, breaches and both medians in one query over the cohort's timeline."""
    per = _per_request(session, scope)
    rows, (median_response, median_confirmation) = medians(
        session, per, per.c.to_response, per.c.to_confirmation
    )
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
