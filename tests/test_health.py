"""Liveness and readiness probes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete

from bureau.db import utcnow
from bureau.extensions import db
from bureau.ops.heartbeat import BEAT_NAME, WORKER_STALE_AFTER, mark_stopped, record_heartbeat
from bureau.ops.models import Heartbeat
from bureau.ops.queries import outbox_stale_after
from bureau.outbox import Job, JobState
from bureau.staff.models import Role
from tests.conftest import make_app
from tests.workflow_helpers import sign_in, staff_member


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_when_database_and_broker_answer(client: FlaskClient, alive: None) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"


def test_readyz_names_the_broker_when_it_is_down(
    tmp_path: Path, database_url: str, app: Flask
) -> None:
    broken = make_app(tmp_path, database_url, BUREAU_BROKER_URL="redis://127.0.0.1:1/0")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert set(body["failing"]) == {"broker"}
    assert "broker" in body["status"]


def test_readyz_names_the_database_when_it_is_down(tmp_path: Path) -> None:
    broken = make_app(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert "database" in response.get_json()["failing"]


# --- what /readyz reports about workers, beat and the outbox


@pytest.fixture
def alive(app: Flask) -> Iterator[None]:
    """A fresh worker and beat heartbeat, removed afterwards."""
    with app.app_context():
        record_heartbeat(db.session, "worker:celery@test", "worker", starting=True)
        record_heartbeat(db.session, BEAT_NAME, "beat", starting=True)
    yield
    with app.app_context():
        db.session.execute(delete(Heartbeat))
        db.session.commit()


def test_readyz_is_ready_with_a_fresh_worker_and_beat(client: FlaskClient, alive: None) -> None:
    body = client.get("/readyz").get_json()
    assert body["status"] == "ready"
    assert body["checks"]["workers"] == {"fresh": 1, "names": ["worker:celery@test"]}
    assert body["checks"]["beat"]["last_run_age"] < 5
    assert body["checks"]["outbox"]["failed"] == 0
    assert body["checks"]["queue"]["messages"] >= 0


def test_readyz_is_degraded_but_200_without_workers_or_beat(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200  # the web still takes requests into the outbox
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["workers"]["fresh"] == 0
    assert body["checks"]["beat"]["last_run_age"] is None
    assert any("worker" in reason for reason in body["reasons"])
    assert any("beat" in reason for reason in body["reasons"])


def test_readyz_counts_stale_and_stopped_processes_as_gone(
    app: Flask, client: FlaskClient, alive: None
) -> None:
    with app.app_context():
        old = utcnow() - timedelta(seconds=WORKER_STALE_AFTER + 5)
        record_heartbeat(db.session, "worker:celery@test", "worker", now=old)
        record_heartbeat(db.session, "worker:celery@other", "worker")
        mark_stopped(db.session, "worker:celery@other")
    body = client.get("/readyz").get_json()
    assert body["checks"]["workers"]["fresh"] == 0
    assert body["status"] == "degraded"


def test_readyz_is_degraded_when_the_outbox_backlog_is_old(
    app: Flask, client: FlaskClient, alive: None
) -> None:
    settings = app.config["BUREAU_SETTINGS"]
    waited = outbox_stale_after(settings) + 60
    with app.app_context():
        db.session.add_all(
            [
                Job(
                    task="bureau.mail.send",
                    kind="mail.test",
                    dedupe_key=f"health:{n}",
                    run_after=utcnow() - timedelta(seconds=waited - n),
                )
                for n in range(3)
            ]
            + [
                Job(
                    task="bureau.mail.send",
                    kind="mail.test",
                    dedupe_key="health:failed",
                    state=JobState.FAILED,
                    last_error="550 no such user",
                )
            ]
        )
        db.session.commit()
    body = client.get("/readyz").get_json()
    assert body["status"] == "degraded"
    outbox = body["checks"]["outbox"]
    assert outbox["pending"] == 3
    assert outbox["due_unclaimed"] == 3
    assert outbox["failed"] == 1
    assert waited - 5 <= outbox["oldest_due_age"] <= waited + 5
    assert body["reasons"] == [
        f"the oldest due outbox job has waited {outbox['oldest_due_age']:.0f} s"
    ]


# --- who sees the details: admins and this machine; others the status and failing parts

REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


def test_readyz_tells_a_remote_caller_only_the_status_and_failing_parts(
    app: Flask, alive: None
) -> None:
    remote = app.test_client()
    remote.environ_base.update(REMOTE)
    ready = remote.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ready", "failing": []}
    with app.app_context():
        db.session.execute(delete(Heartbeat))
        db.session.commit()
    degraded = remote.get("/readyz")
    assert degraded.status_code == 200
    assert degraded.get_json() == {"status": "degraded", "failing": ["beat", "workers"]}
    assert b"celery@" not in degraded.data


def test_readyz_names_only_the_failing_part_to_a_remote_caller(
    tmp_path: Path, database_url: str, app: Flask
) -> None:
    broken = make_app(tmp_path, database_url, BUREAU_BROKER_URL="redis://127.0.0.1:1/0")
    remote = broken.test_client()
    remote.environ_base.update(REMOTE)
    response = remote.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable: broker", "failing": ["broker"]}


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_readyz_gives_a_caller_on_this_machine_the_details(
    app: Flask, alive: None, address: str
) -> None:
    local = app.test_client()
    local.environ_base["REMOTE_ADDR"] = address
    body = local.get("/readyz").get_json()
    assert body["checks"]["workers"]["names"] == ["worker:celery@test"]


def test_readyz_gives_admins_the_details_and_agents_not(app: Flask, alive: None) -> None:
    staff_member(app, "ready.admin@bureau.test", role=Role.ADMIN)
    staff_member(app, "ready.agent@bureau.test", role=Role.AGENT)
    admin, agent = app.test_client(), app.test_client()
    for client, email in ((admin, "ready.admin@bureau.test"), (agent, "ready.agent@bureau.test")):
        client.environ_base.update(REMOTE)  # before: a session is bound to its address
        assert sign_in(client, email).status_code == 302
    assert admin.get("/readyz").get_json()["checks"]["workers"]["names"] == ["worker:celery@test"]
    assert agent.get("/readyz").get_json() == {"status": "ready", "failing": []}


def test_readyz_behind_a_proxy_judges_the_client_not_the_proxy(
    tmp_path: Path, database_url: str, app: Flask, alive: None
) -> None:
    proxied = make_app(tmp_path, database_url, BUREAU_PROXIES="1").test_client()
    proxied.environ_base["REMOTE_ADDR"] = "127.0.0.1"  # the proxy, on this machine
    outside = proxied.get("/readyz", headers={"X-Forwarded-For": "203.0.113.9"})
    assert outside.get_json() == {"status": "ready", "failing": []}
    spoofed = proxied.get("/readyz", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"})
    assert "checks" not in spoofed.get_json()  # the proxy appends the real client
    on_the_host = proxied.get("/readyz", headers={"X-Forwarded-For": "127.0.0.1"})
    assert "checks" in on_the_host.get_json()
