"""Topic names and home cities in Chinese where written, English where not; in the API; the
columns' migration goes both ways on SQLite."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from bureau.catalogue.models import Speaker, Topic
from bureau.catalogue.queries import SpeakerFilters, speaker_search
from bureau.demo.catalogue import demo_data, load_demo_catalogue
from bureau.extensions import db
from bureau.i18n.content import shown_city, shown_topic
from bureau.i18n.unmarked import everything
from tests.conftest import make_app
from tests.test_catalogue_admin import admin as admin
from tests.test_i18n_content import CHINESE, speaker_fields
from tests.workflow_helpers import post_form


def test_the_topic_and_city_templates_mark_every_shown_text() -> None:
    prefixes = (
        "templates/catalogue",
        "templates/staff/topics.html",
        "templates/staff/speaker_form.html",
        "bureau/catalogue",
        "bureau/i18n/content.py",
    )
    assert everything(prefixes) == []


def test_a_chinese_speaker_page_names_topics_and_city_in_chinese(client: FlaskClient) -> None:
    page = client.get("/speakers/kaiser-kuo", headers=CHINESE).text
    assert '<span lang="zh-Hans">北京</span>，中国' in page  # noqa: RUF001
    assert 'href="/speakers?topic=artificial-intelligence" lang="zh-Hans">人工智能</a>' in page
    assert "数字经济与金融" in page
    assert "Artificial intelligence" not in page
    assert "Beijing" not in page
    english = client.get("/speakers/kaiser-kuo").text
    assert '<span lang="en">Beijing</span>, China' in english
    assert 'lang="en">Artificial intelligence</a>' in english
    assert "人工智能" not in english
    assert "北京" not in english


def test_the_chinese_speakers_list_has_chinese_badges_filters_and_cities(
    client: FlaskClient,
) -> None:
    page = client.get("/speakers", headers=CHINESE).text
    assert '<option value="artificial-intelligence" lang="zh-Hans">人工智能</option>' in page
    assert '<span class="badge text-bg-secondary me-1" lang="zh-Hans">人工智能</span>' in page
    assert '<span lang="zh-Hans">香港</span>' in page
    assert '<span lang="zh-Hans">阿姆斯特丹</span>，荷兰' in page  # noqa: RUF001
    # The filter keeps the English order (sorted by the English name).
    shown = re.findall(r'<option value="[a-z-]+" lang="zh-Hans">([^<]+)</option>', page)
    assert shown[:3] == ["人工智能", "数字经济与金融", "电子商务与零售"]
    picked = client.get("/speakers?topic=wealth-rich-lists", headers=CHINESE).text
    assert 'value="wealth-rich-lists" selected lang="zh-Hans">财富、奢侈品与富豪榜' in picked
    english = client.get("/speakers").text
    assert '<option value="artificial-intelligence" lang="en">Artificial intelligence</option>' in (
        english
    )
    assert "香港" not in english


def test_a_topic_or_city_not_written_in_chinese_falls_back_to_english(app: Flask) -> None:
    with app.test_request_context(headers=CHINESE):
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        topic = db.session.scalars(select(Topic).where(Topic.slug == "media-internet")).one()
        try:
            assert (shown_city(speaker).text, shown_city(speaker).lang) == ("北京", "zh-Hans")
            assert shown_topic(topic).text == "媒体与互联网"
            assert shown_topic(topic, "en").text == "Media and the internet"
            speaker.home_city_zh, topic.name_zh = "  ", None
            assert (shown_city(speaker).text, shown_city(speaker).lang) == ("Beijing", "en")
            assert (shown_topic(topic).text, shown_topic(topic).lang) == (
                "Media and the internet",
                "en",
            )
        finally:
            db.session.rollback()


def test_the_api_gives_topic_names_and_cities_in_both_languages(client: FlaskClient) -> None:
    listing = client.get("/api/v1/speakers").get_json()
    rupert = next(s for s in listing["speakers"] if s["slug"] == "rupert-hoogewerf")
    assert rupert["home"]["city"] == "Shanghai"
    assert rupert["home"]["city_zh"] == "上海"
    assert {"slug": "wealth-rich-lists", "name": "Wealth, luxury and rich lists"}.items() <= (
        rupert["topics"][-1].items()
    )
    assert {t["slug"]: t["name_zh"] for t in rupert["topics"]}["wealth-rich-lists"] == (
        "财富、奢侈品与富豪榜"
    )
    full = client.get("/api/v1/speakers/fons-tuinstra").get_json()
    assert full["home"]["city_zh"] == "阿姆斯特丹"


def test_the_api_schema_names_the_chinese_fields(client: FlaskClient) -> None:
    from bureau.openapi_schemas import _speaker

    schema = _speaker(full=False)["properties"]
    assert "name_zh" in schema["topics"]["items"]["required"]
    assert schema["home"]["properties"]["city_zh"]["type"] == ["string", "null"]


def test_admin_writes_the_home_city_in_chinese(app: Flask, admin: FlaskClient) -> None:
    new = "/staff/speakers/new"
    form = admin.get(new).text
    assert 'name="home_city_zh"' in form
    refused = post_form(admin, new, new, speaker_fields(home_city_zh="Shenzhen"))
    assert refused.status_code == 422
    assert "Write this in Chinese characters, or leave it empty" in refused.text
    with app.app_context():
        assert db.session.scalar(select(Speaker.id).where(Speaker.slug == "ada-lin")) is None
    assert post_form(admin, new, new, speaker_fields(home_city_zh=" 深圳 ")).status_code == 303
    with app.app_context():
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "ada-lin")).one()
        assert speaker.home_city_zh == "深圳"
        speaker_id = speaker.id
    assert (
        '<span lang="zh-Hans">深圳</span>' in admin.get("/speakers/ada-lin", headers=CHINESE).text
    )
    edit = f"/staff/speakers/{speaker_id}/edit"
    assert 'value="深圳"' in admin.get(edit).text
    assert post_form(admin, edit, edit, speaker_fields(home_city_zh="")).status_code == 303
    with app.app_context():
        speaker = db.session.get(Speaker, speaker_id)
        assert speaker is not None
        assert speaker.home_city_zh is None


def test_admin_adds_a_topic_with_its_chinese_name(app: Flask, admin: FlaskClient) -> None:
    topics = "/staff/topics"
    fields = {"name": "Energy", "slug": "energy", "name_zh": "Energy"}
    refused = post_form(admin, topics, topics, fields)
    assert refused.status_code == 422
    assert "Write this in Chinese characters, or leave it empty" in refused.text
    with app.app_context():
        assert db.session.scalar(select(Topic.id).where(Topic.slug == "energy")) is None
    assert post_form(admin, topics, topics, {**fields, "name_zh": "能源"}).status_code == 303
    with app.app_context():
        topic = db.session.scalars(select(Topic).where(Topic.slug == "energy")).one()
        assert topic.name_zh == "能源"
    assert '<span lang="zh-Hans">能源</span>' in admin.get(topics).text


def test_the_demo_topics_and_cities_have_chinese_names() -> None:
    data = demo_data()
    assert len(data["topics"]) == 10
    assert all(t["name_zh"].strip() for t in data["topics"])
    assert {t["slug"]: t["name_zh"] for t in data["topics"]}[
        "artificial-intelligence"
    ] == "人工智能"
    cities = {s["slug"]: s["home_city_zh"] for s in data["speakers"]}
    assert cities["kaiser-kuo"] == "北京"
    assert cities["ashley-dudarenok"] == "香港"
    assert all(city.strip() for city in cities.values())


def test_a_demo_catalogue_loaded_before_gets_topic_and_city_names_unless_edited(
    app: Flask,
) -> None:
    with app.app_context():
        rows: dict[str, Any] = {s.slug: s for s in db.session.scalars(select(Speaker))}
        topic = db.session.scalars(select(Topic).where(Topic.slug == "future-of-work")).one()
        renamed = db.session.scalars(select(Topic).where(Topic.slug == "media-internet")).one()
        topic.name_zh = None
        renamed.name, renamed.name_zh = "Media", None  # staff renamed it since
        rows["winston-ma"].home_city_zh = None
        rows["kaiser-kuo"].home_city_zh = None
        rows["kaiser-kuo"].is_fee_example = False  # staff saved it since
        db.session.flush()
        load_demo_catalogue(db.session)
        assert topic.name_zh == "未来工作"
        assert renamed.name_zh is None
        assert rows["winston-ma"].home_city_zh == "纽约"
        assert rows["kaiser-kuo"].home_city_zh is None
        db.session.rollback()


def test_the_migration_adds_and_drops_the_columns_on_sqlite(tmp_path: Path) -> None:
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'topics.db'}")
    with app.app_context():
        upgrade(revision="0023_speaker_search")
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO topics (id, slug, name) VALUES (1, 'ai', 'AI')"))
        upgrade(revision="0024_topic_city_zh")
        columns = inspect(db.engine)
        assert "name_zh" in {c["name"] for c in columns.get_columns("topics")}
        assert "home_city_zh" in {c["name"] for c in columns.get_columns("speakers")}
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE topics SET name_zh = '人工智能'"))
        downgrade(revision="0023_speaker_search")
        columns = inspect(db.engine)
        assert "name_zh" not in {c["name"] for c in columns.get_columns("topics")}
        assert "home_city_zh" not in {c["name"] for c in columns.get_columns("speakers")}
        with db.engine.begin() as connection:
            assert connection.execute(text("SELECT slug, name FROM topics")).all() == [("ai", "AI")]


def _found(app: Flask, query: str) -> set[str]:
    with app.app_context():
        stmt = speaker_search(SpeakerFilters(q=query), db.engine.dialect.name)
        return {s.slug for s in db.session.scalars(stmt)}


def test_search_finds_speakers_by_a_chinese_topic_name(
    app: Flask, client: FlaskClient, postgres_app: Flask
) -> None:
    # Written only in the topics' names, in none of the speakers' texts.
    for database in (app, postgres_app):
        assert _found(database, "地缘政治") == {"alvin-wang-graylin", "winston-ma"}
        assert _found(database, "未来工作") == {"ashley-dudarenok"}
        assert _found(database, "未来工作 地缘政治") == set()
    page = client.get("/speakers", query_string={"q": "未来工作"}, headers=CHINESE).text
    assert 'href="/speakers/ashley-dudarenok"' in page
    assert 'href="/speakers/kaiser-kuo"' not in page


def test_admin_renames_a_topic_in_both_languages(app: Flask, admin: FlaskClient) -> None:
    with app.app_context():
        topic = db.session.scalars(select(Topic).where(Topic.slug == "media-internet")).one()
        topic_id, before = topic.id, (topic.name, topic.name_zh)
    edit = f"/staff/topics/{topic_id}/edit"
    assert f'href="{edit}"' in admin.get("/staff/topics").text
    page = admin.get(edit).text
    assert 'value="媒体与互联网"' in page
    assert 'lang="zh-Hans"' in page
    try:
        refused = post_form(admin, edit, edit, {"name": "Media", "name_zh": "Media"})
        assert refused.status_code == 422
        assert "Write this in Chinese characters, or leave it empty" in refused.text
        assert post_form(admin, edit, edit, {"name": "", "name_zh": "媒体"}).status_code == 422
        with app.app_context():
            topic = db.session.get(Topic, topic_id)
            assert topic is not None
            assert (topic.name, topic.name_zh) == before
        saved = post_form(admin, edit, edit, {"name": "Media and the web", "name_zh": " 媒体 "})
        assert saved.status_code == 303
        listing = admin.get("/speakers", headers=CHINESE).text
        assert 'lang="zh-Hans">媒体</option>' in listing
        assert post_form(admin, edit, edit, {"name": "Media", "name_zh": ""}).status_code == 303
        with app.app_context():
            topic = db.session.get(Topic, topic_id)
            assert topic is not None
            assert (topic.name, topic.name_zh, topic.slug) == ("Media", None, "media-internet")
        assert 'lang="en">Media</option>' in admin.get("/speakers", headers=CHINESE).text
        assert admin.get("/staff/topics/987654/edit").status_code == 404
    finally:
        with app.app_context():
            topic = db.session.get(Topic, topic_id)
            assert topic is not None
            topic.name, topic.name_zh = before
            db.session.commit()
