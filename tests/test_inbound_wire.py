"""Real-world messages through the whole pipeline (receive_raw, then the worker's job):
replies land on their request, automatic mail is recorded and never answered, bounces mark
the email they report on, calendar answers are recorded per attendee."""

# ruff: noqa: RUF001 - Chinese text has full-width punctuation

from __future__ import annotations

import threading
from collections.abc import Iterator
from email import message_from_string
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.states import Status
from bureau.calendar.models import Engagement
from bureau.catalogue.models import Speaker
from bureau.db import AnySession
from bureau.extensions import db
from bureau.inbound.models import CalendarAnswer, InboundMessage
from bureau.inbound.services import ATTACHMENT_MAX_BYTES, PROCESS_TASK, process, receive_raw
from bureau.inbound.signals import parse
from bureau.mail.models import Notification
from bureau.mail.recipients import organizer_of, queue_mail
from bureau.mail.tasks import compose_notification
from bureau.outbox import Job, run_job
from bureau.staff.models import Role
from tests.test_inbound import inbox_client, post
from tests.test_transitions import ADMIN_EMAIL, booking_in
from tests.workflow_helpers import submit_and_route

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
ACKNOWLEDGEMENT = "<176485000123.4242.1111@bureau.example>"  # what the fixtures answer


@pytest.fixture
def session(app: Flask) -> Iterator[AnySession]:
    with app.test_request_context():
        yield db.session
        db.session.rollback()


@pytest.fixture(autouse=True)
def _speakers_emails_restored(app: Flask) -> Iterator[None]:
    """Some tests give a demo speaker a fixture's attendee address: put theirs back."""
    with app.app_context():
        emails = {
            row.id: row.email for row in db.session.execute(select(Speaker.id, Speaker.email))
        }
    yield
    with app.app_context():
        for speaker in db.session.scalars(select(Speaker)):
            speaker.email = emails.get(speaker.id, speaker.email)
        db.session.commit()


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.eml").read_bytes()


def acknowledged(session: AnySession, status: Status = Status.ASSIGNED) -> BookingRequest:
    """A request whose acknowledgement is the email the fixtures answer."""
    booking = booking_in(session, status)
    job = queue_mail(session, booking, "acknowledgement", organizer_of(booking), sequence=0)
    assert job is not None
    session.commit()
    sent = compose_notification(session, job)
    sent.message_id = ACKNOWLEDGEMENT
    session.commit()
    return booking


def processed(session: AnySession, raw: bytes) -> InboundMessage:
    message = receive_raw(session, raw, source="pipe")
    assert message is not None
    session.commit()
    job = session.scalars(
        select(Job).where(Job.task == PROCESS_TASK, Job.sequence == message.id)
    ).one()
    run_job(session, job.id, process)
    session.refresh(message)
    return message


def entries(session: AnySession, booking: BookingRequest, action: str) -> list[BookingEvent]:
    return list(
        session.scalars(
            select(BookingEvent)
            .where(BookingEvent.booking_id == booking.id, BookingEvent.action == action)
            .order_by(BookingEvent.id)
        )
    )


def mails(session: AnySession, kind: str) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.kind == f"mail.{kind}")))


@pytest.mark.parametrize(
    ("name", "words", "folded"),
    [
        ("gmail_reply", "we can do 14:00 instead of 15:00", "wrote:"),
        ("outlook_reply", "anbei der Ablaufplan", "Von:"),
        ("apple_mail_reply", "Could the talk be in English?", "wrote:"),
        ("foxmail_reply_gb18030", "镕喆报告厅（𠀾楼三层）", "原始邮件"),
        ("gmail_reply_utf8_chinese", "周三下午两点可以", "写道"),
    ],
)
def test_each_clients_reply_lands_on_its_request_with_the_quote_folded(
    session: AnySession, name: str, words: str, folded: str
) -> None:
    booking = acknowledged(session)
    message = processed(session, fixture(name))
    assert (message.status, message.matched_by, message.booking_id) == (
        "matched",
        "in-reply-to",
        booking.id,
    )
    [entry] = entries(session, booking, "reply received")
    parsed = parse(fixture(name), max_bytes=10**7)
    assert entry.details["text"] == parsed.reply
    assert entry.details["text"]
    assert folded not in entry.details["text"]
    assert words in entry.details["text"]
    assert entry.details["from"] == parsed.from_address
    assert entry.public_message is None  # not the request's contact: staff only
    assert len(mails(session, "reply_received")) == 1


def test_an_out_of_office_is_recorded_for_staff_and_never_answered(session: AnySession) -> None:
    booking = acknowledged(session)
    status = booking.status
    message = processed(session, fixture("exchange_out_of_office"))
    assert (message.status, message.booking_id) == ("matched", booking.id)
    [entry] = entries(session, booking, "automatic reply")
    assert entry.public_message is None
    assert entry.details["automatic"] == "out_of_office"
    assert entries(session, booking, "reply received") == []
    assert mails(session, "reply_received") == []  # the assignee is not emailed
    session.refresh(booking)
    assert booking.status == status
    # Nothing is sent to the sender.
    assert session.scalars(select(Job).where(Job.recipient == message.sender)).all() == []


def test_a_bounce_marks_its_email_and_tells_the_assignee(session: AnySession) -> None:
    booking = acknowledged(session)
    message = processed(session, fixture("postfix_bounce"))
    assert (message.status, message.matched_by) == ("matched", "bounced-email")
    sent = session.scalars(
        select(Notification).where(Notification.message_id == ACKNOWLEDGEMENT)
    ).one()
    assert sent.bounced_at is not None
    assert sent.bounce_reason is not None
    assert "organiser@example.org" in sent.bounce_reason
    assert "5.1.1" in sent.bounce_reason
    [entry] = entries(session, booking, "email bounced")
    assert entry.public_message is None
    [notice] = mails(session, "email_bounced")
    assert notice.recipient == booking.assigned_staff.email
    assert mails(session, "reply_received") == []
    told = message_from_string(compose_notification(session, notice).raw_message, policy=default)
    body = told.get_body(("plain",))
    assert body is not None
    assert f"the organizer's address ({booking.contact_email}) bounced" in body.get_content()


def test_a_bounce_for_nothing_known_waits_in_the_inbox(session: AnySession) -> None:
    message = processed(session, fixture("postfix_bounce"))
    assert (message.status, message.booking_id) == ("unmatched", None)


def test_the_mail_log_says_bounced_with_the_servers_words(session: AnySession, app: Flask) -> None:
    acknowledged(session)
    processed(session, fixture("postfix_bounce"))
    client = inbox_client(app, ADMIN_EMAIL, Role.ADMIN)
    page = client.get("/staff/mail").get_data(as_text=True)
    assert "bounced" in page
    assert "5.1.1" in page


def confirmed_with_uid(session: AnySession, name: str) -> tuple[BookingRequest, Engagement]:
    """A confirmed request whose engagement has the UID the fixture answers, and whose
    speaker has the fixture's attendee address."""
    booking = acknowledged(session, Status.CONFIRMED)
    engagement = session.scalars(
        select(Engagement).where(Engagement.booking_id == booking.id)
    ).one()
    calendar = parse(fixture(name), max_bytes=10**7).calendar
    assert calendar is not None
    engagement.uid = calendar.uid
    engagement.speaker.email = calendar.answers[0].address
    session.commit()
    return booking, engagement


def test_a_speaker_declining_the_invitation_is_recorded_and_alerts_the_assignee(
    session: AnySession,
) -> None:
    booking, engagement = confirmed_with_uid(session, "gmail_itip_declined")
    message = processed(session, fixture("gmail_itip_declined"))
    assert (message.status, message.matched_by) == ("matched", "calendar-uid")
    [answer] = session.scalars(
        select(CalendarAnswer).where(CalendarAnswer.engagement_id == engagement.id)
    )
    assert (answer.address, answer.partstat) == (engagement.speaker.email, "DECLINED")
    [entry] = entries(session, booking, "calendar answer")
    assert (entry.details["role"], entry.details["partstat"]) == ("speaker", "DECLINED")
    [alert] = mails(session, "invite_declined")
    assert alert.recipient == booking.assigned_staff.email


def test_an_outlook_acceptance_is_recorded_without_an_alert(session: AnySession) -> None:
    _, engagement = confirmed_with_uid(session, "outlook_itip_accepted")
    processed(session, fixture("outlook_itip_accepted"))
    [answer] = session.scalars(
        select(CalendarAnswer).where(CalendarAnswer.engagement_id == engagement.id)
    )
    assert answer.partstat == "ACCEPTED"
    assert mails(session, "invite_declined") == []
    assert mails(session, "reply_received") == []


def test_a_calendar_answer_from_someone_not_invited_is_not_recorded(session: AnySession) -> None:
    _, engagement = confirmed_with_uid(session, "outlook_itip_accepted")
    engagement.speaker.email = "someone.else@example.org"
    session.commit()
    processed(session, fixture("outlook_itip_accepted"))
    assert session.scalars(select(CalendarAnswer)).all() == []


def test_a_replayed_message_is_refused(session: AnySession) -> None:
    acknowledged(session)
    processed(session, fixture("gmail_reply"))
    assert receive_raw(session, fixture("gmail_reply"), source="imap", uidvalidity=3, uid=9) is None
    session.commit()
    assert session.query(InboundMessage).count() == 1


def test_the_request_page_shows_each_attendees_answer(session: AnySession, app: Flask) -> None:
    booking, engagement = confirmed_with_uid(session, "gmail_itip_declined")
    processed(session, fixture("gmail_itip_declined"))
    client = inbox_client(app, ADMIN_EMAIL, Role.ADMIN)
    page = client.get(f"/staff/requests/{booking.id}").get_data(as_text=True)
    assert 'id="calendar-answers"' in page
    assert f"{engagement.speaker.email}: <span" in page
    assert f"{engagement.speaker.email} (speaker): <strong>declined</strong>" in page  # timeline


def test_a_replys_file_is_kept_listed_and_downloaded_by_staff(
    session: AnySession, app: Flask
) -> None:
    booking = acknowledged(session)
    message = processed(session, fixture("outlook_reply"))
    [entry] = entries(session, booking, "reply received")
    [listed] = entry.details["attachments"]
    assert (listed["filename"], listed["content_type"], listed["number"], listed["store"]) == (
        "Ablaufplan_Vortrag.pdf",
        "application/pdf",
        1,
        "instance",
    )
    [attachment] = parse(fixture("outlook_reply"), max_bytes=10**7).attachments
    stored = app.config["BUREAU_SETTINGS"].instance_path / "inbound" / str(message.id) / "1"
    assert stored.read_bytes() == attachment.data
    assert stored.stat().st_mode & 0o077 == 0  # only the account that runs Bureau reads it
    client = inbox_client(app, ADMIN_EMAIL, Role.ADMIN)
    page = client.get(f"/staff/requests/{booking.id}").get_data(as_text=True)
    link = f"/staff/requests/{booking.id}/emails/{message.id}/files/1"
    assert f'href="{link}">Ablaufplan_Vortrag.pdf</a>' in page
    download = client.get(link)
    assert download.status_code == 200
    assert download.data == attachment.data
    assert download.mimetype == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert client.get(link.replace("/files/1", "/files/2")).status_code == 404


def test_a_file_kept_before_stores_could_be_chosen_is_in_the_instance_folder(
    session: AnySession, app: Flask
) -> None:
    """Entries written before BUREAU_ATTACHMENT_STORE name no store: the instance folder."""
    booking = acknowledged(session)
    message = processed(session, fixture("outlook_reply"))
    [entry] = entries(session, booking, "reply received")
    files = [{k: v for k, v in f.items() if k != "store"} for f in entry.details["attachments"]]
    table: Table = BookingEvent.__table__  # type: ignore[assignment]
    session.execute(  # the timeline refuses ORM edits
        update(table)
        .where(table.c.id == entry.id)
        .values(details={**entry.details, "attachments": files})
    )
    session.commit()
    client = inbox_client(app, ADMIN_EMAIL, Role.ADMIN)
    download = client.get(f"/staff/requests/{booking.id}/emails/{message.id}/files/1")
    assert download.status_code == 200
    [attachment] = parse(fixture("outlook_reply"), max_bytes=10**7).attachments
    assert download.data == attachment.data


def test_files_over_the_limits_are_listed_as_not_kept(session: AnySession) -> None:
    booking = acknowledged(session)
    letter = EmailMessage()
    letter["From"] = "someone@example.org"
    letter["Subject"] = f"Files for {booking.reference}"
    letter["Message-ID"] = "<files-1@example.org>"
    letter.set_content("Two files.")
    letter.add_attachment(b"MZ\x90\x00", maintype="application", subtype="x-msdownload",
                          filename="setup.exe")  # fmt: skip
    letter.add_attachment(b"x" * (ATTACHMENT_MAX_BYTES + 1), maintype="application",
                          subtype="pdf", filename="huge.pdf")  # fmt: skip
    message = processed(session, bytes(letter))
    [entry] = entries(session, booking, "reply received")
    assert "attachments" not in entry.details
    assert [(f["filename"], f["reason"]) for f in entry.details["refused_attachments"]] == [
        ("setup.exe", "not a kind of file the bureau keeps"),
        ("huge.pdf", f"over {ATTACHMENT_MAX_BYTES:,} bytes"),
    ]
    assert message.status == "matched"


def test_a_staff_reply_goes_to_the_organizer_threaded_and_is_on_the_timeline(
    session: AnySession, app: Flask
) -> None:
    booking = acknowledged(session)
    booking.contact_email = "ada.lovelace@gmail.com"  # gmail_reply's sender: the organizer
    session.commit()
    theirs = processed(session, fixture("gmail_reply"))
    assert theirs.from_known_party
    client = inbox_client(app, ADMIN_EMAIL, Role.ADMIN)
    response = post(
        client, f"/staff/requests/{booking.id}/reply", to="organizer", text="Yes, 14:00 it is."
    )
    assert response.status_code == 303
    [entry] = entries(session, booking, "staff reply")
    assert entry.details["text"] == "Yes, 14:00 it is."
    assert entry.public_message == "We wrote: Yes, 14:00 it is."
    [job] = mails(session, "staff_reply")
    assert job.recipient == "ada.lovelace@gmail.com"
    sent = message_from_string(compose_notification(session, job).raw_message, policy=default)
    assert sent["In-Reply-To"] == theirs.message_id
    assert sent["References"].split() == [ACKNOWLEDGEMENT, theirs.message_id]
    assert sent["Subject"] == f"Re: Your request BR-2027-00042 was received ({booking.reference})"
    assert sent["Auto-Submitted"] is None  # a person wrote it
    assert booking.reference in sent["Reply-To"]  # their answer comes back to the request
    body = sent.get_body(("plain",))
    assert body is not None
    assert "Yes, 14:00 it is." in body.get_content()
    page = client.get(f"/staff/requests/{booking.id}").get_data(as_text=True)
    assert "Yes, 14:00 it is." in page
    assert 'id="reply"' in page


def test_a_staff_reply_to_the_speaker_carries_their_own_link(
    session: AnySession, app: Flask
) -> None:
    booking = acknowledged(session, Status.CONFIRMED)
    client = inbox_client(app, ADMIN_EMAIL, Role.ADMIN)
    response = post(
        client, f"/staff/requests/{booking.id}/reply", to="speaker", text="See you in March."
    )
    assert response.status_code == 303
    [job] = mails(session, "staff_reply")
    assert job.recipient == booking.offer.speaker.email
    sent = message_from_string(compose_notification(session, job).raw_message, policy=default)
    assert sent["In-Reply-To"] is None
    assert sent["Subject"] == f"{booking.event_name} ({booking.reference})"
    assert "/availability/" in sent.get_body(("plain",)).get_content()


def test_an_empty_reply_is_not_sent(session: AnySession, app: Flask) -> None:
    booking = acknowledged(session)
    client = inbox_client(app, ADMIN_EMAIL, Role.ADMIN)
    response = post(client, f"/staff/requests/{booking.id}/reply", to="organizer", text=" ")
    assert response.status_code == 303
    assert mails(session, "staff_reply") == []


def test_two_workers_processing_one_message_on_postgresql_handle_it_once(
    postgres_app: Flask,
) -> None:
    """The first holds the message's row lock, not yet committed; the second's read waits
    for it, then finds the message handled and does nothing."""
    app = postgres_app
    booking_id = submit_and_route(app).id
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        raw = email_about(booking.reference)
        message = receive_raw(db.session, raw, source="pipe")
        assert message is not None
        db.session.commit()
        message_id = message.id
        job_id = db.session.scalars(
            select(Job.id).where(Job.task == PROCESS_TASK, Job.sequence == message_id)
        ).one()
        engine = db.engine
    first_done = threading.Event()
    errors: list[BaseException] = []

    def work(first: bool) -> None:
        try:
            with app.app_context(), Session(engine) as session:
                if not first:
                    first_done.wait(5)
                job = session.get(Job, job_id)
                assert job is not None
                process(session, job)
                if first:
                    first_done.set()
                    threading.Event().wait(0.5)  # hold the lock while the second tries
                session.commit()
        except BaseException as error:  # reported below
            errors.append(error)
            first_done.set()

    threads = [threading.Thread(target=work, args=(n == 0,)) for n in range(2)]
    threads[0].start()
    first_done.wait(5)
    threads[1].start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with app.app_context():
        filed = db.session.scalars(
            select(BookingEvent).where(
                BookingEvent.booking_id == booking_id, BookingEvent.action == "reply received"
            )
        ).all()
        assert len(filed) == 1
        assert db.session.get(InboundMessage, message_id).status == "matched"


def email_about(reference: str) -> bytes:
    letter = EmailMessage()
    letter["From"] = "li.na@example.com"
    letter["Subject"] = f"Re: {reference}"
    letter["Message-ID"] = f"<race-{reference}@example.com>"
    letter.set_content("Both workers see this.")
    return bytes(letter)
