"""Exactly one beat: a second beat is refused in one line while the first runs, and the lock
goes with the first beat's process, even killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bureau.config import load_settings
from bureau.ops.beat_lock import (
    BeatLockHeld,
    _take_advisory_lock,
    _take_file_lock,
    release_beat_lock,
    take_beat_lock,
)

# Real beat processes: slow, left out of a plain `pytest` (.ci/run runs it).
pytestmark = pytest.mark.slow

CELERY = str(Path(sys.executable).parent / "celery")


@pytest.fixture(autouse=True)
def _release() -> Iterator[None]:
    yield
    release_beat_lock()


def test_a_second_lock_on_the_same_sqlite_instance_is_refused(tmp_path: Path) -> None:
    take_beat_lock(load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path)}))
    with pytest.raises(BeatLockHeld, match=rf"beat\.lock \(pid {os.getpid()}\)"):
        _take_file_lock(tmp_path / "beat.lock")
    release_beat_lock()
    _take_file_lock(tmp_path / "beat.lock")  # free again


def test_a_second_lock_on_the_same_postgresql_database_is_refused(
    tmp_path: Path, postgres_database_factory: Callable[[], str]
) -> None:
    url = postgres_database_factory()
    take_beat_lock(
        load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), "BUREAU_DATABASE_URL": url})
    )
    with pytest.raises(BeatLockHeld, match="another beat holds the beat lock in the database"):
        _take_advisory_lock(url)
    # Another database (another deployment on the same server) has its own lock.
    _take_advisory_lock(postgres_database_factory())
    release_beat_lock()
    _take_advisory_lock(url)


def beat(env: dict[str, str], folder: Path, *, errors: bool = False) -> subprocess.Popen[str]:
    """A beat process; its standard error piped when asked, else in a file of `folder`."""
    with open(folder / "beat.log", "a") as log:
        return subprocess.Popen(
            [CELERY, "-A", "workers.celery_app", "beat", "--schedule", str(folder / "schedule")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE if errors else log,
            text=True,
        )


def advisory_locks(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_a_second_beat_process_is_refused_until_the_first_dies(
    tmp_path: Path, postgres_database_factory: Callable[[], str]
) -> None:
    url = postgres_database_factory()
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "BUREAU_INSTANCE_PATH": str(tmp_path),
        "BUREAU_DATABASE_URL": url,
    }
    first = beat(env, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while advisory_locks(url) == 0:
            assert first.poll() is None, (tmp_path / "beat.log").read_text()
            assert time.monotonic() < deadline, "the first beat took no lock in 30 s"
            time.sleep(0.2)
        second = beat(env, tmp_path, errors=True)
        _, errors = second.communicate(timeout=60)
        assert second.returncode == 1, errors
        assert errors.splitlines() == [
            "bureau: beat: another beat holds the beat lock in the database (connection from "
            + errors.split("(connection from ", 1)[1].split(")", 1)[0]
            + "); run exactly one beat per deployment"
        ], errors
        assert first.poll() is None  # the first goes on
    finally:
        first.send_signal(signal.SIGKILL)  # no clean exit: the lock must go with the process
        first.wait(timeout=30)
    deadline = time.monotonic() + 30
    while advisory_locks(url):
        assert time.monotonic() < deadline, "the killed beat's lock stayed"
        time.sleep(0.2)
    third = beat(env, tmp_path)
    try:
        time.sleep(1)
        deadline = time.monotonic() + 30
        while advisory_locks(url) == 0:
            assert third.poll() is None, (tmp_path / "beat.log").read_text()
            assert time.monotonic() < deadline, "the new beat took no lock in 30 s"
            time.sleep(0.2)
    finally:
        third.terminate()
        third.wait(timeout=30)
