"""The bureau's booking process, one function per step, each built on transition().

Every action checks the version the actor saw (optimistic locking: a stale form is refused
with ``Conflict``), changes state through ``transition`` (which writes the timeline entry),
and records the emails the step implies in the same transaction. The caller commits; a
concurrent commit in between still fails, at flush, on the version column. ``now`` (default:
the present) stamps every row a step writes: the demo history plays the past with it.
The steps from offer to contract are in offers.py (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import select

from bureau.billing.automatic import cancellation_invoice
from bureau.billing.payouts import make_statement
from bureau.bookings import notifications as notify
from bureau.bookings.models import RATINGS, BookingRequest, OrganizerFeedback, ShortlistEntry
from bureau.bookings.offers import DEFAULT_HOLD as DEFAULT_HOLD
from bureau.bookings.offers import ContractTerms as ContractTerms
from bureau.bookings.offers import record_contract as record_contract
from bureau.bookings.offers import record_offer as record_offer
from bureau.bookings.offers import request_availability as request_availability
from bureau.bookings.offers import speaker_answer as speaker_answer
from bureau.bookings.states import CLOSED_STATES, Status, organizer_label
from bureau.bookings.validation import OfferTerms
from bureau.bookings.workflow import ALLOWED, Actor, assign, note, transition
from bureau.bookings.workflow import ActionError as ActionError
from bureau.bookings.workflow import Conflict as Conflict
from bureau.bookings.workflow import check_version as check_version
from bureau.calendar.conflicts import refuse_conflicts
from bureau.calendar.holds import end_holds
from bureau.calendar.invites import engagement_for, location_of, send_invites
from bureau.calendar.models import Engagement, HoldState
from bureau.calendar.titles import shown_location
from bureau.catalogue.models import Speaker
from bureau.contracts.flow import gate as contract_gate
from bureau.db import AnySession, utcnow
from bureau.mail.facts import engagement_facts
from bureau.staff.models import StaffMember
from bureau.templating import short_time, zone, zone_words

MIN_SHORTLIST, MAX_SHORTLIST = 3, 4


@dataclass(frozen=True)
class Candidate:
    speaker_slug: str
    fee_quote: int
    home_city: str
    note: str | None = None


def shortlist(
    session: AnySession,
    booking: BookingRequest,
    candidates: list[Candidate],
    *,
    actor: Actor,
    expected_version: int | None,
    now: datetime | None = None,
) -> None:
    """Propose 3 or 4 candidates with fee quotes and home cities; the organizer gets them."""
    check_version(booking, expected_version)
    if not MIN_SHORTLIST <= len(candidates) <= MAX_SHORTLIST:
        raise ActionError(f"Pick {MIN_SHORTLIST} or {MAX_SHORTLIST} candidates.")
    slugs = [c.speaker_slug for c in candidates]
    if len(set(slugs)) != len(slugs):
        raise ActionError("Each candidate can be on the shortlist only once.")
    speakers = {
        s.slug: s
        for s in session.scalars(select(Speaker).where(Speaker.slug.in_(slugs), Speaker.is_active))
    }
    missing = [slug for slug in slugs if slug not in speakers]
    if missing:
        raise ActionError(f"Not an active speaker: {', '.join(missing)}.")
    booking.shortlist.clear()
    session.flush()
    booking.shortlist.extend(
        ShortlistEntry(
            speaker=speakers[c.speaker_slug],
            position=i,
            fee_quote=c.fee_quote,
            currency=booking.currency,
            home_city=c.home_city,
            note=c.note,
        )
        for i, c in enumerate(candidates, start=1)
    )
    transition(
        session,
        booking,
        Status.SHORTLISTED,
        actor=actor,
        action="shortlisted",
        public_message=_l("We sent you a shortlist of %(count)s speakers.", count=len(candidates)),
        details={"candidates": [c.__dict__ for c in candidates]},
        now=now,
    )
    notify.notify_shortlisted(session, booking)


def confirm(
    session: AnySession,
    booking: BookingRequest,
    *,
    actor: Actor,
    expected_version: int | None,
    override_reason: str | None = None,
    actor_is_admin: bool = False,
    now: datetime | None = None,
) -> Engagement:
    """Confirm the contracted offer: its hold confirmed, an engagement, invitations sent.
    It needs the contract accepted and the deposit paid (contracts/flow.py's gate); before
    that only an admin may, giving ``override_reason`` (kept on the timeline)."""
    check_version(booking, expected_version)
    now = now or utcnow()
    if booking.contract is None:
        raise ActionError("Record the contract first.")
    offer = booking.offer
    if offer is None:
        raise ActionError("There is no firm offer to confirm.")
    overriding = (override_reason or "").strip()
    refused = contract_gate(session, booking).refusal(booking.reference)
    if refused and not (overriding and actor_is_admin):
        raise ActionError(
            refused
            if not overriding
            else "Only an admin can confirm before the contract is "
            "accepted and the deposit paid. Nothing was changed."
        )
    audit = {"override": overriding, "refused": refused} if refused else None
    refuse_conflicts(session, booking, offer.speaker, offer)
    end_holds(session, booking, HoldState.CONFIRMED, now)
    transition(
        session,
        booking,
        Status.CONFIRMED,
        actor=actor,
        action="confirmed",
        public_message=_l("Your booking is confirmed; calendar invitations are on their way."),
        details=audit,
        now=now,
    )
    engagement = engagement_for(booking, offer)
    engagement.created_at = engagement.updated_at = now
    session.add(engagement)
    session.flush()
    send_invites(session, booking, engagement, "REQUEST")
    notify.notify_confirmed(session, booking, engagement)
    return engagement


def complete(
    session: AnySession,
    booking: BookingRequest,
    *,
    actor: Actor,
    expected_version: int | None,
    feedback: str | None,
    early_reason: str | None = None,
    actor_is_admin: bool = False,
    now: datetime | None = None,
) -> None:
    """Record that the event took place, once it has ended; before that only an admin,
    giving ``early_reason`` (kept on the timeline), may. ``feedback`` is staff's completion
    note. The organizer is asked for their own feedback (one email per booking, ever)."""
    check_version(booking, expected_version)
    if early_reason and early_reason.strip() and not actor_is_admin:
        raise ActionError("Only an admin can complete a booking before its event ends.")
    booking.feedback = feedback
    transition(
        session,
        booking,
        Status.COMPLETED,
        actor=actor,
        action="completed",
        public_message=_l("The event took place. Thank you!"),
        details={"feedback": feedback},
        now=now,
        overriding=early_reason,
    )
    make_statement(session, booking)  # what the speaker is owed, due after the event
    notify.notify_completed(session, booking)


def leave_feedback(
    session: AnySession,
    booking: BookingRequest,
    rating: int,
    comments: str | None,
    *,
    now: datetime | None = None,
) -> OrganizerFeedback:
    """The organizer's rating (1-5) and comments on a completed booking, given once: a
    second is refused (the unique booking_id refuses a racing one at flush). A timeline
    entry says the rating; the comments stay in their own row (personal data)."""
    if booking.status != Status.COMPLETED:
        raise ActionError(_("Feedback can be given once the event has taken place."))
    if booking.organizer_feedback is not None:
        raise ActionError(_("You already sent your feedback for this booking; thank you."))
    if rating not in RATINGS:
        raise ActionError(_("Choose a rating from 1 to 5."))
    now = now or utcnow()
    entry = OrganizerFeedback(
        booking_id=booking.id, rating=rating, comments=comments or None, created_at=now
    )
    booking.organizer_feedback = entry
    session.add(entry)
    note(
        session,
        booking,
        actor=Actor("organizer", booking.contact_name),
        action="left feedback",
        public_message=_l("Organizer left feedback: %(rating)s/5.", rating=rating),
        details={"rating": rating},
        now=now,
    )
    # The timeline entry is a change: the version rises, so a stale form elsewhere fails.
    booking.updated_at = now
    return entry


# The closing states and their timeline sentence, with the reason as given.
CLOSINGS: dict[Status, Callable[[str], LazyString]] = {
    Status.DECLINED: lambda why: _l("The bureau declined this request: %(reason)s", reason=why),
    Status.WITHDRAWN: lambda why: _l("The request was withdrawn: %(reason)s", reason=why),
    Status.CANCELLED: lambda why: _l("The booking was cancelled: %(reason)s", reason=why),
}


def close(
    session: AnySession,
    booking: BookingRequest,
    to: Status,
    *,
    reason: str,
    actor: Actor,
    expected_version: int | None,
    now: datetime | None = None,
) -> None:
    """Decline (bureau), withdraw (organizer) or cancel, with a reason, from any open state."""
    check_version(booking, expected_version)
    if to not in CLOSINGS:
        raise ActionError("Choose decline, withdraw or cancel.")
    if not can(booking, to):
        allowed = [s.value for s in CLOSINGS if can(booking, s)]
        state = organizer_label(booking.status).lower()
        raise ActionError(
            _(
                "%(reference)s is %(state)s: it can be %(allowed)s, not %(to)s. "
                "Nothing was changed.",
                reference=booking.reference,
                state=state,
                allowed=" or ".join(allowed),
                to=to.value,
            )
            if allowed
            else _(
                "%(reference)s is %(state)s and cannot be closed. Nothing was changed.",
                reference=booking.reference,
                state=state,
            )
        )
    if not reason.strip():
        raise ActionError("Give a reason.")
    now = now or utcnow()
    was = booking.status
    booking.closed_reason = reason
    end_holds(session, booking, HoldState.RELEASED, now)
    engagement = session.scalars(
        select(Engagement).where(Engagement.booking_id == booking.id)
    ).one_or_none()
    if engagement is not None and not engagement.is_cancelled:
        # Same UID, a higher SEQUENCE, METHOD:CANCEL: calendars drop their entry.
        engagement.is_cancelled = True
        engagement.sequence += 1
        engagement.updated_at = now
        send_invites(session, booking, engagement, "CANCEL")
    transition(
        session,
        booking,
        to,
        actor=actor,
        action=to.value,
        public_message=CLOSINGS[to](reason),
        details={"reason": reason},
        now=now,
    )
    notify.notify_closed(
        session, booking, to, by_organizer=actor.kind == "organizer", engagement=engagement
    )
    if to == Status.CANCELLED:  # what the schedule keeps, invoiced and emailed
        cancellation_invoice(session, booking, was=was, actor=actor, now=now)


def correct_state(
    session: AnySession,
    booking: BookingRequest,
    to: Status,
    *,
    reason: str,
    actor: Actor,
    actor_is_admin: bool,
    expected_version: int | None,
    now: datetime | None = None,
) -> None:
    """An admin's correction of a mistaken state, outside the transitions table; audited."""
    if not actor_is_admin:
        raise ActionError("Only an admin can correct a state.")
    check_version(booking, expected_version)
    if not reason.strip():
        raise ActionError("Say why the state is corrected.")
    previous = booking.status
    booking.status = to
    note(
        session,
        booking,
        actor=actor,
        action="state corrected",
        from_status=previous,
        to_status=to,
        details={"reason": reason},
        now=now,
    )


def reschedule(
    session: AnySession,
    booking: BookingRequest,
    terms: OfferTerms,
    *,
    actor: Actor,
    expected_version: int | None,
    now: datetime | None = None,
) -> Engagement:
    """Move a confirmed booking in time or place: conflicts are checked again, and every
    attendee gets the updated invitation (same UID, SEQUENCE + 1)."""
    check_version(booking, expected_version)
    engagement = session.scalars(
        select(Engagement).where(Engagement.booking_id == booking.id)
    ).one_or_none()
    if booking.status != Status.CONFIRMED or engagement is None or engagement.is_cancelled:
        raise ActionError("Only a confirmed booking can be rescheduled.")
    refuse_conflicts(session, booking, engagement.speaker, terms)
    before = f"{engagement.starts_at:%Y-%m-%d %H:%M} UTC, {engagement.location}"
    previous = engagement_facts(engagement)
    engagement.timezone = terms.timezone
    engagement.starts_at, engagement.ends_at = terms.starts_at, terms.ends_at
    engagement.location = location_of(terms)
    engagement.city, engagement.country = terms.city, terms.country
    engagement.is_virtual = terms.is_virtual
    engagement.sequence += 1
    now = now or utcnow()
    engagement.updated_at = booking.updated_at = now
    note(
        session,
        booking,
        actor=actor,
        action="rescheduled",
        public_message=_l(
            "Rescheduled to %(when)s (%(zone)s), %(place)s; updated invitations are on their way.",
            when=LazyString(short_time, terms.starts_local),
            zone=LazyString(zone_words, zone(terms.timezone)),
            place=LazyString(shown_location, engagement.location),
        ),
        details={"from": before, "to": f"{terms.starts_at:%Y-%m-%d %H:%M} UTC"},
        now=now,
    )
    send_invites(session, booking, engagement, "REQUEST")
    notify.notify_rescheduled(session, booking, engagement, previous)
    return engagement


def can(booking: BookingRequest, to: Status) -> bool:
    return to in ALLOWED[Status(booking.status)]


def reassign_to(
    session: AnySession,
    booking: BookingRequest,
    staff: StaffMember,
    *,
    actor: Actor,
    expected_version: int | None,
    now: datetime | None = None,
) -> None:
    """An admin's choice of assignee, outside the rules; audited, the new assignee told."""
    check_version(booking, expected_version)
    if not staff.is_active:
        raise ActionError(f"{staff.name} is not active.")
    if booking.status in CLOSED_STATES:
        raise ActionError("The request is closed.")
    previous = booking.assigned_staff
    before = {"to": staff.name, "from": previous.name if previous else None}
    assign(
        session,
        booking,
        staff,
        actor=actor,
        action="assigned",
        details=before,
        note_details={**before, "reason": f"chosen by {actor.label}"},
        now=now,
    )
    notify.notify_assigned(session, booking, staff)
