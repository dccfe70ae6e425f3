"""What a job's Celery task does: run the job, then the follow-ups it recorded, inline."""

from __future__ import annotations

import logging
from contextlib import ExitStack

from sqlalchemy import update

from bureau.db import AnySession
from bureau.outbox import dispatch
from bureau.outbox.claim import HOLDER_KEY, holder
from bureau.outbox.hooks import AROUND_TASKS, HANDLERS
from bureau.outbox.models import UNCLAIMED, Handler, Job, JobState
from bureau.outbox.record import FOLLOW_UPS_KEY, INLINE_KEY, LOADED_KEY, Recorded
from bureau.outbox.run import Outcome, has_unwritten_record, run_job, run_prepared

logger = logging.getLogger(__name__)


def execute(task: str, job_id: int, handler: Handler) -> str:
    """What a job's Celery task does: run it, then the jobs it recorded, in this process.

    Follow-up jobs (a routing's emails) are claimed and run here right away instead of
    taking another trip through the broker; each is still its own outbox row with its own
    claim, retries and failure. Those prepared in the transaction that recorded them (the
    emails composed with the routing: hooks.prepares) run together, their records and done
    marks written in one transaction (run_prepared): a routing and its two emails take two
    commits. Whatever cannot run now (a retry, an unknown task) goes to
    the broker; whatever a crash interrupts, the sweeper finds. All of it runs inside the
    contexts features registered (hooks.around_tasks).
    """
    from bureau.extensions import db

    session = db.session
    session.info[INLINE_KEY] = True
    session.info[LOADED_KEY] = []
    session.info[HOLDER_KEY] = holder()
    # One queue for the whole task: the commit of each job appends the jobs it recorded.
    follow_ups: list[Recorded] = session.info.setdefault(FOLLOW_UPS_KEY, [])
    try:
        with ExitStack() as around:
            for context in AROUND_TASKS:
                around.enter_context(context())
            outcome = run_job(session, job_id, handler)
            _schedule_retry(task, job_id, outcome)
            while follow_ups:
                recorded = follow_ups[0]
                if recorded.claimed is None:  # not claimed by its insert: no handler here
                    dispatch.enqueue(recorded.task, recorded.job_id)
                elif recorded.claimed.prepared is not None:
                    _run_prepared(session, follow_ups)
                    continue
                else:
                    next_handler = HANDLERS[recorded.task]
                    next_outcome = run_job(
                        session, recorded.job_id, next_handler, claimed=recorded.claimed
                    )
                    _schedule_retry(recorded.task, recorded.job_id, next_outcome)
                follow_ups.pop(0)  # only once handled: a crash above leaves it to _release
        return outcome.state if outcome is not None else "skipped"
    finally:
        session.info.pop(INLINE_KEY, None)
        session.info.pop(LOADED_KEY, None)
        session.info.pop(HOLDER_KEY, None)
        _release(session, session.info.pop(FOLLOW_UPS_KEY, []))
        db.session.remove()


def _run_prepared(session: AnySession, follow_ups: list[Recorded]) -> None:
    """Run the prepared jobs at the head of the queue together, and take them off it."""
    batch: list[Recorded] = []
    for recorded in follow_ups:
        if recorded.claimed is None or recorded.claimed.prepared is None:
            break
        batch.append(recorded)
    outcomes = run_prepared(session, [(r.claimed, HANDLERS[r.task]) for r in batch if r.claimed])
    for recorded, outcome in zip(batch, outcomes, strict=True):
        _schedule_retry(recorded.task, recorded.job_id, outcome)
    del follow_ups[: len(batch)]


def _release(session: AnySession, leftovers: list[Recorded]) -> None:
    """Hand follow-ups this worker claimed but did not run (it is failing) back to pending,
    and send them to the broker, rather than let them wait for their lease to lapse."""
    # Carried out, only not recorded (the database is away): recorded by the next task.
    leftovers = [r for r in leftovers if not has_unwritten_record(r.job_id)]
    if not leftovers:
        return
    claimed = [r.job_id for r in leftovers if r.claimed is not None]
    try:
        session.rollback()
        if claimed:
            session.execute(
                update(Job)
                .where(Job.id.in_(claimed), Job.state == JobState.RUNNING)
                .values(state=JobState.PENDING, attempts=Job.attempts - 1, **UNCLAIMED)
            )
            session.commit()
    except Exception as error:  # the database is away: the leases lapse, the sweeper acts
        logger.warning("could not release jobs %s (%s); they wait for the sweeper", claimed, error)
        return
    for recorded in leftovers:
        dispatch.enqueue(recorded.task, recorded.job_id)


def _schedule_retry(task: str, job_id: int, outcome: Outcome | None) -> None:
    if outcome is not None and outcome.retry_in is not None:
        dispatch.enqueue(task, job_id, countdown=outcome.retry_in)
