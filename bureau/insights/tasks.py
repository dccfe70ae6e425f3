"""The insights snapshots, refreshed by beat every few minutes (workers/schedule.py)."""

from __future__ import annotations

from celery import shared_task

from bureau.extensions import db
from bureau.insights.snapshot import refresh


@shared_task(name="bureau.insights.refresh")
def refresh_task() -> int:
    """Recompute the snapshots viewed lately, one at a time; drop the others."""
    try:
        return refresh(db.session)
    finally:
        db.session.remove()
