"""Engagements and their invitations: the calendar entry a confirmed offer becomes, and one
invitation email per attendee for each of its versions (SEQUENCE)."""

from __future__ import annotations

from bureau.bookings.models import BookingRequest, Offer
from bureau.bookings.validation import OfferTerms
from bureau.calendar.ics import new_uid
from bureau.calendar.models import Engagement
from bureau.calendar.titles import stored_title
from bureau.db import AnySession
from bureau.mail.recipients import SPEAKER, Addressee, assignee_of, organizer_of, queue_mail
from bureau.outbox import is_quiet


def engagement_for(
    booking: BookingRequest, offer: Offer, *, random_bits: int | None = None
) -> Engagement:
    """The calendar entry a confirmed offer becomes (the first version of its invites).

    Its UID is ``new_uid(random_bits)``: reproducible bits for the demo history."""
    return Engagement(
        booking_id=booking.id,  # None until a new booking is flushed (the demo sets it then)
        speaker_id=offer.speaker_id,
        uid=new_uid(random_bits),
        sequence=0,
        is_cancelled=False,
        title=stored_title(offer.speaker.name, booking.event_name),
        timezone=offer.timezone,
        starts_at=offer.starts_at,
        ends_at=offer.ends_at,
        location=location_of(offer),
        city=offer.city,
        country=offer.country,
        is_virtual=offer.is_virtual,
    )


def location_of(offer: Offer | OfferTerms) -> str:
    """Where, in words: the venue, city and country, or "Online" (and the venue), stored
    in English and shown in each reader's language (calendar/titles.py)."""
    if offer.is_virtual:
        return "Online" + (f" ({offer.venue})" if offer.venue else "")
    parts = [offer.venue, offer.city, offer.country]
    return ", ".join(p for p in parts if p)


def send_invites(
    session: AnySession, booking: BookingRequest, engagement: Engagement, method: str
) -> None:
    """One invitation email per attendee (speaker, organizer contact, assigned staff),
    deduplicated per recipient and SEQUENCE: a change is sent once to each."""
    if is_quiet(session):  # the past is being written: nobody to invite
        return
    people: list[Addressee | None] = [*engagement_people(booking, engagement)]
    people.append(assignee_of(booking))
    for to in people:
        queue_mail(
            session,
            booking,
            "invite",
            to,
            sequence=engagement.sequence,
            engagement_id=engagement.id,
            method=method,
        )


def engagement_people(booking: BookingRequest, engagement: Engagement) -> list[Addressee]:
    """The organizer's contact and the speaker (when the bureau has their address)."""
    people = [organizer_of(booking)]
    if engagement.speaker.email:
        people.append((SPEAKER, engagement.speaker.email, engagement.speaker.name))
    return people
