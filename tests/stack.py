"""A real worker stack for the tests that need one (tests/test_pipeline.py, tests/test_ops.py):
an app on a fresh database and broker, a Celery worker and beat in their own processes, and
the helpers to read what they did."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import Select, select

from bureau.extensions import db
from bureau.outbox import Job
from tests.conftest import worker_stack

ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T")


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def detached(app: Flask, statement: Select[T]) -> list[T]:
    """The rows `statement` selects, read in an app context and detached from its session, so
    their loaded attributes can be read after the context ends."""
    with app.app_context():
        rows = list(db.session.scalars(statement))
        db.session.expunge_all()
        return rows


class CeleryProcess:
    """`celery -A workers.celery_app worker|beat` as a child process with its own log."""

    def __init__(self, role: str, env: dict[str, str], folder: Path, *args: str) -> None:
        self.role, self.env, self.args = role, env, args
        self.log = folder / f"{role}-{uuid.uuid4().hex[:6]}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.write_text("")
        command = [sys.executable, "-m", "celery", "-A", "workers.celery_app", self.role]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--loglevel", "INFO", *self.args],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        ready = "ready." if self.role == "worker" else "beat: Starting"
        wait_until(lambda: ready in self.log.read_text() or self._died(), 60, f"{self.role}")
        assert not self._died(), self.log.read_text()[-3000:]

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def kill(self) -> None:
        """SIGKILL the whole process group: no warm shutdown, no acknowledgements."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


class Stack:
    """The app the test drives, the environment the worker and beat run with, and the worker
    (a test may kill and restart it)."""

    def __init__(self, app: Flask, env: dict[str, str], worker: CeleryProcess) -> None:
        self.app, self.env, self.worker = app, env, worker

    def jobs(self, **where: Any) -> list[Job]:
        return detached(self.app, select(Job).filter_by(**where))

    def wait_for_quiet(self) -> None:
        """Until no job is pending or running: the worker has finished what a test caused."""
        wait_until(
            lambda: not any(job.state in ("pending", "running") for job in self.jobs()),
            60,
            "the worker to finish this test's jobs",
        )


@contextmanager
def running_stack(
    folder: Path,
    database_url: str,
    broker_url: str,
    smtp_url: str,
    *,
    concurrency: int,
    **overrides: str,
) -> Iterator[Stack]:
    """`worker_stack` (tests/conftest.py) with a prefork worker of `concurrency` processes and
    beat running on it; beat, then the worker, stopped at the end."""
    app, env = worker_stack(folder, database_url, broker_url, smtp_url, **overrides)
    worker = CeleryProcess(
        "worker",
        env,
        folder,
        "--concurrency",
        str(concurrency),
        "--pool",
        "prefork",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    )
    beat = CeleryProcess("beat", env, folder, "--schedule", str(folder / "beat-schedule"))
    try:
        # Inside the try: a worker that started is stopped even when beat does not start.
        worker.start()
        beat.start()
        yield Stack(app, env, worker)
    finally:
        beat.stop()
        worker.stop()
