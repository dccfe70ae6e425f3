"""Hostile input, each with its expected refusal, in one place: oversized bodies, path
traversal, forged tokens, posts without CSRF tokens, markup and CR/LF in every text the
organizer controls, and generated input for the form and the API (never a 5xx, never a
half-stored request). Other files prove some of these in depth: the email headers
(test_mail.py), calendar text (test_ics.py), signed availability links (test_workflow_story.py)
and other staff's requests (test_staff_access.py)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask, Request
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import Rule

from bureau.bookings.models import BookingRequest
from bureau.bookings.validation import FIELDS, validate_request
from bureau.extensions import db
from bureau.staff.models import Role
from tests.conftest import form_tokens, valid_request
from tests.workflow_helpers import csrf_from, sign_in, staff_member, submit_and_route

MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'
DESK = "china.desk@bureau.localhost"  # where the demo rules route valid_request()
CRLF = "Acme\r\nBcc: victim@example.com\r\nX-Injected: yes"


def stored_requests(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(BookingRequest)) or 0)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/speakers/..%2F..%2Fetc%2Fpasswd", 404),
        ("/speakers/../../etc/passwd", 404),
        ("/news/..%2Fstaff", 404),
        ("/api/v1/speakers/..%2F..%2Fsecret_key", 404),
        ("/static/../instance/secret_key", 404),
        ("/static/..%2Finstance%2Fsecret_key", 404),
        ("/calendar/speakers/..%2Fwinston-ma.ics?token=x", 404),
        ("/requests/..%2F..%2Fstaff", 404),
        ("/requests/" + "A" * 43, 404),  # a well-formed but forged status token
        ("/api/v1/requests/" + "A" * 43, 404),
        ("/availability/forged.token.value", 404),
        # NUL has no use in an address or a field, and PostgreSQL refuses it in text.
        ("/speakers?q=%00", 400),
        ("/api/v1/speakers?topic=a%00b", 400),
        ("/requests/abc%00def", 400),
        ("/news/%00", 400),
    ],
)
def test_traversal_and_forged_addresses_find_nothing(
    client: FlaskClient, path: str, status: int
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert b"secret" not in response.data.lower() or b"There is nothing" in response.data


def test_a_forged_feed_token_gets_no_calendar(client: FlaskClient) -> None:
    response = client.get("/calendar/speakers/winston-ma.ics?token=" + "B" * 43)
    assert response.status_code == 404
    assert b"BEGIN:VCALENDAR" not in response.data


def test_oversized_bodies_are_refused_and_nothing_is_stored(
    app: Flask, client: FlaskClient
) -> None:
    huge = "x" * (1024 * 1024 + 1)
    api = client.post(
        "/api/v1/requests", data=json.dumps({"message": huge}), content_type="application/json"
    )
    assert api.status_code == 413
    assert api.get_json() == {"errors": {"_": ["The request is too large."]}}
    form = client.post("/request", data={**form_tokens(client), "message": huge})
    assert form.status_code == 413
    assert stored_requests(app) == 0


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,  # past the decoder's recursion: a RecursionError
        '{"message": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001,
        json.dumps(valid_request(speakers=[[[[[[[[[[[[[[[[["winston-ma"]]]]]]]]]]]]]]]]])),
    ],
)
def test_deeply_nested_json_is_refused_and_nothing_is_stored(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture, body: str
) -> None:
    with caplog.at_level(logging.ERROR):
        response = client.post("/api/v1/requests", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"errors": {"body": ["Nest the JSON at most 16 levels deep."]}}
    assert stored_requests(app) == 0
    assert not caplog.records


def test_json_at_the_depth_limit_is_read(client: FlaskClient) -> None:
    nested: Any = "x"
    for _ in range(15):  # in the body object: 16 levels
        nested = [nested]
    response = client.post("/api/v1/requests", json=valid_request(message=nested))
    assert response.status_code == 422  # read, and its message is not text
    assert set(response.get_json()["errors"]) == {"message"}


@pytest.mark.parametrize(
    ("starts_at", "zone"),
    [
        ("9999-12-31T23:00", "America/Los_Angeles"),  # past 9999-12-31 in UTC
        ("0001-01-01T00:00", "Asia/Tokyo"),  # before year 1 in UTC
    ],
)
def test_event_times_at_the_end_of_the_calendar_get_a_message(
    app: Flask, client: FlaskClient, starts_at: str, zone: str
) -> None:
    body = valid_request(starts_at=starts_at, ends_at=starts_at[:-5] + "23:59", timezone=zone)
    response = client.post("/api/v1/requests", json=body)
    assert response.status_code == 422
    assert response.get_json()["errors"]["starts_at"] == ["Give a date in the years 1900 to 2999."]
    assert stored_requests(app) == 0


def test_posts_without_a_csrf_token_change_nothing(app: Flask) -> None:
    staff_member(app, DESK)
    booking = submit_and_route(app)
    staff = app.test_client()
    sign_in(staff, DESK)
    page = f"/staff/requests/{booking.id}"
    for action, data in (
        ("note", {"text": "sneaky"}),
        ("close", {"outcome": "declined", "reason": "forged"}),
        ("reassign", {}),
    ):
        response = staff.post(f"{page}/{action}", data=data)
        assert response.status_code == 400, action
    with app.app_context():
        fresh = db.session.get(BookingRequest, booking.id)
        assert fresh is not None
        assert fresh.status == booking.status
        assert fresh.version == booking.version
    public = app.test_client()
    assert public.post("/request", data=valid_request()).status_code == 400
    assert stored_requests(app) == 1


def test_markup_and_line_breaks_are_shown_as_text_everywhere(app: Flask) -> None:
    staff_member(app, DESK)
    booking = submit_and_route(
        app, event_name=MARKUP, organization=CRLF.replace("\r\n", " "), message=MARKUP + CRLF
    )
    status_page = app.test_client().get(f"/requests/{booking.tracking_token}")
    staff = app.test_client()
    sign_in(staff, DESK)
    pages = {
        "status": status_page.get_data(as_text=True),
        "staff request": staff.get(f"/staff/requests/{booking.id}").get_data(as_text=True),
        "dashboard": staff.get("/staff/?queue=all").get_data(as_text=True),
    }
    for name, page in pages.items():
        assert "<script>alert" not in page, name
        assert "<img src=x" not in page, name
    assert "&lt;script&gt;alert" in pages["staff request"]
    # The CSV is data, not a page: it is served as text/csv, as an attachment.
    export = staff.get("/staff/requests.csv?queue=all")
    assert export.mimetype == "text/csv"
    assert export.headers["Content-Disposition"].startswith("attachment")
    # A line break in a one-line field never reaches the database.
    with app.app_context():
        fresh = db.session.get(BookingRequest, booking.id)
        assert fresh is not None
        assert "\r" not in fresh.organization
        assert "\n" not in fresh.event_name


# Anything JSON can hold, in any field the API knows and in some it does not.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
bodies = st.dictionaries(st.sampled_from([*FIELDS, "speakerz", "__proto__"]), json_values)


@given(body=bodies)
@settings(max_examples=300, deadline=None)
def test_validation_answers_every_input_with_a_request_or_messages(body: dict[str, Any]) -> None:
    valid, errors = validate_request(
        body, active_speakers=lambda slugs: {s for s in slugs if s == "winston-ma"}
    )
    assert (valid is None) == bool(errors)
    for field, messages in errors.items():
        assert isinstance(field, str)
        assert messages
        assert all(isinstance(m, str) and m for m in messages)
    if valid is not None:
        assert valid.starts_at < valid.ends_at
        assert valid.starts_at > datetime.now(UTC)
        assert valid.speakers == ["winston-ma"][: len(valid.speakers)]


@given(body=bodies)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_never_fails_on_generated_bodies(app: Flask, body: dict[str, Any]) -> None:
    before = stored_requests(app)
    response = app.test_client().post("/api/v1/requests", json=body)
    assert response.status_code in (201, 422), response.get_data(as_text=True)
    assert stored_requests(app) == before + (response.status_code == 201)


form_fields = st.dictionaries(
    st.sampled_from(
        [
            "event_name",
            "organization",
            "contact_name",
            "contact_email",
            "starts_at",
            "ends_at",
            "timezone",
            "format",
            "country",
            "audience_size",
            "budget_min",
            "speaker_1",
            "message",
        ]
    ),
    st.text(max_size=300),
)


@given(changes=form_fields)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_form_never_fails_on_generated_input(app: Flask, changes: dict[str, str]) -> None:
    client = app.test_client()
    body = valid_request()
    data: dict[str, Any] = {k: v for k, v in body.items() if k not in ("speakers", "virtual")}
    data["speaker_1"] = body["speakers"][0]
    data.update(changes)
    data.update(form_tokens(client))
    before = stored_requests(app)
    response = client.post("/request", data=data)
    if any("\x00" in value for value in changes.values()):
        assert response.status_code == 400  # no browser sends NUL; refused before anything
        assert stored_requests(app) == before
        return
    # Either stored and redirected to the status page, or the form again with messages.
    assert response.status_code in (302, 422), response.status_code
    assert stored_requests(app) == before + (response.status_code == 302)
    if response.status_code == 422:
        assert "invalid-feedback" in response.get_data(as_text=True)


# --- every route, with hostile numbers, dates and text in each argument and query parameter

HOSTILE = (
    "9" * 25,  # past any integer column (SQLite and PostgreSQL overflow)
    str(2**63),
    str(2**31),
    "1" * 5000,  # past Python's int() digit limit
    "-1",
    "0",
    "9999-12-31",  # a day after it does not exist
    "0001-01-01",
    "2026-02-30",
    "abc",
    "sNaN",  # a Decimal that cannot be compared
    "1e999999999",
    "\x00",
    "x" * 5000,
    "²",  # a digit to str.isdigit(), not to int()
    "٣٤",  # Arabic-Indic digits: int() reads them
    "\u202eevil",
    "😀",
)
# Sample values for arguments that are not swept in a request, so the view runs.
SAMPLE_ARGS = {"slug": "winston-ma", "filename": "app.css"}


class ReadArgs(ImmutableMultiDict[str, str]):
    """Query and form arguments that note the names a view reads, to sweep only those."""

    read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        ReadArgs.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        ReadArgs.read.add(str(key))
        return super().__contains__(key)

    def getlist(self, key: str, type: Any = None) -> list[Any]:
        ReadArgs.read.add(key)
        return super().getlist(key, type)


class RecordingRequest(Request):
    parameter_storage_class = ReadArgs


def path_for(rule: Rule, hostile: dict[str, str]) -> str:
    """The rule's address with each argument filled in (hostile ones percent-encoded)."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).rpartition(":")[2]
        value = hostile.get(name, SAMPLE_ARGS.get(name, "1"))
        return quote(value, safe="")

    return re.sub(r"<([^>]+)>", fill, rule.rule)


@contextmanager
def reads_recorded(app: Flask) -> Iterator[set[str]]:
    """The names of the query and form arguments the app reads meanwhile."""
    ReadArgs.read = set()
    app.request_class = RecordingRequest
    try:
        yield ReadArgs.read
    finally:
        app.request_class = Request


def params_read(app: Flask, client: FlaskClient, rule: Rule) -> set[str]:
    with reads_recorded(app) as read:
        client.get(path_for(rule, {}), query_string={"_": "1"})
    return read - {"_"}


# The route sweep is cut in this many shares of the routes, tests of their own, so that
# pytest-xdist spreads it over the cores instead of one worker finishing it last.
SHARES = 3


def sweep(app: Flask, client: FlaskClient, share: int, *, csrf: str = "") -> list[str]:
    """Each argument of each route in this share, and each query parameter its view reads,
    with each hostile value; the failures (a 5xx) as readable lines."""
    failures = []
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "bootstrap.static"]
    for rule in rules[share::SHARES]:
        methods = rule.methods or set()
        requests: list[tuple[str, str, dict[str, str]]] = []
        for name in rule.arguments:
            for value in HOSTILE:
                path = path_for(rule, {name: value})
                if "GET" in methods:
                    requests.append(("GET", path, {}))
                if "POST" in methods:  # only with an argument: nothing it names exists
                    requests.append(("POST", path, {}))
        if "GET" in methods:
            for name in sorted(params_read(app, client, rule)):
                requests += [("GET", path_for(rule, {}), {name: value}) for value in HOSTILE]
        for method, path, query in requests:
            data = {"csrf_token": csrf} if method == "POST" and csrf else None
            response = client.open(path, method=method, query_string=query, data=data)
            if response.status_code >= 500:
                failures.append(f"{method} {path} {query!r:.80}: {response.status_code}")
    return failures


BIG = "9" * 25


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    staff_member(app, "hostile.admin@bureau.localhost", role=Role.ADMIN)
    client = app.test_client()
    assert sign_in(client, "hostile.admin@bureau.localhost").status_code == 302
    return client


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/speakers?page={BIG}", 404),
        (f"/news?page={BIG}", 404),
        ("/news?page=abc", 200),  # as before: the first page
        (f"/calendar/staff/{BIG}.ics?token=x", 404),
        (f"/calendar/staff/{2**31}.ics?token=x", 404),
        ("/calendar/staff/0.ics?token=x", 404),
        (f"/api/v1/speakers?page={BIG}", 422),
        ("/api/v1/speakers?per_page=" + "1" * 5000, 422),
        (f"/staff/requests/{BIG}", 404),
        (f"/staff/mail/{BIG}", 404),
        (f"/staff/mail?page={BIG}", 404),
        (f"/staff/speakers/{BIG}/edit", 404),
        (f"/staff/posts/{2**63}/edit", 404),
        (f"/staff/?page={BIG}", 404),
        (f"/staff/?staff={BIG}", 422),
        ("/staff/?starts_until=9999-12-31", 422),
        ("/staff/requests.csv?starts_until=9999-12-31", 422),
        (f"/staff/insights?staff={BIG}", 400),
        ("/staff/insights?staff=%C2%B2", 400),
    ],
)
def test_out_of_range_numbers_and_dates_are_refused_plainly(
    admin: FlaskClient, path: str, status: int
) -> None:
    assert admin.get(path).status_code == status


def test_hidden_numbers_in_forms_are_checked(app: Flask, admin: FlaskClient) -> None:
    booking = submit_and_route(app)
    page = f"/staff/requests/{booking.id}"
    csrf = csrf_from(admin.get(page).get_data(as_text=True))
    for action, data in (
        ("note", {"text": "hello", "version": "²"}),
        ("reassign", {"staff_id": "²", "version": str(booking.version)}),
        ("reassign", {"staff_id": BIG, "version": str(booking.version)}),
    ):
        response = admin.post(f"{page}/{action}", data={"csrf_token": csrf, **data})
        assert response.status_code < 500, (action, data)
    organizer = app.test_client()
    status_page = f"/requests/{booking.tracking_token}"
    token = csrf_from(organizer.get(status_page).get_data(as_text=True))
    response = organizer.post(f"{status_page}/withdraw", data={"csrf_token": token, "version": "²"})
    assert response.status_code < 500


@pytest.mark.parametrize("share", range(SHARES))
@pytest.mark.parametrize("signed_in", [False, True], ids=["visitor", "admin"])
def test_no_route_fails_on_hostile_numbers_dates_or_text(
    app: Flask, admin: FlaskClient, caplog: pytest.LogCaptureFixture, signed_in: bool, share: int
) -> None:
    """A visitor's and a signed-in admin's sweep of every route, a share of them each."""
    booking = submit_and_route(app)  # a real request, so pages have something to list
    csrf = csrf_from(admin.get(f"/staff/requests/{booking.id}").get_data(as_text=True))
    with caplog.at_level(logging.ERROR):
        if signed_in:
            failures = sweep(app, admin, share, csrf=csrf)
        else:
            failures = sweep(app, app.test_client(), share)
    assert not failures, "\n".join(failures)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert admin.get("/staff/").status_code == 200  # the sweep ran signed in throughout


@pytest.mark.parametrize(
    "values", [pytest.param(HOSTILE[i::SHARES], id=f"values{i}") for i in range(SHARES)]
)
def test_no_workflow_form_fails_on_hostile_values(
    app: Flask, admin: FlaskClient, caplog: pytest.LogCaptureFixture, values: tuple[str, ...]
) -> None:
    """Every field the request page's and the status page's forms read, each hostile value
    in all of them at once (a form checks every field), on a fresh request each time; a
    share of the values in each test (spread over the cores)."""
    rules = [
        r
        for r in app.url_map.iter_rules()
        if "POST" in (r.methods or set())
        and r.arguments in ({"booking_id"}, {"token"})
        and r.endpoint != "bookings.availability"  # a signed link; its form is two buttons
    ]
    failures = []
    names: set[str] = set()
    for value in ("", *values):
        booking = submit_and_route(app)
        organizer = app.test_client()
        status_page = f"/requests/{booking.tracking_token}"
        tokens = {
            admin: csrf_from(admin.get(f"/staff/requests/{booking.id}").get_data(as_text=True)),
            organizer: csrf_from(organizer.get(status_page).get_data(as_text=True)),
        }
        for rule in rules:
            client = admin if "booking_id" in rule.arguments else organizer
            path = path_for(rule, {"booking_id": str(booking.id), "token": booking.tracking_token})
            data = dict.fromkeys(names, value) | {"csrf_token": tokens[client]}
            with reads_recorded(app) as read, caplog.at_level(logging.ERROR):
                response = client.post(path, data=data)
            names |= read - {"csrf_token"}  # the first round (value "") learns the names
            if response.status_code >= 500:
                failures.append(f"POST {rule.rule} all fields = {value!r:.40}")
    assert {"version", "text", "fee", "commission_pct", "starts_at"} <= names
    assert not failures, "\n".join(failures)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_the_longest_withdrawal_reason_is_kept_and_shown_shortened(postgres_app: Flask) -> None:
    """PostgreSQL refused "The request was withdrawn: " + a 1,000-character reason in the
    timeline's 500-character public message: a 500 the form sweep found."""
    booking = submit_and_route(postgres_app)
    organizer = postgres_app.test_client()
    status_page = f"/requests/{booking.tracking_token}"
    token = csrf_from(organizer.get(status_page).get_data(as_text=True))
    reason = "plans changed " * 71 + "end."  # 998 characters
    response = organizer.post(
        f"{status_page}/withdraw",
        data={"csrf_token": token, "version": str(booking.version), "reason": reason},
    )
    assert response.status_code == 303
    with postgres_app.app_context():
        fresh = db.session.get(BookingRequest, booking.id)
        assert fresh is not None
        assert fresh.status == "withdrawn"
        assert fresh.closed_reason == reason.strip()
        shown = fresh.events[-1].public_message or ""
        assert len(shown) == 500
        assert shown.startswith("The request was withdrawn: plans changed")
        assert shown.endswith("…")
        assert fresh.events[-1].details["reason"] == reason.strip()
