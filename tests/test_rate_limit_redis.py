"""Both submission limits in one Redis round trip (bureau/limitstore_redis.py, issue 21):
each limit still refuses at its threshold, on a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from redis.connection import AbstractConnection

from bureau.limitstore_redis import GroupedRedisStorage
from tests.conftest import make_app, valid_request

ENDPOINT = "/api/v1/requests"


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every command (or whole pipeline) redis-py sends in this test, as sent."""
    sent: list[bytes] = []
    send = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sent.append(b"".join(command) if isinstance(command, list) else bytes(command))
        send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


@pytest.fixture
def fresh_redis(redis_url: str) -> Iterator[str]:
    redis.Redis.from_url(redis_url).flushdb()
    yield redis_url
    redis.Redis.from_url(redis_url).flushdb()


def limited_app(tmp_path: Path, database_url: str, redis_url: str, limits: str) -> Flask:
    application = make_app(
        tmp_path,
        database_url,
        RATELIMIT_ENABLED=True,
        BUREAU_REDIS_URL=redis_url,
        BUREAU_SUBMIT_RATE_LIMIT=limits,
    )
    assert isinstance(application.extensions["bureau.limiter"].storage, GroupedRedisStorage)
    return application


def submit(application: Flask, address: str = "10.1.2.3") -> tuple[int, dict[str, str]]:
    response = application.test_client().post(
        ENDPOINT, json=valid_request(), environ_base={"REMOTE_ADDR": address}
    )
    return response.status_code, dict(response.headers)


@pytest.mark.parametrize(
    ("limits", "refusing"),
    [("2 per minute;50 per day", "2"), ("50 per minute;2 per day", "2")],
    ids=["per-minute-full", "per-day-full"],
)
def test_each_limit_refuses_at_its_threshold_in_one_round_trip_a_submission(
    tmp_path: Path,
    database_url: str,
    app: Flask,
    fresh_redis: str,
    round_trips: list[bytes],
    limits: str,
    refusing: str,
) -> None:
    application = limited_app(tmp_path, database_url, fresh_redis, limits)
    # Another client first: the connection's opening and the script's loading are done.
    assert submit(application, address="10.0.0.1")[0] == 201
    del round_trips[:]
    answers = []
    for number in range(4):
        before = len(round_trips)
        answers.append(submit(application))
        # the broker is not Redis here: every round trip is the limiter's
        assert len(round_trips) - before == 1, (number, round_trips[before:])
    assert [status for status, _ in answers] == [201, 201, 429, 429]
    assert all(b"EVALSHA" in sent for sent in round_trips)
    ok_headers, refused_headers = answers[1][1], answers[2][1]
    assert ok_headers["X-RateLimit-Remaining"] == ("0" if limits.startswith("2") else "48")
    assert refused_headers["X-RateLimit-Limit"] == refusing  # the full limit is named
    assert refused_headers["X-RateLimit-Remaining"] == "0"
    assert int(refused_headers["Retry-After"]) > 0
    assert submit(application, address="10.9.8.7")[0] == 201  # the limits are per client


def test_a_refused_submission_takes_no_entry_in_any_limit(
    tmp_path: Path, database_url: str, app: Flask, fresh_redis: str
) -> None:
    """All or nothing: the day's full, so the minute's list gains nothing either."""
    application = limited_app(tmp_path, database_url, fresh_redis, "50 per minute;2 per day")
    assert [submit(application)[0] for _ in range(4)] == [201, 201, 429, 429]
    client = redis.Redis.from_url(fresh_redis)
    lengths = {key.decode().rsplit("/", 1)[1]: client.llen(key) for key in client.keys("LIMITS*")}
    assert lengths == {"minute": 2, "day": 2}


def test_a_plain_redis_storage_counts_in_the_same_lists(
    tmp_path: Path, database_url: str, app: Flask, fresh_redis: str
) -> None:
    """A process still on limits' own redis:// storage (mid-deploy) shares the counts."""
    grouped = limited_app(tmp_path, database_url, fresh_redis, "2 per minute;50 per day")
    plain = make_app(
        tmp_path,
        database_url,
        RATELIMIT_ENABLED=True,
        BUREAU_REDIS_URL=fresh_redis,
        BUREAU_SUBMIT_RATE_LIMIT="2 per minute;50 per day",
        RATELIMIT_STORAGE_URI=fresh_redis,
    )
    assert not isinstance(plain.extensions["bureau.limiter"].storage, GroupedRedisStorage)
    assert submit(plain)[0] == 201
    assert submit(grouped)[0] == 201
    assert submit(plain)[0] == 429
    assert submit(grouped)[0] == 429
