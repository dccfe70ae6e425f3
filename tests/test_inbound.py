"""Inbound email (issue 19): stored raw first, read by a job, matched to its request by the
signed reply address, the email it answers or the reference in its subject; the rest waits
in the staff Inbox."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.states import Status
from bureau.db import AnySession
from bureau.extensions import db
from bureau.inbound.addresses import booking_from_address, reply_address, signature
from bureau.inbound.models import InboundMessage, InboundStatus
from bureau.inbound.services import PROCESS_TASK, process, receive_raw
from bureau.mail.models import Notification
from bureau.mail.recipients import organizer_of, queue_mail
from bureau.mail.tasks import compose_notification
from bureau.outbox import Job, run_job
from bureau.staff.models import Role
from tests.conftest import bureau_cli, make_app
from tests.test_transitions import ADMIN_EMAIL, booking_in
from tests.workflow_helpers import csrf_from, sign_in, staff_member

ORGANIZER_EMAIL = "li.na@example.com"  # valid_request()'s contact
STRANGER = "someone.else@example.org"


@pytest.fixture
def session(app: Flask) -> Iterator[AnySession]:
    with app.test_request_context():
        yield db.session
        db.session.rollback()


def email(
    *,
    sender: str = ORGANIZER_EMAIL,
    to: str = "bookings@bureau.localhost",
    subject: str = "Re: your request",
    text: str = "Thanks, the afternoon slot works for us.",
    **headers: str,
) -> bytes:
    message = EmailMessage()
    message["From"] = f"Li Na <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.com")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return bytes(message)


def received(session: AnySession, raw: bytes, **where: Any) -> InboundMessage:
    message = receive_raw(session, raw, source=where.pop("source", "pipe"), **where)
    assert message is not None
    session.commit()
    return message


def processed(session: AnySession, raw: bytes) -> InboundMessage:
    """Received, then read by its job as the worker runs it."""
    message = received(session, raw)
    job = session.scalars(select(Job).where(Job.task == PROCESS_TASK)).all()[-1]
    run_job(session, job.id, process)
    session.refresh(message)
    return message


def replies(session: AnySession, booking: BookingRequest) -> list[BookingEvent]:
    return list(
        session.scalars(
            select(BookingEvent).where(
                BookingEvent.booking_id == booking.id, BookingEvent.action == "reply received"
            )
        )
    )


def test_a_message_is_stored_raw_with_its_job_in_one_transaction(session: AnySession) -> None:
    raw = email()
    message = received(session, raw, source="imap", uidvalidity=7, uid=42)
    assert (message.raw, message.size, message.status) == (raw, len(raw), "received")
    assert (message.source, message.uidvalidity, message.uid) == ("imap", 7, 42)
    assert message.sender == ORGANIZER_EMAIL
    assert message.message_id is not None
    assert message.message_id.startswith("<")
    [job] = session.scalars(select(Job).where(Job.task == PROCESS_TASK))
    assert job.payload == {"inbound_message_id": message.id}


def test_a_replay_is_refused_by_message_id_and_by_uid(session: AnySession) -> None:
    raw = email()
    received(session, raw)
    assert receive_raw(session, raw, source="pipe") is None
    other = email()
    received(session, other, source="imap", uidvalidity=1, uid=5)
    assert receive_raw(session, email(), source="imap", uidvalidity=1, uid=5) is None
    # The same UID under a new UIDVALIDITY is another message.
    assert receive_raw(session, email(), source="imap", uidvalidity=2, uid=5) is not None
    session.commit()
    assert session.query(InboundMessage).count() == 3
    assert session.query(Job).filter(Job.task == PROCESS_TASK).count() == 3


def test_an_oversized_message_is_kept_as_failed_and_not_read(
    session: AnySession, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app.config["BUREAU_SETTINGS"]
    monkeypatch.setitem(app.config, "BUREAU_SETTINGS", replace(settings, inbound_max_bytes=100))
    raw = email(text="x" * 500)
    message = received(session, raw)
    assert message.status == InboundStatus.FAILED
    assert message.error is not None
    assert "too large" in message.error
    assert message.raw == raw  # nothing lost
    assert session.query(Job).filter(Job.task == PROCESS_TASK).count() == 0


def test_a_signed_reply_address_names_its_request_and_a_forged_one_nothing(
    session: AnySession,
) -> None:
    booking = booking_in(session, Status.ASSIGNED)
    address = reply_address(booking)
    assert (
        address == f"bookings+{booking.reference}.{signature(booking.reference)}@bureau.localhost"
    )
    assert booking_from_address(session, address) == booking
    assert booking_from_address(session, f"Desk <{address.upper()}>") == booking
    forged = f"bookings+{booking.reference}.{'0' * 12}@bureau.localhost"
    assert booking_from_address(session, forged) is None
    elsewhere = address.replace("bureau.localhost", "example.com")
    assert booking_from_address(session, elsewhere) is None


def test_the_organizers_reply_by_address_is_on_the_timeline_and_status_page(
    session: AnySession, app: Flask
) -> None:
    booking = booking_in(session, Status.ASSIGNED)
    message = processed(session, email(to=reply_address(booking)))
    assert (message.status, message.matched_by) == ("matched", "reply-address")
    assert (message.booking_id, message.from_known_party) == (booking.id, True)
    [entry] = replies(session, booking)
    assert entry.actor_kind == "organizer"
    assert entry.details["text"] == "Thanks, the afternoon slot works for us."
    assert entry.public_message == "Your email: Thanks, the afternoon slot works for us."
    page = app.test_client().get(f"/requests/{booking.tracking_token}").get_data(as_text=True)
    assert "the afternoon slot works for us" in page
    # The assignee hears.
    [notice] = session.scalars(select(Job).where(Job.kind == "mail.reply_received"))
    assert notice.recipient == booking.assigned_staff.email


def test_a_strangers_mail_is_marked_and_kept_from_the_organizer(
    session: AnySession, app: Flask
) -> None:
    booking = booking_in(session, Status.ASSIGNED)
    message = processed(session, email(sender=STRANGER, to=reply_address(booking), text="Hi!"))
    assert (message.status, message.from_known_party) == ("matched", False)
    [entry] = replies(session, booking)
    assert entry.public_message is None
    assert entry.details["not_on_request"] is True
    assert "(not on the request)" in entry.actor_label
    page = app.test_client().get(f"/requests/{booking.tracking_token}").get_data(as_text=True)
    assert STRANGER not in page
    assert "Hi!" not in page


def test_a_forged_reply_address_is_not_matched(session: AnySession) -> None:
    booking = booking_in(session, Status.ASSIGNED)
    forged = f"bookings+{booking.reference}.abcdefabcdef@bureau.localhost"
    message = processed(session, email(to=forged, subject="hello"))
    assert (message.status, message.booking_id) == ("unmatched", None)
    assert replies(session, booking) == []


def test_a_reply_to_the_bureaus_email_is_matched_by_in_reply_to(session: AnySession) -> None:
    booking = booking_in(session, Status.ASSIGNED)
    mail_job = queue_mail(session, booking, "acknowledgement", organizer_of(booking), sequence=0)
    assert mail_job is not None
    session.commit()
    sent: Notification = compose_notification(session, mail_job)
    message = processed(
        session, email(subject="Re: hello", In_Reply_To=sent.message_id, References=sent.message_id)
    )
    assert (message.status, message.matched_by, message.booking_id) == (
        "matched",
        "in-reply-to",
        booking.id,
    )


def test_a_reference_in_the_subject_matches(session: AnySession) -> None:
    booking = booking_in(session, Status.ASSIGNED)
    subject = f"Question about {booking.reference.lower()}"
    message = processed(session, email(subject=subject))
    assert (message.status, message.matched_by, message.booking_id) == (
        "matched",
        "subject",
        booking.id,
    )


def test_unmatched_mail_waits_in_the_inbox(session: AnySession) -> None:
    message = processed(session, email(subject="Do you have a speaker on AI?"))
    assert (message.status, message.booking_id) == ("unmatched", None)


def test_a_message_the_parser_cannot_read_is_kept_as_failed(
    session: AnySession, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bureau.inbound import services

    def broken(raw: bytes, *, max_bytes: int) -> Any:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(services, "parse", broken)
    raw = email()
    message = processed(session, raw)
    assert message.status == InboundStatus.FAILED
    assert message.error is not None
    assert "UnicodeDecodeError" in message.error
    assert message.raw == raw


# --- bureau mail receive (an MTA's pipe delivery)


def test_the_receive_command_takes_a_message_once_and_exits_0(app: Flask) -> None:
    raw = email().decode()
    first = bureau_cli(app, "mail", "receive", stdin=raw)
    assert first.exit_code == 0, first.output
    assert "Stored as inbound message" in first.output
    again = bureau_cli(app, "mail", "receive", stdin=raw)
    assert again.exit_code == 0, again.output
    assert "Already received" in again.output
    with app.app_context():
        [message] = db.session.scalars(select(InboundMessage))
        assert (message.source, message.raw) == ("pipe", raw.encode())


def test_the_receive_command_keeps_an_oversized_message_and_exits_0(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app.config["BUREAU_SETTINGS"]
    monkeypatch.setitem(app.config, "BUREAU_SETTINGS", replace(settings, inbound_max_bytes=100))
    result = bureau_cli(app, "mail", "receive", stdin=email(text="x" * 500).decode())
    assert result.exit_code == 0, result.output
    with app.app_context():
        [message] = db.session.scalars(select(InboundMessage))
        assert message.status == InboundStatus.FAILED


def test_the_receive_command_asks_the_mta_to_retry_without_a_database(tmp_path: Path) -> None:
    unreachable = make_app(tmp_path, "postgresql+psycopg://bureau@127.0.0.1:9/bureau")
    result = bureau_cli(unreachable, "mail", "receive", stdin=email().decode())
    assert result.exit_code == 75
    assert "try again later" in result.output


# --- the staff Inbox


def inbox_client(app: Flask, email_address: str, role: str) -> FlaskClient:
    staff_member(app, email_address, role=role)
    client = app.test_client()
    assert sign_in(client, email_address).status_code in (302, 303)
    return client


def post(client: FlaskClient, path: str, **data: str) -> Any:
    token = csrf_from(client.get("/staff/inbox").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def unmatched(session: AnySession, subject: str = "Do you have a speaker on AI?") -> int:
    message = processed(session, email(subject=subject, text="Please call me."))
    assert message.status == InboundStatus.UNMATCHED
    return message.id


def test_staff_attach_an_unmatched_message_to_a_request(session: AnySession, app: Flask) -> None:
    booking = booking_in(session, Status.ASSIGNED)
    inbound_id = unmatched(session)
    admin = inbox_client(app, ADMIN_EMAIL, Role.ADMIN)
    page = admin.get("/staff/inbox").get_data(as_text=True)
    assert "Do you have a speaker on AI?" in page
    wrong = post(admin, f"/staff/inbox/{inbound_id}/attach", reference="BR-1999-99999")
    assert wrong.status_code == 303
    response = post(admin, f"/staff/inbox/{inbound_id}/attach", reference=booking.reference)
    assert response.status_code == 303
    session.expire_all()
    message = session.get(InboundMessage, inbound_id)
    assert (message.status, message.matched_by, message.booking_id) == (
        "matched",
        "staff",
        booking.id,
    )
    [entry] = replies(session, booking)
    assert entry.details["text"] == "Please call me."
    assert entry.details["attached_by"]
    assert "Do you have a speaker on AI?" not in admin.get("/staff/inbox").get_data(as_text=True)


def test_an_agent_attaches_only_to_their_own_requests_and_may_discard(
    session: AnySession, app: Flask
) -> None:
    booking = booking_in(session, Status.ASSIGNED)  # assigned to the China desk
    inbound_id = unmatched(session)
    other = inbox_client(app, "europe.desk@bureau.localhost", Role.AGENT)
    refused = post(other, f"/staff/inbox/{inbound_id}/attach", reference=booking.reference)
    assert refused.status_code == 303
    session.expire_all()
    assert session.get(InboundMessage, inbound_id).status == "unmatched"
    assert replies(session, booking) == []
    # Without a CSRF token nothing happens.
    assert other.post(f"/staff/inbox/{inbound_id}/discard").status_code == 400
    assert post(other, f"/staff/inbox/{inbound_id}/discard").status_code == 303
    session.expire_all()
    assert session.get(InboundMessage, inbound_id).status == "discarded"
    # The raw message is for admins.
    assert other.get(f"/staff/inbox/{inbound_id}/raw").status_code == 403


def test_admins_download_the_raw_message(session: AnySession, app: Flask) -> None:
    raw = email(subject="Raw")
    message = received(session, raw)
    admin = inbox_client(app, ADMIN_EMAIL, Role.ADMIN)
    response = admin.get(f"/staff/inbox/{message.id}/raw")
    assert response.status_code == 200
    assert response.data == raw
    assert response.headers["Content-Disposition"].startswith("attachment")


def test_the_worker_knows_the_task_and_runs_the_job(session: AnySession, app: Flask) -> None:
    from bureau.inbound.tasks import process_message
    from bureau.outbox import HANDLERS
    from bureau.queue import TASK_MODULES

    assert "bureau.inbound.tasks" in TASK_MODULES
    assert HANDLERS[PROCESS_TASK] is process
    message = received(session, email(subject="Nothing to match"))
    job = session.scalars(select(Job).where(Job.task == PROCESS_TASK)).one()
    assert process_message.run(job_id=job.id) == "done"
    session.expire_all()
    assert session.get(InboundMessage, message.id).status == InboundStatus.UNMATCHED
