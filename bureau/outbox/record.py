"""Recording jobs in the caller's transaction, and sending them to the broker once it commits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, event, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bureau.db import AnySession, utcnow
from bureau.logs import current_request_id
from bureau.outbox import dispatch
from bureau.outbox.claim import holder_in, lease_end
from bureau.outbox.hooks import HANDLERS
from bureau.outbox.models import Job, JobState

SESSION_KEY = "bureau.jobs_to_enqueue"
# Set while a worker runs a job: jobs it records are run right after, in the same task,
# instead of going back through the broker (fewer, fuller tasks; see execute()).
INLINE_KEY = "bureau.run_follow_ups_inline"
FOLLOW_UPS_KEY = "bureau.follow_ups"
LOADED_KEY = "bureau.loaded_by_jobs"
QUIET_KEY = "bureau.quiet_outbox"


@contextmanager
def quiet_outbox(session: AnySession) -> Iterator[None]:
    """Within it, ``record_job`` records nothing: for writing the past (the demo history),
    whose steps change rows exactly as the real workflow does but must send nothing."""
    before = session.info.get(QUIET_KEY, False)
    session.info[QUIET_KEY] = True
    try:
        yield
    finally:
        session.info[QUIET_KEY] = before


def is_quiet(session: AnySession) -> bool:
    """Whether jobs are left unrecorded (callers may skip preparing their payload)."""
    return bool(session.info.get(QUIET_KEY))


@dataclass(frozen=True)
class JobSpec:
    """A job to record (record_jobs): its task and kind, and what tells it apart."""

    task: str
    kind: str
    booking_id: int | None = None
    recipient: str | None = None
    sequence: int = 0
    payload: dict[str, Any] | None = None


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
    """Add a job to the session's transaction; None when the same job exists already, or
    inside ``quiet_outbox``."""
    return record_jobs(session, [JobSpec(task, kind, booking_id, recipient, sequence, payload)])[0]


def record_jobs(session: AnySession, specs: Sequence[JobSpec]) -> list[Job | None]:
    """record_job for each of ``specs`` in one INSERT (a routing's two emails): the jobs in
    their order, None for one that exists already (or inside ``quiet_outbox``)."""
    if is_quiet(session):
        return [None] * len(specs)
    # In a worker running follow-ups inline (execute()), a job is claimed by this very
    # insert: it commits as running, under a lease, so no second UPDATE is needed to take it.
    # If the worker dies before running it, the lease lapses and the sweeper sends it again.
    inline = session.info.get(INLINE_KEY)
    claimed = (
        {
            "state": JobState.RUNNING,
            "attempts": 1,
            "locked_until": lease_end(utcnow()),
            "locked_by": holder_in(session),
        }
        if inline
        else {}
    )
    rows = [_job_values(spec) | (claimed if spec.task in HANDLERS else {}) for spec in specs]
    statement = _record_job_statement(session.get_bind().dialect.name)
    # The insert needs nothing of the session's pending changes (its values are computed): not
    # flushing them first lets the cause's rows go out together, one flush for a whole batch
    # (a routing's timeline entries in one INSERT) instead of one per job recorded.
    with session.no_autoflush:
        added = session.scalars(statement, rows[0] if len(rows) == 1 else rows).all()
    # ON CONFLICT DO NOTHING returns only the rows it inserted: matched by their unique key.
    inserted = {job.dedupe_key: job for job in added}
    jobs: list[Job | None] = []
    for spec, row in zip(specs, rows, strict=True):
        job = inserted.pop(row["dedupe_key"], None)
        if job is not None:
            run_inline = row["state"] == JobState.RUNNING
            job.fresh = run_inline
            session.info.setdefault(SESSION_KEY, []).append(
                Recorded(job.id, spec.task, job if run_inline else None)
            )
        jobs.append(job)
    return jobs


def job_insert(
    session: AnySession, task: str, kind: str, booking_id: int
) -> tuple[Any, dict[str, Any]] | None:
    """``record_job``'s INSERT (PostgreSQL) to run as a part of the caller's own statement,
    e.g. a CTE beside the rows that cause the job, and its parameters (named ``job_…``): it
    returns the job's id, or no row when the job exists. Pass the id to ``recorded``. None
    where ``record_job`` must do it: inside ``quiet_outbox`` (nothing to record) or in a
    worker running follow-ups inline."""
    if is_quiet(session) or session.info.get(INLINE_KEY):
        return None
    values = _job_values(JobSpec(task, kind, booking_id))
    return _job_insert_statement(), {f"job_{name}": value for name, value in values.items()}


@cache
def _job_insert_statement() -> Any:
    return (
        pg_insert(Job)
        .values(
            {
                name: bindparam(f"job_{name}", type_=Job.__table__.c[name].type)
                for name in _JOB_VALUES
            }
        )
        .on_conflict_do_nothing(index_elements=[Job.dedupe_key])
        .returning(Job.id)
    )


def recorded(session: AnySession, job_id: int | None, task: str) -> None:
    """A job that ``job_insert``'s statement added (``job_id`` None: it existed): sent to
    the broker once the transaction commits, as ``record_job``'s are."""
    if job_id is not None:
        session.info.setdefault(SESSION_KEY, []).append(Recorded(job_id, task))


def _job_values(spec: JobSpec) -> dict[str, Any]:
    key = Job.key_for(spec.kind, spec.booking_id, spec.recipient, spec.sequence)
    # One statement (INSERT … ON CONFLICT DO NOTHING RETURNING) instead of a look-up, an
    # add and a flush: the unique key decides, also between two racing transactions.
    return {
        "task": spec.task,
        "kind": spec.kind,
        "booking_id": spec.booking_id,
        "recipient": spec.recipient,
        "sequence": spec.sequence,
        "dedupe_key": key,
        "payload": spec.payload or {},
        "request_id": current_request_id(),
        "state": JobState.PENDING,
        "attempts": 0,
        "locked_until": None,
        "locked_by": None,
    }


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
    session.info.setdefault(SESSION_KEY, []).extend(
        Recorded(job_id, task) for job_id, task in reset
    )
    return [job_id for job_id, _ in reset]


@event.listens_for(Session, "after_commit")
def _enqueue_after_commit(session: Session) -> None:
    jobs = session.info.pop(SESSION_KEY, [])
    if session.info.get(INLINE_KEY):
        session.info.setdefault(FOLLOW_UPS_KEY, []).extend(jobs)
        return
    for recorded in jobs:
        dispatch.enqueue(recorded.task, recorded.job_id)


@event.listens_for(Session, "loaded_as_persistent")
def _keep_loaded(session: Session, instance: object) -> None:
    """While a worker runs a job and its follow-ups, keep what they load (the booking, its
    speakers and staff): the identity map holds objects weakly, and each follow-up would
    otherwise load them all again."""
    kept = session.info.get(LOADED_KEY)
    if kept is not None:
        kept.append(instance)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: Any) -> None:
    session.info.pop(SESSION_KEY, None)
