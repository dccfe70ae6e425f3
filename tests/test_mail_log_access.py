"""Stored emails open only to staff who may act on their request, and show their readers'
private links (status pages, signed Accept links, feed tokens) to admins only."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bureau.bookings.models import BookingRequest
from bureau.calendar.models import Engagement
from bureau.extensions import db
from bureau.mail.models import Notification
from bureau.mail.redaction import HIDDEN, hide_links, redacted
from bureau.staff.models import Role, StaffMember
from tests.test_invites import confirmed_booking
from tests.test_mail_links import ORGANIZER, SPEAKER, STATUS_PATH, compose, texts
from tests.workflow_helpers import sign_in, staff_member


def test_hide_links_hides_our_token_links_and_nothing_else(app: Flask) -> None:
    private = [
        "https://bureau.test/requests/abc-DEF_123",
        "https://bureau.test/availability/eyJ.x.y",
        "https://bureau.test/calendar/staff/3.ics?token=zzz",
        "https://bureau.test/requests/abc-DEF_123/withdraw",  # a form's action
    ]
    public = [
        "https://bureau.test/staff/requests/7",
        "https://bureau.test/speakers/winston-ma",
        "https://example.com/elsewhere",
    ]
    with app.app_context():
        for url in private:
            assert hide_links(f"see {url} now") == f"see {HIDDEN} now", url
        for url in public:
            assert hide_links(f"see {url} now") == f"see {url} now", url
        # In an .ics DESCRIPTION a link ends at an escape; a known secret goes wherever it is.
        ics = "DESCRIPTION:Summit\\nhttps://bureau.test/requests/tok\\, more tok"
        assert hide_links(ics, ["tok"]) == f"DESCRIPTION:Summit\\n{HIDDEN}\\, more {HIDDEN}"


ADMIN, AGENT, OTHER = (
    "links.admin@bureau.localhost",
    "links.agent@bureau.localhost",
    "links.other@bureau.localhost",
)


@pytest.fixture
def mails(app: Flask) -> dict[str, Any]:
    """A confirmed request assigned to AGENT, with its organizer's and speaker's stored
    emails (the organizer's invitation attaches its .ics in base64)."""
    people = {
        "admin": staff_member(app, ADMIN, role=Role.ADMIN),
        "agent": staff_member(app, AGENT),
        "other": staff_member(app, OTHER),
    }
    with app.app_context():
        booking = db.session.get(BookingRequest, confirmed_booking(app))
        assert booking is not None
        booking.assigned_staff = db.session.get(StaffMember, people["agent"])
        engagement = db.session.scalars(select(Engagement)).one()
        invite = {"engagement_id": engagement.id, "method": "REQUEST"}
        compose(booking, "invite", ORGANIZER, 3000, **invite)
        compose(booking, "availability_request", SPEAKER, 3001, offer_id=booking.offer.id)
        stored = {
            n.template: n.id
            for n in db.session.scalars(
                select(Notification).where(Notification.booking_id == booking.id)
            )
        }
        return {
            "token": booking.tracking_token,
            "booking_id": booking.id,
            "invite": stored["invite"],
            "ask": stored["availability_request"],
        }


def client_for(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def test_anonymous_visitors_see_no_stored_email(app: Flask, mails: dict[str, Any]) -> None:
    for path in ("/staff/mail", f"/staff/mail/{mails['invite']}"):
        response = app.test_client().get(path)
        assert response.status_code == 302
        assert "/staff/login" in response.headers["Location"]


def test_admins_read_stored_emails_whole(app: Flask, mails: dict[str, Any]) -> None:
    response = client_for(app, ADMIN).get(f"/staff/mail/{mails['invite']}")
    assert response.status_code == 200
    assert mails["token"] in response.get_data(as_text=True)
    assert HIDDEN not in response.get_data(as_text=True)


def test_the_assigned_agent_reads_them_with_private_links_hidden(
    app: Flask, mails: dict[str, Any]
) -> None:
    client = client_for(app, AGENT)
    for key in ("invite", "ask"):
        response = client.get(f"/staff/mail/{mails[key]}")
        assert response.status_code == 200
        assert response.mimetype == "text/plain"
        body = response.get_data(as_text=True)
        assert HIDDEN in body
        assert mails["token"] not in body
        assert "/availability/" not in body
        assert "base64" not in body  # every part readable, so nothing can hide in one
        for where, text in texts(body).items():
            assert mails["token"] not in text, where
            assert not STATUS_PATH.search(text), where
    invite = client.get(f"/staff/mail/{mails['invite']}").get_data(as_text=True)
    assert "BEGIN:VCALENDAR" in invite
    assert "Kaiser Kuo at Future of Retail Summit" in invite
    mine = client.get("/staff/mail").get_data(as_text=True)
    assert f"/staff/mail/{mails['invite']}" in mine
    assert f"/staff/mail/{mails['ask']}" in mine


def test_other_agents_neither_list_nor_open_them(app: Flask, mails: dict[str, Any]) -> None:
    client = client_for(app, OTHER)
    for key in ("invite", "ask"):
        response = client.get(f"/staff/mail/{mails[key]}")
        assert response.status_code == 403
        assert mails["token"] not in response.get_data(as_text=True)
    listing = client.get("/staff/mail").get_data(as_text=True)
    assert f"/staff/mail/{mails['invite']}" not in listing
    page = client.get(f"/staff/requests/{mails['booking_id']}").get_data(as_text=True)
    assert "/staff/mail/" not in page  # the timeline names the emails without opening them
    everyone = client_for(app, ADMIN).get("/staff/mail").get_data(as_text=True)
    assert f"/staff/mail/{mails['invite']}" in everyone


def test_an_unreadable_stored_email_shows_its_headers_only(app: Flask) -> None:
    raw = (
        "Subject: odd\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\n"
        "https://bureau.test/requests/secret\r\n"
    )
    with app.app_context():
        shown = redacted(raw)
    assert "secret" not in shown
    assert "Subject: odd" in shown
