"""The broker's circuit breaker: a broker that is away costs one request a connect attempt,
not every request; the sweeper sends what was skipped."""

from __future__ import annotations

import time
from pathlib import Path

from flask import Flask
from sqlalchemy import delete, select

from bureau.breaker import CircuitBreaker
from bureau.extensions import db
from bureau.outbox import Job, record_job
from tests.conftest import make_app

AWAY = "redis://127.0.0.1:1/0"  # nothing listens: connection refused


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failure_opens_the_breaker_until_one_trial_succeeds() -> None:
    clock = Clock()
    breaker = CircuitBreaker(cooldown=5.0, clock=clock)
    assert breaker.allow()
    breaker.failed()
    assert breaker.is_open
    assert not breaker.allow()
    clock.now += 5.0
    assert breaker.allow()  # the one trial
    assert not breaker.allow()  # others wait for its outcome
    breaker.failed()
    assert not breaker.allow()
    clock.now += 5.0
    assert breaker.allow()
    breaker.succeeded()
    assert not breaker.is_open
    assert breaker.allow()
    assert breaker.allow()


def test_commits_stay_fast_while_the_broker_is_away(
    tmp_path: Path, database_url: str, app: Flask
) -> None:
    broken = make_app(tmp_path, database_url, BUREAU_BROKER_URL=AWAY)
    took = []
    with broken.app_context():
        for sequence in range(4):
            started = time.monotonic()
            job = record_job(db.session, "bureau.test.noop", "breaker", sequence=sequence)
            assert job is not None
            db.session.commit()  # the after-commit send fails or is skipped
            took.append(time.monotonic() - started)
        states = db.session.scalars(select(Job.state).where(Job.kind == "breaker")).all()
        assert states == ["pending"] * 4  # kept for the sweeper
        db.session.execute(delete(Job).where(Job.kind == "breaker"))
        db.session.commit()
    assert broken.extensions["broker_breaker"].is_open
    # The first commit tried the broker; the others did not wait for it.
    assert max(took[1:]) < 0.5, took


def test_readyz_answers_at_once_while_the_broker_is_known_away(
    tmp_path: Path, database_url: str, app: Flask
) -> None:
    broken = make_app(tmp_path, database_url, BUREAU_BROKER_URL=AWAY)
    client = broken.test_client()
    assert client.get("/readyz").status_code == 503
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 0.5
    assert response.status_code == 503
    assert set(response.get_json()["failing"]) == {"broker"}
