"""Sending a job's task to the broker. Every part of the outbox calls ``dispatch.enqueue``
through this module, so a test can put a stand-in for the broker in one place."""

from __future__ import annotations

import logging

from flask import current_app

logger = logging.getLogger(__name__)


def enqueue(task: str, job_id: int, countdown: float | None = None) -> bool:
    """Send a job's task to the broker; False (and a log line) when the broker is away.

    After a failure the process's breaker (bureau.breaker) skips sending for a few seconds:
    the row is committed, the sweeper sends it, and a request does not wait on the broker.
    """
    celery = current_app.extensions.get("celery")
    if celery is None:
        logger.warning("no Celery app; job %s (%s) waits for the sweeper", job_id, task)
        return False
    breaker = current_app.extensions["broker_breaker"]
    if not breaker.allow():
        logger.info("broker away: job %s (%s) waits for the sweeper", job_id, task)
        return False
    try:
        celery.send_task(task, kwargs={"job_id": job_id}, countdown=countdown, retry=False)
    except Exception as error:
        breaker.failed()
        logger.warning(
            "broker unreachable (%s); job %s (%s) stays pending for the sweeper",
            error,
            job_id,
            task,
        )
        return False
    breaker.succeeded()
    return True
