"""Whether a speaker is free for a slot: the one check of their calendar.

A slot clashes with the speaker's other engagements and active holds, their blackout periods
and own-calendar busy times, when any is closer to it than the travel time between the two
places (BUREAU_TRAVEL_BUFFERS). ``busy()`` answers for one speaker or all of them in a fixed
number of queries; the availability check, confirmation, rescheduling and the shortlist
suggestions all ask it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import select, text

from bureau.bookings.models import BookingRequest, Offer
from bureau.bookings.validation import OfferTerms
from bureau.bookings.workflow import ActionError
from bureau.calendar.busy import own_time_clashes
from bureau.calendar.models import Engagement, Hold, HoldState
from bureau.calendar.travel import Place, parse_buffers
from bureau.catalogue.models import Speaker
from bureau.db import AnySession


@dataclass
class Busy:
    """Per speaker id: what clashes with the slot, in words (never a private detail)."""

    # Engagements and active holds for other requests.
    booked: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    # Blackout periods and own-calendar busy times.
    own: dict[int, list[str]] = field(default_factory=dict)

    @property
    def speakers(self) -> set[int]:
        return {i for i, found in self.booked.items() if found} | {
            i for i, found in self.own.items() if found
        }

    def of(self, speaker_id: int) -> list[str]:
        return self.booked.get(speaker_id, []) + self.own.get(speaker_id, [])


def busy(
    session: AnySession,
    starts_at: datetime,
    ends_at: datetime,
    *,
    booking_id: int,
    place: Place,
    zone: str = "UTC",
    speaker_id: int | None = None,
) -> Busy:
    """The clashes of one speaker (``speaker_id``) or of every speaker with this slot, in
    four queries whatever the number of speakers; own times are said in ``zone``."""
    buffers = parse_buffers(current_app.config["BUREAU_SETTINGS"].travel_buffers)
    start, end = starts_at - buffers.largest, ends_at + buffers.largest

    def too_close(other_start: datetime, other_end: datetime, other: Place) -> bool:
        gap = buffers.between(place, other)
        return other_start < ends_at + gap and other_end > starts_at - gap

    found = Busy()
    engagements = select(Engagement).where(
        Engagement.booking_id != booking_id,
        ~Engagement.is_cancelled,
        Engagement.starts_at < end,
        Engagement.ends_at > start,
    )
    holds = (
        select(Hold, Offer)
        .join(Offer, Offer.id == Hold.offer_id)
        .where(
            Hold.booking_id != booking_id,
            Hold.state == HoldState.ACTIVE,
            Hold.starts_at < end,
            Hold.ends_at > start,
        )
    )
    if speaker_id is not None:
        engagements = engagements.where(Engagement.speaker_id == speaker_id)
        holds = holds.where(Hold.speaker_id == speaker_id)
    for e in session.scalars(engagements.order_by(Engagement.starts_at, Engagement.id)):
        if too_close(e.starts_at, e.ends_at, Place.of(e)):
            found.booked[e.speaker_id].append(
                f"engagement “{e.title}” {e.starts_at:%Y-%m-%d %H:%M} UTC"
            )
    for h, offer in session.execute(holds.order_by(Hold.starts_at, Hold.id)):
        if too_close(h.starts_at, h.ends_at, Place.of(offer)):
            found.booked[h.speaker_id].append(
                f"hold for request #{h.booking_id} {h.starts_at:%Y-%m-%d %H:%M} UTC"
            )
    found.own = own_time_clashes(
        session, starts_at, ends_at, place=place, zone=zone, buffers=buffers, speaker_id=speaker_id
    )
    return found


def conflicts(
    session: AnySession,
    speaker_id: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    booking_id: int,
    place: Place,
    zone: str = "UTC",
) -> list[str]:
    """The speaker's other engagements and active holds, blackout periods and own-calendar
    busy times too close to this time, counting the travel time between the two places
    (BUREAU_TRAVEL_BUFFERS); own times are said in ``zone``, the slot's."""
    return busy(
        session,
        starts_at,
        ends_at,
        booking_id=booking_id,
        place=place,
        zone=zone,
        speaker_id=speaker_id,
    ).of(speaker_id)


# pg_advisory_xact_lock(SPEAKER_CALENDAR_LOCK, speaker id): one calendar change per speaker
# at a time, so two staff confirming the same slot at the same moment cannot both pass the
# check (the second waits for the first's commit, then sees its engagement).
SPEAKER_CALENDAR_LOCK = 7_245_002


def lock_speaker_calendar(session: AnySession, speaker_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:kind, :speaker)"),
            {"kind": SPEAKER_CALENDAR_LOCK, "speaker": speaker_id},
        )


def refuse_conflicts(
    session: AnySession, booking: BookingRequest, speaker: Speaker, slot: Offer | OfferTerms
) -> None:
    """Lock the speaker's calendar for this transaction and refuse a slot too close to it
    (ActionError), naming the active speakers free then."""
    lock_speaker_calendar(session, speaker.id)
    place = Place.of(slot)
    clashes = conflicts(
        session,
        speaker.id,
        slot.starts_at,
        slot.ends_at,
        booking_id=booking.id,
        place=place,
        zone=slot.timezone,
    )
    if not clashes:
        return
    taken = busy(
        session,
        slot.starts_at,
        slot.ends_at,
        booking_id=booking.id,
        place=place,
        zone=slot.timezone,
    ).speakers
    others = session.execute(
        select(Speaker.id, Speaker.name)
        .where(Speaker.is_active, Speaker.id != speaker.id)
        .order_by(Speaker.name)
    )
    names = [name for speaker_id, name in others if speaker_id not in taken]
    alternatives = f" Free then: {', '.join(names)}." if names else ""
    raise ActionError(
        f"{speaker.name} is not free then (travel time included): "
        + "; ".join(clashes)
        + "."
        + alternatives
    )
