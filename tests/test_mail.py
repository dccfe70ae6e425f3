"""Emails: content, headers, UTF-8, injection, Message-ID reuse, SMTP 4xx/5xx, .eml files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from bureau.bookings.services import ROUTE_TASK
from bureau.bookings.tasks import route_new_booking
from bureau.extensions import db
from bureau.inbound.addresses import booking_from_address, signature
from bureau.mail.attachments import Attachment
from bureau.mail.compose import QUICK_SMTP, Mail, _sender, build_message
from bureau.mail.models import Notification
from bureau.mail.recipients import MAIL_TASK
from bureau.mail.tasks import send_notification
from bureau.outbox import HANDLERS, Job, execute, run_job
from tests.conftest import make_app, valid_request


@pytest.fixture
def mail_app(tmp_path: Path, database_url: str, app: Flask, smtp_server: Any) -> Iterator[Flask]:
    """The suite's database, sending through the test SMTP server; no broker involved."""
    application = make_app(tmp_path, database_url, BUREAU_SMTP_URL=smtp_server.url)
    with application.app_context():
        yield application


def submit_and_route(app: Flask, **changes: Any) -> dict[str, int]:
    """Submit through the API, run the routing job here; returns mail job ids by kind."""
    response = app.test_client().post("/api/v1/requests", json=valid_request(**changes))
    assert response.status_code == 201
    route_job = db.session.scalars(select(Job).where(Job.kind == "route")).one()
    run_job(db.session, route_job.id, route_new_booking)
    mails = db.session.scalars(select(Job).where(Job.task == MAIL_TASK))
    return {job.kind: job.id for job in mails}


def send(job_id: int) -> str | None:
    outcome = run_job(db.session, job_id, send_notification)
    return outcome.state if outcome else None


def test_acknowledgement_and_staff_notice(mail_app: Flask, inbox: Any) -> None:
    jobs = submit_and_route(mail_app, contact_name="李娜 Zoë", event_name="Retail — 2027 ✓")
    assert set(jobs) == {"mail.acknowledgement", "mail.assigned"}
    assert send(jobs["mail.acknowledgement"]) == "done"
    assert send(jobs["mail.assigned"]) == "done"

    [ack] = inbox.to("li.na@example.com")
    [notice] = inbox.to("china.desk@bureau.localhost")
    from bureau.bookings.models import BookingRequest

    booking = db.session.scalars(select(BookingRequest)).one()
    assert ack["Subject"] == f"We received your request {booking.reference}: Retail — 2027 ✓"
    assert ack["To"].addresses[0].display_name == "李娜 Zoë"
    assert ack["From"].addresses[0].addr_spec == "bookings@bureau.localhost"
    # A reply lands on the request (bureau/inbound/), under the assignee's name.
    reply_to = ack["Reply-To"].addresses[0]
    assert (
        reply_to.addr_spec
        == f"bookings+{booking.reference}.{signature(booking.reference)}@bureau.localhost"
    )
    assert booking_from_address(db.session, reply_to.addr_spec) == booking
    assert reply_to.display_name == booking.assigned_staff.name
    assert ack.get_content_type() == "multipart/alternative"
    text = ack.get_body(("plain",)).get_content()
    html = ack.get_body(("html",)).get_content()
    status_url = f"https://bureau.test/requests/{booking.tracking_token}"
    for body in (text, html):
        assert booking.reference in body
        assert status_url in body
        assert "Winston Ma" in body
    assert "Greater China desk" in text

    assert notice["Subject"] == f"New request {booking.reference} for you: Retail — 2027 ✓"
    assert (
        f"https://bureau.test/staff/requests/{booking.id}"
        in notice.get_body(("plain",)).get_content()
    )
    assert "Reply-To" not in notice

    stored = {n.template: n for n in db.session.scalars(select(Notification))}
    assert stored["acknowledgement"].message_id == ack["Message-ID"]
    assert stored["acknowledgement"].sent_at is not None
    assert stored["acknowledgement"].state == "done"


def submit_and_run_task(app: Flask, **changes: Any) -> int:
    """Submit through the API, then run the routing job as the worker's task does."""
    response = app.test_client().post("/api/v1/requests", json=valid_request(**changes))
    assert response.status_code == 201
    route_job = db.session.scalars(select(Job).where(Job.kind == "route")).one()
    db.session.remove()  # the task starts from an empty session, as in a worker
    return route_job.id


def test_the_routing_task_sends_its_emails_itself_claiming_each_by_its_insert(
    mail_app: Flask, inbox: Any
) -> None:
    route_id = submit_and_run_task(mail_app)
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert execute(ROUTE_TASK, route_id, route_new_booking) == "done"
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)

    assert len(inbox.to("li.na@example.com")) == 1
    assert len(inbox.to("china.desk@bureau.localhost")) == 1
    jobs = db.session.scalars(select(Job)).all()
    assert {(job.kind, job.state, job.attempts) for job in jobs} == {
        ("route", "done", 1),
        ("mail.acknowledgement", "done", 1),
        ("mail.assigned", "done", 1),
    }
    # One claiming UPDATE (the routing job's); the emails' jobs were inserted claimed.
    assert sum("attempts + " in sql and sql.startswith("UPDATE jobs") for sql in statements) == 1
    # The booking is loaded once for the three jobs, not again by each email.
    assert sum(sql.startswith("SELECT booking_requests.id,") for sql in statements) == 1
    # Fresh jobs: no earlier attempt can have composed their emails, so nobody looks.
    assert not any(sql.startswith("SELECT notifications.") for sql in statements)


def test_emails_a_stopped_task_did_not_send_go_back_to_pending_and_the_broker(
    mail_app: Flask, inbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    route_id = submit_and_run_task(mail_app)
    sent: list[int] = []
    monkeypatch.setattr(
        "bureau.outbox.dispatch.enqueue", lambda task, job_id, countdown=None: sent.append(job_id)
    )

    def shutting_down(session: Any, job: Job) -> None:
        raise SystemExit("worker stopping")  # not an error of the job: no attempt is used

    monkeypatch.setitem(HANDLERS, MAIL_TASK, shutting_down)
    with pytest.raises(SystemExit):
        execute(ROUTE_TASK, route_id, route_new_booking)

    assert inbox.messages == []
    mails = db.session.scalars(select(Job).where(Job.task == MAIL_TASK)).all()
    assert {(job.state, job.attempts, job.locked_until) for job in mails} == {("pending", 0, None)}
    assert sorted(sent) == sorted(job.id for job in mails)


def test_user_text_is_escaped_in_html_and_cannot_add_headers(mail_app: Flask, inbox: Any) -> None:
    jobs = submit_and_route(mail_app, message="<script>alert(1)</script>", audience="<b>VIPs</b>")
    send(jobs["mail.assigned"])
    [notice] = inbox.to("china.desk@bureau.localhost")
    html = notice.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;b&gt;VIPs&lt;/b&gt;" in html

    message = build_message(
        Mail(subject="Hi", text="t", html="<p>h</p>"),
        to_name="Eve\r\nBcc: victim@example.com",
        to_email="eve@example.com",
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None
    assert parsed["To"].addresses[0].display_name == "Eve Bcc: victim@example.com"


def test_non_ascii_parts_are_quoted_printable_and_ascii_ones_plain(mail_app: Flask) -> None:
    text = "Dear Zoë,\n\nthank you — we received your request.\n"
    message = build_message(
        Mail(subject="Hi", text=text, html="<p>plain ASCII</p>"),
        to_name="Zoë",
        to_email="zoe@example.com",
        calendar=(b"BEGIN:VCALENDAR\r\nSUMMARY:Caf\xc3\xa9\r\nEND:VCALENDAR\r\n", "REQUEST"),
    )
    raw = message.as_bytes()
    assert raw.isascii()  # 7-bit safe on the wire and in the stored text
    parsed = message_from_bytes(raw, policy=policy.default)
    parts = {p.get_content_type(): p for p in parsed.walk() if not p.is_multipart()}
    plain, html = parts["text/plain"], parts["text/html"]
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert "=E2=80=94" in raw.decode()  # readable raw text, not base64
    assert plain.get_content().replace("\r\n", "\n") == text
    assert html["Content-Transfer-Encoding"] == "7bit"
    invites = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
    assert [p.get_content_disposition() for p in invites] == [None, "attachment"]
    for invite in invites:  # read as UTF-8, not as MIME's default US-ASCII
        assert invite.get_content_charset() == "utf-8"
        assert invite.get_param("method") == "REQUEST"
        assert "Café" in invite.get_content()
    boundaries = [p.get_boundary() for p in parsed.walk() if p.is_multipart()]
    assert len(boundaries) == 2
    assert len(set(boundaries)) == 2
    assert all(re.fullmatch(r"=_[0-9a-f]{24}", b or "") for b in boundaries)


def test_a_pdf_attachment_travels_beside_the_text_and_html(mail_app: Flask) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256))
    message = build_message(
        Mail(subject="Your contract", text="Attached.", html="<p>Attached.</p>"),
        to_name="Li Na",
        to_email="li.na@example.com",
        attachments=[Attachment("BR-2027-00001 contract\r\nBcc: x.pdf", "application/pdf", pdf)],
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed["Bcc"] is None
    (attachment,) = parsed.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "BR-2027-00001 contract Bcc: x.pdf"
    assert attachment.get_content() == pdf
    assert parsed.get_body(("plain",)).get_content().strip() == "Attached."


def test_smtp_421_is_retried_with_the_same_message_id(mail_app: Flask, inbox: Any) -> None:
    jobs = submit_and_route(mail_app)
    inbox.script("li.na@example.com", "421 4.3.2 Service busy, try later")
    assert send(jobs["mail.acknowledgement"]) == "pending"
    job = db.session.get(Job, jobs["mail.acknowledgement"], populate_existing=True)
    assert "421" in job.last_error
    first_id = db.session.scalars(select(Notification.message_id)).one()
    assert send(jobs["mail.acknowledgement"]) == "done"
    [ack] = inbox.to("li.na@example.com")
    assert ack["Message-ID"] == first_id
    assert inbox.attempts["li.na@example.com"] == 2


def test_smtp_550_fails_for_good_and_stays_visible(mail_app: Flask, inbox: Any) -> None:
    jobs = submit_and_route(mail_app)
    inbox.script("li.na@example.com", "550 5.1.1 No such mailbox")
    assert send(jobs["mail.acknowledgement"]) == "failed"
    assert send(jobs["mail.acknowledgement"]) is None  # not retried
    notification = db.session.scalars(select(Notification)).one()
    assert notification.state == "failed"
    assert "550 5.1.1 No such mailbox" in notification.last_error
    assert inbox.to("li.na@example.com") == []
    assert inbox.attempts["li.na@example.com"] == 1


def test_unreachable_server_is_transient(tmp_path: Path, database_url: str, app: Flask) -> None:
    from tests.smtp import free_port

    down = make_app(tmp_path, database_url, BUREAU_SMTP_URL=f"smtp://127.0.0.1:{free_port()}")
    with down.app_context():
        jobs = submit_and_route(down)
        assert send(jobs["mail.acknowledgement"]) == "pending"
        job = db.session.get(Job, jobs["mail.acknowledgement"])
        assert "SMTP unreachable" in job.last_error


def test_without_smtp_each_email_is_one_eml_file(
    tmp_path: Path, database_url: str, app: Flask
) -> None:
    local = make_app(tmp_path, database_url)
    with local.app_context():
        jobs = submit_and_route(local)
        assert send(jobs["mail.acknowledgement"]) == "done"
        files = list((tmp_path / "mail").glob("*.eml"))
        assert len(files) == 1
        parsed = message_from_bytes(files[0].read_bytes(), policy=policy.default)
        assert parsed["To"].addresses[0].addr_spec == "li.na@example.com"
        assert "We received your request" in parsed["Subject"]


@pytest.mark.parametrize(
    ("subject", "to_name", "reply_to", "calendar"),
    [
        ("We received your request BR-2027-00001: Retail Summit", "Li Na", None, None),
        ("Retail 2027 " * 8, "李娜 Zoë", ("Greater China desk", "desk@x.test"), None),
        ("x" * 120, 'O\'Brien, "Jo" (CEO)', ("A; B", "a@x.test"), None),
        ("Invitation: Summit, 10 Mar 2027", "Li Na", None, (b"BEGIN:VCALENDAR\r\n", "REQUEST")),
        ("", "", None, None),
    ],
)
def test_quick_header_folding_writes_the_same_bytes_as_policy_smtp(
    mail_app: Flask, subject: str, to_name: str, reply_to: Any, calendar: Any
) -> None:
    """build_message writes with a shortcut for short ASCII headers; the bytes must be the
    ones policy.SMTP writes for the very same message (a non-ASCII subject aside: below)."""
    mail = Mail(subject=subject, text="Dear Li Na,\n" + "é" * 100, html="<p>Dear Li Na</p>")
    message = build_message(
        mail, to_name=to_name, to_email="li.na@example.com", reply_to=reply_to, calendar=calendar
    )
    quick = message.as_string()  # what is stored and sent
    assert quick == message.as_string(policy=policy.SMTP)
    assert quick.count("\r\n") > 10
    assert message.as_bytes() == quick.encode()


@pytest.mark.parametrize(
    "mail_from",
    [
        "Bureau <bookings@bureau.example>",
        "Zoë\u2019s Bureau 演讲 <bookings@bureau.example>",
        '"Bookings, Bureau" <bookings@bureau.example>',
        "bookings@bureau.example",
    ],
)
def test_the_from_header_parsed_once_is_the_one_parsed_each_time(mail_from: str) -> None:
    """build_message reuses one parsed From header per sender (compose._sender): the same
    text and bytes as an Address set on each message."""
    each, once = EmailMessage(policy=QUICK_SMTP), EmailMessage(policy=QUICK_SMTP)
    name, email = parseaddr(mail_from)
    each["From"] = Address(display_name=name, addr_spec=email)
    once["From"] = _sender(mail_from)[1]
    assert _sender(mail_from)[0] == email
    assert once.as_string() == each.as_string()
    assert once.as_bytes() == each.as_bytes()


@pytest.mark.parametrize(
    "subject",
    [
        # policy.SMTP folds this one as "Handels \r\n =?utf-8?b?4oCU?= Gipfel": two spaces.
        "We received your request BR-2027-00001: Internationaler Handels — Gipfel der Zukunft",
        "Retail — 2027 ✓ " * 3,
        "Wir haben Ihre Anfrage erhalten: 上海零售未来峰会 2027 — Retail Summit in Shanghai",
        "Kurz — ok",
        "Große  Konferenz: doppelte Leerzeichen bleiben, auch über einen Umbruch hinweg " * 2,
    ],
)
def test_a_non_ascii_subject_reads_back_exactly_as_written(mail_app: Flask, subject: str) -> None:
    mail = Mail(subject=subject, text="Dear Li Na", html="<p>Dear Li Na</p>")
    raw = build_message(mail, to_name="Li Na", to_email="li.na@example.com").as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    assert message_from_bytes(raw, policy=policy.default)["Subject"] == subject
    # What a client shows after unfolding by RFC 5322 and decoding by RFC 2047:
    unfolded = re.search(rb"^Subject: (.*?)\r\n(?!\s)", raw, re.M | re.S)
    assert unfolded is not None
    shown = str(make_header(decode_header(unfolded[1].replace(b"\r\n", b"").decode())))
    assert shown == subject
