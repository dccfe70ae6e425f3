"""What an email says, fixed when the change it is about commits.

An outbox job is sent later, by a worker, perhaps after further steps: confirmed, then
completed a second after. So ``mail_job`` stores in the job's payload the facts its email
tells (the state it reports, the offer, the engagement as it was then, the hold's expiry,
the reason of a close, …) and the worker renders from those facts only. A job queued before
facts were recorded gets them from the live booking when it is rendered, as before.

Facts are plain JSON (instants as ISO 8601 with their offset); ``view`` turns them back
into objects the templates read like the models (``offer.speaker.name``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from bureau.bookings.models import BookingRequest, Offer
from bureau.calendar.models import Engagement, Hold
from bureau.db import AnySession
from bureau.staff.models import StaffMember

Facts = dict[str, Any]

# Keys whose values are instants or wall-clock times (ISO strings in the payload), or dates.
_DATETIMES = frozenset({"starts_at", "ends_at", "starts_local", "ends_local", "expires_at"})
_DATES = frozenset({"deposit_due"})


def offer_facts(offer: Offer) -> Facts:
    return {
        "speaker": {"name": offer.speaker.name},
        "fee": offer.fee,
        "currency": offer.currency,
        "format": offer.format,
        "timezone": offer.timezone,
        "starts_local": offer.starts_local.isoformat(),
        "ends_local": offer.ends_local.isoformat(),
        "is_virtual": offer.is_virtual,
        "venue": offer.venue,
        "city": offer.city,
        "country": offer.country,
        "logistics": offer.logistics,
        "response": offer.response,
        "response_reason": offer.response_reason,
    }


def engagement_facts(engagement: Engagement) -> Facts:
    """All an invitation needs, its .ics included: the entry as it is at this change."""
    return {
        "uid": engagement.uid,
        "sequence": engagement.sequence,
        "is_cancelled": engagement.is_cancelled,
        "title": engagement.title,
        "timezone": engagement.timezone,
        "starts_at": engagement.starts_at.isoformat(),
        "ends_at": engagement.ends_at.isoformat(),
        "location": engagement.location,
    }


def mail_facts(
    session: AnySession,
    booking: BookingRequest,
    template: str,
    role: str,
    to_email: str | None = None,
    *,
    offer: Offer | None = None,
    engagement: Engagement | None = None,
) -> Facts:
    """The facts an email about ``booking`` tells its reader, as the booking stands now.

    ``zone`` is the reader's, for the deadlines it states: the staff member's own, the
    speaker's home zone, the event's for the organizer."""
    if offer is None and engagement is not None:
        offer = next(
            (o for o in reversed(booking.offers) if o.speaker_id == engagement.speaker_id), None
        )
    offer = offer or booking.offer
    event_zone = offer.timezone if offer is not None else booking.timezone
    zone = event_zone
    if role == "staff":
        member = booking.assigned_staff
        if to_email is not None and (member is None or member.email != to_email):
            member = session.scalars(
                select(StaffMember).where(StaffMember.email == to_email)
            ).one_or_none()
        zone = member.timezone if member is not None else event_zone
    elif role == "speaker" and offer is not None:
        zone = offer.speaker.home_timezone or event_zone
    hold = (
        session.scalars(
            select(Hold).where(Hold.booking_id == booking.id).order_by(Hold.id.desc()).limit(1)
        ).one_or_none()
        if offer is not None
        else None
    )
    contract = booking.contract
    facts: Facts = {
        "status": str(booking.status),
        "closed_reason": booking.closed_reason,
        "agent": booking.assigned_staff.name if booking.assigned_staff is not None else None,
        "zone": zone,
        "offer": offer_facts(offer) if offer is not None else None,
        "engagement": engagement_facts(engagement) if engagement is not None else None,
        "hold": {"expires_at": _instant(hold.expires_at).isoformat()} if hold else None,
        # What the organizer agreed to pay; the bureau's commission is not theirs to read.
        "contract": {
            "fee": contract.fee,
            "currency": contract.currency,
            "deposit_amount": contract.deposit_amount,
            "deposit_due": contract.deposit_due.isoformat(),
            "travel_terms": contract.travel_terms,
        }
        if contract is not None
        else None,
    }
    if template == "proposal":
        facts["shortlist"] = [
            {
                "speaker": {
                    "name": e.speaker.name,
                    "headline": e.speaker.headline,
                    "headline_zh": e.speaker.headline_zh,
                },
                "fee_quote": e.fee_quote,
                "currency": e.currency,
                "home_city": e.home_city,
                # The speaker's own city in Chinese, while staff kept it as the entry's.
                "home_city_zh": e.speaker.home_city_zh
                if e.home_city == e.speaker.home_city
                else None,
                "note": e.note,
            }
            for e in booking.shortlist
        ]
    return facts


def _instant(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def view(value: Any, key: str = "") -> Any:
    """Facts as the templates read them: attributes, datetimes and dates again."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: view(v, k) for k, v in value.items()})
    if isinstance(value, list):
        return [view(v) for v in value]
    if isinstance(value, str) and key in _DATETIMES:
        return datetime.fromisoformat(value)
    if isinstance(value, str) and key in _DATES:
        return date.fromisoformat(value)
    return value


def engagement_of(facts: Facts) -> Engagement:
    """A transient engagement (never added to a session) as it was at the change: what the
    .ics of that change is built from."""
    fields = view(facts)
    return Engagement(
        uid=fields.uid,
        sequence=fields.sequence,
        is_cancelled=fields.is_cancelled,
        title=fields.title,
        timezone=fields.timezone,
        starts_at=fields.starts_at,
        ends_at=fields.ends_at,
        location=fields.location,
    )
