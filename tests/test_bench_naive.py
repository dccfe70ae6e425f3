"""The naive baseline of the benchmarks (bench/naive): its endpoint and its routing task work,
and the benchmark-only counting hook counts statements, commits and Redis round trips."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from bench import counting
from bench.mailsink import SMTPSink
from bench.naive.app import BookingRequest, create_app, db, route, seed
from bench.pipeline import request_body

NAIVE_REDIS_DB = 9  # of the session's own redis-server


@pytest.fixture
def sink() -> Iterator[SMTPSink]:
    smtp = SMTPSink(keep_headers=True)
    smtp.start()
    yield smtp
    smtp.stop()


@pytest.fixture
def broker(redis_url: str) -> Iterator[redis.Redis[bytes]]:
    url = redis_url.rsplit("/", 1)[0] + f"/{NAIVE_REDIS_DB}"
    client: redis.Redis[bytes] = redis.Redis.from_url(url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def naive(tmp_path: Path, sink: SMTPSink, broker: redis.Redis[bytes]) -> Iterator[Flask]:
    kwargs = broker.connection_pool.connection_kwargs
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'naive.db'}",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": sink.controller.port,
            "CELERY": {"broker_url": f"redis://{kwargs['host']}:{kwargs['port']}/{NAIVE_REDIS_DB}"},
        }
    )
    app.extensions["celery"].conf.broker_url = app.config["CELERY"]["broker_url"]
    with app.app_context():
        seed(
            [("winston-ma", "Winston Ma"), ("rupert-hoogewerf", "Rupert Hoogewerf")],
            [("Greater China desk", "china.desk@bureau.localhost"),
             ("Europe desk", "europe.desk@bureau.localhost")],
        )  # fmt: skip
    yield app
    with app.app_context():
        db.engine.dispose()


def queued_task_ids(broker: redis.Redis[bytes]) -> list[Any]:
    """The arguments of the route tasks waiting on the broker's default queue."""
    messages = [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]
    assert all(m["headers"]["task"] == "bench.naive.app.route" for m in messages)
    return [m["headers"]["argsrepr"] for m in messages]


def test_submit_stores_the_request_and_queues_its_routing(
    naive: Flask, broker: redis.Redis[bytes]
) -> None:
    body = request_body(0, "li.na@example.com")  # the benchmark's own bodies
    answer = naive.test_client().post("/api/v1/requests", json=body)
    assert answer.status_code == 201, answer.get_json()
    request_id = answer.get_json()["id"]
    assert queued_task_ids(broker) == [f"({request_id},)"]
    with naive.app_context():
        booking = db.session.get(BookingRequest, request_id)
        assert booking is not None
        assert (booking.status, booking.contact_email) == ("new", "li.na@example.com")
        assert [r.speaker.slug for r in booking.speakers] == ["winston-ma"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"contact_email": "not an address"}, "contact_email"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"starts_at": "10 March"}, "starts_at"),
        ({"ends_at": f"{datetime.now(UTC).year + 1}-03-10T08:00"}, "ends_at"),
        ({"speakers": ["winston-ma", "nobody"]}, "speakers"),
        ({"event_name": ""}, "event_name"),
        ({"format": "juggling"}, "format"),
    ],
)
def test_bad_fields_are_refused_and_nothing_is_stored(
    naive: Flask, broker: redis.Redis[bytes], change: dict[str, Any], field: str
) -> None:
    body = request_body(0, "li.na@example.com") | change
    answer = naive.test_client().post("/api/v1/requests", json=body)
    assert answer.status_code == 422
    assert field in answer.get_json()["errors"]
    assert broker.llen("celery") == 0
    with naive.app_context():
        assert db.session.query(BookingRequest).count() == 0


def test_route_assigns_the_least_loaded_desk_and_sends_both_emails(
    naive: Flask, sink: SMTPSink
) -> None:
    client = naive.test_client()
    ids = [
        client.post("/api/v1/requests", json=request_body(n, f"o{n}@example.com")).get_json()["id"]
        for n in range(3)
    ]
    for request_id in ids:
        route(request_id)  # as the worker runs it: inside the app's context
    assert sink.sink.wait_for_count(6, 10)
    with naive.app_context():
        desks = [db.session.get(BookingRequest, i).desk.name for i in ids]
    assert desks == ["Greater China desk", "Europe desk", "Greater China desk"]
    received = sink.sink.received_messages()
    assert {r.recipients for r in received[:2]} == {
        ("o0@example.com",),
        ("china.desk@bureau.localhost",),
    }
    assert received[0].subject == f"We received your request #{ids[0]}: Future of Retail Summit 0"
    route(ids[0])  # already routed: nothing sent again
    assert sink.sink.count() == 6


def test_acknowledgement_has_text_and_html(naive: Flask, sink: SMTPSink) -> None:
    client = naive.test_client()
    body = request_body(1, "o@example.com") | {"contact_name": "<b>Li</b>"}
    request_id = client.post("/api/v1/requests", json=body).get_json()["id"]
    captured: list[bytes] = []
    handle = sink.sink.handle_DATA

    async def keep(server: Any, session: Any, envelope: Any) -> str:
        captured.append(envelope.content)
        return await handle(server, session, envelope)

    sink.sink.handle_DATA = keep  # type: ignore[method-assign]
    route(request_id)
    assert sink.sink.wait_for_count(2, 10)
    message = message_from_bytes(captured[0])
    parts = {part.get_content_type(): part.get_payload(decode=True) for part in message.walk()}
    assert b"Dear <b>Li</b>" in parts["text/plain"]
    assert b"Dear &lt;b&gt;Li&lt;/b&gt;" in parts["text/html"]
    assert b"Rupert Hoogewerf" in parts["text/html"]


def test_counting_hook_counts_statements_commits_and_redis_round_trips(
    naive: Flask, broker: redis.Redis[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "counts"
    folder.mkdir()
    monkeypatch.setenv(counting.ENV, str(folder))
    counting.install()
    answer = naive.test_client().post("/api/v1/requests", json=request_body(0, "c@example.com"))
    assert answer.status_code == 201
    counts = counting.read(folder)
    # SELECT the speakers, INSERT the request, INSERT its speaker, and after the commit the
    # request read again (expired on commit) for its id; one commit; one LPUSH
    assert counts == {"statements": 4, "commits": 1, "redis": 1}
    monkeypatch.delenv(counting.ENV)
    naive.test_client().post("/api/v1/requests", json=request_body(1, "d@example.com"))
    assert counting.read(folder) == counts  # switched off with the variable


def test_pipeline_summary_holds_bureau_to_the_naive_service() -> None:
    from bench import pipeline
    from bench.costs import Costs

    def costs(worker_cpu: float, statements: int) -> Costs:
        counts = {"statements": statements, "commits": 100, "redis": 300}
        return Costs(100, {"web": 1.0, "worker": worker_cpu, "postgres": 0.5}, {"worker": counts})

    options = pipeline.parse_args([])
    results = pipeline.Results(started=datetime.now(UTC), options=options)
    results.submitted, results.processed_per_s, results.noop_per_s = 100, 30.0, 600.0
    results.costs = costs(3.0, 2000)
    results.naive = pipeline.Results(started=results.started, options=options)
    results.naive.processed_per_s, results.naive.costs = 40.0, costs(2.0, 700)
    rows = {row.measure: row for row in pipeline.summary(results)}
    rate = rows["fully processed requests/s (100 requests)"]
    assert (rate.ratio, rate.target, rate.verdict) == ("0.75x", "≥ 1.0x", "MISSED")
    cpu = rows["worker CPU per request"]
    assert (cpu.value, cpu.baseline, cpu.ratio, cpu.verdict) == (
        "30 ms", "20 ms naive", "1.50x", "MISSED"
    )  # fmt: skip
    counted = rows["worker per request: SQL statements, commits, Redis round trips (counted)"]
    assert counted.value == "20.0 SQL in 1.0 commits, 3.0 Redis"
    assert counted.baseline == "7.0 SQL in 1.0 commits, 3.0 Redis naive"
    context = rows["fully processed requests/s vs no-op tasks/s (context)"]
    assert (context.target, context.verdict) == ("", "")
    results.processed_per_s = 40.0
    results.costs = costs(2.0, 2000)
    met = {row.measure: row.verdict for row in pipeline.summary(results)}
    assert met["fully processed requests/s (100 requests)"] == "met"
    assert met["worker CPU per request"] == "met"
