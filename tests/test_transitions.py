"""The booking state machine, table-driven: every (from, to) pair through ``transition()``,
every workflow action from every state, stale versions, the admin's correction and the hold
expiry sweep."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import product
from typing import Any

import pytest
from sqlalchemy import func, select

from bureau.bookings import actions
from bureau.bookings.models import BookingEvent, BookingRequest, Offer
from bureau.bookings.services import submit_request
from bureau.bookings.states import CLOSED_STATES, OPEN_STATES, Status
from bureau.bookings.validation import OfferTerms, validate_request
from bureau.bookings.workflow import ALLOWED, Actor, TransitionNotAllowed, transition
from bureau.calendar.holds import expire_holds
from bureau.calendar.models import Engagement, Hold, HoldState
from bureau.catalogue.models import Speaker
from bureau.db import AnySession, utcnow
from bureau.mail.recipients import MAIL_TASK
from bureau.outbox import Job
from bureau.staff.models import StaffMember
from tests.conftest import NEXT_YEAR, valid_request
from tests.workflow_helpers import OVERRIDE
from tests.workflow_helpers import offer_terms as shared_offer_terms

S = Status
ORGANIZER_EMAIL = "li.na@example.com"
DESK_EMAIL = "china.desk@bureau.localhost"
ADMIN_EMAIL = "management@bureau.localhost"
OFFERED_SPEAKER = "kaiser-kuo"
SPEAKER_EMAIL = "kaiser-kuo@speakers.bureau.localhost"
ORGANIZER = Actor("organizer", "Li Na")
CANDIDATES = [
    actions.Candidate("winston-ma", 15000, "New York"),
    actions.Candidate("kaiser-kuo", 12000, "Beijing"),
    actions.Candidate("ashley-dudarenok", 14000, "Hong Kong", "Retail and China"),
]
CONTRACT = actions.ContractTerms(
    fee=12500,
    currency="USD",
    commission_pct=Decimal("20"),
    deposit_amount=6250,
    deposit_due=date(NEXT_YEAR, 1, 15),
    travel_terms="Economy plus",
)
Session = AnySession
# A clock after every event these tests book (in NEXT_YEAR): completing is allowed then.
AFTER_THE_EVENTS = datetime(NEXT_YEAR + 1, 12, 31, tzinfo=UTC)


# --- building a booking in any state


def staff_id(session: Session, email: str) -> int:
    found = session.scalar(select(StaffMember.id).where(StaffMember.email == email))
    assert found is not None, f"the demo staff lost {email}"
    return found


def desk(session: Session) -> Actor:
    return Actor("staff", "Greater China desk", staff_id(session, DESK_EMAIL))


def admin(session: Session) -> Actor:
    return Actor("staff", "Management desk", staff_id(session, ADMIN_EMAIL))


def offer_terms(speaker: str = OFFERED_SPEAKER) -> OfferTerms:
    return shared_offer_terms(speaker=speaker)


def new_booking(session: Session) -> BookingRequest:
    valid, errors = validate_request(valid_request(), active_speakers=lambda slugs: set(slugs))
    assert valid is not None, errors
    return submit_request(session, valid, source="api", idempotency_key=None).booking


Step = Callable[[Session, BookingRequest], object]


def assign(session: Session, booking: BookingRequest) -> None:
    booking.assigned_staff_id = staff_id(session, DESK_EMAIL)
    booking.assigned_at = utcnow()
    booking.status = S.ASSIGNED


def leave_unassigned(session: Session, booking: BookingRequest) -> None:
    booking.status = S.UNASSIGNED


def shortlist(session: Session, booking: BookingRequest) -> None:
    actions.shortlist(
        session, booking, CANDIDATES, actor=desk(session), expected_version=booking.version
    )


def offer(session: Session, booking: BookingRequest) -> None:
    actions.record_offer(
        session, booking, offer_terms(), actor=desk(session), expected_version=booking.version
    )


def ask_speaker(session: Session, booking: BookingRequest) -> None:
    actions.request_availability(
        session, booking, actor=desk(session), expected_version=booking.version
    )


def speaker_says(accept: bool) -> Step:
    def step(session: Session, booking: BookingRequest) -> None:
        actions.speaker_answer(session, booking, booking.offer, accept=accept, reason="Diary")

    return step


def contract(session: Session, booking: BookingRequest) -> None:
    actions.record_contract(
        session, booking, CONTRACT, actor=desk(session), expected_version=booking.version
    )


def confirm(session: Session, booking: BookingRequest) -> None:
    actions.confirm(
        session, booking, actor=desk(session), expected_version=booking.version, **OVERRIDE
    )


def complete(session: Session, booking: BookingRequest) -> None:
    actions.complete(
        session,
        booking,
        actor=desk(session),
        expected_version=booking.version,
        feedback="Great",
        now=AFTER_THE_EVENTS,
    )


def close_as(to: Status) -> Step:
    def step(session: Session, booking: BookingRequest) -> None:
        actions.close(
            session,
            booking,
            to,
            reason="Budget gone",
            actor=desk(session),
            expected_version=booking.version,
        )

    return step


def let_hold_lapse(session: Session, booking: BookingRequest) -> None:
    hold = active_hold(session, booking.id)
    assert expire_holds(session, now=hold.expires_at + timedelta(minutes=1)) == 1
    session.refresh(booking)


_OFFERED: list[Step] = [assign, shortlist, offer]
_ASKED: list[Step] = [*_OFFERED, ask_speaker]
_CONTRACTED: list[Step] = [*_ASKED, speaker_says(True), contract]
_CONFIRMED: list[Step] = [*_CONTRACTED, confirm]
# How a booking reaches each state the way the bureau would take it there.
PATHS: dict[Status, list[Step]] = {
    S.NEW: [],
    S.UNASSIGNED: [leave_unassigned],
    S.ASSIGNED: [assign],
    S.SHORTLISTED: [assign, shortlist],
    S.OFFER_RECEIVED: _OFFERED,
    S.AWAITING_SPEAKER: _ASKED,
    S.SPEAKER_DECLINED: [*_ASKED, speaker_says(False)],
    S.SPEAKER_ACCEPTED: [*_ASKED, speaker_says(True)],
    S.CONTRACTED: _CONTRACTED,
    S.CONFIRMED: _CONFIRMED,
    S.COMPLETED: [*_CONFIRMED, complete],
    S.DECLINED: [assign, close_as(S.DECLINED)],
    S.WITHDRAWN: [assign, shortlist, close_as(S.WITHDRAWN)],
    S.CANCELLED: [*_CONFIRMED, close_as(S.CANCELLED)],
    S.EXPIRED: [*_ASKED, let_hold_lapse],
}


def booking_in(session: Session, status: Status) -> BookingRequest:
    booking = new_booking(session)
    for step in PATHS[status]:
        step(session, booking)
        session.commit()
    assert booking.status == status
    return booking


def forced_into(session: Session, status: Status) -> BookingRequest:
    """A fresh request whose status is simply set (what transition() itself must cope with)."""
    booking = new_booking(session)
    booking.status = status
    session.commit()
    return booking


# --- reading what happened


def active_hold(session: Session, booking_id: int) -> Hold:
    return session.scalars(
        select(Hold).where(Hold.booking_id == booking_id, Hold.state == HoldState.ACTIVE)
    ).one()


def events(session: Session, booking_id: int) -> list[BookingEvent]:
    return list(
        session.scalars(
            select(BookingEvent)
            .where(BookingEvent.booking_id == booking_id)
            .order_by(BookingEvent.id)
        )
    )


def mail_jobs(session: Session, booking_id: int) -> dict[int, tuple[str, str]]:
    return {
        job.id: (job.kind, job.recipient or "")
        for job in session.scalars(
            select(Job).where(Job.booking_id == booking_id, Job.task == MAIL_TASK)
        )
    }


def snapshot(session: Session, booking_id: int) -> dict[str, Any]:
    """Everything an action may touch, read afresh from the database."""
    session.expire_all()
    booking = session.get(BookingRequest, booking_id)
    return {
        "status": booking.status,
        "version": booking.version,
        "assigned": booking.assigned_staff_id,
        "closed_reason": booking.closed_reason,
        "feedback": booking.feedback,
        "events": session.scalar(
            select(func.count())
            .select_from(BookingEvent)
            .where(BookingEvent.booking_id == booking_id)
        ),
        "jobs": sorted(
            (job.kind, job.recipient or "", job.sequence)
            for job in session.scalars(select(Job).where(Job.booking_id == booking_id))
        ),
        "holds": sorted(
            (hold.id, hold.state)
            for hold in session.scalars(select(Hold).where(Hold.booking_id == booking_id))
        ),
        "offers": [(o.id, o.speaker_id, o.fee, o.response) for o in booking.offers],
        "shortlist": [(e.speaker_id, e.fee_quote) for e in booking.shortlist],
        "contract": None if booking.contract is None else booking.contract.fee,
        "engagements": sorted(
            (e.id, e.uid, e.sequence, e.is_cancelled)
            for e in session.scalars(select(Engagement).where(Engagement.booking_id == booking_id))
        ),
    }


# --- transition(): the table itself


def sources(target: Status) -> set[Status]:
    return {state for state in Status if target in ALLOWED[state]}


def test_the_table_names_every_state_and_closed_states_stay_closed() -> None:
    assert set(ALLOWED) == set(Status)
    for state in CLOSED_STATES - {S.EXPIRED}:
        assert ALLOWED[state] == set(), state
    assert ALLOWED[S.EXPIRED] == {S.SHORTLISTED}
    for state in OPEN_STATES - {S.CONFIRMED}:
        assert {S.DECLINED, S.WITHDRAWN, S.CANCELLED} <= ALLOWED[state], state


@pytest.mark.parametrize(
    ("start", "to"),
    [pytest.param(a, b, id=f"{a.value}->{b.value}") for a, b in product(Status, Status)],
)
def test_transition_follows_the_table(db_session: Session, start: Status, to: Status) -> None:
    session = db_session
    booking = forced_into(session, start)
    before = snapshot(session, booking.id)
    actor = desk(session)

    if to in ALLOWED[start]:
        entry = transition(
            session,
            booking,
            to,
            actor=actor,
            action="test step",
            details={"n": 1},
            now=AFTER_THE_EVENTS,
        )
        session.commit()
        after = snapshot(session, booking.id)
        assert after["status"] == to
        assert after["version"] == before["version"] + 1, "the optimistic lock did not move"
        assert after["events"] == before["events"] + 1
        written = events(session, booking.id)[-1]
        assert written.id == entry.id
        assert (written.from_status, written.to_status) == (start, to)
        assert (written.action, written.actor_kind, written.actor_id) == (
            "test step",
            "staff",
            actor.id,
        )
        assert written.details == {"n": 1}
        assert {k: v for k, v in after.items() if k not in ("status", "version", "events")} == {
            k: v for k, v in before.items() if k not in ("status", "version", "events")
        }
    else:
        with pytest.raises(TransitionNotAllowed, match=f"{start} → {to} is not allowed"):
            transition(session, booking, to, actor=actor, action="test step")
        assert booking.status == start  # refused before anything was touched
        assert not session.new
        session.commit()  # even committing now stores nothing
        assert snapshot(session, booking.id) == before


# --- the workflow actions


Who = str  # "organizer", "desk" (the assigned agent) or "speaker"
RECIPIENTS = {"organizer": ORGANIZER_EMAIL, "desk": DESK_EMAIL, "speaker": SPEAKER_EMAIL}
Run = Callable[[Session, BookingRequest, "int | None"], object]
# A confirmation sends a calendar invitation to each attendee; cancelling it, a CANCEL.
INVITES = (("mail.invite", "organizer"), ("mail.invite", "speaker"), ("mail.invite", "desk"))


def ensure_offer(session: Session, booking: BookingRequest) -> None:
    """The speaker answers an offer; give offer-less bookings one, without changing state."""
    if booking.offer is not None:
        return
    terms = offer_terms()
    values = {k: v for k, v in terms.__dict__.items() if k != "speaker_slug"}
    speaker_id = session.scalar(select(Speaker.id).where(Speaker.slug == OFFERED_SPEAKER))
    session.add(Offer(booking_id=booking.id, speaker_id=speaker_id, made_by="staff", **values))
    session.commit()
    session.refresh(booking)


def no_preparation(session: Session, booking: BookingRequest) -> None:
    return None


@dataclass(frozen=True)
class Action:
    name: str
    target: Status
    run: Run
    mails: tuple[tuple[str, Who], ...] = ()
    actor_kind: str = "staff"
    versioned: bool = True
    home: Status = S.ASSIGNED  # the state it is most naturally taken from
    prepare: Step = no_preparation
    holds_after: str | None = None  # what becomes of the booking's active holds
    extra: Callable[[Session, BookingRequest], None] = field(default=lambda s, b: None)

    def __str__(self) -> str:
        return self.name


def _shortlist(session: Session, booking: BookingRequest, version: int | None) -> None:
    actions.shortlist(session, booking, CANDIDATES, actor=desk(session), expected_version=version)


def _offer_by(who: str) -> Run:
    def run(session: Session, booking: BookingRequest, version: int | None) -> None:
        actor = ORGANIZER if who == "organizer" else desk(session)
        actions.record_offer(session, booking, offer_terms(), actor=actor, expected_version=version)

    return run


def _ask(session: Session, booking: BookingRequest, version: int | None) -> None:
    actions.request_availability(
        session, booking, actor=desk(session), expected_version=version, hold_for=timedelta(days=5)
    )


def _answer(accept: bool) -> Run:
    def run(session: Session, booking: BookingRequest, version: int | None) -> None:
        actions.speaker_answer(session, booking, booking.offer, accept=accept, reason="Diary")

    return run


def _contract(session: Session, booking: BookingRequest, version: int | None) -> None:
    actions.record_contract(
        session, booking, CONTRACT, actor=desk(session), expected_version=version
    )


def _confirm(session: Session, booking: BookingRequest, version: int | None) -> None:
    actions.confirm(session, booking, actor=desk(session), expected_version=version, **OVERRIDE)


def _complete(session: Session, booking: BookingRequest, version: int | None) -> None:
    actions.complete(
        session,
        booking,
        actor=desk(session),
        expected_version=version,
        feedback="Superb",
        now=AFTER_THE_EVENTS,
    )


def _close(to: Status, who: str) -> Run:
    def run(session: Session, booking: BookingRequest, version: int | None) -> None:
        actor = ORGANIZER if who == "organizer" else desk(session)
        actions.close(
            session, booking, to, reason="Plans changed", actor=actor, expected_version=version
        )

    return run


def _check_shortlist(session: Session, booking: BookingRequest) -> None:
    assert [(e.speaker.slug, e.fee_quote) for e in booking.shortlist] == [
        (c.speaker_slug, c.fee_quote) for c in CANDIDATES
    ]


def _check_offer(made_by: str) -> Callable[[Session, BookingRequest], None]:
    def check(session: Session, booking: BookingRequest) -> None:
        assert booking.offer.speaker.slug == OFFERED_SPEAKER
        assert (booking.offer.fee, booking.offer.made_by) == (12500, made_by)

    return check


def _check_hold(session: Session, booking: BookingRequest) -> None:
    hold = active_hold(session, booking.id)
    assert hold.offer_id == booking.offer.id
    assert hold.speaker_id == booking.offer.speaker_id
    assert (hold.starts_at, hold.ends_at) == (booking.offer.starts_at, booking.offer.ends_at)
    assert (
        timedelta(days=5) - timedelta(minutes=1) < hold.expires_at - utcnow() <= timedelta(days=5)
    )


def _check_answer(response: str) -> Callable[[Session, BookingRequest], None]:
    def check(session: Session, booking: BookingRequest) -> None:
        assert (booking.offer.response, booking.offer.response_reason) == (response, "Diary")

    return check


def _check_contract(session: Session, booking: BookingRequest) -> None:
    assert (booking.contract.fee, booking.contract.deposit_amount) == (12500, 6250)


def _check_closed(session: Session, booking: BookingRequest) -> None:
    assert booking.closed_reason == "Plans changed"
    engagement = session.scalars(
        select(Engagement).where(Engagement.booking_id == booking.id)
    ).one_or_none()
    if engagement is not None:  # it was confirmed: calendars are told to drop the entry
        assert (engagement.is_cancelled, engagement.sequence) == (True, 1)
        cancels = session.scalars(
            select(Job).where(Job.booking_id == booking.id, Job.kind == "mail.invite")
        ).all()
        assert sorted((j.sequence, j.payload["method"]) for j in cancels) == [
            (0, "REQUEST"),
            (0, "REQUEST"),
            (0, "REQUEST"),
            (1, "CANCEL"),
            (1, "CANCEL"),
            (1, "CANCEL"),
        ]


def _check_engagement(session: Session, booking: BookingRequest) -> None:
    engagement = session.scalars(
        select(Engagement).where(Engagement.booking_id == booking.id)
    ).one()
    assert (engagement.sequence, engagement.is_cancelled) == (0, False)
    assert engagement.speaker_id == booking.offer.speaker_id
    assert (engagement.starts_at, engagement.ends_at) == (
        booking.offer.starts_at,
        booking.offer.ends_at,
    )


ACTIONS = [
    Action(
        "shortlist",
        S.SHORTLISTED,
        _shortlist,
        (("mail.proposal", "organizer"),),
        extra=_check_shortlist,
    ),
    Action(
        "offer by organizer",
        S.OFFER_RECEIVED,
        _offer_by("organizer"),
        (("mail.offer_received", "desk"),),
        actor_kind="organizer",
        home=S.SHORTLISTED,
        extra=_check_offer("organizer"),
    ),
    Action(
        "offer by staff",
        S.OFFER_RECEIVED,
        _offer_by("staff"),
        (),
        home=S.SHORTLISTED,
        extra=_check_offer("staff"),
    ),
    Action(
        "request availability",
        S.AWAITING_SPEAKER,
        _ask,
        (("mail.availability_request", "speaker"),),
        home=S.OFFER_RECEIVED,
        holds_after=HoldState.ACTIVE,
        extra=_check_hold,
    ),
    Action(
        "speaker accepts",
        S.SPEAKER_ACCEPTED,
        _answer(True),
        (("mail.speaker_answered", "desk"), ("mail.speaker_accepted", "organizer")),
        actor_kind="speaker",
        versioned=False,
        home=S.AWAITING_SPEAKER,
        prepare=ensure_offer,
        holds_after=HoldState.ACTIVE,
        extra=_check_answer("accepted"),
    ),
    Action(
        "speaker declines",
        S.SPEAKER_DECLINED,
        _answer(False),
        (("mail.speaker_answered", "desk"), ("mail.speaker_declined", "organizer")),
        actor_kind="speaker",
        versioned=False,
        home=S.AWAITING_SPEAKER,
        prepare=ensure_offer,
        holds_after=HoldState.RELEASED,
        extra=_check_answer("declined"),
    ),
    Action(
        "contract",
        S.CONTRACTED,
        _contract,
        (("mail.contract_ready", "organizer"),),
        home=S.SPEAKER_ACCEPTED,
        holds_after=HoldState.ACTIVE,
        extra=_check_contract,
    ),
    Action(
        "confirm",
        S.CONFIRMED,
        _confirm,
        (("mail.confirmed", "organizer"), *INVITES),
        home=S.CONTRACTED,
        holds_after=HoldState.CONFIRMED,
        extra=_check_engagement,
    ),
    Action(
        "complete",
        S.COMPLETED,
        _complete,
        (("mail.feedback_request", "organizer"),),
        home=S.CONFIRMED,
    ),
    Action(
        "decline by staff",
        S.DECLINED,
        _close(S.DECLINED, "staff"),
        (("mail.status_update", "organizer"),),
        home=S.AWAITING_SPEAKER,
        holds_after=HoldState.RELEASED,
        extra=_check_closed,
    ),
    Action(
        "withdraw by organizer",
        S.WITHDRAWN,
        _close(S.WITHDRAWN, "organizer"),
        (("mail.status_update", "desk"),),
        actor_kind="organizer",
        home=S.AWAITING_SPEAKER,
        holds_after=HoldState.RELEASED,
        extra=_check_closed,
    ),
    Action(
        "withdraw by staff",
        S.WITHDRAWN,
        _close(S.WITHDRAWN, "staff"),
        (("mail.status_update", "organizer"),),
        home=S.SPEAKER_ACCEPTED,
        holds_after=HoldState.RELEASED,
        extra=_check_closed,
    ),
    Action(
        "cancel by staff",
        S.CANCELLED,
        _close(S.CANCELLED, "staff"),
        (("mail.cancelled", "organizer"),),
        home=S.CONFIRMED,
        holds_after=HoldState.RELEASED,
        extra=_check_closed,
    ),
    Action(
        "cancel by organizer",
        S.CANCELLED,
        _close(S.CANCELLED, "organizer"),
        (("mail.status_update", "desk"),),
        actor_kind="organizer",
        home=S.CONTRACTED,
        holds_after=HoldState.RELEASED,
        extra=_check_closed,
    ),
]


def test_every_action_is_taken_from_a_state_the_table_allows() -> None:
    for action in ACTIONS:
        assert action.home in sources(action.target), action.name


ALLOWED_CASES = [
    pytest.param(action, state, id=f"{action}-from-{state.value}")
    for action in ACTIONS
    for state in Status
    if state in sources(action.target)
]
WRONG_CASES = [
    pytest.param(action, state, id=f"{action}-from-{state.value}")
    for action in ACTIONS
    for state in Status
    if state not in sources(action.target)
]


def expected_mails(
    action: Action, booking: BookingRequest, *, was_confirmed: bool
) -> list[tuple[str, str]]:
    wanted = []
    closing = action.target in actions.CLOSINGS
    calendar_cancel = INVITES if was_confirmed and closing else ()
    for kind, who in (*action.mails, *calendar_cancel):
        if who == "desk" and booking.assigned_staff_id is None:
            continue  # nobody to tell
        wanted.append((kind, RECIPIENTS[who]))
    return sorted(wanted)


@pytest.mark.parametrize(("action", "start"), ALLOWED_CASES)
def test_action_from_an_allowed_state(db_session: Session, action: Action, start: Status) -> None:
    session = db_session
    booking = booking_in(session, start)
    action.prepare(session, booking)
    before = snapshot(session, booking.id)
    mails_before = mail_jobs(session, booking.id)
    holds_before = [hold_id for hold_id, state in before["holds"] if state == HoldState.ACTIVE]

    action.run(session, booking, booking.version)
    session.commit()

    after = snapshot(session, booking.id)
    assert after["status"] == action.target
    # Some steps write the row twice (close: the reason, then the status), so "moved" only.
    assert after["version"] > before["version"], "the optimistic lock did not move"
    new_events = events(session, booking.id)[before["events"] :]
    assert [(e.from_status, e.to_status, e.actor_kind) for e in new_events] == [
        (start, action.target, action.actor_kind)
    ]
    new_mails = sorted(
        v for k, v in mail_jobs(session, booking.id).items() if k not in mails_before
    )
    assert new_mails == expected_mails(action, booking, was_confirmed=start == S.CONFIRMED)

    holds_after = dict(after["holds"])
    if action.holds_after is not None:
        for hold_id in holds_before:
            assert holds_after[hold_id] == action.holds_after, "the held date"
    else:
        assert after["holds"] == before["holds"]
    if action.target in CLOSED_STATES:
        assert HoldState.ACTIVE not in holds_after.values()
    action.extra(session, session.get(BookingRequest, booking.id))


@pytest.mark.parametrize(("action", "start"), WRONG_CASES)
def test_action_from_a_wrong_state_is_refused_and_changes_nothing(
    db_session: Session, action: Action, start: Status
) -> None:
    session = db_session
    booking = booking_in(session, start)
    action.prepare(session, booking)
    before = snapshot(session, booking.id)
    booking = session.get(BookingRequest, booking.id)

    with pytest.raises((TransitionNotAllowed, actions.ActionError)):
        action.run(session, booking, booking.version)
    session.rollback()  # what every caller does on these errors
    assert snapshot(session, booking.id) == before


VERSIONED = [pytest.param(a, id=str(a)) for a in ACTIONS if a.versioned]


@pytest.mark.parametrize("action", VERSIONED)
@pytest.mark.parametrize("off_by", [-1, 1])
def test_a_stale_version_is_a_conflict_and_changes_nothing(
    db_session: Session, action: Action, off_by: int
) -> None:
    session = db_session
    booking = booking_in(session, action.home)
    before = snapshot(session, booking.id)
    booking = session.get(BookingRequest, booking.id)

    with pytest.raises(actions.Conflict, match="changed by someone else"):
        action.run(session, booking, booking.version + off_by)
    assert not session.new
    assert not session.dirty
    assert not session.deleted
    session.rollback()
    assert snapshot(session, booking.id) == before


def test_a_second_shortlist_moves_the_version(db_session: Session) -> None:
    """A form from before a re-shortlist must not overwrite it (lost update)."""
    session = db_session
    booking = booking_in(session, S.SHORTLISTED)
    seen = booking.version
    actions.shortlist(
        session, booking, CANDIDATES[::-1], actor=desk(session), expected_version=seen
    )
    session.commit()
    with pytest.raises(actions.Conflict):
        actions.shortlist(session, booking, CANDIDATES, actor=desk(session), expected_version=seen)
    session.rollback()
    assert [e.speaker.slug for e in booking.shortlist] == [c.speaker_slug for c in CANDIDATES[::-1]]


# --- the admin's correction


@pytest.mark.parametrize("start", [pytest.param(s, id=s.value) for s in Status])
def test_admins_correct_any_state_with_an_audited_entry(db_session: Session, start: Status) -> None:
    session = db_session
    booking = booking_in(session, start)
    to = S.ASSIGNED if start != S.ASSIGNED else S.SHORTLISTED
    before = snapshot(session, booking.id)
    mails_before = mail_jobs(session, booking.id)
    corrector = admin(session)

    actions.correct_state(
        session,
        booking,
        to,
        reason="Clicked the wrong button",
        actor=corrector,
        actor_is_admin=True,
        expected_version=booking.version,
    )
    session.commit()

    after = snapshot(session, booking.id)
    assert after["status"] == to
    assert after["version"] == before["version"] + 1
    new_events = events(session, booking.id)[before["events"] :]
    assert [
        (e.action, e.from_status, e.to_status, e.actor_id, e.details, e.public_message)
        for e in new_events
    ] == [
        (
            "state corrected",
            start,
            to,
            corrector.id,
            {"reason": "Clicked the wrong button"},
            None,
        )
    ]
    assert mail_jobs(session, booking.id) == mails_before


@pytest.mark.parametrize(
    ("is_admin", "reason", "version_off_by", "error"),
    [
        pytest.param(False, "I think it is done", 0, actions.ActionError, id="not an admin"),
        pytest.param(True, "   ", 0, actions.ActionError, id="no reason"),
        pytest.param(True, "Fixing it", -1, actions.Conflict, id="stale version"),
    ],
)
def test_a_correction_is_refused_and_changes_nothing(
    db_session: Session,
    is_admin: bool,
    reason: str,
    version_off_by: int,
    error: type[Exception],
) -> None:
    session = db_session
    booking = booking_in(session, S.AWAITING_SPEAKER)
    before = snapshot(session, booking.id)
    booking = session.get(BookingRequest, booking.id)
    with pytest.raises(error):
        actions.correct_state(
            session,
            booking,
            S.CONFIRMED,
            reason=reason,
            actor=desk(session) if not is_admin else admin(session),
            actor_is_admin=is_admin,
            expected_version=booking.version + version_off_by,
        )
    assert booking.status == S.AWAITING_SPEAKER
    session.rollback()
    assert snapshot(session, booking.id) == before


# --- holds that run out


@pytest.mark.parametrize(
    "start",
    [pytest.param(s, id=s.value) for s in (S.AWAITING_SPEAKER, S.SPEAKER_ACCEPTED, S.CONTRACTED)],
)
def test_an_expired_hold_expires_the_booking_once(db_session: Session, start: Status) -> None:
    session = db_session
    booking = booking_in(session, start)
    hold = active_hold(session, booking.id)
    expires_at, hold_id, booking_id = hold.expires_at, hold.id, booking.id
    before = snapshot(session, booking_id)
    mails_before = mail_jobs(session, booking_id)

    assert expire_holds(session, now=expires_at - timedelta(minutes=1)) == 0
    assert snapshot(session, booking_id) == before  # not yet

    assert expire_holds(session, now=expires_at + timedelta(seconds=1)) == 1
    after = snapshot(session, booking_id)
    assert after["status"] == S.EXPIRED
    assert after["version"] == before["version"] + 1
    assert dict(after["holds"])[hold_id] == HoldState.EXPIRED
    entry = events(session, booking_id)[-1]
    assert (entry.action, entry.from_status, entry.to_status, entry.actor_kind) == (
        "hold expired",
        start,
        S.EXPIRED,
        "system",
    )
    new_mails = sorted(
        v for k, v in mail_jobs(session, booking_id).items() if k not in mails_before
    )
    assert new_mails == sorted(
        [("mail.hold_expired", ORGANIZER_EMAIL), ("mail.hold_expired", DESK_EMAIL)]
    )

    # The next sweep finds nothing more to do.
    assert expire_holds(session, now=expires_at + timedelta(days=1)) == 0
    assert snapshot(session, booking_id) == after


@pytest.mark.parametrize(
    "start",
    [pytest.param(s, id=s.value) for s in (S.SPEAKER_DECLINED, S.CONFIRMED, S.CANCELLED)],
)
def test_holds_that_ended_are_not_expired(db_session: Session, start: Status) -> None:
    session = db_session
    booking = booking_in(session, start)
    hold = session.scalars(select(Hold).where(Hold.booking_id == booking.id)).one()
    assert hold.state != HoldState.ACTIVE
    before = snapshot(session, booking.id)
    assert expire_holds(session, now=hold.expires_at + timedelta(days=1)) == 0
    assert snapshot(session, booking.id) == before
