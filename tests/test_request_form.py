"""The public request form: CSRF, honeypot, errors next to fields, one request per submit."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from bureau.bookings.models import BookingRequest
from bureau.extensions import db
from tests.conftest import form_tokens, valid_request


def form_data(client: FlaskClient, **changes: Any) -> dict[str, Any]:
    body = valid_request(**changes)
    data: dict[str, Any] = {k: v for k, v in body.items() if k not in ("speakers", "virtual")}
    for i, slug in enumerate(body.get("speakers", []), start=1):
        data[f"speaker_{i}"] = slug
    if body.get("virtual"):
        data["virtual"] = "y"
    data.update(form_tokens(client))
    return data


def stored(app: Any) -> list[BookingRequest]:
    with app.app_context():
        return list(db.session.scalars(db.select(BookingRequest)))


def test_form_preselects_the_requested_speaker(client: FlaskClient) -> None:
    page = client.get("/request?speaker=kaiser-kuo").get_data(as_text=True)
    assert re.search(r'<option (selected )?value="kaiser-kuo"( selected)?>', page)
    assert 'selected value="kaiser-kuo"' in page or 'value="kaiser-kuo" selected' in page
    assert 'for="contact_email"' in page  # every input has a label


def test_valid_submission_redirects_to_the_status_page(client: FlaskClient, app: Any) -> None:
    data = form_data(client, speakers=["winston-ma", "kaiser-kuo"])
    response = client.post("/request", data=data)
    assert response.status_code == 302
    [booking] = stored(app)
    assert response.headers["Location"] == f"/requests/{booking.tracking_token}"
    assert booking.source == "form"
    assert booking.reference.startswith("BR-")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert booking.reference in page
    assert "Thank you! We received your request" in page
    assert "Status: Received" in page
    assert "What happens next" in page
    assert "Winston Ma" in page
    assert "Kaiser Kuo" in page
    assert "We received your request." in page  # the timeline


def test_invalid_submission_keeps_input_and_shows_errors_by_the_fields(
    client: FlaskClient, app: Any
) -> None:
    response = client.post(
        "/request",
        data=form_data(client, contact_email="not-an-email", audience_size="lots", city=""),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Please correct the fields marked below." in page
    assert "Enter a valid email address" in page
    assert "Enter a whole number." in page
    assert "Give the city of the event" in page
    assert 'value="not-an-email"' in page  # input kept
    assert 'value="Future of Retail Summit"' in page
    assert page.count("is-invalid") >= 3
    assert stored(app) == []


def test_missing_csrf_token_stores_nothing(client: FlaskClient, app: Any) -> None:
    data = form_data(client)
    del data["csrf_token"]
    response = client.post("/request", data=data)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert stored(app) == []


def test_honeypot_stores_nothing(client: FlaskClient, app: Any) -> None:
    response = client.post("/request", data=form_data(client, website="http://spam.example"))
    assert response.status_code == 400
    assert "could not be accepted" in response.get_data(as_text=True)
    assert stored(app) == []


def test_double_submit_creates_one_request(client: FlaskClient, app: Any) -> None:
    data = form_data(client)
    first = client.post("/request", data=data)
    second = client.post("/request", data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert len(stored(app)) == 1
    page = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "already received" in page


def test_two_forms_make_two_requests(client: FlaskClient, app: Any) -> None:
    client.post("/request", data=form_data(client))
    client.post("/request", data=form_data(client))
    references = sorted(b.reference for b in stored(app))
    assert len(references) == 2
    assert references[0] != references[1]


def test_user_text_is_escaped_on_the_status_page(client: FlaskClient) -> None:
    response = client.post(
        "/request", data=form_data(client, event_name="<img src=x onerror=alert(1)>")
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
