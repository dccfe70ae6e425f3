"""The outbox when the database connection drops mid-job (PostgreSQL's pg_terminate_backend):
the job runs again at once on a fresh connection, and an effect that cannot be undone (an
email the SMTP server accepted) is recorded, never carried out twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.exc import DBAPIError

from bureau.extensions import db
from bureau.outbox import Job, claim, record_effect, record_job, run_job
from bureau.outbox import run as outbox_run

pytestmark = pytest.mark.postgres


@pytest.fixture
def session(postgres_app: Flask) -> Iterator[Any]:
    with postgres_app.app_context():
        yield db.session
        db.session.rollback()
        outbox_run._unwritten.clear()


def new_job(session: Any, sequence: int) -> Job:
    job = record_job(
        session, "bureau.test.noop", "test-db", recipient="d@example.com", sequence=sequence
    )
    assert job is not None
    session.commit()
    return job


def drop_connection(session: Any) -> None:
    """Terminate the session's server process from another connection, as a PostgreSQL
    restart or a failover would: its next statement fails."""
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    engine = create_engine(str(db.engine.url.render_as_string(hide_password=False)))
    try:
        with engine.connect() as other:
            assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        engine.dispose()


def mark(session: Any, items: list[tuple[int, int]]) -> None:
    """An effect's record (record_effect): the job's payload says it was sent."""
    for job_id, sent in items:
        session.execute(update(Job).where(Job.id == job_id).values(payload={"sent": sent}))


def stored(session: Any, job_id: int) -> Job:
    job: Job | None = session.get(Job, job_id, populate_existing=True)
    assert job is not None
    return job


@pytest.mark.parametrize("dropped", ["before the record", "before the done commit"])
def test_a_sent_email_is_recorded_when_the_connection_drops_after_it(
    session: Any, dropped: str
) -> None:
    job = new_job(session, 1 if dropped == "before the record" else 6)
    sent: list[int] = []

    def handler(s: Any, j: Job) -> None:
        sent.append(j.id)  # the SMTP server's 250: cannot be taken back
        job_id = j.id
        if dropped == "before the record":
            drop_connection(s)  # the record's own UPDATE fails, inside the handler
        record_effect(s, mark, (job_id, 1))
        if dropped == "before the done commit":
            drop_connection(s)

    outcome = run_job(session, job.id, handler)
    assert outcome is not None
    assert outcome.state == "done"
    assert sent == [job.id]  # not run again
    row = stored(session, job.id)
    assert (row.state, row.payload, row.locked_by) == ("done", {"sent": 1}, None)
    assert run_job(session, job.id, handler) is None
    assert sent == [job.id]


def test_a_dropped_connection_runs_the_job_again_at_once(session: Any) -> None:
    job = new_job(session, 2)
    calls: list[int] = []

    def handler(s: Any, j: Job) -> None:
        calls.append(j.attempts)
        if len(calls) == 1:
            drop_connection(s)
        j.payload = {"routed": True}
        s.execute(select(Job.id).where(Job.id == j.id))  # fails on the dropped connection

    outcome = run_job(session, job.id, handler)
    assert outcome is not None
    assert outcome.state == "done"  # not pending behind a backoff, not running for a lease
    assert len(calls) == 2
    row = stored(session, job.id)
    assert (row.state, row.payload) == ("done", {"routed": True})


def test_a_claim_whose_answer_was_lost_is_taken_again_by_its_holder(session: Any) -> None:
    job = new_job(session, 3)
    assert claim(session, job.id) is not None  # committed; say the answer never came
    assert claim(session, job.id) is None  # held: another delivery finds nothing
    again = claim(session, job.id, again=True)
    assert again is not None
    assert again.state == "running"


def test_an_effect_recorded_late_is_written_before_the_next_job(
    session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = new_job(session, 4)
    sent: list[int] = []
    monkeypatch.setattr(outbox_run, "DB_RETRY_DELAYS", (0.0,))  # the database stays away: one try

    def handler(s: Any, j: Job) -> None:
        sent.append(j.id)
        job_id = j.id
        record_effect(s, mark, (job_id, 2))
        drop_connection(s)

    def broken_write(*_: Any, **__: Any) -> None:
        raise DBAPIError("UPDATE", {}, Exception("server closed the connection"))

    with monkeypatch.context() as patched:
        patched.setattr(outbox_run, "_write_effects", broken_write)
        with pytest.raises(DBAPIError):
            run_job(session, job.id, handler)
    # Not done: its first attempt's claim rolled back with the run (claim(hold=True)).
    assert stored(session, job.id).state == "pending"
    assert set(outbox_run._unwritten) == {job.id}
    # The process's next job first writes the record: the email is done, not sent again.
    other = new_job(session, 5)
    run_job(session, other.id, lambda s, j: None)
    assert outbox_run._unwritten == {}
    row = stored(session, job.id)
    assert (row.state, row.payload) == ("done", {"sent": 2})
    assert run_job(session, job.id, handler) is None
    assert sent == [job.id]
