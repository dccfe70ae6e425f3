"""Travel time between engagements grows with distance; the buffers are a setting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor
from bureau.calendar.travel import Place, parse_buffers
from bureau.config import ConfigError, load_settings
from bureau.extensions import db
from tests.conftest import NEXT_YEAR
from tests.test_invites import confirmed_booking
from tests.workflow_helpers import offer_terms, submit_and_route

STAFF = Actor("staff", "Desk")
BUFFERS = parse_buffers("same_city=1,same_country=6,same_area=12,elsewhere=24")
AMSTERDAM = Place("amsterdam", "NL", "Europe", False)


@pytest.mark.parametrize(
    ("other", "hours"),
    [
        (Place("amsterdam", "NL", "Europe", False), 1),
        (Place("rotterdam", "NL", "Europe", False), 6),
        (Place("paris", "FR", "Europe", False), 12),
        (Place("shanghai", "CN", "Asia", False), 24),
        (Place(None, None, "Asia", True), 1),  # a virtual talk needs no travel
    ],
)
def test_buffer_by_distance(other: Place, hours: int) -> None:
    assert BUFFERS.between(AMSTERDAM, other) == timedelta(hours=hours)
    assert BUFFERS.between(other, AMSTERDAM) == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("city", "country", "zone", "start", "end", "refused"),
    [
        # The first engagement: Amsterdam, 09:00 to 17:00 local on the DST day.
        ("Amsterdam", "NL", "Europe/Amsterdam", "03-28T18:30", "03-28T19:30", False),
        ("Rotterdam", "NL", "Europe/Amsterdam", "03-28T19:00", "03-28T20:00", True),
        ("Rotterdam", "NL", "Europe/Amsterdam", "03-28T23:30", "03-29T00:30", False),
        ("Shanghai", "CN", "Asia/Shanghai", "03-29T09:00", "03-29T10:00", True),
    ],
)
def test_confirmations_respect_travel_time(
    app: Flask, city: str, country: str, zone: str, start: str, end: str, refused: bool
) -> None:
    with app.app_context():
        confirmed_booking(app)
        second = db.session.get(BookingRequest, submit_and_route(app).id)
        terms = offer_terms(
            city=city,
            country=country,
            timezone=zone,
            venue="",
            starts_at=f"{NEXT_YEAR}-{start}",
            ends_at=f"{NEXT_YEAR}-{end}",
        )
        actions.record_offer(db.session, second, terms, actor=STAFF, expected_version=None)
        if refused:
            with pytest.raises(actions.ActionError, match="not free then"):
                actions.request_availability(db.session, second, actor=STAFF, expected_version=None)
        else:
            actions.request_availability(db.session, second, actor=STAFF, expected_version=None)
        db.session.rollback()


def test_buffers_are_a_setting(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "BUREAU_INSTANCE_PATH": str(tmp_path),
            "BUREAU_TRAVEL_BUFFERS": "same_city=0,same_country=2,same_area=4,elsewhere=8",
        }
    )
    assert parse_buffers(settings.travel_buffers).elsewhere == timedelta(hours=8)
    with pytest.raises(ConfigError, match="BUREAU_TRAVEL_BUFFERS"):
        load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), "BUREAU_TRAVEL_BUFFERS": "far=9"})
