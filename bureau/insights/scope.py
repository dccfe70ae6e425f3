"""Which rows a figure is about: a period of whole UTC days and, optionally, one staff member.

Every figure but revenue and feedback is about a *cohort*, the requests submitted within the
period; revenue and feedback count what was recorded or given within it. The staff filter is
always on the request's current assignee. Definitions are in docs/topics/insights.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.sql.elements import ColumnElement

from bureau.bookings.models import BookingRequest


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


def assigned(scope: Scope) -> list[ColumnElement[bool]]:
    """The staff filter alone: requests now assigned to the chosen person (if any)."""
    if scope.staff_id is None:
        return []
    return [BookingRequest.assigned_staff_id == scope.staff_id]


def within(scope: Scope, instant: Any) -> list[ColumnElement[bool]]:
    """Rows whose ``instant`` falls in the period, of requests in the staff filter (the query
    must have ``BookingRequest`` among its tables)."""
    return [instant >= scope.since, instant < scope.until, *assigned(scope)]


def on_days(scope: Scope, day: Any) -> list[ColumnElement[bool]]:
    """Rows whose calendar ``day`` (a date column: an invoice's, a payment's) falls in the
    period, of requests in the staff filter."""
    return [day >= scope.start, day <= scope.end, *assigned(scope)]


def cohort(scope: Scope) -> list[ColumnElement[bool]]:
    """The requests submitted in the period (and in the staff filter)."""
    return within(scope, BookingRequest.created_at)


def cohort_ids(scope: Scope) -> Any:
    return select(BookingRequest.id).where(*cohort(scope))


def weeks_of(scope: Scope) -> list[date]:
    first = scope.start - timedelta(days=scope.start.weekday())
    return [first + timedelta(weeks=i) for i in range((scope.end - first).days // 7 + 1)]


# The offered periods: key -> weeks back including this one (0 means since 1 January). The
# page names them (views.PRESETS); beat refreshes their snapshots (snapshot.py).
PRESET_WEEKS: dict[str, int] = {"4w": 4, "12w": 12, "26w": 26, "52w": 52, "ytd": 0}


def preset_period(key: str, today: date) -> tuple[date, date]:
    weeks = PRESET_WEEKS[key]
    if weeks == 0:
        return date(today.year, 1, 1), today
    this_monday = today - timedelta(days=today.weekday())
    return this_monday - timedelta(weeks=weeks - 1), today


def months_of(scope: Scope) -> list[str]:
    months, year, month = [], scope.start.year, scope.start.month
    while (year, month) <= (scope.end.year, scope.end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
