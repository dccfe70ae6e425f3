"""Two staff acting on one request at once: one wins, the other is told, nothing half-done."""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from bureau.bookings import actions
from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.workflow import Actor
from bureau.extensions import db
from bureau.staff.models import Role
from tests.workflow_helpers import (
    OVERRIDE,
    post_form,
    reload,
    sign_in,
    staff_member,
    submit_and_route,
)

PICKS = [
    actions.Candidate("winston-ma", 15000, "New York"),
    actions.Candidate("kaiser-kuo", 12000, "Beijing"),
    actions.Candidate("ashley-dudarenok", 14000, "Hong Kong"),
]
OTHER_PICKS = [*PICKS[1:], actions.Candidate("rupert-hoogewerf", 9000, "Shanghai")]


def test_two_sessions_on_postgresql_one_wins(postgres_app: Flask) -> None:
    """Both load version N; the first changes the row and holds its lock a moment; the
    second's UPDATE … WHERE version = N waits for it, then matches nothing: StaleDataError."""
    app = postgres_app
    booking = submit_and_route(app)
    first_flushed = threading.Event()
    outcomes: dict[str, str] = {}

    def act(name: str, session: Session, picks: list[actions.Candidate]) -> None:
        with app.app_context():
            row = session.get(BookingRequest, booking.id)
            loaded.wait(5)
            try:
                actions.shortlist(
                    session, row, picks, actor=Actor("staff", name), expected_version=row.version
                )
                session.flush()
                if name == "first":
                    first_flushed.set()
                    threading.Event().wait(0.5)  # hold the row lock while the second tries
                session.commit()
                outcomes[name] = "committed"
            except StaleDataError:
                session.rollback()
                outcomes[name] = "stale"
            finally:
                session.close()

    with app.app_context():
        engine = db.engine
    loaded = threading.Event()
    first = threading.Thread(target=act, args=("first", Session(engine), PICKS))
    first.start()
    loaded.set()
    first_flushed.wait(5)
    act("second", Session(engine), OTHER_PICKS)
    first.join()

    assert outcomes == {"first": "committed", "second": "stale"}
    winner = reload(app, booking.id)
    assert winner.status == "shortlisted"
    assert winner.version == booking.version + 1
    assert [e.speaker.slug for e in winner.shortlist] == [c.speaker_slug for c in PICKS]
    with app.app_context():
        shortlisted = db.session.scalar(
            select(func.count())
            .select_from(BookingEvent)
            .where(BookingEvent.booking_id == booking.id, BookingEvent.action == "shortlisted")
        )
    assert shortlisted == 1  # nothing of the loser's half-applied


def test_a_stale_form_is_refused_with_a_clear_message(app: Flask) -> None:
    staff_member(app, "boss@bureau.test", role=Role.ADMIN)
    staff_member(app, "china.desk@bureau.localhost")
    booking = submit_and_route(app)
    page = f"/staff/requests/{booking.id}"
    agent, admin = app.test_client(), app.test_client()
    sign_in(agent, "china.desk@bureau.localhost")
    sign_in(admin, "boss@bureau.test")
    stale_page = agent.get(page).get_data(as_text=True)
    assert post_form(admin, f"{page}/note", page, {"text": "Calling them now"}).status_code == 303
    from tests.workflow_helpers import csrf_from

    version = str(booking.version)
    response = agent.post(
        f"{page}/close",
        data={
            "csrf_token": csrf_from(stale_page),
            "version": version,
            "to": "declined",
            "reason": "No budget",
        },
    )
    assert response.status_code == 303
    follow = agent.get(page).get_data(as_text=True)
    assert "was changed by someone else a moment ago" in follow
    after = reload(app, booking.id)
    assert after.status == "assigned"
    assert after.closed_reason is None


def test_two_staff_confirming_one_slot_at_once_book_it_once(postgres_app: Flask) -> None:
    """Two bookings of one speaker for the same hour reach confirmation together: the
    database lock lets one through; the other then sees the engagement and is refused."""
    from datetime import date
    from decimal import Decimal

    from bureau.calendar.models import Engagement
    from tests.workflow_helpers import offer_terms

    app = postgres_app
    ids = [submit_and_route(app).id for _ in range(2)]
    staff = Actor("staff", "Desk")
    with app.app_context():
        for booking_id in ids:
            # Two contracts for the same slot (the second hold was placed before the first
            # existed in this test's setup: insert it directly past the hold check).
            booking = db.session.get(BookingRequest, booking_id)
            actions.record_offer(
                db.session, booking, offer_terms(), actor=staff, expected_version=None
            )
            booking.status = "speaker_accepted"
            actions.record_contract(
                db.session,
                booking,
                actions.ContractTerms(12500, "USD", Decimal(20), 5000, date(2030, 1, 1), None),
                actor=staff,
                expected_version=None,
            )
            db.session.commit()
        engine = db.engine

    first_checked = threading.Event()
    outcomes: dict[int, str] = {}

    def confirm(booking_id: int, hold_lock: bool) -> None:
        with app.app_context():
            session = Session(engine)
            try:
                booking = session.get(BookingRequest, booking_id)
                actions.confirm(session, booking, actor=staff, expected_version=None, **OVERRIDE)
                if hold_lock:
                    first_checked.set()
                    threading.Event().wait(0.5)  # the second confirmation arrives now
                session.commit()
                outcomes[booking_id] = "confirmed"
            except actions.ActionError as error:
                session.rollback()
                outcomes[booking_id] = str(error)
            finally:
                session.close()

    first = threading.Thread(target=confirm, args=(ids[0], True))
    first.start()
    first_checked.wait(5)
    confirm(ids[1], False)
    first.join()
    assert outcomes[ids[0]] == "confirmed"
    assert "not free then" in outcomes[ids[1]]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Engagement)) == 1
