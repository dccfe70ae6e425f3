"""The transactional outbox: side effects recorded as rows in the transaction that causes them.

``record_job`` adds a row (deduplicated by a unique key) to the caller's transaction; once
that transaction commits, the job is sent to the broker. If the broker is unreachable the
row simply stays ``pending`` and beat's ``sweep`` sends it later: an HTTP 2xx never depends
on the broker. A worker runs a job through ``run_job``: it claims the row with a conditional
UPDATE (so a second delivery of the same message finds nothing to do), runs the handler,
and records the outcome — done, a retry with exponential backoff and jitter, or failed.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    Text,
    bindparam,
    case,
    event,
    false,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column

from bureau.db import AnySession, Base, utcnow
from bureau.logs import current_request_id, log_context

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_RETRY_DELAY = 3600.0  # seconds; the Redis visibility timeout must exceed it (workers/)
_SESSION_KEY = "bureau.jobs_to_enqueue"
# Set while a worker runs a job: jobs it records are run right after, in the same task,
# instead of going back through the broker (fewer, fuller tasks; see execute()).
_INLINE_KEY = "bureau.run_follow_ups_inline"
_FOLLOW_UPS_KEY = "bureau.follow_ups"
_LOADED_KEY = "bureau.loaded_by_jobs"
_HOLDER_KEY = "bureau.job_holder"
# A claim ended: the job is no longer held by anyone (done, failed, back to pending).
_UNCLAIMED: dict[str, Any] = {"locked_until": None, "locked_by": None}
# Set by a handler right after an effect that cannot be undone (record_effect).
_EFFECT_KEY = "bureau.effect_record"
# Seconds to wait before each try of an outbox write after a database error; each try runs
# on a fresh connection (the pool drops the dead one). About 10 s in all: a dropped
# connection costs one retry, a PostgreSQL restart a few.
DB_RETRY_DELAYS = (0.0, 0.1, 0.4, 1.0, 2.0, 3.0, 4.0)
# How many times a job is run again at once, after a database error, before it is left to
# its ordinary retry with backoff.
DB_RERUNS = 3
# Effects this process carried out whose record it could not write (the database stayed
# away through DB_RETRY_DELAYS): job id → the write. Tried again before each next task, so
# the job is marked done rather than run a second time (see record_effect()).
_unwritten: dict[int, Callable[[AnySession], object]] = {}
T = TypeVar("T")


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    """One side effect to carry out exactly once (route a booking, send an email, an invite).

    ``task`` is the Celery task that carries it out (``bureau.<feature>.<verb>``), ``kind``
    the effect (``route``, ``mail.acknowledgement``…). ``dedupe_key`` is unique over (kind,
    booking, recipient, sequence): recording the same effect twice is a no-op, and so is a
    second delivery of its task.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_run_after", "state", "run_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(60))
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str | None] = mapped_column(String(320))
    sequence: Mapped[int] = mapped_column(default=0)
    dedupe_key: Mapped[str] = mapped_column(String(500), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default=JobState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    # While running: when the claim lapses and another worker may take the job over, and
    # who holds it (holder()), so that a worker seeing that process die releases it at once.
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]
    # The web request (X-Request-ID) that caused the job, directly or through other jobs:
    # the worker's log lines about the job carry it.
    request_id: Mapped[str | None] = mapped_column(String(64))
    # Not a column: True on a job this very task inserted and runs (execute()), so no earlier
    # attempt of it can have left anything behind for the handler to look for.
    fresh = False

    @staticmethod
    def key_for(kind: str, booking_id: int | None, recipient: str | None, sequence: int) -> str:
        return f"{kind}:{booking_id or '-'}:{(recipient or '-').lower()}:{sequence}"


class TransientError(Exception):
    """Worth trying again later (server busy, connection lost, 4xx from SMTP)."""


class PermanentError(Exception):
    """Trying again cannot help (mailbox refused, data gone); the job ends as failed."""


def record_job(
    session: AnySession,
    task: str,
    kind: str,
    *,
    booking_id: int | None = None,
    recipient: str | None = None,
    sequence: int = 0,
    payload: dict[str, Any] | None = None,
) -> Job | None:
    """Add a job to the session's transaction; None when the same job exists already."""
    key = Job.key_for(kind, booking_id, recipient, sequence)
    # One statement (INSERT … ON CONFLICT DO NOTHING RETURNING) instead of a look-up, an
    # add and a flush: the unique key decides, also between two racing transactions.
    values: dict[str, Any] = {
        "task": task,
        "kind": kind,
        "booking_id": booking_id,
        "recipient": recipient,
        "sequence": sequence,
        "dedupe_key": key,
        "payload": payload or {},
        "request_id": current_request_id(),
        "state": JobState.PENDING,
        "attempts": 0,
        "locked_until": None,
        "locked_by": None,
    }
    # In a worker running follow-ups inline (execute()), the job is claimed by this very
    # insert: it commits as running, under a lease, so no second UPDATE is needed to take it.
    # If the worker dies before running it, the lease lapses and the sweeper sends it again.
    run_inline = session.info.get(_INLINE_KEY) and task in HANDLERS
    if run_inline:
        values |= {
            "state": JobState.RUNNING,
            "attempts": 1,
            "locked_until": _lease_end(utcnow()),
            "locked_by": _holder_in(session),
        }
    job: Job | None = session.scalars(
        _record_job_statement(session.get_bind().dialect.name), values
    ).one_or_none()
    if job is None:
        return None
    job.fresh = bool(run_inline)
    session.info.setdefault(_SESSION_KEY, []).append(
        Recorded(job.id, task, job if run_inline else None)
    )
    return job


@dataclass(frozen=True)
class Recorded:
    """A job recorded in the open transaction: sent to the broker, or run inline (``claimed``
    is then the job, already taken by this worker), once the transaction commits."""

    job_id: int
    task: str
    claimed: Job | None = None


_JOB_VALUES = (
    *("task", "kind", "booking_id", "recipient", "sequence", "dedupe_key", "payload"),
    *("request_id", "state", "attempts", "locked_until", "locked_by"),
)


@cache
def _record_job_statement(dialect: str) -> Any:
    """record_job's INSERT, built once per dialect (building it cost more than running it)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(Job)
        .values({name: bindparam(name, type_=Job.__table__.c[name].type) for name in _JOB_VALUES})
        .on_conflict_do_nothing(index_elements=[Job.dedupe_key])
        .returning(Job)
    )


@event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: Session) -> None:
    jobs = session.info.pop(_SESSION_KEY, [])
    if session.info.get(_INLINE_KEY):
        session.info.setdefault(_FOLLOW_UPS_KEY, []).extend(jobs)
        return
    for recorded in jobs:
        enqueue(recorded.task, recorded.job_id)


@event.listens_for(Session, "loaded_as_persistent")
def _keep_loaded(session: Session, instance: object) -> None:
    """While a worker runs a job and its follow-ups, keep what they load (the booking, its
    speakers and staff): the identity map holds objects weakly, and each follow-up would
    otherwise load them all again."""
    kept = session.info.get(_LOADED_KEY)
    if kept is not None:
        kept.append(instance)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_SESSION_KEY, None)


def enqueue(task: str, job_id: int, countdown: float | None = None) -> bool:
    """Send a job's task to the broker; False (and a log line) when the broker is away.

    After a failure the process's breaker (bureau.breaker) skips sending for a few seconds:
    the row is committed, the sweeper sends it, and a request does not wait on the broker.
    """
    celery = current_app.extensions.get("celery")
    if celery is None:
        logger.warning("no Celery app; job %s (%s) waits for the sweeper", job_id, task)
        return False
    breaker = current_app.extensions["broker_breaker"]
    if not breaker.allow():
        logger.info("broker away: job %s (%s) waits for the sweeper", job_id, task)
        return False
    try:
        celery.send_task(task, kwargs={"job_id": job_id}, countdown=countdown, retry=False)
    except Exception as error:
        breaker.failed()
        logger.warning(
            "broker unreachable (%s); job %s (%s) stays pending for the sweeper",
            error,
            job_id,
            task,
        )
        return False
    breaker.succeeded()
    return True


def holder() -> str:
    """Who claims a job: the Celery node name and this process, ``worker@host:1234``; outside
    a worker, the host name. The worker's main process knows both for each task it hands to a
    pool process (release_held_by)."""
    from celery import current_task

    request = current_task.request if current_task else None
    return holder_name(getattr(request, "hostname", None) or socket.gethostname(), os.getpid())


def holder_name(node: str, pid: int | str = "") -> str:
    """``locked_by`` for a process of a node; without a pid, what all of the node's share."""
    return f"{node}:{pid}"


def _holder_in(session: AnySession) -> str:
    return session.info.get(_HOLDER_KEY) or holder()  # worked out once per task (execute())


def claim(
    session: AnySession, job_id: int, now: datetime | None = None, *, again: bool = False
) -> Job | None:
    """Take the job for this worker, or None if it is done, failed or held by another.

    ``again``: after a database error, when this process may hold the job already (the
    claim, or a run of it, committed on the server and only the answer was lost).
    """
    now = now or utcnow()
    me = _holder_in(session)
    takeable = or_(
        Job.state == JobState.PENDING,
        (Job.state == JobState.RUNNING) & (Job.locked_until <= now),
    )
    if again:
        takeable |= (Job.state == JobState.RUNNING) & (Job.locked_by == me)
    claimed = session.scalars(
        update(Job)
        .where(Job.id == job_id, takeable)
        .values(
            state=JobState.RUNNING,
            attempts=Job.attempts + 1,
            locked_until=_lease_end(now),
            locked_by=me,
            updated_at=now,
        )
        .returning(Job)
        .execution_options(populate_existing=True)
    ).one_or_none()
    session.commit()
    return claimed


def retrying(session: AnySession, what: str, action: Callable[[], T]) -> T:
    """``action()`` (which commits), tried again after a database error on a fresh connection,
    with short pauses (DB_RETRY_DELAYS); the last error is raised."""
    for delay in DB_RETRY_DELAYS:
        time.sleep(delay)
        try:
            return action()
        except DBAPIError as error:
            failure = error
            _rollback(session)
            logger.warning("%s: database error, trying again: %s", what, _short(error))
    raise failure


def _rollback(session: AnySession) -> None:
    try:
        session.rollback()
    except DBAPIError as error:  # the connection is gone: the pool replaces it
        logger.debug("rollback after a database error failed: %s", error)


def _short(error: DBAPIError) -> str:
    return str(error.orig or error).splitlines()[0][:200]


def _lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=current_app.config["BUREAU_SETTINGS"].job_lease)


def retry_delay(attempt: int, base: float) -> float:
    """Exponential backoff with full jitter in [0.5, 1.5) of the step, capped at an hour."""
    step: float = min(MAX_RETRY_DELAY, base * 2.0 ** max(0, attempt - 1))
    return step * (0.5 + random.random())  # noqa: S311 - jitter, not security


@dataclass(frozen=True)
class Outcome:
    state: str
    error: str | None = None
    retry_in: float | None = None


Handler = Callable[[AnySession, Job], None]


def run_job(
    session: AnySession, job_id: int, handler: Handler, *, claimed: Job | None = None
) -> Outcome | None:
    """Claim and run a job; None when there was nothing to do (done, or held elsewhere).
    ``claimed`` is the job when this worker holds it already (recorded inline).

    The handler does the work and may change rows and record further jobs; its changes
    commit together with the job's ``done`` state. It raises TransientError to be retried
    later and PermanentError to give up; any other exception counts as transient, so a bug
    fixed in time does not lose the job, yet it cannot loop forever (MAX_ATTEMPTS).

    A database error (a dropped connection) runs the job again at once on a fresh
    connection, up to DB_RERUNS times, rather than leaving it to its lease or a backoff;
    once the handler recorded an effect that cannot be undone (record_effect), the job is
    not run again: only its record is written, retried likewise.
    """
    _write_unwritten(session)
    job = claimed if claimed is not None else _claim_retrying(session, job_id)
    if job is None:
        logger.info("job %s: nothing to do (done, failed or running elsewhere)", job_id)
        return None
    # The job's log lines, and the jobs it records, carry the request that caused it.
    with log_context(request_id=job.request_id, job_id=job_id, task=job.task):
        for rerun in range(DB_RERUNS + 1):
            logger.info("job %s (%s) attempt %s", job_id, job.kind, job.attempts)
            outcome = _run_claimed(session, job, handler, last=rerun == DB_RERUNS)
            if outcome is not _RUN_AGAIN:
                return outcome
            again = _claim_retrying(session, job_id, again=True)
            if again is None:  # the run committed after all, or the job was taken over
                logger.info("job %s: nothing to do after the database error", job_id)
                return None
            job = again
            job.fresh = False  # the earlier run may have left rows (a composed email)
    raise AssertionError("unreachable")  # pragma: no cover


def _claim_retrying(session: AnySession, job_id: int, *, again: bool = False) -> Job | None:
    """claim(), retried after a database error: then as ``again``, for the claim may have
    committed with only its answer lost."""
    tried = [again]

    def attempt() -> Job | None:
        try:
            return claim(session, job_id, again=tried[0])
        finally:
            tried[0] = True

    return retrying(session, f"claiming job {job_id}", attempt)


def record_effect(session: AnySession, write: Callable[[AnySession], object]) -> None:
    """Called by a handler right after an effect that cannot be undone (the SMTP server
    accepted the email): ``write`` records it in the session now. If the commit that marks
    the job done then fails, the job is not run again; this record and the done mark are
    written on a fresh connection (retrying()), and if the database stays away, before this
    process's next task. ``write`` must be repeatable (UPDATEs, not ORM changes)."""
    session.info[_EFFECT_KEY] = write  # first: the write itself may fail
    write(session)


def _write_unwritten(session: AnySession) -> None:
    """Write the records of effects an earlier task of this process could not record."""
    for job_id, write in list(_unwritten.items()):
        try:
            _write_effect(session, job_id, write)
        except DBAPIError as error:
            _rollback(session)
            logger.warning("job %s: its record is still not written: %s", job_id, _short(error))
            return
        del _unwritten[job_id]
        logger.info("job %s: the record of its effect was written late", job_id)


def _write_effect(session: AnySession, job_id: int, write: Callable[[AnySession], object]) -> None:
    write(session)
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.RUNNING)
        .values(state=JobState.DONE, finished_at=utcnow(), **_UNCLAIMED),
        execution_options={"synchronize_session": False},
    )
    session.commit()


class _RunAgain(Outcome):
    pass


# A database error before anything irrevocable happened: claim the job again and rerun it.
_RUN_AGAIN = _RunAgain("running")


def _run_claimed(session: AnySession, job: Job, handler: Handler, *, last: bool) -> Outcome:
    job_id, kind = job.id, job.kind  # read before a rollback expires them
    session.info.pop(_EFFECT_KEY, None)
    try:
        handler(session, job)
    except PermanentError as error:
        _rollback(session)
        reason = str(error)
        return retrying(
            session,
            f"recording job {job_id}'s failure",
            lambda: _finish(session, job_id, JobState.FAILED, error=reason),
        )
    except Exception as error:
        effect = session.info.pop(_EFFECT_KEY, None)
        _rollback(session)
        if effect is not None:  # it failed after the effect: record that, never redo it
            logger.warning("job %s: error after its effect: %s", job_id, error)
            return _record(session, job_id, effect)
        if isinstance(error, DBAPIError) and not last:
            logger.warning("job %s: database error, run again: %s", job_id, _short(error))
            return _RUN_AGAIN
        logger.warning("job %s (%s) attempt failed: %s", job_id, kind, error)
        message = f"{type(error).__name__}: {error}"
        return retrying(
            session,
            f"recording job {job_id}'s failed attempt",
            lambda: _after_error(session, job_id, message),
        )
    effect = session.info.pop(_EFFECT_KEY, None)
    job.state = JobState.DONE
    job.finished_at = utcnow()
    job.locked_until = job.locked_by = None
    try:
        session.commit()
    except DBAPIError as error:
        _rollback(session)
        if effect is not None:
            return _record(session, job_id, effect)
        if last:  # all the handler did was rolled back with the mark
            raise
        logger.warning("job %s: its commit failed, run again: %s", job_id, _short(error))
        return _RUN_AGAIN
    return Outcome(JobState.DONE)


def _record(session: AnySession, job_id: int, effect: Callable[[AnySession], object]) -> Outcome:
    """Write an effect's record and the job's done mark, on fresh connections; if the
    database stays away, keep it for this process's next task (and raise)."""
    try:
        retrying(
            session,
            f"recording job {job_id}'s effect",
            lambda: _write_effect(session, job_id, effect),
        )
    except DBAPIError:
        _unwritten[job_id] = effect
        logger.error("job %s: done, but not recorded yet; this process tries again", job_id)
        raise
    return Outcome(JobState.DONE)


def _after_error(session: AnySession, job_id: int, message: str) -> Outcome:
    attempts = session.scalar(select(Job.attempts).where(Job.id == job_id)) or 1
    if attempts >= MAX_ATTEMPTS:
        return _finish(session, job_id, JobState.FAILED, error=f"gave up: {message}")
    delay = retry_delay(attempts, current_app.config["BUREAU_SETTINGS"].job_retry_base)
    return _finish(session, job_id, JobState.PENDING, error=message, retry_in=delay)


def _finish(
    session: AnySession,
    job_id: int,
    state: JobState,
    *,
    error: str,
    retry_in: float | None = None,
) -> Outcome:
    now = utcnow()
    values: dict[str, Any] = {"state": state, "last_error": error[:2000], **_UNCLAIMED}
    if retry_in is not None:
        values["run_after"] = now + timedelta(seconds=retry_in)
    else:
        values["finished_at"] = now
    session.execute(update(Job).where(Job.id == job_id).values(**values))
    session.commit()
    if state == JobState.FAILED:
        logger.error("job %s failed for good: %s", job_id, error)
    return Outcome(state, error, retry_in)


def retry_failed(session: AnySession, job_ids: list[int] | None = None) -> list[int]:
    """Put failed jobs (these, or all) back to pending, due now, with a fresh attempt count.

    They are sent to the broker when the caller commits, like newly recorded jobs; returns
    the ids that were failed.
    """
    stmt = update(Job).where(Job.state == JobState.FAILED)
    if job_ids is not None:
        stmt = stmt.where(Job.id.in_(job_ids))
    reset = session.execute(
        stmt.values(
            state=JobState.PENDING,
            attempts=0,
            run_after=utcnow(),
            finished_at=None,
            locked_until=None,
        ).returning(Job.id, Job.task)
    ).all()
    session.info.setdefault(_SESSION_KEY, []).extend(
        Recorded(job_id, task) for job_id, task in reset
    )
    return [job_id for job_id, _ in reset]


def sweep(session: AnySession, now: datetime | None = None, *, queued: int | None = None) -> int:
    """Re-enqueue jobs that wait past their time or whose worker vanished; returns how many.

    A pending job is due ``sweep_interval`` after it was last sent (the normal path has run
    it by then); a running job is due when its claim lapsed. Sending one twice is harmless:
    only one worker can claim it, but under a backlog it is wasted work for the very workers
    that are behind. So when the broker says ``queued`` messages wait, the pending jobs sent
    last, that many, are taken to be those messages (the queue is first in, first out) and
    only those sent before are sent again; ``None`` (unknown) sends every due one.
    """
    now = now or utcnow()
    grace = timedelta(seconds=current_app.config["BUREAU_SETTINGS"].sweep_interval)
    pending = Job.state == JobState.PENDING
    sent_at = _last_sent()
    # run_after is implied by sent_at, but lets the (state, run_after) index narrow the scan.
    pending_due = pending & (Job.run_after <= now - grace) & (sent_at <= now - grace)
    if queued:
        newest_queued = session.scalar(
            select(sent_at)
            .where(pending, Job.run_after <= now)
            .order_by(sent_at.desc())
            .offset(queued - 1)
            .limit(1)
        )
        # Fewer pending jobs than messages: all of them may be in the queue.
        pending_due &= sent_at < newest_queued if newest_queued else false()
    due = session.execute(
        select(Job.id, Job.task, Job.state)
        .where(or_(pending_due, (Job.state == JobState.RUNNING) & (Job.locked_until <= now)))
        .order_by(Job.run_after)
        .limit(1000)
    ).all()
    session.rollback()
    sent = [(job_id, state) for job_id, task, state in due if enqueue(task, job_id)]
    resent = [job_id for job_id, state in sent if state == JobState.PENDING]
    if resent:
        # They are now at the back of the queue: the next sweep counts them as queued.
        session.execute(
            update(Job).where(Job.id.in_(resent), pending).values(updated_at=now),
            execution_options={"synchronize_session": False},
        )
        session.commit()
    if due:
        logger.info("sweeper: %d of %d overdue jobs re-enqueued", len(sent), len(due))
    return len(sent)


def _last_sent() -> Any:
    """When a pending job last went to the broker: recorded (``run_after`` = ``updated_at``),
    scheduled for a retry (due at ``run_after``), or sent again by the sweeper (``updated_at``)."""
    return case((Job.updated_at > Job.run_after, Job.updated_at), else_=Job.run_after)


HANDLERS: dict[str, Handler] = {}


def handles(task: str) -> Callable[[Handler], Handler]:
    """Register the handler of a task, so a worker can run such jobs inline."""

    def register(handler: Handler) -> Handler:
        HANDLERS[task] = handler
        return handler

    return register


def execute(task: str, job_id: int, handler: Handler) -> str:
    """What a job's Celery task does: run it, then the jobs it recorded, in this process.

    Follow-up jobs (a routing's emails) are claimed and run here right away instead of
    taking another trip through the broker; each is still its own outbox row with its own
    claim, retries and failure. Whatever cannot run now (a retry, an unknown task) goes to
    the broker; whatever a crash interrupts, the sweeper finds.
    """
    from bureau.extensions import db
    from bureau.mail.transport import reuse_smtp_connections

    session = db.session
    session.info[_INLINE_KEY] = True
    session.info[_LOADED_KEY] = []
    session.info[_HOLDER_KEY] = holder()
    # One queue for the whole task: the commit of each job appends the jobs it recorded.
    follow_ups: list[Recorded] = session.info.setdefault(_FOLLOW_UPS_KEY, [])
    try:
        with reuse_smtp_connections():
            outcome = run_job(session, job_id, handler)
            _schedule_retry(task, job_id, outcome)
            while follow_ups:
                recorded = follow_ups[0]
                if recorded.claimed is None:  # not claimed by its insert: no handler here
                    enqueue(recorded.task, recorded.job_id)
                else:
                    next_handler = HANDLERS[recorded.task]
                    next_outcome = run_job(
                        session, recorded.job_id, next_handler, claimed=recorded.claimed
                    )
                    _schedule_retry(recorded.task, recorded.job_id, next_outcome)
                follow_ups.pop(0)  # only once handled: a crash above leaves it to _release
        return outcome.state if outcome is not None else "skipped"
    finally:
        session.info.pop(_INLINE_KEY, None)
        session.info.pop(_LOADED_KEY, None)
        session.info.pop(_HOLDER_KEY, None)
        _release(session, session.info.pop(_FOLLOW_UPS_KEY, []))
        db.session.remove()


def _release(session: AnySession, leftovers: list[Recorded]) -> None:
    """Hand follow-ups this worker claimed but did not run (it is failing) back to pending,
    and send them to the broker, rather than let them wait for their lease to lapse."""
    if not leftovers:
        return
    claimed = [r.job_id for r in leftovers if r.claimed is not None]
    try:
        session.rollback()
        if claimed:
            session.execute(
                update(Job)
                .where(Job.id.in_(claimed), Job.state == JobState.RUNNING)
                .values(state=JobState.PENDING, attempts=Job.attempts - 1, **_UNCLAIMED)
            )
            session.commit()
    except Exception as error:  # the database is away: the leases lapse, the sweeper acts
        logger.warning("could not release jobs %s (%s); they wait for the sweeper", claimed, error)
        return
    for recorded in leftovers:
        enqueue(recorded.task, recorded.job_id)


def release_held_by(
    session: AnySession,
    *,
    holder: str | None = None,
    node: str | None = None,
    now: datetime | None = None,
) -> list[int]:
    """End now the claims of a worker process known to be dead (``holder``), or of every
    process of a node name that is starting afresh (``node``), and send those jobs to the
    broker again: they run in seconds instead of when their lease lapses. Their state stays
    running with the lease ended, so the attempt that died counts, and only one of the
    deliveries that may follow can claim each. Commits; returns the job ids.
    """
    if (holder is None) == (node is None):
        raise ValueError("give a holder or a node name")
    now = now or utcnow()
    held = (
        Job.locked_by == holder
        if holder is not None
        else Job.locked_by.startswith(holder_name(node or ""), autoescape=True)
    )
    released = session.execute(
        update(Job)
        .where(Job.state == JobState.RUNNING, held)
        .values(locked_until=now, updated_at=now)
        .returning(Job.id, Job.task),
        execution_options={"synchronize_session": False},
    ).all()
    session.commit()
    for job_id, task in released:
        enqueue(task, job_id)
    if released:
        whose = f"{holder}, which died" if holder else f"an earlier run of {node}"
        ids = ", ".join(str(job_id) for job_id, _ in released)
        logger.warning("released %d jobs of %s: %s", len(released), whose, ids)
    return [job_id for job_id, _ in released]


def _schedule_retry(task: str, job_id: int, outcome: Outcome | None) -> None:
    if outcome is not None and outcome.retry_in is not None:
        enqueue(task, job_id, countdown=outcome.retry_in)
