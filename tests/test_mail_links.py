"""Each email carries only its own reader's links: the organizer their status page, a speaker
their offer's page, staff the dashboard's page, in the text, the HTML and the .ics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_string
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from icalendar import Calendar
from sqlalchemy import select

from bureau.bookings.links import read_availability_token
from bureau.bookings.models import BookingRequest
from bureau.bookings.states import Status
from bureau.calendar.models import Engagement
from bureau.extensions import db
from bureau.mail.compose import SUBJECTS
from bureau.mail.recipients import AUDIENCES, MAIL_TASK, Recipient, mail_job, queue_mail, role_of
from bureau.mail.tasks import compose_notification
from bureau.outbox import record_job
from tests.test_invites import confirmed_booking
from tests.workflow_helpers import staff_member, submit_and_route

ORGANIZER, SPEAKER, STAFF = Recipient.ORGANIZER, Recipient.SPEAKER, Recipient.STAFF
# What each template's job carries besides its reader, as the code that queues it adds;
# a template not named here needs nothing more. Invitations go out as both iTIP methods.
PAYLOADS: dict[str, Any] = {
    "availability_request": lambda b, e: [{"offer_id": b.offer.id}],
    "invite": lambda b, e: [
        {"engagement_id": e.id, "method": "REQUEST"},
        {"engagement_id": e.id, "method": "CANCEL"},
    ],
    "confirmed": lambda b, e: [{"about_engagement": e.id}],
    "rescheduled": lambda b, e: [{"about_engagement": e.id}],
    "cancelled": lambda b, e: [{"about_engagement": e.id}, {}],
    "reminder_7d": lambda b, e: [{"about_engagement": e.id}],
    "reminder_1d": lambda b, e: [{"about_engagement": e.id}],
}
# Invoice emails tell their invoice's facts (bureau/billing/notifications.py).
INVOICE = {
    "facts": {
        "invoice": {
            "number": "INV-2027-00001",
            "title": "Deposit invoice",
            "total": "USD 6,250.00",
            "balance": "USD 6,250.00",
            "issued": "Monday 10 May 2027",
            "due": "Monday 24 May 2027",
        }
    }
}
PAYLOADS["staff_reply"] = lambda b, e: [
    {"offer_id": b.offer.id, "text": "See you there.", "subject": f"Re: hello ({b.reference})"}
]
for _template in ("invoice_issued", "invoice_due_soon", "invoice_overdue_1d", "invoice_overdue_7d"):
    PAYLOADS[_template] = lambda b, e: [INVOICE]
# The assignee is told why the organizer declined (bureau/contracts/flow.py).
PAYLOADS["contract_declined"] = lambda b, e: [
    {"facts": {"declined": {"version": 1, "reason": "The fee is over our budget"}}}
]
# A status page's path: /requests/<token>, not the dashboard's /staff/requests/<id>.
STATUS_PATH = re.compile(r"(?<!/staff)/requests/[\w-]")


def texts(raw: str) -> dict[str, str]:
    """Every text part of a message, decoded (.ics lines unfolded), by part position."""
    message = message_from_string(raw, _class=EmailMessage, policy=default)
    found = {}
    for number, part in enumerate(message.walk()):
        if part.get_content_maintype() == "text":
            text = part.get_content()
            if part.get_content_subtype() == "calendar":
                text = re.sub(r"\r?\n[ \t]", "", text)
            found[f"{number}:{part.get_content_type()}"] = text
    return found


def reader(booking: BookingRequest, role: Recipient) -> tuple[str, str]:
    if role is ORGANIZER:
        return booking.contact_email, booking.contact_name
    if role is SPEAKER:
        assert booking.offer is not None
        return booking.offer.speaker.email or "", booking.offer.speaker.name
    assert booking.assigned_staff is not None
    return booking.assigned_staff.email, booking.assigned_staff.name


def compose(booking: BookingRequest, template: str, role: Recipient, n: int, **extra: Any) -> str:
    email, name = reader(booking, role)
    job = queue_mail(db.session, booking, template, (role, email, name), sequence=n, **extra)
    assert job is not None
    return compose_notification(db.session, job).raw_message


@pytest.fixture
def confirmed(app: Flask) -> Iterator[BookingRequest]:
    with app.app_context():
        booking = db.session.get(BookingRequest, confirmed_booking(app))
        assert booking is not None
        yield booking


def test_every_template_names_its_readers() -> None:
    folder = Path(__file__).resolve().parent.parent / "templates" / "mail"
    on_disk = {p.stem for p in folder.glob("*.txt") if not p.stem.startswith("_")}
    assert set(AUDIENCES) == set(SUBJECTS) == on_disk


def test_no_email_carries_another_readers_link(confirmed: BookingRequest) -> None:
    """Every template, for every reader it is sent to, in text, HTML and .ics: the
    organizer's status token reaches only the organizer, a speaker's signed link only the
    speaker, and each reader finds their own page."""
    booking = confirmed
    engagement = db.session.scalars(select(Engagement)).one()
    token = booking.tracking_token
    own = {
        ORGANIZER: f"https://bureau.test/requests/{token}",
        SPEAKER: "https://bureau.test/availability/",
        STAFF: f"https://bureau.test/staff/requests/{booking.id}",
    }
    checked: list[tuple[str, str, str | None]] = []
    for template, roles in sorted(AUDIENCES.items()):
        for role in sorted(roles):
            for extra in PAYLOADS.get(template, lambda b, e: [{}])(booking, engagement):
                case = (template, role.value, extra.get("method"))
                parts = texts(compose(booking, template, role, 1000 + len(checked), **extra))
                assert len(parts) >= 2, case
                for where, text in parts.items():
                    if role is not ORGANIZER:
                        assert token not in text, (case, where)
                        assert not STATUS_PATH.search(text), (case, where)
                    if role is not SPEAKER:
                        assert "/availability/" not in text, (case, where)
                    if where.endswith(("text/plain", "text/html", "text/calendar")):
                        assert own[role] in text, (case, where, text)
                    if role is SPEAKER and own[role] in text:
                        signed = text.split(own[role], 1)[1].split()[0].split('"')[0]
                        offer = (booking.offer.id, booking.offer.speaker_id)
                        assert read_availability_token(signed.split("\\")[0]) == offer
                checked.append(case)
    # Each invitation twice, once per method; a cancellation with and without its entry.
    assert len(checked) == sum(len(r) for r in AUDIENCES.values()) + len(AUDIENCES["invite"]) + 1


def test_no_email_shows_bare_utc_or_a_state_code(confirmed: BookingRequest) -> None:
    """Times are in a named zone of the reader's or the event's; states are words. (The
    .ics is for machines: its DTSTAMP is UTC by the standard.)"""
    booking = confirmed
    engagement = db.session.scalars(select(Engagement)).one()
    codes = [s.value for s in Status if "_" in s.value]
    n = 3000
    for template, roles in sorted(AUDIENCES.items()):
        for role in sorted(roles):
            for extra in PAYLOADS.get(template, lambda b, e: [{}])(booking, engagement):
                n += 1
                for where, text in texts(compose(booking, template, role, n, **extra)).items():
                    if where.endswith(("text/plain", "text/html")):
                        assert "UTC" not in text, (template, role, where)
                        for code in codes:
                            assert code not in text, (template, role, code)


def test_each_invitation_copy_differs_only_in_its_readers_link(
    confirmed: BookingRequest,
) -> None:
    engagement = db.session.scalars(select(Engagement)).one()
    events = {}
    for n, role in enumerate(Recipient):
        raw = compose(
            confirmed, "invite", role, 2000 + n, engagement_id=engagement.id, method="REQUEST"
        )
        ics = next(t for w, t in texts(raw).items() if w.endswith("text/calendar"))
        [event] = Calendar.from_ical(ics).walk("VEVENT")
        events[role] = event
    assert {str(e["UID"]) for e in events.values()} == {engagement.uid}
    assert {e.decoded("SEQUENCE") for e in events.values()} == {engagement.sequence}
    descriptions = {role: str(e["DESCRIPTION"]) for role, e in events.items()}
    assert len(set(descriptions.values())) == 3
    assert f"/requests/{confirmed.tracking_token}" in descriptions[ORGANIZER]
    assert "/availability/" in descriptions[SPEAKER]
    assert f"/staff/requests/{confirmed.id}" in descriptions[STAFF]


def test_an_email_is_queued_only_for_the_readers_it_is_meant_for(app: Flask) -> None:
    booking_id = submit_and_route(app).id
    with app.app_context():
        for template, role in (("acknowledgement", STAFF), ("availability_request", ORGANIZER)):
            with pytest.raises(ValueError, match="not meant for"):
                mail_job(db.session, booking_id, template, role, "x@example.com", "X", sequence=9)
        db.session.rollback()


def test_jobs_queued_before_roles_were_recorded_get_a_role(app: Flask) -> None:
    """An outbox job written by the previous version has no role: it is inferred, and an
    address that cannot be placed never gets the organizer's link."""
    booking = submit_and_route(app)
    staff_member(app, "desk@bureau.localhost")
    cases = [
        ("acknowledgement", "someone@example.com", ORGANIZER),  # its only reader
        ("status_update", booking.contact_email, ORGANIZER),
        ("status_update", "someone@example.com", STAFF),
        ("invite", booking.contact_email, ORGANIZER),
        ("invite", "desk@bureau.localhost", STAFF),
        ("invite", "speaker@example.com", SPEAKER),
        ("reminder_1d", "speaker@example.com", SPEAKER),
    ]
    with app.app_context():
        for n, (template, email, expected) in enumerate(cases):
            job = record_job(
                db.session,
                MAIL_TASK,
                f"mail.{template}",
                booking_id=booking.id,
                recipient=email,
                sequence=100 + n,
                payload={"template": template, "to_email": email, "to_name": "X"},
            )
            assert job is not None
            assert role_of(db.session, job, booking) == expected, (template, email)
        db.session.rollback()
