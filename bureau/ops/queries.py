"""What the ops page and /readyz report: heartbeats, the broker's queue, the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kombu.connection import Connection
from sqlalchemy import func, select

from bureau.bookings.models import BookingRequest
from bureau.config import Settings
from bureau.db import AnySession, utcnow
from bureau.mail.models import Notification
from bureau.ops.heartbeat import (
    BEAT_NAME,
    WORKER_STALE_AFTER,
    beat_stale_after,
    fresh_heartbeats,
)
from bureau.ops.models import Heartbeat
from bureau.outbox import Job, JobState

BROKER_TIMEOUT = 2.0  # seconds; the page and the probe never hang on a broker that is away


def outbox_stale_after(settings: Settings) -> float:
    """A due job nobody claimed for this long means the workers are not keeping up."""
    return max(300.0, 4 * settings.sweep_interval)


@dataclass
class QueueDepth:
    queue: str
    messages: int | None  # None: the broker did not answer
    error: str | None = None


def queue_depth(broker_url: str, queue: str) -> QueueDepth:
    """Messages waiting on the broker's queue (not those a worker holds), or why unknown.

    A passive declare reads the count without creating anything on Redis; kombu's SQLAlchemy
    transport has no "missing queue" and answers 0 for a queue never used. On Redis an empty
    queue has no key at all, which a passive declare reports as "not found": that is 0 too.
    """
    options: dict[str, Any] = {}
    if broker_url.startswith(("redis", "rediss")):
        options = {"socket_timeout": BROKER_TIMEOUT, "socket_connect_timeout": BROKER_TIMEOUT}
    try:
        with Connection(  # type: ignore[no-untyped-call]
            broker_url, connect_timeout=BROKER_TIMEOUT, transport_options=options
        ) as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
            channel = connection.channel()
            try:
                try:
                    declared = channel.queue_declare(queue=queue, passive=True)
                except connection.channel_errors as error:
                    if "NOT_FOUND" in str(error):
                        return QueueDepth(queue, 0)
                    raise
                return QueueDepth(queue, int(declared.message_count))
            finally:
                channel.close()
    except Exception as error:
        return QueueDepth(queue, None, f"{type(error).__name__}: {error}"[:300])


@dataclass
class Outbox:
    by_state: dict[str, int]
    due_unclaimed: int  # pending and due now
    waiting_retry: int  # pending, due later (a retry's backoff)
    stalled: int  # running, but the claim lapsed (the worker vanished)
    oldest_due_age: float | None  # seconds the oldest due, unclaimed job has waited
    failed: list[Job] = field(default_factory=list)
    recent_errors: list[tuple[Job, Notification | None]] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return self.by_state.get(JobState.PENDING, 0)

    @property
    def failed_count(self) -> int:
        return self.by_state.get(JobState.FAILED, 0)


def outbox_counts(session: AnySession, now: datetime | None = None) -> Outbox:
    """The figures only (two aggregate queries), for /readyz."""
    now = now or utcnow()
    counted = session.execute(select(Job.state, func.count()).group_by(Job.state))
    by_state: dict[str, int] = dict(counted.all())
    pending = Job.state == JobState.PENDING
    due = pending & (Job.run_after <= now)
    row = session.execute(
        select(
            func.count().filter(due),
            func.count().filter(pending & (Job.run_after > now)),
            func.count().filter((Job.state == JobState.RUNNING) & (Job.locked_until <= now)),
            func.min(Job.run_after).filter(due),
        )
    ).one()
    oldest: datetime | None = row[3]
    return Outbox(
        by_state=by_state,
        due_unclaimed=row[0],
        waiting_retry=row[1],
        stalled=row[2],
        oldest_due_age=max(0.0, (now - oldest).total_seconds()) if oldest else None,
    )


def outbox(session: AnySession, now: datetime | None = None, limit: int = 50) -> Outbox:
    """The figures, the failed jobs (with their bookings) and the latest errors."""
    summary = outbox_counts(session, now)
    summary.failed = list(
        session.scalars(
            select(Job)
            .where(Job.state == JobState.FAILED)
            .order_by(func.coalesce(Job.finished_at, Job.updated_at).desc(), Job.id.desc())
            .limit(limit)
        )
    )
    errors = session.execute(
        select(Job, Notification)
        .outerjoin(Notification, Notification.job_id == Job.id)
        .where(Job.last_error.is_not(None))
        .order_by(Job.updated_at.desc(), Job.id.desc())
        .limit(20)
    ).all()
    summary.recent_errors = [(job, notification) for job, notification in errors]
    return summary


def references(session: AnySession, jobs: list[Job]) -> dict[int, str]:
    ids = {job.booking_id for job in jobs if job.booking_id}
    if not ids:
        return {}
    return dict(
        session.execute(
            select(BookingRequest.id, BookingRequest.reference).where(BookingRequest.id.in_(ids))
        ).all()
    )


def heartbeats(session: AnySession) -> list[Heartbeat]:
    return list(session.scalars(select(Heartbeat).order_by(Heartbeat.kind, Heartbeat.name)))


def is_fresh(beat: Heartbeat, settings: Settings, now: datetime | None = None) -> bool:
    stale_after = beat_stale_after(settings) if beat.kind == "beat" else WORKER_STALE_AFTER
    age = ((now or utcnow()) - beat.last_seen).total_seconds()
    return beat.stopped_at is None and age <= stale_after


def readiness_checks(
    session: AnySession, settings: Settings
) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``checks`` of /readyz and the reasons it is degraded by the part that is (none:
    all well)."""
    now = utcnow()
    reasons: dict[str, str] = {}
    workers = fresh_heartbeats(session, "worker", WORKER_STALE_AFTER, now)
    if not workers:
        reasons["workers"] = f"no worker heartbeat in the last {WORKER_STALE_AFTER:.0f} s"
    beat = session.get(Heartbeat, BEAT_NAME)
    beat_age = (now - beat.last_seen).total_seconds() if beat is not None else None
    if beat is None or beat.stopped_at is not None or (beat_age or 0) > beat_stale_after(settings):
        reasons["beat"] = f"beat has not run in the last {beat_stale_after(settings):.0f} s"
    box = outbox_counts(session, now)
    if box.oldest_due_age is not None and box.oldest_due_age > outbox_stale_after(settings):
        reasons["outbox"] = f"the oldest due outbox job has waited {box.oldest_due_age:.0f} s"
    checks = {
        "workers": {"fresh": len(workers), "names": [w.name for w in workers]},
        "beat": {"last_run_age": round(beat_age, 1) if beat_age is not None else None},
        "outbox": {
            "pending": box.pending,
            "due_unclaimed": box.due_unclaimed,
            "oldest_due_age": round(box.oldest_due_age, 1)
            if box.oldest_due_age is not None
            else None,
            "failed": box.failed_count,
        },
    }
    return checks, reasons
