"""Every email's content: what each template tells its reader, in text and in HTML."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.states import Status
from bureau.bookings.workflow import Actor
from bureau.calendar.models import Engagement
from bureau.extensions import db
from bureau.mail.compose import SUBJECTS, Mail, render_booking_mail
from bureau.mail.recipients import Recipient, links_for
from tests.conftest import NEXT_YEAR
from tests.workflow_helpers import OVERRIDE, offer_terms, submit_and_route

STAFF = Actor("staff", "Greater China desk")


@pytest.fixture
def booking(app: Flask) -> Iterator[BookingRequest]:
    booking_id = submit_and_route(app, message="Please <b>no</b> slides").id
    with app.app_context():
        yield db.session.get(BookingRequest, booking_id)


def render(template: str, booking: BookingRequest, role: Recipient, **extra: Any) -> Mail:
    """The email as the worker renders it for a reader in ``role`` (a speaker's link is
    their latest offer's page)."""
    links = links_for(role, booking, booking.offer)
    return render_booking_mail(template, booking, role=role, links=links, **extra)


def offer() -> Any:
    return offer_terms()


def both(mail: Any, *needles: str) -> None:
    for needle in needles:
        assert needle in mail.text, (needle, mail.text)
        assert needle in mail.html, (needle, mail.html)


def test_every_template_has_a_subject_and_both_parts() -> None:
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "templates" / "mail"
    for name in SUBJECTS:
        assert (folder / f"{name}.txt").exists(), name
        assert (folder / f"{name}.html").exists(), name


def test_acknowledgement_assigned_and_alert(booking: BookingRequest) -> None:
    ack = render("acknowledgement", booking, Recipient.ORGANIZER, to_name="Li Na")
    both(
        ack,
        "Dear Li Na",
        booking.reference,
        f"/requests/{booking.tracking_token}",
        "Winston Ma",
        "With a booking agent",
        "Greater China desk",
    )
    assigned = render("assigned", booking, Recipient.STAFF, to_name="Desk")
    both(assigned, booking.reference, f"/staff/requests/{booking.id}", "Acme Events")
    assert "Please <b>no</b> slides" in assigned.text
    assert "Please &lt;b&gt;no&lt;/b&gt; slides" in assigned.html
    alert = render("unassigned_alert", booking, Recipient.STAFF, to_name="Boss")
    both(alert, booking.reference, "could not be assigned", f"/staff/requests/{booking.id}")
    assert alert.subject == f"Action needed: no one could be assigned request {booking.reference}"


def test_the_workflows_emails(booking: BookingRequest) -> None:
    session = db.session
    picks = [
        actions.Candidate("kaiser-kuo", 12000, "Beijing", "Sharp on AI policy"),
        actions.Candidate("winston-ma", 15000, "New York"),
        actions.Candidate("ashley-dudarenok", 14000, "Hong Kong"),
    ]
    actions.shortlist(session, booking, picks, actor=STAFF, expected_version=None)
    proposal = render("proposal", booking, Recipient.ORGANIZER, to_name="Li Na")
    both(
        proposal,
        "Kaiser Kuo",
        "USD 12,000",
        "Beijing",
        "Sharp on AI policy",
        f"/requests/{booking.tracking_token}",
        "firm offer",
    )
    assert proposal.subject.startswith("Your shortlist of speakers for Future of Retail Summit")

    actions.record_offer(
        session, booking, offer(), actor=Actor("organizer", "Li Na"), expected_version=None
    )
    received = render("offer_received", booking, Recipient.STAFF, to_name="Desk")
    both(
        received,
        "Acme Events",
        "USD 12,500",
        "Expo Centre",
        "Two nights at the venue hotel",
        f"/staff/requests/{booking.id}",
    )

    actions.request_availability(session, booking, actor=STAFF, expected_version=None)
    ask = render(
        "availability_request",
        booking,
        Recipient.SPEAKER,
        to_name="Kaiser Kuo",
    )
    both(
        ask,
        "Dear Kaiser Kuo",
        "USD 12,500",
        "Asia/Shanghai",
        "https://bureau.test/availability/",
        "opening it changes nothing",
    )
    assert ask.subject == f"Are you available? Future of Retail Summit, 10 Mar {NEXT_YEAR}"

    session.commit()
    actions.speaker_answer(session, booking, booking.offer, accept=False, reason="Travelling")
    answered = render("speaker_answered", booking, Recipient.STAFF, to_name="Desk")
    both(answered, "Kaiser Kuo declined", "Travelling", "alternatives")
    assert answered.subject.startswith("Kaiser Kuo declined")

    expired = render("hold_expired", booking, Recipient.ORGANIZER, to_name="Li Na")
    both(expired, "Dear Li Na", "hold on Kaiser Kuo", "released", booking.reference)

    actions.close(
        session,
        booking,
        Status.DECLINED,
        reason="No alternative fits the date",
        actor=STAFF,
        expected_version=None,
    )
    update = render("status_update", booking, Recipient.ORGANIZER, to_name="Li Na")
    both(update, "Declined", "No alternative fits the date", f"/requests/{booking.tracking_token}")
    assert update.subject == f"Your request {booking.reference}: Declined"
    session.rollback()


def test_invitation_wording(booking: BookingRequest) -> None:
    session = db.session
    actions.record_offer(session, booking, offer(), actor=STAFF, expected_version=None)
    actions.request_availability(session, booking, actor=STAFF, expected_version=None)
    actions.speaker_answer(session, booking, booking.offer, accept=True, reason=None)
    actions.record_contract(
        session,
        booking,
        actions.ContractTerms(12500, "USD", Decimal(20), 6000, date(NEXT_YEAR, 1, 10), None),
        actor=STAFF,
        expected_version=None,
    )
    actions.confirm(session, booking, actor=STAFF, expected_version=None, **OVERRIDE)
    engagement = session.query(Engagement).one()
    invite = render(
        "invite",
        booking,
        Recipient.ORGANIZER,
        to_name="Li Na",
        engagement=engagement,
        method="REQUEST",
        verb="Invitation",
    )
    both(invite, "Kaiser Kuo at Future of Retail Summit", "is confirmed", "09:00", "Expo Centre")
    assert invite.subject == f"Invitation: Future of Retail Summit, 10 Mar {NEXT_YEAR}"
    cancel = render(
        "invite",
        booking,
        Recipient.ORGANIZER,
        to_name="Li Na",
        engagement=engagement,
        method="CANCEL",
        verb="Cancelled",
    )
    both(cancel, "is cancelled", "removes it from your calendar")
    session.rollback()


@pytest.mark.parametrize(
    "text",
    [
        "Reference:",
        "When:",
        "A label longer than twelve:",
        "编号\uff1a",  # a full-width colon
        "活动\uff1a",
        "Zoë:",
        "人工智能 AI:",
        "",
    ],
)
def test_a_labels_padding_is_the_templates_former_one(app: Flask, text: str) -> None:
    """The plain-text labels (mail/_macros.html) are padded by the ``aligned`` filter as the
    template once did itself, a wide character counted with a Jinja test each."""
    former = app.jinja_env.from_string(
        '{%- set wide = text|select(">=", "\u2e80")|list|length -%}'
        '{{ "%-*s"|format(width - wide, text) }}'
    )
    now = app.jinja_env.from_string(
        '{% from "mail/_macros.html" import label %}{{ label(text) }}|{{ label(text, 8) }}'
    )
    with app.app_context():
        expected = f"{former.render(text=text, width=12)}|{former.render(text=text, width=8)}"
        assert now.render(text=text) == expected
