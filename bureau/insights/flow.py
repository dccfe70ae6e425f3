"""How the cohort's requests moved: the funnel, response and confirmation times, SLA breaches.

All of them come from one pass over the cohort's requests alone: each request keeps the facts
of its timeline (``BookingRequest.funnel_stage``, ``first_response_at``, ``first_confirmed_at``,
``sla_breached``, kept by bookings.workflow.note()), so the timeline is not read. Definitions
are in docs/topics/insights.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.sql.elements import ColumnElement

from bureau.bookings.models import BookingRequest
from bureau.bookings.states import FUNNEL
from bureau.db import AnySession
from bureau.insights.dialect import medians, seconds_between
from bureau.insights.scope import Scope, cohort

__all__ = ["FUNNEL", "Flow", "flow"]


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


def _per_request(session: AnySession, scope: Scope) -> Any:
    """One row per request of the cohort: its furthest funnel stage, seconds to its first
    staff action and to its first confirmation, and whether it breached the SLA."""
    r = BookingRequest
    return (
        select(
            r.funnel_stage.label("stage"),
            seconds_between(session, r.first_response_at, r.created_at).label("to_response"),
            seconds_between(session, r.first_confirmed_at, r.created_at).label("to_confirmation"),
            r.sla_breached.label("breached"),
        )
        .where(*cohort(scope))
        .subquery("per_request")
    )


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _seconds(value: Any) -> timedelta | None:
    return None if value is None else timedelta(seconds=round(float(value)))


def flow(session: AnySession, scope: Scope) -> Flow:
    """The funnel, breaches and both medians in one query over the cohort's requests."""
    per = _per_request(session, scope)
    rows, (median_response, median_confirmation) = medians(
        session, per, per.c.to_response, per.c.to_confirmation
    )
    n = rows.c
    reached = [_count(n.stage >= i).label(f"stage{i}") for i in range(len(FUNNEL))]
    row = session.execute(
        select(
            *reached,
            _count(n.breached).label("breaches"),
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
