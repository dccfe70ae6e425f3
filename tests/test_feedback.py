"""The organizer's feedback after completion (issue 16): asked once by email, given once on
the status page (rating 1-5, optional comments), seen by staff on the request page and in
Insights, carried by the status JSON."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import jsonschema_rs
import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bureau.bookings import actions
from bureau.bookings.models import BookingEvent, BookingRequest, OrganizerFeedback
from bureau.bookings.states import Status
from bureau.db import AnySession, utcnow
from bureau.extensions import db
from bureau.insights.queries import Scope, ratings
from bureau.mail.compose import render_booking_mail
from bureau.mail.recipients import Recipient, links_for
from bureau.openapi import document
from bureau.outbox import Job
from bureau.staff.models import Role
from tests.test_completion import signed_in
from tests.test_transitions import (
    ADMIN_EMAIL,
    DESK_EMAIL,
    admin,
    booking_in,
    complete,
    forced_into,
)
from tests.workflow_helpers import csrf_from

REQUEST_KIND = "mail.feedback_request"
RATING_MESSAGE = "Choose a rating from 1 to 5."


def feedback_requests(session: AnySession, booking_id: int) -> list[Job]:
    return list(
        session.scalars(select(Job).where(Job.booking_id == booking_id, Job.kind == REQUEST_KIND))
    )


def completed(session: AnySession) -> BookingRequest:
    booking = booking_in(session, Status.COMPLETED)
    session.commit()
    return booking


def status_path(booking: BookingRequest) -> str:
    return f"/requests/{booking.tracking_token}"


def send(client: FlaskClient, booking: BookingRequest, **data: Any) -> Any:
    """POST the feedback form with the client's CSRF token (from the status page when it
    has a form, else from the request form)."""
    page = client.get(status_path(booking)).get_data(as_text=True)
    if "csrf_token" not in page:
        page = client.get("/request").get_data(as_text=True)
    return client.post(
        f"{status_path(booking)}/feedback", data={"csrf_token": csrf_from(page), **data}
    )


def stored(booking_id: int) -> OrganizerFeedback | None:
    db.session.expire_all()
    return db.session.scalars(
        select(OrganizerFeedback).where(OrganizerFeedback.booking_id == booking_id)
    ).one_or_none()


# --- the email


def test_completion_asks_the_organizer_once(db_session: AnySession) -> None:
    booking = booking_in(db_session, Status.CONFIRMED)
    assert feedback_requests(db_session, booking.id) == []  # no earlier step asks
    complete(db_session, booking)  # the staff step, after the event
    db_session.commit()
    [job] = feedback_requests(db_session, booking.id)
    assert job.recipient == booking.contact_email
    assert job.payload["role"] == "organizer"

    # An admin corrects it back to confirmed and it is completed again: not asked twice.
    actions.correct_state(
        db_session,
        booking,
        Status.CONFIRMED,
        reason="Completed by mistake",
        actor=admin(db_session),
        actor_is_admin=True,
        expected_version=booking.version,
    )
    complete(db_session, booking)  # the staff step, after the event
    db_session.commit()
    assert len(feedback_requests(db_session, booking.id)) == 1


def test_the_email_speaks_of_the_completion_and_links_the_status_page(
    db_session: AnySession,
) -> None:
    booking = completed(db_session)
    with current_app.test_request_context():
        links = links_for(Recipient.ORGANIZER, booking)
        mail = render_booking_mail(
            "feedback_request",
            booking,
            role=Recipient.ORGANIZER,
            links=links,
            to_name=booking.contact_name,
        )
    assert mail.subject == f"How was {booking.event_name}? Your feedback on {booking.reference}"
    assert "has taken place" in mail.text
    assert "rate the booking from 1 to 5" in mail.text
    assert re.findall(r"https?://\S+", mail.text) == [links["request_url"]]
    assert f'href="{links["request_url"]}"' in mail.html
    with pytest.raises(ValueError, match="not meant for the staff"):
        render_booking_mail("feedback_request", booking, role=Recipient.STAFF, links={})


# --- the form on the status page


def test_no_form_and_no_feedback_before_completion(db_session: AnySession, client: Any) -> None:
    booking = booking_in(db_session, Status.CONFIRMED)
    page = client.get(status_path(booking)).get_data(as_text=True)
    assert "Send feedback" not in page
    response = send(client, booking, rating="5")
    assert response.status_code == 303
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Feedback can be given once the event has taken place." in shown
    assert stored(booking.id) is None


def test_feedback_is_given_once_and_shown_back(db_session: AnySession, client: Any) -> None:
    booking = completed(db_session)
    page = client.get(status_path(booking)).get_data(as_text=True)
    form = page[page.index('id="feedback"') :]
    assert "<fieldset" in form
    assert "<legend" in form
    for n in range(1, 6):
        assert f'<label class="form-check-label" for="rating-{n}">{n} (' in form

    response = send(client, booking, rating="4", comments="Great speaker.\nWell prepared.")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Thank you for your feedback" in page
    assert "4 out of 5 (very good)" in page
    assert "Great speaker.\nWell prepared." in page
    assert "Send feedback" not in page
    assert "Organizer left feedback: 4/5." in page  # on the timeline
    given = stored(booking.id)
    assert given is not None
    assert (given.rating, given.comments) == (4, "Great speaker.\nWell prepared.")
    [entry] = db.session.scalars(
        select(BookingEvent).where(
            BookingEvent.booking_id == booking.id, BookingEvent.action == "left feedback"
        )
    ).all()
    assert (entry.to_status, entry.details, entry.actor_kind) == (None, {"rating": 4}, "organizer")

    # A second one (another tab, a re-sent form) is refused, saying so; the first stays.
    token = csrf_from(client.get("/request").get_data(as_text=True))  # no form left here
    again = client.post(
        f"{status_path(booking)}/feedback",
        data={"csrf_token": token, "rating": "1", "comments": "Changed my mind"},
    )
    assert again.status_code == 303
    shown = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "You already sent your feedback for this booking" in shown
    given = stored(booking.id)
    assert given is not None
    assert (given.rating, given.comments) == (
        4,
        "Great speaker.\nWell prepared.",
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rating": "0"}, RATING_MESSAGE),
        ({"rating": "6"}, RATING_MESSAGE),
        ({"rating": "x"}, RATING_MESSAGE),
        ({"rating": ""}, RATING_MESSAGE),
        ({}, RATING_MESSAGE),
        ({"rating": "3", "comments": "a" * 2001}, "Keep your comments to 2,000 characters."),
    ],
    ids=["zero", "six", "letter", "empty", "missing", "long-comment"],
)
def test_bad_input_is_explained_and_nothing_saved(
    db_session: AnySession, client: Any, data: dict[str, str], message: str
) -> None:
    booking = completed(db_session)
    response = send(client, booking, **data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert "Your feedback was not sent" in page
    assert stored(booking.id) is None
    assert "Organizer left feedback" not in page


def test_without_csrf_nothing_is_saved(db_session: AnySession, client: Any) -> None:
    booking = completed(db_session)
    response = client.post(f"{status_path(booking)}/feedback", data={"rating": "5"})
    assert response.status_code == 400
    assert stored(booking.id) is None


def test_a_comment_of_exactly_the_limit_is_kept(db_session: AnySession, client: Any) -> None:
    booking = completed(db_session)
    assert send(client, booking, rating="2", comments="b" * 2000).status_code == 303
    given = stored(booking.id)
    assert given is not None
    assert given.comments == "b" * 2000


def test_an_unknown_token_is_not_found(client: Any) -> None:
    token = csrf_from(client.get("/request").get_data(as_text=True))
    response = client.post("/requests/nope/feedback", data={"csrf_token": token, "rating": "5"})
    assert response.status_code == 404


def test_the_table_refuses_a_second_row_and_a_rating_out_of_range(db_session: AnySession) -> None:
    booking = completed(db_session)
    for rating in (0, 6):
        db_session.add(OrganizerFeedback(booking_id=booking.id, rating=rating))
        with pytest.raises(IntegrityError):
            db_session.flush()
        db_session.rollback()
    db_session.add(OrganizerFeedback(booking_id=booking.id, rating=3))
    db_session.commit()
    db_session.add(OrganizerFeedback(booking_id=booking.id, rating=5))
    with pytest.raises(IntegrityError):
        db_session.flush()
    db_session.rollback()


# --- staff, Insights, the API


def give(session: AnySession, booking: BookingRequest, rating: int, comments: str | None) -> None:
    actions.leave_feedback(session, booking, rating, comments)
    session.commit()


def test_staff_see_it_on_the_request_page(app: Flask) -> None:
    with app.app_context():
        booking = completed(db.session)
        booking_id = booking.id
    agent = signed_in(app, DESK_EMAIL, Role.AGENT)
    page = agent.get(f"/staff/requests/{booking_id}").get_data(as_text=True)
    assert "Organizer's feedback" in page
    assert "None yet." in page
    assert "Completion note" in page  # staff's own note keeps its name apart
    with app.app_context():
        give(db.session, db.session.get(BookingRequest, booking_id), 5, "Superb & <b>on time</b>")
    page = agent.get(f"/staff/requests/{booking_id}").get_data(as_text=True)
    block = page[page.index('id="organizer-feedback"') :]
    assert 'data-rating="5">5 out of 5' in block
    assert "Superb &amp; &lt;b&gt;on time&lt;/b&gt;" in block


def test_insights_show_average_distribution_and_comments(app: Flask) -> None:
    with app.app_context():
        ids = []
        for rating, comments in ((5, "Wonderful"), (4, None), (2, "Late start")):
            # Set so (one speaker cannot do three events at once).
            booking = forced_into(db.session, Status.COMPLETED)
            give(db.session, booking, rating, comments)
            ids.append(booking.id)
        today = utcnow().date()
        figures = ratings(db.session, Scope(today - timedelta(days=7), today))
        assert figures.counts == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
        assert (figures.count, str(figures.average)) == (3, "3.7")
        assert [c.comments for c in figures.recent] == ["Late start", "Wonderful"]
        # Given outside the period: not counted.
        assert ratings(db.session, Scope(date(2020, 1, 1), date(2020, 12, 31))).count == 0
    staff_admin = signed_in(app, ADMIN_EMAIL, Role.ADMIN)
    page = staff_admin.get("/staff/insights").get_data(as_text=True)
    section = page[page.index('id="feedback-heading"') :]
    assert 'data-figure="average-rating">3.7 / 5' in section
    assert 'data-figure="ratings">3<' in section
    assert 'data-chart="chart-ratings"' in section
    assert "<title>5 out of 5: 1</title>" in section
    assert f'href="/staff/requests/{ids[2]}"' in section
    assert "Late start" in section


def test_the_status_json_carries_the_feedback(db_session: AnySession, client: Any) -> None:
    booking = completed(db_session)
    path = f"/api/v1/requests/{booking.tracking_token}"
    schema = document()["components"]["schemas"]["RequestStatus"]
    before = client.get(path).get_json()
    assert before["feedback"] is None
    jsonschema_rs.validate(schema, before)
    give(db_session, booking, 3, "Fine")
    after = client.get(path).get_json()
    assert after["feedback"]["rating"] == 3
    assert after["feedback"]["comments"] == "Fine"
    assert after["feedback"]["at"].startswith(str(utcnow().year))
    jsonschema_rs.validate(schema, after)
