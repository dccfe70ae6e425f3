"""Without Redis, rate limits are counted in the database, so every web process shares them:
the documented "20 sign-in attempts per 10 minutes" holds however many gunicorn workers serve
(issue 15.9: 35-37 attempts passed with two workers counting in their own memory)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from flask_migrate import upgrade
from limits import parse_many

from bureau.limitstore import DatabaseStorage
from bureau.ratelimit import LOGIN_LIMIT
from tests.conftest import CSRF_INPUT, make_app
from tests.smtp import free_port
from tests.workflow_helpers import csrf_from

ALLOWED = min(item.amount for item in parse_many(LOGIN_LIMIT))


def test_the_documented_sign_in_limit() -> None:
    assert LOGIN_LIMIT == "20 per 10 minutes"
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert "20 sign-in attempts per 10 minutes" in readme


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of either kind (the storage serialises differently)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = request.getfixturevalue("postgres_database_factory")()
    with make_app(tmp_path, url).app_context():
        upgrade()
    return url


def test_apps_on_one_database_share_the_sign_in_limit(tmp_path: Path, fresh_database: str) -> None:
    """Two apps (as two processes would), attempts from four threads at once."""
    apps = [make_app(tmp_path, fresh_database, RATELIMIT_ENABLED=True) for _ in range(2)]
    assert isinstance(apps[0].extensions["bureau.limiter"].storage, DatabaseStorage)

    def attempt(number: int) -> int:
        client = apps[number % 2].test_client()
        token = csrf_from(client.get("/staff/login").get_data(as_text=True))
        data = {"email": f"guess{number}@bureau.test", "password": "x", "csrf_token": token}
        return client.post("/staff/login", data=data).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = Counter(pool.map(attempt, range(ALLOWED + 6)))
    assert codes == {401: ALLOWED, 429: 6}, codes
    after = apps[1].test_client()
    token = csrf_from(after.get("/staff/login").get_data(as_text=True))
    data = {"email": "late@bureau.test", "password": "x", "csrf_token": token}
    assert after.post("/staff/login", data=data).status_code == 429


def sign_in_attempt(base: str, number: int) -> int:
    """A browser's sign-in attempt: the page (cookie, CSRF token), then the POST."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with opener.open(f"{base}/staff/login", timeout=30) as response:
        found = CSRF_INPUT.search(response.read().decode())
    assert found
    data = urllib.parse.urlencode(
        {"email": f"guess{number}@bureau.test", "password": "x", "csrf_token": found.group(1)}
    ).encode()
    try:
        opener.open(f"{base}/staff/login", data=data, timeout=30)
    except urllib.error.HTTPError as error:
        return error.code
    return 200


@pytest.fixture
def gunicorn_web(tmp_path: Path) -> Iterator[str]:
    """gunicorn with three workers on the embedded defaults (SQLite, no Redis)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_")}
    env |= {"BUREAU_INSTANCE_PATH": str(tmp_path / "instance"), "WEB_CONCURRENCY": "3"}
    subprocess.run(
        [sys.executable, "-m", "bureau", "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "-c", "python:bureau.gunicorn_conf"),
                *("--bind", f"127.0.0.1:{port}", "bureau:create_app()"),
            ],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        # All three workers booted, and answering: the attempts below spread over them.
        while log.read_text().count("Booting worker") < 3 or not answers(base):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def answers(base: str) -> bool:
    try:
        urllib.request.urlopen(f"{base}/healthz", timeout=2)
    except OSError:
        return False
    return True


@pytest.mark.slow  # gunicorn with three workers, started for real
def test_gunicorn_workers_share_the_sign_in_limit(gunicorn_web: str) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(lambda n: sign_in_attempt(gunicorn_web, n), range(ALLOWED + 10)))
    assert Counter(codes) == {401: ALLOWED, 429: 10}, Counter(codes)
