"""The facts a request keeps of its timeline (BookingRequest.funnel_stage, first_response_at,
first_confirmed_at, sla_breached) follow its entries as workflow.note() adds them, in the
same transaction; the insights read them instead of the timeline (docs/topics/insights.md).
That the demo history's facts equal its timelines', and what migration 0026 fills from
the timelines, is in test_demo_history.py."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask

from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.notes import add_note
from bureau.bookings.states import Status
from bureau.bookings.workflow import SYSTEM, Actor, note, transition
from bureau.calendar.reminders import note_breach
from bureau.extensions import db
from tests.workflow_helpers import submit_and_route

S = Status
STAFF = Actor("staff", "Desk")
H = timedelta(hours=1)


def facts(booking: BookingRequest) -> tuple[int, datetime | None, datetime | None, bool]:
    """The request's facts as stored (re-read from the database)."""
    db.session.commit()
    db.session.expire_all()
    row = db.session.get(BookingRequest, booking.id)
    assert row is not None
    return row.funnel_stage, row.first_response_at, row.first_confirmed_at, row.sla_breached


def routed(app: Flask) -> BookingRequest:
    """A request filed and routed, dated a day back so its steps can be dated after it
    (transition() dates no entry in the future)."""
    booking = db.session.get(BookingRequest, submit_and_route(app).id)
    assert booking is not None
    assert booking.status == S.ASSIGNED
    booking.created_at -= timedelta(days=1)
    db.session.commit()
    return booking


def test_a_new_request_has_reached_nothing_yet(app: Flask) -> None:
    """Submitted (the organizer) and routed (the system): no staff response, stage New."""
    with app.app_context():
        booking = routed(app)
        assert facts(booking) == (0, None, None, False)


def test_the_furthest_stage_stays_reached_and_confirmation_is_set_once(app: Flask) -> None:
    with app.app_context():
        booking = routed(app)
        start = booking.created_at
        steps = [S.SHORTLISTED, S.OFFER_RECEIVED, S.AWAITING_SPEAKER, S.SPEAKER_ACCEPTED]
        for hours, to in enumerate([*steps, S.CONTRACTED, S.CONFIRMED], start=1):
            transition(db.session, booking, to, actor=STAFF, action=to, now=start + hours * H)
        stage, responded, confirmed, breached = facts(booking)
        assert (stage, responded, confirmed, breached) == (3, start + H, start + 6 * H, False)

        # Cancelled: it still reached confirmed. An admin's correction back to contracted
        # and a second confirmation leave the first one.
        transition(db.session, booking, S.CANCELLED, actor=STAFF, action="x", now=start + 7 * H)
        admin = Actor("staff", "Admin")
        for hours, to in ((8, S.CONTRACTED), (9, S.CONFIRMED)):
            actions.correct_state(
                db.session,
                booking,
                to,
                reason="mistake",
                actor=admin,
                actor_is_admin=True,
                expected_version=None,
                now=start + hours * H,
            )
        assert facts(booking) == (3, start + H, start + 6 * H, False)

        # A correction straight to completed reaches the last stage.
        actions.correct_state(
            db.session,
            booking,
            S.COMPLETED,
            reason="it happened",
            actor=admin,
            actor_is_admin=True,
            expected_version=None,
            now=start + 10 * H,
        )
        assert facts(booking)[0] == 4


def test_only_the_first_staff_entry_after_submission_is_the_response(app: Flask) -> None:
    with app.app_context():
        booking = routed(app)
        start = booking.created_at
        # Not a response: the organizer's own offer, the system's entries, a staff entry
        # dated before the submission (a replayed past).
        transition(
            db.session,
            booking,
            S.OFFER_RECEIVED,
            actor=Actor("organizer", "Li Na"),
            action="offer",
            now=start + H,
        )
        note(db.session, booking, actor=SYSTEM, action="reminder", now=start + 2 * H)
        note(db.session, booking, actor=STAFF, action="note", now=start - H)
        assert facts(booking) == (2, None, None, False)

        add_note(
            db.session, booking, "called", actor=STAFF, expected_version=None, now=start + 3 * H
        )
        assert facts(booking)[1] == start + 3 * H
        # A later staff note does not move it; an earlier one (a replay) does.
        add_note(
            db.session, booking, "again", actor=STAFF, expected_version=None, now=start + 5 * H
        )
        assert facts(booking)[1] == start + 3 * H
        note(db.session, booking, actor=STAFF, action="note", now=start + 2 * H)
        assert facts(booking)[1] == start + 2 * H


def test_an_sla_breach_sets_the_flag_and_an_entry_without_a_fact_leaves_the_row(
    app: Flask,
) -> None:
    with app.app_context():
        booking = routed(app)
        staff = booking.assigned_staff
        assert staff is not None
        version = booking.version
        # An entry that changes no fact does not touch the request's row.
        note(db.session, booking, actor=SYSTEM, action="reminder")
        assert facts(booking)[3] is False
        booking = db.session.get(BookingRequest, booking.id)
        assert booking is not None
        assert booking.version == version
        note_breach(db.session, booking, staff, booking.created_at + 30 * H)
        assert facts(booking) == (0, None, None, True)
