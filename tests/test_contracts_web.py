"""The contract through the pages: staff send it, the organizer accepts it on the status page
(the deposit invoice issued with it), staff countersign, both sides get the PDF by email once;
confirming waits for the paid deposit unless an admin overrides with a reason. Declines,
second acceptances and voided versions are refused and change nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from email import message_from_string
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from bureau.billing.models import Invoice, InvoiceKind
from bureau.billing.services import record_payment
from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.states import Status
from bureau.bookings.workflow import Actor
from bureau.contracts import flow
from bureau.contracts.models import Acceptance, AgreementTemplate, ContractVersion
from bureau.extensions import db
from bureau.i18n import COOKIE
from bureau.mail.models import Notification
from bureau.mail.recipients import MAIL_TASK
from bureau.mail.tasks import send_notification
from bureau.outbox import Job, run_job
from bureau.staff.models import Role
from tests.workflow_helpers import (
    contracted_booking,
    csrf_from,
    post_form,
    reload,
    sign_in,
    staff_member,
)

STAFF = Actor("staff", "Greater China desk")
ADMIN = "contracts.admin@bureau.localhost"
ORGANIZATION = "Acme <Events> & Co"  # escaped wherever it is shown


@pytest.fixture
def booking(app: Flask) -> Iterator[BookingRequest]:
    """Contracted: USD 12,500, deposit 6,000 (Shanghai, 10 March next year)."""
    with app.app_context():
        found = contracted_booking(app, organization=ORGANIZATION)
        db.session.commit()
        db.session.expunge(found)
    yield found
    with app.app_context():
        db.session.execute(delete(AgreementTemplate))
        db.session.commit()


def _client(app: Flask, email: str, role: str = Role.AGENT) -> FlaskClient:
    staff_member(app, email, role=role)
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


@pytest.fixture
def agent(app: Flask, booking: BookingRequest) -> FlaskClient:
    """The agent the request is assigned to."""
    return _client(app, assignee_email(app, booking))


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    return _client(app, ADMIN, Role.ADMIN)


def assignee_email(app: Flask, booking: BookingRequest) -> str:
    with app.app_context():
        found = db.session.get(BookingRequest, booking.id)
        assert found is not None
        assert found.assigned_staff is not None
        return found.assigned_staff.email


def page_of(booking: BookingRequest) -> str:
    return f"/staff/requests/{booking.id}"


def status_of(booking: BookingRequest) -> str:
    return f"/requests/{booking.tracking_token}"


def send_contract(client: FlaskClient, booking: BookingRequest) -> Any:
    page = page_of(booking)
    return post_form(client, f"{page}/send_contract", page, {})


def answer(
    app: Flask, booking: BookingRequest, step: str, *, number: int | str = 1, **data: str
) -> tuple[Any, FlaskClient]:
    organizer = app.test_client()
    page = organizer.get(status_of(booking)).get_data(as_text=True)
    fields = {"csrf_token": csrf_from(page), **data}
    if step == "accept":
        sha = re.search(r'name="sha256" type="hidden" value="([0-9a-f]{64})"', page)
        fields.setdefault("sha256", sha.group(1) if sha else "")
    path = f"{status_of(booking)}/contract/{number}/{step}"
    return organizer.post(path, data=fields, headers={"User-Agent": "Browser/1.0"}), organizer


ACCEPTANCE = {
    "full_name": "Li Na",
    "organization": ORGANIZATION,
    "on_behalf": "y",
    "billing_address": "1 Century Avenue\nShanghai",
    "tax_number": "CN-123",
}


def count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def timeline_actions(app: Flask, booking: BookingRequest) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(BookingEvent.action)
                .where(BookingEvent.booking_id == booking.id)
                .order_by(BookingEvent.id)
            )
        )


def run_mail(app: Flask) -> list[EmailMessage]:
    with app.app_context():
        for job_id in db.session.scalars(
            select(Job.id).where(Job.task == MAIL_TASK, Job.state == "pending")
        ).all():
            run_job(db.session, job_id, send_notification)
        return [
            message_from_string(n.raw_message, _class=EmailMessage, policy=default)
            for n in db.session.scalars(select(Notification).order_by(Notification.id))
        ]


def pdfs(message: EmailMessage) -> list[str]:
    return [
        part.get_filename() or ""
        for part in message.iter_attachments()
        if part.get_content_type() == "application/pdf"
    ]


def test_send_accept_countersign_pay_confirm(
    app: Flask, booking: BookingRequest, agent: FlaskClient, admin: FlaskClient
) -> None:
    # Staff send the contract; sending the same terms again sends nothing.
    assert send_contract(agent, booking).status_code == 303
    again = send_contract(agent, booking)
    assert again.status_code == 303
    assert "was not sent again" in agent.get(page_of(booking)).get_data(as_text=True)
    assert count(app, Job, Job.kind == "mail.contract_sent") == 1

    # The organizer sees it, their organization escaped, and accepts it.
    status = app.test_client().get(status_of(booking)).get_data(as_text=True)
    assert 'id="agreement-text"' in status
    assert "Acme &lt;Events&gt; &amp; Co" in status
    assert "<Events>" not in status
    response, organizer = answer(app, booking, "accept", **ACCEPTANCE)
    assert response.status_code == 303
    shown = organizer.get(status_of(booking)).get_data(as_text=True)
    assert "you accepted contract version 1" in shown
    assert "☑ Contract accepted by Li Na" in shown
    assert "☐ Deposit paid (invoice INV-" in shown
    with app.app_context():
        acceptance = db.session.scalars(select(Acceptance)).one()
        assert acceptance.full_name == "Li Na"
        assert acceptance.user_agent == "Browser/1.0"
        assert acceptance.client_address == "127.0.0.1"
        assert acceptance.tax_number == "CN-123"
        deposit = db.session.scalars(select(Invoice).where(Invoice.booking_id == booking.id)).one()
        assert deposit.kind == InvoiceKind.DEPOSIT
        assert deposit.net == Decimal("6000.00")
        assert deposit.client_organization == ORGANIZATION
        assert deposit.client_address == "1 Century Avenue\nShanghai"
        assert deposit.client_tax_number == "CN-123"

    # Confirming is refused until the deposit is paid; an agent cannot override.
    page = page_of(booking)
    refused = post_form(agent, f"{page}/confirm", page, {})
    assert refused.status_code == 422
    assert "the deposit is not paid" in refused.get_data(as_text=True)
    refused = post_form(agent, f"{page}/confirm", page, {"override_reason": "trust them"})
    assert refused.status_code == 422
    assert "Only an admin can confirm" in refused.get_data(as_text=True)
    assert reload(app, booking.id).status == Status.CONTRACTED

    # Staff countersign: the final PDF to the organizer and the assignee, once.
    assert post_form(agent, f"{page}/countersign", page, {"number": "1"}).status_code == 303
    twice = post_form(agent, f"{page}/countersign", page, {"number": "1"})
    assert "already countersigned" in twice.get_data(as_text=True)
    messages = run_mail(app)
    sent = [m for m in messages if "please read and accept" in m["Subject"]]
    final = [m for m in messages if m["Subject"].startswith("Countersigned contract")]
    assert len(sent) == 1
    assert pdfs(sent[0]) == [f"{booking.reference}-contract-v1.pdf"]
    assert sorted(m["To"].addresses[0].addr_spec for m in final) == sorted(
        [booking.contact_email, assignee_email(app, booking)]
    )
    assert all(pdfs(m) == [f"{booking.reference}-contract-v1.pdf"] for m in final)
    assert booking.tracking_token in sent[0].get_body(("plain",)).get_content()

    # The deposit paid: the agent confirms.
    with app.app_context():
        invoice = db.session.scalars(select(Invoice)).one()
        record_payment(
            db.session,
            invoice,
            amount=invoice.total,
            currency="USD",
            paid_on=invoice.issued_on,
            method="bank_transfer",
        )
        db.session.commit()
    gate = agent.get(page).get_data(as_text=True)
    assert "☑ Contract accepted" in gate
    assert "☑ Deposit paid" in gate
    assert post_form(agent, f"{page}/confirm", page, {}).status_code == 303
    assert reload(app, booking.id).status == Status.CONFIRMED
    assert {
        "contract sent",
        "contract accepted",
        "contract countersigned",
        "confirmed",
    } <= set(timeline_actions(app, booking))


def test_an_admin_confirms_without_them_giving_a_reason(
    app: Flask, booking: BookingRequest, admin: FlaskClient
) -> None:
    page = page_of(booking)
    refused = post_form(admin, f"{page}/confirm", page, {})
    assert "has not accepted the contract" in refused.get_data(as_text=True)
    assert 'id="confirm-override"' in refused.get_data(as_text=True)
    done = post_form(admin, f"{page}/confirm", page, {"override_reason": "Signed on paper"})
    assert done.status_code == 303
    assert reload(app, booking.id).status == Status.CONFIRMED
    with app.app_context():
        entry = db.session.scalars(
            select(BookingEvent).where(
                BookingEvent.booking_id == booking.id, BookingEvent.action == "confirmed"
            )
        ).one()
        assert entry.details["override"] == "Signed on paper"
        assert "not accepted the contract" in entry.details["refused"]
    assert "Confirmed by an admin: Signed on paper" in admin.get(page).get_data(as_text=True)


def test_a_decline_with_its_reason_and_refusals_that_change_nothing(
    app: Flask, booking: BookingRequest, agent: FlaskClient
) -> None:
    send_contract(agent, booking)
    # No reason: refused, nothing changed.
    response, _organizer = answer(app, booking, "decline", reason="  ")
    assert response.status_code == 422
    assert "Please give a reason for declining" in response.get_data(as_text=True)
    assert count(app, ContractVersion, ContractVersion.status == "sent") == 1
    assert count(app, Job, Job.kind == "mail.contract_declined") == 0
    # Not ticked: refused, what they typed kept on the page.
    unticked = {k: v for k, v in ACCEPTANCE.items() if k != "on_behalf"}
    response, _ = answer(app, booking, "accept", **unticked)
    assert response.status_code == 422
    assert "Please tick the box" in response.get_data(as_text=True)
    assert "1 Century Avenue" in response.get_data(as_text=True)
    assert count(app, Acceptance) == 0
    assert count(app, Invoice) == 0

    response, _ = answer(app, booking, "decline", reason="The fee is over our budget")
    assert response.status_code == 303
    with app.app_context():
        version = db.session.scalars(select(ContractVersion)).one()
        assert version.status == "declined"
        assert version.decline_reason == "The fee is over our budget"
    assert "contract declined" in timeline_actions(app, booking)
    # The assignee is told, with the reason, once; the organizer gets nothing.
    told = [m for m in run_mail(app) if "Contract declined" in m["Subject"]]
    assert [m["To"].addresses[0].addr_spec for m in told] == [assignee_email(app, booking)]
    assert "The fee is over our budget" in told[0].get_body(("plain",)).get_content()
    assert f"/staff/requests/{booking.id}" in told[0].get_body(("plain",)).get_content()
    # A declined version cannot be accepted.
    response, _ = answer(app, booking, "accept", number=1, **ACCEPTANCE)
    assert response.status_code == 422
    assert "was declined" in response.get_data(as_text=True)
    assert count(app, Acceptance) == 0


def test_a_second_acceptance_and_a_voided_version_are_refused(
    app: Flask, booking: BookingRequest, agent: FlaskClient
) -> None:
    send_contract(agent, booking)
    organizer = app.test_client()
    page = organizer.get(status_of(booking)).get_data(as_text=True)
    sha = re.search(r'name="sha256" type="hidden" value="([0-9a-f]{64})"', page)
    assert sha
    fields = {"csrf_token": csrf_from(page), "sha256": sha.group(1), **ACCEPTANCE}
    path = f"{status_of(booking)}/contract/1/accept"
    assert organizer.post(path, data=fields).status_code == 303
    second = organizer.post(path, data=fields)  # the same form again
    assert second.status_code == 422
    assert "already accepted" in second.get_data(as_text=True)
    assert count(app, Acceptance) == 1
    assert count(app, Invoice) == 1

    # Staff void it (a reason is needed); it can no longer be accepted.
    staff_page = page_of(booking)
    no_reason = post_form(agent, f"{staff_page}/void_contract", staff_page, {"number": "1"})
    assert "Say why" in no_reason.get_data(as_text=True)
    voided = post_form(
        agent, f"{staff_page}/void_contract", staff_page, {"number": "1", "reason": "Wrong fee"}
    )
    assert voided.status_code == 303
    assert "contract voided" in timeline_actions(app, booking)
    with app.app_context():
        version = db.session.scalars(select(ContractVersion)).one()
        assert version.status == "void"
    again = organizer.post(path, data=fields)
    assert again.status_code == 422
    assert "replaced by a newer one" in again.get_data(as_text=True)
    assert count(app, Acceptance) == 1


def test_staff_read_the_versions_and_admins_edit_the_template(
    app: Flask, booking: BookingRequest, agent: FlaskClient, admin: FlaskClient
) -> None:
    send_contract(agent, booking)
    page = agent.get(page_of(booking)).get_data(as_text=True)
    assert 'id="contract-versions"' in page
    html = agent.get(f"{page_of(booking)}/contract/1")
    assert html.status_code == 200
    assert booking.reference in html.get_data(as_text=True)
    pdf = agent.get(f"{page_of(booking)}/contract/1.pdf")
    assert pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert agent.get(f"{page_of(booking)}/contract/2").status_code == 404
    organizer_pdf = app.test_client().get(f"{status_of(booking)}/contract/1.pdf")
    assert organizer_pdf.data.startswith(b"%PDF")

    assert agent.get("/staff/agreements").status_code == 403
    editor = admin.get("/staff/agreements").get_data(as_text=True)
    token = csrf_from(editor)
    broken = admin.post(
        "/staff/agreements",
        data={"csrf_token": token, "name": "Ours", "body": "{{ fee", "save": "1"},
    )
    assert broken.status_code == 422
    assert "Nothing was saved" in broken.get_data(as_text=True)
    unknown = admin.post(
        "/staff/agreements",
        data={"csrf_token": token, "name": "Ours", "body": "{{ nonsense }}", "save": "1"},
    )
    assert unknown.status_code == 422
    assert "nonsense" in unknown.get_data(as_text=True)
    assert count(app, AgreementTemplate) == 0
    body = "<h1>Agreement</h1><p>{{ organizer.organization }} pays {{ fee }}.</p>"
    preview = admin.post(
        "/staff/agreements",
        data={"csrf_token": token, "name": "Ours", "body": body, "preview": "1"},
    )
    assert "pays USD" in preview.get_data(as_text=True)
    assert count(app, AgreementTemplate) == 0
    saved = admin.post(
        "/staff/agreements",
        data={"csrf_token": token, "name": "Ours", "body": body, "activate": "y", "save": "1"},
    )
    assert saved.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(AgreementTemplate)).one().active


def test_a_racing_second_acceptance_reads_already_accepted(
    app: Flask, booking: BookingRequest, agent: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two clicks a moment apart: the second's insert fails on the acceptance's unique key."""
    send_contract(agent, booking)

    def lost_the_race(*args: Any, **kwargs: Any) -> Any:
        raise IntegrityError("INSERT INTO contract_acceptances", {}, Exception("UNIQUE"))

    monkeypatch.setattr(flow, "accept", lost_the_race)  # as contract_pages calls it
    response, organizer = answer(app, booking, "accept", **ACCEPTANCE)
    assert response.status_code == 303
    assert "already accepted" in organizer.get(status_of(booking)).get_data(as_text=True)
    assert count(app, Acceptance) == 0


def test_a_chinese_organizer_reads_the_contract_and_its_refusals_in_chinese(
    app: Flask, booking: BookingRequest, agent: FlaskClient
) -> None:
    send_contract(agent, booking)
    organizer = app.test_client()
    organizer.set_cookie(COOKIE, "zh_Hans")
    page = organizer.get(status_of(booking)).get_data(as_text=True)
    assert "您的合同：第 1 版" in page  # noqa: RUF001 - Chinese punctuation
    assert "阅读合同" in page
    assert "我代表 Acme &lt;Events&gt; &amp; Co 同意第 1 版合同" in page
    refused = organizer.post(
        f"{status_of(booking)}/contract/1/decline",
        data={"csrf_token": csrf_from(page), "reason": "  "},
    )
    assert refused.status_code == 422
    assert "合同未被拒绝：请填写拒绝原因。" in refused.get_data(as_text=True)  # noqa: RUF001
    assert count(app, ContractVersion, ContractVersion.status == "sent") == 1
