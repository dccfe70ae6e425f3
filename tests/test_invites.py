"""Calendar invitations: a confirmed booking becomes an engagement whose invites (one per
attendee, through the outbox and a real SMTP server) clients accept, and whose cancellation
carries the same UID with a higher SEQUENCE and METHOD:CANCEL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from icalendar import Calendar
from sqlalchemy import select

from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.states import Status
from bureau.bookings.validation import OfferTerms, validate_offer
from bureau.bookings.workflow import Actor
from bureau.calendar.models import Engagement
from bureau.extensions import db
from bureau.mail.tasks import send_notification
from bureau.outbox import Job, run_job
from tests.conftest import NEXT_YEAR, make_app
from tests.workflow_helpers import OVERRIDE, submit_and_route

STAFF = Actor("staff", "Greater China desk")
ORGANIZER, SPEAKER, DESK = (
    "li.na@example.com",
    "kaiser-kuo@speakers.bureau.localhost",
    "china.desk@bureau.localhost",
)


@pytest.fixture
def mail_app(tmp_path: Path, database_url: str, app: Flask, smtp_server: Any) -> Iterator[Flask]:
    application = make_app(tmp_path, database_url, BUREAU_SMTP_URL=smtp_server.url)
    with application.app_context():
        yield application


def confirmed_booking(
    app: Flask, zone: str = "Europe/Amsterdam", start: str = "03-28T09:00"
) -> int:
    booking_id = submit_and_route(app).id
    booking = db.session.get(BookingRequest, booking_id)
    terms, errors = validate_offer(
        {
            "speaker": "kaiser-kuo",
            "fee": "12000",
            "currency": "USD",
            "format": "keynote",
            "starts_at": f"{NEXT_YEAR}-{start}",
            "ends_at": f"{NEXT_YEAR}-{start[:5]}T17:00",
            "timezone": zone,
            "venue": 'RAI; Hall 1, \\\\ "B"',
            "city": "Amsterdam",
            "country": "NL",
        }
    )
    assert terms is not None, errors
    actions.record_offer(db.session, booking, terms, actor=STAFF, expected_version=None)
    actions.request_availability(db.session, booking, actor=STAFF, expected_version=None)
    db.session.commit()
    actions.speaker_answer(db.session, booking, booking.offer, accept=True, reason=None)
    actions.record_contract(
        db.session,
        booking,
        actions.ContractTerms(12000, "USD", Decimal("20"), 6000, date(NEXT_YEAR, 1, 10), None),
        actor=STAFF,
        expected_version=None,
    )
    actions.confirm(db.session, booking, actor=STAFF, expected_version=None, **OVERRIDE)
    db.session.commit()
    return booking_id


def moved_terms() -> OfferTerms:
    """The confirmed booking moved to 2 April, 14:00 to 15:00, at the Beurs."""
    terms, errors = validate_offer(
        {
            "speaker": "kaiser-kuo",
            "fee": "12000",
            "format": "keynote",
            "starts_at": f"{NEXT_YEAR}-04-02T14:00",
            "ends_at": f"{NEXT_YEAR}-04-02T15:00",
            "timezone": "Europe/Amsterdam",
            "venue": "Beurs",
            "city": "Amsterdam",
            "country": "NL",
        }
    )
    assert terms is not None, errors
    return terms


def cancel_booking(booking: BookingRequest | None) -> None:
    """Staff cancel the booking ("Venue closed") and commit."""
    assert booking is not None
    actions.close(
        db.session,
        booking,
        Status.CANCELLED,
        reason="Venue closed",
        actor=STAFF,
        expected_version=None,
    )
    db.session.commit()


def send_invites() -> None:
    for job in db.session.scalars(
        select(Job).where(Job.kind == "mail.invite", Job.state == "pending").order_by(Job.id)
    ).all():
        assert run_job(db.session, job.id, send_notification).state == "done"


def calendar_of(message: Any, expected_method: str) -> Calendar:
    """Check the MIME structure and return the parsed calendar."""
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in alternative.iter_parts()]
    assert kinds == ["text/plain", "text/html", "text/calendar"]
    inline = list(alternative.iter_parts())[2]
    assert inline.get_param("method") == expected_method
    assert inline.get_content_charset() == "utf-8"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_param("method") == expected_method
    assert attachment.get_content_charset() == "utf-8"
    assert attachment.get_content() == inline.get_content().encode() or attachment.get_content()
    return Calendar.from_ical(inline.get_content())


def test_confirmation_then_cancellation(mail_app: Flask, inbox: Any) -> None:
    booking_id = confirmed_booking(mail_app)
    engagement = db.session.scalars(select(Engagement)).one()
    assert engagement.sequence == 0
    send_invites()
    token = db.session.get(BookingRequest, booking_id).tracking_token
    links = {  # each reader's own page: status page, offer page, dashboard page
        ORGANIZER: f"https://bureau.test/requests/{token}",
        SPEAKER: "https://bureau.test/availability/",
        DESK: f"https://bureau.test/staff/requests/{booking_id}",
    }
    for address in (ORGANIZER, SPEAKER, DESK):
        [message] = inbox.to(address)
        assert str(message["Subject"]).startswith("Invitation: ")
        assert links[address] in message.get_body(("plain",)).get_content()
        calendar = calendar_of(message, "REQUEST")
        assert calendar["METHOD"] == "REQUEST"
        [event] = calendar.walk("VEVENT")
        assert str(event["UID"]) == engagement.uid
        assert event.decoded("SEQUENCE") == 0
        assert str(event["STATUS"]) == "CONFIRMED"
        assert str(event["ORGANIZER"]) == "mailto:bookings@bureau.localhost"
        attendees = event.get("ATTENDEE")
        assert not isinstance(attendees, list)  # exactly one attendee: the recipient
        assert str(attendees) == f"mailto:{address}"
        assert attendees.params["PARTSTAT"] == "NEEDS-ACTION"
        assert attendees.params["RSVP"] == "TRUE"  # the answers are read (bureau/inbound/)
        start = event.decoded("DTSTART")
        assert str(start.tzinfo) == "Europe/Amsterdam"
        assert (start.hour, start.minute) == (9, 0)
        assert event["DTSTART"].params["TZID"] == "Europe/Amsterdam"
        assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/Amsterdam"]
        assert "RAI" in str(event["LOCATION"])
        assert links[address] in str(event["DESCRIPTION"])
        assert (token in message.as_string()) == (address == ORGANIZER)

    # Sending again sends nothing: one invite per recipient per SEQUENCE.
    send_invites()
    assert len(inbox.to(ORGANIZER)) == 1

    cancel_booking(db.session.get(BookingRequest, booking_id))
    send_invites()
    for address in (ORGANIZER, SPEAKER, DESK):
        _, cancel = inbox.to(address)
        assert str(cancel["Subject"]).startswith("Cancelled: ")
        calendar = calendar_of(cancel, "CANCEL")
        [event] = calendar.walk("VEVENT")
        assert calendar["METHOD"] == "CANCEL"
        assert str(event["STATUS"]) == "CANCELLED"
        assert str(event["UID"]) == engagement.uid
        assert event.decoded("SEQUENCE") == 1


@pytest.mark.parametrize(
    ("zone", "start", "utc_hour"),
    [
        ("Europe/Amsterdam", "03-28T09:00", 7),
        ("America/New_York", "11-07T09:00", 14),
        ("Asia/Shanghai", "03-28T09:00", 1),
    ],
)
def test_times_carry_their_zone_across_dst(
    mail_app: Flask, inbox: Any, zone: str, start: str, utc_hour: int
) -> None:
    confirmed_booking(mail_app, zone=zone, start=start)
    send_invites()
    [message] = inbox.to(ORGANIZER)
    [event] = calendar_of(message, "REQUEST").walk("VEVENT")
    decoded = event.decoded("DTSTART")
    assert str(decoded.tzinfo) == zone
    assert decoded.utcoffset() is not None
    assert (decoded.hour, decoded.astimezone(__import__("datetime").UTC).hour) == (9, utc_hour)


def test_reschedule_updates_every_invitation(mail_app: Flask, inbox: Any) -> None:
    booking_id = confirmed_booking(mail_app)
    send_invites()
    booking = db.session.get(BookingRequest, booking_id)
    actions.reschedule(db.session, booking, moved_terms(), actor=STAFF, expected_version=None)
    db.session.commit()
    send_invites()
    engagement = db.session.scalars(select(Engagement)).one()
    for address in (ORGANIZER, SPEAKER, DESK):
        _, update = inbox.to(address)
        assert str(update["Subject"]).startswith("Updated invitation: ")
        [event] = calendar_of(update, "REQUEST").walk("VEVENT")
        assert str(event["UID"]) == engagement.uid
        assert event.decoded("SEQUENCE") == 1
        assert event.decoded("DTSTART").hour == 14
        assert "Beurs" in str(event["LOCATION"])


def test_a_double_booking_is_refused_including_travel_time(mail_app: Flask, inbox: Any) -> None:
    confirmed_booking(mail_app)  # Kaiser Kuo, 09:00-17:00 Amsterdam
    second = db.session.get(BookingRequest, submit_and_route(mail_app).id)
    close = validate_offer(
        {
            "speaker": "kaiser-kuo",
            "fee": "9000",
            "format": "panel",
            "starts_at": f"{NEXT_YEAR}-03-28T18:30",
            "ends_at": f"{NEXT_YEAR}-03-28T19:30",
            "timezone": "Europe/Amsterdam",
            "city": "Rotterdam",
            "country": "NL",
        }
    )[0]
    actions.record_offer(db.session, second, close, actor=STAFF, expected_version=None)
    with pytest.raises(actions.ActionError, match="not free then") as refused:
        actions.request_availability(db.session, second, actor=STAFF, expected_version=None)
    # Staff see the conflict and who else is free then.
    assert "Kaiser Kuo at Future of Retail Summit" in str(refused.value)
    assert "Free then: " in str(refused.value)
    assert "Winston Ma" in str(refused.value).split("Free then: ")[1]
    db.session.rollback()


def test_the_request_page_shows_the_answers_to_its_invitation(mail_app: Flask) -> None:
    """The attendees' calendar answers are on the request page; a request without an
    engagement has none to show (and the page does not look for them)."""
    from bureau.db import utcnow
    from bureau.inbound.models import CalendarAnswer
    from bureau.staff.models import Role
    from tests.workflow_helpers import sign_in, staff_member

    booking_id = confirmed_booking(mail_app)
    engagement = db.session.scalars(
        select(Engagement).where(Engagement.booking_id == booking_id)
    ).one()
    db.session.add(
        CalendarAnswer(
            engagement_id=engagement.id, address=SPEAKER, partstat="TENTATIVE", answered_at=utcnow()
        )
    )
    unconfirmed = submit_and_route(mail_app).id
    db.session.commit()
    staff_member(mail_app, "answers.admin@bureau.localhost", role=Role.ADMIN)
    client = mail_app.test_client()
    assert sign_in(client, "answers.admin@bureau.localhost").status_code == 302
    page = client.get(f"/staff/requests/{booking_id}").get_data(as_text=True)
    assert 'id="calendar-answers"' in page
    assert f"{SPEAKER}: <span" in page
    other = client.get(f"/staff/requests/{unconfirmed}").get_data(as_text=True)
    assert 'id="calendar-answers"' not in other
