"""Every page of a site with the demo data: an app with the catalogue, the demo booking
history (every state), an admin and one request with its emails, and the URL of each GET
page from the URL map (with argument values for the rules that take some). Used by the
CSP test and the browser's every-page test, so a new page is covered by both."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, url_for
from sqlalchemy import select

from bureau.billing.models import Invoice, InvoiceKind, PayoutStatement
from bureau.billing.payouts import statements_token
from bureau.billing.services import Party, issue_from_terms
from bureau.bookings import actions
from bureau.bookings.links import availability_token
from bureau.bookings.models import BookingRequest, Offer, OrganizerFeedback
from bureau.bookings.workflow import SYSTEM
from bureau.calendar.links import blackout_token
from bureau.catalogue.models import Post, Speaker, Topic
from bureau.contracts.models import ContractVersion
from bureau.contracts.services import issue_version
from bureau.db import utcnow
from bureau.demo.history import load_demo_history
from bureau.extensions import db
from bureau.inbound.services import receive_raw
from bureau.mail.models import Notification
from bureau.mail.recipients import MAIL_TASK
from bureau.mail.tasks import send_notification
from bureau.outbox import Job, run_job
from bureau.staff.models import Role
from tests.conftest import BACKEND, NEXT_YEAR, make_app, migrate_and_seed
from tests.test_transitions import (
    ask_speaker,
    assign,
    contract,
    desk,
    new_booking,
    shortlist,
    speaker_says,
)
from tests.workflow_helpers import offer_terms, staff_member, submit_and_route

ADMIN = "pages.admin@bureau.localhost"
# Files and calendar feeds, not pages.
NOT_PAGES = {
    *("static", "bootstrap.static", "calendar.speaker_feed", "calendar.staff_feed"),
    "staff.inbox_raw",  # a download of the raw message
    "staff.contract_pdf",  # a contract's PDF, the staff's and the organizer's
    "bookings.contract_pdf",
    "staff.email_file",  # a download of a file a reply carried
    "i18n.choose",  # the language switcher: sets a cookie and goes back (tests/test_i18n.py)
}
# Error pages (with their status) and other states of pages, beyond what the URL map names.
ERROR_PATHS = {
    "/nothing-here": 404,
    "/?q=%00": 400,
    "/staff/mail/1/resend": 405,  # the route answers POST only
    "/staff/no-such-page": 404,  # the staff error page, in the staff layout
    "/staff/requests/987654321": 404,
    "/availability/not-a-valid-link": 404,  # the link's problem, said on the page
    "/speaker/payouts/not-a-valid-link": 404,
}
OTHER_STATES = (
    "/speakers?q=zzzzunmatched",
    "/staff/?page=2",
    "/staff/?queue=mine",
    "/staff/?queue=overdue",
    "/staff/?queue=soon",
)


# The SQLite site as first built in this process: each module gets a copy of its folder.
_BUILT: list[Path] = []


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Flask:
    """On its own database: the demo catalogue and booking history (every state), an admin,
    and one request with a multi-line message whose emails were written. On SQLite the site
    is built once per process and each module gets a copy of its instance folder and
    database."""
    folder = tmp_path_factory.mktemp("csp")
    if BACKEND == "postgresql":
        url: str = request.getfixturevalue("postgres_database_factory")()
        return build_demo_site(make_app(folder, url))
    if not _BUILT:
        built = tmp_path_factory.mktemp("csp-built")
        site = build_demo_site(make_app(built, f"sqlite:///{built / 'bureau.db'}"))
        with site.app_context():
            db.engine.dispose()  # every write on disk before the folder is copied
        _BUILT.append(built)
    shutil.copytree(_BUILT[0], folder, dirs_exist_ok=True)
    return make_app(folder, f"sqlite:///{folder / 'bureau.db'}")


def walk_to_contracted(session: Any) -> None:
    """A new request through the real steps to contracted, its offer on 20 November of the
    year after next."""
    day = f"{NEXT_YEAR + 1}-11-20"
    booking = new_booking(session)
    for first in (assign, shortlist):
        first(session, booking)
        session.commit()
    actions.record_offer(
        session,
        booking,
        offer_terms(starts_at=f"{day}T09:00", ends_at=f"{day}T10:00"),
        actor=desk(session),
        expected_version=booking.version,
    )
    session.commit()
    for step in (ask_speaker, speaker_says(True), contract):
        step(session, booking)
        session.commit()
    assert booking.status == "contracted"


def build_demo_site(app: Flask) -> Flask:
    migrate_and_seed(app)
    with app.app_context():
        load_demo_history(db.session)
        # Whether the history leaves a request contracted depends on the hour it is loaded
        # at (a hold lapses, an event passes): without one, one is walked there, on a day
        # of its own so that its hold is in no other walk's way.
        if not db.session.scalar(
            select(BookingRequest.id).where(BookingRequest.status == "contracted")
        ):
            walk_to_contracted(db.session)
        # An invoice, for its pages on the status page's link and the staff's.
        contracted = db.session.scalars(
            select(BookingRequest).where(BookingRequest.contract.has()).order_by(BookingRequest.id)
        ).first()
        assert contracted is not None, "the demo history has a booking with contract terms"
        issue_from_terms(
            db.session,
            contracted,
            InvoiceKind.DEPOSIT,
            tax_rate_pct="20",
            issuer=Party("Example Speakers Ltd"),
            issued_on=utcnow().date(),
        )
        db.session.commit()
    staff_member(app, ADMIN, role=Role.ADMIN)
    submit_and_route(app, message="First line of the brief.\n  Second line, indented.")
    with app.app_context():  # the newest contracted booking's contract, sent
        contracted = db.session.scalars(
            select(BookingRequest)
            .where(BookingRequest.status == "contracted")
            .order_by(BookingRequest.id.desc())
        ).first()
        assert contracted is not None, "the demo history has a contracted booking"
        issue_version(db.session, contracted, actor=SYSTEM)
        db.session.commit()
    with app.app_context():
        for job_id in db.session.scalars(select(Job.id).where(Job.task == MAIL_TASK)).all():
            run_job(db.session, job_id, send_notification)
        # A message no request claimed, and one too broken to read, for the Inbox.
        receive_raw(
            db.session, b"From: a@example.com\r\nSubject: A speaker?\r\n\r\nHi.\r\n", source="pipe"
        )
        failed = receive_raw(db.session, b"Subject: =?x-unknown?q?broken?=\r\n\r\n", source="pipe")
        assert failed is not None
        failed.status, failed.error = "failed", "cannot be read: an example"
        db.session.commit()
    return app


def argument_values() -> dict[str, list[dict[str, Any]]]:
    """url_for arguments for each page whose rule has some: every speaker and post, each
    booking state's newest request, an offer's speaker link, an email."""
    session = db.session
    by_state: dict[str, int] = {}
    for booking_id, status in session.execute(
        select(BookingRequest.id, BookingRequest.status).order_by(BookingRequest.id.desc())
    ):
        by_state.setdefault(status, booking_id)  # the newest: the request with a message
    # A completed booking with the organizer's feedback (thank-you) and one without (form).
    rated = select(OrganizerFeedback.booking_id)
    completed = select(BookingRequest.id).where(BookingRequest.status == "completed")
    for which in (BookingRequest.id.in_(rated), BookingRequest.id.not_in(rated)):
        found = session.scalar(completed.where(which).order_by(BookingRequest.id.desc()))
        assert found is not None, "the demo history has completed bookings with and without"
        by_state[f"completed {found}"] = found
    offer = session.scalars(select(Offer).where(Offer.logistics.is_not(None))).first()
    assert offer is not None
    slugs = [{"slug": s} for s in session.scalars(select(Speaker.slug))]
    ids = {
        "speaker": session.scalars(select(Speaker.id)).first(),
        "post": session.scalars(select(Post.id)).first(),
        "topic": session.scalars(select(Topic.id)).first(),
        "notification": session.scalars(select(Notification.id)).first(),
    }
    assert all(ids.values()), ids
    invoice = session.scalars(select(Invoice)).first()
    assert invoice is not None
    tokens = [
        {"token": token}
        for token in session.scalars(
            select(BookingRequest.tracking_token).where(BookingRequest.id.in_(by_state.values()))
        )
    ]
    return {
        "catalogue.speaker": slugs,
        "catalogue_api.speaker": slugs,
        "catalogue.post": [{"slug": s} for s in session.scalars(select(Post.slug))],
        "bookings.status": tokens,
        "bookings_api.read_request": tokens,
        "bookings.availability": [{"token": availability_token(offer.id, offer.speaker_id)}],
        "staff.request_page": [{"booking_id": i} for i in by_state.values()],
        "staff.mail_message": [{"notification_id": ids["notification"]}],
        "staff.contract_document": [
            {"booking_id": v.booking_id, "number": v.number}
            for v in session.scalars(select(ContractVersion))
        ],
        "catalogue_admin.speaker_form": [{"speaker_id": ids["speaker"]}],
        "catalogue_admin.post_form": [{"post_id": ids["post"]}],
        "catalogue_admin.topic_form": [{"topic_id": ids["topic"]}],
        "own_calendar.blackouts": [{"token": blackout_token(ids["speaker"])}],
        # A speaker with statements if the demo history made some, else any speaker.
        "billing.payouts": [
            {
                "token": statements_token(
                    session.scalars(select(PayoutStatement.speaker_id)).first() or ids["speaker"]
                )
            }
        ],
        "bookings.invoice": [{"token": invoice.booking.tracking_token, "number": invoice.number}],
        "staff.invoice_page": [{"booking_id": invoice.booking_id, "invoice_id": invoice.id}],
    }


def every_page(app: Flask) -> Iterator[str]:
    """Each GET rule's URL (once per set of values when it takes arguments), then extras. A
    new page with arguments fails here until argument_values() gives it some."""
    with app.test_request_context():
        values = argument_values()
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if "GET" not in (rule.methods or ()) or rule.endpoint in NOT_PAGES:
                continue
            if not rule.arguments:
                yield url_for(rule.endpoint)
                continue
            assert rule.endpoint in values, f"give {rule.rule} values in argument_values()"
            for arguments in values[rule.endpoint]:
                yield url_for(rule.endpoint, **arguments)
    yield from ERROR_PATHS
    yield from OTHER_STATES
