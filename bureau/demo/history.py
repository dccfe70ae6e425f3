"""A deterministic demo booking history: 26 weeks of requests worked through the real workflow.

``load_demo_history`` adds, once, about two hundred requests from fictitious organizations
(marked "(demo)", contacts at example.com/.org/.net, ``source = "demo"``) for the catalogue's
speakers. Each is played forward through the bureau's own services — ``store_request``,
``route``, the steps in ``bookings/actions.py`` and ``offers.py``, the hold expiry and the SLA
escalation's note — each called with ``now=`` the moment it happened, inside
``quiet_outbox``: the rows are the real workflow's, and nothing is sent (the history is over).

Only what the services cannot know is decided here: who acts when (a fixed random seed), and
the desks' open loads as they were at the moment of routing. A request stops at the first
step that would come after ``now``. The returned summary is the history's own tally
(``tally.py``), which the insights page must reproduce.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bureau.bookings import actions
from bureau.bookings.actions import Candidate, ContractTerms
from bureau.bookings.models import BookingRequest, Offer
from bureau.bookings.notes import add_note
from bureau.bookings.routing import route
from bureau.bookings.services import store_request
from bureau.bookings.states import CLOSED_STATES, Status
from bureau.bookings.validation import OfferTerms
from bureau.bookings.workflow import ALLOWED, SYSTEM, Actor
from bureau.calendar.holds import expire_hold
from bureau.calendar.ics import new_uid
from bureau.calendar.models import Engagement, Hold, HoldState
from bureau.calendar.reminders import FIRST_RESPONSE_SLA, add_working_time, note_breach
from bureau.catalogue.models import Speaker
from bureau.db import AnySession, utcnow
from bureau.demo import world as w
from bureau.demo.tally import HistorySummary, tally
from bureau.demo.world import minute, money, round_fee
from bureau.outbox import quiet_outbox
from bureau.staff.models import StaffMember

logger = logging.getLogger(__name__)

S = Status
SOURCE = w.SOURCE
# Signed and paid on paper: confirmed past the contract gate (contracts/flow.py), audited.
PAPER: dict[str, Any] = {"override_reason": "Settled on paper (demo)", "actor_is_admin": True}


class _Stop(Exception):
    """The next step would happen after ``now``: the story ends in its current state."""


class _Story:
    """One request as it is played: its booking, and when its last step happened."""

    def __init__(self, booking: BookingRequest, speakers: list[Speaker]) -> None:
        self.booking = booking
        self.speakers = speakers  # as requested, in order of preference
        self.last = booking.created_at
        self.staff: StaffMember | None = None
        self.holds: list[Hold] = []
        self.engagement: Engagement | None = None
        self.closed_at: datetime | None = None

    def active_hold(self) -> Hold | None:
        return next((h for h in self.holds if h.state == HoldState.ACTIVE), None)


class _History:
    def __init__(self, session: AnySession, now: datetime, rng: random.Random) -> None:
        self.session = session
        self.now = now
        self.rng = rng
        # Hold UIDs and the organizers' ratings: apart from ``rng`` (drawing from it would
        # change every figure drawn after).
        self.uid_rng = random.Random(str(rng.getstate()))  # noqa: S311 - demo, not secrets
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
        self.stories: list[_Story] = []
        self.routing_at = now
        # Every slot a speaker was held or booked for: a new hold keeps clear of them all.
        self.busy: dict[int, list[datetime]] = {}

    # --- a step: checked against the story's clock, then taken by the real service

    def at(self, story: _Story, moment: datetime) -> datetime:
        self.done(story)  # the step before may have closed it
        if moment >= self.now:
            raise _Stop
        if moment <= story.last:
            raise AssertionError(f"{moment} is not after {story.last}")
        story.last = moment
        return moment

    def done(self, story: _Story) -> None:
        """When the request last closed: it counts on its desk's load until then."""
        if story.booking.status in CLOSED_STATES:
            story.closed_at = story.last

    # --- the request as the organizer filed it

    def request(self, created: datetime) -> _Story:
        request = w.filed_request(self.rng, self.speakers, created)
        chosen = {s.slug: s for s in self.speakers if s.slug in request.speakers}
        booking = store_request(
            self.session,
            request,
            source=SOURCE,
            now=created,
            speakers=chosen,
        )
        # A new request has none of these: saying so spares a query for each later.
        booking.shortlist, booking.offers = [], []
        booking.contract = booking.organizer_feedback = None
        self.session.flush()
        return _Story(booking, [chosen[slug] for slug in request.speakers])

    # --- routing by the rules, with the desks' loads as they were then

    def open_loads(
        self, _session: AnySession, staff_ids: list[int], booking: BookingRequest
    ) -> dict[int, int]:
        at = self.routing_at
        loads = dict.fromkeys(staff_ids, 0)
        for other in self.stories:
            assigned_at = other.booking.assigned_at
            if (
                other.staff is not None
                and other.staff.id in loads
                and assigned_at is not None
                and assigned_at <= at
                and (other.closed_at is None or other.closed_at > at)
            ):
                loads[other.staff.id] += 1
        return loads

    # --- the bureau's process

    def play(self, story: _Story) -> None:
        """Take the request as far as it got before ``now``."""
        rng = self.rng
        booking = story.booking
        routed = self.at(story, booking.created_at + timedelta(seconds=rng.randint(2, 50)))
        self.routing_at = routed
        route(self.session, booking, actor=SYSTEM, now=routed, loads=self.open_loads)
        staff = story.staff = booking.assigned_staff
        if staff is None:
            return
        me = Actor("staff", staff.name, staff.id)
        organizer = Actor("organizer", booking.contact_name)
        zone = ZoneInfo(staff.timezone)
        assigned_at = routed

        # The first response: within the SLA's 8 working hours, or (about 1 in 14) after it,
        # when beat escalates first. Every request still "assigned" has one, so beat finds
        # nothing to escalate in the history.
        deadline = add_working_time(assigned_at, FIRST_RESPONSE_SLA, zone)
        escalated: datetime | None = None
        if rng.random() < 0.07:
            escalated = w.escalation_time(assigned_at, zone)
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
        respond = minute(respond, after=escalated or assigned_at)
        if escalated is not None:
            note_breach(self.session, booking, staff, self.at(story, escalated))

        # The last few days' requests are still being worked on: a first note, no shortlist
        # yet, so the dashboard has "assigned" requests too.
        recent = self.now - booking.created_at < timedelta(days=6)
        try:
            roll = rng.random()
            if roll < 0.15 and not recent:
                self.close(story, respond, S.DECLINED, me, rng.choice(w.DECLINE_REASONS))
                return
            if roll < 0.5 or recent:
                text = rng.choice(w.NOTES)
                add_note(self.session, booking, text, actor=me, expected_version=None,
                         now=self.at(story, respond))  # fmt: skip
                respond = self.later(story, hours=(48, 144) if recent else (6, 120))
            self.shortlist(story, respond, me, exclude=set())
            while True:
                # The organizer answers the shortlist: a firm offer, or not.
                if rng.random() < 0.3:
                    self.close(story, self.later(story, hours=(48, 480)), S.WITHDRAWN,
                               organizer, rng.choice(w.WITHDRAW_REASONS))  # fmt: skip
                    return
                offer = self.offer(story, self.later(story, hours=(12, 200)), me, organizer)
                if offer is None:
                    self.close(story, self.later(story, hours=(4, 48)), S.DECLINED, me,
                               w.DECLINE_REASONS[1])  # fmt: skip
                    return
                if rng.random() < 0.05:
                    self.close(story, self.later(story, hours=(24, 120)), S.WITHDRAWN, organizer,
                               w.WITHDRAW_REASONS[2])  # fmt: skip
                    return
                hold = actions.request_availability(
                    self.session, booking, actor=me, expected_version=None,
                    now=self.at(story, self.later(story, hours=(2, 40))),
                )  # fmt: skip
                hold.uid = new_uid(self.uid_rng.getrandbits(128))  # reproducible
                story.holds.append(hold)
                self.busy.setdefault(offer.speaker_id, []).append(offer.starts_at)
                answer = rng.random()
                if answer < 0.18 or answer > 0.93:
                    if answer < 0.18:  # the speaker declines: alternates from the shortlist
                        self.speaker_answer(story, offer, accept=False)
                    else:  # no answer before the hold lapses
                        self.expire(story, hold)
                    if rng.random() < 0.4 or len(booking.offers) > 1:
                        if booking.status == S.SPEAKER_DECLINED:  # expired ones stay expired
                            self.close(story, self.later(story, hours=(24, 240)), S.WITHDRAWN,
                                       organizer, w.WITHDRAW_REASONS[0])  # fmt: skip
                        return
                    self.shortlist(
                        story, self.later(story, hours=(4, 72)), me, exclude={offer.speaker_id}
                    )
                    continue
                self.speaker_answer(story, offer, accept=True)
                break
            # Contract and confirmation before the hold lapses, almost always.
            self.record_contract(story, offer, self.later(story, hours=(4, 60)), me)
            if rng.random() < 0.04:
                self.expire(story, hold)
                return
            confirm_at = self.at(story, self.later(story, hours=(4, 60)))
            story.engagement = actions.confirm(
                self.session, booking, actor=me, expected_version=None, now=confirm_at, **PAPER
            )
            story.engagement.uid = new_uid(rng.getrandbits(128))  # reproducible
            if rng.random() < 0.05:
                cancel_at = self.later(story, hours=(24, 400))
                if cancel_at < booking.starts_at:
                    self.close(story, cancel_at, S.CANCELLED, me, rng.choice(w.CANCEL_REASONS))
                    return
            # Completed a day or few after the event; still "confirmed" until then.
            done = booking.ends_at + timedelta(hours=rng.randint(20, 120))
            done = self.at(story, minute(done, after=story.last))
            feedback = rng.choice(w.FEEDBACK) if rng.random() < 0.9 else None
            actions.complete(self.session, booking, actor=me, expected_version=None,
                             feedback=feedback, now=done)  # fmt: skip
            self.organizer_feedback(story)
        except _Stop:
            return
        finally:
            self.done(story)

    def organizer_feedback(self, story: _Story) -> None:
        """Most organizers rate a completed booking within a few days; some add a comment."""
        rng = self.feedback_rng
        if rng.random() >= 0.65:
            return
        at = minute(story.last + timedelta(minutes=rng.randint(30, 5 * 24 * 60)), after=story.last)
        if at >= self.now:
            return
        rating = rng.choices([5, 4, 3, 2, 1], weights=[45, 30, 14, 7, 4])[0]
        comments = rng.choice(w.ORGANIZER_COMMENTS[rating]) if rng.random() < 0.7 else None
        actions.leave_feedback(self.session, story.booking, rating, comments,
                               now=self.at(story, at))  # fmt: skip

    def later(self, story: _Story, *, hours: tuple[int, int]) -> datetime:
        """A moment some hours after the story's last step (before the event starts, else
        the organizer gives up: the request is withdrawn then)."""
        at = minute(
            story.last + timedelta(minutes=self.rng.randint(hours[0] * 60, hours[1] * 60)),
            after=story.last,
        )
        hold = story.active_hold()
        if hold is not None and at >= hold.expires_at:
            self.expire(story, hold)  # beat got there first (unless that is still to come)
            raise _Stop
        if at >= self.now:
            raise _Stop
        booking = story.booking
        too_close = booking.starts_at - timedelta(days=3)
        if booking.status != S.CONFIRMED and at > too_close:
            if S.WITHDRAWN not in ALLOWED[Status(booking.status)]:
                raise _Stop
            self.close(
                story,
                minute(too_close, after=story.last),
                S.WITHDRAWN,
                Actor("organizer", booking.contact_name),
                "The event is too close now; we will manage without a speaker.",
            )
            raise _Stop
        return at

    def shortlist(self, story: _Story, at: datetime, me: Actor, *, exclude: set[int]) -> None:
        rng = self.rng
        booking = story.booking
        requested = [s for s in story.speakers if s.id not in exclude]
        others = [s for s in self.speakers if s not in requested and s.id not in exclude]
        rng.shuffle(others)
        picked = (requested + others)[: rng.choice([3, 4])]
        if len(picked) < 3:
            picked = (requested + others + [s for s in self.speakers if s.id in exclude])[:3]
        candidates = [
            Candidate(
                speaker_slug=speaker.slug,
                fee_quote=money(
                    Decimal(rng.randrange(speaker.fee_min, speaker.fee_max + 1, 500)),
                    booking.currency,
                ),
                home_city=speaker.home_city,
                note="You asked for this speaker." if speaker in requested else None,
            )
            for speaker in picked
        ]
        actions.shortlist(self.session, booking, candidates, actor=me, expected_version=None,
                          now=self.at(story, at))  # fmt: skip

    def offer(self, story: _Story, at: datetime, me: Actor, organizer: Actor) -> Offer | None:
        """The organizer's firm offer for a shortlisted speaker free on the date (None when
        no one is)."""
        booking = story.booking
        for entry in booking.shortlist:
            if self.is_free(entry.speaker, booking.starts_at):
                break
        else:
            return None
        by = organizer if self.rng.random() < 0.8 else me
        fee = round_fee(entry.fee_quote * self.rng.choice([Decimal("0.9"), Decimal("1")]),
                        booking.currency)  # fmt: skip
        terms = OfferTerms(
            speaker_slug=entry.speaker.slug,
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
            logistics=None if booking.is_virtual else w.TRAVEL_TERMS,
        )
        return actions.record_offer(self.session, booking, terms, actor=by,
                                    expected_version=None, now=self.at(story, at))  # fmt: skip

    def is_free(self, speaker: Speaker, starts_at: datetime) -> bool:
        # Two days either side is more than any travel buffer (24 h at most by default).
        busy = self.busy.get(speaker.id, [])
        return all(abs(other - starts_at) > timedelta(days=2) for other in busy)

    def speaker_answer(self, story: _Story, offer: Offer, *, accept: bool) -> None:
        at = self.later(story, hours=(3, 100))  # after the hold's expiry: expired instead
        reason = None if accept else self.rng.choice(w.SPEAKER_DECLINES)
        actions.speaker_answer(self.session, story.booking, offer, accept=accept, reason=reason,
                               now=self.at(story, at))  # fmt: skip

    def expire(self, story: _Story, hold: Hold) -> None:
        """Beat's expire_holds, which runs every minute."""
        at = self.at(story, minute(hold.expires_at + timedelta(seconds=30), after=story.last))
        self.session.flush()
        expire_hold(self.session, hold, at)

    def record_contract(self, story: _Story, offer: Offer, at: datetime, me: Actor) -> None:
        fee = offer.fee
        terms = ContractTerms(
            fee=fee,
            currency=offer.currency,
            commission_pct=self.rng.choice(w.COMMISSIONS),
            deposit_amount=fee * self.rng.choice([25, 30, 50]) // 100,
            deposit_due=(at + timedelta(days=14)).date(),
            travel_terms=None if offer.is_virtual else w.TRAVEL_TERMS,
        )
        actions.record_contract(self.session, story.booking, terms, actor=me,
                                expected_version=None, now=self.at(story, at))  # fmt: skip

    def close(self, story: _Story, at: datetime, to: Status, actor: Actor, reason: str) -> None:
        actions.close(self.session, story.booking, to, reason=reason, actor=actor,
                      expected_version=None, now=self.at(story, at))  # fmt: skip


def history_exists(session: AnySession) -> bool:
    return (
        session.scalars(
            select(BookingRequest.id).where(BookingRequest.source == SOURCE).limit(1)
        ).first()
        is not None
    )


def load_demo_history(
    session: AnySession, now: datetime | None = None, *, seed: int = w.SEED
) -> HistorySummary:
    """Add the demo history (once: nothing when demo requests exist) and return its tally.

    Needs the demo catalogue and staff desks (``bureau seed``). The caller commits.
    """
    if history_exists(session):
        return HistorySummary()
    now = (now or utcnow()).astimezone(UTC).replace(second=0, microsecond=0)
    rng = random.Random(seed)  # noqa: S311 - reproducible demo figures, not secrets
    history = _History(session, now, rng)
    desks = dict(session.execute(select(StaffMember.id, StaffMember.last_assigned_at)).all())
    # The weeks of the insights page's "Last 26 weeks": from the Monday 25 weeks back.
    this_monday = datetime.combine(now.date() - timedelta(days=now.weekday()), time(0), tzinfo=UTC)
    first_monday = this_monday - timedelta(weeks=w.WEEKS - 1)
    with quiet_outbox(session):
        for created in w.moments(rng, first_monday, latest=now - timedelta(hours=2)):
            story = history.request(created)
            history.play(story)
            history.stories.append(story)
        session.flush()
    # A desk's last assignment stays its latest: a real one after the history's is kept.
    for member in session.scalars(select(StaffMember)):
        before = desks.get(member.id)
        if before is not None and (
            member.last_assigned_at is None or member.last_assigned_at < before
        ):
            member.last_assigned_at = before
    session.flush()
    summary = tally(
        session,
        [s.booking for s in history.stories],
        {s.booking.id: s.engagement for s in history.stories if s.engagement is not None},
        first_monday.date(),
    )
    logger.info("demo history: %s", summary)
    return summary
