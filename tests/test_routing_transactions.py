"""The routing task's two transactions: claim, route, timeline and the emails' rows in one;
the emails delivered over one SMTP connection; their sent marks and done marks in another.
And what keeps that safe: poison pills counted, crashes and failures losing and doubling
nothing (bureau/outbox/run.py, claim.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError

from bureau.bookings.services import ROUTE_TASK
from bureau.bookings.tasks import route_new_booking
from bureau.db import utcnow
from bureau.extensions import db
from bureau.mail import transport
from bureau.mail.models import Notification
from bureau.mail.recipients import MAIL_TASK
from bureau.mail.tasks import send_notification
from bureau.outbox import (
    MAX_ATTEMPTS,
    Job,
    count_lost_attempt,
    execute,
    holder,
    release_held_by,
    sweep,
)
from bureau.outbox import run as outbox_run
from tests.conftest import make_app, valid_request

ACK, NOTICE = "li.na@example.com", "china.desk@bureau.localhost"


@pytest.fixture
def mail_app(tmp_path: Path, database_url: str, app: Flask, smtp_server: Any) -> Iterator[Flask]:
    """The suite's database, sending through the test SMTP server; no broker involved."""
    application = make_app(tmp_path, database_url, BUREAU_SMTP_URL=smtp_server.url)
    with application.app_context():
        yield application


def submit(app: Flask, enqueued: list[int] | None = None) -> int:
    """Submit through the API; the routing job's id, the session left empty as a worker's."""
    response = app.test_client().post("/api/v1/requests", json=valid_request())
    assert response.status_code == 201
    if enqueued is not None:
        enqueued.clear()  # the routing job, sent once its request committed
    route_id = db.session.scalars(select(Job.id).where(Job.kind == "route")).one()
    db.session.remove()
    return route_id


@pytest.fixture(autouse=True)
def _no_unwritten_records() -> Iterator[None]:
    yield
    outbox_run._unwritten.clear()


def jobs() -> dict[str, Job]:
    db.session.expire_all()
    return {job.kind: job for job in db.session.scalars(select(Job))}


@dataclass
class Counts:
    commits: int = 0
    statements: list[str] = field(default_factory=list)
    smtp_connections: int = 0


@contextmanager
def counting() -> Iterator[Counts]:
    """Commits and statements (SQLAlchemy's events) and SMTP connections opened (the real
    transport's, counted on the way) within it."""
    seen = Counts()
    connect = transport._connect

    def counted(url: str) -> Any:
        seen.smtp_connections += 1
        return connect(url)

    def on_commit(*_: Any) -> None:
        seen.commits += 1

    def on_statement(*args: Any) -> None:
        seen.statements.append(args[2])

    transport._connect = counted
    event.listen(db.engine, "commit", on_commit)
    event.listen(db.engine, "before_cursor_execute", on_statement)
    try:
        yield seen
    finally:
        transport._connect = connect
        event.remove(db.engine, "commit", on_commit)
        event.remove(db.engine, "before_cursor_execute", on_statement)


class Died(BaseException):
    """The worker process dying in the middle (SIGKILL): nothing after it runs in-process."""


def test_a_routed_request_takes_two_commits_and_one_smtp_connection(
    mail_app: Flask, inbox: Any
) -> None:
    route_id = submit(mail_app)
    with counting() as counts:
        assert execute(ROUTE_TASK, route_id, route_new_booking) == "done"
    statements = counts.statements
    assert counts.commits == 2
    assert counts.smtp_connections == 1
    assert len(inbox.to(ACK)) == 1
    assert len(inbox.to(NOTICE)) == 1
    assert {(job.state, job.attempts) for job in jobs().values()} == {("done", 1)}
    notifications = db.session.scalars(select(Notification)).all()
    assert len(notifications) == 2
    assert all(n.sent_at is not None for n in notifications)
    # Both sent marks in one statement, both done marks in another; the emails were
    # composed before the first commit, so nothing is written in between.
    assert sum(sql.startswith("UPDATE notifications") for sql in statements) == 1
    second = statements[statements.index(next(s for s in statements if "INSERT INTO noti" in s)) :]
    assert [s.split()[0] for s in second if not s.startswith("SELECT")][-2:] == [
        "UPDATE",
        "UPDATE",
    ]


def test_a_smtp_failure_retries_only_that_email_with_its_stored_message_id(
    mail_app: Flask, inbox: Any, enqueued: list[int]
) -> None:
    route_id = submit(mail_app, enqueued)
    inbox.script(ACK, "421 4.3.2 Service busy, try later")
    assert execute(ROUTE_TASK, route_id, route_new_booking) == "done"

    by_kind = jobs()
    ack, notice = by_kind["mail.acknowledgement"], by_kind["mail.assigned"]
    assert (ack.state, ack.attempts) == ("pending", 1)
    assert "421" in (ack.last_error or "")
    assert notice.state == "done"
    assert enqueued == [ack.id]  # its retry, with a backoff
    composed = db.session.scalars(select(Notification).where(Notification.job_id == ack.id)).one()
    assert composed.sent_at is None
    db.session.remove()

    assert execute(MAIL_TASK, ack.id, send_notification) == "done"
    [received] = inbox.to(ACK)
    assert received["Message-ID"] == composed.message_id
    assert len(inbox.to(NOTICE)) == 1
    assert db.session.scalar(select(Notification.id).where(Notification.job_id == ack.id))
    assert len(db.session.scalars(select(Notification)).all()) == 2


def test_an_error_after_smtp_accepted_never_sends_again(
    mail_app: Flask, inbox: Any, monkeypatch: pytest.MonkeyPatch, enqueued: list[int]
) -> None:
    """The database goes away between the SMTP server's 250 and the commit of the sent
    marks, for longer than the retries on a fresh connection: the marks wait in the process,
    and whatever delivers the emails' jobs again finds them done."""
    route_id = submit(mail_app, enqueued)
    monkeypatch.setattr(outbox_run, "DB_RETRY_DELAYS", (0.0,))

    def away(*_: Any, **__: Any) -> None:
        raise DBAPIError("UPDATE", {}, Exception("server closed the connection"))

    with monkeypatch.context() as patched:
        patched.setattr(outbox_run, "_write_effects", away)
        with pytest.raises(DBAPIError):
            execute(ROUTE_TASK, route_id, route_new_booking)
    assert len(inbox.to(ACK)) == 1
    assert len(inbox.to(NOTICE)) == 1
    mails = [job for kind, job in jobs().items() if kind.startswith("mail.")]
    assert {job.state for job in mails} == {"running"}  # not handed back to run again
    assert set(outbox_run._unwritten) == {job.id for job in mails}
    db.session.remove()

    # Their leases lapse; the sweeper sends them again; this process runs them: first the
    # records it kept are written, and then there is nothing left to do.
    for job in mails:
        assert execute(MAIL_TASK, job.id, send_notification) == "skipped"
    assert outbox_run._unwritten == {}
    assert len(inbox.to(ACK)) == 1
    assert len(inbox.to(NOTICE)) == 1
    assert {job.state for job in jobs().values()} == {"done"}
    assert all(n.sent_at for n in db.session.scalars(select(Notification)))


def test_an_exception_after_smtp_accepted_records_that_email_as_sent(
    mail_app: Flask, inbox: Any, monkeypatch: pytest.MonkeyPatch, enqueued: list[int]
) -> None:
    route_id = submit(mail_app, enqueued)
    real_info = send_notification.__globals__["logger"].info

    def info(message: str, *args: Any) -> None:
        if message.startswith("sent ") and args[1] == ACK:
            raise RuntimeError("a bug after the 250")
        real_info(message, *args)

    monkeypatch.setattr(send_notification.__globals__["logger"], "info", info)
    assert execute(ROUTE_TASK, route_id, route_new_booking) == "done"
    assert {job.state for job in jobs().values()} == {"done"}
    assert enqueued == []  # no retry of anything
    assert len(inbox.to(ACK)) == 1
    assert all(n.sent_at for n in db.session.scalars(select(Notification)))


def test_a_crash_after_the_routing_commit_still_sends_each_email_once(
    mail_app: Flask, inbox: Any, monkeypatch: pytest.MonkeyPatch, enqueued: list[int]
) -> None:
    route_id = submit(mail_app, enqueued)
    me = holder()

    def dies(*_: Any) -> None:
        raise Died

    with monkeypatch.context() as patched:
        patched.setattr("bureau.outbox.worker.run_prepared", dies)
        patched.setattr("bureau.outbox.worker._release", lambda *_: None)  # it is dead
        with pytest.raises(Died):
            execute(ROUTE_TASK, route_id, route_new_booking)
    assert inbox.messages == []
    by_kind = jobs()
    assert by_kind["route"].state == "done"
    composed = {n.job_id: n.message_id for n in db.session.scalars(select(Notification))}
    mails = [by_kind["mail.acknowledgement"], by_kind["mail.assigned"]]
    assert set(composed) == {job.id for job in mails}
    db.session.remove()

    # The worker's main process sees its pool process die and releases what it held.
    assert sorted(release_held_by(db.session, holder=me)) == sorted(composed)
    for job in mails:
        assert execute(MAIL_TASK, job.id, send_notification) == "done"
        assert execute(MAIL_TASK, job.id, send_notification) == "skipped"  # a second delivery
    [ack] = inbox.to(ACK)
    [notice] = inbox.to(NOTICE)
    assert {ack["Message-ID"], notice["Message-ID"]} == set(composed.values())
    assert {(job.state, job.attempts) for job in jobs().values() if job.kind != "route"} == {
        ("done", 2)
    }


def test_a_job_that_kills_its_worker_fails_after_max_attempts(
    mail_app: Flask, inbox: Any, enqueued: list[int]
) -> None:
    """Its first attempt's claim was never committed; the main process counts that attempt
    (queue.JobRequest.on_failure), so each later attempt commits its claim first, and the
    job ends as failed instead of killing workers forever."""
    route_id = submit(mail_app, enqueued)
    runs: list[int] = []

    def poison(session: Any, job: Job) -> None:
        runs.append(job.attempts)
        raise Died

    outcome = None
    for _ in range(MAX_ATTEMPTS + 3):
        try:
            outcome = execute(ROUTE_TASK, route_id, poison)
        except Died:
            pass  # the pool process is gone, and its transaction with it
        else:
            break
        if len(runs) == 1:  # the claim died uncommitted: nothing counted it yet
            assert (jobs()["route"].state, jobs()["route"].attempts) == ("pending", 0)
        db.session.remove()
        # What the worker's main process does when a pool process dies (queue.py).
        count_lost_attempt(db.session, route_id)
        release_held_by(db.session, holder=holder())
    assert outcome == "failed"
    assert runs == list(range(1, MAX_ATTEMPTS + 1))  # each attempt counted once
    route = jobs()["route"]
    assert route.state == "failed"
    assert "each of 8 attempts" in (route.last_error or "")
    assert inbox.messages == []


def test_the_sweeper_counts_a_resent_jobs_first_attempt(
    mail_app: Flask, enqueued: list[int]
) -> None:
    """A job whose first delivery died without the main process noticing (the whole node
    went down) is sent again by the sweeper, counted: its next claim commits first."""
    from datetime import timedelta

    route_id = submit(mail_app, enqueued)
    assert sweep(db.session, utcnow() + timedelta(hours=1)) >= 1
    assert route_id in enqueued
    assert jobs()["route"].attempts == 1
    assert execute(ROUTE_TASK, route_id, route_new_booking) == "done"
    assert jobs()["route"].attempts == 2


@pytest.fixture
def pg_mail_app(tmp_path: Path, postgres_app: Flask, smtp_server: Any) -> Iterator[Flask]:
    """The suite's PostgreSQL database (FOR UPDATE SKIP LOCKED), sending through the test
    SMTP server; no broker involved."""
    url = postgres_app.config["BUREAU_SETTINGS"].database_url
    application = make_app(tmp_path, url, BUREAU_SMTP_URL=smtp_server.url)
    with application.app_context():
        yield application


def submit_many(app: Flask, count: int) -> list[int]:
    """``count`` requests submitted; their routing jobs' ids, oldest first."""
    client = app.test_client()
    for n in range(count):
        body = valid_request(contact_email=f"organizer{n}@example.com")
        assert client.post("/api/v1/requests", json=body).status_code == 201
    ids = list(db.session.scalars(select(Job.id).where(Job.kind == "route").order_by(Job.id)))
    db.session.remove()
    return ids


@pytest.mark.postgres
def test_a_backlog_is_routed_in_one_transaction_and_one_smtp_connection(
    pg_mail_app: Flask, inbox: Any, enqueued: list[int]
) -> None:
    routes = submit_many(pg_mail_app, 4)
    enqueued.clear()
    with counting() as counts:
        assert execute(ROUTE_TASK, routes[0], route_new_booking) == "done"
    assert counts.commits == 2  # four requests routed, eight emails sent
    assert counts.smtp_connections == 1
    # The routing lock and the rules with their pools: taken once for the four.
    assert sum("pg_advisory_xact_lock" in sql for sql in counts.statements) == 1
    assert sum("FROM routing_rules" in sql for sql in counts.statements) == 1
    assert sum("FROM routing_rule_staff" in sql for sql in counts.statements) == 1
    # The desks' open loads: read once, then counted on (routing.new_request_loads).
    loads = "GROUP BY booking_requests.assigned_staff_id"
    assert sum(loads in sql for sql in counts.statements) == 1
    # Recording the emails' jobs does not flush: the four timeline entries go in one INSERT;
    # each routing's two emails' jobs in one.
    assert sum("INSERT INTO booking_events" in sql for sql in counts.statements) == 1
    assert sum(sql.startswith("INSERT INTO jobs") for sql in counts.statements) == 4
    # The four requests, their requested speakers and those speakers' topics: read once for
    # the batch (tasks.load_bookings), not per request.
    reads = [sql for sql in counts.statements if sql.lstrip().startswith("SELECT")]
    assert sum("FROM booking_requests LEFT OUTER JOIN" in sql for sql in reads) == 1
    assert sum("FROM requested_speakers" in sql for sql in reads) == 1
    assert sum("speaker_topics" in sql for sql in reads) <= 1
    assert len(inbox.messages) == 8
    for n in range(4):
        assert len(inbox.to(f"organizer{n}@example.com")) == 1
    assert {(job.state, job.attempts) for job in db.session.scalars(select(Job))} == {("done", 1)}
    assert enqueued == []
    db.session.remove()
    # Their own messages come later and find nothing to do: this process knows it ran them,
    # without asking the database; another process (which does not) claims and finds them done.
    with counting() as counts:
        for route_id in routes[1:3]:
            assert execute(ROUTE_TASK, route_id, route_new_booking) == "skipped"
    assert counts.statements == []
    outbox_run._finished_here.clear()
    with counting() as counts:
        assert execute(ROUTE_TASK, routes[3], route_new_booking) == "skipped"
    assert any(sql.lstrip().startswith("UPDATE jobs") for sql in counts.statements)
    assert len(inbox.messages) == 8
    assert {(job.state, job.attempts) for job in db.session.scalars(select(Job))} == {("done", 1)}


@pytest.mark.postgres
def test_a_failure_in_a_backlog_batch_routes_the_task_s_own_request_alone(
    pg_mail_app: Flask, inbox: Any, enqueued: list[int]
) -> None:
    """One waiting request whose routing fails rolls back the batch: the task's own request
    is routed alone; the others wait, untried, for their own messages."""
    routes = submit_many(pg_mail_app, 3)
    broken = routes[-1]

    def route_or_fail(session: Any, job: Job) -> None:
        if job.id == broken:
            raise RuntimeError("a bug in one routing")
        route_new_booking(session, job)

    assert execute(ROUTE_TASK, routes[0], route_or_fail) == "done"
    states = {job.id: (job.state, job.attempts) for job in db.session.scalars(select(Job))}
    assert states[routes[0]] == ("done", 1)
    assert states[routes[1]] == ("pending", 0)
    assert states[broken] == ("pending", 0)
    assert len(inbox.messages) == 2  # the task's own request's two emails
    db.session.remove()
    assert execute(ROUTE_TASK, routes[1], route_or_fail) == "done"  # alone again
    assert len(inbox.messages) == 4
    db.session.remove()
    # The broken one's own message: nothing else waits, it runs alone and counts its attempt.
    assert execute(ROUTE_TASK, broken, route_or_fail) == "pending"
    failed = db.session.get(Job, broken, populate_existing=True)
    assert (failed.state, failed.attempts) == ("pending", 1)
