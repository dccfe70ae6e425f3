"""Dashboard queries: queues with their counts, filters, search, sorting, pagination.

A page costs a constant number of queries whatever its size: two for the requests past the
first-response SLA (the Overdue queue: the desks' time zones, the week's breaches), one for
all queue counts (each bounded), one count and one select for the page, and one per eagerly
loaded collection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from bureau.bookings.models import BookingRequest, RequestedSpeaker
from bureau.bookings.states import CLOSED_STATES, OPEN_STATES, Status
from bureau.calendar.reminders import (
    FIRST_RESPONSE_SLA,
    WORKDAY_END,
    WORKDAY_START,
    overdue_condition,
    recent_first_response_breaches,
    surely_overdue,
)
from bureau.catalogue.models import Speaker
from bureau.db import AnySession, utcnow
from bureau.params import BadParam, parse_day, row_id

QUEUES = {
    "mine": _l("Mine"),
    "unassigned": _l("Unassigned"),
    "open": _l("All open"),
    "overdue": _l("Overdue"),
    "soon": _l("Event soon"),
    "closed": _l("Closed"),
}
SORTS: dict[str, tuple[Any, ...]] = {
    "newest": (BookingRequest.created_at.desc(), BookingRequest.id.desc()),
    "oldest": (BookingRequest.created_at.asc(), BookingRequest.id.asc()),
    "event": (BookingRequest.starts_at.asc(), BookingRequest.id.asc()),
    "status": (BookingRequest.status.asc(), BookingRequest.created_at.desc()),
    "reference": (BookingRequest.reference.asc(),),
}
# The date filters' names, as their errors say them.
FILTER_NAMES = {"starts_from": _l("starts from"), "starts_until": _l("starts until")}
# The orders in words (in English, the keys themselves).
SORT_LABELS = {
    "newest": _l("newest"),
    "oldest": _l("oldest"),
    "event": _l("event"),
    "status": _l("status"),
    "reference": _l("reference"),
}
_OPEN = [s.value for s in OPEN_STATES]
_CLOSED = [s.value for s in CLOSED_STATES]
CLOSED_COUNT_CAP = 1000  # a queue's badge counts this far, then shows "1,000+"
EVENT_SOON = timedelta(days=14)
# What each queue holds, said under the tabs.
QUEUE_HINTS = {
    "mine": _l("Open requests assigned to you."),
    "unassigned": _l("Open requests no one is assigned to."),
    "open": _l("Every open request."),
    "overdue": _l(
        "Assigned, and no first action after %(hours)s working hours of the assignee "
        "(Monday to Friday, %(start)s to %(end)s in their own time zone); the admins are "
        "emailed about each.",
        hours=FIRST_RESPONSE_SLA // timedelta(hours=1),
        start=WORKDAY_START.strftime("%H:%M"),
        end=WORKDAY_END.strftime("%H:%M"),
    ),
    "soon": _l(
        "Not confirmed, and the event is less than %(days)s days away or already past.",
        days=EVENT_SOON.days,
    ),
    "closed": _l("Completed, declined, withdrawn, cancelled or expired."),
}
# The clock the queues read: tests move it instead of waiting for a Monday.
clock: Callable[[], datetime] = utcnow


def default_queue(is_admin: bool) -> str:
    """Where the dashboard opens: an agent on their own requests; an admin, who oversees
    every desk and is told of SLA breaches by email, on all open requests."""
    return "open" if is_admin else "mine"


@dataclass(frozen=True)
class Scope:
    """Who is looking and when: what the queues are relative to. ``overdue`` holds the
    ids of the recent assignments the SLA rule finds breached now
    (reminders.recent_first_response_breaches; with the older ones they make
    reminders.overdue_condition at ``now``), computed once per page so the Overdue badge and
    the Overdue list agree."""

    staff_id: int
    now: datetime
    overdue: frozenset[int]

    @classmethod
    def of(cls, session: AnySession, staff_id: int, now: datetime | None = None) -> Scope:
        now = now or clock()
        return cls(staff_id, now, frozenset(recent_first_response_breaches(session, now)))


def queue_condition(queue: str, scope: Scope) -> Any:
    """The WHERE clause of a queue."""
    if queue == "mine":
        return and_(
            BookingRequest.assigned_staff_id == scope.staff_id, BookingRequest.status.in_(_OPEN)
        )
    if queue == "unassigned":
        return and_(BookingRequest.assigned_staff_id.is_(None), BookingRequest.status.in_(_OPEN))
    if queue == "closed":
        return BookingRequest.status.in_(_CLOSED)
    if queue == "overdue":
        # No first action within the assignee's working hours: the escalation's rule.
        return and_(
            BookingRequest.status.in_(_OPEN),
            overdue_condition(scope.now, scope.overdue),
        )
    if queue == "soon":
        # The event is within EVENT_SOON (or already past) and not confirmed yet.
        return and_(
            BookingRequest.status.in_(_OPEN),
            BookingRequest.status != Status.CONFIRMED,
            BookingRequest.starts_at < scope.now + EVENT_SOON,
        )
    return BookingRequest.status.in_(_OPEN)


def queue_counts(session: AnySession, scope: Scope) -> dict[str, int]:
    """Every queue's count, each stopping past CLOSED_COUNT_CAP (the badge then reads
    "1,000+"), all in one query of bounded counts. Counting years of closed requests on
    every dashboard view made it slower as the bureau grew; so did counting the open ones
    exactly once they ran to tens of thousands (at a million requests the one aggregate over
    the open requests took over half a second). A bounded count reads at most
    CLOSED_COUNT_CAP + 1 index entries per queue, whatever the size.

    Overdue is counted in its two disjoint parts: the recent breaches are known already
    (``scope.overdue``, all open), so SQL counts only the surely overdue. Counted as one
    condition (surely overdue OR one of the recent ids), PostgreSQL read every request
    awaiting a first action and each recent id before it could stop: 17-30 ms of the
    query's 17-36 ms at a million requests."""
    conditions = {q: queue_condition(q, scope) for q in QUEUES}
    conditions["overdue"] = and_(BookingRequest.status.in_(_OPEN), surely_overdue(scope.now))
    counts = [
        select(func.count())
        .select_from(
            select(BookingRequest.id)
            .where(conditions[q])
            .limit(CLOSED_COUNT_CAP + 1)
            .subquery(f"{q}_requests")
        )
        .scalar_subquery()
        .label(q)
        for q in QUEUES
    ]
    row = session.execute(select(*counts)).one()
    found = {q: int(row._mapping[q]) for q in QUEUES}
    found["overdue"] = min(found["overdue"] + len(scope.overdue), CLOSED_COUNT_CAP + 1)
    return found


@dataclass
class Filters:
    queue: str = "open"
    status: str = ""
    speaker: str = ""
    staff: int | None = None
    country: str = ""
    starts_from: date | None = None
    starts_until: date | None = None
    q: str = ""
    sort: str = "newest"
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: Any, default: str = "open") -> Filters:
        """The filters of a query string; without a known queue, ``default`` (default_queue)."""
        filters = cls(
            queue=args["queue"] if args.get("queue") in QUEUES else default,
            status=args.get("status", "")
            if args.get("status") in Status._value2member_map_
            else "",
            speaker=args.get("speaker", "")[:80],
            country=args.get("country", "")[:2].upper(),
            q=args.get("q", "").strip()[:100],
            sort=args.get("sort", "newest") if args.get("sort") in SORTS else "newest",
        )
        staff = args.get("staff", "")
        filters.staff = row_id(staff)
        if staff and filters.staff is None:
            filters.errors.append(_("staff: “%(value)s” is not a staff member.", value=staff[:40]))
        for name in ("starts_from", "starts_until"):
            raw = args.get(name, "")
            if raw:
                try:
                    setattr(filters, name, parse_day(raw))
                except BadParam as error:
                    field = FILTER_NAMES[name]
                    filters.errors.append(_("%(field)s: %(problem)s", field=field, problem=error))
        return filters

    @property
    def narrowed(self) -> bool:
        """Whether anything but the queue (and the order) limits the list."""
        return bool(
            self.status
            or self.speaker
            or self.staff is not None
            or self.country
            or self.starts_from
            or self.starts_until
            or self.q
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """The query string for links (pagination, sorting) keeping the other filters."""
        values = {
            "queue": self.queue,
            "status": self.status,
            "speaker": self.speaker,
            "staff": self.staff or "",
            "country": self.country,
            "starts_from": self.starts_from.isoformat() if self.starts_from else "",
            "starts_until": self.starts_until.isoformat() if self.starts_until else "",
            "q": self.q,
            "sort": self.sort,
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


def request_list(filters: Filters, scope: Scope) -> Select[Any]:
    stmt = select(BookingRequest).where(queue_condition(filters.queue, scope))
    if filters.status:
        stmt = stmt.where(BookingRequest.status == filters.status)
    if filters.speaker:
        stmt = stmt.where(
            BookingRequest.requested.any(
                RequestedSpeaker.speaker.has(Speaker.slug == filters.speaker)
            )
        )
    if filters.staff is not None:
        stmt = stmt.where(BookingRequest.assigned_staff_id == filters.staff)
    if filters.country:
        stmt = stmt.where(BookingRequest.country == filters.country)
    if filters.starts_from:
        stmt = stmt.where(
            BookingRequest.starts_local
            >= datetime.combine(filters.starts_from, datetime.min.time())
        )
    if filters.starts_until:
        stmt = stmt.where(
            BookingRequest.starts_local
            < datetime.combine(filters.starts_until + timedelta(days=1), datetime.min.time())
        )
    if filters.q:
        # autoescape, as the catalogue's search: % and _ are letters to look for, not wildcards.
        words = filters.q.lower()
        stmt = stmt.where(
            or_(
                *(
                    func.lower(column).contains(words, autoescape=True)
                    for column in (
                        BookingRequest.reference,
                        BookingRequest.organization,
                        BookingRequest.contact_name,
                        BookingRequest.contact_email,
                        BookingRequest.event_name,
                    )
                )
            )
        )
    return stmt.options(
        joinedload(BookingRequest.assigned_staff),
        selectinload(BookingRequest.requested),
    ).order_by(*SORTS[filters.sort])
