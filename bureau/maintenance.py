"""Periodic upkeep run by beat (the schedule is in workers/schedule.py)."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from bureau.extensions import db
from bureau.ops.heartbeat import release_silent_workers
from bureau.ops.queries import queue_depth
from bureau.outbox import sweep


@shared_task(name="bureau.jobs.sweep")
def sweep_jobs() -> int:
    """Re-enqueue outbox jobs left pending (broker was down) or orphaned (worker died, or
    fell silent: release_silent_workers), leaving alone those still waiting on the broker's
    queue behind a backlog."""
    settings = current_app.config["BUREAU_SETTINGS"]
    queue = current_app.extensions["celery"].conf.task_default_queue
    try:
        release_silent_workers(db.session)
        return sweep(db.session, queued=queue_depth(settings.broker_url, queue).messages)
    finally:
        db.session.remove()
