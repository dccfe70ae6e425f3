"""The operations view: heartbeats, queue depth, outbox figures, retries, container checks.

The first part runs on the suite's database (SQLite or PostgreSQL) against hand-made rows;
the second with real parts: PostgreSQL, Redis as broker, a Celery worker and beat in their
own processes, an SMTP server, and the web server (gunicorn) for its JSON log lines.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from bureau.db import utcnow
from bureau.extensions import db
from bureau.mail.recipients import MAIL_TASK
from bureau.ops.models import Heartbeat
from bureau.ops.queries import outbox, queue_depth
from bureau.outbox import Job, JobState
from bureau.staff.models import Role
from tests.conftest import bureau_cli, make_app, migrate_and_seed, reset_bookings, valid_request
from tests.stack import ROOT, Stack, detached, running_stack, wait_until
from tests.workflow_helpers import csrf_from, sign_in, staff_member, submit_and_route

ADMIN = "management@bureau.localhost"
AGENT = "china.desk@bureau.localhost"


def number(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert found, f"no #{element_id} on the page"
    return found.group(1).strip()


def state_count(page: str, state: str) -> int:
    found = re.search(rf'data-state="{state}">(\d+)<', page)
    assert found, state
    return int(found.group(1))


# --- on the suite's database, with hand-made rows


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    staff_member(app, ADMIN, role=Role.ADMIN)
    client = app.test_client()
    assert sign_in(client, ADMIN).status_code == 302
    return client


@pytest.fixture
def made_rows(app: Flask) -> Iterator[dict[str, Any]]:
    """A booking and a known mix of jobs: 2 due pending, 1 waiting for a retry, 1 stalled,
    1 done, 2 failed (one about the booking)."""
    booking = submit_and_route(app)
    now = utcnow()
    with app.app_context():
        db.session.execute(delete(Job))

        def job(key: str, **values: Any) -> Job:
            row = Job(task=MAIL_TASK, dedupe_key=key, **{"kind": "mail.test", **values})
            db.session.add(row)
            return row

        job("due-old", run_after=now - timedelta(seconds=400))
        job("due-new", run_after=now - timedelta(seconds=5))
        job("retry", run_after=now + timedelta(seconds=600), last_error="421 busy", attempts=1)
        job("stalled", state=JobState.RUNNING, locked_until=now - timedelta(seconds=10))
        job("done", state=JobState.DONE, finished_at=now)
        failed = job(
            "failed-1",
            state=JobState.FAILED,
            booking_id=booking.id,
            kind="mail.acknowledgement",
            attempts=1,
            last_error="550 5.1.1 No such user",
            finished_at=now - timedelta(seconds=30),
        )
        job(
            "failed-2",
            state=JobState.FAILED,
            attempts=8,
            last_error="gave up: boom",
            finished_at=now - timedelta(seconds=90),
        )
        db.session.commit()
        ids = {"failed": failed.id, "booking_id": booking.id, "reference": booking.reference}
    yield ids
    reset_bookings(app)


def test_outbox_figures_match_the_rows(app: Flask, made_rows: dict[str, Any]) -> None:
    with app.app_context():
        box = outbox(db.session)
    assert box.by_state == {"pending": 3, "running": 1, "done": 1, "failed": 2}
    assert box.due_unclaimed == 2
    assert box.waiting_retry == 1
    assert box.stalled == 1
    assert box.oldest_due_age is not None
    assert 395 <= box.oldest_due_age <= 460
    assert next(job.id for job in box.failed) == made_rows["failed"]  # latest failure first
    assert len(box.recent_errors) == 3  # the two failed and the one waiting for a retry


def test_the_ops_page_shows_the_figures(admin: FlaskClient, made_rows: dict[str, Any]) -> None:
    response = admin.get("/staff/ops")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "no-store" in response.headers["Cache-Control"]
    assert [state_count(page, s) for s in ("pending", "running", "done", "failed")] == [3, 1, 1, 2]
    assert number(page, "outbox-due") == "2"
    assert number(page, "outbox-waiting") == "1"
    assert number(page, "outbox-stalled") == "1"
    assert number(page, "outbox-oldest").endswith("min")
    assert number(page, "workers-seen") == "0"
    assert number(page, "beat-last-run") == "never"
    assert number(page, "queue-depth").isdigit()  # the embedded SQLite broker
    assert "550 5.1.1 No such user" in page
    booking_link = f'/staff/requests/{made_rows["booking_id"]}">{made_rows["reference"]}</a>'
    assert booking_link in page
    assert f"/staff/ops/jobs/{made_rows['failed']}/retry" in page
    assert 'href="/staff/ops"' in page  # the staff menu links it for admins


def test_agents_get_403_and_no_menu_link(app: Flask) -> None:
    staff_member(app, AGENT)
    agent = app.test_client()
    sign_in(agent, AGENT)
    assert agent.get("/staff/ops").status_code == 403
    assert 'href="/staff/ops"' not in agent.get("/staff/").get_data(as_text=True)


def test_retry_puts_a_failed_job_back_to_pending(
    app: Flask, admin: FlaskClient, made_rows: dict[str, Any]
) -> None:
    token = csrf_from(admin.get("/staff/ops").get_data(as_text=True))
    response = admin.post(
        f"/staff/ops/jobs/{made_rows['failed']}/retry", data={"csrf_token": token}
    )
    assert response.status_code == 303
    with app.app_context():
        job = db.session.get(Job, made_rows["failed"])
        assert (job.state, job.attempts, job.finished_at) == ("pending", 0, None)
        assert job.run_after <= utcnow()
        assert db.session.scalar(select(Job).where(Job.dedupe_key == "failed-2")).state == "failed"
    again = admin.post(f"/staff/ops/jobs/{made_rows['failed']}/retry", data={"csrf_token": token})
    assert again.status_code == 303
    assert "not failed" in admin.get("/staff/ops").get_data(as_text=True)


def test_retry_all_failed(app: Flask, admin: FlaskClient, made_rows: dict[str, Any]) -> None:
    token = csrf_from(admin.get("/staff/ops").get_data(as_text=True))
    assert admin.post("/staff/ops/retry-failed", data={"csrf_token": token}).status_code == 303
    with app.app_context():
        states = {job.dedupe_key: job.state for job in db.session.scalars(select(Job))}
    assert states["failed-1"] == states["failed-2"] == "pending"
    assert states["done"] == "done"


def test_retry_needs_the_csrf_token(
    app: Flask, admin: FlaskClient, made_rows: dict[str, Any]
) -> None:
    response = admin.post(f"/staff/ops/jobs/{made_rows['failed']}/retry")
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(Job, made_rows["failed"]).state == "failed"


def test_queue_depth_says_unreachable_quickly() -> None:
    started = time.monotonic()
    depth = queue_depth("redis://127.0.0.1:1/0", "bureau")
    assert depth.messages is None
    assert depth.error
    assert time.monotonic() - started < 10


# --- with real parts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database_factory: Callable[[], str],
    redis_url: str,
    smtp_server: Any,
) -> Iterator[Stack]:

    folder = tmp_path_factory.mktemp("ops")
    # Not db 14 (test_pipeline's): the two modules may run at the same time.
    broker = redis_url.rsplit("/", 1)[0] + "/12"
    with running_stack(
        folder,
        postgres_database_factory(),
        broker,
        smtp_server.url,
        concurrency=1,
        BUREAU_LOG_FORMAT="json",
    ) as running:
        yield running


@pytest.fixture
def flow(stack: Stack, inbox: Any) -> Iterator[Stack]:
    yield stack
    inbox.release()
    stack.wait_for_quiet()
    reset_bookings(stack.app)


def admin_client(app: Flask) -> FlaskClient:
    staff_member(app, ADMIN, role=Role.ADMIN)
    client = app.test_client()
    assert sign_in(client, ADMIN).status_code == 302
    return client


def heartbeat_rows(app: Flask) -> dict[str, Heartbeat]:
    return {b.name: b for b in detached(app, select(Heartbeat))}


@pytest.mark.slow  # a real worker and beat
def test_a_real_worker_and_beat_write_heartbeats(flow: Stack) -> None:
    # Beat writes as it starts, a moment after its "Starting" line.
    beats = wait_until(
        lambda: (rows := heartbeat_rows(flow.app)) and "beat" in rows and rows, 10, "beat's row"
    )
    workers = [b for b in beats.values() if b.kind == "worker"]
    assert len(workers) == 1
    assert workers[0].name.startswith("worker:celery@")
    assert workers[0].hostname == socket.gethostname()
    assert flow.worker.process is not None
    assert workers[0].pid == flow.worker.process.pid
    assert "beat" in beats
    page = admin_client(flow.app).get("/staff/ops").get_data(as_text=True)
    assert number(page, "workers-seen") == "1"
    assert number(page, "beat-last-run").endswith("s ago")
    ready = flow.app.test_client().get("/readyz").get_json()
    assert ready["checks"]["workers"]["fresh"] == 1
    assert ready["checks"]["beat"]["last_run_age"] < 30


@pytest.mark.slow  # a real worker and beat
def test_container_checks_see_the_heartbeats(flow: Stack) -> None:
    found = bureau_cli(flow.app, "ops", "check", "worker")
    assert found.exit_code == 0, found.stderr
    here = bureau_cli(flow.app, "ops", "check", "worker", "--hostname", socket.gethostname())
    assert here.exit_code == 0, here.stderr
    elsewhere = bureau_cli(flow.app, "ops", "check", "worker", "--hostname", "no-such-host")
    assert elsewhere.exit_code == 1
    assert (
        elsewhere.stderr.strip().splitlines()[-1].startswith("unhealthy: no worker on no-such-host")
    )
    beat = bureau_cli(flow.app, "ops", "check", "beat")
    assert beat.exit_code == 0, beat.stderr


def test_checks_fail_when_nothing_runs(app: Flask) -> None:
    with app.app_context():
        db.session.execute(delete(Heartbeat))
        db.session.commit()
    worker = bureau_cli(app, "ops", "check", "worker")
    assert worker.exit_code == 1
    assert worker.stderr.strip() == "unhealthy: no worker wrote a heartbeat in the last 90 s"
    beat = bureau_cli(app, "ops", "check", "beat")
    assert beat.exit_code == 1
    assert beat.stderr.strip().startswith("unhealthy: beat has not run")


def test_queue_depth_counts_messages_nobody_consumes(
    tmp_path: Path, stack: Stack, postgres_database_factory: Callable[[], str]
) -> None:
    import redis

    # The stack's Redis database, but a queue of its own that no worker consumes, and a
    # database of its own that no sweeper reads.
    broker = stack.env["BUREAU_BROKER_URL"]
    queue = f"ops-test-{uuid.uuid4().hex[:8]}"
    database = postgres_database_factory()
    idle = make_app(
        tmp_path,
        database,
        **{
            **{k: v for k, v in stack.env.items() if k.startswith("BUREAU_")},
            "BUREAU_INSTANCE_PATH": str(tmp_path),
            "BUREAU_DATABASE_URL": database,
        },
    )
    migrate_and_seed(idle)
    idle.extensions["celery"].conf.task_default_queue = queue
    try:
        assert queue_depth(broker, queue).messages == 0
        for n in range(3):
            response = idle.test_client().post(
                "/api/v1/requests", json=valid_request(event_name=f"Depth {n}")
            )
            assert response.status_code == 201
        assert queue_depth(broker, queue).messages == 3
        page = admin_client(idle).get("/staff/ops").get_data(as_text=True)
        assert number(page, "queue-depth") == "3"
        assert idle.test_client().get("/readyz").get_json()["checks"]["queue"] == {
            "name": queue,
            "messages": 3,
        }
    finally:
        redis.Redis.from_url(broker).delete(queue)


@pytest.mark.slow  # a real worker and beat
def test_retry_of_a_failed_email_is_sent_once_by_the_worker(flow: Stack, inbox: Any) -> None:
    inbox.script("li.na@example.com", "550 5.1.1 No such user")
    reference = (
        flow.app.test_client()
        .post("/api/v1/requests", json=valid_request())
        .get_json()["reference"]
    )

    def failed() -> Job | None:
        jobs = flow.jobs(kind="mail.acknowledgement", state="failed")
        return jobs[0] if jobs else None

    job = wait_until(failed, 90, "the acknowledgement to fail")
    assert inbox.to("li.na@example.com") == []
    admin = admin_client(flow.app)
    page = admin.get("/staff/ops").get_data(as_text=True)
    assert reference in page
    response = admin.post(f"/staff/ops/jobs/{job.id}/retry", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 303
    inbox.wait_for(lambda i: i.to("li.na@example.com"), what="the retried acknowledgement")
    wait_until(lambda: flow.jobs(id=job.id)[0].state == "done", what="the job to be done")
    # Done, and the only job for its key: nothing can claim and send it again.
    [retried] = flow.jobs(dedupe_key=job.dedupe_key)
    assert (retried.id, retried.state) == (job.id, "done")
    assert len(inbox.to("li.na@example.com")) == 1


@pytest.mark.slow  # a real worker and beat
def test_request_id_from_the_web_into_the_workers_json_lines(flow: Stack, inbox: Any) -> None:
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "bureau", "web", "--port", str(port), "--workers", "1"],
        env=flow.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: _answers(port), 60, "the web server")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/requests",
            data=json.dumps(valid_request()).encode(),
            headers={"Content-Type": "application/json", "X-Request-ID": "e2e-7f3a"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 201
            assert answer.headers["X-Request-ID"] == "e2e-7f3a"
        forged = urllib.request.Request(
            f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "x" * 65}
        )
        with urllib.request.urlopen(forged, timeout=10) as answer:
            replaced = answer.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", replaced)
        inbox.wait_for(lambda i: i.to("li.na@example.com"), what="the acknowledgement")
    finally:
        os.killpg(web.pid, 15)
        output, _ = web.communicate(timeout=20)
    web_lines = [json.loads(line) for line in output.decode().splitlines() if line.strip()]
    access = [r for r in web_lines if r["logger"] == "bureau.access"]
    assert {"e2e-7f3a", replaced} <= {r["request_id"] for r in access}
    # The worker's lines for the route job (and the emails it recorded) carry the id.
    [route] = flow.jobs(kind="route")
    assert route.request_id == "e2e-7f3a"
    worker_lines = [
        json.loads(line)
        for line in flow.worker.log.read_text().splitlines()
        if line.startswith("{")
    ]
    for_route = [r for r in worker_lines if r.get("job_id") == route.id]
    assert for_route
    assert {r["request_id"] for r in for_route} == {"e2e-7f3a"}
    assert {r["task"] for r in for_route} == {"bureau.bookings.route"}
    mails = flow.jobs(booking_id=route.booking_id, task=MAIL_TASK)
    assert mails
    assert {m.request_id for m in mails} == {"e2e-7f3a"}
    assert {r["request_id"] for r in worker_lines if r.get("job_id") in {m.id for m in mails}} == {
        "e2e-7f3a"
    }


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
            return True
    except OSError:
        return False
