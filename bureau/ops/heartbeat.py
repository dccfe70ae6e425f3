"""Heartbeats of the Celery processes: written by each worker on a timer and by beat as it
sends scheduled tasks; read by the ops page, /readyz and ``bureau ops check``."""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, bootsteps
from celery.signals import beat_init, before_task_publish
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bureau.config import Settings
from bureau.db import AnySession, utcnow, without_raising
from bureau.ops.models import Heartbeat
from bureau.outbox import Job, JobState, release_held_by

logger = logging.getLogger(__name__)

WORKER_INTERVAL = 30.0  # seconds between a worker's heartbeats
WORKER_STALE_AFTER = 3 * WORKER_INTERVAL
BEAT_NAME = "beat"
_BEAT_MIN_GAP = 5.0  # beat sends several tasks at once; one write covers them


def beat_stale_after(settings: Settings) -> float:
    """Beat sends the sweep every sweep_interval and expires holds every minute."""
    return max(90.0, 3 * min(settings.sweep_interval, 60.0))


def record_heartbeat(
    session: AnySession,
    name: str,
    kind: str,
    *,
    starting: bool = False,
    now: datetime | None = None,
) -> None:
    """Upsert this process's row (one statement on PostgreSQL and SQLite alike)."""
    now = now or utcnow()
    values: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": now,
        "last_seen": now,
        "stopped_at": None,
    }
    changes = {k: v for k, v in values.items() if k != "name" and (starting or k != "started_at")}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(Heartbeat)
        .values(**values)
        .on_conflict_do_update(index_elements=[Heartbeat.name], set_=changes)
    )
    session.commit()


def mark_stopped(session: AnySession, name: str) -> None:
    session.execute(update(Heartbeat).where(Heartbeat.name == name).values(stopped_at=utcnow()))
    session.commit()


def fresh_heartbeats(
    session: AnySession, kind: str, stale_after: float, now: datetime | None = None
) -> list[Heartbeat]:
    cutoff = (now or utcnow()) - timedelta(seconds=stale_after)
    return list(
        session.scalars(
            select(Heartbeat)
            .where(
                Heartbeat.kind == kind,
                Heartbeat.last_seen >= cutoff,
                Heartbeat.stopped_at.is_(None),
            )
            .order_by(Heartbeat.name)
        )
    )


def release_previous_claims(
    session: AnySession, node: str, now: datetime | None = None
) -> list[int]:
    """At a worker's start, before it consumes: running jobs held under its node name were
    claimed by an earlier run of it that died without a warm shutdown (SIGKILL, a crash of
    the host or container); release them now instead of after their lease. Unless the
    heartbeats show another live worker using the very same name (names must be unique:
    Celery warns about duplicates): its jobs are left to their leases then."""
    now = now or utcnow()
    previous = session.get(Heartbeat, f"worker:{node}")
    if previous is not None and _still_running(previous, now):
        logger.warning(
            "another worker runs as %s (pid %s on %s): its jobs are not released; "
            "give each worker its own name (--hostname)",
            node,
            previous.pid,
            previous.hostname,
        )
        session.rollback()
        return []
    return release_held_by(session, node=node, now=now)


def release_silent_workers(session: AnySession, now: datetime | None = None) -> list[int]:
    """Run by each sweep: the claims of a worker whose heartbeat stopped (WORKER_STALE_AFTER,
    three missed beats) end now, and those jobs go back to the broker, instead of waiting for
    their lease (BUREAU_JOB_LEASE, minutes) — a worker killed and never restarted (a host
    lost, a container not restarted). Jobs held by a process without a heartbeat row (not a
    worker) are left to their leases. Commits; returns the job ids."""
    now = now or utcnow()
    holders = session.scalars(
        select(Job.locked_by)
        .where(Job.state == JobState.RUNNING, Job.locked_until > now, Job.locked_by.is_not(None))
        .distinct()
    ).all()
    names = {f"worker:{holder.rpartition(':')[0]}" for holder in holders if holder}
    cutoff = now - timedelta(seconds=WORKER_STALE_AFTER)
    silent = (
        session.scalars(
            select(Heartbeat)
            .where(Heartbeat.name.in_(names), Heartbeat.kind == "worker")
            .where(Heartbeat.last_seen < cutoff)
        ).all()
        if names
        else []
    )
    found = [(beat.name.removeprefix("worker:"), beat.last_seen) for beat in silent]
    session.rollback()
    released: list[int] = []
    for node, last_seen in found:
        logger.warning("worker %s silent since %s: releasing its jobs", node, last_seen)
        released += release_held_by(session, node=node, now=now)
    return released


def _still_running(beat: Heartbeat, now: datetime) -> bool:
    if beat.stopped_at is not None or beat.last_seen < now - timedelta(seconds=WORKER_STALE_AFTER):
        return False
    if beat.hostname != socket.gethostname():
        return True  # another machine: nothing here can tell whether it is alive
    # In a restarted container the earlier run may have had the very pid this one has.
    return beat.pid != os.getpid() and _pid_alive(beat.pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _write(flask_app: Flask, name: str, kind: str, *, starting: bool = False) -> None:
    """A heartbeat must never take its process down: a database away is logged, not raised."""
    without_raising(
        flask_app,
        f"heartbeat {name}",
        lambda session: record_heartbeat(session, name, kind, starting=starting),
    )


def install(celery: Celery, flask_app: Flask) -> None:
    """Make the Celery processes of this app write heartbeats (called by workers/celery_app)."""

    class WorkerHeartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
        """In the worker's main process, on the worker's own timer: the event loop with
        Redis, a timer thread with the SQLAlchemy broker; with any pool."""

        requires = {"celery.worker.components:Timer"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.tref: Any = None
            self.heartbeat_name = ""

        def start(self, worker: Any) -> None:
            # Before the consumer starts (it is the blueprint's last step): nothing of this
            # run holds a job yet.
            node = worker.hostname
            without_raising(
                flask_app,
                f"releasing the jobs an earlier {node} held",
                lambda session: release_previous_claims(session, node),
            )
            self.heartbeat_name = f"worker:{node}"
            _write(flask_app, self.heartbeat_name, "worker", starting=True)
            self.tref = worker.timer.call_repeatedly(
                WORKER_INTERVAL, _write, (flask_app, self.heartbeat_name, "worker"), priority=10
            )

        def stop(self, worker: Any) -> None:
            if self.tref is not None:
                self.tref.cancel()
                self.tref = None
            if self.heartbeat_name:
                name = self.heartbeat_name
                without_raising(
                    flask_app, f"closing heartbeat {name}", lambda s: mark_stopped(s, name)
                )

    celery.steps["worker"].add(WorkerHeartbeat)
    last_write = [0.0]

    def on_publish(**_: Any) -> None:
        if time.monotonic() - last_write[0] >= _BEAT_MIN_GAP:
            last_write[0] = time.monotonic()
            _write(flask_app, BEAT_NAME, "beat")

    def on_beat_init(**_: Any) -> None:
        _write(flask_app, BEAT_NAME, "beat", starting=True)
        last_write[0] = time.monotonic()
        # Only in the beat process: the web and workers publish too.
        before_task_publish.connect(on_publish, weak=False)

    beat_init.connect(on_beat_init, weak=False)
