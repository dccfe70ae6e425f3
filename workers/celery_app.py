"""The Celery app for `celery -A workers.celery_app worker|beat`, bound to create_app().

Every task runs inside the Flask app's context (bureau/queue.py); the beat schedule comes
from workers/schedule.py. Logging is ours (bureau/logs.py, BUREAU_LOG_FORMAT), not Celery's;
workers and beat write heartbeats (bureau/ops/heartbeat.py).
"""

from __future__ import annotations

import gc
import sys
from typing import Any

from celery.signals import beat_init, setup_logging, worker_process_init

from bureau import create_app
from bureau.config import ConfigError
from bureau.extensions import db
from bureau.logs import configure_logging
from bureau.ops.heartbeat import install as install_heartbeats
from bureau.refusal import refuse
from workers.reconnect import ReconnectingConnection
from workers.schedule import beat_schedule

try:
    flask_app = create_app()
except ConfigError as error:
    # Celery would print a traceback and carry on importing; say it in one line and stop.
    refuse(error)
app = celery = flask_app.extensions["celery"]
app.conf.beat_schedule = beat_schedule(flask_app.config["BUREAU_SETTINGS"])
# Survive a broker restart or a long outage (issue 22; docs/deploy.md, "Broker outages"):
app.conf.update(
    # Reconnect for as long as it takes; the default gives up after 100 tries (about 50
    # minutes) and the worker exits.
    broker_connection_max_retries=None,
    # Tasks running when the connection drops finish; their jobs are in the outbox, and
    # cancelling them has killed workers (celery/celery#7185).
    worker_cancel_long_running_tasks_on_connection_loss=False,
)
if flask_app.config["BUREAU_SETTINGS"].broker_url.startswith("redis://"):
    app.conf.broker_transport = "workers.redis_transport:Transport"
# Once the broker is back, reconnect within seconds (kombu's default waits up to 30 s).
app.amqp.Connection = ReconnectingConnection


@beat_init.connect
def _only_beat(**_: Any) -> None:
    """Exactly one beat: refuse to start while another holds the lock (connected before the
    heartbeats, so a refused beat writes none)."""
    from bureau.ops.beat_lock import BeatLockHeld, take_beat_lock

    try:
        take_beat_lock(flask_app.config["BUREAU_SETTINGS"])
    except BeatLockHeld as held:
        reason = f"{held}; run exactly one beat per deployment"
    except Exception as error:  # the database is away: the restart policy tries again
        reason = f"cannot take the beat lock ({type(error).__name__})"
    else:
        return
    print(f"bureau: beat: {reason}", file=sys.stderr, flush=True)
    raise SystemExit(1)


install_heartbeats(app, flask_app)


@setup_logging.connect
def _our_logging(loglevel: Any = None, **_: Any) -> None:
    """Connected, so Celery neither configures the root logger nor redirects stdout."""
    configure_logging(
        flask_app.config["BUREAU_SETTINGS"].log_format, level=loglevel or "INFO", force=True
    )


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked pool process must not reuse the parent's database connections. What it
    inherited is frozen out of the garbage collector's walks (as in bureau/gunicorn_conf.py):
    shorter pauses, and fewer shared pages copied by the collector touching them."""
    with flask_app.app_context():
        db.engine.dispose(close=False)
    gc.freeze()
