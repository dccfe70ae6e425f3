"""Invoices and payments through the product: the staff request page's Invoices panel, the
organizer's status page and its private links, the emails, and beat's reminders."""

from __future__ import annotations

import re
import subprocess
from datetime import date, timedelta
from email import message_from_string
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bureau.billing.models import Invoice, InvoiceKind, Payment
from bureau.billing.reminders import reminder_due, send_invoice_reminders
from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.db import utcnow
from bureau.extensions import db
from bureau.mail.recipients import MAIL_TASK
from bureau.mail.tasks import compose_notification
from bureau.outbox import Job
from bureau.staff.models import Role
from tests.test_billing import contracted, issue
from tests.workflow_helpers import csrf_from, post_form, sign_in, staff_member

ADMIN = "management@bureau.localhost"
AGENT = "billing.desk@bureau.localhost"


def signed_in(app: Flask, email: str, role: str = Role.AGENT) -> FlaskClient:
    staff_member(app, email, role=role)
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    return signed_in(app, ADMIN, Role.ADMIN)


@pytest.fixture
def booking_id(app: Flask) -> int:
    return contracted(app)


def page_of(booking_id: int) -> str:
    return f"/staff/requests/{booking_id}"


def step(client: FlaskClient, booking_id: int, name: str, **data: Any) -> Any:
    page = page_of(booking_id)
    return post_form(client, f"{page}/{name}", page, data)


def invoices(app: Flask, booking_id: int) -> list[dict[str, Any]]:
    with app.app_context():
        return [
            {
                "id": i.id,
                "number": i.number,
                "kind": i.kind,
                "total": i.total,
                "paid": i.paid,
                "void": i.voided_at is not None,
            }
            for i in db.session.scalars(
                select(Invoice).where(Invoice.booking_id == booking_id).order_by(Invoice.id)
            )
        ]


def counts(app: Flask, booking_id: int) -> dict[str, int]:
    """What a refused step must leave as it was."""
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None

        def count(model: Any, *where: Any) -> int:
            return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0

        return {
            "version": booking.version,
            "invoices": count(Invoice, Invoice.booking_id == booking_id),
            "payments": count(Payment),
            "events": count(BookingEvent, BookingEvent.booking_id == booking_id),
            "jobs": count(Job, Job.booking_id == booking_id),
        }


def invoice_mails(app: Flask, booking_id: int) -> list[tuple[str, str, int]]:
    with app.app_context():
        return sorted(
            (job.kind, job.recipient or "", job.sequence)
            for job in db.session.scalars(
                select(Job).where(
                    Job.booking_id == booking_id,
                    Job.task == MAIL_TASK,
                    Job.kind.like("mail.invoice%"),
                )
            )
        )


def pdf_text(content: bytes, folder: Path) -> str:
    path = folder / "invoice.pdf"
    path.write_bytes(content)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def issue_deposit(client: FlaskClient, booking_id: int, tax_rate: str = "0") -> Any:
    return step(client, booking_id, "invoice_issue", kind="deposit", tax_rate=tax_rate)


def pay(client: FlaskClient, booking_id: int, invoice_id: int, amount: str, **more: str) -> Any:
    fields = {
        "invoice_id": str(invoice_id),
        "amount": amount,
        "currency": "USD",
        "paid_on": utcnow().date().isoformat(),
        "method": "bank_transfer",
        "reference": "SWIFT 42",
        **more,
    }
    return step(client, booking_id, "invoice_payment", **fields)


# --- staff ---------------------------------------------------------------------------------


def test_staff_issue_pay_partly_pay_the_rest(
    app: Flask, admin: FlaskClient, booking_id: int
) -> None:
    page = admin.get(page_of(booking_id)).get_data(as_text=True)
    assert 'id="issue-invoice"' in page
    response = issue_deposit(admin, booking_id, tax_rate="10")
    assert response.status_code == 303, response.get_data(as_text=True)
    [invoice] = invoices(app, booking_id)
    assert invoice["kind"] == InvoiceKind.DEPOSIT
    assert str(invoice["total"]) == "6875.00"  # 6,250 and 10 % tax
    page = admin.get(page_of(booking_id)).get_data(as_text=True)
    assert "Deposit invoice" in page
    assert invoice["number"] in page
    assert "issued for USD 6,875.00" in page
    assert 'data-status="open"' in page
    assert f"/staff/requests/{booking_id}/invoices/{invoice['id']}.pdf" in page
    assert "Invoice issued" in page  # the timeline

    assert pay(admin, booking_id, invoice["id"], "1000.00").status_code == 303
    page = admin.get(page_of(booking_id)).get_data(as_text=True)
    assert 'data-status="partly paid"' in page
    assert "USD 5,875.00 still due" in page
    assert "Payment recorded" in page

    # More than is still due: refused, said, and nothing changes.
    before = counts(app, booking_id)
    response = pay(admin, booking_id, invoice["id"], "5875.01")
    assert response.status_code == 422
    assert "is more than the USD 5,875.00 still due" in response.get_data(as_text=True)
    assert counts(app, booking_id) == before

    assert pay(admin, booking_id, invoice["id"], "5875.00").status_code == 303
    [invoice] = invoices(app, booking_id)
    assert invoice["paid"] == invoice["total"]
    page = admin.get(page_of(booking_id)).get_data(as_text=True)
    assert 'data-status="paid"' in page
    assert f'id="pay-{invoice["id"]}"' not in page  # nothing left to pay
    assert f'id="void-{invoice["id"]}"' not in page  # paid: a credit note, not a void


def test_refusals_are_said_and_change_nothing(
    app: Flask, admin: FlaskClient, booking_id: int
) -> None:
    assert issue_deposit(admin, booking_id).status_code == 303
    [invoice] = invoices(app, booking_id)
    for data, says in (
        ({"kind": "deposit", "tax_rate": "0"}, "already has a deposit invoice"),
        ({"kind": "balance", "tax_rate": "101"}, "between 0 and 100 %"),
    ):
        before = counts(app, booking_id)
        response = step(admin, booking_id, "invoice_issue", **data)
        assert response.status_code == 422
        assert says in response.get_data(as_text=True)
        assert counts(app, booking_id) == before
    for amount, more, says in (
        ("0", {}, "must be above zero"),
        ("10.005", {}, "too many decimals"),
        ("10", {"currency": "EUR"}, "a payment in EUR cannot be recorded"),
    ):
        before = counts(app, booking_id)
        response = pay(admin, booking_id, invoice["id"], amount, **more)
        assert response.status_code == 422
        assert says in response.get_data(as_text=True)
        assert counts(app, booking_id) == before
    # Another request's invoice cannot be paid or voided from this one's page.
    other_id = contracted(app)
    before = counts(app, other_id)
    response = pay(admin, other_id, invoice["id"], "10")
    assert response.status_code == 422
    assert "Nothing was changed" in response.get_data(as_text=True)
    assert counts(app, other_id) == before
    assert admin.get(f"/staff/requests/{other_id}/invoices/{invoice['id']}").status_code == 404


def test_void_with_a_reason_then_issue_again(
    app: Flask, admin: FlaskClient, booking_id: int
) -> None:
    assert issue_deposit(admin, booking_id).status_code == 303
    [first] = invoices(app, booking_id)
    before = counts(app, booking_id)
    response = step(admin, booking_id, "invoice_void", invoice_id=str(first["id"]), reason="")
    assert response.status_code == 422
    assert counts(app, booking_id) == before
    response = step(
        admin, booking_id, "invoice_void", invoice_id=str(first["id"]), reason="Wrong address"
    )
    assert response.status_code == 303
    page = admin.get(page_of(booking_id)).get_data(as_text=True)
    assert 'data-status="void"' in page
    assert "Wrong address" in page
    assert "Invoice voided" in page
    assert issue_deposit(admin, booking_id).status_code == 303
    assert [i["void"] for i in invoices(app, booking_id)] == [True, False]


def test_the_invoice_page_and_pdf_for_staff(
    app: Flask, admin: FlaskClient, booking_id: int, tmp_path: Path
) -> None:
    issue_deposit(admin, booking_id)
    [invoice] = invoices(app, booking_id)
    base = f"/staff/requests/{booking_id}/invoices/{invoice['id']}"
    html = admin.get(base)
    assert html.status_code == 200
    assert invoice["number"] in html.get_data(as_text=True)
    pdf = admin.get(base + ".pdf")
    assert pdf.mimetype == "application/pdf"
    assert "no-store" in pdf.headers["Cache-Control"]
    assert invoice["number"] in pdf_text(pdf.data, tmp_path)


def test_an_agent_not_assigned_cannot_issue(app: Flask, booking_id: int) -> None:
    client = signed_in(app, AGENT)
    page = client.get(page_of(booking_id)).get_data(as_text=True)
    assert 'id="issue-invoice"' not in page
    assert "Invoices" not in page  # nothing issued yet, and not theirs to issue
    before = counts(app, booking_id)
    response = client.post(
        f"{page_of(booking_id)}/invoice_issue",
        data={
            "csrf_token": csrf_from(client.get("/staff/login").get_data(as_text=True)),
            "kind": "deposit",
            "tax_rate": "0",
            "version": str(before["version"]),
        },
    )
    assert response.status_code == 403
    assert counts(app, booking_id) == before


# --- the organizer ----------------------------------------------------------------------


def token_of(app: Flask, booking_id: int) -> str:
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        return booking.tracking_token


def test_the_organizer_sees_and_downloads_the_pdf(
    app: Flask, admin: FlaskClient, booking_id: int, tmp_path: Path
) -> None:
    issue_deposit(admin, booking_id, tax_rate="20")
    [invoice] = invoices(app, booking_id)
    organizer = app.test_client()
    token = token_of(app, booking_id)
    status = organizer.get(f"/requests/{token}").get_data(as_text=True)
    assert invoice["number"] in status
    assert "USD 7,500.00" in status
    pdf_path = f"/requests/{token}/invoices/{invoice['number']}.pdf"
    assert pdf_path in status
    response = organizer.get(pdf_path)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = pdf_text(response.data, tmp_path)
    for words in (invoice["number"], "上海零售协会", "USD 6,250.00", "USD 7,500.00", "open"):
        assert words in text, words
    page = organizer.get(f"/requests/{token}/invoices/{invoice['number']}")
    assert page.status_code == 200
    assert "Deposit invoice" in page.get_data(as_text=True)
    api = organizer.get(f"/api/v1/requests/{token}")
    assert api.get_json()["invoices"][0]["number"] == invoice["number"]  # the JSON too


def test_another_organizers_link_cannot_reach_it(
    app: Flask, admin: FlaskClient, booking_id: int
) -> None:
    issue_deposit(admin, booking_id)
    [invoice] = invoices(app, booking_id)
    other = token_of(app, contracted(app))
    client = app.test_client()
    for suffix in ("", ".pdf"):
        assert (
            client.get(f"/requests/{other}/invoices/{invoice['number']}{suffix}").status_code == 404
        )
        assert (
            client.get(f"/requests/{'0' * 32}/invoices/{invoice['number']}{suffix}").status_code
            == 404
        )
    assert invoice["number"] not in client.get(f"/requests/{other}").get_data(as_text=True)


# --- email ----------------------------------------------------------------------------------


def test_issuing_emails_the_pdf_once(
    app: Flask, admin: FlaskClient, booking_id: int, tmp_path: Path
) -> None:
    issue_deposit(admin, booking_id)
    [invoice] = invoices(app, booking_id)
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        email = booking.contact_email
    assert invoice_mails(app, booking_id) == [("mail.invoice_issued", email, invoice["id"])]
    with app.app_context():
        job = db.session.scalars(select(Job).where(Job.kind == "mail.invoice_issued")).one()
        raw = compose_notification(db.session, job).raw_message
    message = message_from_string(raw, _class=EmailMessage, policy=default)
    assert invoice["number"] in str(message["Subject"])
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{invoice['number']}.pdf"
    assert invoice["number"] in pdf_text(attachment.get_content(), tmp_path)
    body = message.get_body(("plain",))
    assert body is not None
    assert f"/requests/{token_of(app, booking_id)}" in body.get_content()
    # Paying and voiding send nothing more; a rejected second issue neither.
    pay(admin, booking_id, invoice["id"], "100")
    issue_deposit(admin, booking_id)
    assert len(invoice_mails(app, booking_id)) == 1


# --- reminders ----------------------------------------------------------------------------


def test_reminder_schedule() -> None:
    due = date(2027, 5, 20)
    invoice = Invoice(issued_on=due - timedelta(days=14), due_on=due)
    expected = {
        -4: None,
        -3: "invoice_due_soon",
        0: "invoice_due_soon",
        1: "invoice_overdue_1d",
        6: "invoice_overdue_1d",
        7: "invoice_overdue_7d",
        40: "invoice_overdue_7d",
    }
    for days, template in expected.items():
        assert reminder_due(invoice, due + timedelta(days=days)) == template, days
    # Issued with less than three days to go: no reminder before the due day.
    late = Invoice(issued_on=due - timedelta(days=1), due_on=due)
    assert reminder_due(late, due - timedelta(days=1)) is None


def test_reminders_go_once_each_to_the_organizer_and_the_assignee(
    app: Flask, booking_id: int
) -> None:
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        assert booking.assigned_staff is not None
        organizer, agent = booking.contact_email, booking.assigned_staff.email
        issued = date(2027, 5, 1)
        invoice = issue(booking, net="100", issued_on=issued, due_on=issued + timedelta(days=14))
        db.session.commit()
        due, invoice_id = invoice.due_on, invoice.id
        sent = [
            send_invoice_reminders(db.session, today)
            for today in (
                due - timedelta(days=5),  # nothing yet
                due - timedelta(days=3),
                due - timedelta(days=2),  # already sent
                due + timedelta(days=1),
                due + timedelta(days=1),
                due + timedelta(days=7),
                due + timedelta(days=8),
            )
        ]
    assert sent == [0, 2, 0, 2, 0, 2, 0]
    assert invoice_mails(app, booking_id) == sorted(
        (f"mail.{template}", who, invoice_id)
        for template in ("invoice_due_soon", "invoice_overdue_1d", "invoice_overdue_7d")
        for who in (organizer, agent)
    )
    with app.app_context():
        jobs = db.session.scalars(select(Job).where(Job.kind.like("mail.invoice_overdue%")))
        subjects = [compose_notification(db.session, job).subject for job in jobs]
    assert all(re.search(r"INV-\d{4}-\d{5}", s) for s in subjects), subjects


def test_paid_and_void_invoices_are_not_reminded(app: Flask, booking_id: int) -> None:
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        issued = date(2027, 5, 1)
        for kind in ("deposit", "balance"):
            invoice = issue(booking, kind, issued_on=issued, due_on=issued + timedelta(days=14))
            if kind == "deposit":
                invoice.voided_at, invoice.void_reason = utcnow(), "wrong"
            else:
                db.session.add(
                    Payment(
                        invoice=invoice,
                        amount_minor=invoice.total_minor,
                        currency="USD",
                        paid_on=issued,
                        method="cash",
                    )
                )
        db.session.commit()
        assert send_invoice_reminders(db.session, issued + timedelta(days=20)) == 0
    assert invoice_mails(app, booking_id) == []
