"""What the benchmark adds to the worker (``celery worker -I bench.tasks``).

``bench.noop`` does nothing but count itself in Redis and note when it ran (results are
ignored by the project's Celery config, so completions cannot be counted that way), and
the ``worker_ready`` signal leaves a key in Redis so the benchmark knows the worker consumes.
Both use the broker's Redis database, which the benchmark owns and flushes.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Task, shared_task
from celery.signals import worker_ready

NOOP_COUNTER = "bench:noop:done"
NOOP_FIRST = "bench:noop:first"  # wall-clock time of the first execution
NOOP_LAST = "bench:noop:last"  # … and of the latest
READY_KEY = "bench:worker:ready"

_client: tuple[int, redis.Redis[bytes]] | None = None


def _redis(url: str) -> redis.Redis[bytes]:
    """One client per process, made after the fork (a pool child must not share sockets)."""
    global _client
    if _client is None or _client[0] != os.getpid():
        _client = (os.getpid(), redis.Redis.from_url(url))
    return _client[1]


@shared_task(name="bench.noop", bind=True)
def noop(self: Task) -> None:
    now = time.time()
    pipe = _redis(str(self.app.conf.broker_url)).pipeline(transaction=False)
    pipe.setnx(NOOP_FIRST, now).set(NOOP_LAST, now).incr(NOOP_COUNTER)
    pipe.execute()  # one round trip


@worker_ready.connect
def _announce_ready(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    url = str(app.conf.broker_url) if app is not None else os.environ["BUREAU_BROKER_URL"]
    _redis(url).set(READY_KEY, os.getpid())
