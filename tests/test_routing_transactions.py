"""The routing task's two transactions: claim, route, timeline and the emails' rows in one;
the emails delivered over one SMTP connection; their sent marks and done marks in another.
And what keeps that safe: poison pills counted, crashes and failures losing and doubling
nothing (bureau/outbox/run.py, claim.py)."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """What the worker sends back to the broker (retries, released jobs), by job id."""
    sent: list[int] = []

    def enqueue(task: str, job_id: int, countdown: float | None = None) -> bool:
        sent.append(job_id)
        return True

    monkeypatch.setattr("bureau.outbox.dispatch.enqueue", enqueue)
    return sent


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


class Died(BaseException):
    """The worker process dying in the middle (SIGKILL): nothing after it runs in-process."""


def test_a_routed_request_takes_two_commits_and_one_smtp_connection(
    mail_app: Flask, inbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    route_id = submit(mail_app)
    connections: list[str] = []
    connect = transport._connect

    def counted(url: str) -> Any:
        connections.append(url)
        return connect(url)

    monkeypatch.setattr(transport, "_connect", counted)
    commits: list[int] = []
    statements: list[str] = []
    on_commit = lambda *_: commits.append(1)  # noqa: E731
    on_statement = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "commit", on_commit)
    event.listen(db.engine, "before_cursor_execute", on_statement)
    try:
        assert execute(ROUTE_TASK, route_id, route_new_booking) == "done"
    finally:
        event.remove(db.engine, "commit", on_commit)
        event.remove(db.engine, "before_cursor_execute", on_statement)

    assert len(commits) == 2
    assert len(connections) == 1
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
