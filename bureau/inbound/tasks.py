"""The worker's task that reads one received message (thin: the work is services.process)."""

from __future__ import annotations

from celery import shared_task

from bureau.inbound.services import PROCESS_TASK, process
from bureau.outbox import execute, handles

handles(PROCESS_TASK)(process)


@shared_task(name=PROCESS_TASK)
def process_message(*, job_id: int) -> str:
    return execute(PROCESS_TASK, job_id, process)
