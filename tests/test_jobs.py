"""The outbox: dedupe, claims, retries with backoff, permanent failure, the sweeper."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select, update

from bureau.db import utcnow
from bureau.extensions import db
from bureau.mail.transport import reuse_smtp_connections
from bureau.ops.heartbeat import (
    WORKER_INTERVAL,
    WORKER_STALE_AFTER,
    record_heartbeat,
    release_previous_claims,
    release_silent_workers,
)
from bureau.ops.models import Heartbeat
from bureau.outbox import (
    HANDLERS,
    MAX_ATTEMPTS,
    Job,
    JobSpec,
    JobState,
    PermanentError,
    TransientError,
    claim,
    execute,
    holder,
    record_job,
    record_jobs,
    release_held_by,
    retry_delay,
    run_job,
    sweep,
)
from bureau.outbox.hooks import AROUND_TASKS


@pytest.fixture
def session(app: Flask) -> Any:
    with app.app_context():
        yield db.session
        db.session.rollback()


def new_job(session: Any, sequence: int = 0) -> Job:
    job = record_job(
        session, "bureau.test.noop", "test", recipient="x@example.com", sequence=sequence
    )
    assert job is not None
    session.commit()
    return job


def test_recording_the_same_effect_twice_is_a_no_op(session: Any) -> None:
    first = new_job(session)
    assert record_job(session, "bureau.test.noop", "test", recipient="X@example.com") is None
    assert new_job(session, sequence=1).id != first.id
    assert session.scalar(select(Job.id).where(Job.kind == "test").limit(5)) is not None
    assert len(session.scalars(select(Job).where(Job.kind == "test")).all()) == 2


def test_several_jobs_recorded_in_one_insert_keep_their_order_and_dedupe(
    session: Any,
) -> None:
    """record_jobs: one INSERT; each spec's job at its place, None for one that exists
    already or repeats an earlier spec of the same call."""
    from sqlalchemy import event

    existing = new_job(session, sequence=7)
    specs = [
        JobSpec("bureau.test.noop", "test", recipient="a@example.com", sequence=8),
        JobSpec("bureau.test.noop", "test", recipient="x@example.com", sequence=7),
        JobSpec("bureau.test.noop", "test", recipient="b@example.com", sequence=8),
        JobSpec("bureau.test.noop", "test", recipient="a@example.com", sequence=8),
    ]
    inserts: list[str] = []

    def on_statement(*args: Any) -> None:
        if args[2].startswith("INSERT INTO jobs"):
            inserts.append(args[2])

    event.listen(db.engine, "before_cursor_execute", on_statement)
    try:
        jobs = record_jobs(session, specs)
    finally:
        event.remove(db.engine, "before_cursor_execute", on_statement)
    assert len(inserts) == 1
    first, again, second, repeated = jobs
    assert again is None
    assert repeated is None
    assert first is not None
    assert second is not None
    assert (first.recipient, second.recipient) == ("a@example.com", "b@example.com")
    assert existing.id not in (first.id, second.id)
    session.commit()
    recipients = session.scalars(
        select(Job.recipient).where(Job.kind == "test").order_by(Job.id)
    ).all()
    assert recipients == ["x@example.com", "a@example.com", "b@example.com"]


def test_a_job_is_claimed_once(session: Any) -> None:
    job = new_job(session)
    assert claim(session, job.id) is not None
    assert claim(session, job.id) is None  # a second delivery finds it held


def test_an_abandoned_claim_can_be_taken_over(session: Any) -> None:
    job = new_job(session)
    assert claim(session, job.id) is not None
    later = utcnow() + timedelta(seconds=3600)
    taken = claim(session, job.id, now=later)
    assert taken is not None
    assert taken.attempts == 2


def test_success_marks_done_and_keeps_the_handlers_changes(session: Any) -> None:
    job = new_job(session)
    calls: list[int] = []

    def handler(s: Any, j: Job) -> None:
        calls.append(j.id)
        j.payload = {"seen": True}

    outcome = run_job(session, job.id, handler)
    assert outcome is not None
    assert outcome.state == JobState.DONE
    assert run_job(session, job.id, handler) is None  # done: a repeat does nothing
    assert calls == [job.id]
    stored = session.get(Job, job.id, populate_existing=True)
    assert (stored.state, stored.payload, stored.attempts) == ("done", {"seen": True}, 1)


def test_a_task_and_its_follow_ups_run_inside_what_features_register(
    session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hooks.around_tasks: the outbox knows no feature, yet the mail feature's one SMTP
    connection per task surrounds a job and the follow-ups it records, and ends after them."""
    assert reuse_smtp_connections in AROUND_TASKS  # registered by the mail feature
    events: list[str] = []

    @contextmanager
    def around() -> Iterator[None]:
        events.append("enter")
        yield
        events.append("exit")

    def first(s: Any, j: Job) -> None:
        events.append("first")
        record_job(s, "bureau.test.second", "test-follow-up", recipient="y@example.com")

    monkeypatch.setitem(HANDLERS, "bureau.test.second", lambda s, j: events.append("second"))
    monkeypatch.setattr("bureau.outbox.worker.AROUND_TASKS", [*AROUND_TASKS, around])
    job = new_job(session)
    assert execute("bureau.test.noop", job.id, first) == "done"
    assert events == ["enter", "first", "second", "exit"]
    states = db.session.scalars(select(Job.state).where(Job.kind.startswith("test"))).all()
    assert set(states) == {"done"}


def test_transient_error_schedules_a_retry_and_rolls_back(session: Any) -> None:
    job = new_job(session)

    def handler(s: Any, j: Job) -> None:
        j.payload = {"half": "done"}
        raise TransientError("421 try later")

    outcome = run_job(session, job.id, handler)
    assert outcome is not None
    assert outcome.state == JobState.PENDING
    assert outcome.retry_in is not None
    assert outcome.retry_in > 0
    stored = session.get(Job, job.id, populate_existing=True)
    assert stored.state == "pending"
    assert stored.payload == {}  # the failed attempt's changes are gone
    assert "421 try later" in stored.last_error
    assert stored.run_after > utcnow()


def test_permanent_error_fails_at_once_with_the_error_kept(session: Any) -> None:
    job = new_job(session)

    def handler(s: Any, j: Job) -> None:
        raise PermanentError("550 no such mailbox")

    outcome = run_job(session, job.id, handler)
    assert outcome is not None
    assert outcome.state == JobState.FAILED
    stored = session.get(Job, job.id, populate_existing=True)
    assert (stored.state, stored.last_error) == ("failed", "550 no such mailbox")
    assert run_job(session, job.id, handler) is None  # not retried


def test_unexpected_errors_retry_but_not_forever(session: Any) -> None:
    job = new_job(session)

    def handler(s: Any, j: Job) -> None:
        raise RuntimeError("bug")

    states = []
    for _ in range(MAX_ATTEMPTS):
        outcome = run_job(session, job.id, handler)
        assert outcome is not None
        states.append(outcome.state)
    assert states == ["pending"] * (MAX_ATTEMPTS - 1) + ["failed"]
    stored = session.get(Job, job.id, populate_existing=True)
    assert stored.last_error.startswith("gave up: RuntimeError: bug")


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    delays = [retry_delay(n, 10.0) for n in range(1, 6)]
    for n, delay in enumerate(delays, start=1):
        step = 10.0 * 2 ** (n - 1)
        assert 0.5 * step <= delay < 1.5 * step
    assert retry_delay(40, 10.0) < 1.5 * 3600
    assert len({round(retry_delay(3, 10.0), 6) for _ in range(20)}) > 1  # jittered


def test_sweeper_re_enqueues_overdue_and_orphaned_jobs(session: Any, enqueued: list[int]) -> None:
    fresh = new_job(session, sequence=1)
    overdue = new_job(session, sequence=2)
    orphan = new_job(session, sequence=3)
    finished = new_job(session, sequence=4)
    now = utcnow()
    overdue.run_after = overdue.updated_at = now - timedelta(minutes=5)
    claim(session, orphan.id, now=now - timedelta(hours=2))  # claimed, lease long gone
    finished.state = JobState.DONE
    finished.run_after = now - timedelta(minutes=5)
    session.commit()
    enqueued.clear()  # forget the sends that followed each commit
    assert sweep(session, now=now) == 2
    assert sorted(enqueued) == sorted([overdue.id, orphan.id])
    assert fresh.id not in enqueued


def test_sweeper_leaves_alone_what_waits_on_a_backlogged_queue(
    session: Any, enqueued: list[int]
) -> None:
    jobs = [new_job(session, sequence=n) for n in range(6)]
    now = utcnow()
    for age, job in zip(range(60, 0, -10), jobs, strict=True):  # oldest first, all overdue
        job.run_after = job.updated_at = now - timedelta(minutes=age)  # recorded and sent then
    session.commit()
    enqueued.clear()  # forget the sends that followed each commit
    assert sweep(session, now=now, queued=6) == 0  # every pending job may be queued
    assert sweep(session, now=now, queued=9) == 0  # more messages than pending jobs
    # Four messages wait on the queue: the four jobs sent last; the two sent before were lost.
    assert sweep(session, now=now, queued=4) == 2
    assert enqueued == [jobs[0].id, jobs[1].id]
    enqueued.clear()
    # Those two are at the back of the queue now, sent again a moment ago: even a sweep that
    # finds the queue empty leaves them alone for a sweep interval, and sends the four others.
    assert sweep(session, now=now, queued=0) == 4
    assert sorted(enqueued) == sorted(job.id for job in jobs[2:])
    enqueued.clear()
    later = now + timedelta(minutes=5)
    assert sweep(session, now=later, queued=None) == 6  # the broker did not say: every due one


def test_beat_sweep_reads_the_real_queue_and_resends_only_lost_jobs(
    app: Flask, tmp_path: Any, redis_url: str
) -> None:
    """On Redis with no worker: jobs sent after commit wait on the queue; jobs recorded while
    the broker was away were never sent. The sweep task sends those, and only those."""
    import redis

    from bureau.maintenance import sweep_jobs
    from tests.conftest import make_app

    database = app.config["SQLALCHEMY_DATABASE_URI"]
    broker = redis.Redis.from_url(redis_url)
    broker.flushdb()
    away = make_app(tmp_path / "away", database, BUREAU_BROKER_URL="redis://127.0.0.1:1/0")
    up = make_app(tmp_path / "up", database, BUREAU_BROKER_URL=redis_url)
    with away.app_context():
        lost = [new_job(db.session, sequence=n).id for n in range(3)]
    with up.app_context():
        queued = [new_job(db.session, sequence=n).id for n in range(3, 8)]
        queue = up.extensions["celery"].conf.task_default_queue
        assert broker.llen(queue) == len(queued)
        # An hour passes; the queue is still as long (the workers are behind).
        hour_ago = utcnow() - timedelta(hours=1)
        for ids, at in ((lost, hour_ago - timedelta(minutes=1)), (queued, hour_ago)):
            db.session.execute(
                update(Job).where(Job.id.in_(ids)).values(run_after=at, updated_at=at)
            )
        db.session.commit()
        assert sweep_jobs() == len(lost)
        waiting = [json.loads(m)["headers"]["kwargsrepr"] for m in broker.lrange(queue, 0, -1)]
        assert len(waiting) == len(lost) + len(queued)
        assert sorted(waiting[: len(lost)]) == sorted(f"{{'job_id': {i}}}" for i in lost)
        assert sweep_jobs() == 0  # now every pending job is on the queue
    broker.flushdb()


def test_enqueue_failure_keeps_the_job_pending(app: Flask, tmp_path: Any) -> None:
    from tests.conftest import make_app

    broken = make_app(
        tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], BUREAU_BROKER_URL="redis://127.0.0.1:1/0"
    )
    with broken.app_context():
        job = record_job(db.session, "bureau.test.noop", "test", sequence=9)
        assert job is not None
        db.session.commit()  # the after-commit send fails; the commit does not
        assert db.session.get(Job, job.id).state == "pending"


def held_by(session: Any, who: str, sequence: int) -> Job:
    job = new_job(session, sequence=sequence)
    claimed = claim(session, job.id)
    assert claimed is not None
    claimed.locked_by = who
    session.commit()
    return claimed


def test_a_claim_says_who_holds_it_until_the_job_ends(session: Any) -> None:
    job = new_job(session)
    assert job.locked_by is None
    claimed = claim(session, job.id)
    assert claimed is not None
    assert claimed.locked_by == holder()
    assert holder().endswith(f":{os.getpid()}")
    assert run_job(session, job.id, lambda s, j: None, claimed=claimed) is not None
    done = session.get(Job, job.id)
    assert (done.state, done.locked_by, done.locked_until) == (JobState.DONE, None, None)


def test_the_claims_of_a_dead_process_are_released_and_sent_again(
    session: Any, enqueued: list[int]
) -> None:
    dead = held_by(session, "worker@a:100", 1)
    alive = held_by(session, "worker@a:101", 2)
    other_node = held_by(session, "worker@b:100", 3)
    enqueued.clear()
    assert release_held_by(session, holder="worker@a:100") == [dead.id]
    assert enqueued == [dead.id]
    # The lease has ended: the next delivery claims it, and the attempt that died counts.
    again = claim(session, dead.id)
    assert again is not None
    assert again.attempts == 2
    assert claim(session, alive.id) is None
    assert claim(session, other_node.id) is None


def test_a_restarted_node_releases_only_its_own_running_jobs(
    session: Any, enqueued: list[int]
) -> None:
    mine = [held_by(session, "w%1_x@a:7", 1), held_by(session, "w%1_x@a:8", 2)]
    lookalike = held_by(session, "w%1yx@a:9", 3)  # "_" and "%" are not wildcards
    finished = held_by(session, "w%1_x@a:7", 4)
    run_job(session, finished.id, lambda s, j: None, claimed=finished)
    pending = new_job(session, sequence=5)
    enqueued.clear()
    released = release_held_by(session, node="w%1_x@a")
    assert sorted(released) == sorted(job.id for job in mine)
    assert sorted(enqueued) == sorted(released)
    assert claim(session, lookalike.id) is None
    assert session.get(Job, pending.id).state == JobState.PENDING
    with pytest.raises(ValueError, match="holder or a node"):
        release_held_by(session)


@pytest.mark.parametrize(
    ("beat", "released"),
    [
        (None, True),  # first start under this name
        ({"stopped": True}, True),  # a warm shutdown (nothing should be held, but still)
        ({"age": 600}, True),  # silent for long: dead
        ({"pid": "dead"}, True),  # fresh, this machine, the process is gone
        ({"pid": "self"}, True),  # a restarted container: the same pid as before
        ({"pid": "alive"}, False),  # another live worker using the same name
        ({"hostname": "elsewhere", "pid": "dead"}, False),  # another machine: cannot tell
    ],
)
def test_a_starting_worker_releases_what_its_earlier_run_held(
    session: Any, enqueued: list[int], beat: dict[str, Any] | None, released: bool
) -> None:
    node = f"worker@case-{secrets.token_hex(4)}"
    job = held_by(session, f"{node}:4242", 1)
    if beat is not None:
        record_heartbeat(session, f"worker:{node}", "worker")
        row = session.get(Heartbeat, f"worker:{node}")
        row.pid = {"dead": _dead_pid(), "self": os.getpid(), "alive": os.getppid()}.get(
            beat.get("pid", "alive"), row.pid
        )
        row.hostname = beat.get("hostname", socket.gethostname())
        row.last_seen = utcnow() - timedelta(seconds=beat.get("age", 0))
        row.stopped_at = utcnow() if beat.get("stopped") else None
        session.commit()
    enqueued.clear()
    try:
        assert release_previous_claims(session, node) == ([job.id] if released else [])
        assert (enqueued == [job.id]) is released
    finally:  # a fresh worker heartbeat would show on other tests' ops page (PostgreSQL)
        session.execute(delete(Heartbeat).where(Heartbeat.name == f"worker:{node}"))
        session.commit()


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_silent_workers_claims_are_released_by_the_sweep(
    session: Any, enqueued: list[int]
) -> None:
    tag = secrets.token_hex(4)
    silent, alive = f"worker@silent-{tag}", f"worker@alive-{tag}"
    held = {
        "silent": held_by(session, f"{silent}:11", 1),
        "alive": held_by(session, f"{alive}:12", 2),
        "no heartbeat": held_by(session, f"web-{tag}:13", 3),  # not a worker: left to its lease
    }
    for node, age in ((silent, WORKER_STALE_AFTER + 5), (alive, WORKER_INTERVAL)):
        record_heartbeat(session, f"worker:{node}", "worker")
        session.get(Heartbeat, f"worker:{node}").last_seen = utcnow() - timedelta(seconds=age)
    session.commit()
    enqueued.clear()
    try:
        assert release_silent_workers(session) == [held["silent"].id]
        assert enqueued == [held["silent"].id]
        assert claim(session, held["silent"].id) is not None  # taken over, long before the lease
        assert claim(session, held["alive"].id) is None
        assert claim(session, held["no heartbeat"].id) is None
        assert release_silent_workers(session) == []  # nothing held by it any more
    finally:
        session.execute(delete(Heartbeat).where(Heartbeat.name.like(f"worker:%-{tag}")))
        session.commit()
