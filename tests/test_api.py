"""POST /api/v1/requests and GET /api/v1/requests/<token>: 201, 422, 409, 429, idempotency."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bureau.bookings.models import BookingEvent, BookingRequest, RequestedSpeaker
from bureau.extensions import db
from tests.conftest import form_tokens, make_app, valid_request


def count(app: Flask, model: Any = BookingRequest) -> int:
    with app.app_context():
        total: int = db.session.query(model).count()
        return total


def test_create_returns_201_with_reference_and_status_url(client: FlaskClient, app: Flask) -> None:
    response = client.post(
        "/api/v1/requests", json=valid_request(speakers=["winston-ma", "ashley-dudarenok"])
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "new"
    assert body["reference"].startswith("BR-")
    token = body["status_url"].rsplit("/", 1)[1]
    assert body["status_url"] == f"https://bureau.test/requests/{token}"
    assert response.headers["Location"] == body["status_url"]
    with app.app_context():
        booking = db.session.scalars(db.select(BookingRequest)).one()
        assert booking.source == "api"
        assert [s.slug for s in booking.speakers] == ["winston-ma", "ashley-dudarenok"]
        assert booking.timezone == "Asia/Shanghai"
        assert booking.starts_local.hour == 9
        assert booking.starts_at.hour == 1
        assert booking.starts_at.tzinfo is not None
        assert len(booking.tracking_token) >= 40


def test_status_json_matches_the_page(client: FlaskClient) -> None:
    created = client.post("/api/v1/requests", json=valid_request()).get_json()
    token = created["status_url"].rsplit("/", 1)[1]
    status = client.get(f"/api/v1/requests/{token}")
    assert status.status_code == 200
    assert status.headers["Cache-Control"] == "no-store"
    body = status.get_json()
    assert body["reference"] == created["reference"]
    assert body["status_label"] == "Received"
    assert "booking agent" in body["next_step"]
    assert body["speakers"] == [{"slug": "winston-ma", "name": "Winston Ma"}]
    assert [e["message"] for e in body["timeline"]] == ["We received your request."]
    assert body["event"]["starts_at"].endswith("T09:00")
    # Nothing proposed, offered or agreed yet; no deadline; times named in the event's zone.
    assert body["shortlist"] == []
    assert body["offer"] is None
    assert body["contract"] is None
    assert body["deadlines"] == []
    assert body["timeline"][0]["when"].endswith("(Shanghai time)")


def test_wrong_token_is_404(client: FlaskClient) -> None:
    client.post("/api/v1/requests", json=valid_request())
    assert client.get("/api/v1/requests/" + "A" * 43).status_code == 404


def test_invalid_body_is_422_with_field_errors_and_nothing_stored(
    client: FlaskClient, app: Flask
) -> None:
    response = client.post(
        "/api/v1/requests",
        json=valid_request(contact_email="nope", speakers=["nobody"], budget_min=9, budget_max=1),
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"contact_email", "speakers", "budget_max"}
    assert count(app) == count(app, BookingEvent) == count(app, RequestedSpeaker) == 0


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", "null"])
def test_non_object_body_is_422(client: FlaskClient, payload: str) -> None:
    response = client.post(
        "/api/v1/requests", data=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON object" in response.get_json()["errors"]["body"][0]


def test_api_needs_no_csrf_token_or_cookie(app: Flask) -> None:
    fresh = app.test_client(use_cookies=False)
    assert fresh.post("/api/v1/requests", json=valid_request()).status_code == 201


def test_idempotency_key_replays_the_first_answer(client: FlaskClient, app: Flask) -> None:
    headers = {"Idempotency-Key": "order-7781"}
    first = client.post("/api/v1/requests", json=valid_request(), headers=headers)
    second = client.post("/api/v1/requests", json=valid_request(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert count(app) == 1


def test_idempotency_key_with_another_body_is_409(client: FlaskClient, app: Flask) -> None:
    headers = {"Idempotency-Key": "order-7782"}
    client.post("/api/v1/requests", json=valid_request(), headers=headers)
    other = client.post(
        "/api/v1/requests", json=valid_request(event_name="Another"), headers=headers
    )
    assert other.status_code == 409
    assert "Idempotency-Key" in other.get_json()["errors"]
    assert count(app) == 1


def test_concurrent_retries_with_one_key_store_one_request(postgres_app: Flask) -> None:
    app = postgres_app
    barrier = threading.Barrier(6)
    results: list[int] = []

    def submit() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(
            "/api/v1/requests", json=valid_request(), headers={"Idempotency-Key": "race-1"}
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [201] * 6
    assert count(app) == 1


def test_references_count_up_per_year(client: FlaskClient) -> None:
    first = client.post("/api/v1/requests", json=valid_request()).get_json()["reference"]
    second = client.post("/api/v1/requests", json=valid_request()).get_json()["reference"]
    year, number = first.split("-")[1:]
    assert second == f"BR-{year}-{int(number) + 1:05d}"


def rate_limited_app(tmp_path: Path, database_url: str, **settings: str) -> Flask:
    return make_app(
        tmp_path,
        database_url,
        RATELIMIT_ENABLED=True,
        BUREAU_SUBMIT_RATE_LIMIT="2 per minute",
        **settings,
    )


def assert_third_submission_is_429(limited: Flask) -> None:
    client = limited.test_client()
    codes = [
        client.post("/api/v1/requests", json=valid_request(contact_email="x")).status_code
        for _ in range(3)
    ]
    assert codes == [422, 422, 429]
    response = client.post("/api/v1/requests", json=valid_request())
    assert response.status_code == 429
    assert "Too many requests" in response.get_json()["errors"]["_"][0]
    assert int(response.headers["Retry-After"]) > 0
    other_client = limited.test_client()
    blocked = other_client.post(
        "/api/v1/requests", json=valid_request(), environ_base={"REMOTE_ADDR": "10.9.8.7"}
    )
    assert blocked.status_code == 201  # the limit is per client


def test_rate_limit_in_memory(tmp_path: Path, database_url: str, app: Flask) -> None:
    assert_third_submission_is_429(rate_limited_app(tmp_path, database_url))


def test_rate_limit_on_redis(tmp_path: Path, database_url: str, app: Flask, redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    limited = rate_limited_app(tmp_path, database_url, BUREAU_REDIS_URL=redis_url)
    assert limited.config["RATELIMIT_STORAGE_URI"] == f"bureau+{redis_url}"
    assert_third_submission_is_429(limited)
    keys = redis.Redis.from_url(redis_url).keys("LIMITS*")
    assert keys, "the limiter did not count in Redis"


def test_rate_limits_fall_back_to_memory_while_redis_is_away(
    tmp_path: Path, database_url: str, app: Flask
) -> None:
    """A limiter on a Redis that does not answer: the submissions are still stored (not a
    500), and still limited, in the process's memory."""
    from tests.smtp import free_port

    away = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    limited = rate_limited_app(tmp_path, database_url, BUREAU_REDIS_URL=away)
    client = limited.test_client()
    codes = [client.post("/api/v1/requests", json=valid_request()).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


def test_form_submissions_are_limited(tmp_path: Path, database_url: str, app: Flask) -> None:
    limited = rate_limited_app(tmp_path, database_url)
    client = limited.test_client()
    tokens = form_tokens(client)
    codes = [client.post("/request", data=tokens).status_code for _ in range(3)]
    assert codes == [422, 422, 429]
    assert "Too many requests" in client.post("/request", data=tokens).get_data(as_text=True)
    assert client.get("/request").status_code == 200  # reading the form is never limited


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("fee=lots", "fee"),
        ("format=opera", "format"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("page=two", "page"),
        ("q=" + "x" * 201, "q"),
    ],
)
def test_the_speaker_list_names_a_bad_filter(client: FlaskClient, query: str, field: str) -> None:
    response = client.get(f"/api/v1/speakers?{query}")
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == [field]


def test_a_search_of_punctuation_only_lists_everyone(client: FlaskClient) -> None:
    everyone = client.get("/api/v1/speakers").get_json()["total"]
    response = client.get("/api/v1/speakers", query_string={"q": "; !"})
    assert response.status_code == 200
    assert response.get_json()["total"] == everyone > 0
