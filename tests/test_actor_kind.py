"""Who acts is an ActorKind; the timeline stores the same plain strings as before."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select, text

from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.workflow import Actor, ActorKind, note
from bureau.extensions import db
from tests.workflow_helpers import submit_and_route


def test_a_kind_given_as_text_becomes_the_enum_and_an_unknown_one_is_refused() -> None:
    assert Actor("staff", "Desk").kind is ActorKind.STAFF
    assert Actor("staff", "Desk", 3) == Actor(ActorKind.STAFF, "Desk", 3)
    with pytest.raises(ValueError, match="not a valid ActorKind"):
        Actor("robot", "Desk")


def test_the_stored_actor_kind_is_the_plain_word(app: Flask) -> None:
    booking = submit_and_route(app)
    with app.app_context():
        row = db.session.get(BookingRequest, booking.id)
        note(db.session, row, actor=Actor(ActorKind.STAFF, "Desk"), action="note")
        db.session.commit()
        latest = db.session.scalars(
            select(BookingEvent.id)
            .where(BookingEvent.booking_id == booking.id)
            .order_by(BookingEvent.id)
        ).all()[-1]
        stored = db.session.execute(
            text("SELECT actor_kind FROM booking_events WHERE id = :id"), {"id": latest}
        ).scalar_one()
    assert stored == "staff"
    assert type(stored) is str
