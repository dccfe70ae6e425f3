"""The .ics itself: whole-file snapshots for request, update and cancel; parsed back by
icalendar, the strict `ical` parser and vobject; arbitrary user text cannot break it."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import vobject
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

from bureau.calendar.ics import invitation
from bureau.calendar.models import Engagement

SNAPSHOTS = Path(__file__).parent / "snapshots"
STAMP = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ORGANIZER = "Bureau <bookings@bureau.localhost>"


def engagement(**changes: object) -> Engagement:
    values: dict[str, object] = {
        "uid": "0b7e4f8e-5d7a-4a57-9b1d-1f0c3f3e2a10@bureau.localhost",
        "sequence": 0,
        "title": "Kaiser Kuo at Future of Retail Summit",
        "timezone": "Europe/Amsterdam",
        "starts_at": datetime(2027, 3, 28, 7, 0, tzinfo=UTC),  # 09:00 CEST, the DST day
        "ends_at": datetime(2027, 3, 28, 8, 0, tzinfo=UTC),
        "location": "RAI, Amsterdam, NL",
    }
    values.update(changes)
    return Engagement(**values)


def render(
    item: Engagement,
    method: str,
    name: str = "Li Na",
    email: str = "li.na@example.com",
    description: str = "Future of Retail Summit (BR-2027-00042)\nhttps://bureau.test/requests/t",
) -> bytes:
    return invitation(
        item,
        method=method,
        attendee_email=email,
        attendee_name=name,
        organizer=ORGANIZER,
        description=description,
        stamp=STAMP,
    )


def parse_everywhere(ics: bytes) -> Calendar:
    """Parse with three independent parsers; return icalendar's view."""
    text = ics.decode("utf-8")
    strict = IcsCalendarStream.calendar_from_ics(text)
    assert len(strict.events) == 1
    card = vobject.readOne(io.StringIO(text))
    assert len(card.vevent_list) == 1
    return Calendar.from_ical(ics)


def check_snapshot(name: str, ics: bytes) -> None:
    path = SNAPSHOTS / name
    assert path.exists(), f"no snapshot {path}; write it once from a reviewed output"
    assert ics == path.read_bytes(), f"{name} differs from its snapshot"


def test_request_update_and_cancel_snapshots() -> None:
    first = render(engagement(), "REQUEST")
    update = render(engagement(sequence=1, location="Beurs, Amsterdam, NL"), "REQUEST")
    cancel = render(engagement(sequence=2), "CANCEL")
    check_snapshot("invite_request.ics", first)
    check_snapshot("invite_update.ics", update)
    check_snapshot("invite_cancel.ics", cancel)
    events = [parse_everywhere(ics).walk("VEVENT")[0] for ics in (first, update, cancel)]
    assert len({str(e["UID"]) for e in events}) == 1
    assert [e.decoded("SEQUENCE") for e in events] == [0, 1, 2]
    assert [str(e["STATUS"]) for e in events] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
    assert b"\r\n" in first  # RFC 5545 line endings
    assert all(len(line) <= 75 for line in first.split(b"\r\n"))  # folded


user_text = st.text(max_size=300)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=user_text, location=user_text, name=user_text, description=user_text)
def test_any_user_text_still_parses_strictly(
    title: str, location: str, name: str, description: str
) -> None:
    ics = render(
        engagement(title=title, location=location), "REQUEST", name=name, description=description
    )
    calendar = parse_everywhere(ics)
    [event] = calendar.walk("VEVENT")
    organizer = event.get("ORGANIZER")
    assert not isinstance(organizer, list)
    assert str(organizer) == "mailto:bookings@bureau.localhost"
    attendee = event.get("ATTENDEE")
    assert not isinstance(attendee, list)
    assert str(attendee) == "mailto:li.na@example.com"
    assert calendar["METHOD"] == "REQUEST"
    for line in ics.split(b"\r\n"):
        assert len(line) <= 75
