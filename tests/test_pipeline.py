"""The worker pipeline with real parts: PostgreSQL, Redis as broker, a Celery worker and beat
in their own processes, and an SMTP server. Submit → routed → emails, and the faults:
broker away at submit, worker killed mid-job, SMTP 421 and 550, a task delivered twice."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bureau.bookings.models import BookingRequest
from bureau.bookings.states import Status
from bureau.extensions import db
from bureau.mail.recipients import MAIL_TASK
from bureau.outbox import Job
from tests.conftest import make_app, reset_bookings, valid_request
from tests.stack import Stack, detached, running_stack, wait_until

# A real worker and beat: slow, left out of a plain `pytest` (.ci/run runs it).
pytestmark = pytest.mark.slow


class Pipeline(Stack):
    def submit(self, **changes: Any) -> dict[str, Any]:
        response = self.app.test_client().post("/api/v1/requests", json=valid_request(**changes))
        assert response.status_code == 201, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    def sent_once(self, **where: Any) -> list[Job]:
        """Once these jobs are all done, no duplicate can follow: a job is sent only by the run
        that claims it while pending, and the outbox holds exactly one job per dedupe key."""
        done = wait_until(
            lambda: (jobs := self.jobs(**where)) and all(j.state == "done" for j in jobs) and jobs,
            what="the jobs to be done",
        )
        keys = Counter(job.dedupe_key for job in done)
        assert set(keys.values()) == {1}, keys
        return list(done)

    def booking(self, reference: str) -> BookingRequest:
        [found] = detached(
            self.app, select(BookingRequest).where(BookingRequest.reference == reference)
        )
        return found


@pytest.fixture(scope="module")
def pipeline(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_database_factory: Callable[[], str],
    redis_url: str,
    smtp_server: Any,
) -> Iterator[Pipeline]:

    folder = tmp_path_factory.mktemp("pipeline")
    broker = redis_url.rsplit("/", 1)[0] + "/14"
    with running_stack(
        folder,
        postgres_database_factory(),
        broker,
        smtp_server.url,
        concurrency=2,  # and the default job lease, 5 minutes: no test here waits for it
    ) as stack:
        yield Pipeline(stack.app, stack.env, stack.worker)


@pytest.fixture
def flow(pipeline: Pipeline, inbox: Any) -> Iterator[Pipeline]:
    yield pipeline
    inbox.release()
    pipeline.wait_for_quiet()
    reset_bookings(pipeline.app)


def test_submit_is_routed_and_both_emails_arrive(flow: Pipeline, inbox: Any) -> None:
    created = flow.submit()
    inbox.wait_for(lambda i: i.to("li.na@example.com") and i.to("china.desk@bureau.localhost"))
    booking = flow.booking(created["reference"])
    assert booking.status == Status.ASSIGNED
    [ack] = inbox.to("li.na@example.com")
    [notice] = inbox.to("china.desk@bureau.localhost")
    assert created["reference"] in str(ack["Subject"])
    assert created["status_url"] in ack.get_body(("plain",)).get_content()
    # The organizer's reply goes to the request's own address, signed (bureau/inbound/).
    assert ack["Reply-To"].addresses[0].addr_spec.startswith(f"bookings+{created['reference']}.")
    assert created["reference"] in str(notice["Subject"])
    states = Counter(job.state for job in flow.jobs(booking_id=booking.id))
    assert states == {"done": 3}
    status = flow.app.test_client().get(created["status_url"].replace("https://bureau.test", ""))
    assert "Greater China desk" in status.get_data(as_text=True)


def test_broker_unreachable_at_submit_loses_nothing(
    flow: Pipeline, inbox: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    away = make_app(
        tmp_path,
        flow.env["BUREAU_DATABASE_URL"],
        **{
            **{k: v for k, v in flow.env.items() if k.startswith("BUREAU_")},
            "BUREAU_INSTANCE_PATH": str(tmp_path),
            "BUREAU_BROKER_URL": "redis://127.0.0.1:1/0",
        },
    )
    response = away.test_client().post("/api/v1/requests", json=valid_request())
    assert response.status_code == 201
    reference = response.get_json()["reference"]
    assert "broker unreachable" in caplog.text  # the web could not send the job…
    booking = flow.booking(reference)
    assert flow.jobs(booking_id=booking.id, kind="route")  # …but it is stored
    # The broker is back (the worker's): beat's sweeper sends the job, the worker routes it.
    inbox.wait_for(lambda i: i.to("li.na@example.com"), what="the acknowledgement")
    assert flow.booking(reference).status == Status.ASSIGNED
    assert len(inbox.to("li.na@example.com")) == 1


def test_worker_killed_mid_job_sends_once_after_restart(flow: Pipeline, inbox: Any) -> None:
    inbox.stall()
    created = flow.submit()
    wait_until(inbox.stalled.is_set, what="the worker to start talking SMTP")
    flow.worker.kill()
    inbox.release()
    time.sleep(0.5)
    assert inbox.messages == []
    flow.worker.start()  # under the same node name: it releases what its dead run held
    inbox.wait_for(lambda i: i.to("li.na@example.com") and i.to("china.desk@bureau.localhost"))
    assert "jobs of an earlier run of celery@" in flow.worker.log.read_text()
    booking = flow.booking(created["reference"])
    mails = flow.sent_once(booking_id=booking.id, task=MAIL_TASK)
    assert len(inbox.to("li.na@example.com")) == 1
    assert len(inbox.to("china.desk@bureau.localhost")) == 1
    assert max(job.attempts for job in mails) >= 2  # the killed attempt counted


def test_a_pool_process_killed_mid_job_is_replaced_and_sends_once(
    flow: Pipeline, inbox: Any
) -> None:
    """The OOM killer's usual victim: one pool process, not the worker. Its main process
    releases the jobs the dead process held; another process sends them, in seconds."""
    inbox.stall()
    created = flow.submit()
    wait_until(inbox.stalled.is_set, what="the worker to start talking SMTP")
    booking = flow.booking(created["reference"])
    holders = {job.locked_by for job in flow.jobs(booking_id=booking.id, state="running")}
    [holder] = holders  # the routing's two emails, claimed by the process that routed it
    node, _, pid = (holder or "").rpartition(":")
    assert node.startswith("celery@")
    assert flow.worker.process is not None
    assert int(pid) != flow.worker.process.pid
    os.kill(int(pid), signal.SIGKILL)
    inbox.release()
    inbox.wait_for(lambda i: i.to("li.na@example.com") and i.to("china.desk@bureau.localhost"))
    mails = flow.sent_once(booking_id=booking.id, task=MAIL_TASK)
    assert len(inbox.to("li.na@example.com")) == 1
    assert len(inbox.to("china.desk@bureau.localhost")) == 1
    assert flow.worker.process.poll() is None  # the worker itself lives on
    assert f"jobs of {holder}, which died" in flow.worker.log.read_text()
    assert {(job.state, job.locked_by) for job in mails} == {("done", None)}
    assert max(job.attempts for job in mails) >= 2


def test_smtp_421_is_retried_then_sent(flow: Pipeline, inbox: Any) -> None:
    inbox.script("li.na@example.com", "421 4.3.2 Busy", "421 4.3.2 Still busy")
    created = flow.submit()
    inbox.wait_for(lambda i: i.to("li.na@example.com"), what="the acknowledgement")
    booking = flow.booking(created["reference"])
    [ack] = flow.sent_once(booking_id=booking.id, kind="mail.acknowledgement")
    assert len(inbox.to("li.na@example.com")) == 1
    assert ack.attempts == 3
    assert "421" in (ack.last_error or "")


def test_smtp_550_fails_visibly_and_is_not_retried(flow: Pipeline, inbox: Any) -> None:
    inbox.script("li.na@example.com", "550 5.1.1 No such user")
    created = flow.submit()
    booking_id = wait_until(lambda: flow.booking(created["reference"]).id)

    def failed() -> Job | None:
        jobs = flow.jobs(booking_id=booking_id, kind="mail.acknowledgement")
        return jobs[0] if jobs and jobs[0].state == "failed" else None

    ack = wait_until(failed, what="the acknowledgement to fail")
    assert "550 5.1.1 No such user" in (ack.last_error or "")
    inbox.wait_for(lambda i: i.to("china.desk@bureau.localhost"))  # the other email still goes
    # Failed is final: no run claims the job again, so no second attempt can follow.
    [still] = flow.jobs(booking_id=booking_id, kind="mail.acknowledgement")
    assert (still.state, still.attempts) == ("failed", 1)
    assert inbox.attempts["li.na@example.com"] == 1
    assert inbox.to("li.na@example.com") == []


def test_the_same_task_delivered_twice_sends_one_email(flow: Pipeline, inbox: Any) -> None:
    created = flow.submit()
    inbox.wait_for(lambda i: i.to("li.na@example.com"))
    booking = flow.booking(created["reference"])
    with flow.app.app_context():
        # A job written without the after-commit send, then delivered twice at once.
        job = Job(
            task=MAIL_TASK,
            kind="mail.acknowledgement",
            booking_id=booking.id,
            recipient="twice@example.com",
            sequence=1,
            dedupe_key="test:twice",
            payload={
                "template": "acknowledgement",
                "to_name": "Twice",
                "to_email": "twice@example.com",
            },
        )
        db.session.add(job)
        db.session.commit()
        celery = flow.app.extensions["celery"]
        for _ in range(2):
            celery.send_task(MAIL_TASK, kwargs={"job_id": job.id})
    inbox.wait_for(lambda i: i.to("twice@example.com"))
    # One claim (attempts 1) and done: the other delivery found it done and sent nothing,
    # and nothing can claim a done job again.
    [once] = flow.sent_once(dedupe_key="test:twice")
    assert once.attempts == 1
    assert len(inbox.to("twice@example.com")) == 1


def test_concurrent_routing_spreads_the_load(flow: Pipeline, inbox: Any) -> None:
    # Virtual, in an area no regional rule covers, no tech topic: the "Everyone else" pool.
    references = [
        flow.submit(
            speakers=["rupert-hoogewerf"],
            virtual=True,
            city=...,
            country=...,
            timezone="Africa/Nairobi",
        )["reference"]
        for _ in range(24)
    ]

    def routed() -> list[BookingRequest] | None:
        rows = detached(flow.app, select(BookingRequest))
        done = [b for b in rows if b.reference in references and b.status != Status.NEW]
        return done if len(done) == len(references) else None

    bookings = wait_until(routed, 60, "all requests to be routed")
    loads = Counter(b.assigned_staff_id for b in bookings)
    assert len(loads) == 4
    assert set(loads.values()) == {6}
