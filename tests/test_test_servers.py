"""A plain `pytest` touches no server it did not start: tests that need PostgreSQL or Redis get
ones the session starts (tests/services.py) unless BUREAU_TEST_POSTGRES_URL /
BUREAU_TEST_REDIS_URL name one, and a connection to 127.0.0.1:6379 or :5432 unasked is an
error that fails the test which made it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.services import SharedServerTouched, guard_shared_ports

ROOT = Path(__file__).resolve().parent.parent


def test_the_guard_refuses_the_shared_ports_and_records_them() -> None:
    touched: list[str] = []
    with guard_shared_ports(set(), touched):
        with pytest.raises(SharedServerTouched, match="did not start"):
            socket.create_connection(("127.0.0.1", 6379), timeout=1)  # as redis-py connects
        engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
        with pytest.raises(SharedServerTouched):
            engine.connect()
        engine.dispose()
    assert touched == ["127.0.0.1:6379", "127.0.0.1:5432"]


@pytest.mark.slow  # a second pytest: CI, where the settings name servers, runs it
def test_a_plain_run_starts_its_own_postgres_and_redis() -> None:
    """The tests that need the servers, run as a newcomer would (no BUREAU_TEST_* settings):
    they run and pass on servers of their own, and nothing reached for the shared ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_TEST_")}
    selection = [
        "tests/test_redis_transport.py",
        "tests/test_jobs_database_errors.py::test_a_dropped_connection_runs_the_job_again_at_once",
        "tests/test_test_servers.py::test_the_guard_refuses_the_shared_ports_and_records_them",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-rA",
         *selection],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "bureau: PostgreSQL: its own, Redis: its own" in done.stdout
    summary = done.stdout.strip().splitlines()[-1]
    assert "passed" in summary, summary
    assert "skipped" not in summary, summary
    assert "deselected" not in summary, summary
