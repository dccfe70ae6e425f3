"""Structured logs and the request id: from the web request into the jobs it causes."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from bureau.bookings.tasks import route_new_booking
from bureau.extensions import db
from bureau.logs import BureauHandler, log_context
from bureau.outbox import Job, run_job
from tests.conftest import make_app, valid_request

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What our JSON handler writes, attached to the root logger for one test."""
    stream = io.StringIO()
    handler = BureauHandler("json", stream=stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_without_an_id_gets_one(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])
    assert (
        response.headers["X-Request-ID"]
        != app.test_client().get("/healthz").headers["X-Request-ID"]
    )


def test_a_sane_incoming_id_is_kept(app: Flask) -> None:
    response = app.test_client().get("/healthz", headers={"X-Request-ID": "lb-7f3a.9_x-1"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.9_x-1"
    assert response.headers.getlist("X-Request-ID") == ["lb-7f3a.9_x-1"]


@pytest.mark.parametrize(
    "forged",
    ["a" * 65, "id with spaces", "x\u00e9", "<script>", "a;b", "id%0d%0aSet-Cookie:x"],
)
def test_a_forged_or_oversized_id_is_replaced(app: Flask, forged: str) -> None:
    response = app.test_client().get("/healthz", headers={"X-Request-ID": forged})
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])


def test_json_lines_of_a_web_request_carry_its_id(
    tmp_path: Path, database_url: str, app: Flask, json_lines: io.StringIO
) -> None:
    json_app = make_app(tmp_path, database_url, BUREAU_LOG_FORMAT="json")
    response = json_app.test_client().get("/healthz", headers={"X-Request-ID": "web-1"})
    assert response.status_code == 200
    [access] = [r for r in records(json_lines) if r["logger"] == "bureau.access"]
    assert access["request_id"] == "web-1"
    assert access["level"] == "INFO"
    assert access["message"].startswith("GET /healthz 200 ")
    assert set(access) >= {"time", "level", "logger", "message", "request_id"}


def test_json_lines_keep_the_exception_text(json_lines: io.StringIO) -> None:
    with log_context(request_id="boom-1", job_id=7, task="bureau.mail.send"):
        try:
            raise RuntimeError("SMTP went away")
        except RuntimeError:
            logging.getLogger("bureau.test").exception("sending failed")
    [entry] = records(json_lines)
    assert entry["request_id"] == "boom-1"
    assert entry["job_id"] == 7
    assert entry["task"] == "bureau.mail.send"
    assert "RuntimeError: SMTP went away" in entry["exception"]
    assert entry["message"] == "sending failed"


def test_the_request_id_follows_the_jobs_the_request_causes(
    app: Flask, json_lines: io.StringIO
) -> None:
    response = app.test_client().post(
        "/api/v1/requests", json=valid_request(), headers={"X-Request-ID": "submit-42"}
    )
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == "submit-42"
    with app.app_context():
        route = db.session.scalars(select(Job).where(Job.kind == "route")).one()
        assert route.request_id == "submit-42"
        json_lines.truncate(0)
        json_lines.seek(0)
        # As a worker runs it (outside any web request): its lines carry the request's id…
        run_job(db.session, route.id, route_new_booking)
        follow_ups = db.session.scalars(select(Job).where(Job.id != route.id)).all()
    lines = [r for r in records(json_lines) if r.get("job_id") == route.id]
    assert lines, "the job logged nothing"
    assert {r["request_id"] for r in lines} == {"submit-42"}
    assert {r["task"] for r in lines} == {"bureau.bookings.route"}
    # …and the emails it recorded inherit it.
    assert follow_ups
    assert {job.request_id for job in follow_ups} == {"submit-42"}
