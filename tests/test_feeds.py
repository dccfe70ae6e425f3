"""Calendar feeds by secret token: engagements confirmed, holds tentative, 304 when unchanged,
rotation revokes the old address."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from icalendar import Calendar
from sqlalchemy import select, update

from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor
from bureau.calendar.models import Hold
from bureau.catalogue.models import Speaker
from bureau.extensions import db
from bureau.staff.models import Role, StaffMember
from tests.conftest import NEXT_YEAR
from tests.test_invites import confirmed_booking
from tests.workflow_helpers import offer_terms, post_form, sign_in, staff_member, submit_and_route

STAFF = Actor("staff", "Desk")


def test_speaker_feed_shows_engagements_and_holds(app: Flask) -> None:
    with app.app_context():
        confirmed_booking(app)
        held = db.session.get(BookingRequest, submit_and_route(app).id)
        actions.record_offer(
            db.session,
            held,
            offer_terms(starts_at=f"{NEXT_YEAR}-05-10T09:00", ends_at=f"{NEXT_YEAR}-05-10T10:00"),
            actor=STAFF,
            expected_version=None,
        )
        actions.request_availability(db.session, held, actor=STAFF, expected_version=None)
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        speaker.feed_token = "speaker-secret-token"
        db.session.commit()
    client = app.test_client()
    assert client.get("/calendar/speakers/kaiser-kuo.ics").status_code == 404
    assert client.get("/calendar/speakers/kaiser-kuo.ics?token=guess").status_code == 404
    response = client.get("/calendar/speakers/kaiser-kuo.ics?token=speaker-secret-token")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    assert calendar["METHOD"] == "PUBLISH"
    statuses = sorted(str(e["STATUS"]) for e in calendar.walk("VEVENT"))
    assert statuses == ["CONFIRMED", "TENTATIVE"]
    # The hold's UID: random at the bureau's domain (never its row id), kept on its row.
    [hold_event] = [e for e in calendar.walk("VEVENT") if str(e["STATUS"]) == "TENTATIVE"]
    with app.app_context():
        [hold_uid] = db.session.scalars(select(Hold.uid).where(Hold.state == "active")).all()
    assert str(hold_event["UID"]) == hold_uid
    assert re.fullmatch(r"[0-9a-f-]{36}@bureau\.localhost", hold_uid)
    # RFC 5546 §3.2.1: PUBLISH needs an ORGANIZER on every event.
    for event in calendar.walk("VEVENT"):
        assert str(event["ORGANIZER"]) == "mailto:bookings@bureau.localhost"
    again = client.get(
        "/calendar/speakers/kaiser-kuo.ics?token=speaker-secret-token",
        headers={"If-None-Match": response.headers["ETag"]},
    )
    assert again.status_code == 304
    assert again.data == b""


def test_staff_rotate_their_feed_address(app: Flask) -> None:
    staff_member(app, "desk@bureau.test", role=Role.AGENT)
    client = app.test_client()
    sign_in(client, "desk@bureau.test")
    assert post_form(client, "/staff/calendar/rotate", "/staff/calendar", {}).status_code == 303
    with app.app_context():
        member = db.session.scalars(
            select(StaffMember).where(StaffMember.email == "desk@bureau.test")
        ).one()
        first = member.feed_token
    page = client.get("/staff/calendar").get_data(as_text=True)
    assert f"/calendar/staff/{member.id}.ics?token={first}" in page
    assert client.get(f"/calendar/staff/{member.id}.ics?token={first}").status_code == 200
    post_form(client, "/staff/calendar/rotate", "/staff/calendar", {})
    assert client.get(f"/calendar/staff/{member.id}.ics?token={first}").status_code == 404


def test_admin_creates_a_speaker_feed_address(app: Flask) -> Any:
    staff_member(app, "boss@bureau.test", role=Role.ADMIN)
    client = app.test_client()
    sign_in(client, "boss@bureau.test")
    with app.app_context():
        speaker_id = db.session.scalar(select(Speaker.id).where(Speaker.slug == "winston-ma"))
    path = f"/staff/speakers/{speaker_id}/feed"
    assert post_form(client, path, "/staff/speakers", {}).status_code == 303
    listing = client.get("/staff/speakers").get_data(as_text=True)
    assert "/calendar/speakers/winston-ma.ics?token=" in listing


def test_kept_event_texts_follow_changes(app: Flask) -> None:
    from bureau.calendar.models import Engagement

    with app.app_context():
        confirmed_booking(app)
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        speaker.feed_token = "speaker-secret-token"
        db.session.commit()
    client = app.test_client()
    url = "/calendar/speakers/kaiser-kuo.ics?token=speaker-secret-token"
    first = client.get(url)
    with app.app_context():
        engagement = db.session.scalars(select(Engagement)).one()
        assert engagement.ics_text is not None  # kept for the next poll
        engagement.title = "Kaiser Kuo at the renamed summit"
        db.session.commit()
    second = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert b"renamed summit" in second.data
    assert second.headers["ETag"] != first.headers["ETag"]


def test_texts_kept_before_organizer_was_added_are_rendered_again(app: Flask) -> None:
    from bureau.calendar.models import Engagement

    with app.app_context():
        confirmed_booking(app)
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        speaker.feed_token = "speaker-secret-token"
        engagement = db.session.scalars(select(Engagement)).one()
        # As the previous release kept it: its key, a VEVENT without ORGANIZER (and
        # updated_at as it was, which an ORM change would move).
        db.session.execute(
            update(Engagement)
            .where(Engagement.id == engagement.id)
            .values(
                ics_cache_key=f"{engagement.sequence}:{engagement.updated_at.isoformat()}",
                ics_text=f"BEGIN:VEVENT\r\nUID:{engagement.uid}\r\nEND:VEVENT\r\n",
                updated_at=Engagement.updated_at,
            )
        )
        db.session.commit()
    feed = app.test_client().get("/calendar/speakers/kaiser-kuo.ics?token=speaker-secret-token")
    [event] = Calendar.from_ical(feed.data).walk("VEVENT")
    assert str(event["ORGANIZER"]) == "mailto:bookings@bureau.localhost"
