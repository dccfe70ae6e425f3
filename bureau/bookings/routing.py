"""Routing: which staff member handles a booking, by ordered rules, and why.

Rules are tried in order; a rule matches when every criterion it sets matches the booking
(a rule that sets none matches everything: the default pool). The first matching rule with
an eligible member in its pool wins. Eligible: active, not on leave, open workload below
capacity. Among those: least open workload, then the longest since their last assignment
(round-robin), then the lowest id. No eligible member anywhere: the booking stays
``unassigned`` and the admins are alerted — routing never guesses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Column, ForeignKey, String, Table, event, func, select, text
from sqlalchemy.orm import (
    Mapped,
    Session,
    SessionTransaction,
    mapped_column,
    relationship,
    selectinload,
)

from bureau.bookings.models import BookingRequest
from bureau.bookings.notifications import notify_routed
from bureau.bookings.states import OPEN_STATES, Status
from bureau.bookings.workflow import Actor, assign, note, transition
from bureau.db import AnySession, Base, utcnow
from bureau.staff.models import StaffMember

# Serialises routing decisions on PostgreSQL, so concurrent workers see each other's loads.
ROUTING_LOCK = 7_245_001

routing_rule_staff = Table(
    "routing_rule_staff",
    Base.metadata,
    Column("rule_id", ForeignKey("routing_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("staff_id", ForeignKey("staff_members.id", ondelete="CASCADE"), primary_key=True),
)


class RoutingRule(Base):
    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(String(120))
    is_active: Mapped[bool] = mapped_column(default=True)
    speakers: Mapped[list[str]] = mapped_column(JSON, default=list)  # speaker slugs
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)  # topic slugs
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO 3166 alpha-2
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)  # Europe, Asia, America…
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO 639-1
    budget_min: Mapped[int | None]
    budget_max: Mapped[int | None]

    pool: Mapped[list[StaffMember]] = relationship(
        secondary=routing_rule_staff, order_by="StaffMember.id"
    )

    def mismatch(self, facts: BookingFacts) -> str | None:
        """Why this rule does not match, or None when it does."""
        if self.speakers and not set(self.speakers) & set(facts.speakers):
            return "speaker"
        if self.topics and not set(self.topics) & set(facts.topics):
            return "topic"
        if self.countries and facts.country not in self.countries:
            return "country"
        if self.areas and facts.area not in self.areas:
            return "area"
        if self.languages and facts.language not in self.languages:
            return "language"
        if self.budget_min is not None or self.budget_max is not None:
            if facts.budget is None:
                return "budget"
            if self.budget_min is not None and facts.budget < self.budget_min:
                return "budget"
            if self.budget_max is not None and facts.budget > self.budget_max:
                return "budget"
        return None


@dataclass(frozen=True)
class BookingFacts:
    speakers: list[str]
    topics: list[str]
    country: str | None
    area: str
    language: str
    budget: int | None

    @classmethod
    def of(cls, booking: BookingRequest) -> BookingFacts:
        speakers = booking.speakers
        return cls(
            speakers=[s.slug for s in speakers],
            topics=sorted({t.slug for s in speakers for t in s.topics}),
            country=booking.country,
            area=booking.timezone.split("/", 1)[0],
            language=booking.language,
            budget=booking.budget_max if booking.budget_max is not None else booking.budget_min,
        )


@dataclass
class Decision:
    staff_id: int | None
    staff_name: str | None
    rule: str | None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    rules_tried: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reason(self) -> str:
        if self.staff_id is None:
            return "No eligible staff member in any matching pool."
        chosen = next(c for c in self.candidates if c["id"] == self.staff_id)
        return (
            f"Rule “{self.rule}”: {self.staff_name} has the fewest open requests "
            f"({chosen['load']} of {chosen['capacity']}) among {len(self.candidates)} eligible."
        )

    def as_details(self) -> dict[str, Any]:
        """The timeline entry's details: the fields, their lists' dicts copied (as
        dataclasses.asdict would, whose recursive deep copy was 2 % of a routing's CPU)."""
        return {
            "staff_id": self.staff_id,
            "staff_name": self.staff_name,
            "rule": self.rule,
            "candidates": [dict(c) for c in self.candidates],
            "skipped": [dict(s) for s in self.skipped],
            "rules_tried": [dict(r) for r in self.rules_tried],
            "reason": self.reason,
        }


def open_loads(
    session: AnySession, staff_ids: list[int], exclude_booking: int | None
) -> dict[int, int]:
    stmt = (
        select(BookingRequest.assigned_staff_id, func.count())
        .where(
            BookingRequest.assigned_staff_id.in_(staff_ids),
            BookingRequest.status.in_([s.value for s in OPEN_STATES]),
        )
        .group_by(BookingRequest.assigned_staff_id)
    )
    if exclude_booking is not None:
        stmt = stmt.where(BookingRequest.id != exclude_booking)
    return {staff_id: n for staff_id, n in session.execute(stmt) if staff_id is not None}


# The open workload of each of these members, not counting this booking.
Loads = Callable[[AnySession, list[int], BookingRequest], dict[int, int]]


def decide(session: AnySession, booking: BookingRequest, loads: Loads | None = None) -> Decision:
    """Choose a staff member for the booking by the rules; changes nothing."""
    facts = BookingFacts.of(booking)
    _forget_changed_rules(session)  # changed and not flushed yet
    rules = _once_per_transaction(session, _RULES_KEY, lambda: _active_rules(session))
    decision = Decision(staff_id=None, staff_name=None, rule=None)
    for rule in rules:
        why_not = rule.mismatch(facts)
        if why_not is not None:
            decision.rules_tried.append({"rule": rule.name, "matched": False, "why": why_not})
            continue
        pool_loads = (loads or _open_loads)(session, [s.id for s in rule.pool], booking)
        eligible: list[StaffMember] = []
        skipped: list[dict[str, Any]] = []
        for member in rule.pool:
            load = pool_loads.get(member.id, 0)
            reason = (
                "inactive"
                if not member.is_active
                else "on leave"
                if member.is_on_leave
                else "at capacity"
                if load >= member.capacity
                else None
            )
            if reason:
                skipped.append({"id": member.id, "name": member.name, "reason": reason})
            else:
                eligible.append(member)
        decision.rules_tried.append({"rule": rule.name, "matched": True, "eligible": len(eligible)})
        decision.skipped.extend(skipped)
        if not eligible:
            continue
        eligible.sort(key=lambda m: (pool_loads.get(m.id, 0), _since(m.last_assigned_at), m.id))
        chosen = eligible[0]
        decision.staff_id, decision.staff_name, decision.rule = chosen.id, chosen.name, rule.name
        decision.candidates = [
            {
                "id": m.id,
                "name": m.name,
                "load": pool_loads.get(m.id, 0),
                "capacity": m.capacity,
                "last_assigned_at": m.last_assigned_at.isoformat() if m.last_assigned_at else None,
            }
            for m in eligible
        ]
        break
    return decision


# A worker routes several requests in one transaction under a backlog (outbox TOGETHER):
# the routing lock and the rules with their pools are taken once for all of them.
_LOCKED_KEY = "bureau.routing_locked"
_RULES_KEY = "bureau.routing_rules"
_LOADS_KEY = "bureau.routing_loads"
T = TypeVar("T")


def _once_per_transaction(session: AnySession, key: str, make: Callable[[], T]) -> T:
    """``make()``, done once per transaction of the session (forgotten by _transaction_ended)."""
    if key not in session.info:
        session.info[key] = make()
    return cast(T, session.info[key])


# Any end: commit, rollback, close (and a savepoint's, which only costs a second look-up);
# not the inner transaction each flush opens and closes.
@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None or transaction.nested:
        session.info.pop(_LOCKED_KEY, None)
        session.info.pop(_RULES_KEY, None)
        session.info.pop(_LOADS_KEY, None)


@event.listens_for(Session, "before_flush")
def _forget_changed_rules(session: Session, *_: object) -> None:
    """Rules changed in this very transaction (an admin's, a test's) are read again."""
    if _RULES_KEY in session.info and any(
        isinstance(changed, RoutingRule)
        for changed in (*session.new, *session.dirty, *session.deleted)
    ):
        session.info.pop(_RULES_KEY, None)


def _lock(session: AnySession) -> bool:
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROUTING_LOCK})
    return True


def _active_rules(session: AnySession) -> list[RoutingRule]:
    return list(
        session.scalars(
            select(RoutingRule)
            .where(RoutingRule.is_active)
            .options(selectinload(RoutingRule.pool))
            .order_by(RoutingRule.position)
        )
    )


def _open_loads(
    session: AnySession, staff_ids: list[int], booking: BookingRequest
) -> dict[int, int]:
    return open_loads(session, staff_ids, booking.id)


def new_request_loads(
    session: AnySession, staff_ids: list[int], booking: BookingRequest
) -> dict[int, int]:
    """Loads for routing new requests, several in one transaction (a worker's batch): each
    pool's counts are read once per transaction, then route() counts each assignment it makes
    in them. Right while nothing else in the transaction assigns or closes requests, and
    nothing outside does (the routing lock, held till commit, on PostgreSQL): a new request
    is not in anyone's load, so excluding it changes nothing."""
    if booking.assigned_staff_id is not None:  # not new after all: counted as it stands
        return open_loads(session, staff_ids, booking.id)
    kept: dict[tuple[int, ...], dict[int, int]] = _once_per_transaction(session, _LOADS_KEY, dict)
    pool = tuple(staff_ids)
    if pool not in kept:
        counts = open_loads(session, staff_ids, booking.id)
        kept[pool] = {member: counts.get(member, 0) for member in staff_ids}
    return kept[pool]


def _count_assignment(session: AnySession, staff_id: int, previous: int | None) -> None:
    """Keep new_request_loads' counts current after route() assigned a request."""
    if previous is not None:  # a reassignment: counts read afresh the next time
        session.info.pop(_LOADS_KEY, None)
        return
    for counts in session.info.get(_LOADS_KEY, {}).values():
        if staff_id in counts:
            counts[staff_id] += 1


def _since(moment: datetime | None) -> float:
    """Sort key: never assigned first, then longest ago."""
    return moment.timestamp() if moment is not None else float("-inf")


def route(
    session: AnySession,
    booking: BookingRequest,
    *,
    actor: Actor,
    now: datetime | None = None,
    loads: Loads | None = None,
) -> Decision:
    """Assign the booking by the rules (also used for reassignment), record the audit entry
    and the emails it implies: organizer acknowledgement, staff notice or admin alert.
    ``loads`` counts the members' open requests (default: as they stand now; the demo
    history counts them as they stood then). The caller commits."""
    if session.get_bind().dialect.name == "postgresql":
        _once_per_transaction(session, _LOCKED_KEY, lambda: _lock(session))
    decision = decide(session, booking, loads)
    details = decision.as_details()
    previous = booking.assigned_staff_id
    now = now or utcnow()
    staff = session.get(StaffMember, decision.staff_id) if decision.staff_id is not None else None
    if staff is not None:
        staff.last_assigned_at = now
        assign(session, booking, staff, actor=actor, action="routed", details=details, now=now)
        _count_assignment(session, staff.id, previous)
    elif booking.status == Status.NEW:
        transition(
            session,
            booking,
            Status.UNASSIGNED,
            actor=actor,
            action="routed",
            public_message=_l("All our agents are busy; a manager will assign your request."),
            details=details,
            now=now,
        )
    else:
        note(session, booking, actor=actor, action="routing failed", details=details, now=now)
    notify_routed(session, booking, staff, previous=previous)
    return decision
