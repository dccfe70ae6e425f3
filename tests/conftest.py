"""Shared fixtures: an app on SQLite (default) or PostgreSQL, real services, test data.

Backends: ``BUREAU_TEST_DB=sqlite`` (default, fast) or ``postgresql`` runs the whole suite on
a fresh PostgreSQL database. Tests that need a real PostgreSQL or Redis connect for real: to
the server ``BUREAU_TEST_POSTGRES_URL`` / ``BUREAU_TEST_REDIS_URL`` names, else to one the
session starts itself (tests/services.py); no test contacts a server it was not told of. When
a service cannot be had they fail under CI (``CI`` set) and skip, saying why, elsewhere.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import pytest
from argon2 import PasswordHasher
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import bureau.staff.auth
from bureau import create_app
from tests.services import IN_CI as IN_CI  # re-exported: tests import it from here
from tests.services import RedisServer, guard_shared_ports, missing, own_postgres

# A server to use instead of one of the tests' own: none unless the settings name one.
POSTGRES_SERVER_URL = os.environ.get("BUREAU_TEST_POSTGRES_URL") or None
REDIS_URL = os.environ.get("BUREAU_TEST_REDIS_URL") or None
BACKEND = os.environ.get("BUREAU_TEST_DB", "sqlite")
# Shared servers may only be contacted on the ports the settings name.
_NAMED_PORTS = {
    make_url(url).port or default
    for url, default in ((POSTGRES_SERVER_URL, 5432), (REDIS_URL, 6379))
    if url
}
TOUCHED: list[str] = []  # shared servers a test tried to contact (tests/services.py)

# argon2 at its production cost takes ~0.2 s of CPU per hash or check, and the suite signs
# staff in hundreds of times: its tests hash at the least cost (still argon2id, still
# checked). A test that measures the cost asks for `production_password_cost`.
PRODUCTION_HASHER = bureau.staff.auth.hasher
bureau.staff.auth.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


# Left out of a plain `pytest` (the README's, for every change): minutes of real processes.
# `pytest -m ...`, `pytest --everything` (.ci/run) or naming a test file runs them.
LONG_MARKERS = ("load", "slow")
SLOW_SECONDS = 5.0  # an unmarked test slower than this is named at the end of a default run


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--everything",
        action="store_true",
        help="also run the tests marked load or slow (a plain `pytest` leaves them out)",
    )


def default_run(config: pytest.Config) -> bool:
    """No -m, no --everything, and only folders named (`pytest`, `pytest tests`)."""
    if config.option.markexpr or config.option.everything:
        return False
    return all(Path(arg.split("::")[0]).is_dir() for arg in config.args)


# Fixtures that make any test using them slow without a mark: a real Chromium.
SLOW_FIXTURES = ("browser",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in SLOW_FIXTURES for name in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if not default_run(config):
        return
    kept = [i for i in items if not any(i.get_closest_marker(m) for m in LONG_MARKERS)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """A default run on servers of its own runs on every core (pytest-xdist, when installed):
    each worker has its own SQLite files, redis-server and PostgreSQL cluster. Not when the
    settings name shared servers (workers would flush each other's Redis), nor for a chosen
    selection or the load tests (their timings want the machine); `-n` chooses for itself.
    `--dist worksteal`: each worker starts on its own half of the tests in order (a module's
    tests together, so its fixtures are built once, not once per worker), and a worker that
    runs out takes tests from the other's end. (`loadgroup` does not group on pytest 9.2:
    pytest-xdist issue 1386.)"""
    if (
        config.pluginmanager.hasplugin("xdist")
        and config.getoption("numprocesses", None) is None
        and not hasattr(config, "workerinput")
        and not (POSTGRES_SERVER_URL or REDIS_URL)
        and default_run(config)
        and not config.option.collectonly
    ):
        config.option.numprocesses = "auto"
        if config.getoption("dist", "no") == "no":
            config.option.dist = "worksteal"


def pytest_report_header(config: pytest.Config) -> str:
    servers = ", ".join(
        f"{name} at {url}" if url else f"{name}: its own"
        for name, url in (("PostgreSQL", POSTGRES_SERVER_URL), ("Redis", REDIS_URL))
    )
    left_out = " or ".join(LONG_MARKERS)
    if default_run(config):
        return f"bureau: {servers}; tests marked {left_out} left out (--everything runs them)"
    return f"bureau: {servers}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not default_run(config):
        return
    slow = sorted(
        (report.duration, report.nodeid)
        for report in terminalreporter.getreports("passed")
        if report.when == "call" and report.duration > SLOW_SECONDS
    )
    if slow:
        terminalreporter.section("slow tests in the default run")
        for seconds, nodeid in reversed(slow):
            terminalreporter.write_line(f"{seconds:5.1f} s {nodeid}: mark it slow, or speed it up")


def pytest_configure(config: pytest.Config) -> None:
    config._bureau_guard = guard_shared_ports(_NAMED_PORTS, TOUCHED)  # type: ignore[attr-defined]
    config._bureau_guard.__enter__()  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    guard = getattr(config, "_bureau_guard", None)
    if guard is not None:
        guard.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _no_shared_servers() -> Iterator[None]:
    """A test that contacts 127.0.0.1:6379 or :5432 unasked fails, even if it caught the error."""
    before = len(TOUCHED)
    yield
    if len(TOUCHED) > before:
        pytest.fail(f"contacted a server it did not start: {TOUCHED[before:]}", pytrace=False)


def service_missing(name: str, url: str, error: Exception) -> NoReturn:
    missing(f"{name} at {url} is unreachable ({type(error).__name__}: {error})", "start it")


@pytest.fixture
def production_password_cost(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Passwords hashed and checked meanwhile at the cost production uses."""
    monkeypatch.setattr(bureau.staff.auth, "hasher", PRODUCTION_HASHER)
    bureau.staff.auth._dummy_hash.cache_clear()
    yield
    bureau.staff.auth._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """BUREAU_TEST_POSTGRES_URL when set, else a PostgreSQL cluster of the session's own."""
    if POSTGRES_SERVER_URL:
        yield POSTGRES_SERVER_URL
        return
    with own_postgres() as url:  # fails under CI, skips elsewhere, when it cannot start one
        yield url


@pytest.fixture(scope="session")
def postgres_database_factory(postgres_server_url: str) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty PostgreSQL databases; drops them all at the end of the session."""
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make() -> str:
        try:
            with admin.connect() as connection:
                name = f"bureau_test_{uuid.uuid4().hex[:12]}"
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as error:
            service_missing("PostgreSQL", postgres_server_url, error)
        created.append(name)
        return make_url(postgres_server_url).set(database=name).render_as_string(False)

    yield make
    dispose_engines()
    if created:
        with admin.connect() as connection:
            for name in created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """BUREAU_TEST_REDIS_URL when set (it must answer), else a redis-server of the session's
    own, database 0 (tests may use the server's other databases too)."""
    if not REDIS_URL:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
        server.start()
        yield f"{server.url}/0"
        server.stop()
        return
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as error:
        service_missing("Redis", REDIS_URL, error)
    finally:
        client.close()
    yield REDIS_URL


_APPS: list[Flask] = []


def dispose_engines() -> None:
    """Close every pooled connection before the databases behind them are dropped."""
    from bureau.extensions import db

    for application in _APPS:
        with application.app_context():
            db.engine.dispose()


def make_app(instance: Path, database_url: str, **overrides: Any) -> Flask:
    config: dict[str, Any] = {
        "BUREAU_ENV": "testing",
        "BUREAU_INSTANCE_PATH": str(instance),
        "BUREAU_DATABASE_URL": database_url,
        "BUREAU_BASE_URL": "https://bureau.test",
        "RATELIMIT_ENABLED": False,
    }
    config.update(overrides)
    application = create_app(config)
    _APPS.append(application)
    if config["RATELIMIT_ENABLED"] and not config.get("BUREAU_REDIS_URL"):
        # Without Redis the counts live in the (shared) test database: start from none.
        with application.app_context():
            application.extensions["bureau.limiter"].reset()
    return application


def worker_stack(
    folder: Path, database_url: str, broker_url: str, smtp_url: str, **overrides: str
) -> tuple[Flask, dict[str, str]]:
    """An app on a fresh database and broker, with fast retries and sweeps, and the
    environment a real worker or beat subprocess needs to join it."""
    import redis

    redis.Redis.from_url(broker_url).flushdb()
    settings = {
        "BUREAU_ENV": "testing",
        "BUREAU_INSTANCE_PATH": str(folder),
        "BUREAU_DATABASE_URL": database_url,
        "BUREAU_BROKER_URL": broker_url,
        "BUREAU_SMTP_URL": smtp_url,
        "BUREAU_BASE_URL": "https://bureau.test",
        "BUREAU_JOB_RETRY_BASE": "0.3",
        "BUREAU_SWEEP_INTERVAL": "1",
        **overrides,
    }
    app = make_app(folder, database_url, **settings)
    migrate_and_seed(app)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_")} | settings
    return app, env


def bureau_cli(app: Flask, *arguments: str, stdin: str = "") -> Result:
    """`bureau ARGUMENTS` on this app through Flask's CLI runner (exit_code, stdout, stderr).
    The real command runs once, in tests/test_config.py."""
    from bureau.cli import cli

    return app.test_cli_runner().invoke(cli, list(arguments), input=stdin)


def migrate_and_seed(app: Flask, *, staff: bool = True) -> None:
    """Migrate, then load the demo catalogue (and the demo staff desks and rules)."""
    from flask_migrate import upgrade

    from bureau.demo.catalogue import load_demo_catalogue
    from bureau.demo.staff import load_demo_staff
    from bureau.extensions import db

    with app.app_context():
        upgrade()
        load_demo_catalogue(db.session)
        if staff:
            load_demo_staff(db.session)
        db.session.commit()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    if BACKEND == "postgresql":
        factory: Callable[[], str] = request.getfixturevalue("postgres_database_factory")
        return factory()
    if BACKEND != "sqlite":
        raise pytest.UsageError(f"BUREAU_TEST_DB must be sqlite or postgresql, not {BACKEND!r}")
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'bureau.db'}"


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Flask:
    application = make_app(tmp_path_factory.mktemp("instance"), database_url)
    migrate_and_seed(application)
    return application


@pytest.fixture(scope="session")
def postgres_app(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Flask:
    """The suite's app when it runs on PostgreSQL, else a second one on a fresh database."""
    if BACKEND == "postgresql":
        app: Flask = request.getfixturevalue("app")
        return app
    factory: Callable[[], str] = request.getfixturevalue("postgres_database_factory")
    application = make_app(tmp_path_factory.mktemp("pg-instance"), factory())
    migrate_and_seed(application)
    return application


@pytest.fixture(autouse=True)
def _clean_bookings(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with the demo catalogue and no bookings."""
    yield
    for name in ("app", "postgres_app"):
        if name in request.fixturenames:
            reset_bookings(request.getfixturevalue(name))


def reset_bookings(app: Flask) -> None:
    from bureau.catalogue.models import Speaker
    from bureau.extensions import db
    from bureau.models import (
        BookingEvent,
        BookingRequest,
        InboundMessage,
        InsightsSnapshot,
        Invoice,
        InvoiceCounter,
        Job,
        Notification,
        Payment,
        PayoutStatement,
        ReferenceCounter,
        RequestedSpeaker,
    )

    with app.app_context():
        db.session.rollback()
        for model in (
            InsightsSnapshot,  # figures of the requests deleted here
            InboundMessage,
            PayoutStatement,
            Payment,
            Invoice,
            InvoiceCounter,
            Notification,
            BookingEvent,
            Job,
            RequestedSpeaker,
            BookingRequest,
            ReferenceCounter,
        ):
            db.session.query(model).delete()
        db.session.query(Speaker).update({Speaker.is_active: True})
        db.session.commit()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) on a free local port, emptied before each use."""
    from tests.smtp import SMTPServer

    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def inbox(smtp_server: Any) -> Any:
    smtp_server.inbox.reset()
    return smtp_server.inbox


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db_session(app: Flask) -> Iterator[Any]:
    from bureau.extensions import db

    with app.app_context():
        yield db.session
        db.session.rollback()


CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SUBMISSION_INPUT = re.compile(r'name="submission_token" type="hidden" value="([0-9a-f]+)"')


def form_tokens(client: FlaskClient, path: str = "/request") -> dict[str, str]:
    page = client.get(path).get_data(as_text=True)
    csrf = CSRF_INPUT.search(page)
    submission = SUBMISSION_INPUT.search(page)
    assert csrf, "the request form lost its CSRF token"
    assert submission, "the request form lost its one-time submission token"
    return {"csrf_token": csrf.group(1), "submission_token": submission.group(1)}


# The speakers CONTRACT.md promises in the demo catalogue.
DEMO_SPEAKERS = (
    "alvin-wang-graylin",
    "ashley-dudarenok",
    "winston-ma",
    "kaiser-kuo",
    "rupert-hoogewerf",
    "fons-tuinstra",
)
NEXT_YEAR = datetime.now(UTC).year + 1


def valid_request(**changes: Any) -> dict[str, Any]:
    """The contract's example request, dated next March so it stays in the future.

    A value of ``...`` removes that field.
    """
    body: dict[str, Any] = {
        "speakers": ["winston-ma"],
        "event_name": "Future of Retail Summit",
        "organization": "Acme Events",
        "contact_name": "Li Na",
        "contact_email": "li.na@example.com",
        "contact_phone": "+86 21 5555 0100",
        "starts_at": f"{NEXT_YEAR}-03-10T09:00",
        "ends_at": f"{NEXT_YEAR}-03-10T10:00",
        "timezone": "Asia/Shanghai",
        "format": "keynote",
        "city": "Shanghai",
        "country": "CN",
        "virtual": False,
        "audience_size": 300,
        "audience": "retail executives",
        "budget_min": 5000,
        "budget_max": 15000,
        "currency": "USD",
        "message": "AI in e-commerce",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


class Clock:
    """The time sign-in and staff sessions read (bureau.staff.auth.clock), moved by tests."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    import bureau.staff.auth

    settable = Clock(datetime.now(UTC))
    monkeypatch.setattr(bureau.staff.auth, "clock", settable)
    return settable


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A stand-in for the broker: the ids of the jobs sent to it (after commits, retries,
    released claims, sweeps), in order; every send succeeds."""
    ids: list[int] = []

    def enqueue(task: str, job_id: int, countdown: float | None = None) -> bool:
        ids.append(job_id)
        return True

    monkeypatch.setattr("bureau.outbox.dispatch.enqueue", enqueue)
    return ids
