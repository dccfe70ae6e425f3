"""Logging in one place: text or JSON lines, and the request id carried into the worker's jobs.

A web request gets an id (a sane incoming ``X-Request-ID``, else a new one), returned in the
response's ``X-Request-ID`` and put on every log record made during the request. Jobs recorded
during the request keep it (``jobs.request_id``); when a worker runs such a job the id is set
again, with the job's id and task, so the worker's lines carry it too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

request_id_var: ContextVar[str | None] = ContextVar("bureau_request_id", default=None)
job_var: ContextVar[tuple[int, str] | None] = ContextVar("bureau_job", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def sane_request_id(value: str | None) -> str | None:
    """The incoming id if it is a short token of safe characters, else None."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextlib.contextmanager
def log_context(
    *, request_id: str | None, job_id: int | None = None, task: str = ""
) -> Iterator[None]:
    """Within the block, log records carry this request id (and job)."""
    rid_token = request_id_var.set(request_id)
    job_token = job_var.set((job_id, task) if job_id is not None else None)
    try:
        yield
    finally:
        job_var.reset(job_token)
        request_id_var.reset(rid_token)


class ContextFilter(logging.Filter):
    """Puts the current request id, job id and task on every record a handler sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        job = job_var.get()
        record.job_id = job[0] if job else None
        record.task = job[1] if job else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "process": record.process,
        }
        if entry["request_id"] == "-":
            entry["request_id"] = None
        if getattr(record, "job_id", None) is not None:
            entry["job_id"] = getattr(record, "job_id", None)
            entry["task"] = getattr(record, "task", None)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class BureauHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our handler on the root logger (a class of its own, so it is recognised when present)."""

    def __init__(self, log_format: str = "text", stream: Any = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self.addFilter(ContextFilter())
        self.set_format(log_format)

    def set_format(self, log_format: str) -> None:
        self.log_format = log_format
        self.setFormatter(
            JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
        )


def configure_logging(
    log_format: str, *, level: int | str | None = None, force: bool = False
) -> None:
    """Install our handler on the root logger, in the chosen format.

    A host process that configured logging itself (a test runner, a logging config file)
    keeps its handlers unless ``force`` (the Celery processes, where we own logging).
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, BureauHandler)]
    for handler in ours:
        handler.set_format(log_format)
    if not ours and (force or not root.handlers):
        root.addHandler(BureauHandler(log_format))
        root.setLevel(logging.INFO)
    if level is not None:
        root.setLevel(level)


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


access_logger = logging.getLogger("bureau.access")


class RequestIdMiddleware:
    """Gives every web request an id, in the log context and the ``X-Request-ID`` header.

    With ``access_log`` (JSON logs, where gunicorn's text access log is turned off) it also
    logs one line per request, carrying the id.
    """

    def __init__(self, app: WSGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request_id = sane_request_id(environ.get("HTTP_X_REQUEST_ID")) or new_request_id()
        environ["bureau.request_id"] = request_id

        answered: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered.append(status)
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append(("X-Request-ID", request_id))
            return start_response(status, headers, exc_info)

        started = time.perf_counter()
        with log_context(request_id=request_id):
            try:
                return self.app(environ, start)
            finally:
                if self.access_log:
                    access_logger.info(
                        "%s %s %s %.1f ms",
                        environ.get("REQUEST_METHOD"),
                        environ.get("PATH_INFO"),
                        answered[-1].split(" ", 1)[0] if answered else "-",
                        (time.perf_counter() - started) * 1000,
                    )
