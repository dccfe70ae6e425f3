"""What the organizer is told about a request: the facts of each step (shortlist, firm offer,
contract terms), the deadlines, and what happens next, in words and in the event's zone.

One builder feeds both the status page and its JSON, so the two cannot disagree. The
bureau's commission never appears here: it is between the bureau and the speaker.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from bureau.billing.money import format_money
from bureau.billing.services import balance_due, invoice_status, invoices_of, status_words
from bureau.bookings.models import BookingRequest, Contract, Offer, ShortlistEntry
from bureau.bookings.states import Status, format_label, organizer_label, organizer_next_step
from bureau.bookings.workflow import ALLOWED
from bureau.calendar.busy import zone_label
from bureau.calendar.models import Engagement, Hold, HoldState
from bureau.catalogue.models import Speaker
from bureau.db import AnySession, utcnow
from bureau.i18n.content import shown_city, shown_headline
from bureau.templating import (
    country_name,
    day_words,
    iso_in_zone,
    money,
    span_in_zone,
    time_in_zone,
)
from bureau.urls import public_url

# While a hold is active the date is kept for the organizer; its expiry is the deadline.
HOLDING_STATES = (Status.AWAITING_SPEAKER, Status.SPEAKER_ACCEPTED, Status.CONTRACTED)


def active_hold(session: AnySession, booking_id: int, offer_id: int | None = None) -> Hold | None:
    """The hold keeping the speaker's date for this booking (for this offer), if any."""
    query = select(Hold).where(Hold.booking_id == booking_id, Hold.state == HoldState.ACTIVE)
    if offer_id is not None:
        query = query.where(Hold.offer_id == offer_id)
    return session.scalars(query.order_by(Hold.id.desc()).limit(1)).first()


def organizer_can_offer(booking: BookingRequest) -> bool:
    """The organizer may make a firm offer now: there is a shortlist to choose from."""
    return Status.OFFER_RECEIVED in ALLOWED[Status(booking.status)] and bool(booking.shortlist)


def _speaker(speaker: Speaker) -> dict[str, str]:
    return {
        "slug": speaker.slug,
        "name": speaker.name,
        "url": public_url("catalogue.speaker", slug=speaker.slug),
    }


def _where(is_virtual: bool, venue: str | None, city: str | None, country: str | None) -> str:
    if is_virtual:
        return str(_("Online (%(venue)s)", venue=venue) if venue else _("Online"))
    return ", ".join(p for p in (venue, city, country_name(country) if country else None) if p)


def _shortlist(booking: BookingRequest) -> list[dict[str, Any]]:
    return [
        {
            "speaker": _speaker(entry.speaker),
            "headline": str(shown_headline(entry.speaker)),
            "fee_quote": entry.fee_quote,
            "currency": entry.currency,
            "fee_text": money(entry.fee_quote, entry.currency),
            "home_city": _entry_city(entry),
            "note": entry.note,
        }
        for entry in booking.shortlist
    ]


def _entry_city(entry: ShortlistEntry) -> str:
    """The city staff gave the entry; in the reader's language when it is still the
    speaker's own home city (staff may have written another: where they travel from)."""
    if entry.home_city == entry.speaker.home_city:
        return str(shown_city(entry.speaker))
    return entry.home_city


def _offer(offer: Offer) -> dict[str, Any]:
    name = offer.speaker.name
    answer = {
        "accepted": _("%(name)s accepted", name=name),
        "declined": _("%(name)s is not available", name=name),
    }.get(offer.response or "")
    return {
        "speaker": _speaker(offer.speaker),
        "fee": offer.fee,
        "currency": offer.currency,
        "fee_text": money(offer.fee, offer.currency),
        "format": offer.format,
        "format_label": format_label(offer.format),
        "timezone": offer.timezone,
        "starts_at": offer.starts_local.isoformat(timespec="minutes"),
        "ends_at": offer.ends_local.isoformat(timespec="minutes"),
        "when": span_in_zone(offer.starts_local, offer.ends_local, offer.timezone),
        "virtual": offer.is_virtual,
        "venue": offer.venue,
        "city": offer.city,
        "country": offer.country,
        "where": _where(offer.is_virtual, offer.venue, offer.city, offer.country),
        "logistics": offer.logistics,
        "speaker_answer": offer.response,
        "speaker_answer_text": answer,
    }


def _contract(contract: Contract) -> dict[str, Any]:
    """The terms that concern the organizer: what they pay and when. Not the commission."""
    return {
        "fee": contract.fee,
        "currency": contract.currency,
        "fee_text": money(contract.fee, contract.currency),
        "deposit_amount": contract.deposit_amount,
        "deposit_text": money(contract.deposit_amount, contract.currency),
        "deposit_due": contract.deposit_due.isoformat(),
        "deposit_due_text": day_words(contract.deposit_due),
        "travel_terms": contract.travel_terms,
    }


def _invoices(session: AnySession, booking: BookingRequest) -> list[dict[str, Any]]:
    """The booking's invoices and credit notes, each with its page and PDF under the
    organizer's own status link (the token is the key: no other link reaches them)."""
    today = utcnow().date()
    token = booking.tracking_token
    return [
        {
            "number": invoice.number,
            "title": invoice.title,
            "total_text": format_money(invoice.total, invoice.currency),
            "balance_text": format_money(balance_due(invoice), invoice.currency),
            "status": invoice_status(invoice, today).value,
            "status_text": status_words(invoice_status(invoice, today)),
            "due": invoice.due_on.isoformat(),
            "due_text": day_words(invoice.due_on),
            "url": public_url("bookings.invoice", token=token, number=invoice.number),
            "pdf_url": public_url(
                "bookings.invoice", token=token, number=invoice.number, as_pdf=True
            ),
        }
        for invoice in invoices_of(session, booking)
    ]


def _deadlines(
    booking: BookingRequest, hold: Hold | None, zone: str
) -> list[dict[str, str | None]]:
    deadlines: list[dict[str, str | None]] = []
    status = Status(booking.status)
    if hold is not None and status in HOLDING_STATES:
        asking = status == Status.AWAITING_SPEAKER
        deadlines.append(
            {
                "kind": "speaker_answer" if asking else "hold_expires",
                "label": _("The speaker answers by")
                if asking
                else _("The speaker's date is held until"),
                "at": iso_in_zone(hold.expires_at, zone),
                "text": time_in_zone(hold.expires_at, zone),
            }
        )
    contract = booking.contract
    if contract is not None and status == Status.CONTRACTED:
        deposit = money(contract.deposit_amount, contract.currency)
        deadlines.append(
            {
                "kind": "deposit_due",
                "label": _("Pay the deposit of %(amount)s by", amount=deposit),
                "at": contract.deposit_due.isoformat(),
                "text": day_words(contract.deposit_due),
            }
        )
    return deadlines


def next_step(
    booking: BookingRequest,
    *,
    hold: Hold | None,
    zone: str,
    engagement: Engagement | None,
    can_offer: bool,
) -> str:
    """What happens next, and by when, in words: specific where the facts exist, else the
    state's general words."""
    status = Status(booking.status)
    offer, contract = booking.offer, booking.contract
    name = offer.speaker.name if offer is not None else _("The speaker")
    held = (
        " " + _("We hold the date until %(time)s.", time=time_in_zone(hold.expires_at, zone))
        if hold
        else ""
    )
    if status == Status.SHORTLISTED and booking.shortlist:
        return str(
            ngettext(
                "Choose the speaker on your shortlist and make a firm offer (fee, date and "
                "logistics). Only then do we ask the speaker.",
                "Choose one of the %(num)d speakers on your shortlist and make a firm offer (fee, "
                "date and logistics). Only then do we ask the speaker.",
                len(booking.shortlist),
            )
        )
    if status == Status.OFFER_RECEIVED and offer is not None:
        when = span_in_zone(offer.starts_local, offer.ends_local, offer.timezone)
        return str(
            _(
                "We are checking your offer for %(name)s (%(fee)s) and will then ask %(name)s "
                "about %(when)s.",
                name=name,
                fee=money(offer.fee, offer.currency),
                when=when,
            )
        )
    if status == Status.AWAITING_SPEAKER and offer is not None and hold is not None:
        if hold.expires_at <= utcnow():  # the sweeper has not released it yet
            return str(
                _(
                    "%(name)s did not answer by %(time)s; we are releasing the date, and your "
                    "agent will suggest what to do next.",
                    name=name,
                    time=time_in_zone(hold.expires_at, zone),
                )
            )
        return str(
            _(
                "We have asked %(name)s; they have until %(time)s to answer. We hold the date "
                "until then.",
                name=name,
                time=time_in_zone(hold.expires_at, zone),
            )
        )
    if status == Status.SPEAKER_DECLINED and offer is not None:
        if can_offer:
            return str(
                _(
                    "%(name)s is not available for your date. Your agent will suggest alternatives "
                    "from the shortlist. You can also make a firm offer for another speaker on "
                    "your shortlist below.",
                    name=name,
                )
            )
        return str(
            _(
                "%(name)s is not available for your date. Your agent will suggest alternatives "
                "from the shortlist.",
                name=name,
            )
        )
    if status == Status.SPEAKER_ACCEPTED and offer is not None:
        return str(
            _(
                "%(name)s is available for your date. Your agent will send the contract and "
                "the deposit details.",
                name=name,
            )
            + held
        )
    if status == Status.CONTRACTED and contract is not None:
        return str(
            _(
                "Please pay the deposit of %(amount)s by %(day)s. Once the contract is signed "
                "and the deposit received, the booking is confirmed.",
                amount=money(contract.deposit_amount, contract.currency),
                day=day_words(contract.deposit_due),
            )
            + held
        )
    if status == Status.CONFIRMED and offer is not None:
        dated = engagement if engagement is not None else offer
        return str(
            _(
                "%(name)s is booked for %(when)s. Calendar invitations went to you and the "
                "speaker.",
                name=name,
                when=span_in_zone(dated.starts_at, dated.ends_at, dated.timezone),
            )
        )
    return organizer_next_step(status)


def organizer_status(session: AnySession, booking: BookingRequest) -> dict[str, Any]:
    """Everything the organizer's status page shows, as JSON-ready values: machine fields
    (codes, ISO times) beside the words a person reads (labels, times in the event's zone)."""
    engagement = session.scalars(
        select(Engagement).where(Engagement.booking_id == booking.id)
    ).one_or_none()
    # The event's zone: the engagement's (it follows reschedules), else the offer's, else
    # the request's, as workflow.event_end has it.
    zone = (engagement or booking.offer or booking).timezone
    if engagement is not None and engagement.is_cancelled:
        engagement = None
    hold = active_hold(session, booking.id) if booking.status in HOLDING_STATES else None
    offer, contract = booking.offer, booking.contract
    return {
        "reference": booking.reference,
        "status": booking.status,
        "status_label": organizer_label(booking.status),
        "next_step": next_step(
            booking,
            hold=hold,
            zone=zone,
            engagement=engagement,
            can_offer=organizer_can_offer(booking),
        ),
        "timezone": zone,
        "timezone_label": zone_label(zone),
        "event": {
            "name": booking.event_name,
            "organization": booking.organization,
            "format": booking.format,
            "format_label": format_label(booking.format),
            "virtual": booking.is_virtual,
            "city": booking.city,
            "country": booking.country,
            "timezone": booking.timezone,
            "starts_at": booking.starts_local.isoformat(timespec="minutes"),
            "ends_at": booking.ends_local.isoformat(timespec="minutes"),
            "when": span_in_zone(booking.starts_local, booking.ends_local, booking.timezone),
            "where": _where(booking.is_virtual, None, booking.city, booking.country),
            "audience_size": booking.audience_size,
            "language": booking.language,
        },
        "speakers": [{"slug": s.slug, "name": s.name} for s in booking.speakers],
        "shortlist": _shortlist(booking),
        "offer": _offer(offer) if offer is not None else None,
        "contract": _contract(contract) if contract is not None else None,
        "deadlines": _deadlines(booking, hold, zone),
        "invoices": _invoices(session, booking),
        "closed_reason": booking.closed_reason,
        "timeline": [
            {
                "at": e.at.isoformat(),
                "at_local": iso_in_zone(e.at, zone),
                "when": time_in_zone(e.at, zone),
                "message": e.public_message,
            }
            for e in booking.events
            if e.is_public
        ],
    }


def answer_deadline(hold: Hold, event_zone: str, own_zone: str | None) -> str:
    """The speaker's answer deadline in the event's zone, and in their own when it differs."""
    words = time_in_zone(hold.expires_at, event_zone)
    if own_zone and own_zone != event_zone:
        words = _(
            "%(time)s, which is %(own_time)s where you are",
            time=words,
            own_time=time_in_zone(hold.expires_at, own_zone),
        )
    return words
