"""Gunicorn settings for the web: `gunicorn -c python:bureau.gunicorn_conf 'bureau:create_app()'`.

`bureau web` (and so `bureau run`) uses the same settings. Gunicorn's own environment
conventions apply: WEB_CONCURRENCY sets the number of worker processes, GUNICORN_CMD_ARGS adds
or overrides options, and command-line options win over this file. See docs/deploy.md.
"""

from __future__ import annotations

import gc
import os
from typing import Any

from bureau.config import ConfigError, load_settings
from bureau.refusal import refuse

# Check the settings once in the master, before any worker forks: a bad deployment stops here
# with one line instead of every worker failing to boot in a loop.
try:
    _settings = load_settings()
except ConfigError as _error:
    refuse(_error)

bind = ["0.0.0.0:8000"]  # inside a container; --bind or GUNICORN_CMD_ARGS to change
# Sync workers: every request is short (no streaming, no websockets) and a reverse proxy in
# front buffers slow clients. Two per core plus one keeps the CPU busy while one waits on SQL.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1))
worker_class = "sync"
timeout = 30
graceful_timeout = 30
keepalive = 5  # longer than nothing, shorter than a proxy's idle timeout (nginx: 60 s)
# Replace each worker after a few thousand requests (with jitter, so not all at once): any
# slow leak in a dependency cannot grow without bound.
max_requests = 5000
max_requests_jitter = 500
# Each worker builds its own app after the fork: no database connection crosses a fork.
preload_app = False
# Container file systems can stall the workers' heartbeat files; memory never does.
if os.path.isdir("/dev/shm"):  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108
errorlog = "-"
# The request id (X-Request-ID) joins an access-log line to the app's and the tasks' logs.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
if _settings.log_format == "json":
    # The app logs each request itself, with its id (bureau/logs.py); gunicorn's own lines go
    # through the same JSON handler.
    accesslog = None
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"json": {"class": "bureau.logs.BureauHandler", "log_format": "json"}},
        "root": {"level": "INFO", "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }
else:
    accesslog = "-"
# Request line and header limits; the app limits bodies to 1 MiB (MAX_CONTENT_LENGTH).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190


def post_worker_init(worker: Any) -> None:
    """The worker has built its app: move the ~150,000 objects that took out of the cyclic
    garbage collector's sight (gc.freeze). Each full collection walked them all, a pause of
    about 90 ms that hit one request in a hundred (bench.pages: p99 100 ms → 15 ms)."""
    gc.freeze()
