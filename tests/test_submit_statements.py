"""A submission on PostgreSQL in three statements (issue 21 item 3): the speakers' check, the
booking's id and reference number, then the booking, its requested speakers, its first
timeline entry and its route job in one statement (services._insert_request). The same rows
as the ORM's flush and record_job store, in the same transaction, and the job is sent to
the broker after the commit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, inspect, select

from bureau.bookings.models import BookingEvent, BookingRequest, RequestedSpeaker
from bureau.bookings.services import ROUTE_TASK, ActiveSpeakers, store_request, submit_request
from bureau.bookings.validation import validate_request
from bureau.extensions import db
from bureau.outbox import Job, record_job
from tests.conftest import valid_request

SPEAKERS = ["winston-ma", "rupert-hoogewerf"]


@pytest.fixture
def statements(postgres_app: Flask) -> Iterator[list[str]]:
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    with postgres_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    yield sent
    event.remove(engine, "before_cursor_execute", count)


def columns(row: object, *skip: str) -> dict[str, Any]:
    """A row's columns, without those that differ between any two submissions."""
    varying = {"id", "booking_id", "reference", "tracking_token", "dedupe_key", "request_id"}
    return {
        column.key: getattr(row, column.key)
        for column in type(row).__table__.columns  # type: ignore[attr-defined]
        if column.key not in varying | set(skip)
        and not isinstance(getattr(row, column.key), datetime)
    }


def stored(booking_id: int) -> dict[str, Any]:
    """Everything a submission stored, re-read from the database."""
    db.session.expire_all()
    booking = db.session.get(BookingRequest, booking_id)
    assert booking is not None
    return {
        "booking": columns(booking),
        "speakers": [
            columns(r)
            for r in db.session.scalars(
                select(RequestedSpeaker)
                .where(RequestedSpeaker.booking_id == booking_id)
                .order_by(RequestedSpeaker.preference)
            )
        ],
        "timeline": [
            columns(e, "at")
            for e in db.session.scalars(
                select(BookingEvent).where(BookingEvent.booking_id == booking_id)
            )
        ],
        "jobs": [
            columns(j) for j in db.session.scalars(select(Job).where(Job.booking_id == booking_id))
        ],
        "dedupe_keys": [
            j.dedupe_key
            for j in db.session.scalars(select(Job).where(Job.booking_id == booking_id))
        ],
    }


def test_a_submission_on_postgresql_is_three_statements_storing_what_a_flush_stores(
    postgres_app: Flask, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with postgres_app.app_context():
        engine = create_engine(db.engine.url)  # not counted: not the app's engine
    sent: list[tuple[str, int, int]] = []

    def broker(task: str, job_id: int, countdown: float | None = None) -> bool:
        """dispatch's stand-in for the broker: what it is sent, and whether the job's row
        was committed by then (seen from another connection)."""
        with engine.connect() as other:
            committed = other.execute(select(Job.id).where(Job.id == job_id)).all()
        sent.append((task, job_id, len(committed)))
        return True

    monkeypatch.setattr("bureau.outbox.dispatch.enqueue", broker)
    body = valid_request(speakers=SPEAKERS)
    response = postgres_app.test_client().post("/api/v1/requests", json=body)
    assert response.status_code == 201, response.get_json()
    assert len(statements) == 3, statements
    reference = response.get_json()["reference"]
    with postgres_app.app_context():
        booking = db.session.scalars(
            select(BookingRequest).where(BookingRequest.reference == reference)
        ).one()
        booking_id = booking.id
        fast = stored(booking_id)
        job = db.session.scalars(select(Job).where(Job.booking_id == booking.id)).one()
        assert sent == [(ROUTE_TASK, job.id, 1)]  # sent once committed

        # The same request through the ORM's way: store_request, flush, record_job.
        valid, errors = validate_request(body, active_speakers=ActiveSpeakers(db.session))
        assert valid is not None, errors
        slow_booking = store_request(db.session, valid, source="api")
        db.session.flush()
        record_job(db.session, ROUTE_TASK, "route", booking_id=slow_booking.id)
        db.session.commit()
        slow = stored(slow_booking.id)

    assert fast["booking"]["version"] == 1
    assert [s["preference"] for s in fast["speakers"]] == [1, 2]
    assert fast["timeline"][0]["action"] == "submitted"
    assert fast["timeline"][0]["public_message"] == "We received your request."
    assert fast["jobs"][0]["state"] == "pending"
    assert fast["dedupe_keys"] == [f"route:{booking_id}:-:0"]
    del fast["dedupe_keys"], slow["dedupe_keys"]
    assert fast == slow
    engine.dispose()


def test_the_booking_comes_back_persistent_as_a_flush_leaves_it(
    postgres_app: Flask, statements: list[str]
) -> None:
    with postgres_app.app_context():
        speakers = ActiveSpeakers(db.session)
        valid, errors = validate_request(valid_request(), active_speakers=speakers)
        assert valid is not None, errors
        booking = submit_request(
            db.session, valid, source="api", idempotency_key=None, speakers=speakers.rows
        ).booking
        state = inspect(booking)
        assert state.persistent
        del statements[:]
        assert (booking.version, booking.status, booking.source) == (1, "new", "api")
        assert booking.reference.startswith("BR-")
        assert statements == []  # nothing loaded again
        assert db.session.get(BookingRequest, booking.id) is booking
