"""The clash report (a refused slot, with who else is free then) asks the database a fixed
number of questions, however many speakers the catalogue has."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, update

from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor
from bureau.calendar.conflicts import refuse_conflicts
from bureau.calendar.ics import new_uid
from bureau.calendar.models import Engagement
from bureau.catalogue.models import Speaker
from bureau.extensions import db
from tests.workflow_helpers import offer_terms, submit_and_route

STAFF = Actor("staff", "Greater China desk")


def clash_report(booking: BookingRequest, speaker: Speaker) -> tuple[str, int]:
    """The refusal's words and how many statements it took."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    assert booking.offer is not None
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with pytest.raises(actions.ActionError, match="not free then") as refused:
            refuse_conflicts(db.session, booking, speaker, booking.offer)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return str(refused.value), len(statements)


def test_the_clash_report_does_not_ask_once_per_speaker(app: Flask) -> None:
    first_id = submit_and_route(app, contact_email="first@example.com").id
    second_id = submit_and_route(app).id
    with app.app_context():
        kaiser = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        second = db.session.get(BookingRequest, second_id)
        terms = offer_terms()
        actions.record_offer(db.session, second, terms, actor=STAFF, expected_version=None)
        db.session.add(
            Engagement(
                booking_id=first_id,
                speaker_id=kaiser.id,
                uid=new_uid(),
                sequence=0,
                is_cancelled=False,
                title="Kaiser Kuo elsewhere",
                timezone=terms.timezone,
                starts_at=terms.starts_at,
                ends_at=terms.ends_at,
                location="Elsewhere",
                city=terms.city,
                country=terms.country,
                is_virtual=False,
            )
        )
        db.session.flush()
        active = db.session.scalars(
            select(Speaker.id).where(Speaker.is_active, Speaker.id != kaiser.id)
        ).all()
        assert len(active) >= 4

        many_words, many = clash_report(second, kaiser)
        db.session.execute(
            update(Speaker).where(Speaker.id.in_(active[2:])).values(is_active=False)
        )
        few_words, few = clash_report(second, kaiser)

        assert "Kaiser Kuo elsewhere" in many_words
        free_then = many_words.split("Free then: ")[1]
        assert free_then.count(", ") == len(active) - 1  # everyone else is free
        assert few_words.split("Free then: ")[1].count(", ") == 1
        assert many == few <= 10
        db.session.rollback()
