"""Taking a job: who holds it (a worker process) and for how long (its lease)."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, case, event, exists, false, or_, select, update
from sqlalchemy.orm import Session, aliased

from bureau.db import AnySession, utcnow
from bureau.outbox.hooks import TOGETHER
from bureau.outbox.models import Job, JobState

# Set while a worker runs a task: its holder name, worked out once (execute()).
HOLDER_KEY = "bureau.job_holder"
# The job whose claim the open transaction holds, uncommitted (claim(hold=True)).
HELD_KEY = "bureau.held_claim"
WAITING_KEY = "bureau.others_wait"


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


def holder_in(session: AnySession) -> str:
    return session.info.get(HOLDER_KEY) or holder()


def lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=current_app.config["BUREAU_SETTINGS"].job_lease)


def claim(
    session: AnySession,
    job_id: int,
    now: datetime | None = None,
    *,
    again: bool = False,
    hold: bool = False,
) -> Job | None:
    """Take the job for this worker, or None if it is done, failed or held by another.

    ``again``: after a database error, when this process may hold the job already (the
    claim, or a run of it, committed on the server and only the answer was lost).

    ``hold``: on the job's first attempt, leave the claim uncommitted (held_claim() tells
    until the session commits): it commits with the run, one transaction instead of two.
    The row stays locked until then, so a second delivery waits, then finds the job done.
    Should the process die in between, nothing counted the attempt: the worker's main
    process counts it (release.count_lost_attempt), and so does the sweeper when it sends
    the job again, and any later attempt commits its claim first: a job that kills its
    worker ends as failed after MAX_ATTEMPTS (run_job) instead of running forever.
    """
    now = now or utcnow()
    batching = bool(hold and TOGETHER and session.get_bind().dialect.name == "postgresql")
    row = session.execute(
        _claim_statement(again, tuple(sorted(TOGETHER)) if batching else ()),
        {"job_id": job_id, "now": now, "lease_end": lease_end(now), "me": holder_in(session)},
    ).one_or_none()
    claimed: Job | None = row[0] if row is not None else None
    others_wait = bool(row[1]) if row is not None else False
    if claimed is not None and hold and claimed.attempts == 1:
        session.info[HELD_KEY] = job_id
        session.info[WAITING_KEY] = others_wait
        return claimed
    session.commit()
    return claimed


@cache
def _claim_statement(again: bool, together: tuple[str, ...]) -> Any:
    """claim()'s UPDATE … RETURNING, built once per shape (building it cost more Python than
    running it): parameters job_id, now, lease_end, me. ``together``: the tasks whose
    waiting jobs may run together (TOGETHER), whether others wait told in the same round
    trip; () when not asked."""
    now = bindparam("now", type_=Job.__table__.c.updated_at.type)
    me = bindparam("me", type_=Job.__table__.c.locked_by.type)
    takeable = or_(
        Job.state == JobState.PENDING,
        (Job.state == JobState.RUNNING) & (Job.locked_until <= now),
    )
    if again:
        takeable |= (Job.state == JobState.RUNNING) & (Job.locked_by == me)
    return (
        update(Job)
        .where(Job.id == bindparam("job_id", type_=Job.__table__.c.id.type), takeable)
        .values(
            state=JobState.RUNNING,
            attempts=Job.attempts + 1,
            locked_until=bindparam("lease_end", type_=Job.__table__.c.locked_until.type),
            locked_by=me,
            updated_at=now,
        )
        # Whether others of its task wait (claim_waiting), told by the same round trip.
        .returning(Job, _others_wait(Job, now, together) if together else false())
        # The one row it changes comes back loaded afresh: nothing else in the session to
        # bring up to date (evaluating the WHERE on every object there cost a third of a
        # claim's Python, paid by each task message a batch ran before).
        .execution_options(populate_existing=True, synchronize_session=False)
    )


def _waiting(waiting: Any, job: Any, now: Any) -> Any:
    """``waiting`` is a job of ``job``'s task, pending, due and never tried."""
    return (
        (waiting.task == job.task)
        & (waiting.state == JobState.PENDING)
        & (waiting.attempts == 0)
        & (waiting.run_after <= now)
        & (waiting.id != job.id)
    )


def _others_wait(job: Any, now: Any, together: tuple[str, ...]) -> Any:
    other = aliased(Job)
    return case(
        (job.task.in_(together), exists().where(_waiting(other, job, now))),
        else_=false(),
    )


def others_wait(session: AnySession) -> bool:
    """Whether the claim just held saw others of its task waiting (PostgreSQL)."""
    return bool(session.info.get(WAITING_KEY))


def claim_waiting(
    session: AnySession, job: Job, limit: int, now: datetime | None = None
) -> list[Job]:
    """Under a backlog, up to ``limit`` more jobs of ``job``'s task, pending, due and never
    tried, claimed in the open transaction beside ``job``'s held claim (one UPDATE …
    RETURNING). PostgreSQL only: ``FOR UPDATE SKIP LOCKED`` passes over rows another
    worker is taking; the newest are taken, for the other workers take the queue's oldest
    messages. Their own messages find them done later. Never-tried only: a job whose
    attempt died (release.count_lost_attempt) runs alone from then on."""
    if limit <= 0 or session.get_bind().dialect.name != "postgresql":
        return []
    now = now or utcnow()
    waiting = (
        select(Job.id)
        .where(_waiting(Job, job, now))
        .order_by(Job.id.desc())
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(
        session.scalars(
            update(Job)
            .where(Job.id.in_(waiting.scalar_subquery()))
            .values(
                state=JobState.RUNNING,
                attempts=Job.attempts + 1,
                locked_until=lease_end(now),
                locked_by=holder_in(session),
                updated_at=now,
            )
            .returning(Job)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
    )


def held_claim(session: AnySession) -> int | None:
    """The job whose claim (claim(hold=True)) the open transaction holds uncommitted."""
    return session.info.get(HELD_KEY)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _claim_ended(session: Session, *_: object) -> None:
    session.info.pop(HELD_KEY, None)
    session.info.pop(WAITING_KEY, None)
