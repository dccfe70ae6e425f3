"""The retention period, applied by beat once a day (workers/schedule.py)."""

from __future__ import annotations

from celery import shared_task
from flask import current_app

from bureau.extensions import db
from bureau.privacy.retention import apply_retention


@shared_task(name="bureau.privacy.apply_retention")
def apply_retention_task() -> int:
    """Anonymise requests that never became bookings and lie idle past the retention period."""
    settings = current_app.config["BUREAU_SETTINGS"]
    try:
        done = apply_retention(
            db.session, days=settings.retention_days, mail_folder=settings.instance_path / "mail"
        )
        return len(done.references)
    finally:
        db.session.remove()
