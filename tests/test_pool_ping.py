"""Pooled connections are pinged before use only when they lay idle (bureau.db.ping_when_idle):
a dropped one is replaced without an error, and a busy pool sends no extra round trip."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from bureau import db as bureau_db
from bureau.extensions import db


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(bureau_db, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


@pytest.fixture
def pings(postgres_app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    with postgres_app.app_context():
        engine = db.engine
    engine.dispose()  # connections made under the fake clock
    sent: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        sent.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    yield sent
    engine.dispose()


def backend_pid() -> int:
    pid: int = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    db.session.remove()  # back to the pool
    return pid


def test_a_connection_back_from_a_request_a_moment_ago_is_not_pinged(
    postgres_app: Flask, clock: list[float], pings: list[int]
) -> None:
    with postgres_app.app_context():
        first = backend_pid()
        clock[0] += bureau_db.IDLE_BEFORE_PING  # not more
        assert backend_pid() == first
    assert pings == []


def test_an_idle_connection_the_server_dropped_is_replaced_not_handed_out(
    postgres_app: Flask, clock: list[float], pings: list[int]
) -> None:
    with postgres_app.app_context():
        first = backend_pid()
        other = create_engine(db.engine.url)
        with other.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            connection.commit()
        other.dispose()
        clock[0] += bureau_db.IDLE_BEFORE_PING + 1
        second = backend_pid()  # no error: the ping found it dead
    assert second != first
    assert pings == [1]
