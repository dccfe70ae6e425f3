"""Beat's sweeper: jobs the broker never got, or whose worker vanished, sent again."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import case, false, or_, select

from bureau.db import AnySession, utcnow
from bureau.outbox import dispatch
from bureau.outbox.models import Job, JobState
from bureau.outbox.release import mark_resent

logger = logging.getLogger(__name__)


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
    sent = [(job_id, state) for job_id, task, state in due if dispatch.enqueue(task, job_id)]
    resent = [job_id for job_id, state in sent if state == JobState.PENDING]
    if resent:
        # They are now at the back of the queue: the next sweep counts them as queued; a
        # never-tried one may have died in a first attempt whose claim was not committed.
        mark_resent(session, resent, now)
        session.commit()
    if due:
        logger.info("sweeper: %d of %d overdue jobs re-enqueued", len(sent), len(due))
    return len(sent)


def _last_sent() -> Any:
    """When a pending job last went to the broker: recorded (``run_after`` = ``updated_at``),
    scheduled for a retry (due at ``run_after``), or sent again by the sweeper (``updated_at``)."""
    return case((Job.updated_at > Job.run_after, Job.updated_at), else_=Job.run_after)
