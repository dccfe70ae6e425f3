"""Personal data on a booking's paper trail: contract versions and their acceptance, invoices,
received emails. Exported; erased (proved by scanning every table) but for the invoices,
which are kept as issued; received emails aged out by the retention period."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from sqlalchemy import func, select, update

from bureau.billing.models import Invoice
from bureau.billing.services import Party, issue_invoice
from bureau.bookings import actions
from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.workflow import Actor
from bureau.calendar.models import Engagement
from bureau.cli import cli
from bureau.contracts import services as contracts
from bureau.contracts.models import Acceptance, ContractVersion
from bureau.contracts.render import sha256_of
from bureau.db import AnySession, utcnow
from bureau.extensions import db
from bureau.inbound.models import CalendarAnswer, InboundMessage, InboundStatus
from bureau.inbound.services import (
    PROCESS_TASK,
    REPLY_RECEIVED,
    attachment_folder,
    process,
    receive_raw,
)
from bureau.mail.models import Notification
from bureau.outbox import Job, JobState, run_job
from bureau.privacy.export import export, export_json
from bureau.privacy.paperwork import ERASED_HTML, INVOICES_KEPT
from bureau.privacy.retention import apply_retention
from bureau.staff.models import Role
from tests.test_privacy import (
    ADDRESS,
    ADMIN,
    EMAIL,
    NAME,
    ORGANIZATION,
    admin,
    erase,
    mine,
    snapshot,
    where_stored,
)
from tests.workflow_helpers import offer_terms, staff_member, submit_and_route

STAFF = Actor("staff", "Greater China desk")
BILLING = "12 Vanderbrook Lane\n10115 Berlin\nGermany"
TAX = "DE999888777"
IP = "198.51.100.23"
AGENT = "OttilieBrowser/7.1 (Vanderbrook laptop)"
REPLY = "Ottilie here: the stage at Vanderbrook House is fine.\nWe expect 300 guests."
ASSISTANT = "assistant@vanderbrook-office.example"
ASSISTANT_TEXT = "Sending the hotel list for Ms Vanderbrook's guest speaker."
UNMATCHED_SUBJECT = "Ottilie's question about next year"
STRANGER = "wang.wei@example.org"
STRANGER_SUBJECT = "A question from someone else entirely"
ELSEWHERE = "Ottilie writing: Wang's forum clashes with ours, sorry"
# What erasure must leave nowhere but on the invoices.
PERSONAL = [NAME, ADDRESS, ORGANIZATION, "12 Vanderbrook Lane", TAX, IP, AGENT]
BOUNCE = "550 5.1.1 <ottilie.vanderbrook@example.com>: Ottilie Vanderbrook moved away"
WRITTEN = [
    REPLY.splitlines()[0],
    ASSISTANT,
    ASSISTANT_TEXT,
    UNMATCHED_SUBJECT,
    ELSEWHERE,
    "moved away",
]
SPEAKER_ADDRESS = "kaiser-kuo@speakers.bureau.localhost"


def files_folder(message_id: int) -> Path:
    """A received email's files in the instance folder (the default store)."""
    instance: Path = current_app.config["BUREAU_SETTINGS"].instance_path
    return instance / attachment_folder(message_id)


def email(sender: str, subject: str, text: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "bookings@bureau.localhost"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.com")
    message.set_content(text)
    return bytes(message)


def receive(session: AnySession, sender: str, subject: str, text: str = "Hello") -> int:
    """Received and read by its job, as the worker does; the message's id."""
    message = receive_raw(session, email(sender, subject, text), source="pipe")
    assert message is not None
    session.commit()
    job = session.scalars(
        select(Job).where(Job.task == PROCESS_TASK, Job.state == JobState.PENDING)
    ).one()
    run_job(session, job.id, process)
    return message.id


@pytest.fixture
def paper(app: Flask) -> dict[str, Any]:
    """Ottilie's accepted contract and its deposit invoice, her reply and her assistant's
    email on the request, one of hers in the Inbox, one of hers on another's request, and a
    stranger's email."""
    staff_member(app, ADMIN, role=Role.ADMIN)
    booking_id = submit_and_route(app, **mine()).id
    other = submit_and_route(app, contact_email=STRANGER)
    with app.test_request_context():
        session = db.session
        booking = session.get(BookingRequest, booking_id)
        offer = actions.record_offer(
            session, booking, offer_terms(), actor=STAFF, expected_version=None
        )
        actions.request_availability(session, booking, actor=STAFF, expected_version=None)
        actions.speaker_answer(session, booking, offer, accept=True, reason=None)
        actions.record_contract(
            session,
            booking,
            actions.ContractTerms(
                12500, "USD", Decimal(20), 6000, utcnow().date() + timedelta(days=14), None
            ),
            actor=STAFF,
            expected_version=None,
        )
        version = contracts.issue_version(session, booking, actor=STAFF)
        contracts.accept(
            session,
            version,
            booking,
            full_name=NAME,
            on_behalf=True,
            sha256=version.sha256,
            client_address=IP,
            user_agent=AGENT,
            billing_address=BILLING,
            tax_number=TAX,
        )
        today = utcnow().date()
        invoice = issue_invoice(
            session,
            booking,
            "deposit",
            net="6000",
            tax_rate_pct="19",
            issuer=Party("Speaker Bureau GmbH", "1 Bureau Street, Berlin", "DE111222333"),
            issued_on=today,
            due_on=today + timedelta(days=14),
            client=Party(ORGANIZATION, BILLING, TAX),
        )
        session.commit()
        made: dict[str, Any] = {
            "booking": booking_id,
            "reference": booking.reference,
            "html": version.html,
            "sha256": version.sha256,
            "accepted_at": version.acceptance.accepted_at,
            "invoice": invoice.number,
        }
        made["reply"] = receive(session, EMAIL, f"Re: {booking.reference}", REPLY)
        made["assistant"] = receive(
            session, ASSISTANT, f"Hotels for {booking.reference}", ASSISTANT_TEXT
        )
        made["unmatched"] = receive(session, EMAIL.upper(), UNMATCHED_SUBJECT)
        made["stranger"] = receive(session, STRANGER, STRANGER_SUBJECT)
        made["elsewhere"] = receive(session, EMAIL, f"Re: {other.reference}", ELSEWHERE)
        made["other"], made["other_reference"] = other.id, other.reference
        statuses = dict(session.execute(select(InboundMessage.id, InboundMessage.status)).all())
    assert statuses[made["reply"]] == statuses[made["assistant"]] == InboundStatus.MATCHED
    assert statuses[made["elsewhere"]] == InboundStatus.MATCHED
    assert statuses[made["unmatched"]] == statuses[made["stranger"]] == InboundStatus.UNMATCHED
    with app.app_context():
        _traces(db.session, made)
    return made


def _traces(session: AnySession, made: dict[str, Any]) -> None:
    """What issue 19's inbound mail leaves: a bounce of an email to her, her and the
    speaker's answers to the invitation, files kept of received emails (hers and a
    stranger's)."""
    job = session.scalars(
        select(Job).where(func.lower(Job.recipient) == ADDRESS, Job.booking_id == made["booking"])
    ).first()
    assert job is not None
    session.add(
        Notification(
            job_id=job.id,
            booking_id=made["booking"],
            template="test",
            recipient=job.recipient or "",
            subject=f"Your request {made['reference']}",
            message_id=make_msgid(domain="bureau.localhost"),
            raw_message="Subject: x\r\n\r\nx\r\n",
            bounced_at=utcnow(),
            bounce_reason=BOUNCE,
        )
    )
    booking = session.get(BookingRequest, made["booking"])
    assert booking is not None
    starts = utcnow() + timedelta(days=60)
    engagement = Engagement(
        booking_id=booking.id,
        speaker_id=booking.offers[0].speaker_id,
        uid="privacy-paper@bureau.localhost",
        title="Engagement",
        timezone="Europe/Berlin",
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        location="Berlin",
    )
    session.add(engagement)
    session.flush()
    for address, partstat in ((EMAIL, "ACCEPTED"), (SPEAKER_ADDRESS, "TENTATIVE")):
        session.add(
            CalendarAnswer(
                engagement_id=engagement.id,
                address=address,
                partstat=partstat,
                answered_at=utcnow(),
            )
        )
    session.commit()
    made["engagement"] = engagement.id
    for key in ("reply", "unmatched", "stranger", "assistant"):
        folder = files_folder(made[key])
        folder.mkdir(parents=True, exist_ok=True)  # the instance folder outlives a test
        (folder / "1").write_bytes(b"%PDF-1.4 " + key.encode())


def test_export_holds_the_contract_the_invoices_and_the_received_emails(
    app: Flask, paper: dict[str, Any]
) -> None:
    with app.app_context():
        data = json.loads(export_json(export(db.session, EMAIL)))
    [request] = data["requests"]
    [version] = request["contract_versions"]
    assert version["sha256"] == paper["sha256"]
    assert ORGANIZATION in version["html"]  # the agreement quotes the organizer
    acceptance = version["acceptance"]
    assert (acceptance["full_name"], acceptance["billing_address"]) == (NAME, BILLING)
    assert (acceptance["client_address"], acceptance["user_agent"]) == (IP, AGENT)
    assert acceptance["tax_number"] == TAX
    [invoice] = request["invoices"]
    assert invoice["number"] == paper["invoice"]
    assert (invoice["client_organization"], invoice["client_address"]) == (ORGANIZATION, BILLING)
    assert invoice["client_tax_number"] == TAX
    received = {m["subject"]: m for m in data["received_emails"]}
    assert set(received) == {
        f"Re: {paper['reference']}",
        f"Hotels for {paper['reference']}",
        UNMATCHED_SUBJECT,
        f"Re: {paper['other_reference']}",
    }
    assert REPLY.splitlines()[0] in received[f"Re: {paper['reference']}"]["raw"]
    assert received[f"Hotels for {paper['reference']}"]["request"] == paper["reference"]
    assert received[UNMATCHED_SUBJECT]["request"] is None
    assert received[f"Re: {paper['other_reference']}"]["request"] is None  # not hers
    assert received[f"Re: {paper['reference']}"]["files"] == [
        {"file": "1", "size": len(b"%PDF-1.4 reply")}
    ]
    assert received[f"Re: {paper['other_reference']}"]["files"] == []
    [bounced] = [e for e in data["emails"] if e["bounce_reason"]]
    assert bounced["bounce_reason"] == BOUNCE
    assert bounced["bounced_at"]
    [answer] = data["calendar_answers"]
    assert (answer["request"], answer["address"], answer["partstat"]) == (
        paper["reference"],
        EMAIL,
        "ACCEPTED",
    )
    assert STRANGER not in json.dumps(data)
    assert SPEAKER_ADDRESS not in json.dumps(data)  # the speaker's answer is the speaker's


def test_erasure_clears_the_paper_trail_but_keeps_the_invoices(
    app: Flask, paper: dict[str, Any]
) -> None:
    assert {table for table, _, _ in where_stored(app, PERSONAL + WRITTEN)} >= {
        "contract_versions",
        "contract_acceptances",
        "invoices",
        "inbound_messages",
        "booking_events",
        "notifications",
        "calendar_answers",
    }
    signed_in = admin(app)
    response = erase(signed_in)
    assert response.status_code == 303
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Personal data erased: 1 requests" in page
    # The one in the Inbox and the one on another's request too, by their sender.
    assert "4 received emails" in page
    assert f"Invoices {paper['invoice']} {INVOICES_KEPT}" in page

    # Only the invoice keeps the client, as printed; nothing else holds any of it.
    left = where_stored(app, PERSONAL + WRITTEN)
    assert {(table, column) for table, column, _ in left} <= {
        ("invoices", "client_organization"),
        ("invoices", "client_address"),
        ("invoices", "client_tax_number"),
    }
    assert {needle for _, _, needle in left} == {
        n.lower() for n in (ORGANIZATION, "12 Vanderbrook Lane", TAX)
    }
    with app.app_context():
        invoice = db.session.scalars(select(Invoice)).one()
        assert (invoice.number, invoice.client_address) == (paper["invoice"], BILLING)
        version = db.session.scalars(select(ContractVersion)).one()
        assert version.html == ERASED_HTML
        # The record of what was agreed stays verifiable against a kept copy of the text.
        assert version.sha256 == paper["sha256"] == sha256_of(paper["html"])
        acceptance = db.session.scalars(select(Acceptance)).one()
        assert acceptance.version_sha256 == paper["sha256"]
        assert acceptance.accepted_at == paper["accepted_at"]
        assert (acceptance.full_name, acceptance.tax_number) == ("[erased]", None)
        remaining = db.session.scalars(select(InboundMessage)).all()
        assert [(m.sender, m.subject) for m in remaining] == [(STRANGER, STRANGER_SUBJECT)]
        # The files of the deleted emails are gone from disk; the stranger's stay.
        for key in ("reply", "unmatched", "assistant"):
            assert not files_folder(paper[key]).exists()
        assert (files_folder(paper["stranger"]) / "1").is_file()
        answers = db.session.execute(select(CalendarAnswer.address, CalendarAnswer.partstat))
        assert answers.all() == [(SPEAKER_ADDRESS, "TENTATIVE")]
        bounced = db.session.scalars(
            select(Notification).where(Notification.bounced_at.is_not(None))
        ).one()
        assert bounced.bounce_reason == "[erased]"
        events = db.session.scalars(
            select(BookingEvent)
            .where(BookingEvent.booking_id == paper["booking"])
            .order_by(BookingEvent.id)
        ).all()
        replies = [e for e in events if e.action == REPLY_RECEIVED]
        assert len(replies) == 2
        assert all(e.details["text"] == e.details["from"] == "[erased]" for e in replies)
        assert [e.public_message for e in replies] == ["Your email: [erased]", None]
        # Her email on another's request: the entry stays, as a stranger's, without her.
        [elsewhere] = db.session.scalars(
            select(BookingEvent).where(
                BookingEvent.booking_id == paper["other"], BookingEvent.action == REPLY_RECEIVED
            )
        ).all()
        assert elsewhere.actor_label == "[erased] (not on the request)"
        assert elsewhere.details["text"] == elsewhere.details["subject"] == "[erased]"
        last = events[-1]
        assert last.action == "personal data erased"
        assert last.details["invoices_kept"] == [paper["invoice"]]
        assert last.details["received_emails"] == 2
        assert last.details["acceptances"] == 1


def test_retention_deletes_received_emails_older_than_the_period(
    app: Flask, paper: dict[str, Any], tmp_path: Path
) -> None:
    old = utcnow() - timedelta(days=731)
    with app.app_context():
        waiting = receive_raw(db.session, email(STRANGER, "Still queued", "x"), source="pipe")
        assert waiting is not None
        db.session.flush()
        aged = [paper["reply"], paper["unmatched"], paper["stranger"], waiting.id]
        db.session.execute(
            update(InboundMessage).where(InboundMessage.id.in_(aged)).values(received_at=old)
        )
        db.session.execute(
            update(InboundMessage)
            .where(InboundMessage.id == paper["stranger"])
            .values(status=InboundStatus.DISCARDED)
        )
        db.session.commit()
    before = snapshot(app)
    dry = app.test_cli_runner().invoke(cli, ["privacy", "retention", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would delete 3 received emails older than the period." in dry.output
    assert snapshot(app) == before
    with app.app_context():
        done = apply_retention(db.session, days=730, mail_folder=tmp_path)
        assert done.received == 3
        kept = set(db.session.scalars(select(InboundMessage.id)))
        # Fresh, or still waiting for its job: kept.
        assert kept == {paper["assistant"], paper["elsewhere"], waiting.id}
        # The aged emails' files went with them.
        for key in ("reply", "unmatched", "stranger"):
            assert not files_folder(paper[key]).exists()
        assert (files_folder(paper["assistant"]) / "1").is_file()
        # The reply's text stays on the request's timeline, which is kept.
        assert db.session.scalar(
            select(BookingEvent.id).where(
                BookingEvent.booking_id == paper["booking"],
                BookingEvent.action == REPLY_RECEIVED,
                BookingEvent.public_message.is_not(None),
            )
        )
        assert apply_retention(db.session, days=730, mail_folder=tmp_path).received == 0
