"""An email is about the change that caused it: what it tells is fixed in its outbox job when
the change commits, so a worker that sends it after further steps still tells that change.
Everything here goes through the real outbox, the worker's task and an SMTP server."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from icalendar import Calendar
from sqlalchemy import select

from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor
from bureau.calendar.models import Hold
from bureau.calendar.reminders import warn_expiring_holds
from bureau.extensions import db
from bureau.mail.recipients import MAIL_TASK
from bureau.mail.tasks import send_notification
from bureau.outbox import Job, record_job, run_job
from bureau.templating import local_time
from tests import test_invites
from tests.conftest import NEXT_YEAR
from tests.test_invites import (
    DESK,
    ORGANIZER,
    SPEAKER,
    cancel_booking,
    confirmed_booking,
    moved_terms,
)
from tests.workflow_helpers import offer_terms, submit_and_route

mail_app = test_invites.mail_app  # the app sending to the test's SMTP server
ADMIN = Actor("staff", "Management desk")
STAFF = Actor("staff", "Greater China desk")
# What no reader should meet: state codes, bare UTC, internal numbering.
RAW = ("offer_received", "speaker_accepted", "awaiting_speaker", "UTC", "sequence", "None")


def send_all() -> None:
    """What the worker does with every email waiting in the outbox, in order."""
    for job in db.session.scalars(
        select(Job).where(Job.task == MAIL_TASK, Job.state == "pending").order_by(Job.id)
    ).all():
        assert run_job(db.session, job.id, send_notification).state == "done", job.last_error


def plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    text: str = body.get_content()
    return text


def html(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    text: str = body.get_content()
    return text


def subjects(inbox: Any, address: str) -> list[str]:
    return [str(m["Subject"]).strip() for m in inbox.to(address)]


def only(inbox: Any, address: str, start: str) -> EmailMessage:
    [message] = [m for m in inbox.to(address) if str(m["Subject"]).strip().startswith(start)]
    return message  # type: ignore[no-any-return]


def no_raw_codes(message: EmailMessage) -> None:
    for text in (str(message["Subject"]), plain(message), html(message)):
        for code in RAW:
            assert code not in text, (code, message["Subject"], text)


def test_confirmed_then_completed_each_email_tells_its_own_step(
    mail_app: Flask, inbox: Any
) -> None:
    """Nothing is sent until the booking is completed; the organizer still hears of each
    step as it was: the speaker's acceptance with the held date's deadline, the contract's
    terms (not the bureau's commission), the confirmation; none of them says completed."""
    booking_id = confirmed_booking(mail_app)
    booking = db.session.get(BookingRequest, booking_id)
    assert booking is not None
    hold = db.session.scalars(select(Hold).where(Hold.booking_id == booking_id)).one()
    actions.complete(
        db.session,
        booking,
        actor=ADMIN,
        expected_version=None,
        feedback=None,
        early_reason="Held early for the test",
        actor_is_admin=True,
    )
    db.session.commit()
    send_all()

    # Queued when the request was routed: it tells that state, not today's.
    acknowledgement = only(inbox, ORGANIZER, "We received your request")
    assert "Status: With a booking agent" in plain(acknowledgement)
    assert "Completed" not in plain(acknowledgement)

    amsterdam = f"{local_time(hold.expires_at.astimezone(ZoneInfo('Europe/Amsterdam')))}"
    accepted = only(inbox, ORGANIZER, "Speaker available: Kaiser Kuo")
    for text in (plain(accepted), html(accepted)):
        assert "Kaiser Kuo accepted your offer" in text
        assert "contract and the deposit details" in text
        assert f"{amsterdam} (Europe/Amsterdam time)" in text

    contract = only(inbox, ORGANIZER, "Contract and deposit details")
    for text in (plain(contract), html(contract)):
        assert "USD 12,000" in text
        assert "USD 6,000" in text
        assert f"10 January {NEXT_YEAR}" in text
        assert "commission" not in text.lower()
        assert "2,400" not in text

    confirmed = only(inbox, ORGANIZER, "Confirmed: Kaiser Kuo at Future of Retail Summit")
    for text in (plain(confirmed), html(confirmed)):
        assert "Your booking is confirmed" in text
        assert f"28 Mar {NEXT_YEAR}, 09:00" in text
        assert "(Europe/Amsterdam time)" in text
        assert "ompleted" not in text
        assert "took place" not in text
    assert not any("Completed" in s for s in subjects(inbox, ORGANIZER))
    for message in inbox.to(ORGANIZER):
        no_raw_codes(message)
    # Each step told once: sending again sends nothing.
    count = len(inbox.to(ORGANIZER))
    send_all()
    assert len(inbox.to(ORGANIZER)) == count


def test_a_reschedule_then_a_cancellation_each_keep_their_dates(
    mail_app: Flask, inbox: Any
) -> None:
    """Confirmed, moved, then cancelled before the worker runs: the first invitation still
    carries the first date (SEQUENCE 0), the update the new one, the rescheduled email
    both, the cancellation its reason."""
    booking_id = confirmed_booking(mail_app)
    booking = db.session.get(BookingRequest, booking_id)
    assert booking is not None
    actions.reschedule(db.session, booking, moved_terms(), actor=STAFF, expected_version=None)
    db.session.commit()
    cancel_booking(booking)
    send_all()

    invites = [m for m in inbox.to(ORGANIZER) if m.get_content_type() == "multipart/mixed"]
    events = {}
    for message in invites:
        calendar_part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        [event] = Calendar.from_ical(calendar_part.get_content()).walk("VEVENT")
        events[event.decoded("SEQUENCE")] = (event, message)
    first, first_mail = events[0]
    assert first.decoded("DTSTART").hour == 9
    assert "RAI" in str(first["LOCATION"])
    assert f"28 Mar {NEXT_YEAR}, 09:00" in plain(first_mail)
    assert "is confirmed" in plain(first_mail)
    update, update_mail = events[1]
    assert update.decoded("DTSTART").hour == 14
    assert "Beurs" in str(update["LOCATION"])
    assert f"2 Apr {NEXT_YEAR}, 14:00" in plain(update_mail)
    assert "changed" in plain(update_mail)
    assert "cancelled" not in plain(update_mail)
    cancel, _ = events[2]
    assert str(cancel["STATUS"]) == "CANCELLED"

    moved = only(inbox, ORGANIZER, "Rescheduled: Future of Retail Summit")
    for text in (plain(moved), html(moved)):
        assert f"28 Mar {NEXT_YEAR}, 09:00" in text
        assert "RAI" in text
        assert f"2 Apr {NEXT_YEAR}, 14:00 \N{EN DASH} 15:00 (Europe/Amsterdam time)" in text
        assert "Beurs" in text
        assert "(Europe/Amsterdam time)" in text
        assert "cancelled" not in text
        assert "Venue closed" not in text
    assert f"2 Apr {NEXT_YEAR}" in str(moved["Subject"]).strip()

    [cancelled] = [
        m
        for m in inbox.to(ORGANIZER)
        if str(m["Subject"]).strip().startswith("Cancelled:")
        and m.get_content_type() != "multipart/mixed"
    ]
    for text in (plain(cancelled), html(cancelled)):
        assert "is cancelled" in text
        assert "Reason: Venue closed" in text
        assert f"2 Apr {NEXT_YEAR}, 14:00" in text  # the date it had when cancelled
    for message in inbox.to(ORGANIZER):
        no_raw_codes(message)


def test_the_speaker_declining_tells_the_organizer_what_comes_next(
    mail_app: Flask, inbox: Any
) -> None:
    booking = db.session.get(BookingRequest, submit_and_route(mail_app).id)
    assert booking is not None
    actions.record_offer(db.session, booking, offer_terms(), actor=STAFF, expected_version=None)
    actions.request_availability(db.session, booking, actor=STAFF, expected_version=None)
    db.session.commit()
    actions.speaker_answer(
        db.session, booking, booking.offer, accept=False, reason="Private: a family wedding"
    )
    db.session.commit()
    # A later offer to someone else does not change what the decline said.
    actions.record_offer(
        db.session,
        booking,
        offer_terms(speaker="winston-ma"),
        actor=STAFF,
        expected_version=None,
    )
    db.session.commit()
    send_all()
    declined = only(inbox, ORGANIZER, "Speaker unavailable for Future of Retail Summit")
    assert "Kaiser Kuo" in str(declined["Subject"]).strip()
    for text in (plain(declined), html(declined)):
        assert "Kaiser Kuo is not available" in text
        assert "propose other speakers" in text
        assert "Winston Ma" not in text
        assert "family wedding" not in text  # the speaker's words are for the bureau
    no_raw_codes(declined)


def test_the_holds_deadline_in_each_readers_own_time(mail_app: Flask, inbox: Any) -> None:
    """The speaker reads the answer deadline in their home zone, the agent in theirs, both
    named; the organizer's emails use the event's zone (checked above)."""
    booking = db.session.get(BookingRequest, submit_and_route(mail_app).id)
    assert booking is not None
    terms = offer_terms(timezone="Europe/Amsterdam", city="Amsterdam", country="NL")
    actions.record_offer(db.session, booking, terms, actor=STAFF, expected_version=None)
    actions.request_availability(db.session, booking, actor=STAFF, expected_version=None)
    db.session.commit()
    hold = db.session.scalars(select(Hold).where(Hold.booking_id == booking.id)).one()
    assert warn_expiring_holds(db.session, now=hold.expires_at - timedelta(hours=1)) == 1
    send_all()

    shanghai = local_time(hold.expires_at.astimezone(ZoneInfo("Asia/Shanghai")))
    ask = only(inbox, SPEAKER, "Are you available?")
    for text in (plain(ask), html(ask)):
        assert f"{shanghai} (Asia/Shanghai time)" in text
        assert "answer by then" in text
    no_raw_codes(ask)
    warning = only(inbox, DESK, "The hold for")
    for text in (plain(warning), html(warning)):
        assert f"expires on {shanghai} (Asia/Shanghai time)" in text
    no_raw_codes(warning)


def test_a_job_queued_before_facts_were_recorded_tells_the_live_state(
    mail_app: Flask, inbox: Any
) -> None:
    """An outbox row written by the previous version has no facts: it is rendered from the
    booking as it stands, as that version did."""
    booking_id = confirmed_booking(mail_app)
    booking = db.session.get(BookingRequest, booking_id)
    assert booking is not None
    job = record_job(
        db.session,
        MAIL_TASK,
        "mail.status_update",
        booking_id=booking_id,
        recipient=booking.contact_email,
        sequence=9_999,
        payload={
            "template": "status_update",
            "role": "organizer",
            "to_email": booking.contact_email,
            "to_name": booking.contact_name,
        },
    )
    assert job is not None
    assert "facts" not in job.payload
    db.session.commit()
    assert run_job(db.session, job.id, send_notification).state == "done"
    [legacy] = [m for m in inbox.to(ORGANIZER) if str(m["Subject"]).strip().endswith(": Confirmed")]
    assert "is now: Confirmed" in plain(legacy)
