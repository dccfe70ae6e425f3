"""Staff read words and their own times: no raw status, email or action codes on any page,
and every time on the staff pages in the staff member's own zone (which they set), named."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bureau.bookings.links import availability_token
from bureau.bookings.models import BookingEvent
from bureau.bookings.states import STAFF_LABELS, Status
from bureau.describe import ACTION_WORDS, job_kind_label
from bureau.extensions import db
from bureau.i18n.unmarked import shown_text
from bureau.mail.recipients import AUDIENCES, MAIL_NAMES, MAIL_TASK
from bureau.mail.tasks import send_notification
from bureau.outbox import Job, run_job
from bureau.staff.models import Role, StaffMember
from bureau.templating import event_span, event_time, staff_time
from tests.conftest import NEXT_YEAR
from tests.site_pages import demo_site, every_page
from tests.test_workflow_story import shortlist_data
from tests.workflow_helpers import (
    accept_and_pay_in,
    csrf_from,
    offer_data,
    post_form,
    reload,
    sign_in,
    staff_member,
    submit_and_route,
)

__all__ = ["demo_site"]  # a fixture: pytest finds it by name

SHANGHAI = "shanghai.desk@bureau.localhost"
CODES = sorted({s.value for s in Status if "_" in s.value} | {t for t in AUDIENCES if "_" in t})
RAW = re.compile(
    r"\b(?:" + "|".join(CODES) + r")\b"  # status and email template codes
    r"|\bsequence\b|(?<![Cc]ontract )\bversion \d"  # the calendar's and the row's counters
    r"|\b[0-9a-f]{8,}\b"  # hex ids (invitation uids, hashes)
    r"|\d\d:\d\d(?::\d\d)? ?UTC\b"  # a bare UTC time
    r"|\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d"  # a time with no zone at all
)
TIMELINE_STEP = re.compile(r"<strong>([^<]*)</strong>")


def visible_text(html: str) -> str:
    """The text a person reads: no tags, attributes, scripts or styles."""
    return " ".join(shown_text(html, attributes=False).split())


def test_the_checker_finds_raw_codes() -> None:
    page = '<p title="offer_received">Firm offer received</p><script>var a = "sla_breach";</script>'
    assert RAW.findall(visible_text(page)) == []
    for raw in (
        "<b>offer_received</b>",
        "<span>version 3</span>",
        "invitations a9e3c0ffee12…, sequence 0",
        "<time>2026-12-08 09:15:00 UTC</time>",
        "<td>reminder_7d</td>",
        "<td>2026-12-08 09:15</td>",
    ):
        assert RAW.search(visible_text(raw)), raw


def test_every_code_has_words() -> None:
    assert set(MAIL_NAMES) == set(AUDIENCES)
    assert set(STAFF_LABELS) == set(Status)
    assert job_kind_label("mail.offer_received") == "Email: Firm offer received"
    for lazy in [*MAIL_NAMES.values(), *STAFF_LABELS.values(), *ACTION_WORDS.values()]:
        words = str(lazy)  # some are translated when shown (lazy_gettext)
        assert not RAW.search(words), words
        assert "_" not in words, words


def test_times_are_named_in_the_readers_zone(app: Flask) -> None:
    instant = datetime(2026, 12, 8, 8, 15, tzinfo=UTC)
    with app.test_request_context():  # nobody signed in: UTC, said so
        assert staff_time(instant) == "Tue 8 Dec 2026, 08:15 (UTC)"
        assert staff_time(instant, "Europe/Amsterdam") == "Tue 8 Dec 2026, 09:15 (Amsterdam)"
        assert staff_time(instant, "America/New_York") == "Tue 8 Dec 2026, 03:15 (New York)"
        # An event in its own zone, and the reader's when their clock differs.
        assert event_time(instant, "Asia/Shanghai") == (
            "Tue 8 Dec 2026, 16:15 (Shanghai); Tue 8 Dec 2026, 08:15 (UTC)"
        )
        assert event_time(instant, "Europe/London") == "Tue 8 Dec 2026, 08:15 (London)"
        # A span: its end's day only when it differs; the reader's day only when theirs does.
        three_hours = instant + timedelta(hours=3)
        assert event_span(instant, three_hours, "Europe/Amsterdam") == (
            "Tue 8 Dec 2026, 09:15 \N{EN DASH} 12:15 (Amsterdam); 08:15 \N{EN DASH} 11:15 (UTC)"
        )
        assert event_span(instant, three_hours, "Pacific/Auckland") == (
            "Tue 8 Dec 2026, 21:15 \N{EN DASH} Wed 9 Dec 2026, 00:15 (Auckland); "
            "08:15 \N{EN DASH} 11:15 (UTC)"
        )
        morning = datetime(2026, 12, 8, 19, 0, tzinfo=UTC)  # Wed 08:00 in Auckland
        assert event_span(morning, morning + timedelta(hours=1), "Pacific/Auckland") == (
            "Wed 9 Dec 2026, 08:00 \N{EN DASH} 09:00 (Auckland); "
            "Tue 8 Dec 2026, 19:00 \N{EN DASH} 20:00 (UTC)"
        )
        assert event_span(instant, three_hours, "Europe/London") == (
            "Tue 8 Dec 2026, 08:15 \N{EN DASH} 11:15 (London)"
        )


def set_zone(client: FlaskClient, zone: str) -> tuple[int, str]:
    page = client.get("/staff/password").get_data(as_text=True)
    response = client.post(
        "/staff/timezone", data={"csrf_token": csrf_from(page), "timezone": zone}
    )
    return response.status_code, response.get_data(as_text=True)


def zone_of(app: Flask, email: str) -> str:
    with app.app_context():
        member = db.session.scalars(select(StaffMember).where(StaffMember.email == email)).one()
        return member.timezone


def test_staff_set_their_own_zone(app: Flask) -> None:
    staff_member(app, SHANGHAI)
    client = app.test_client()
    sign_in(client, SHANGHAI)
    page = client.get("/staff/password").get_data(as_text=True)
    assert '<option selected value="UTC">UTC</option>' in page
    assert '<optgroup label="Asia">' in page

    for bad in ("Mars/Olympus_Mons", "", "Asia/Shanghai' OR 1=1", "x" * 500, "../../etc/passwd"):
        status, html = set_zone(client, bad)
        assert status == 422, bad
        assert "Choose a time zone from the list" in html
        assert zone_of(app, SHANGHAI) == "UTC"  # nothing changed
    no_token = client.post("/staff/timezone", data={"timezone": "Asia/Shanghai"})
    assert no_token.status_code == 400
    assert zone_of(app, SHANGHAI) == "UTC"

    status, _ = set_zone(client, "Asia/Shanghai")
    assert status == 303
    assert zone_of(app, SHANGHAI) == "Asia/Shanghai"
    page = client.get("/staff/password").get_data(as_text=True)
    assert "Times are now shown in your zone" in page
    assert "(Shanghai)" in page
    assert '<option selected value="Asia/Shanghai">Shanghai</option>' in page
    # Only the signed-in member's own zone changes.
    assert app.test_client().post("/staff/timezone", data={"timezone": "UTC"}).status_code in (
        302,
        400,
    )
    assert zone_of(app, SHANGHAI) == "Asia/Shanghai"


def run_mail(app: Flask) -> None:
    with app.app_context():
        for job_id in db.session.scalars(
            select(Job.id).where(Job.task == MAIL_TASK, Job.state == "pending")
        ).all():
            run_job(db.session, job_id, send_notification)


def whole_story(app: Flask, staff: FlaskClient) -> int:
    """One request from submission through shortlist, offer, availability, acceptance,
    contract, confirmation and a reschedule to its cancellation; its emails composed."""
    booking = submit_and_route(app)
    page = f"/staff/requests/{booking.id}"
    steps: list[tuple[str, dict[str, str]]] = [
        ("shortlist", shortlist_data()),
        ("offer", offer_data()),
        ("availability", {"hold_days": "5"}),
    ]
    for step, data in steps:
        response = post_form(staff, f"{page}/{step}", page, data)
        assert response.status_code == 303, (step, response.get_data(as_text=True)[-1500:])
    booking = reload(app, booking.id)
    with app.app_context():
        link = f"/availability/{availability_token(booking.offer.id, booking.offer.speaker_id)}"
    speaker = app.test_client()
    token = csrf_from(speaker.get(link).get_data(as_text=True))
    assert speaker.post(link, data={"csrf_token": token, "answer": "accept"}).status_code == 303
    contract = {
        "fee": "12500",
        "currency": "USD",
        "commission_pct": "20",
        "deposit_amount": "6250",
        "deposit_due": f"{NEXT_YEAR}-01-15",
    }
    moved = {
        **offer_data(starts_at=f"{NEXT_YEAR}-03-11T14:00", ends_at=f"{NEXT_YEAR}-03-11T15:00"),
        "venue": "Hall 2",
    }
    for step, data in (("contract", contract), ("confirm", {}), ("reschedule", moved)):
        if step == "confirm":
            accept_and_pay_in(app, booking.id)
        response = post_form(staff, f"{page}/{step}", page, data)
        assert response.status_code == 303, (step, response.get_data(as_text=True)[-1500:])
    run_mail(app)
    response = post_form(
        staff, f"{page}/close", page, {"to": "cancelled", "reason": "The venue closed"}
    )
    assert response.status_code == 303
    assert reload(app, booking.id).status == Status.CANCELLED
    run_mail(app)
    return booking.id


def test_every_page_after_a_whole_story_reads_in_words_and_local_time(demo_site: Flask) -> None:
    app = demo_site
    staff_member(app, SHANGHAI, role=Role.ADMIN)
    staff = app.test_client()
    assert sign_in(staff, SHANGHAI).status_code == 302
    assert set_zone(staff, "Asia/Shanghai")[0] == 303
    booking_id = whole_story(app, staff)

    with app.app_context():
        submitted = db.session.scalars(
            select(BookingEvent.at).where(
                BookingEvent.booking_id == booking_id, BookingEvent.action == "submitted"
            )
        ).one()
    here = submitted.astimezone(ZoneInfo("Asia/Shanghai"))
    shown_here = f"{here:%a %-d %b %Y, %H:%M} (Shanghai)"
    as_utc = f"{submitted.astimezone(UTC):%a %-d %b %Y, %H:%M}"
    story = visible_text(staff.get(f"/staff/requests/{booking_id}").get_data(as_text=True))
    assert shown_here in story
    assert as_utc not in story  # Shanghai is never at UTC's clock
    for words in ("Request submitted", "Shortlist sent", "Firm offer recorded", "Rescheduled"):
        assert words in story, words
    assert "Firm offer recorded → Firm offer received" in story
    assert "Confirmed → Confirmed" not in story  # the step's words say it once
    mail_log = visible_text(staff.get("/staff/mail").get_data(as_text=True))
    assert "Shortlist for the organizer" in mail_log

    pages = [*every_page(app), f"/staff/requests/{booking_id}", "/staff/mail?state=failed"]
    checked, raw = 0, {}
    for path in pages:
        response = staff.get(path)
        if response.mimetype != "text/html":
            continue  # the raw email source and the CSV export are files, not pages
        text = visible_text(response.get_data(as_text=True))
        if found := sorted(set(RAW.findall(text))):
            raw[path] = found
        is_request = path.startswith("/staff/requests/") and "/contract/" not in path
        if is_request and response.status_code == 200:  # steps in words (a contract: none)
            timeline = response.get_data(as_text=True).partition('id="timeline"')[2]
            steps = set(TIMELINE_STEP.findall(timeline))
            assert steps, path
            assert steps <= set(ACTION_WORDS.values()), (path, steps - set(ACTION_WORDS.values()))
        checked += 1
    assert not raw, "\n".join(f"{p}: {f}" for p, f in raw.items())
    assert checked > 30


SHANGHAI_ZONE, AMS = "Asia/Shanghai", "Europe/Amsterdam"


def test_an_event_time_is_also_shown_in_the_readers_zone(app: Flask) -> None:
    staff_member(app, SHANGHAI, role=Role.ADMIN)
    staff = app.test_client()
    sign_in(staff, SHANGHAI)
    assert set_zone(staff, "Europe/Amsterdam")[0] == 303
    booking = submit_and_route(app)  # an event in Asia/Shanghai
    text = visible_text(staff.get(f"/staff/requests/{booking.id}").get_data(as_text=True))
    starts = booking.starts_at.astimezone(ZoneInfo("Asia/Shanghai"))
    mine = booking.starts_at.astimezone(ZoneInfo("Europe/Amsterdam"))
    ends, mine_ends = (booking.ends_at.astimezone(ZoneInfo(z)) for z in (SHANGHAI_ZONE, AMS))
    assert (
        f"{starts:%a %-d %b %Y, %H:%M} \N{EN DASH} {ends:%H:%M} (Shanghai); "
        f"{mine:%H:%M} \N{EN DASH} {mine_ends:%H:%M} (Amsterdam)" in text
    )
    dashboard = visible_text(staff.get("/staff/?queue=open").get_data(as_text=True))
    assert f"{mine:%a %-d %b %Y, %H:%M} (Amsterdam)" in dashboard
