"""Shortlist suggestions: speakers ranked by fit with a request, and whether they are free."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bureau.bookings.models import BookingRequest
from bureau.calendar.models import Hold, HoldState
from bureau.catalogue.models import Speaker
from bureau.db import AnySession


@dataclass
class Suggestion:
    speaker: Speaker
    score: int
    fee_quote: int
    available: bool
    reasons: list[str] = field(default_factory=list)


def suggest_speakers(
    session: AnySession, booking: BookingRequest, limit: int = 8
) -> list[Suggestion]:
    """Requested speakers first, then shared topics, the event's language, a fee band that
    fits the budget; a speaker holding or booked for an overlapping date is marked busy."""
    requested = {s.id for s in booking.speakers}
    wanted_topics = {t.slug for s in booking.speakers for t in s.topics}
    busy = set(
        session.scalars(
            select(Hold.speaker_id).where(
                Hold.state.in_([HoldState.ACTIVE, HoldState.CONFIRMED]),
                Hold.booking_id != booking.id,
                Hold.starts_at < booking.ends_at,
                Hold.ends_at > booking.starts_at,
            )
        )
    )
    speakers = session.scalars(
        select(Speaker)
        .where(Speaker.is_active)
        .options(selectinload(Speaker.topics), selectinload(Speaker.language_rows))
    ).all()
    budget_low = booking.budget_min if booking.budget_min is not None else 0
    budget_high = booking.budget_max
    results = []
    for speaker in speakers:
        reasons: list[str] = []
        score = 0
        if speaker.id in requested:
            score += 5
            reasons.append("requested")
        shared = wanted_topics & {t.slug for t in speaker.topics}
        if shared:
            score += len(shared)
            reasons.append(f"{len(shared)} shared topic{'s' if len(shared) > 1 else ''}")
        if booking.language in speaker.languages:
            score += 1
            reasons.append(f"speaks {booking.language}")
        fits = budget_high is None or speaker.fee_min <= budget_high
        if budget_high is not None and fits:
            score += 1
            reasons.append("fee fits the budget")
        elif not fits:
            reasons.append("fee above the budget")
        available = speaker.id not in busy
        if not available:
            reasons.append("busy on that date")
        quote = max(speaker.fee_min, min(speaker.fee_max, budget_high or speaker.fee_min))
        quote = max(quote, budget_low) if budget_low <= speaker.fee_max else quote
        results.append(Suggestion(speaker, score, quote, available, reasons))
    results.sort(key=lambda s: (not s.available, -s.score, s.speaker.name))
    return results[:limit]
