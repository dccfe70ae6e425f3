"""The Celery app for `celery -A workers.celery_app worker|beat`, bound to create_app().

Every task runs inside the Flask app's context (bureau/queue.py); the beat schedule comes
from workers/schedule.py.
"""

from __future__ import annotations

import sys
from typing import Any

from celery.signals import worker_process_init

from bureau import create_app
from bureau.config import ConfigError
from bureau.extensions import db
from workers.schedule import beat_schedule

try:
    flask_app = create_app()
except ConfigError as error:
    # Celery would print a traceback and carry on importing; say it in one line and stop.
    print(f"bureau: configuration error: {error}", file=sys.stderr)
    raise SystemExit(2) from None
app = celery = flask_app.extensions["celery"]
app.conf.beat_schedule = beat_schedule(flask_app.config["BUREAU_SETTINGS"])


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked pool process must not reuse the parent's database connections."""
    with flask_app.app_context():
        db.engine.dispose(close=False)
