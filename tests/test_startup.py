"""Every entry point refuses a bad setting with one line naming it and exit status 2: run for
real, in a subprocess, as an operator or a container would start it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Dozens of real processes started: slow, left out of a plain `pytest` (.ci/run runs it).
pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
# The processes of a deployment, and the `bureau` command's own (an admin task, the web).
ENTRY_POINTS = {
    "bureau db upgrade": ["bureau", "db", "upgrade"],
    "bureau web": ["bureau", "web", "--port", "1"],
    "bureau worker": ["bureau", "worker"],
    "celery worker": ["celery", "-A", "workers.celery_app", "worker"],
    "celery beat": ["celery", "-A", "workers.celery_app", "beat"],
    "gunicorn -c": ["gunicorn", "-c", "python:bureau.gunicorn_conf", "bureau:create_app()"],
}
# The settings that escaped as tracebacks (issue 22, item 4), with the line each now gets.
BAD_SETTINGS = {
    "port not a number": (
        {"BUREAU_DATABASE_URL": "postgresql+psycopg://bureau@db:abc/bureau"},
        "BUREAU_DATABASE_URL: port must be a number from 1 to 65535 (got 'abc')",
    ),
    "unknown driver": (
        {"BUREAU_DATABASE_URL": "postgresql+nosuchdriver://bureau@db/bureau"},
        "BUREAU_DATABASE_URL: driver 'postgresql+nosuchdriver' is unknown or not installed",
    ),
    "broken URL": (
        {"BUREAU_DATABASE_URL": "postgresql+psycopg://bureau@[::1/bureau"},
        "BUREAU_DATABASE_URL is not a URL",
    ),
    "broker port": (
        {"BUREAU_BROKER_URL": "redis://redis:63o9/0"},
        "BUREAU_BROKER_URL: port must be a number from 1 to 65535 (got '63o9')",
    ),
    "broker transport": (
        {"BUREAU_BROKER_URL": "rabbit://mq//"},
        "BUREAU_BROKER_URL: 'rabbit' is not a Celery transport",
    ),
    "redis port": (
        {"BUREAU_REDIS_URL": "redis://redis:abc/1"},
        "BUREAU_REDIS_URL: port must be a number from 1 to 65535 (got 'abc')",
    ),
    "unreadable secret file": (
        {"BUREAU_SECRET_KEY_FILE": "/nonexistent/secret_key"},
        "BUREAU_SECRET_KEY_FILE: cannot read /nonexistent/secret_key: No such file or directory",
    ),
}


def start(argv: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        env={"PATH": f"{BIN}:/usr/bin:/bin", "BUREAU_INSTANCE_PATH": str(tmp_path), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@pytest.mark.parametrize("setting", BAD_SETTINGS)
def test_every_entry_point_refuses_a_bad_setting_in_one_line(
    tmp_path: Path, entry_point: str, setting: str
) -> None:
    env, message = BAD_SETTINGS[setting]
    result = start(ENTRY_POINTS[entry_point], env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()], f"not one line:\n{result.stderr}"
    assert result.stderr.startswith(f"bureau: configuration error: {message}")


@pytest.mark.parametrize("setting", ["port not a number", "unreadable secret file"])
def test_plain_gunicorn_stops_at_once_with_one_line_and_no_traceback(
    tmp_path: Path, setting: str
) -> None:
    """Without the config file gunicorn's master builds no app and prints its own start-up
    lines; the worker says why in one line, and the master stops (status 4, "App failed to
    load") instead of restarting workers that can never boot."""
    env, message = BAD_SETTINGS[setting]
    # One worker: with several, gunicorn 27's arbiter can reap a second failed worker while
    # halting and print its own HaltServer traceback (exit 1) - its race, not our line.
    env = {**env, "WEB_CONCURRENCY": "1"}
    result = start(["gunicorn", "--bind", "127.0.0.1:0", "bureau:create_app()"], env, tmp_path)
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("bureau:")]
    assert ours, result.stderr
    assert set(ours) == {f"bureau: configuration error: {message}"}
    assert "App failed to load" in result.stderr
