"""The bureau's whole process through the pages: staff, organizer and speaker in turn."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from sqlalchemy import select

from bureau.bookings.links import availability_token
from bureau.bookings.states import Status
from bureau.calendar.models import Hold
from bureau.extensions import db
from tests.conftest import NEXT_YEAR
from tests.workflow_helpers import (
    accept_and_pay_in,
    csrf_from,
    mail_kinds,
    offer_data,
    post_form,
    reload,
    sign_in,
    staff_member,
    submit_and_route,
)

DESK = "china.desk@bureau.localhost"


def shortlist_data() -> dict[str, Any]:
    data: dict[str, Any] = {}
    picks = [
        ("winston-ma", 15000, "New York"),
        ("kaiser-kuo", 12000, "Beijing"),
        ("ashley-dudarenok", 14000, "Hong Kong"),
    ]
    for i, (slug, fee, city) in enumerate(picks):
        data[f"candidates-{i}-speaker"] = slug
        data[f"candidates-{i}-fee_quote"] = str(fee)
        data[f"candidates-{i}-home_city"] = city
    return data


def test_the_whole_story(app: Flask) -> None:
    staff_member(app, DESK)
    booking = submit_and_route(app)
    assert booking.status == Status.ASSIGNED
    staff = app.test_client()
    assert sign_in(staff, DESK).status_code == 302
    page = f"/staff/requests/{booking.id}"

    # Staff shortlist three candidates; the organizer is sent the proposal.
    response = post_form(staff, f"{page}/shortlist", page, shortlist_data())
    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    assert reload(app, booking.id).status == Status.SHORTLISTED
    assert ("mail.proposal", "li.na@example.com") in mail_kinds(app, booking.id)

    # The organizer sees the shortlist and makes a firm offer on the status page.
    organizer = app.test_client()
    status_path = f"/requests/{booking.tracking_token}"
    status_page = organizer.get(status_path).get_data(as_text=True)
    assert "Your shortlist" in status_page
    assert "Kaiser Kuo" in status_page
    bad = post_form(organizer, f"{status_path}/offer", status_path, offer_data(fee="lots"))
    assert bad.status_code == 422
    assert "Enter a whole number." in bad.get_data(as_text=True)
    assert reload(app, booking.id).status == Status.SHORTLISTED  # nothing changed
    response = post_form(organizer, f"{status_path}/offer", status_path, offer_data())
    assert response.status_code == 303
    booking = reload(app, booking.id)
    assert booking.status == Status.OFFER_RECEIVED
    assert booking.offer.fee == 12500
    assert ("mail.offer_received", DESK) in mail_kinds(app, booking.id)

    # Staff ask the speaker; the date is held.
    response = post_form(staff, f"{page}/availability", page, {"hold_days": "5"})
    assert response.status_code == 303
    assert reload(app, booking.id).status == Status.AWAITING_SPEAKER
    assert ("mail.availability_request", "kaiser-kuo@speakers.bureau.localhost") in mail_kinds(
        app, booking.id
    )
    with app.app_context():
        hold = db.session.scalars(select(Hold).where(Hold.booking_id == booking.id)).one()
        assert hold.state == "active"
        link = f"/availability/{availability_token(booking.offer.id, booking.offer.speaker_id)}"

    # The speaker opens the link (nothing happens), then accepts with the button.
    speaker = app.test_client()
    opened = speaker.get(link)
    assert opened.status_code == 200
    assert "Accept: I am available" in opened.get_data(as_text=True)
    assert reload(app, booking.id).status == Status.AWAITING_SPEAKER
    response = speaker.post(
        link, data={"csrf_token": csrf_from(opened.get_data(as_text=True)), "answer": "accept"}
    )
    assert response.status_code == 303
    assert reload(app, booking.id).status == Status.SPEAKER_ACCEPTED
    assert ("mail.speaker_answered", DESK) in mail_kinds(app, booking.id)
    again = speaker.get(link).get_data(as_text=True)
    assert "You accepted this request" in again

    # Staff record the contract and confirm; the organizer's page says confirmed.
    response = post_form(
        staff,
        f"{page}/contract",
        page,
        {
            "fee": "12500",
            "currency": "USD",
            "commission_pct": "20",
            "deposit_amount": "6250",
            "deposit_due": f"{NEXT_YEAR}-01-15",
            "travel_terms": "Economy plus",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[-1500:]
    assert reload(app, booking.id).status == Status.CONTRACTED
    accept_and_pay_in(app, booking.id)
    response = post_form(staff, f"{page}/confirm", page, {})
    assert response.status_code == 303
    booking = reload(app, booking.id)
    assert booking.status == Status.CONFIRMED
    assert booking.contract.commission == 2500
    with app.app_context():
        assert db.session.get(Hold, hold.id).state == "confirmed"
    status_page = organizer.get(status_path).get_data(as_text=True)
    assert "Status: Confirmed" in status_page
    assert ("mail.confirmed", "li.na@example.com") in mail_kinds(app, booking.id)

    # The staff page shows one timeline of every step and every email.
    timeline = staff.get(page).get_data(as_text=True)
    for action in (
        "Routed",
        "Shortlist sent",
        "Firm offer recorded",
        "Speaker asked; date held",
        "Speaker accepted",
        "Contract recorded",
        "Confirmed",
    ):
        assert f"<strong>{action}</strong>" in timeline, action
    assert re.search(r"✉ Shortlist for the organizer to li.na@example.com", timeline)

    # Staff move the confirmed booking; the organizer's page and the timeline say so.
    assert "Reschedule and update the invitations" in timeline
    bad = post_form(
        staff,
        f"{page}/reschedule",
        page,
        {
            "starts_at": "tomorrow-ish",
            "ends_at": f"{NEXT_YEAR}-03-11T10:00",
            "timezone": "Asia/Shanghai",
            "city": "Shanghai",
            "country": "CN",
        },
    )
    assert bad.status_code == 422
    moved = post_form(
        staff,
        f"{page}/reschedule",
        page,
        {
            "starts_at": f"{NEXT_YEAR}-03-11T14:00",
            "ends_at": f"{NEXT_YEAR}-03-11T15:00",
            "timezone": "Asia/Shanghai",
            "venue": "Hall 2",
            "city": "Shanghai",
            "country": "CN",
        },
    )
    assert moved.status_code == 303
    assert "Rescheduled to 11 Mar" in organizer.get(status_path).get_data(as_text=True)
    invites = [k for k in mail_kinds(app, booking.id) if k[0] == "mail.invite"]
    assert len(invites) == 6  # three attendees, sequences 0 and 1


def test_speaker_can_decline_with_a_reason(app: Flask) -> None:
    staff_member(app, DESK)
    booking = submit_and_route(app)
    staff = app.test_client()
    sign_in(staff, DESK)
    page = f"/staff/requests/{booking.id}"
    post_form(staff, f"{page}/offer", page, offer_data(speaker="winston-ma"))
    post_form(staff, f"{page}/availability", page, {"hold_days": "7"})
    booking = reload(app, booking.id)
    with app.app_context():
        link = f"/availability/{availability_token(booking.offer.id, booking.offer.speaker_id)}"
    speaker = app.test_client()
    token = csrf_from(speaker.get(link).get_data(as_text=True))
    speaker.post(link, data={"csrf_token": token, "answer": "decline", "reason": "On leave"})
    booking = reload(app, booking.id)
    assert booking.status == Status.SPEAKER_DECLINED
    assert booking.offer.response_reason == "On leave"
    with app.app_context():
        assert db.session.scalars(select(Hold.state)).all() == ["released"]


def test_tampered_or_expired_links_do_nothing(app: Flask, monkeypatch: Any) -> None:
    staff_member(app, DESK)
    booking = submit_and_route(app)
    staff = app.test_client()
    sign_in(staff, DESK)
    page = f"/staff/requests/{booking.id}"
    post_form(staff, f"{page}/offer", page, offer_data())
    post_form(staff, f"{page}/availability", page, {"hold_days": "7"})
    booking = reload(app, booking.id)
    client = app.test_client()
    with app.app_context():
        token = availability_token(booking.offer.id, booking.offer.speaker_id)
        other_speaker = availability_token(booking.offer.id, booking.offer.speaker_id + 1)
        import itsdangerous.timed

        monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: 1_000_000_000.0)  # type: ignore[attr-defined]
        old = availability_token(booking.offer.id, booking.offer.speaker_id)
        monkeypatch.undo()
    tampered = client.get(f"/availability/{token[:-3]}abc")
    assert tampered.status_code == 404
    assert "not valid" in tampered.get_data(as_text=True)
    assert client.get(f"/availability/{other_speaker}").status_code == 404
    expired = client.get(f"/availability/{old}")
    assert expired.status_code == 404
    assert "expired" in expired.get_data(as_text=True)
    assert reload(app, booking.id).status == Status.AWAITING_SPEAKER
