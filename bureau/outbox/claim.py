"""Taking a job: who holds it (a worker process) and for how long (its lease)."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import event, or_, update
from sqlalchemy.orm import Session

from bureau.db import AnySession, utcnow
from bureau.outbox.models import Job, JobState

# Set while a worker runs a task: its holder name, worked out once (execute()).
HOLDER_KEY = "bureau.job_holder"
# The job whose claim the open transaction holds, uncommitted (claim(hold=True)).
HELD_KEY = "bureau.held_claim"


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
    me = holder_in(session)
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
            locked_until=lease_end(now),
            locked_by=me,
            updated_at=now,
        )
        .returning(Job)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if claimed is not None and hold and claimed.attempts == 1:
        session.info[HELD_KEY] = job_id
        return claimed
    session.commit()
    return claimed


def held_claim(session: AnySession) -> int | None:
    """The job whose claim (claim(hold=True)) the open transaction holds uncommitted."""
    return session.info.get(HELD_KEY)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _claim_ended(session: Session, *_: object) -> None:
    session.info.pop(HELD_KEY, None)
