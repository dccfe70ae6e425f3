"""Completing a booking waits for its event to end (issue 16.2), an admin's early completion
is audited, and the staff timeline shows a shortlist as the speakers on it (issue 16.3)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from bureau.bookings import actions
from bureau.bookings.models import BookingEvent
from bureau.bookings.states import Status
from bureau.bookings.workflow import TransitionNotAllowed, event_end
from bureau.calendar.models import Engagement
from bureau.db import AnySession, utcnow
from bureau.staff.models import Role
from tests.test_transitions import ADMIN_EMAIL, DESK_EMAIL, booking_in, desk
from tests.workflow_helpers import post_form, sign_in, staff_member


def signed_in(app: Flask, email: str, role: str) -> FlaskClient:
    staff_member(app, email, role=role)
    client = app.test_client()
    assert sign_in(client, email).status_code in (302, 303)
    return client


def test_completing_before_the_event_ends_is_refused_saying_when(db_session: AnySession) -> None:
    booking = booking_in(db_session, Status.CONFIRMED)
    ends_at, _ = event_end(db_session, booking)
    assert ends_at > utcnow()  # a year away: confirmed, not yet happened
    with pytest.raises(TransitionNotAllowed, match=r"before its event ends \(.* Asia/Shanghai\)"):
        actions.complete(
            db_session, booking, actor=desk(db_session), expected_version=None, feedback=None
        )
    db_session.rollback()
    db_session.refresh(booking)
    assert booking.status == Status.CONFIRMED
    # A minute after the end it may be completed.
    actions.complete(
        db_session,
        booking,
        actor=desk(db_session),
        expected_version=None,
        feedback="Superb",
        now=ends_at + timedelta(minutes=1),
    )
    assert booking.status == Status.COMPLETED


def test_the_end_follows_a_reschedule(db_session: AnySession) -> None:
    booking = booking_in(db_session, Status.CONFIRMED)
    db_session.execute(
        update(Engagement)
        .where(Engagement.booking_id == booking.id)
        .values(ends_at=utcnow() - timedelta(hours=1), starts_at=utcnow() - timedelta(hours=2))
    )
    db_session.commit()
    actions.complete(
        db_session, booking, actor=desk(db_session), expected_version=None, feedback=None
    )
    assert booking.status == Status.COMPLETED


def test_an_agent_is_not_offered_mark_completed_before_the_event(app: Flask) -> None:
    with app.app_context():
        from bureau.extensions import db

        booking_id = booking_in(db.session, Status.CONFIRMED).id
    agent = signed_in(app, DESK_EMAIL, Role.AGENT)
    page = agent.get(f"/staff/requests/{booking_id}").get_data(as_text=True)
    assert 'id="complete-wait"' in page
    assert "cannot be completed before its event ends" in page
    assert "Mark completed" not in page
    # Posting anyway (or with an admin's reason) changes nothing and says why.
    for extra in ({}, {"early_reason": "The organizer called it off early"}):
        response = post_form(
            agent,
            f"/staff/requests/{booking_id}/complete",
            f"/staff/requests/{booking_id}",
            extra,
        )
        assert response.status_code == 422
        text = response.get_data(as_text=True)
        assert "before its event ends" in text or "Only an admin" in text
    page = agent.get(f"/staff/requests/{booking_id}").get_data(as_text=True)
    assert re.search(r'id="status">Confirmed<', page)


def test_an_admin_completes_early_only_with_a_reason_kept_on_the_timeline(app: Flask) -> None:
    from bureau.extensions import db

    with app.app_context():
        booking_id = booking_in(db.session, Status.CONFIRMED).id
    admin = signed_in(app, ADMIN_EMAIL, Role.ADMIN)
    path = f"/staff/requests/{booking_id}"
    page = admin.get(path).get_data(as_text=True)
    assert "Mark completed early" in page
    assert "Why complete it before the event ends" in page

    refused = post_form(admin, f"{path}/complete", path, {"feedback": "Fine"})
    assert refused.status_code == 422
    assert "before its event ends" in refused.get_data(as_text=True)

    reason = "Recorded late: the event was moved forward by phone"
    done = post_form(admin, f"{path}/complete", path, {"early_reason": reason})
    assert done.status_code == 303
    with app.app_context():
        details = db.session.execute(
            select(BookingEvent.details).where(
                BookingEvent.booking_id == booking_id, BookingEvent.action == "completed"
            )
        ).scalar_one()
    assert details["override"] == reason
    assert "before its event ends" in details["refused"]
    assert reason not in page or "override" in page  # shown where the timeline shows reasons


def test_the_timeline_shows_a_shortlist_as_linked_speakers(app: Flask) -> None:
    from bureau.extensions import db

    with app.app_context():
        booking_id = booking_in(db.session, Status.SHORTLISTED).id
    agent = signed_in(app, DESK_EMAIL, Role.AGENT)
    page = agent.get(f"/staff/requests/{booking_id}").get_data(as_text=True)
    shortlist = re.search(r"shortlist: (.*?)</div>", page)
    assert shortlist is not None, page
    assert '<a href="/speakers/winston-ma">Winston Ma</a>' in shortlist.group(1)
    assert '<a href="/speakers/kaiser-kuo">Kaiser Kuo</a>' in shortlist.group(1)
    assert "(/)" not in page  # the routing layout's empty load/capacity
