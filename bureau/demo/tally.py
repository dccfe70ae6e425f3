"""The demo history's own tally: what it created, counted from its rows in Python,
independently of the insights queries (which must give exactly these figures)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.states import Status
from bureau.calendar.models import Engagement
from bureau.db import AnySession

S = Status
CENT = Decimal("0.01")
# Funnel stages as the insights page names them, each reached when the request ever entered
# one of the given states (the shortlist always comes before an offer in this history).
STAGES = [
    ("New", None),
    ("Shortlisted", S.SHORTLISTED),
    ("Offer", S.OFFER_RECEIVED),
    ("Confirmed", S.CONFIRMED),
    ("Completed", S.COMPLETED),
]
EARNING = {S.CONTRACTED, S.CONFIRMED, S.COMPLETED}


@dataclass
class MonthMoney:
    contracts: int = 0
    revenue: int = 0
    commission: Decimal = field(default_factory=Decimal)


@dataclass
class HistorySummary:
    created: int = 0
    first_day: date | None = None
    weekly: dict[date, dict[str, int]] = field(default_factory=dict)  # Monday -> status -> n
    statuses: dict[str, int] = field(default_factory=dict)
    funnel: list[tuple[str, int]] = field(default_factory=list)
    breaches: int = 0
    responded: int = 0
    confirmed: int = 0
    median_response: timedelta | None = None
    median_confirmation: timedelta | None = None
    revenue: dict[str, dict[str, MonthMoney]] = field(default_factory=dict)  # currency, month
    speakers: list[tuple[str, int, int]] = field(default_factory=list)  # name, requested, booked

    def __str__(self) -> str:
        if not self.created:
            return "no requests added (the demo history is there already)"
        money = "; ".join(
            f"{currency} {sum(m.revenue for m in months.values()):,} "
            f"(commission {sum(m.commission for m in months.values()):,.2f})"
            for currency, months in sorted(self.revenue.items())
        )
        return (
            f"{self.created} requests since {self.first_day:%d %b %Y}, "
            f"{self.statuses.get('completed', 0)} completed, "
            f"{self.statuses.get('confirmed', 0)} confirmed, {self.breaches} SLA breaches; "
            f"contracts {money}"
        )


@dataclass
class _Timeline:
    visited: set[str] = field(default_factory=lambda: {S.NEW.value})
    breached: bool = False
    first_staff_act: datetime | None = None
    confirmed_at: datetime | None = None


def tally(
    session: AnySession,
    bookings: Sequence[BookingRequest],
    engagements: dict[int, Engagement],
    first_day: date,
) -> HistorySummary:
    """Count the history's ``bookings`` (with their ``engagements``, by booking id)."""
    summary = HistorySummary(created=len(bookings), first_day=first_day)
    timelines = _timelines(session, [b.id for b in bookings])
    responses: list[float] = []
    confirmations: list[float] = []
    requested: dict[str, int] = {}
    booked: dict[str, int] = {}
    for booking in bookings:
        status, created = booking.status, booking.created_at
        timeline = timelines[booking.id]
        monday = created.date() - timedelta(days=created.weekday())
        week = summary.weekly.setdefault(monday, {})
        week[status] = week.get(status, 0) + 1
        summary.statuses[status] = summary.statuses.get(status, 0) + 1
        summary.breaches += timeline.breached
        if timeline.first_staff_act is not None:
            responses.append((timeline.first_staff_act - created).total_seconds())
        if timeline.confirmed_at is not None:
            confirmations.append((timeline.confirmed_at - created).total_seconds())
        for r in booking.requested:
            requested[r.speaker.name] = requested.get(r.speaker.name, 0) + 1
        engagement = engagements.get(booking.id)
        if engagement is not None and not engagement.is_cancelled:
            name = booking.offers[-1].speaker.name
            booked[name] = booked.get(name, 0) + 1
        contract = booking.contract
        if contract is not None and status in EARNING:
            month = f"{contract.created_at:%Y-%m}"
            money = summary.revenue.setdefault(contract.currency, {}).setdefault(
                month, MonthMoney()
            )
            money.contracts += 1
            money.revenue += contract.fee
            money.commission += contract.fee * contract.commission_pct / 100
    for months in summary.revenue.values():
        for money in months.values():
            money.commission = money.commission.quantize(CENT)
    summary.funnel = [
        (name, sum(1 for t in timelines.values() if state is None or state in t.visited))
        for name, state in STAGES
    ]
    summary.responded, summary.confirmed = len(responses), len(confirmations)
    summary.median_response = _median(responses)
    summary.median_confirmation = _median(confirmations)
    names = set(requested) | set(booked)
    summary.speakers = sorted(
        ((n, requested.get(n, 0), booked.get(n, 0)) for n in names),
        key=lambda row: (-row[1], -row[2], row[0]),
    )[:10]
    return summary


def _timelines(session: AnySession, booking_ids: list[int]) -> dict[int, _Timeline]:
    """What each timeline says, from its rows (one query, in time order)."""
    timelines = {booking_id: _Timeline() for booking_id in booking_ids}
    rows = session.execute(
        select(BookingEvent.booking_id, BookingEvent.at, BookingEvent.actor_kind)
        .add_columns(BookingEvent.action, BookingEvent.to_status)
        .where(BookingEvent.booking_id.in_(booking_ids))
        .order_by(BookingEvent.at)
    )
    for booking_id, at, actor_kind, action, to_status in rows:
        timeline = timelines[booking_id]
        if to_status is not None:
            timeline.visited.add(to_status)
        timeline.breached |= action == "SLA breached"
        if actor_kind == "staff" and timeline.first_staff_act is None:
            timeline.first_staff_act = at
        if to_status == S.CONFIRMED and timeline.confirmed_at is None:
            timeline.confirmed_at = at
    return timelines


def _median(values: list[float]) -> timedelta | None:
    return timedelta(seconds=round(statistics.median(values))) if values else None
