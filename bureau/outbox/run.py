"""Running a claimed job: its handler, then done, a retry with backoff and jitter, or failed.

A database error (a dropped connection) runs the job again at once on a fresh connection;
an effect that cannot be undone (record_effect) is recorded, never carried out twice.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from bureau.db import AnySession, utcnow
from bureau.logs import log_context
from bureau.outbox.claim import claim, claim_waiting, held_claim, others_wait
from bureau.outbox.hooks import PRELOADS, PREPARERS, TOGETHER
from bureau.outbox.models import UNCLAIMED, Handler, Job, JobState, PermanentError
from bureau.outbox.record import SESSION_KEY

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_RETRY_DELAY = 3600.0  # seconds; the Redis visibility timeout must exceed it (workers/)
# Set by a handler right after an effect that cannot be undone (record_effect).
_EFFECT_KEY = "bureau.effect_record"
# Set while prepared jobs run together (run_prepared): their records are written at the end.
_DEFER_KEY = "bureau.effects_deferred"
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
_unwritten: dict[int, Effect] = {}
# Jobs this process ran together with another's task (_run_together) and committed done, by
# database: their own task messages come later, and a done job never runs again, so those
# messages are acknowledged without a claim (under a backlog, most routing messages). The
# newest FINISHED_KEPT are kept; an older one is claimed as usual and found done.
FINISHED_KEPT = 4096
_finished_here: WeakKeyDictionary[Any, dict[int, None]] = WeakKeyDictionary()
T = TypeVar("T")


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


def retry_delay(attempt: int, base: float) -> float:
    """Exponential backoff with full jitter in [0.5, 1.5) of the step, capped at an hour."""
    step: float = min(MAX_RETRY_DELAY, base * 2.0 ** max(0, attempt - 1))
    return step * (0.5 + random.random())  # noqa: S311 - jitter, not security


@dataclass(frozen=True)
class Effect:
    """The record of an effect: ``write(session, items)`` records one or more of the same
    kind at once (the sent marks of several emails in one statement); ``item`` is this one."""

    write: Callable[[AnySession, list[Any]], object]
    item: Any


@dataclass(frozen=True)
class Outcome:
    state: str
    error: str | None = None
    retry_in: float | None = None


def run_job(
    session: AnySession, job_id: int, handler: Handler, *, claimed: Job | None = None
) -> Outcome | None:
    """Claim and run a job; None when there was nothing to do (done, or held elsewhere).
    ``claimed`` is the job when this worker holds it already (recorded inline).

    The handler does the work and may change rows and record further jobs; its changes
    commit together with the job's ``done`` state. It raises TransientError to be retried
    later and PermanentError to give up; any other exception counts as transient, so a bug
    fixed in time does not lose the job, yet it cannot loop forever (MAX_ATTEMPTS); nor can
    a job whose every attempt kills its worker: claimed once more, it fails unrun.

    A database error (a dropped connection) runs the job again at once on a fresh
    connection, up to DB_RERUNS times, rather than leaving it to its lease or a backoff;
    once the handler recorded an effect that cannot be undone (record_effect), the job is
    not run again: only its record is written, retried likewise.
    """
    _write_unwritten(session)
    if claimed is None and job_id in _finished_here.get(session.get_bind(), ()):
        logger.info("job %s: nothing to do (this process ran it with another)", job_id)
        return None
    job = claimed if claimed is not None else _claim_retrying(session, job_id, hold=True)
    if job is None:
        logger.info("job %s: nothing to do (done, failed or running elsewhere)", job_id)
        return None
    if job.attempts > MAX_ATTEMPTS:  # each attempt died with its worker: a poison pill
        return retrying(
            session,
            f"giving up job {job_id}",
            lambda: _finish(
                session,
                job_id,
                JobState.FAILED,
                error=f"gave up: its worker stopped during each of {MAX_ATTEMPTS} attempts",
            ),
        )
    together = TOGETHER.get(job.task, 1)
    if claimed is None and together > 1 and held_claim(session) == job_id and others_wait(session):
        outcome = _run_together(session, job, handler, together - 1)
        if outcome is not _ALONE and outcome is not _RUN_AGAIN:
            return outcome
        if outcome is _RUN_AGAIN:  # rolled back with the others: claimed again, alone
            job = _claim_retrying(session, job_id, hold=True)
            if job is None:
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


def _claim_retrying(
    session: AnySession, job_id: int, *, again: bool = False, hold: bool = False
) -> Job | None:
    """claim(), retried after a database error: then as ``again``, for the claim may have
    committed with only its answer lost. ``hold``: see claim()."""
    tried = [again]

    def attempt() -> Job | None:
        try:
            return claim(session, job_id, again=tried[0], hold=hold and not tried[0])
        finally:
            tried[0] = True

    return retrying(session, f"claiming job {job_id}", attempt)


def record_effect(
    session: AnySession, write: Callable[[AnySession, list[Any]], object], item: Any
) -> None:
    """Called by a handler right after an effect that cannot be undone (the SMTP server
    accepted the email): ``write(session, [item])`` records it in the session now (among
    prepared jobs run together, run_prepared() writes the records of all at once, with
    one call of ``write`` for the items of each). If the commit that marks the job done
    then fails, the job is not run again; this record and the done mark are written on a
    fresh connection (retrying()), and if the database stays away, before this process's
    next task. ``write`` must be repeatable (UPDATEs, not ORM changes)."""
    effect = Effect(write, item)
    session.info[_EFFECT_KEY] = effect  # first: the write itself may fail
    if not session.info.get(_DEFER_KEY):
        write(session, [item])


def _write_unwritten(session: AnySession) -> None:
    """Write the records of effects an earlier task of this process could not record."""
    if not _unwritten:
        return
    late = dict(_unwritten)
    try:
        _write_effects(session, list(late), late)
    except DBAPIError as error:
        _rollback(session)
        logger.warning(
            "jobs %s: their records are still not written: %s", list(late), _short(error)
        )
        return
    for job_id in late:
        del _unwritten[job_id]
    logger.info("jobs %s: the records of their effects were written late", list(late))


def _write_effects(
    session: AnySession, done: list[int], effects: dict[int, Effect], *, held: bool = False
) -> None:
    """The records of effects (one ``write`` call for each kind) and the done marks of the
    jobs ``done``, in one transaction. A job not running any more (its claim held and
    rolled back, or released) is marked done too: its effect happened. ``held``: the
    attempt of a job whose claim was never committed is counted here."""
    kinds: dict[Callable[[AnySession, list[Any]], object], list[Any]] = {}
    for effect in effects.values():
        kinds.setdefault(effect.write, []).append(effect.item)
    for write, items in kinds.items():
        write(session, items)
    values: dict[str, Any] = {"state": JobState.DONE, "finished_at": utcnow(), **UNCLAIMED}
    if held:
        values["attempts"] = Job.attempts + 1
    unfinished = Job.state.in_([JobState.RUNNING, JobState.PENDING])
    session.execute(
        update(Job).where(Job.id.in_(done), unfinished).values(**values),
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
        _prepare_follow_ups(session)
    except Exception as error:
        effect = session.info.pop(_EFFECT_KEY, None)
        held = held_claim(session) == job_id  # the rollback takes the claim with it
        _rollback(session)
        if effect is not None:  # it failed after the effect: record that, never redo it
            logger.warning("job %s: error after its effect: %s", job_id, error)
            return _record(session, job_id, effect, held=held)
        if isinstance(error, DBAPIError) and not last:
            logger.warning("job %s: database error, run again: %s", job_id, _short(error))
            return _RUN_AGAIN
        return _failed(session, job_id, kind, error, held=held)
    effect = session.info.pop(_EFFECT_KEY, None)
    job.state = JobState.DONE
    job.finished_at = utcnow()
    job.locked_until = job.locked_by = None
    held = held_claim(session) == job_id
    try:
        session.commit()
    except DBAPIError as error:
        _rollback(session)
        if effect is not None:
            return _record(session, job_id, effect, held=held)
        if last:  # all the handler did was rolled back with the mark
            raise
        logger.warning("job %s: its commit failed, run again: %s", job_id, _short(error))
        return _RUN_AGAIN
    return Outcome(JobState.DONE)


def _failed(
    session: AnySession, job_id: int, kind: str, error: Exception, *, held: bool
) -> Outcome:
    """Record a failed attempt (the handler's changes rolled back): failed for good after a
    PermanentError or MAX_ATTEMPTS, else a retry with backoff."""
    if isinstance(error, PermanentError):
        reason = str(error)
        return retrying(
            session,
            f"recording job {job_id}'s failure",
            lambda: _finish(session, job_id, JobState.FAILED, error=reason, count=held),
        )
    logger.warning("job %s (%s) attempt failed: %s", job_id, kind, error)
    message = f"{type(error).__name__}: {error}"
    return retrying(
        session,
        f"recording job {job_id}'s failed attempt",
        lambda: _after_error(session, job_id, message, held=held),
    )


# Nothing else was waiting: the job runs alone, on its claim as it stands.
_ALONE = Outcome("running")


def _run_together(session: AnySession, job: Job, handler: Handler, more: int) -> Outcome:
    """Under a backlog, ``job`` and up to ``more`` waiting jobs of its task run in the one
    transaction of ``job``'s held claim (hooks.handles(together=…)): one commit for the
    routing of several requests, and their emails then go out together (run_prepared).
    _ALONE when none waits; after any error all of it is rolled back (_RUN_AGAIN): ``job``
    then runs alone, and the others, still pending and never tried, run from their own
    messages."""
    try:
        others = claim_waiting(session, job, more)
    except DBAPIError as error:
        _rollback(session)
        logger.warning("job %s: could not claim waiting jobs: %s", job.id, _short(error))
        return _RUN_AGAIN
    if not others:
        return _ALONE
    jobs = [job, *others]
    ids = [each.id for each in jobs]
    try:
        if (preload := PRELOADS.get(job.task)) is not None:
            preload(session, jobs)
        for each in jobs:
            with log_context(request_id=each.request_id, job_id=each.id, task=each.task):
                logger.info("job %s (%s) attempt 1, with %s", each.id, each.kind, job.id)
                handler(session, each)
        _prepare_follow_ups(session)
        now = utcnow()
        for each in jobs:
            each.state = JobState.DONE
            each.finished_at = now
            each.locked_until = each.locked_by = None
        session.commit()
    except Exception as error:
        _rollback(session)
        logger.warning("jobs %s: not run together (%s); job %s runs alone", ids, error, ids[0])
        return _RUN_AGAIN
    _remember_finished(session, ids[1:])
    return Outcome(JobState.DONE)


def _remember_finished(session: AnySession, job_ids: list[int]) -> None:
    finished = _finished_here.setdefault(session.get_bind(), {})
    finished.update(dict.fromkeys(job_ids))
    while len(finished) > FINISHED_KEPT:
        del finished[next(iter(finished))]


def _prepare_follow_ups(session: AnySession) -> None:
    """Prepare, in this transaction, the jobs it recorded for running inline (the emails of a
    routing composed with the routing). A preparer's failure other than the database's
    leaves its job unprepared: its handler does the work later, with its own retries, and
    the job that recorded it is not held back."""
    for recorded in list(session.info.get(SESSION_KEY, ())):
        preparer = PREPARERS.get(recorded.task)
        if preparer is None or recorded.claimed is None:
            continue
        try:
            preparer(session, recorded.claimed)
        except DBAPIError:
            raise
        except Exception as error:
            recorded.claimed.prepared = None
            logger.info("job %s: not prepared ahead (%s)", recorded.job_id, error)


def run_prepared(session: AnySession, jobs: list[tuple[Job, Handler]]) -> list[Outcome]:
    """Run jobs claimed and prepared ahead (hooks.prepares) with one commit for all: each
    handler carries out its effect (delivers its email, over the task's one connection)
    and records it (record_effect); then the records of every effect and the done marks
    go in one transaction. A prepared job's handler changes no rows: its rows were written
    when it was prepared. A job that failed before its effect is only retried itself (its
    prepared rows kept); one that failed after it is recorded as done, never carried out
    again. Should the database stay away, the records wait for this process's next task."""
    outcomes: dict[int, Outcome] = {}
    done: list[int] = []
    effects: dict[int, Effect] = {}
    failures: list[tuple[int, str, Exception]] = []
    session.info[_DEFER_KEY] = True
    try:
        for job, handler in jobs:
            with log_context(request_id=job.request_id, job_id=job.id, task=job.task):
                logger.info("job %s (%s) attempt %s", job.id, job.kind, job.attempts)
                session.info.pop(_EFFECT_KEY, None)
                try:
                    handler(session, job)
                except Exception as error:
                    if _EFFECT_KEY not in session.info:
                        failures.append((job.id, job.kind, error))
                        continue
                    logger.warning("job %s: error after its effect: %s", job.id, error)
                effect = session.info.pop(_EFFECT_KEY, None)
                done.append(job.id)
                if effect is not None:
                    effects[job.id] = effect
    except BaseException:  # the worker stops: record what was carried out, then stop
        if done:
            _write_done(session, done, effects)
        raise
    finally:
        session.info.pop(_DEFER_KEY, None)
    if done:
        _write_done(session, done, effects)
        outcomes |= dict.fromkeys(done, Outcome(JobState.DONE))
    for job_id, kind, failure in failures:
        _rollback(session)
        outcomes[job_id] = _failed(session, job_id, kind, failure, held=False)
    return [outcomes[job.id] for job, _ in jobs]


def _write_done(session: AnySession, done: list[int], effects: dict[int, Effect]) -> None:
    """The records and done marks of jobs run together, retried on fresh connections; if the
    database stays away, kept for this process's next task (and raised)."""
    try:
        retrying(session, f"recording jobs {done}", lambda: _write_effects(session, done, effects))
    except DBAPIError:
        _unwritten.update(effects)
        logger.error("jobs %s: done, but not recorded yet; this process tries again", done)
        raise


def has_unwritten_record(job_id: int) -> bool:
    """Whether this process carried out the job's effect without recording it yet: it must
    not be handed back to run again (worker._release); its next task records it."""
    return job_id in _unwritten


def _record(session: AnySession, job_id: int, effect: Effect, *, held: bool = False) -> Outcome:
    """Write an effect's record and the job's done mark, on fresh connections; if the
    database stays away, keep it for this process's next task (and raise)."""
    try:
        retrying(
            session,
            f"recording job {job_id}'s effect",
            lambda: _write_effects(session, [job_id], {job_id: effect}, held=held),
        )
    except DBAPIError:
        _unwritten[job_id] = effect
        logger.error("job %s: done, but not recorded yet; this process tries again", job_id)
        raise
    return Outcome(JobState.DONE)


def _after_error(session: AnySession, job_id: int, message: str, *, held: bool) -> Outcome:
    attempts = (session.scalar(select(Job.attempts).where(Job.id == job_id)) or 0) + held
    attempts = max(attempts, 1)
    if attempts >= MAX_ATTEMPTS:
        return _finish(session, job_id, JobState.FAILED, error=f"gave up: {message}", count=held)
    delay = retry_delay(attempts, current_app.config["BUREAU_SETTINGS"].job_retry_base)
    return _finish(session, job_id, JobState.PENDING, error=message, retry_in=delay, count=held)


def _finish(
    session: AnySession,
    job_id: int,
    state: JobState,
    *,
    error: str,
    retry_in: float | None = None,
    count: bool = False,
) -> Outcome:
    """``count``: the attempt's claim was held and rolled back with the run: count it here."""
    now = utcnow()
    values: dict[str, Any] = {"state": state, "last_error": error[:2000], **UNCLAIMED}
    if count:
        values["attempts"] = Job.attempts + 1
    if retry_in is not None:
        values["run_after"] = now + timedelta(seconds=retry_in)
    else:
        values["finished_at"] = now
    session.execute(update(Job).where(Job.id == job_id).values(**values))
    session.commit()
    if state == JobState.FAILED:
        logger.error("job %s failed for good: %s", job_id, error)
    return Outcome(state, error, retry_in)
