"""Load and faults under load, with the production processes: gunicorn (4 sync workers, the
production config file), two Celery workers and beat, on a fresh PostgreSQL database, a Redis
server of this test's own (so it can be killed and restarted) and an SMTP sink.

``test_load``: LOAD_REQUESTS submissions through the JSON API at concurrency 32; then every
201 is one request, routed once, acknowledged by exactly one email, and the outbox is empty.
``test_faults_under_load``: FAULT_REQUESTS submissions while Redis is killed and restarted,
a worker is SIGKILLed and replaced, PostgreSQL drops every connection of the database three
times and the SMTP server answers 421 for a while; then the same, and nothing half-stored for
the submissions that got no 201.

They take a few minutes (a plain ``pytest`` leaves them out; ``-m load`` runs them). Both
print their figures (``-s`` shows them; pytest's ``-rA`` too).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from bench.mailsink import Received, SMTPSink, free_port
from bench.pipeline import ApiClient, Submission, percentile, request_body, submit_concurrently
from bench.processes import Child, wait_for
from tests.conftest import make_app, migrate_and_seed
from tests.services import RedisServer

pytestmark = [pytest.mark.load, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parent.parent
LOAD_REQUESTS = 2000
FAULT_REQUESTS = 1000
CONCURRENCY = 32
SETTLE_TIMEOUT = 240.0  # seconds after the last answer for the outbox to empty
# Outbox timing small enough that recovery takes seconds, not minutes: a lost message is
# re-sent within two sweeps, a killed worker's job after its lease.
OUTBOX_SETTINGS = {
    "BUREAU_JOB_RETRY_BASE": "0.5",
    "BUREAU_JOB_LEASE": "15",
    "BUREAU_SWEEP_INTERVAL": "2",
}
REFERENCE = re.compile(r"BR-\d{4}-\d+")
ACK_SUBJECT = re.compile(r"We received your request (BR-\d{4}-\d+)")
NOTICE_SUBJECT = re.compile(r"New request (BR-\d{4}-\d+) for you")


@dataclass
class Deployment:
    folder: Path
    database: str
    engine: Engine  # AUTOCOMMIT, on the test's database
    admin: Engine  # AUTOCOMMIT, on the server's maintenance database
    redis: RedisServer
    smtp: SMTPSink
    env: dict[str, str]
    web_port: int
    web: Child | None = None
    beat: Child | None = None
    workers: list[Child] = field(default_factory=list)
    started: int = 0

    def start_worker(self) -> Child:
        self.started += 1
        worker = Child(
            f"worker{self.started}",
            # `bureau worker`: the production command and the options it gives Celery.
            [sys.executable, "-m", "bureau", "worker", "--hostname", f"load{self.started}@%h",
             "--concurrency", "2", "--pool", "prefork", "--loglevel", "WARNING"],
            env=self.env, cwd=ROOT, log=self.folder / f"worker{self.started}.log",
        )  # fmt: skip
        worker.start()
        self.workers.append(worker)
        return worker

    def children(self) -> list[Child]:
        return [c for c in (self.web, self.beat, *self.workers) if c is not None]

    def check_alive(self) -> None:
        for child in self.children():
            if child.process is not None and child.process.returncode is None:
                child.check()

    def query(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def drop_connections(self) -> int:
        """pg_terminate_backend every connection to the test's database; how many."""
        with self.admin.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                        "FROM pg_stat_activity WHERE datname = :name "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"name": self.database},
                ).scalar_one()
            )

    def stop_processes(self) -> None:
        for child in self.children():
            child.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {c.name} log\n{c.tail(30)}" for c in self.children())


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, postgres_database_factory: Callable[[], str]
) -> Iterator[Deployment]:
    with deployed(
        tmp_path_factory.mktemp("load"), postgres_database_factory(), OUTBOX_SETTINGS
    ) as d:
        yield d


@contextlib.contextmanager
def deployed(
    folder: Path, database_url: str, outbox_settings: dict[str, str]
) -> Iterator[Deployment]:
    """The production shape on a fresh database, with these outbox settings; two workers."""
    from sqlalchemy import update
    from sqlalchemy.engine import make_url

    redis_server = RedisServer(folder)
    name = make_url(database_url).database
    assert name is not None
    smtp = SMTPSink(keep_headers=True)
    web_port = free_port()
    # Production, with every service it requires named: the settings, checks and headers a
    # deployment runs with (secure cookies and HSTS do not matter to a JSON client).
    settings = {
        "BUREAU_ENV": "production",
        "BUREAU_SECRET_KEY": secrets.token_hex(32),
        "BUREAU_INSTANCE_PATH": str(folder / "instance"),
        "BUREAU_DATABASE_URL": database_url,
        "BUREAU_BROKER_URL": f"{redis_server.url}/0",
        "BUREAU_REDIS_URL": f"{redis_server.url}/1",
        "BUREAU_SMTP_URL": smtp.url,
        "BUREAU_BASE_URL": f"http://127.0.0.1:{web_port}",
        # The clients all come from 127.0.0.1: the per-client limit must not be what is tested.
        "BUREAU_SUBMIT_RATE_LIMIT": "1000000 per minute",
        **outbox_settings,
    }
    app = make_app(folder / "instance", database_url, BUREAU_BASE_URL=settings["BUREAU_BASE_URL"])
    migrate_and_seed(app)
    from bureau.extensions import db
    from bureau.staff.models import StaffMember

    with app.app_context():
        # Room for every request (the demo desks take 20 each): all are routed to a person.
        db.session.execute(update(StaffMember).values(capacity=1_000_000))
        db.session.commit()
        db.engine.dispose()

    env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_")} | settings
    env |= {"PYTHONUNBUFFERED": "1"}
    deployment = Deployment(
        folder=folder,
        database=name,
        engine=create_engine(database_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True),
        admin=create_engine(
            make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
        ),
        redis=redis_server,
        smtp=smtp,
        env=env,
        web_port=web_port,
    )
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(deployment.admin.dispose)
        cleanup.callback(deployment.engine.dispose)
        redis_server.start()
        cleanup.callback(redis_server.stop)
        smtp.start()
        cleanup.callback(smtp.stop)
        deployment.web = Child(
            "web",
            [sys.executable, "-m", "gunicorn", "-c", "python:bureau.gunicorn_conf",
             "--workers", "4", "--bind", f"127.0.0.1:{web_port}", "bureau:create_app()"],
            env=env, cwd=ROOT, log=folder / "web.log",
        )  # fmt: skip
        deployment.beat = Child(
            "beat",
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", "beat",
             "--schedule", str(folder / "beat-schedule"), "--loglevel", "WARNING"],
            env=env, cwd=ROOT, log=folder / "beat.log",
        )  # fmt: skip
        for child in (deployment.web, deployment.beat):
            child.start()
        for _ in range(2):
            deployment.start_worker()
        cleanup.callback(deployment.stop_processes)
        wait_for(lambda: _web_ready(deployment), 90, "gunicorn to answer /readyz")
        wait_for(lambda: _workers_ready(deployment), 90, "both workers' heartbeats")
        yield deployment


def _web_ready(deployment: Deployment) -> bool:
    deployment.check_alive()
    api = ApiClient(deployment.web_port)
    try:
        return api.get("/readyz") == 200
    except OSError:
        return False
    finally:
        api.close()


def _workers_ready(deployment: Deployment) -> bool:
    deployment.check_alive()
    rows = deployment.query("SELECT count(*) FROM heartbeats WHERE name LIKE 'worker:load%'")
    return int(rows[0][0]) >= 2


# --- one run of submissions


@dataclass
class Run:
    tag: str
    submissions: list[Submission]
    started: float
    answered: float = 0.0
    settled: float = 0.0

    @property
    def accepted(self) -> list[Submission]:
        return [s for s in self.submissions if s.status == 201]

    @property
    def refused(self) -> list[Submission]:
        return [s for s in self.submissions if s.status != 201]

    def answered_count(self) -> int:
        return sum(1 for s in self.submissions if s.answered_at)


def submit(deployment: Deployment, tag: str, n: int) -> tuple[Run, list[threading.Thread]]:
    emails = [f"load-{tag}-{i}@example.com" for i in range(n)]
    bodies = [request_body(i, e) | {"event_name": f"{tag} {i}"} for i, e in enumerate(emails)]
    submissions = [Submission(email) for email in emails]
    run = Run(tag, submissions, time.monotonic())
    threads = submit_concurrently(deployment.web_port, submissions, bodies, CONCURRENCY)
    return run, threads


def finish(deployment: Deployment, run: Run, threads: list[threading.Thread]) -> None:
    """Wait for the clients, then for the outbox to empty (printing progress)."""
    for thread in threads:
        thread.join(timeout=600)
    run.answered = max(s.answered_at for s in run.submissions)
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last_print = 0.0
    quiet_since: float | None = None
    while True:
        deployment.check_alive()
        states = outbox_states(deployment)
        unfinished = states.get("pending", 0) + states.get("running", 0)
        now = time.monotonic()
        if now - last_print >= 5:
            print(f"  [{now - run.started:5.1f} s] outbox {dict(sorted(states.items()))}, "
                  f"{deployment.smtp.sink.count()} emails received")  # fmt: skip
            last_print = now
        if unfinished == 0:
            # Twice in a row, a second apart: nothing was between two states.
            if quiet_since is not None and now - quiet_since >= 1:
                run.settled = quiet_since
                return
            quiet_since = quiet_since or now
        else:
            quiet_since = None
        if now > deadline:
            raise AssertionError(
                f"the outbox did not settle in {SETTLE_TIMEOUT:.0f} s after the last answer: "
                f"{states}\n{deployment.logs()}"
            )
        time.sleep(0.5)


def outbox_states(deployment: Deployment) -> dict[str, int]:
    return {
        str(state): int(n)
        for state, n in deployment.query("SELECT state, count(*) FROM jobs GROUP BY state")
    }


@dataclass
class Stored:
    """What the database holds about one submission (by its unique contact address)."""

    requests: int = 0
    references: set[str] = field(default_factory=set)
    routes_done: int = 0
    routes: int = 0
    acks_sent: int = 0
    acks: int = 0


def stored_by_email(deployment: Deployment, tag: str) -> dict[str, Stored]:
    found: dict[str, Stored] = {}
    pattern = f"load-{tag}-%"
    for email, reference in deployment.query(
        "SELECT contact_email, reference FROM booking_requests WHERE contact_email LIKE :p",
        p=pattern,
    ):
        entry = found.setdefault(email, Stored())
        entry.requests += 1
        entry.references.add(reference)
    for email, kind, state, n in deployment.query(
        "SELECT b.contact_email, j.kind, j.state, count(*) FROM jobs j "
        "JOIN booking_requests b ON b.id = j.booking_id "
        "WHERE b.contact_email LIKE :p AND j.kind IN ('route', 'mail.acknowledgement') "
        "GROUP BY b.contact_email, j.kind, j.state",
        p=pattern,
    ):
        entry = found.setdefault(email, Stored())
        if kind == "route":
            entry.routes += n
            entry.routes_done += n if state == "done" else 0
        else:
            entry.acks += n
    for email, n in deployment.query(
        "SELECT b.contact_email, count(*) FROM notifications n "
        "JOIN booking_requests b ON b.id = n.booking_id "
        "WHERE b.contact_email LIKE :p AND n.template = 'acknowledgement' "
        "AND n.sent_at IS NOT NULL GROUP BY b.contact_email",
        p=pattern,
    ):
        found.setdefault(email, Stored()).acks_sent += n
    return found


def acknowledgements(deployment: Deployment, tag: str) -> dict[str, list[tuple[str, str]]]:
    """Recipient → (reference in the subject, Message-ID) of each distinct acknowledgement
    received (a copy of the same message, by Message-ID, is counted by ``copies``)."""
    received: dict[str, list[tuple[str, str]]] = {}
    for message in deployment.smtp.sink.received_messages():
        match = ACK_SUBJECT.search(message.subject)
        for recipient in message.recipients:
            if match and recipient.startswith(f"load-{tag}-"):
                got = received.setdefault(recipient, [])
                if (match.group(1), message.message_id) not in got:
                    got.append((match.group(1), message.message_id))
    return received


def run_messages(deployment: Deployment, references: set[str]) -> list[Received]:
    """Every email received about these requests (acknowledgements and desk notices)."""
    return [
        m for m in deployment.smtp.sink.received_messages()
        if (found := REFERENCE.search(m.subject)) and found.group(0) in references
    ]  # fmt: skip


def copies(messages: list[Received]) -> dict[str, int]:
    """Message-ID → extra copies received of that very message (a resend after a crash
    between the SMTP server's 250 and the job's commit: at-least-once delivery)."""
    return {mid: n - 1 for mid, n in Counter(m.message_id for m in messages).items() if n > 1}


def check_complete(
    deployment: Deployment, run: Run, *, allowed_copies: int
) -> tuple[dict[str, Stored], dict[str, list[tuple[str, str]]], dict[str, int]]:
    """Every 201: its reference stored once, routed once, one acknowledgement job sent and
    one acknowledgement (one Message-ID, with that reference) received, one notice to the
    desk; nothing in the outbox unfinished or failed. Returns what is stored, the
    acknowledgements received and the extra copies of identical messages."""
    stored = stored_by_email(deployment, run.tag)
    received = acknowledgements(deployment, run.tag)
    problems = []
    for s in run.accepted:
        entry = stored.get(s.email, Stored())
        got = received.get(s.email, [])
        if entry.requests != 1 or entry.references != {s.reference}:
            problems.append(f"{s.email}: 201 {s.reference}, stored {entry.references}")
        elif (entry.routes, entry.routes_done) != (1, 1):
            problems.append(f"{s.email}: {entry.routes} route jobs, {entry.routes_done} done")
        elif (entry.acks, entry.acks_sent) != (1, 1):
            problems.append(f"{s.email}: {entry.acks} ack jobs, {entry.acks_sent} sent")
        elif [reference for reference, _ in got] != [s.reference]:
            problems.append(f"{s.email}: acknowledgements received {got}")
    assert not problems, f"{len(problems)} of {len(run.accepted)} incomplete: {problems[:10]}"
    references = {s.reference for s in run.accepted if s.reference}
    messages = run_messages(deployment, references)
    notices = Counter(
        found.group(1)
        for _, subject in {(m.message_id, m.subject) for m in messages}
        if (found := NOTICE_SUBJECT.search(subject))
    )
    assert notices == dict.fromkeys(references, 1), [
        (reference, n) for reference, n in notices.items() if n != 1
    ][:5]
    extra = copies(messages)
    assert sum(extra.values()) <= allowed_copies, f"identical messages received again: {extra}"
    states = outbox_states(deployment)
    assert set(states) <= {"done"}, f"outbox not settled, or failures: {states}"
    return stored, received, extra


def check_failed_only_at_drops(run: Run, drops: list[tuple[float, float]]) -> None:
    """A failed answer (5xx or connection error) is allowed only around a PostgreSQL drop
    (``drops``: seconds into the run), and never a 4xx."""
    window = 5.0  # seconds after a drop that a request may still fail on a dead connection
    outside = [
        s
        for s in run.refused
        if not any(
            start - 0.5 <= s.answered_at - run.started <= end + window for start, end in drops
        )
    ]
    assert not outside, [f"{s.answered_at - run.started:.1f} s: {s.error}" for s in outside[:5]]
    assert not [s for s in run.refused if 400 <= s.status < 500], [s.error for s in run.refused][:5]


def check_unanswered(
    run: Run, stored: dict[str, Stored], received: dict[str, list[tuple[str, str]]]
) -> int:
    """No 201, yet perhaps committed (the connection died after COMMIT reached the server):
    then it must be complete, routed and acknowledged once; otherwise nothing is stored.
    Returns how many were stored completely."""
    half: list[str] = []
    complete = absent = 0
    for s in run.refused:
        entry = stored.get(s.email)
        if entry is None:
            absent += 1
            assert s.email not in received, f"{s.email}: acknowledged, yet nothing stored"
        elif (
            entry.requests == 1
            and (entry.routes, entry.routes_done, entry.acks, entry.acks_sent) == (1, 1, 1, 1)
            and len(received.get(s.email, [])) == 1
        ):
            complete += 1
        else:
            half.append(f"{s.email}: {entry} received {received.get(s.email)}")
    print(
        f"{run.tag}: {len(run.refused)} submissions without a 201 "
        f"({Counter((s.error or '')[:60] for s in run.refused).most_common(3)}): "
        f"{absent} left nothing stored, {complete} stored completely (committed, answer lost)"
    )
    assert not half, half[:5]
    return complete


def figures(run: Run, clients: int = CONCURRENCY) -> str:
    accepted = run.accepted
    http = sorted(s.answered_at - s.sent_at for s in accepted)
    submit_seconds = run.answered - run.started
    statuses = Counter(s.status or "connection error" for s in run.submissions)
    return (
        f"{len(run.submissions)} submissions from {clients} clients: {dict(statuses)}; "
        f"{len(run.submissions) / submit_seconds:.1f}/s over {submit_seconds:.1f} s; "
        f"201 latency p50 {statistics.median(http) * 1000:.0f} ms, "
        f"p99 {percentile(http, 99) * 1000:.0f} ms; "
        f"settled {run.settled - run.answered:.1f} s after the last answer "
        f"({run.settled - run.started:.1f} s in all)"
    )


def retries(deployment: Deployment, tag: str) -> str:
    rows = deployment.query(
        "SELECT j.kind, count(*) FILTER (WHERE j.attempts > 1), sum(j.attempts - 1), "
        "count(*) FILTER (WHERE j.last_error IS NOT NULL) FROM jobs j "
        "JOIN booking_requests b ON b.id = j.booking_id "
        "WHERE b.contact_email LIKE :p GROUP BY j.kind ORDER BY j.kind",
        p=f"load-{tag}-%",
    )
    return "; ".join(
        f"{kind}: {jobs} jobs retried ({extra or 0} extra attempts, {errors} with an error kept)"
        for kind, jobs, extra, errors in rows
    )


# --- the tests


def test_load(deployment: Deployment) -> None:
    mail_before = deployment.smtp.sink.count()
    run, threads = submit(deployment, "plain", LOAD_REQUESTS)
    finish(deployment, run, threads)
    print(f"\nload: {figures(run)}")
    assert not [s for s in run.submissions if s.status >= 500], "5xx under plain load"
    errors = Counter(s.error for s in run.refused)
    assert not run.refused, f"{len(run.refused)} submissions not accepted: {errors.most_common(3)}"
    _, received, _ = check_complete(deployment, run, allowed_copies=0)
    emails = deployment.smtp.sink.count() - mail_before
    print(f"load: {len(received)} acknowledgements received, {emails} emails in all; "
          f"retries: {retries(deployment, run.tag) or 'none'}")  # fmt: skip
    # Acknowledgement plus the assigned desk's notice, and nothing else.
    assert emails == 2 * LOAD_REQUESTS


def test_faults_under_load(deployment: Deployment) -> None:
    sink = deployment.smtp.sink
    mail_before, refused_before = sink.count(), sink.refused
    kept_before = len(sink.received_messages())
    run, threads = submit(deployment, "faults", FAULT_REQUESTS)
    events: list[str] = []
    drops: list[tuple[float, float]] = []  # when PostgreSQL connections were dropped

    def at() -> float:
        return time.monotonic() - run.started

    def note(what: str) -> None:
        events.append(f"{at():5.1f} s ({run.answered_count()} answered): {what}")

    def when_answered(fraction: float) -> None:
        wait_for(lambda: run.answered_count() >= fraction * FAULT_REQUESTS, 300, "progress", 0.05)

    when_answered(0.10)
    deployment.redis.kill()
    note("redis-server SIGKILLed")
    time.sleep(2)
    deployment.redis.start()
    note("redis-server started again (empty)")
    when_answered(0.25)
    victim = deployment.workers[0]
    running = deployment.query("SELECT count(*) FROM jobs WHERE state = 'running'")[0][0]
    assert victim.process is not None
    os.killpg(victim.pid, signal.SIGKILL)
    victim.process.wait()
    deployment.workers.remove(victim)
    note(f"{victim.name}'s process group SIGKILLed ({running} jobs running at that moment)")
    replacement = deployment.start_worker()
    note(f"{replacement.name} started")
    for fraction in (0.40, 0.50, 0.60):
        when_answered(fraction)
        start = at()
        dropped = deployment.drop_connections()
        drops.append((start, at()))
        note(f"pg_terminate_backend: {dropped} connections dropped")
    when_answered(0.70)
    sink.refuse_for(5)
    note("SMTP answers 421 for 5 s")
    finish(deployment, run, threads)
    note("settled")

    print("\nfaults:\n  " + "\n  ".join(events))
    print(f"faults: {figures(run)}")
    check_failed_only_at_drops(run, drops)

    # A SIGKILL after the SMTP server's 250 and before the record of it resends the same
    # stored message, same Message-ID: at most one copy per process of the killed worker.
    # A dropped connection no longer does (jobs.record_effect; tests/test_faults.py).
    stored, received, extra = check_complete(deployment, run, allowed_copies=2)
    complete = check_unanswered(run, stored, received)
    emails = sink.count() - mail_before
    distinct = len({m.message_id for m in sink.received_messages()[kept_before:]})
    print(
        f"faults: {len(received)} acknowledgements received, {emails} emails in all "
        f"({distinct} distinct, {emails - distinct} copies of one already received: {extra}), "
        f"{sink.refused - refused_before} RCPT TO refused with 421; "
        f"retries: {retries(deployment, run.tag) or 'none'}"
    )
    # Acknowledgement and desk notice for each stored request, and nothing else.
    assert distinct == 2 * (len(run.accepted) + complete)
    assert sink.refused > refused_before, "the SMTP refusal came after every email was sent"
    assert deployment.redis.starts == 2
