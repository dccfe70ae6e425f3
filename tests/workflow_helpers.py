"""Helpers for driving the booking workflow in tests: staff sign-in, forms, routing."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bureau.billing.services import record_payment
from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.tasks import route_new_booking
from bureau.bookings.validation import OfferTerms, validate_offer
from bureau.bookings.workflow import SYSTEM, Actor
from bureau.contracts.flow import Signer, accept
from bureau.contracts.services import issue_version
from bureau.extensions import db
from bureau.mail.recipients import MAIL_TASK
from bureau.outbox import Job, run_job
from bureau.staff.auth import forget_failures, set_password
from bureau.staff.models import Role, StaffMember
from tests.conftest import NEXT_YEAR, valid_request

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def csrf_from(page: str) -> str:
    found = CSRF.search(page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def staff_member(app: Flask, email: str, *, name: str = "", role: str = Role.AGENT) -> int:
    """The staff member with this email (created if missing), with the test password."""
    with app.app_context():
        member = db.session.scalars(
            select(StaffMember).where(StaffMember.email == email)
        ).one_or_none()
        if member is None:
            member = StaffMember(email=email, name=name or email.split("@")[0], role=role)
            db.session.add(member)
        member.role = role
        forget_failures(db.session, email)
        set_password(member, PASSWORD)
        db.session.commit()
        return member.id


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    token = csrf_from(client.get("/staff/login").get_data(as_text=True))
    return client.post(
        "/staff/login", data={"email": email, "password": password, "csrf_token": token}
    )


def submit_and_route(app: Flask, *, accept_language: str = "en", **changes: Any) -> BookingRequest:
    """A request through the API (the caller's ``accept_language`` is the language it is
    filed in), routed here (no worker); returns the booking."""
    with app.app_context():  # its own session, whatever context the caller is in
        response = app.test_client().post(
            "/api/v1/requests",
            json=valid_request(**changes),
            headers={"Accept-Language": accept_language},
        )
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        booking = db.session.scalars(
            select(BookingRequest).where(
                BookingRequest.reference == response.get_json()["reference"]
            )
        ).one()
        job = db.session.scalars(
            select(Job).where(Job.booking_id == booking.id, Job.kind == "route")
        ).one()
        run_job(db.session, job.id, route_new_booking)
        booking = db.session.get(BookingRequest, booking.id)
        db.session.expunge(booking)
        return booking


def reload(app: Flask, booking_id: int) -> BookingRequest:
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        _ = (booking.events, booking.offers, booking.shortlist, booking.contract)
        db.session.expunge_all()
        return booking


def mail_kinds(app: Flask, booking_id: int) -> list[tuple[str, str]]:
    with app.app_context():
        return sorted(
            (job.kind, job.recipient or "")
            for job in db.session.scalars(
                select(Job).where(Job.booking_id == booking_id, Job.task == MAIL_TASK)
            )
        )


def post_form(client: FlaskClient, path: str, page_path: str, data: dict[str, Any]) -> Any:
    """POST a form with the CSRF token and current version scraped from the page it is on."""
    page = client.get(page_path).get_data(as_text=True)
    version = re.search(r'name="version"(?: type="hidden")? value="(\d+)"', page)
    fields = {"csrf_token": csrf_from(page), **data}
    if version and "version" not in data:
        fields["version"] = version.group(1)
    return client.post(path, data=fields)


def offer_data(**changes: Any) -> dict[str, Any]:
    """A firm offer as the form sends it: Kaiser Kuo, next March, in Shanghai."""
    data: dict[str, Any] = {
        "speaker": "kaiser-kuo",
        "fee": "12500",
        "currency": "USD",
        "format": "keynote",
        "starts_at": f"{NEXT_YEAR}-03-10T09:00",
        "ends_at": f"{NEXT_YEAR}-03-10T10:00",
        "timezone": "Asia/Shanghai",
        "venue": "Expo Centre",
        "city": "Shanghai",
        "country": "CN",
        "logistics": "Two nights at the venue hotel",
    }
    data.update(changes)
    return data


def offer_terms(**changes: Any) -> OfferTerms:
    terms, errors = validate_offer(offer_data(**changes))
    assert terms is not None, errors
    return terms


# An admin's override of the gate before confirming (no accepted contract, no deposit), for
# tests about what confirming itself does.
OVERRIDE: dict[str, Any] = {"override_reason": "Tested without a contract", "actor_is_admin": True}


def accept_and_pay(session: Any, booking: BookingRequest) -> None:
    """The gate before confirming, opened: a contract version sent and accepted by the
    organizer, its deposit invoice paid in full (in ``session``; the caller commits)."""
    version = issue_version(session, booking, actor=SYSTEM)
    signer = Signer(
        full_name=booking.contact_name,
        organization=booking.organization,
        on_behalf=True,
        billing_address="1 Example Road\nShanghai",
        tax_number=None,
        sha256=version.sha256,
        client_address="192.0.2.1",
        user_agent="pytest",
    )
    _, invoice = accept(session, version, booking, signer)
    if invoice is not None:
        record_payment(
            session,
            invoice,
            amount=invoice.total,
            currency=invoice.currency,
            paid_on=invoice.issued_on,
            method="bank_transfer",
        )


def accept_and_pay_in(app: Flask, booking_id: int) -> None:
    """``accept_and_pay`` for a booking by id, committed in its own app context."""
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        accept_and_pay(db.session, booking)
        db.session.commit()


def contracted_booking(app: Flask, *, travel: str | None = None, **changes: Any) -> BookingRequest:
    """A request (``changes`` to the API's fields) whose speaker said yes and whose terms are
    recorded: USD 12,500, deposit 6,000 due 10 January next year. In the caller's app
    context, committed."""
    booking = db.session.get(BookingRequest, submit_and_route(app, **changes).id)
    assert booking is not None
    desk = Actor("staff", "Greater China desk")
    offer = actions.record_offer(
        db.session, booking, offer_terms(), actor=desk, expected_version=None
    )
    actions.request_availability(db.session, booking, actor=desk, expected_version=None)
    actions.speaker_answer(db.session, booking, offer, accept=True, reason=None)
    terms = actions.ContractTerms(12500, "USD", Decimal(20), 6000, date(NEXT_YEAR, 1, 10), travel)
    actions.record_contract(db.session, booking, terms, actor=desk, expected_version=None)
    db.session.commit()
    return booking
