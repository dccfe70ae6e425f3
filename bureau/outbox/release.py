"""Ending the claims of a worker process known to be dead, so its jobs run again in seconds."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import case, update

from bureau.db import AnySession, utcnow
from bureau.outbox import dispatch
from bureau.outbox.claim import holder_name
from bureau.outbox.models import Job, JobState

logger = logging.getLogger(__name__)


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
        dispatch.enqueue(task, job_id)
    if released:
        whose = f"{holder}, which died" if holder else f"an earlier run of {node}"
        ids = ", ".join(str(job_id) for job_id, _ in released)
        logger.warning("released %d jobs of %s: %s", len(released), whose, ids)
    return [job_id for job_id, _ in released]


def count_lost_attempt(session: AnySession, job_id: int, now: datetime | None = None) -> bool:
    """Count the attempt of a job whose worker process died running it with its claim not
    yet committed (claim(hold=True): the job is still pending, as if never tried), when
    Celery hands its message back to the broker (mark_resent). Commits; True if it was
    pending."""
    counted = mark_resent(session, [job_id], now or utcnow())
    session.commit()
    if counted:
        logger.warning("job %s: its worker died running it; the attempt is counted", job_id)
    return bool(counted)


def mark_resent(session: AnySession, job_ids: list[int], now: datetime) -> list[int]:
    """Of ``job_ids``, sent to the broker again (by the sweeper, or by Celery after their
    worker process died), those still pending: sent last now (``updated_at``, what the
    sweep takes for a place in the queue), and, if never counted as tried, their first
    attempt counted — it may have died with its claim uncommitted (claim(hold=True)), and
    only a first attempt holds its claim. Their next claim then commits first, so a job
    that kills its worker fails after MAX_ATTEMPTS (run_job) instead of looping. The one
    place a lost attempt is counted; the caller commits. Returns the pending ones' ids."""
    if not job_ids:
        return []
    return list(
        session.scalars(
            update(Job)
            .where(Job.id.in_(job_ids), Job.state == JobState.PENDING)
            .values(updated_at=now, attempts=case((Job.attempts == 0, 1), else_=Job.attempts))
            .returning(Job.id),
            execution_options={"synchronize_session": False},
        )
    )
