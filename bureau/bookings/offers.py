"""The steps from a firm offer to a contract: the offer, the speaker's availability (a hold
on their date), their answer, and the contract's terms. Each is built on transition(), as
actions.py describes; ``now`` (default: the present) stamps every row a step writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import select

from bureau.bookings import notifications as notify
from bureau.bookings.models import BookingRequest, Contract, Offer
from bureau.bookings.states import Status
from bureau.bookings.validation import OfferTerms
from bureau.bookings.workflow import ActionError, Actor, check_version, transition
from bureau.calendar.conflicts import refuse_conflicts
from bureau.calendar.holds import end_holds
from bureau.calendar.ics import new_uid
from bureau.calendar.models import Hold, HoldState
from bureau.catalogue.models import Speaker
from bureau.db import AnySession, utcnow
from bureau.templating import money, short_date, short_time, zone, zone_words

DEFAULT_HOLD = timedelta(days=7)


def record_offer(
    session: AnySession,
    booking: BookingRequest,
    terms: OfferTerms,
    *,
    actor: Actor,
    expected_version: int | None,
    now: datetime | None = None,
) -> Offer:
    """The organizer's firm offer for one speaker, entered by the organizer or by staff."""
    check_version(booking, expected_version)
    now = now or utcnow()
    speaker = session.scalars(
        select(Speaker).where(Speaker.slug == terms.speaker_slug, Speaker.is_active)
    ).one_or_none()
    if speaker is None:
        raise ActionError(_("Choose one of our active speakers."))
    if booking.status == Status.SHORTLISTED and speaker.id not in {
        e.speaker_id for e in booking.shortlist
    }:
        raise ActionError(_("Choose a speaker from the shortlist."))
    values = {k: v for k, v in terms.__dict__.items() if k != "speaker_slug"}
    offer = Offer(
        booking_id=booking.id, speaker=speaker, made_by=actor.kind, created_at=now, **values
    )
    session.add(offer)
    booking.offers.append(offer)
    transition(
        session,
        booking,
        Status.OFFER_RECEIVED,
        actor=actor,
        action="offer",
        public_message=_l(
            "Firm offer for %(speaker)s: %(fee)s on %(when)s (%(zone)s).",
            speaker=speaker.name,
            fee=LazyString(money, terms.fee, terms.currency),
            when=LazyString(short_time, terms.starts_local),
            zone=LazyString(zone_words, zone(terms.timezone)),
        ),
        details={"speaker": speaker.slug, "fee": terms.fee, "currency": terms.currency},
        now=now,
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
    now: datetime | None = None,
) -> Hold:
    """Ask the speaker (email with a signed link) and hold their date until the hold expires."""
    check_version(booking, expected_version)
    now = now or utcnow()
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
        expires_at=now + hold_for,
        state=HoldState.ACTIVE,
        created_at=now,
        updated_at=now,
    )
    session.add(hold)
    transition(
        session,
        booking,
        Status.AWAITING_SPEAKER,
        actor=actor,
        action="availability check",
        public_message=_l(
            "We asked %(name)s about your date; it is held meanwhile.", name=offer.speaker.name
        ),
        details={"hold_expires_at": hold.expires_at.isoformat(), "offer": offer.id},
        now=now,
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
    now: datetime | None = None,
) -> None:
    """The speaker accepts or declines through the signed link (one answer per offer); a
    decline releases the hold."""
    if offer.response is not None:
        raise ActionError(
            _("You already answered this request (accepted).")
            if offer.response == "accepted"
            else _("You already answered this request (declined).")
        )
    if booking.status != Status.AWAITING_SPEAKER or booking.offer is not offer:
        raise ActionError(_("This request no longer waits for your answer."))
    now = now or utcnow()
    offer.response = "accepted" if accept else "declined"
    offer.response_reason = reason
    offer.responded_at = now
    name = offer.speaker.name
    if not accept:
        end_holds(session, booking, HoldState.RELEASED, now)
    transition(
        session,
        booking,
        Status.SPEAKER_ACCEPTED if accept else Status.SPEAKER_DECLINED,
        actor=Actor("speaker", name, offer.speaker_id),
        action="speaker accepted" if accept else "speaker declined",
        public_message=(
            _l("%(name)s is available for your date.", name=name)
            if accept
            else _l("%(name)s is not available; we will suggest alternatives.", name=name)
        ),
        details={"reason": reason},
        now=now,
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
    now: datetime | None = None,
) -> Contract:
    """The contract's terms (a second one replaces the first); the organizer gets them."""
    check_version(booking, expected_version)
    if terms.deposit_amount > terms.fee:
        raise ActionError("The deposit cannot exceed the fee.")
    now = now or utcnow()
    if booking.contract is not None:
        session.delete(booking.contract)
        session.flush()
    contract = Contract(booking_id=booking.id, created_at=now, **terms.__dict__)
    session.add(contract)
    booking.contract = contract
    transition(
        session,
        booking,
        Status.CONTRACTED,
        actor=actor,
        action="contract",
        public_message=_l(
            "Contract: %(fee)s; deposit %(deposit)s due %(due)s.",
            fee=LazyString(money, terms.fee, terms.currency),
            deposit=LazyString(money, terms.deposit_amount, terms.currency),
            due=LazyString(short_date, terms.deposit_due),
        ),
        details={
            "fee": terms.fee,
            "commission_pct": str(terms.commission_pct),
            "deposit_amount": terms.deposit_amount,
            "deposit_due": terms.deposit_due.isoformat(),
        },
        now=now,
    )
    notify.notify_contract(session, booking)
    return contract
