"""Periodic upkeep run by beat (the schedule is in workers/schedule.py)."""

from __future__ import annotations

from celery import shared_task

from bureau.extensions import db
from bureau.jobs import sweep


@shared_task(name="bureau.jobs.sweep")
def sweep_jobs() -> int:
    """Re-enqueue outbox jobs left pending (broker was down) or orphaned (worker died)."""
    try:
        return sweep(db.session)
    finally:
        db.session.remove()
