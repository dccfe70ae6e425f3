"""The Celery app bound to a Flask app: every task runs inside an app context.

Created by ``create_app`` and kept in ``app.extensions["celery"]``; the web uses it only to
send tasks (after commit, see bureau/outbox/); ``workers/celery_app.py`` runs it.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from celery.exceptions import WorkerLostError
from celery.worker.request import Request
from flask import Flask

from bureau.breaker import CircuitBreaker
from bureau.db import without_raising
from bureau.outbox import MAX_RETRY_DELAY, count_lost_attempt, holder_name, release_held_by

# Feature modules whose tasks the worker registers.
TASK_MODULES = (
    "bureau.billing.tasks",
    "bureau.bookings.tasks",
    "bureau.calendar.tasks",
    "bureau.contracts.attachments",  # the contract's PDF on its emails
    "bureau.inbound.tasks",
    "bureau.insights.tasks",
    "bureau.mail.tasks",
    "bureau.maintenance",
    "bureau.privacy.tasks",
)


def _transport_options(broker_url: str) -> dict[str, Any]:
    if broker_url.startswith(("redis", "rediss")):
        # Redis re-delivers a message nobody acknowledged after this long. Retries are sent
        # with a countdown of up to MAX_RETRY_DELAY and held unacknowledged by the worker
        # until due; a shorter timeout would deliver them twice.
        return {
            "visibility_timeout": int(MAX_RETRY_DELAY * 2),
            # A broker that does not answer costs a request at most this, once: then the
            # breaker (bureau.breaker) skips publishing for a while.
            "socket_connect_timeout": 1.0,
        }
    # kombu's SQLAlchemy transport hands its options to create_engine(): give it none.
    return {}


def init_celery(app: Flask) -> Celery:
    settings = app.config["BUREAU_SETTINGS"]

    class JobRequest(Request):  # type: ignore[misc]
        """A task as the worker's main process sees it. When the pool process running it
        dies (SIGKILL, the OOM killer), the jobs that process held are released at once,
        not when their lease lapses (BUREAU_JOB_LEASE, minutes): Celery gives the message
        back to the broker (task_reject_on_worker_lost), but the email jobs that process
        had claimed for itself have no message of their own. The task's own job, if its
        first attempt died with its claim uncommitted, gets that attempt counted."""

        def on_failure(self, exc_info: Any, send_failed_event: bool = True, **kwargs: Any) -> Any:
            error = getattr(exc_info.exception, "exc", exc_info.exception)  # unwrapped
            if isinstance(error, WorkerLostError) and self.worker_pid:
                holder = holder_name(self.hostname, self.worker_pid)
                job_id = (self.kwargs or {}).get("job_id")

                def release(session: Any) -> None:
                    release_held_by(session, holder=holder)
                    # Its own job's first attempt may have died with its claim uncommitted.
                    if isinstance(job_id, int):
                        count_lost_attempt(session, job_id)

                # Never raises: with the database away, the leases lapse as before.
                without_raising(app, f"releasing the jobs of {holder}", release)
            return super().on_failure(exc_info, send_failed_event, **kwargs)

    class FlaskTask(Task):  # type: ignore[misc]
        Request = JobRequest

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.config_from_object(
        {
            "broker_url": settings.broker_url,
            "task_serializer": "json",
            "accept_content": ["json"],
            "result_serializer": "json",
            "task_ignore_result": True,
            # At-least-once delivery: the message is acknowledged after the task ran, and
            # given back when the worker process dies; the outbox makes that exactly-once.
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "task_default_queue": "bureau",
            "broker_connection_retry_on_startup": True,
            # Fail fast when the broker is away: the web answers and the sweeper catches up.
            "broker_connection_timeout": 2,
            "broker_transport_options": _transport_options(settings.broker_url),
            "beat_schedule_filename": str(settings.instance_path / "celerybeat-schedule"),
            "worker_hijack_root_logger": False,
            "timezone": "UTC",
        }
    )
    celery.set_default()
    app.extensions["celery"] = celery
    app.extensions["broker_breaker"] = CircuitBreaker()
    for module in TASK_MODULES:
        __import__(module)
    return celery
