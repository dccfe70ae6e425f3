"""A submission on PostgreSQL in three statements (issue 21 item 3): the speakers' check, the
booking's id and reference number, then the booking, its requested speakers, its first
timeline entry and its route job in one statement (services._insert_request). The same rows
as the ORM's flush and record_job store, in the same transaction, and the job is sent to
the broker after the commit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS
from sqlalchemy import create_engine, event, inspect, select

from bureau.bookings import services
from bureau.bookings.models import (
    BookingEvent,
    BookingRequest,
    ReferenceCounter,
    RequestedSpeaker,
)
from bureau.bookings.services import (
    ROUTE_TASK,
    ActiveSpeakers,
    reference_for,
    store_request,
    submit_request,
)
from bureau.bookings.validation import validate_request
from bureau.db import utcnow
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


# The columns that differ between any two submissions; every other column is compared.
VARYING = {"id", "booking_id", "reference", "tracking_token", "dedupe_key", "request_id"}


def columns(row: object, now: datetime) -> dict[str, Any]:
    """Every column of a row but the VARYING ones; an instant as "now" (the submission's)
    or "set" (another, such as a job's own creation time), so that a column one way leaves
    empty shows."""

    def value(v: Any) -> Any:
        if isinstance(v, datetime):
            return "now" if v == now else "set"
        return v

    return {
        column.key: value(getattr(row, column.key))
        for column in type(row).__table__.columns  # type: ignore[attr-defined]
        if column.key not in VARYING
    }


def stored(booking_id: int) -> dict[str, Any]:
    """Everything a submission stored, re-read from the database."""
    db.session.expire_all()
    booking = db.session.get(BookingRequest, booking_id)
    assert booking is not None
    now = booking.created_at
    jobs = list(db.session.scalars(select(Job).where(Job.booking_id == booking_id)))
    return {
        "booking": columns(booking, now),
        "speakers": [
            columns(r, now)
            for r in db.session.scalars(
                select(RequestedSpeaker)
                .where(RequestedSpeaker.booking_id == booking_id)
                .order_by(RequestedSpeaker.preference)
            )
        ],
        "timeline": [
            columns(e, now)
            for e in db.session.scalars(
                select(BookingEvent).where(BookingEvent.booking_id == booking_id)
            )
        ],
        "jobs": [columns(j, now) for j in jobs],
        "dedupe_keys": [j.dedupe_key for j in jobs],
    }


def orm_way(body: dict[str, Any]) -> dict[str, Any]:
    """The same request through the ORM's way (SQLite's): store_request, flush, record_job."""
    valid, errors = validate_request(body, active_speakers=ActiveSpeakers(db.session))
    assert valid is not None, errors
    booking = store_request(db.session, valid, source="api")
    db.session.flush()
    record_job(db.session, ROUTE_TASK, "route", booking_id=booking.id)
    db.session.commit()
    return stored(booking.id)


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

        slow = orm_way(body)

    assert fast["booking"]["version"] == 1
    assert [s["preference"] for s in fast["speakers"]] == [1, 2]
    assert fast["timeline"][0]["action"] == "submitted"
    assert fast["timeline"][0]["public_message"] == "We received your request."
    assert fast["jobs"][0]["state"] == "pending"
    assert fast["dedupe_keys"] == [f"route:{booking_id}:-:0"]
    assert fast["booking"]["created_at"] == fast["timeline"][0]["at"] == "now"
    assert fast["jobs"][0]["run_after"] == "set"
    del fast["dedupe_keys"], slow["dedupe_keys"]
    assert fast == slow
    engine.dispose()


def test_the_comparison_sees_every_column_so_a_forgotten_one_shows(
    postgres_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A column the fast path left out (here the message) is a difference, whatever its
    type: every column of the four tables is compared but the VARYING ones."""
    for table in (BookingRequest, BookingEvent, RequestedSpeaker, Job):
        compared = set(columns(table(), datetime.now(UTC)))
        assert compared == {c.key for c in table.__table__.columns} - VARYING

    real = services._column_values

    def forgetful(row: Any) -> dict[str, Any]:
        values = real(row)
        if isinstance(row, BookingRequest):
            del values["message"]
        return values

    monkeypatch.setattr(services, "_column_values", forgetful)
    body = valid_request(speakers=SPEAKERS)
    response = postgres_app.test_client().post("/api/v1/requests", json=body)
    assert response.status_code == 201, response.get_json()
    with postgres_app.app_context():
        fast = stored(reference_id(response.get_json()["reference"]))
        slow = orm_way(body)
    assert fast["booking"]["message"] is None
    assert slow["booking"]["message"] == body["message"]
    assert fast["booking"] != slow["booking"]


def reference_id(reference: str) -> int:
    return db.session.scalars(
        select(BookingRequest.id).where(BookingRequest.reference == reference)
    ).one()


def test_the_statement_is_one_for_any_number_of_speakers_with_few_parameters(
    postgres_app: Flask, statements: list[str]
) -> None:
    """Each row is one JSON parameter: the same text whether one speaker or three are
    requested, few enough parameters and short enough for psycopg to keep its conversion
    (it does for up to 50 parameters and 4,096 bytes) and PostgreSQL to prepare it."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    with postgres_app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
    try:
        client = postgres_app.test_client()
        for speakers in (["winston-ma"], ["winston-ma", "rupert-hoogewerf", "fons-tuinstra"]):
            response = client.post("/api/v1/requests", json=valid_request(speakers=speakers))
            assert response.status_code == 201, response.get_json()
    finally:
        with postgres_app.app_context():
            event.remove(db.engine, "before_cursor_execute", record)
    one, three = sent[2], sent[5]
    assert one[0] == three[0]
    assert len(one[1]) == len(three[1]) <= MAX_CACHED_STATEMENT_PARAMS
    assert len(one[0].encode()) <= MAX_CACHED_STATEMENT_LENGTH


def test_the_reference_numbered_in_sql_is_reference_for_past_five_digits(
    postgres_app: Flask,
) -> None:
    with postgres_app.app_context():
        year = utcnow().year
        db.session.merge(ReferenceCounter(year=year, value=99_999))
        db.session.commit()
    client = postgres_app.test_client()
    references = [
        client.post("/api/v1/requests", json=valid_request()).get_json()["reference"]
        for _ in range(2)
    ]
    assert references == [reference_for(year, 100_000), reference_for(year, 100_001)]
    assert references[0] == f"BR-{year}-100000"


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
