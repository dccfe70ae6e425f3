"""Shortlist suggestions: the database's ranking equals the rules written out in Python."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor
from bureau.catalogue.models import Speaker
from bureau.extensions import db
from bureau.staff.suggestions import REQUESTED_WEIGHT, suggest_speakers
from tests.workflow_helpers import offer_terms, submit_and_route

STAFF = Actor("staff", "Greater China desk")


def by_the_rules(booking: BookingRequest, busy: set[str]) -> list[tuple[str, int, bool, str]]:
    """Every active speaker scored as the page explains it, then sorted: free before busy,
    higher score first, then by name."""
    requested = {s.slug for s in booking.speakers}
    wanted = {t.slug for s in booking.speakers for t in s.topics}
    ranked = []
    for speaker in db.session.scalars(select(Speaker).where(Speaker.is_active)):
        reasons = []
        score = 0
        if speaker.slug in requested:
            score += REQUESTED_WEIGHT
            reasons.append("requested")
        shared = len(wanted & {t.slug for t in speaker.topics})
        if shared:
            score += shared
            reasons.append(f"{shared} shared topic{'s' if shared > 1 else ''}")
        if booking.language in speaker.languages:
            score += 1
            reasons.append(f"speaks {booking.language}")
        if booking.budget_max is not None:
            if speaker.fee_min <= booking.budget_max:
                score += 1
                reasons.append("fee fits the budget")
            else:
                reasons.append("fee above the budget")
        if speaker.slug in busy:
            reasons.append("busy on that date")
        ranked.append((speaker.slug, score, speaker.slug not in busy, ", ".join(reasons)))
    names = {s.slug: s.name for s in db.session.scalars(select(Speaker))}
    ranked.sort(key=lambda r: (not r[2], -r[1], names[r[0]]))
    return ranked


def suggested(booking: BookingRequest, limit: int = 8) -> list[tuple[str, int, bool, str]]:
    return [
        (s.speaker.slug, s.score, s.available, ", ".join(s.reasons))
        for s in suggest_speakers(db.session, booking, limit=limit)
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"speakers": ["kaiser-kuo", "winston-ma"], "language": "zh"},
        {"speakers": ["fons-tuinstra"], "budget_max": ..., "budget_min": ...},
        {"speakers": ["ashley-dudarenok"], "budget_min": 1000, "budget_max": 2000},
    ],
    ids=["one wished", "two wished in Chinese", "no budget", "low budget"],
)
def test_ranking_follows_the_rules(app: Flask, changes: dict[str, Any]) -> None:
    booking_id = submit_and_route(app, **changes).id
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        expected = by_the_rules(booking, busy=set())
        assert suggested(booking, limit=100) == expected
        assert suggested(booking, limit=3) == expected[:3]


def test_a_speaker_held_elsewhere_that_day_is_busy_and_comes_last(app: Flask) -> None:
    other_id = submit_and_route(app, contact_email="other@example.com").id
    with app.app_context():
        other = db.session.get(BookingRequest, other_id)
        actions.shortlist(
            db.session,
            other,
            [
                actions.Candidate("kaiser-kuo", 12000, "Beijing", None),
                actions.Candidate("winston-ma", 15000, "New York", None),
                actions.Candidate("ashley-dudarenok", 9000, "Hong Kong", None),
            ],
            actor=STAFF,
            expected_version=None,
        )
        organizer = Actor("organizer", other.contact_name)
        actions.record_offer(
            db.session, other, offer_terms(), actor=organizer, expected_version=None
        )
        actions.request_availability(db.session, other, actor=STAFF, expected_version=None)
        db.session.commit()  # Kaiser Kuo is now held for the same hour

    booking_id = submit_and_route(app, speakers=["kaiser-kuo"]).id
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        ranking = suggested(booking, limit=100)
        assert ranking == by_the_rules(booking, busy={"kaiser-kuo"})
        slug, score, available, reasons = ranking[-1]
        assert (slug, available) == ("kaiser-kuo", False)
        assert score > ranking[0][1]  # ranked last although it scores best
        assert reasons.startswith("requested")
        assert reasons.endswith("busy on that date")
        # The booking's own hold does not make its speaker busy for it.
        other = db.session.get(BookingRequest, other_id)
        assert all(available for _, _, available, _ in suggested(other, limit=100))
