"""The bureau's booking process, one function per step, each built on transition().

Every action checks the version the actor saw (optimistic locking: a stale form is refused
with ``Conflict``), changes state through ``transition`` (which writes the timeline entry),
and records the emails the step implies in the same transaction. The caller commits; a
concurrent commit in between still fails, at flush, on the version column.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from bureau.billing.payouts import make_statement
from bureau.bookings import notifications as notify
from bureau.bookings.models import (
    RATINGS,
    BookingRequest,
    Contract,
    Offer,
    OrganizerFeedback,
    ShortlistEntry,
)
from bureau.bookings.states import CLOSED_STATES, Status, organizer_label
from bureau.bookings.validation import OfferTerms
from bureau.bookings.workflow import ALLOWED, Actor, note, transition
from bureau.bookings.workflow import ActionError as ActionError
from bureau.bookings.workflow import Conflict as Conflict
from bureau.calendar.busy import zone_label
from bureau.calendar.conflicts import refuse_conflicts
from bureau.calendar.holds import end_holds
from bureau.calendar.ics import new_uid
from bureau.calendar.invites import engagement_for, location_of, send_invites
from bureau.calendar.models import Engagement, Hold, HoldState
from bureau.catalogue.models import Speaker
from bureau.db import AnySession, utcnow
from bureau.mail.facts import engagement_facts
from bureau.staff.models import StaffMember

DEFAULT_HOLD = timedelta(days=7)
MIN_SHORTLIST, MAX_SHORTLIST = 3, 4


def check_version(booking: BookingRequest, expected: int | None) -> None:
    if expected is not None and booking.version != expected:
        raise Conflict(
            f"{booking.reference} was changed by someone else a moment ago "
            f"(now: {booking.status}). Nothing was saved; look at it again."
        )


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
        public_message=f"We sent you a shortlist of {len(candidates)} speakers.",
        details={"candidates": [c.__dict__ for c in candidates]},
    )
    notify.notify_shortlisted(session, booking)


def record_offer(
    session: AnySession,
    booking: BookingRequest,
    terms: OfferTerms,
    *,
    actor: Actor,
    expected_version: int | None,
) -> Offer:
    """The organizer's firm offer for one speaker, entered by the organizer or by staff."""
    check_version(booking, expected_version)
    speaker = session.scalars(
        select(Speaker).where(Speaker.slug == terms.speaker_slug, Speaker.is_active)
    ).one_or_none()
    if speaker is None:
        raise ActionError("Choose one of our active speakers.")
    if booking.status == Status.SHORTLISTED and speaker.id not in {
        e.speaker_id for e in booking.shortlist
    }:
        raise ActionError("Choose a speaker from the shortlist.")
    values = {k: v for k, v in terms.__dict__.items() if k != "speaker_slug"}
    offer = Offer(booking_id=booking.id, speaker=speaker, made_by=actor.kind, **values)
    session.add(offer)
    booking.offers.append(offer)
    transition(
        session,
        booking,
        Status.OFFER_RECEIVED,
        actor=actor,
        action="offer",
        public_message=(
            f"Firm offer for {speaker.name}: {terms.currency} {terms.fee:,} on "
            f"{terms.starts_local:%d %b %Y %H:%M} ({zone_label(terms.timezone)})."
        ),
        details={"speaker": speaker.slug, "fee": terms.fee, "currency": terms.currency},
    )
    notify.notify_offer(session, booking, by_organizer=actor.kind == "organizer")
    return offer


def request_availability(
    session: AnySession,
    booking: BookingRequest,
    *,
    actor: Actor,
    expected_version: int | None,
    hold_for: timedelta = DEFAULT_HOLD,
) -> Hold:
    """Ask the speaker (email with a signed link) and hold their date until the hold expires."""
    check_version(booking, expected_version)
    offer = booking.offer
    if offer is None:
        raise ActionError("There is no firm offer to put to the speaker.")
    if not offer.speaker.email:
        raise ActionError(f"{offer.speaker.name} has no email address on file.")
    refuse_conflicts(session, booking, offer.speaker, offer)
    hold = Hold(
        booking_id=booking.id,
        offer_id=offer.id,
        speaker_id=offer.speaker_id,
        uid=new_uid(),
        starts_at=offer.starts_at,
        ends_at=offer.ends_at,
        expires_at=utcnow() + hold_for,
    )
    session.add(hold)
    transition(
        session,
        booking,
        Status.AWAITING_SPEAKER,
        actor=actor,
        action="availability check",
        public_message=f"We asked {offer.speaker.name} about your date; it is held meanwhile.",
        details={"hold_expires_at": hold.expires_at.isoformat(), "offer": offer.id},
    )
    notify.notify_availability_request(session, booking, offer)
    return hold


def speaker_answer(
    session: AnySession,
    booking: BookingRequest,
    offer: Offer,
    *,
    accept: bool,
    reason: str | None,
) -> None:
    """The speaker accepts or declines through the signed link (one answer per offer)."""
    if offer.response is not None:
        raise ActionError(f"You already answered this request ({offer.response}).")
    if booking.status != Status.AWAITING_SPEAKER or booking.offer is not offer:
        raise ActionError("This request no longer waits for your answer.")
    offer.response = "accepted" if accept else "declined"
    offer.response_reason = reason
    offer.responded_at = utcnow()
    actor = Actor("speaker", offer.speaker.name, offer.speaker_id)
    if accept:
        transition(
            session,
            booking,
            Status.SPEAKER_ACCEPTED,
            actor=actor,
            action="speaker accepted",
            public_message=f"{offer.speaker.name} is available for your date.",
            details={"reason": reason},
        )
    else:
        end_holds(session, booking, HoldState.RELEASED)
        transition(
            session,
            booking,
            Status.SPEAKER_DECLINED,
            actor=actor,
            action="speaker declined",
            public_message=f"{offer.speaker.name} is not available; we will suggest alternatives.",
            details={"reason": reason},
        )
    notify.notify_speaker_answer(session, booking, accepted=accept)


@dataclass(frozen=True)
class ContractTerms:
    fee: int
    currency: str
    commission_pct: Decimal
    deposit_amount: int
    deposit_due: date
    travel_terms: str | None


def record_contract(
    session: AnySession,
    booking: BookingRequest,
    terms: ContractTerms,
    *,
    actor: Actor,
    expected_version: int | None,
) -> Contract:
    check_version(booking, expected_version)
    if terms.deposit_amount > terms.fee:
        raise ActionError("The deposit cannot exceed the fee.")
    if booking.contract is not None:
        session.delete(booking.contract)
        session.flush()
    contract = Contract(booking_id=booking.id, **terms.__dict__)
    session.add(contract)
    booking.contract = contract
    transition(
        session,
        booking,
        Status.CONTRACTED,
        actor=actor,
        action="contract",
        public_message=(
            f"Contract: {terms.currency} {terms.fee:,}; deposit {terms.currency} "
            f"{terms.deposit_amount:,} due {terms.deposit_due:%d %b %Y}."
        ),
        details={
            "fee": terms.fee,
            "commission_pct": str(terms.commission_pct),
            "deposit_amount": terms.deposit_amount,
            "deposit_due": terms.deposit_due.isoformat(),
        },
    )
    notify.notify_contract(session, booking)
    return contract


def confirm(
    session: AnySession, booking: BookingRequest, *, actor: Actor, expected_version: int | None
) -> None:
    check_version(booking, expected_version)
    if booking.contract is None:
        raise ActionError("Record the contract first.")
    offer = booking.offer
    if offer is None:
        raise ActionError("There is no firm offer to confirm.")
    refuse_conflicts(session, booking, offer.speaker, offer)
    end_holds(session, booking, HoldState.CONFIRMED)
    transition(
        session,
        booking,
        Status.CONFIRMED,
        actor=actor,
        action="confirmed",
        public_message="Your booking is confirmed; calendar invitations are on their way.",
    )
    engagement = engagement_for(booking, offer)
    session.add(engagement)
    session.flush()
    send_invites(session, booking, engagement, "REQUEST")
    notify.notify_confirmed(session, booking, engagement)


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
        public_message="The event took place. Thank you!",
        details={"feedback": feedback},
        now=now,
        overriding=early_reason,
    )
    make_statement(session, booking)  # what the speaker is owed, due after the event
    notify.notify_completed(session, booking)


def leave_feedback(
    session: AnySession, booking: BookingRequest, rating: int, comments: str | None
) -> OrganizerFeedback:
    """The organizer's rating (1-5) and comments on a completed booking, given once: a
    second is refused (the unique booking_id refuses a racing one at flush). A timeline
    entry says the rating; the comments stay in their own row (personal data)."""
    if booking.status != Status.COMPLETED:
        raise ActionError("Feedback can be given once the event has taken place.")
    if booking.organizer_feedback is not None:
        raise ActionError("You already sent your feedback for this booking; thank you.")
    if rating not in RATINGS:
        raise ActionError("Choose a rating from 1 to 5.")
    entry = OrganizerFeedback(booking_id=booking.id, rating=rating, comments=comments or None)
    booking.organizer_feedback = entry
    session.add(entry)
    note(
        session,
        booking,
        actor=Actor("organizer", booking.contact_name),
        action="left feedback",
        public_message=f"Organizer left feedback: {rating}/5.",
        details={"rating": rating},
    )
    # The timeline entry is a change: the version rises, so a stale form elsewhere fails.
    booking.updated_at = utcnow()
    return entry


CLOSINGS = {
    Status.DECLINED: "The bureau declined this request",
    Status.WITHDRAWN: "The request was withdrawn",
    Status.CANCELLED: "The booking was cancelled",
}


def close(
    session: AnySession,
    booking: BookingRequest,
    to: Status,
    *,
    reason: str,
    actor: Actor,
    expected_version: int | None,
) -> None:
    """Decline (bureau), withdraw (organizer) or cancel, with a reason, from any open state."""
    check_version(booking, expected_version)
    if to not in CLOSINGS:
        raise ActionError("Choose decline, withdraw or cancel.")
    if not can(booking, to):
        allowed = [s.value for s in CLOSINGS if can(booking, s)]
        state = organizer_label(booking.status).lower()
        raise ActionError(
            f"{booking.reference} is {state}: it can be {' or '.join(allowed)}, not "
            f"{to.value}. Nothing was changed."
            if allowed
            else f"{booking.reference} is {state} and cannot be closed. Nothing was changed."
        )
    if not reason.strip():
        raise ActionError("Give a reason.")
    booking.closed_reason = reason
    end_holds(session, booking, HoldState.RELEASED)
    engagement = session.scalars(
        select(Engagement).where(Engagement.booking_id == booking.id)
    ).one_or_none()
    if engagement is not None and not engagement.is_cancelled:
        # Same UID, a higher SEQUENCE, METHOD:CANCEL: calendars drop their entry.
        engagement.is_cancelled = True
        engagement.sequence += 1
        send_invites(session, booking, engagement, "CANCEL")
    transition(
        session,
        booking,
        to,
        actor=actor,
        action=to.value,
        public_message=f"{CLOSINGS[to]}: {reason}",
        details={"reason": reason},
    )
    notify.notify_closed(
        session, booking, to, by_organizer=actor.kind == "organizer", engagement=engagement
    )


def correct_state(
    session: AnySession,
    booking: BookingRequest,
    to: Status,
    *,
    reason: str,
    actor: Actor,
    actor_is_admin: bool,
    expected_version: int | None,
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
    )


def reschedule(
    session: AnySession,
    booking: BookingRequest,
    terms: OfferTerms,
    *,
    actor: Actor,
    expected_version: int | None,
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
    booking.updated_at = utcnow()
    note(
        session,
        booking,
        actor=actor,
        action="rescheduled",
        public_message=(
            f"Rescheduled to {terms.starts_local:%d %b %Y %H:%M} ({zone_label(terms.timezone)}), "
            f"{engagement.location}; updated invitations are on their way."
        ),
        details={"from": before, "to": f"{terms.starts_at:%Y-%m-%d %H:%M} UTC"},
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
) -> None:
    """An admin's choice of assignee, outside the rules; audited, the new assignee told."""
    check_version(booking, expected_version)
    if not staff.is_active:
        raise ActionError(f"{staff.name} is not active.")
    if booking.status in CLOSED_STATES:
        raise ActionError("The request is closed.")
    previous = booking.assigned_staff
    booking.assigned_staff = staff
    booking.assigned_staff_id = staff.id
    booking.assigned_at = utcnow()
    if booking.status in (Status.NEW, Status.UNASSIGNED):
        transition(
            session,
            booking,
            Status.ASSIGNED,
            actor=actor,
            action="assigned",
            public_message=f"Your request is with {staff.name}, who will be in touch.",
            details={"to": staff.name, "from": previous.name if previous else None},
        )
    else:
        note(
            session,
            booking,
            actor=actor,
            action="reassigned",
            details={
                "to": staff.name,
                "from": previous.name if previous else None,
                "reason": f"chosen by {actor.label}",
            },
        )
    notify.notify_assigned(session, booking, staff)
