"""The transactional outbox: side effects recorded as rows in the transaction that causes them.

``record_job`` adds a row (deduplicated by a unique key) to the caller's transaction; once
that transaction commits, the job is sent to the broker (``dispatch``). If the broker is
unreachable the row simply stays ``pending`` and beat's ``sweep`` sends it later: an HTTP 2xx
never depends on the broker. A worker runs a job through ``execute`` and ``run_job``: it
claims the row with a conditional UPDATE (``claim``; a second delivery of the same message
finds nothing to do; on a first attempt it commits with the run), runs the handler a
feature registered (``hooks``), and records the outcome — done, a retry with exponential
backoff and jitter, or failed. Jobs recorded by a worker's job are prepared in its
transaction (``hooks.prepares``) and carried out together after it (``run_prepared``).
``release`` ends the claims of a worker process that died.
"""

from bureau.outbox.claim import claim, holder, holder_name
from bureau.outbox.dispatch import enqueue
from bureau.outbox.hooks import HANDLERS, around_tasks, handles, prepares
from bureau.outbox.models import Handler, Job, JobState, PermanentError, TransientError
from bureau.outbox.record import (
    JobSpec,
    is_quiet,
    job_insert,
    quiet_outbox,
    record_job,
    record_jobs,
    recorded,
    retry_failed,
)
from bureau.outbox.release import count_lost_attempt, release_held_by
from bureau.outbox.run import (
    MAX_ATTEMPTS,
    MAX_RETRY_DELAY,
    Effect,
    Outcome,
    record_effect,
    retry_delay,
    run_job,
    run_prepared,
)
from bureau.outbox.sweep import sweep
from bureau.outbox.worker import execute

__all__ = [
    "HANDLERS",
    "MAX_ATTEMPTS",
    "MAX_RETRY_DELAY",
    "Effect",
    "Handler",
    "Job",
    "JobSpec",
    "JobState",
    "Outcome",
    "PermanentError",
    "TransientError",
    "around_tasks",
    "claim",
    "count_lost_attempt",
    "enqueue",
    "execute",
    "handles",
    "holder",
    "holder_name",
    "is_quiet",
    "job_insert",
    "prepares",
    "quiet_outbox",
    "record_effect",
    "record_job",
    "record_jobs",
    "recorded",
    "release_held_by",
    "retry_delay",
    "retry_failed",
    "run_job",
    "run_prepared",
    "sweep",
]
