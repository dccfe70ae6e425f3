"""Admins edit the catalogue: speakers, topics and weblog posts, with clear refusals."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from bureau.catalogue.models import Post, Speaker, Topic
from bureau.extensions import db
from bureau.staff.models import Role
from tests.workflow_helpers import post_form, sign_in, staff_member


@pytest.fixture
def admin(app: Flask) -> Any:
    staff_member(app, "boss@bureau.test", role=Role.ADMIN)
    client = app.test_client()
    sign_in(client, "boss@bureau.test")
    yield client
    with app.app_context():
        db.session.execute(delete(Post).where(Post.slug == "ada-lin-on-batteries"))
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "ada-lin")).first()
        if speaker is not None:
            speaker.topics = []
            db.session.delete(speaker)
        db.session.execute(delete(Topic).where(Topic.slug == "energy"))
        db.session.commit()


def speaker_fields(**changes: str) -> dict[str, str]:
    fields = {
        "name": "Ada Lin",
        "slug": "ada-lin",
        "email": "ada@example.com",
        "headline": "Battery analyst",
        "bio": "Ada follows China's battery makers.",
        "home_city": "Shenzhen",
        "home_country": "cn",
        "home_timezone": "Asia/Shanghai",
        "fee_min": "8000",
        "fee_max": "12000",
        "fee_currency": "USD",
        "topics": "innovation-technology",
        "languages": "en, zh",
        "formats": "keynote, panel",
        "is_active": "y",
    }
    fields.update(changes)
    return fields


def test_admin_creates_edits_and_deactivates_a_speaker(app: Flask, admin: FlaskClient) -> None:
    bad = post_form(
        admin,
        "/staff/speakers/new",
        "/staff/speakers/new",
        speaker_fields(home_timezone="Mars/Base", fee_max="10", topics="ghosts"),
    )
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "Not an IANA time zone" in page
    assert "Must not be below the lower fee" in page
    assert "Unknown: ghosts" in page
    with app.app_context():
        assert db.session.scalar(select(Speaker.id).where(Speaker.slug == "ada-lin")) is None

    made = post_form(admin, "/staff/speakers/new", "/staff/speakers/new", speaker_fields())
    assert made.status_code == 303
    profile = admin.get("/speakers/ada-lin").get_data(as_text=True)
    assert "Battery analyst" in profile
    assert "example figures" not in profile  # real terms, set by the bureau
    with app.app_context():
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "ada-lin")).one()
        assert (speaker.languages, speaker.formats, speaker.home_country) == (
            ["en", "zh"],
            ["keynote", "panel"],
            "CN",
        )
        speaker_id = speaker.id

    edit = f"/staff/speakers/{speaker_id}/edit"
    assert (
        post_form(admin, edit, edit, speaker_fields(headline="Battery expert")).status_code == 303
    )
    assert "Battery expert" in admin.get("/speakers/ada-lin").get_data(as_text=True)

    clash = post_form(admin, edit, edit, speaker_fields(slug="kaiser-kuo"))
    assert "Another speaker has this slug" in clash.get_data(as_text=True)

    toggle = f"/staff/speakers/{speaker_id}/active"
    assert post_form(admin, toggle, "/staff/speakers", {}).status_code == 303
    assert admin.get("/speakers/ada-lin").status_code == 404
    assert 'href="/speakers/ada-lin"' not in admin.get("/speakers").get_data(as_text=True)


def test_admin_adds_topics_and_posts(app: Flask, admin: FlaskClient) -> None:
    assert (
        post_form(
            admin, "/staff/topics", "/staff/topics", {"name": "Energy", "slug": "energy"}
        ).status_code
        == 303
    )
    again = post_form(admin, "/staff/topics", "/staff/topics", {"name": "Energy", "slug": "energy"})
    assert "This topic exists already" in again.get_data(as_text=True)
    post_form(admin, "/staff/speakers/new", "/staff/speakers/new", speaker_fields(topics="energy"))
    made = post_form(
        admin,
        "/staff/posts/new",
        "/staff/posts/new",
        {
            "title": "Ada Lin on batteries",
            "slug": "ada-lin-on-batteries",
            "published_on": "2026-11-01",
            "source": "Caixin",
            "body": "First paragraph.\r\n\r\nSecond paragraph.",
            "speakers": "ada-lin",
        },
    )
    assert made.status_code == 303
    page = admin.get("/news/ada-lin-on-batteries").get_data(as_text=True)
    assert "Second paragraph." in page
    assert 'href="/request?speaker=ada-lin"' in page
    assert "?topic=energy" in admin.get("/speakers/ada-lin").get_data(as_text=True)


def test_an_edit_missing_fields_is_refused_and_changes_nothing(
    app: Flask, admin: FlaskClient
) -> None:
    """A field left out of the submission is missing, not the stored value (which for the
    list fields is a list, not text)."""
    new = "/staff/speakers/new"
    assert post_form(admin, new, new, speaker_fields()).status_code == 303
    with app.app_context():
        speaker_id = db.session.scalars(select(Speaker.id).where(Speaker.slug == "ada-lin")).one()
    edit = f"/staff/speakers/{speaker_id}/edit"
    fields = speaker_fields(headline="Changed")
    for left_out in ("languages", "formats", "topics"):
        fields.pop(left_out)
    response = post_form(admin, edit, edit, fields)
    assert response.status_code == 422
    with app.app_context():
        speaker = db.session.get(Speaker, speaker_id)
        assert speaker is not None
        assert speaker.headline == "Battery analyst"
        assert speaker.languages == ["en", "zh"]
