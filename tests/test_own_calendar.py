"""A speaker's own calendar (Radicale, over ICS and CalDAV) and blackout periods count in
every conflict check, travel time included; nothing private from that calendar is kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from time import sleep
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select, text, update

from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor
from bureau.calendar import sources
from bureau.calendar.busy import Blackout, BusyInterval, CalendarSource
from bureau.calendar.links import blackout_token
from bureau.catalogue.models import Speaker
from bureau.config import ConfigError, load_settings
from bureau.db import Base
from bureau.extensions import db
from bureau.staff.models import Role
from bureau.staff.suggestions import suggest_speakers
from tests.radicale import radicale_server
from tests.smtp import free_port

# The words staff read use an en dash between times.
# ruff: noqa: RUF001
from tests.workflow_helpers import (
    OVERRIDE,
    csrf_from,
    offer_terms,
    sign_in,
    staff_member,
    submit_and_route,
)

STAFF = Actor("staff", "Desk")
SECRET = "Zanzibar7731"  # in the summary, description, place and attendees: never kept
PASSWORD = "kaiser-own-password"
# Mondays from eight weeks ahead: a weekly meeting 14:00-16:00 Amsterdam time.
TODAY = datetime.now(UTC).date()
WEEK1 = TODAY + timedelta(days=56 + (7 - TODAY.weekday()) % 7)
WEEK2, WEEK3 = WEEK1 + timedelta(days=7), WEEK1 + timedelta(days=14)


def _stamp(day: date, hour: int) -> str:
    return f"{day:%Y%m%d}T{hour:02d}0000"


WEEKLY = [
    # The weekly meeting, six times.
    "BEGIN:VEVENT",
    "UID:weekly@own.test",
    "DTSTAMP:20260101T000000Z",
    f"DTSTART;TZID=Europe/Amsterdam:{_stamp(WEEK1, 14)}",
    f"DTEND;TZID=Europe/Amsterdam:{_stamp(WEEK1, 16)}",
    "RRULE:FREQ=WEEKLY;COUNT=6",
    f"SUMMARY:{SECRET} board meeting",
    f"DESCRIPTION:{SECRET} agenda",
    f"LOCATION:{SECRET} tower",
    f"ATTENDEE;CN={SECRET}:mailto:{SECRET.lower()}@example.com",
    "END:VEVENT",
    # The second week's moved to Tuesday 10:00-12:00.
    "BEGIN:VEVENT",
    "UID:weekly@own.test",
    "DTSTAMP:20260101T000000Z",
    f"RECURRENCE-ID;TZID=Europe/Amsterdam:{_stamp(WEEK2, 14)}",
    f"DTSTART;TZID=Europe/Amsterdam:{_stamp(WEEK2 + timedelta(days=1), 10)}",
    f"DTEND;TZID=Europe/Amsterdam:{_stamp(WEEK2 + timedelta(days=1), 12)}",
    f"SUMMARY:{SECRET} moved",
    "END:VEVENT",
    # The third week's cancelled.
    "BEGIN:VEVENT",
    "UID:weekly@own.test",
    "DTSTAMP:20260101T000000Z",
    f"RECURRENCE-ID;TZID=Europe/Amsterdam:{_stamp(WEEK3, 14)}",
    f"DTSTART;TZID=Europe/Amsterdam:{_stamp(WEEK3, 14)}",
    f"DTEND;TZID=Europe/Amsterdam:{_stamp(WEEK3, 16)}",
    "STATUS:CANCELLED",
    f"SUMMARY:{SECRET} cancelled",
    "END:VEVENT",
]
OTHERS = [
    # Free time on Wednesday of the first week (TRANSP:TRANSPARENT).
    "BEGIN:VEVENT",
    "UID:free@own.test",
    "DTSTAMP:20260101T000000Z",
    f"DTSTART;TZID=Europe/Amsterdam:{_stamp(WEEK1 + timedelta(days=2), 10)}",
    f"DTEND;TZID=Europe/Amsterdam:{_stamp(WEEK1 + timedelta(days=2), 12)}",
    "TRANSP:TRANSPARENT",
    f"SUMMARY:{SECRET} reading",
    "END:VEVENT",
]
ALL_DAY = [
    # An all-day event on Friday of the first week, in the speaker's home zone (Beijing).
    "BEGIN:VEVENT",
    "UID:allday@own.test",
    "DTSTAMP:20260101T000000Z",
    f"DTSTART;VALUE=DATE:{WEEK1 + timedelta(days=4):%Y%m%d}",
    f"DTEND;VALUE=DATE:{WEEK1 + timedelta(days=5):%Y%m%d}",
    f"SUMMARY:{SECRET} holiday",
    "END:VEVENT",
]


def calendar_of(*events: list[str]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//own calendar//EN"]
    return "\r\n".join([*lines, *(line for event in events for line in event), "END:VCALENDAR", ""])


OWN_CALENDAR = calendar_of(WEEKLY, OTHERS, ALL_DAY)


@pytest.fixture(scope="module")
def own_calendar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Kaiser Kuo's own calendar on Radicale (user kaiser); its collection's URL."""
    import caldav

    with radicale_server(tmp_path_factory.mktemp("own"), {"kaiser": PASSWORD}) as url:
        client = caldav.DAVClient(url=url, username="kaiser", password=PASSWORD)  # type: ignore[operator]
        calendar = client.principal().make_calendar(name="own", cal_id="own")
        for events in (WEEKLY, OTHERS, ALL_DAY):  # one resource per UID
            calendar.save_event(calendar_of(events))
        client.close()
        yield str(calendar.url)


class Served:
    """A plain HTTP server whose answer the test sets; it records the requests' headers."""

    def __init__(self) -> None:
        self.status, self.headers, self.body = 200, {"ETag": '"v1"'}, b""
        self.drip = 0.0  # seconds between the body's bytes
        self.seen: list[dict[str, str]] = []
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.seen.append(dict(self.headers))
                if (
                    served.headers.get("ETag")
                    and self.headers.get("If-None-Match") == (served.headers["ETag"])
                ):
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(served.status)
                for name, value in served.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(served.body)))
                self.end_headers()
                if not served.drip:
                    self.wfile.write(served.body)
                    return
                for byte in served.body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    sleep(served.drip)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cal.ics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    server = Served()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def admin(app: Flask) -> Iterator[FlaskClient]:
    staff_member(app, "calendar-admin@bureau.test", role=Role.ADMIN)
    client = app.test_client()
    sign_in(client, "calendar-admin@bureau.test")
    yield client
    with app.app_context():
        for model in (BusyInterval, Blackout, CalendarSource):
            db.session.execute(delete(model))
        db.session.commit()


def kaiser_id(app: Flask) -> int:
    with app.app_context():
        found: int = db.session.scalar(select(Speaker.id).where(Speaker.slug == "kaiser-kuo"))
        return found


def edit_page(app: Flask) -> str:
    return f"/staff/speakers/{kaiser_id(app)}/edit"


def post(client: FlaskClient, app: Flask, path: str, data: dict[str, str]) -> str:
    """POST from the speaker's admin page; the page it redirects to (with the flash)."""
    token = csrf_from(client.get(edit_page(app)).get_data(as_text=True))
    response = client.post(path, data={"csrf_token": token, **data})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client.get(edit_page(app)).get_data(as_text=True)


def connect(client: FlaskClient, app: Flask, kind: str, url: str, **extra: str) -> str:
    return post(
        client,
        app,
        f"/staff/speakers/{kaiser_id(app)}/calendar",
        {"kind": kind, "url": url, **extra},
    )


def slot(day: date, start: str, end: str, **changes: Any) -> dict[str, Any]:
    """A virtual talk (1 h buffer) in Amsterdam time, unless ``changes`` say otherwise."""
    return {
        "starts_at": f"{day:%Y-%m-%d}T{start}",
        "ends_at": f"{day:%Y-%m-%d}T{end}",
        "timezone": "Europe/Amsterdam",
        "virtual": "true",
        "venue": "",
        "city": "",
        "country": "",
        **changes,
    }


def hold_refusal(app: Flask, booking_id: int, **changes: Any) -> str | None:
    """Why a hold for Kaiser Kuo at this slot is refused, or None when it is taken."""
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        actions.record_offer(
            db.session, booking, offer_terms(**changes), actor=STAFF, expected_version=None
        )
        try:
            actions.request_availability(db.session, booking, actor=STAFF, expected_version=None)
        except actions.ActionError as refused:
            return str(refused)
        finally:
            db.session.rollback()
        return None


@pytest.mark.parametrize("kind", ["ics", "caldav"])
def test_holds_over_the_speakers_own_calendar_are_refused_travel_time_included(
    app: Flask, admin: FlaskClient, own_calendar: str, kind: str
) -> None:
    page = connect(admin, app, kind, own_calendar, username="kaiser", password=PASSWORD)
    assert "calendar is connected" in page
    assert PASSWORD not in page  # never shown back
    # Saved again without the password (it is never shown): the stored one is kept.
    assert "calendar is connected" in connect(admin, app, kind, own_calendar, username="kaiser")
    # A bad address then changes nothing.
    assert "not connected" in connect(admin, app, kind, own_calendar + "nothing-here/")
    with app.app_context():
        assert db.session.scalars(select(CalendarSource.url)).one() == own_calendar
    booking_id = submit_and_route(app).id

    over = hold_refusal(app, booking_id, **slot(WEEK1, "14:30", "15:30"))
    assert over is not None
    assert f"busy in their own calendar {WEEK1:%Y-%m-%d} 14:00–16:00 (Amsterdam time)" in over
    assert SECRET not in over
    # A virtual talk needs the shortest buffer (an hour), a trip from Beijing a day.
    assert hold_refusal(app, booking_id, **slot(WEEK1, "16:30", "17:30")) is not None
    assert hold_refusal(app, booking_id, **slot(WEEK1, "17:30", "18:30")) is None
    in_amsterdam = slot(WEEK1, "19:00", "20:00", virtual="", city="Amsterdam", country="NL")
    assert "busy in their own calendar" in (hold_refusal(app, booking_id, **in_amsterdam) or "")
    # The moved occurrence: free at the old time, busy at the new one.
    assert hold_refusal(app, booking_id, **slot(WEEK2, "14:00", "15:00")) is None
    tuesday = WEEK2 + timedelta(days=1)
    assert "10:00–12:00" in (hold_refusal(app, booking_id, **slot(tuesday, "10:30", "11:00")) or "")
    # The cancelled occurrence and the transparent event take no time.
    assert hold_refusal(app, booking_id, **slot(WEEK3, "14:00", "15:00")) is None
    wednesday = WEEK1 + timedelta(days=2)
    assert hold_refusal(app, booking_id, **slot(wednesday, "10:00", "11:00")) is None
    # The all-day event is a whole day in Beijing.
    friday = WEEK1 + timedelta(days=4)
    beijing = slot(friday, "12:00", "13:00", timezone="Asia/Shanghai")
    assert "(Shanghai time)" in (hold_refusal(app, booking_id, **beijing) or "")


def test_the_shortlist_marks_a_speaker_busy_in_their_own_calendar(
    app: Flask, admin: FlaskClient, own_calendar: str
) -> None:
    connect(admin, app, "caldav", own_calendar, username="kaiser", password=PASSWORD)
    busy = suggestions(app, WEEK1, "Europe/Amsterdam", "Amsterdam", "NL")
    assert not busy["kaiser-kuo"].available
    assert any("busy in their own calendar" in r for r in busy["kaiser-kuo"].reasons)
    assert busy["winston-ma"].available
    assert suggestions(app, WEEK3, "Asia/Shanghai", "Beijing", "CN")["kaiser-kuo"].available


def suggestions(app: Flask, day: date, zone: str, city: str, country: str) -> dict[str, Any]:
    """The shortlist's suggestions, by slug, for a request for Kaiser Kuo at 14:00-15:00."""
    booking = submit_and_route(
        app,
        speakers=["kaiser-kuo"],
        starts_at=f"{day:%Y-%m-%d}T14:00",
        ends_at=f"{day:%Y-%m-%d}T15:00",
        timezone=zone,
        city=city,
        country=country,
    )
    with app.app_context():
        found = suggest_speakers(db.session, db.session.get(BookingRequest, booking.id), 20)
        return {s.speaker.slug: s for s in found}


def test_blackout_periods_from_staff_and_the_speakers_link_refuse_holds(
    app: Flask, admin: FlaskClient
) -> None:
    speaker_id = kaiser_id(app)
    day = WEEK1 + timedelta(days=3)
    page = post(
        admin,
        app,
        f"/staff/speakers/{speaker_id}/blackouts",
        {"first_day": f"{day:%Y-%m-%d}", "note": "family wedding"},
    )
    assert "family wedding" in page
    assert f"{day:%Y-%m-%d}, all day" in page
    booking_id = submit_and_route(app).id
    refusal = hold_refusal(app, booking_id, **slot(day, "10:00", "11:00", timezone="Asia/Shanghai"))
    assert f"blackout period {day:%Y-%m-%d}" in (refusal or "")
    assert "wedding" not in (refusal or "")  # the note is private
    kaiser = suggestions(app, day, "Asia/Shanghai", "Beijing", "CN")["kaiser-kuo"]
    assert not kaiser.available
    assert any(r.startswith("blackout period") for r in kaiser.reasons)

    # The speaker's own signed link: no account; a timed period in their home zone.
    with app.test_request_context():
        token = blackout_token(speaker_id)
    speaker = app.test_client()
    own = speaker.get(f"/speaker/blackouts/{token}")
    assert own.status_code == 200
    assert "family wedding" in own.get_data(as_text=True)
    later = WEEK2 + timedelta(days=3)
    fields = {
        "csrf_token": csrf_from(own.get_data(as_text=True)),
        "first_day": f"{later:%Y-%m-%d}",
        "start_time": "09:00",
        "end_time": "12:00",
    }
    assert speaker.post(f"/speaker/blackouts/{token}", data=fields).status_code == 303
    refusal = hold_refusal(
        app, booking_id, **slot(later, "11:00", "11:30", timezone="Asia/Shanghai")
    )
    assert f"blackout period {later:%Y-%m-%d} 09:00–12:00 (Shanghai time)" in (refusal or "")

    # Bad input: a clear message, nothing saved.
    backwards = {**fields, "start_time": "12:00", "end_time": "09:00"}
    refused = speaker.post(f"/speaker/blackouts/{token}", data=backwards)
    assert refused.status_code == 422
    assert "must end after it starts" in refused.get_data(as_text=True)
    far = {**fields, "first_day": "9999-12-31", "start_time": "", "end_time": ""}
    refused = speaker.post(f"/speaker/blackouts/{token}", data=far)
    assert refused.status_code == 422
    assert "five years ahead" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(text("count(*)")).select_from(Blackout)) == 2
    assert speaker.get(f"/speaker/blackouts/{token}x").status_code == 404
    assert speaker.post(f"/speaker/blackouts/{token}", data={"remove": "1"}).status_code == 400

    # The speaker removes their own period; the hold goes through.
    with app.app_context():
        mine = db.session.scalars(select(Blackout).where(Blackout.entered_by == "speaker")).one()
        mine_id = mine.id
    page = speaker.get(f"/speaker/blackouts/{token}").get_data(as_text=True)
    removed = speaker.post(
        f"/speaker/blackouts/{token}", data={"csrf_token": csrf_from(page), "remove": str(mine_id)}
    )
    assert removed.status_code == 303
    assert (
        hold_refusal(app, booking_id, **slot(later, "11:00", "11:30", timezone="Asia/Shanghai"))
        is None
    )


def test_bad_calendars_are_refused_with_a_reason_and_change_nothing(
    app: Flask,
    admin: FlaskClient,
    own_calendar: str,
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served.status, served.headers = 200, {"Content-Type": "text/html"}
    cases: list[tuple[dict[str, str], str]] = [
        ({"kind": "ics", "url": f"http://127.0.0.1:{free_port()}/x.ics"}, "cannot be reached"),
        ({"kind": "ics", "url": "ftp://example.com/cal.ics"}, "http://, https:// or webcal://"),
        ({"kind": "ics", "url": "http://[::1/cal.ics"}, "http://, https:// or webcal://"),
        # webcal:// is https://; nothing answers there on this port.
        ({"kind": "ics", "url": f"webcal://127.0.0.1:{free_port()}/x"}, "cannot be reached"),
        (
            {"kind": "ics", "url": own_calendar, "username": "kaiser", "password": "wrong"},
            "refused the user name or password",
        ),
        (
            {"kind": "caldav", "url": own_calendar, "username": "kaiser", "password": "wrong"},
            "refused the user name or password",
        ),
        ({"kind": "ics", "url": served.url}, "did not answer with a calendar"),
    ]
    for data, reason in cases:
        page = post(admin, app, f"/staff/speakers/{kaiser_id(app)}/calendar", data)
        assert "The calendar was not connected" in page, data
        assert reason in page, data
    served.body = b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:not a date\r\nEND:VEVENT\r\n"
    page = connect(admin, app, "ics", served.url)
    assert "The calendar is malformed" in page
    served.body = calendar_of(
        [
            "BEGIN:VEVENT",
            "UID:endless@own.test",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART:{_stamp(WEEK1, 9)}Z",
            "DURATION:PT1S",
            "RRULE:FREQ=SECONDLY",
            "END:VEVENT",
        ]
    ).encode()
    assert "repeating every second or minute" in connect(admin, app, "ics", served.url)
    served.body = served.body.replace(b"SECONDLY", b"HOURLY")
    monkeypatch.setattr(sources, "MAX_OCCURRENCES", 100)  # an endless rule stops there
    assert "more than 100 events" in connect(admin, app, "ics", served.url)
    served.body = b"BEGIN:VCALENDAR\r\n" + b"X" * (sources.MAX_BYTES + 10)
    page = connect(admin, app, "ics", served.url)
    assert "larger than 5 MB" in page
    with app.app_context():
        assert db.session.scalars(select(CalendarSource)).all() == []
        assert db.session.scalars(select(BusyInterval)).all() == []


def test_a_failed_fetch_keeps_the_busy_times_and_shows_on_operations(
    app: Flask, admin: FlaskClient, served: Served
) -> None:
    served.status, served.headers = 200, {"ETag": '"v1"', "Content-Type": "text/calendar"}
    served.body = OWN_CALENDAR.encode()
    assert "calendar is connected: 6 busy interval(s) kept" in connect(
        admin, app, "ics", served.url
    )
    with app.app_context():
        source_id = db.session.scalars(select(CalendarSource)).one().id
        before = db.session.scalars(select(BusyInterval.starts_at)).all()
        # Conditional GET: the same ETag is not modified, nothing is parsed again.
        assert sources.refresh(db.session, source_id) == "unchanged since the last fetch"
        assert served.seen[-1].get("If-None-Match") == '"v1"'
        served.status, served.headers = 500, {}
        outcome = sources.refresh(db.session, source_id)
        assert outcome.startswith("failed: The server answered 500")
        assert db.session.scalars(select(BusyInterval.starts_at)).all() == before
    ops = admin.get("/staff/ops").get_data(as_text=True)
    failing = ops.split('id="failing-calendars"')[1].split("</table>")[0]
    assert "Kaiser Kuo" in failing
    assert "The server answered 500" in failing
    assert "still count" in admin.get(edit_page(app)).get_data(as_text=True)
    # Disconnecting forgets the calendar and its busy times.
    post(admin, app, f"/staff/speakers/{kaiser_id(app)}/calendar/disconnect", {})
    with app.app_context():
        assert db.session.scalars(select(BusyInterval)).all() == []


def test_nothing_private_from_the_calendar_is_kept_or_shown(
    app: Flask, admin: FlaskClient, own_calendar: str
) -> None:
    connect(admin, app, "caldav", own_calendar, username="kaiser", password=PASSWORD)
    booking_id = submit_and_route(app).id
    hold_refusal(app, booking_id, **slot(WEEK1, "14:30", "15:30"))
    pages = [
        admin.get(edit_page(app)).get_data(as_text=True),
        admin.get("/staff/ops").get_data(as_text=True),
        admin.get(f"/staff/requests/{booking_id}").get_data(as_text=True),
    ]
    assert all(SECRET not in page and PASSWORD not in page for page in pages)
    with app.app_context():
        assert db.session.scalar(select(text("count(*)")).select_from(BusyInterval)) == 6
        for table in Base.metadata.sorted_tables:
            for row in db.session.execute(select(table)):
                dumped = repr(tuple(row))
                assert SECRET.lower() not in dumped.lower(), table.name
                assert PASSWORD not in dumped, table.name


def test_due_calendars_are_claimed_once_and_beat_runs_the_fetch(
    app: Flask, admin: FlaskClient, served: Served
) -> None:
    from workers.schedule import beat_schedule

    assert beat_schedule(app.config["BUREAU_SETTINGS"])["fetch-calendars"]["task"] == (
        "bureau.calendar.fetch_due"
    )
    served.status, served.headers, served.body = 200, {}, OWN_CALENDAR.encode()
    connect(admin, app, "ics", served.url)
    with app.app_context():
        assert sources.claim_due(db.session) == []  # fetched just now
        later = datetime.now(UTC) + timedelta(minutes=16)
        [_claimed] = sources.claim_due(db.session, later)
        assert sources.claim_due(db.session, later) == []


def test_the_calendar_key_is_a_setting(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    made = load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path)})
    assert (tmp_path / "calendar_key").read_text().strip() == made.calendar_keys[0]
    key = Fernet.generate_key().decode()
    assert load_settings(
        {
            "BUREAU_INSTANCE_PATH": str(tmp_path),
            "BUREAU_CALENDAR_KEY": f"{key}, {made.calendar_keys[0]}",
        }
    ).calendar_keys == (key, made.calendar_keys[0])
    with pytest.raises(ConfigError, match="BUREAU_CALENDAR_KEY must be one or more Fernet keys"):
        load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), "BUREAU_CALENDAR_KEY": "short"})
    with pytest.raises(ConfigError, match="BUREAU_CALENDAR_INTERVAL"):
        load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), "BUREAU_CALENDAR_INTERVAL": "-1"})


def test_busy_intervals_are_merged_and_clipped_to_the_window() -> None:
    amsterdam = ZoneInfo("Europe/Amsterdam")
    start = datetime.combine(WEEK1, time(15), amsterdam)  # in the middle of the meeting
    document = OWN_CALENDAR.encode()
    intervals = sources.busy_from(
        [document, document], "Asia/Shanghai", start, start + timedelta(days=3)
    )
    # The same calendar twice gives each busy time once, cut at the window's start.
    assert intervals == [(start, datetime.combine(WEEK1, time(16), amsterdam))]


def test_confirm_and_reschedule_count_blackouts_too(app: Flask, admin: FlaskClient) -> None:
    from bureau.calendar.busy import add_blackout
    from tests.test_invites import confirmed_booking

    day = WEEK2 + timedelta(days=2)
    with app.app_context():
        kaiser = db.session.get(Speaker, kaiser_id(app))
        booking = db.session.get(BookingRequest, submit_and_route(app).id)
        actions.record_offer(
            db.session,
            booking,
            offer_terms(**slot(day, "10:00", "11:00")),
            actor=STAFF,
            expected_version=None,
        )
        actions.request_availability(db.session, booking, actor=STAFF, expected_version=None)
        db.session.commit()
        # The speaker blocks the day after the hold was placed: confirming is refused.
        add_blackout(
            db.session,
            kaiser,
            first=day,
            last=None,
            start=None,
            end=None,
            note=None,
            entered_by="speaker",
        )
        actions.speaker_answer(db.session, booking, booking.offer, accept=True, reason=None)
        actions.record_contract(
            db.session,
            booking,
            actions.ContractTerms(12000, "USD", Decimal("20"), 6000, TODAY, None),
            actor=STAFF,
            expected_version=None,
        )
        # Beijing's whole day, said in the slot's zone.
        with pytest.raises(actions.ActionError, match=r"blackout period .*\(Amsterdam time\)"):
            actions.confirm(db.session, booking, actor=STAFF, expected_version=None, **OVERRIDE)
        db.session.commit()  # the blackout stays; the booking is not confirmed

        confirmed = db.session.get(BookingRequest, confirmed_booking(app))
        into = offer_terms(**slot(day, "15:00", "16:00", timezone="Asia/Shanghai"))
        with pytest.raises(actions.ActionError, match="blackout period"):
            actions.reschedule(db.session, confirmed, into, actor=STAFF, expected_version=None)
        db.session.rollback()


def test_a_calendar_that_drips_past_the_deadline_is_refused(
    app: Flask, admin: FlaskClient, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "DEADLINE", 0.3)
    served.status, served.headers, served.body = 200, {}, OWN_CALENDAR.encode()[:200]
    served.drip = 0.01
    try:
        page = connect(admin, app, "ics", served.url)
    finally:
        served.drip = 0.0
    assert "The calendar was not connected: The calendar took longer than 0 s" in page
    with app.app_context():
        assert db.session.scalars(select(CalendarSource)).all() == []


def test_beat_sends_one_fetch_per_due_calendar_and_a_failure_stays_its_own(
    app: Flask, admin: FlaskClient, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bureau.calendar import tasks

    served.status, served.headers, served.body = 200, {}, OWN_CALENDAR.encode()
    with app.app_context():
        speakers = {
            s.slug: s
            for s in db.session.scalars(
                select(Speaker).where(Speaker.slug.in_(["kaiser-kuo", "winston-ma"]))
            )
        }
        for speaker in speakers.values():
            sources.connect(db.session, speaker, sources.Connection("ics", served.url, None, None))
        db.session.execute(update(CalendarSource).values(next_fetch_at=datetime.now(UTC)))
        db.session.commit()
    sent: list[int] = []
    monkeypatch.setattr(tasks.fetch_calendar, "delay", sent.append)
    # .run() in this app's context: the task proxy would run under whichever Flask app's
    # Celery was made last in this test process.
    with app.app_context():
        assert tasks.fetch_due_calendars.run() == 2
    with app.app_context():
        assert tasks.fetch_due_calendars.run() == 0  # claimed: not sent twice
    with app.app_context():
        owner = dict(db.session.execute(select(CalendarSource.id, CalendarSource.speaker_id)).all())
        by_slug = {slug: s.id for slug, s in speakers.items()}
    # Kaiser Kuo's server goes away; Winston Ma's answers.
    with app.app_context():
        db.session.execute(
            update(CalendarSource)
            .where(CalendarSource.speaker_id == by_slug["kaiser-kuo"])
            .values(url=f"http://127.0.0.1:{free_port()}/gone.ics")
        )
        db.session.commit()
    with app.app_context():
        outcomes = {owner[source_id]: tasks.fetch_calendar.run(source_id) for source_id in sent}
    assert outcomes[by_slug["kaiser-kuo"]].startswith("failed: The calendar's server cannot")
    assert outcomes[by_slug["winston-ma"]] == "6 busy interval(s) kept"
    with app.app_context():
        kept = db.session.scalars(select(BusyInterval.speaker_id)).all()
        assert kept.count(by_slug["kaiser-kuo"]) == kept.count(by_slug["winston-ma"]) == 6


def test_without_a_calendar_key_no_password_is_stored(
    app: Flask, admin: FlaskClient, own_calendar: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    keyless = replace(app.config["BUREAU_SETTINGS"], calendar_keys=())
    monkeypatch.setitem(app.config, "BUREAU_SETTINGS", keyless)
    page = connect(admin, app, "caldav", own_calendar, username="kaiser", password=PASSWORD)
    assert "not connected: BUREAU_CALENDAR_KEY is not set" in page
    with app.app_context():
        assert db.session.scalars(select(CalendarSource)).all() == []
