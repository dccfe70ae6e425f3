"""A deterministic demo booking history: 26 weeks of requests worked through the bureau's process.

``load_demo_history`` adds, once, about two hundred requests from fictitious organizations
(marked "(demo)", contacts at example.com/.org/.net, ``source = "demo"``) for the catalogue's
speakers, each taken through the real workflow — routing by the rules, first responses (some
after the 8-working-hour SLA, escalated as ``calendar/reminders.py`` records it), shortlists,
firm offers, availability checks with holds, contracts, confirmations with engagements,
completions with feedback, and the exits. The actions in ``actions.py`` stamp their rows with
the present moment and record emails, so the rows are written here directly, in the shape
those functions give them, with past timestamps; every state change is checked against
``workflow.ALLOWED``. No email and no outbox job is recorded: the history is over.

A fixed random seed makes the figures reproducible; the timestamps are relative to ``now``.
The returned summary is the generator's own tally, which the insights page must reproduce.
"""

from __future__ import annotations

import logging
import random
import secrets
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bureau.bookings.actions import CLOSINGS, DEFAULT_HOLD
from bureau.bookings.models import (
    BookingEvent,
    BookingRequest,
    Contract,
    Offer,
    OrganizerFeedback,
    RequestedSpeaker,
    ShortlistEntry,
)
from bureau.bookings.routing import BookingFacts, Decision, RoutingRule
from bureau.bookings.services import next_reference
from bureau.bookings.states import CLOSED_STATES, Status
from bureau.bookings.workflow import ALLOWED, SYSTEM, Actor
from bureau.calendar.busy import zone_label
from bureau.calendar.ics import new_uid
from bureau.calendar.invites import engagement_for
from bureau.calendar.models import Engagement, Hold, HoldState
from bureau.calendar.reminders import (
    FIRST_RESPONSE_SLA,
    WORKDAY_END,
    WORKDAY_START,
    add_working_time,
    working_time,
)
from bureau.catalogue.models import Speaker
from bureau.db import AnySession, utcnow
from bureau.staff.models import StaffMember

logger = logging.getLogger(__name__)

SOURCE = "demo"  # BookingRequest.source of every history request: how a second run knows
SEED = 6_2026
WEEKS = 26
CENT = Decimal("0.01")
S = Status
# Beat runs the SLA check every five minutes (workers/schedule.py).
SLA_TICK = timedelta(minutes=5)

# --- the fictitious world: organizations, people, places (RFC 2606 addresses only)

ORGANIZATIONS = [
    "Northwind Leadership Forum", "Bluewater Retail Council", "Crescent Bay Innovation Week",
    "Harbourlight Business School", "Silverpine Capital Partners", "Redwood Family Office Club",
    "Lanternfield Media Summit", "Meridian Trade Association", "Copperleaf Insurance Group",
    "Foxglove Marketing Network", "Juniper Tech Alliance", "Amberline Logistics Conference",
    "Stonebridge Wealth Forum", "Kestrel Consumer Brands", "Tidewater Chamber of Commerce",
    "Oakhaven University Alumni", "Greyfield Manufacturing Expo", "Windmere Investors Circle",
]  # fmt: skip
FIRST_NAMES = [
    "Alex", "Bea", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ines", "Jun", "Kofi",
    "Lena", "Marco", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tomoko", "Uma", "Vik",
]  # fmt: skip
LAST_NAMES = [
    "Abara", "Brandt", "Castell", "Duval", "Eriksen", "Fontaine", "Gallo", "Hartley", "Ibsen",
    "Jansen", "Kowal", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Quist", "Rinaldi",
]  # fmt: skip
EVENT_KINDS = [
    "Annual Leadership Summit", "Client Day", "Innovation Forum", "Retail Outlook", "Board Retreat",
    "Partner Conference", "Investor Briefing", "Future of Work Day", "Digital Strategy Offsite",
]  # fmt: skip
# city, country, zone, currency, language, weight
PLACES = [
    ("Shanghai", "CN", "Asia/Shanghai", "CNY", "zh", 4),
    ("Beijing", "CN", "Asia/Shanghai", "USD", "en", 3),
    ("Hong Kong", "HK", "Asia/Hong_Kong", "USD", "en", 4),
    ("Singapore", "SG", "Asia/Singapore", "USD", "en", 3),
    ("Amsterdam", "NL", "Europe/Amsterdam", "EUR", "en", 3),
    ("Berlin", "DE", "Europe/Berlin", "EUR", "en", 2),
    ("Paris", "FR", "Europe/Paris", "EUR", "en", 2),
    ("New York", "US", "America/New_York", "USD", "en", 3),
    ("San Francisco", "US", "America/Los_Angeles", "USD", "en", 2),
    ("Toronto", "CA", "America/Toronto", "USD", "en", 1),
    (None, None, "Europe/London", "USD", "en", 2),  # virtual
]
RATES = {"USD": Decimal(1), "EUR": Decimal("0.92"), "CNY": Decimal("7.2")}
POPULARITY = {
    "winston-ma": 13,
    "kaiser-kuo": 12,
    "ashley-dudarenok": 11,
    "alvin-wang-graylin": 10,
    "fons-tuinstra": 7,
    "rupert-hoogewerf": 6,
}
DURATION = {"keynote": 1, "panel": 2, "fireside": 1, "moderation": 4, "workshop": 3, "virtual": 1}
AUDIENCES = ["senior executives", "retail managers", "investors", "students and faculty",
             "marketing teams", "family offices", "engineers and product leads"]  # fmt: skip
NOTES = ["Called the organizer to confirm the date and budget.",
         "Asked the organizer about the audience and the format.",
         "Checked the speakers' travel plans for that week."]  # fmt: skip
DECLINE_REASONS = ["The budget is well below the speakers' fee bands.",
                   "None of our speakers is free on that date.",
                   "The event's subject is outside what our speakers cover."]  # fmt: skip
WITHDRAW_REASONS = ["We chose a speaker from our own network.",
                    "The event was postponed to next year.",
                    "Our budget was not approved."]  # fmt: skip
CANCEL_REASONS = ["The organizer cancelled the event.", "The speaker fell ill."]
SPEAKER_DECLINES = ["Already travelling that week.", "A family commitment on that date."]
FEEDBACK = ["Excellent talk; the audience stayed an hour for questions.",
            "Very well prepared and on time. We would book again.",
            "Good session, a little long on the introduction.",
            "Our members rated it the best talk of the year."]  # fmt: skip
ORGANIZER_COMMENTS = {
    5: ["Outstanding: our audience is still talking about it.",
        "Everything went smoothly, from the first call to the last slide."],
    4: ["Very good talk; the Q&A could have been longer.",
        "Well prepared and friendly; travel details came a little late."],
    3: ["Solid content, but it ran over time.",
        "Good, though the talk was less tailored to our audience than we hoped."],
    2: ["The speaker arrived late and the talk felt generic."],
    1: ["Not what we agreed: the topic changed at short notice."],
}  # fmt: skip
TRAVEL_TERMS = "Business-class flights and two hotel nights paid by the organizer."
COMMISSIONS = [Decimal("15"), Decimal("20"), Decimal("17.5"), Decimal("12.5"), Decimal("25")]

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


# --- the summary: what was created, counted here, independently of the insights queries


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


# --- working hours


def escalation_time(assigned_at: datetime, zone: ZoneInfo) -> datetime:
    """When beat's five-minutely check first finds more than the SLA's working hours passed."""
    deadline = add_working_time(assigned_at, FIRST_RESPONSE_SLA, zone)
    tick = _ceil(deadline + timedelta(seconds=1), SLA_TICK)
    while working_time(assigned_at, tick, zone) <= FIRST_RESPONSE_SLA:
        # Out of hours nothing accrues: jump to the next opening.
        local = tick.astimezone(zone)
        if local.time() >= WORKDAY_END or local.weekday() >= 5:
            nxt = datetime.combine(local.date() + timedelta(days=1), WORKDAY_START, tzinfo=zone)
            tick = nxt.astimezone(UTC) + SLA_TICK
        else:
            tick += SLA_TICK
    return tick


def _ceil(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(2000, 1, 3, tzinfo=UTC)
    steps = -(-(moment - epoch) // step)
    return epoch + steps * step


# --- one request's story


@dataclass
class _Entry:
    at: datetime
    actor: Actor
    action: str
    from_status: str | None
    to_status: str | None
    public_message: str | None
    details: Callable[[], dict[str, Any]]


class _Stop(Exception):
    """The next step would happen after ``now``: the story ends in its current state."""


class _Story:
    """One request, its timeline built step by step with the workflow's transitions table."""

    def __init__(self, booking: BookingRequest, now: datetime) -> None:
        self.booking = booking
        self.now = now
        self.entries: list[_Entry] = []
        self.status = S.NEW
        self.visited: set[Status] = {S.NEW}
        self.offers: list[Offer] = []
        self.holds: list[tuple[Hold, Offer]] = []  # each with the offer it was placed for
        self.shortlist: list[ShortlistEntry] = []
        self.contract: Contract | None = None
        self.engagement: Engagement | None = None
        self.staff: StaffMember | None = None
        self.breached = False
        self.closed_at: datetime | None = None
        self.feedback: OrganizerFeedback | None = None
        self.last = booking.created_at

    def active_hold(self) -> Hold | None:
        return next((h for h, _ in self.holds if h.state == HoldState.ACTIVE), None)

    def check(self, at: datetime) -> datetime:
        if at >= self.now:
            raise _Stop
        if at <= self.last:
            raise AssertionError(f"{at} is not after {self.last}")
        return at

    def add(
        self,
        at: datetime,
        actor: Actor,
        action: str,
        *,
        to: Status | None = None,
        public: str | None = None,
        details: Callable[[], dict[str, Any]] | dict[str, Any] | None = None,
        touches: bool = True,
    ) -> None:
        """A timeline entry; with ``to``, a state change the table must allow (as
        workflow.transition); ``touches`` moves updated_at (every change but the SLA note)."""
        self.check(at)
        frozen = details if callable(details) else (lambda d=details or {}: d)
        from_status = None
        if to is not None:
            if to not in ALLOWED[self.status]:
                raise AssertionError(f"{self.status} → {to} is not allowed")
            from_status, self.status = self.status, to
            self.visited.add(to)
            if to in CLOSED_STATES:
                self.closed_at = at
        self.entries.append(_Entry(at, actor, action, from_status, to, public, frozen))
        self.last = at
        if touches:
            self.booking.updated_at = at


@dataclass
class _Desk:
    member: StaffMember
    last_assigned_at: datetime | None


class _History:
    def __init__(self, session: AnySession, now: datetime, rng: random.Random) -> None:
        self.session = session
        self.now = now
        self.rng = rng
        # The holds' UIDs: reproducible from the seed, without drawing from ``rng`` (which
        # would change every figure drawn after the first hold).
        self.uid_rng = random.Random(str(rng.getstate()))  # noqa: S311 - demo, not secrets
        # The organizers' ratings, likewise apart (added later than the other figures).
        self.feedback_rng = random.Random(f"feedback {rng.getstate()}")  # noqa: S311
        self.speakers = list(
            session.scalars(
                select(Speaker)
                .where(Speaker.is_active)
                .options(selectinload(Speaker.topics))
                .order_by(Speaker.slug)
            )
        )
        if len(self.speakers) < 3:
            raise ValueError("the demo history needs at least three active speakers")
        self.rules = session.scalars(
            select(RoutingRule)
            .where(RoutingRule.is_active)
            .options(selectinload(RoutingRule.pool))
            .order_by(RoutingRule.position)
        ).all()
        self.desks: dict[int, _Desk] = {}
        self.stories: list[_Story] = []
        # Every slot a speaker was held or booked for: a new hold keeps clear of them all.
        self.busy: dict[int, list[datetime]] = {}

    # --- the request as the organizer filed it

    def request(self, created: datetime) -> _Story:
        rng = self.rng
        city, country, zone, currency, language, _ = rng.choices(
            PLACES, weights=[p[5] for p in PLACES]
        )[0]
        virtual = city is None
        wanted = rng.choices([1, 2, 3], weights=[70, 22, 8])[0]
        chosen: list[Speaker] = []
        while len(chosen) < wanted:
            speaker = rng.choices(
                self.speakers, weights=[POPULARITY.get(s.slug, 8) for s in self.speakers]
            )[0]
            if speaker not in chosen:
                chosen.append(speaker)
        fmt = "virtual" if virtual else rng.choice(["keynote", "keynote", "panel", "fireside",
                                                    "moderation", "workshop"])  # fmt: skip
        lead = timedelta(days=rng.randint(28, 120))
        day = (created + lead).astimezone(ZoneInfo(zone)).date()
        while day.weekday() >= 5:
            day += timedelta(days=1)
        starts_local = datetime.combine(day, time(rng.choice([9, 10, 11, 14, 15])))
        ends_local = starts_local + timedelta(hours=DURATION[fmt])
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        org = rng.choice(ORGANIZATIONS)
        band = max(s.fee_max for s in chosen)
        budget = _money(Decimal(band) * Decimal(rng.choice(["0.5", "0.8", "1", "1.2"])), currency)
        booking = BookingRequest(
            reference=next_reference(self.session, created.year),
            status=S.NEW,
            tracking_token=secrets.token_urlsafe(32),
            source=SOURCE,
            event_name=f"{org} {rng.choice(EVENT_KINDS)} {day.year}",
            organization=f"{org} (demo)",
            contact_name=f"{first} {last}",
            contact_email=f"{first}.{last}@example.{rng.choice(['com', 'org', 'net'])}".lower(),
            contact_phone=None,
            format=fmt,
            is_virtual=virtual,
            city=city,
            country=country,
            timezone=zone,
            starts_local=starts_local,
            ends_local=ends_local,
            starts_at=starts_local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC),
            ends_at=ends_local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC),
            audience_size=rng.choice([40, 80, 120, 200, 350, 600, 1200]),
            audience=rng.choice(AUDIENCES),
            budget_min=None,
            budget_max=budget if rng.random() < 0.7 else None,
            currency=currency,
            message=None,
            language=language,
            created_at=created,
            updated_at=created,
            requested=[RequestedSpeaker(preference=i, speaker=s) for i, s in enumerate(chosen, 1)],
        )
        story = _Story(booking, self.now)
        organizer = Actor("organizer", booking.contact_name)
        story.entries.append(
            _Entry(
                created,
                organizer,
                "submitted",
                None,
                S.NEW,
                "We received your request.",
                lambda: {"source": SOURCE},
            )
        )
        return story

    # --- routing, as routing.decide() and route() would have decided then

    def open_load(self, member_id: int, at: datetime) -> int:
        return sum(
            1
            for other in self.stories
            if other.staff is not None
            and other.staff.id == member_id
            and other.booking.assigned_at is not None
            and other.booking.assigned_at <= at
            and (other.closed_at is None or other.closed_at > at)
        )

    def route(self, story: _Story, at: datetime) -> None:
        facts = BookingFacts.of(story.booking)
        decision = Decision(staff_id=None, staff_name=None, rule=None)
        for rule in self.rules:
            why_not = rule.mismatch(facts)
            if why_not is not None:
                decision.rules_tried.append({"rule": rule.name, "matched": False, "why": why_not})
                continue
            loads = {m.id: self.open_load(m.id, at) for m in rule.pool}
            eligible, skipped = [], []
            for member in rule.pool:
                reason = (
                    "inactive"
                    if not member.is_active
                    else "on leave"
                    if member.is_on_leave
                    else "at capacity"
                    if loads[member.id] >= member.capacity
                    else None
                )
                if reason:
                    skipped.append({"id": member.id, "name": member.name, "reason": reason})
                else:
                    eligible.append(member)
            decision.rules_tried.append(
                {"rule": rule.name, "matched": True, "eligible": len(eligible)}
            )
            decision.skipped.extend(skipped)
            if not eligible:
                continue

            def since(m: StaffMember) -> float:
                last = self.desk(m).last_assigned_at
                return last.timestamp() if last is not None else float("-inf")

            eligible.sort(key=lambda m: (loads[m.id], since(m), m.id))
            chosen = eligible[0]
            decision.staff_id, decision.staff_name = chosen.id, chosen.name
            decision.rule = rule.name
            decision.candidates = [
                {
                    "id": m.id,
                    "name": m.name,
                    "load": loads[m.id],
                    "capacity": m.capacity,
                    "last_assigned_at": (
                        self.desk(m).last_assigned_at.isoformat()  # type: ignore[union-attr]
                        if self.desk(m).last_assigned_at
                        else None
                    ),
                }
                for m in eligible
            ]
            break
        details = decision.as_details()
        if decision.staff_id is None:
            story.add(
                at,
                SYSTEM,
                "routed",
                to=S.UNASSIGNED,
                public="All our agents are busy; a manager will assign your request.",
                details=details,
            )
            return
        staff = next(m for r in self.rules for m in r.pool if m.id == decision.staff_id)
        story.staff = staff
        story.booking.assigned_staff_id = staff.id
        story.booking.assigned_at = at
        self.desk(staff).last_assigned_at = at
        story.add(
            at,
            SYSTEM,
            "routed",
            to=S.ASSIGNED,
            public=f"Your request is with {staff.name}, who will be in touch.",
            details=details,
        )

    def desk(self, member: StaffMember) -> _Desk:
        if member.id not in self.desks:
            self.desks[member.id] = _Desk(member, None)
        return self.desks[member.id]

    # --- the bureau's process

    def play(self, story: _Story) -> None:
        """Take the request as far as it got before ``now``."""
        rng = self.rng
        booking = story.booking
        self.route(story, booking.created_at + timedelta(seconds=rng.randint(2, 50)))
        staff = story.staff
        if staff is None:
            return
        me = Actor("staff", staff.name, staff.id)
        organizer = Actor("organizer", booking.contact_name)
        zone = ZoneInfo(staff.timezone)
        assigned_at = booking.assigned_at
        assert assigned_at is not None

        # The first response: within the SLA's 8 working hours, or (about 1 in 14) after it,
        # when beat escalates first. Every request still "assigned" has one, so beat finds
        # nothing to escalate in the history.
        deadline = add_working_time(assigned_at, FIRST_RESPONSE_SLA, zone)
        escalated: datetime | None = None
        if rng.random() < 0.07:
            escalated = escalation_time(assigned_at, zone)
            respond = add_working_time(escalated, timedelta(minutes=rng.randint(20, 600)), zone)
        else:
            respond = add_working_time(assigned_at, timedelta(minutes=rng.randint(10, 460)), zone)
        if respond >= self.now:  # filed a moment ago: answered already, sooner
            if escalated is not None and escalated < self.now - timedelta(minutes=2):
                respond = escalated + (self.now - escalated) * rng.uniform(0.2, 0.8)
            else:
                escalated = None
                respond = assigned_at + (min(self.now, deadline) - assigned_at) * rng.uniform(
                    0.2, 0.8
                )
        respond = _minute(respond, after=escalated or assigned_at)
        if escalated is not None:
            elapsed = working_time(assigned_at, escalated, zone)
            story.add(
                escalated,
                SYSTEM,
                "SLA breached",
                details={
                    "reason": f"no first response after {elapsed} working hours",
                    "assignee": staff.name,
                },
                touches=False,
            )
            story.breached = True

        # The last few days' requests are still being worked on: a first note, no shortlist
        # yet, so the dashboard has "assigned" requests too.
        recent = self.now - booking.created_at < timedelta(days=6)
        try:
            roll = rng.random()
            if roll < 0.15 and not recent:
                self.close(story, respond, S.DECLINED, me, rng.choice(DECLINE_REASONS))
                return
            if roll < 0.5 or recent:
                story.add(respond, me, "note", details={"text": rng.choice(NOTES)})
                respond = self.later(story, hours=(48, 144) if recent else (6, 120))
            self.shortlist(story, respond, me, exclude=set())
            while True:
                # The organizer answers the shortlist: a firm offer, or not.
                roll = rng.random()
                if roll < 0.3:
                    self.close(
                        story,
                        self.later(story, hours=(48, 480)),
                        S.WITHDRAWN,
                        organizer,
                        rng.choice(WITHDRAW_REASONS),
                    )
                    return
                offer = self.offer(story, self.later(story, hours=(12, 200)), me, organizer)
                if offer is None:
                    self.close(story, self.later(story, hours=(4, 48)), S.DECLINED, me,
                               DECLINE_REASONS[1])  # fmt: skip
                    return
                if rng.random() < 0.05:
                    self.close(story, self.later(story, hours=(24, 120)), S.WITHDRAWN, organizer,
                               WITHDRAW_REASONS[2])  # fmt: skip
                    return
                hold = self.check_availability(story, offer, self.later(story, hours=(2, 40)), me)
                answer = rng.random()
                if answer < 0.18 or answer > 0.93:
                    if answer < 0.18:  # the speaker declines: alternates from the shortlist
                        self.speaker_answer(story, offer, hold, accept=False)
                    else:  # no answer before the hold lapses
                        self.expire(story, hold)
                    if rng.random() < 0.4 or len(story.offers) > 1:
                        if story.status == S.SPEAKER_DECLINED:  # expired ones stay expired
                            self.close(story, self.later(story, hours=(24, 240)), S.WITHDRAWN,
                                       organizer, WITHDRAW_REASONS[0])  # fmt: skip
                        return
                    self.shortlist(
                        story, self.later(story, hours=(4, 72)), me, exclude={offer.speaker_id}
                    )
                    continue
                self.speaker_answer(story, offer, hold, accept=True)
                break
            # Contract and confirmation before the hold lapses, almost always.
            self.record_contract(story, offer, self.later(story, hours=(4, 60)), me)
            if rng.random() < 0.04:
                self.expire(story, hold)
                return
            self.confirm(story, offer, hold, self.later(story, hours=(4, 60)), me)
            if rng.random() < 0.05:
                cancel_at = self.later(story, hours=(24, 400))
                if cancel_at < booking.starts_at:
                    self.close(story, cancel_at, S.CANCELLED, me, rng.choice(CANCEL_REASONS))
                    return
            # Completed a day or few after the event; still "confirmed" until then.
            done = booking.ends_at + timedelta(hours=rng.randint(20, 120))
            done = _minute(done, after=story.last)
            story.check(done)
            feedback = rng.choice(FEEDBACK) if rng.random() < 0.9 else None
            booking.feedback = feedback
            story.add(
                done,
                me,
                "completed",
                to=S.COMPLETED,
                public="The event took place. Thank you!",
                details={"feedback": feedback},
            )
            self.organizer_feedback(story, organizer)
        except _Stop:
            return

    def organizer_feedback(self, story: _Story, organizer: Actor) -> None:
        """Most organizers rate a completed booking within a few days; some add a comment."""
        rng = self.feedback_rng
        if rng.random() >= 0.65:
            return
        at = _minute(story.last + timedelta(minutes=rng.randint(30, 5 * 24 * 60)), after=story.last)
        if at >= self.now:
            return
        rating = rng.choices([5, 4, 3, 2, 1], weights=[45, 30, 14, 7, 4])[0]
        comments = rng.choice(ORGANIZER_COMMENTS[rating]) if rng.random() < 0.7 else None
        story.add(
            at,
            organizer,
            "left feedback",
            public=f"Organizer left feedback: {rating}/5.",
            details={"rating": rating},
        )
        story.feedback = OrganizerFeedback(rating=rating, comments=comments, created_at=at)

    def later(self, story: _Story, *, hours: tuple[int, int]) -> datetime:
        """A moment some hours after the story's last step (before the event starts, else
        the organizer gives up: the request is withdrawn then)."""
        at = _minute(
            story.last + timedelta(minutes=self.rng.randint(hours[0] * 60, hours[1] * 60)),
            after=story.last,
        )
        hold = story.active_hold()
        if hold is not None and at >= hold.expires_at:
            self.expire(story, hold)  # beat got there first (unless that is still to come)
            raise _Stop
        if at >= self.now:
            raise _Stop
        too_close = story.booking.starts_at - timedelta(days=3)
        if story.status != S.CONFIRMED and at > too_close:
            if S.WITHDRAWN not in ALLOWED[story.status]:
                raise _Stop
            organizer = Actor("organizer", story.booking.contact_name)
            self.close(
                story,
                _minute(story.booking.starts_at - timedelta(days=3), after=story.last),
                S.WITHDRAWN,
                organizer,
                "The event is too close now; we will manage without a speaker.",
            )
            raise _Stop
        return at

    def shortlist(self, story: _Story, at: datetime, me: Actor, *, exclude: set[int]) -> None:
        story.check(at)
        rng = self.rng
        booking = story.booking
        requested = [r.speaker for r in booking.requested if r.speaker.id not in exclude]
        others = [s for s in self.speakers if s not in requested and s.id not in exclude]
        rng.shuffle(others)
        size = rng.choice([3, 4])
        picked = (requested + others)[:size]
        if len(picked) < 3:
            picked = (requested + others + [s for s in self.speakers if s.id in exclude])[:3]
        entries = []
        for i, speaker in enumerate(picked, start=1):
            quote = _money(
                Decimal(rng.randrange(speaker.fee_min, speaker.fee_max + 1, 500)), booking.currency
            )
            entries.append(
                ShortlistEntry(
                    speaker=speaker,
                    position=i,
                    fee_quote=quote,
                    currency=booking.currency,
                    home_city=speaker.home_city,
                    note="You asked for this speaker." if speaker in requested else None,
                )
            )
        story.shortlist = entries  # the latest shortlist replaces the one before
        candidates = [
            {
                "speaker_slug": e.speaker.slug,
                "fee_quote": e.fee_quote,
                "home_city": e.home_city,
                "note": e.note,
            }
            for e in entries
        ]
        story.add(
            at,
            me,
            "shortlisted",
            to=S.SHORTLISTED,
            public=f"We sent you a shortlist of {len(entries)} speakers.",
            details={"candidates": candidates},
        )

    def offer(self, story: _Story, at: datetime, me: Actor, organizer: Actor) -> Offer | None:
        """The organizer's firm offer for a shortlisted speaker free on the date (None when
        no one is)."""
        story.check(at)
        booking = story.booking
        for entry in story.shortlist:
            if self.is_free(entry.speaker, booking.starts_at):
                break
        else:
            return None
        by = organizer if self.rng.random() < 0.8 else me
        fee = _round(entry.fee_quote * self.rng.choice([Decimal("0.9"), Decimal("1")]),
                     booking.currency)  # fmt: skip
        offer = Offer(
            speaker=entry.speaker,
            speaker_id=entry.speaker.id,
            fee=fee,
            currency=booking.currency,
            format=booking.format,
            timezone=booking.timezone,
            starts_local=booking.starts_local,
            ends_local=booking.ends_local,
            starts_at=booking.starts_at,
            ends_at=booking.ends_at,
            is_virtual=booking.is_virtual,
            venue=None if booking.is_virtual else f"{booking.city} Convention Centre",
            city=booking.city,
            country=booking.country,
            logistics=None if booking.is_virtual else TRAVEL_TERMS,
            made_by=by.kind,
            created_at=at,
        )
        story.offers.append(offer)
        story.add(
            at,
            by,
            "offer",
            to=S.OFFER_RECEIVED,
            public=(
                f"Firm offer for {entry.speaker.name}: {booking.currency} {fee:,} on "
                f"{booking.starts_local:%d %b %Y %H:%M} ({zone_label(booking.timezone)})."
            ),
            details={"speaker": entry.speaker.slug, "fee": fee, "currency": booking.currency},
        )
        return offer

    def is_free(self, speaker: Speaker, starts_at: datetime) -> bool:
        # Two days either side is more than any travel buffer (24 h at most by default).
        return all(abs(other - starts_at) > timedelta(days=2) for other in self.busy_of(speaker))

    def busy_of(self, speaker: Speaker) -> list[datetime]:
        return self.busy.setdefault(speaker.id, [])

    def check_availability(self, story: _Story, offer: Offer, at: datetime, me: Actor) -> Hold:
        story.check(at)
        hold = Hold(
            speaker_id=offer.speaker_id,
            uid=new_uid(self.uid_rng.getrandbits(128)),
            starts_at=offer.starts_at,
            ends_at=offer.ends_at,
            expires_at=at + DEFAULT_HOLD,
            state=HoldState.ACTIVE,
            created_at=at,
            updated_at=at,
        )
        story.holds.append((hold, offer))
        self.busy_of(offer.speaker).append(offer.starts_at)
        story.add(
            at,
            me,
            "availability check",
            to=S.AWAITING_SPEAKER,
            public=f"We asked {offer.speaker.name} about your date; it is held meanwhile.",
            details=lambda: {"hold_expires_at": hold.expires_at.isoformat(), "offer": offer.id},
        )
        return hold

    def speaker_answer(self, story: _Story, offer: Offer, hold: Hold, *, accept: bool) -> None:
        at = self.later(story, hours=(3, 100))  # after the hold's expiry: expired instead
        reason = None if accept else self.rng.choice(SPEAKER_DECLINES)
        offer.response = "accepted" if accept else "declined"
        offer.response_reason = reason
        offer.responded_at = at
        speaker = Actor("speaker", offer.speaker.name, offer.speaker_id)
        if accept:
            public = f"{offer.speaker.name} is available for your date."
        else:
            hold.state, hold.updated_at = HoldState.RELEASED, at
            public = f"{offer.speaker.name} is not available; we will suggest alternatives."
        story.add(
            at,
            speaker,
            "speaker accepted" if accept else "speaker declined",
            to=S.SPEAKER_ACCEPTED if accept else S.SPEAKER_DECLINED,
            public=public,
            details={"reason": reason},
        )

    def expire(self, story: _Story, hold: Hold) -> None:
        """Beat's expire_holds, which runs every minute."""
        at = _minute(hold.expires_at + timedelta(seconds=30), after=story.last)
        story.check(at)
        hold.state, hold.updated_at = HoldState.EXPIRED, at
        story.add(
            at,
            SYSTEM,
            "hold expired",
            to=S.EXPIRED,
            public="The hold on the speaker's date expired before confirmation.",
            details=lambda: {"hold": hold.id},
        )

    def record_contract(self, story: _Story, offer: Offer, at: datetime, me: Actor) -> None:
        story.check(at)
        fee = offer.fee
        pct = self.rng.choice(COMMISSIONS)
        deposit = fee * self.rng.choice([25, 30, 50]) // 100
        due = (at + timedelta(days=14)).date()
        contract = Contract(
            fee=fee,
            currency=offer.currency,
            commission_pct=pct,
            deposit_amount=deposit,
            deposit_due=due,
            travel_terms=None if offer.is_virtual else TRAVEL_TERMS,
            created_at=at,
        )
        story.contract = contract
        cur = offer.currency
        story.add(
            at,
            me,
            "contract",
            to=S.CONTRACTED,
            public=(f"Contract: {cur} {fee:,}; deposit {cur} {deposit:,} due {due:%d %b %Y}."),
            details={
                "fee": fee,
                "commission_pct": str(pct),
                "deposit_amount": deposit,
                "deposit_due": due.isoformat(),
            },
        )

    def confirm(self, story: _Story, offer: Offer, hold: Hold, at: datetime, me: Actor) -> None:
        story.check(at)
        booking = story.booking
        hold.state, hold.updated_at = HoldState.CONFIRMED, at
        story.engagement = engagement_for(booking, offer, random_bits=self.rng.getrandbits(128))
        story.engagement.created_at = story.engagement.updated_at = at
        story.add(
            at,
            me,
            "confirmed",
            to=S.CONFIRMED,
            public="Your booking is confirmed; calendar invitations are on their way.",
        )

    def close(self, story: _Story, at: datetime, to: Status, actor: Actor, reason: str) -> None:
        """actions.close: decline, withdraw or cancel with a reason; holds released, a
        confirmed engagement cancelled (same UID, SEQUENCE + 1)."""
        story.check(at)
        story.booking.closed_reason = reason
        for hold, _ in story.holds:
            if hold.state == HoldState.ACTIVE:
                hold.state, hold.updated_at = HoldState.RELEASED, at
        if story.engagement is not None and not story.engagement.is_cancelled:
            story.engagement.is_cancelled = True
            story.engagement.sequence += 1
            story.engagement.updated_at = at
        story.add(
            at,
            actor,
            to.value,
            to=to,
            public=f"{CLOSINGS[to]}: {reason}",
            details={"reason": reason},
        )

    # --- writing it down

    def write(self) -> None:
        """Insert every story's rows, a table at a time (few statements, no update after)."""
        session = self.session
        for story in self.stories:
            story.booking.status = story.status
            story.booking.shortlist = story.shortlist
            session.add(story.booking)
        session.flush()
        for story in self.stories:
            booking_id = story.booking.id
            for offer in story.offers:
                offer.booking_id = booking_id
                session.add(offer)
            if story.contract is not None:
                story.contract.booking_id = booking_id
                session.add(story.contract)
            if story.engagement is not None:
                story.engagement.booking_id = booking_id
                session.add(story.engagement)
        session.flush()
        for story in self.stories:
            for hold, offer in story.holds:
                hold.booking_id, hold.offer_id = story.booking.id, offer.id
                session.add(hold)
        session.flush()
        for story in self.stories:
            for entry in story.entries:
                session.add(
                    BookingEvent(
                        booking_id=story.booking.id,
                        at=entry.at,
                        actor_kind=entry.actor.kind,
                        actor_id=entry.actor.id,
                        actor_label=entry.actor.label,
                        action=entry.action,
                        from_status=entry.from_status,
                        to_status=entry.to_status,
                        public_message=entry.public_message,
                        details=entry.details(),
                    )
                )
            if story.feedback is not None:
                story.feedback.booking_id = story.booking.id
                session.add(story.feedback)


def _minute(moment: datetime, *, after: datetime) -> datetime:
    """Whole minutes (as a person's clicks would be recorded, roughly), kept after ``after``."""
    rounded = moment.replace(second=0, microsecond=0)
    while rounded <= after:
        rounded += timedelta(minutes=1)
    return rounded


def _money(usd: Decimal, currency: str) -> int:
    return _round(usd * RATES[currency], currency)


def _round(amount: Decimal, currency: str) -> int:
    step = 5000 if currency == "CNY" else 500
    return max(step, int(amount / step + Decimal("0.5")) * step)


def history_exists(session: AnySession) -> bool:
    return (
        session.scalars(
            select(BookingRequest.id).where(BookingRequest.source == SOURCE).limit(1)
        ).first()
        is not None
    )


def load_demo_history(
    session: AnySession, now: datetime | None = None, *, seed: int = SEED
) -> HistorySummary:
    """Add the demo history (once: nothing when demo requests exist) and return its tally.

    Needs the demo catalogue and staff desks (``bureau seed``). The caller commits.
    """
    if history_exists(session):
        return HistorySummary()
    now = (now or utcnow()).astimezone(UTC).replace(second=0, microsecond=0)
    rng = random.Random(seed)  # noqa: S311 - reproducible demo figures, not secrets
    history = _History(session, now, rng)
    # The weeks of the insights page's "Last 26 weeks": from the Monday 25 weeks back.
    this_monday = datetime.combine(now.date() - timedelta(days=now.weekday()), time(0), tzinfo=UTC)
    first_monday = this_monday - timedelta(weeks=WEEKS - 1)
    latest = now - timedelta(hours=2)
    moments: list[datetime] = []
    for week in range(WEEKS):
        monday = first_monday + timedelta(weeks=week)
        span = min(timedelta(weeks=1), latest - monday)
        if span <= timedelta(0):
            break
        volume = 5 + 4 * week / WEEKS + rng.uniform(-2, 2)  # a growing bureau
        count = round(volume * span / timedelta(weeks=1))
        for _ in range(count):
            offset = timedelta(minutes=rng.randrange(int(span.total_seconds() // 60)))
            moment = monday + offset
            if moment.weekday() >= 5 and rng.random() < 0.7:  # fewer requests at weekends
                moment -= timedelta(days=moment.weekday() - rng.randrange(5))
            moments.append(moment)
    moments.sort()
    for created in moments:
        story = history.request(created)
        history.play(story)
        history.stories.append(story)
    history.write()
    for desk in history.desks.values():
        last = desk.last_assigned_at
        if last is not None and (
            desk.member.last_assigned_at is None or desk.member.last_assigned_at < last
        ):
            desk.member.last_assigned_at = last
    session.flush()
    summary = _tally(history.stories, first_monday.date())
    logger.info("demo history: %s", summary)
    return summary


def _tally(stories: list[_Story], first_day: date) -> HistorySummary:
    summary = HistorySummary(created=len(stories), first_day=first_day)
    responses: list[float] = []
    confirmations: list[float] = []
    requested: dict[str, int] = {}
    booked: dict[str, int] = {}
    for story in stories:
        booking = story.booking
        created = booking.created_at
        monday = created.date() - timedelta(days=created.weekday())
        week = summary.weekly.setdefault(monday, {})
        week[story.status] = week.get(story.status, 0) + 1
        summary.statuses[story.status] = summary.statuses.get(story.status, 0) + 1
        summary.breaches += story.breached
        staff_acts = [e.at for e in story.entries if e.actor.kind == "staff"]
        if staff_acts:
            responses.append((min(staff_acts) - created).total_seconds())
        confirmed = [e.at for e in story.entries if e.to_status == S.CONFIRMED]
        if confirmed:
            confirmations.append((min(confirmed) - created).total_seconds())
        for r in booking.requested:
            requested[r.speaker.name] = requested.get(r.speaker.name, 0) + 1
        if story.engagement is not None and not story.engagement.is_cancelled:
            name = story.offers[-1].speaker.name
            booked[name] = booked.get(name, 0) + 1
        contract = story.contract
        if contract is not None and story.status in EARNING:
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
        (name, sum(1 for s in stories if state is None or state in s.visited))
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


def _median(values: list[float]) -> timedelta | None:
    return timedelta(seconds=round(statistics.median(values))) if values else None
