"""Shortlist suggestions: speakers ranked by fit with a request, and whether they are free."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import ColumnElement, case, exists, false, func, literal, select, true

from bureau.bookings.models import BookingRequest
from bureau.calendar.conflicts import busy as busy_speakers
from bureau.calendar.travel import Place
from bureau.catalogue.models import Speaker, SpeakerLanguage, speaker_topics
from bureau.db import AnySession

REQUESTED_WEIGHT = 5


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
    fits the budget; a speaker held or engaged elsewhere, or whose blackout periods or own
    calendar are, too close to it (travel time included: calendar/conflicts.py, the check
    confirmation makes) is marked busy.

    The database ranks every active speaker and returns the best ``limit``: a catalogue of
    a thousand speakers is not loaded to show eight.
    """
    requested = [s.id for s in booking.speakers]
    # The requested speakers' topics, read in the ranking query (not one query per speaker).
    wanted = speaker_topics.alias("wanted")
    wanted_topics = select(wanted.c.topic_id).where(wanted.c.speaker_id.in_(requested))
    budget_high = booking.budget_max
    is_requested = Speaker.id.in_(requested) if requested else false()
    # Each speaker's count of shared topics, counted once for all and joined (a subquery per
    # speaker ran a thousand index scans: most of the ranking's time).
    shared_counts = (
        select(speaker_topics.c.speaker_id, func.count().label("shared"))
        .where(speaker_topics.c.topic_id.in_(wanted_topics))
        .group_by(speaker_topics.c.speaker_id)
        .subquery("shared_topics")
    )
    shared: ColumnElement[int] = (
        func.coalesce(shared_counts.c.shared, 0) if requested else literal(0)
    )
    speaks = exists().where(
        SpeakerLanguage.speaker_id == Speaker.id, SpeakerLanguage.code == booking.language
    )
    fits: ColumnElement[bool] = (
        Speaker.fee_min <= budget_high if budget_high is not None else true()
    )
    # One check of every speaker's calendar (a fixed number of queries), not one per speaker.
    clashes = busy_speakers(
        session,
        booking.starts_at,
        booking.ends_at,
        booking_id=booking.id,
        place=Place.of(booking),
        zone=booking.timezone,
    )
    busy_ids = clashes.speakers
    own = clashes.own
    busy = Speaker.id.in_(busy_ids) if busy_ids else literal(False)
    score = (
        case((is_requested, REQUESTED_WEIGHT), else_=0)
        + shared
        + case((speaks, 1), else_=0)
        # A point for a fee that fits only when there is a budget to fit.
        + (case((fits, 1), else_=0) if budget_high is not None else literal(0))
    )
    # Free before busy: the first sort key only when someone is busy (SQLite would read a
    # constant there as a column number).
    order: list[Any] = [busy] if busy_ids else []
    order += [score.desc(), Speaker.name]
    ranking = select(Speaker, score, is_requested, shared, speaks, fits, busy)
    if requested:
        ranking = ranking.outerjoin(shared_counts, shared_counts.c.speaker_id == Speaker.id)
    rows = session.execute(ranking.where(Speaker.is_active).order_by(*order).limit(limit)).all()
    return [_suggestion(booking, *row, own=own.get(row[0].id, [])) for row in rows]


def _suggestion(
    booking: BookingRequest,
    speaker: Speaker,
    score: int,
    requested: Any,
    shared: int,
    speaks: Any,
    fits: Any,
    busy: Any,
    *,
    own: list[str],
) -> Suggestion:
    """The score the database ranked by, its reasons in words, and a fee to quote."""
    reasons: list[str] = []
    if requested:
        reasons.append(_("requested"))
    if shared:
        reasons.append(ngettext("%(num)d shared topic", "%(num)d shared topics", shared))
    if speaks:
        reasons.append(_("speaks %(language)s", language=booking.language))
    budget_high = booking.budget_max
    if budget_high is not None and fits:
        reasons.append(_("fee fits the budget"))
    elif not fits:
        reasons.append(_("fee above the budget"))
    if own:
        reasons += own
    elif busy:
        reasons.append(_("busy on that date"))
    quote = fee_quote(booking, speaker.fee_min, speaker.fee_max)
    return Suggestion(speaker, int(score), quote, not busy, reasons)


def fee_quote(booking: BookingRequest, fee_min: int, fee_max: int) -> int:
    """The fee to quote: the speaker's band met with the budget (its top when the band
    allows, never below the budget's floor the band reaches)."""
    budget_low = booking.budget_min if booking.budget_min is not None else 0
    quote = max(fee_min, min(fee_max, booking.budget_max or fee_min))
    return max(quote, budget_low) if budget_low <= fee_max else quote


def first_choice(booking: BookingRequest) -> Speaker | None:
    """The speaker a firm offer is most likely for: the organizer's wishes in their order,
    among the shortlist when there is one (else the shortlist's first); never a speaker who
    already declined this request, nor one no longer active."""
    declined = {o.speaker_id for o in booking.offers if o.response == "declined"}

    def open_to(speaker: Speaker) -> bool:
        return speaker.is_active and speaker.id not in declined

    wished = [s for s in booking.speakers if open_to(s)]
    shortlisted = [e.speaker for e in booking.shortlist if open_to(e.speaker)]
    if not shortlisted:
        return wished[0] if wished else None
    ids = {s.id for s in shortlisted}
    return next((s for s in wished if s.id in ids), shortlisted[0])
