"""The catalogue in two languages: Chinese texts where written, English where not; search by
Chinese text on both databases; dates, money, countries and languages the reader's way."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bureau.catalogue.models import Post, Speaker
from bureau.catalogue.queries import SpeakerFilters, speaker_search
from bureau.demo.catalogue import demo_data, load_demo_catalogue
from bureau.extensions import db
from bureau.i18n import COOKIE, speaking
from bureau.i18n.content import shown_bio, shown_headline, shown_name
from bureau.i18n.unmarked import everything
from bureau.templating import (
    country_name,
    day_words,
    event_span,
    long_date,
    money,
    span_in_zone,
    staff_time,
    time_in_zone,
)
from tests.conftest import DEMO_SPEAKERS
from tests.test_catalogue_admin import admin as admin
from tests.test_catalogue_admin import speaker_fields as english_speaker_fields
from tests.workflow_helpers import post_form

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}
SIX = set(DEMO_SPEAKERS)


def test_the_catalogue_marks_every_shown_text() -> None:
    prefixes = (
        "templates/catalogue",
        "bureau/catalogue",
        "bureau/templating.py",
        "bureau/reference.py",
        "bureau/i18n/content.py",
        "templates/staff/speaker_form.html",
        "templates/staff/post_form.html",
    )
    assert everything(prefixes) == []


def test_a_chinese_reader_gets_the_chinese_profile_with_its_language_marked(
    client: FlaskClient,
) -> None:
    page = client.get("/speakers/rupert-hoogewerf", headers=CHINESE).text
    assert '<h1 class="h2" lang="zh-Hans">胡润</h1>' in page
    assert '<p class="text-muted" lang="en">Rupert Hoogewerf</p>' in page  # the name as written
    assert "胡润全球富豪榜" in page
    assert "预约这位演讲者" in page
    assert "酬金范围" in page
    assert "示例数据" in page
    assert "中国" in page  # Shanghai, 中国: the country in Chinese
    assert "US$" in page
    assert "USD " not in page
    english = client.get("/speakers/rupert-hoogewerf").text
    assert '<h1 class="h2" lang="en">Rupert Hoogewerf</h1>' in english
    assert "胡润" not in english
    assert "Request this speaker" in english
    assert "Fee band" in english


def test_a_text_not_written_in_chinese_falls_back_to_english_saying_so(app: Flask) -> None:
    with app.test_request_context(headers=CHINESE):
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        saved = speaker.bio_zh
        speaker.bio_zh = None
        try:
            assert (shown_name(speaker).text, shown_name(speaker).lang) == ("郭怡广", "zh-Hans")
            bio = shown_bio(speaker)
            assert (bio.lang, bio.paragraphs[0][:14]) == ("en", "Kaiser Kuo is ")
            assert shown_headline(speaker, "en").text == speaker.headline
        finally:
            speaker.bio_zh = saved
            db.session.rollback()


def test_catalogue_pages_speak_chinese(client: FlaskClient) -> None:
    home = client.get("/", headers=CHINESE).text
    assert "推荐演讲者" in home
    assert "博客最新文章" in home
    assert 'lang="zh-Hans">汪丛青</a>' in home
    assert 'fw-normal" lang="en">English</span>' in home  # an English post says so
    listing = client.get("/speakers?q=zzzzunmatched", headers=CHINESE).text
    assert "没有符合条件的演讲者" in listing
    assert "不限主题" in listing
    news = client.get("/news", headers=CHINESE).text
    assert "本机构博客新闻" in news
    assert "年" in news
    post = client.get(
        "/news/hurun-global-rich-list-us-billionaires-outpace-china", headers=CHINESE
    ).text
    assert "您的会议或大会需要邀请胡润吗？" in post  # noqa: RUF001
    assert '<h1 class="h2" lang="en">' in post


def test_the_english_catalogue_is_as_it_was(client: FlaskClient) -> None:
    listing = client.get("/speakers").text
    assert "6 speakers." in listing
    assert "1 speaker matches your search." in client.get("/speakers?q=hurun").text
    post = client.get("/news/hurun-global-rich-list-us-billionaires-outpace-china").text
    assert "is a speaker at the bureau. Do you need Rupert at your meeting" in post
    assert 'fw-normal" lang="en">English</span>' not in client.get("/news").text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("富豪榜", {"rupert-hoogewerf"}),
        ("郭怡广", {"kaiser-kuo"}),
        ("人工智能 元宇宙", {"alvin-wang-graylin"}),
        # Winston Ma by his topic 数字经济与金融 (tests/test_i18n_topics.py).
        ("经济", {"alvin-wang-graylin", "kaiser-kuo", "rupert-hoogewerf", "winston-ma"}),
    ],
)
def test_search_finds_speakers_by_chinese_text_on_sqlite(
    client: FlaskClient, query: str, expected: set[str]
) -> None:
    page = client.get("/speakers", query_string={"q": query}).text
    assert {slug for slug in SIX if f'href="/speakers/{slug}"' in page} == expected


def _found(app: Flask, query: str) -> set[str]:
    with app.app_context():
        stmt = speaker_search(SpeakerFilters(q=query), db.engine.dialect.name)
        return {s.slug for s in db.session.scalars(stmt)}


def test_search_finds_speakers_by_chinese_text_on_postgresql(postgres_app: Flask) -> None:
    with postgres_app.app_context():
        assert db.engine.dialect.name == "postgresql"
    assert _found(postgres_app, "富豪榜") == {"rupert-hoogewerf"}  # a Chinese headline
    assert _found(postgres_app, "经济") == {
        "alvin-wang-graylin",
        "kaiser-kuo",
        "rupert-hoogewerf",
        "winston-ma",  # by his topic 数字经济与金融
    }
    assert _found(postgres_app, "马文彦") == {"winston-ma"}  # a Chinese name
    assert _found(postgres_app, "经_济") == set()  # a wildcard is a character, not a pattern
    # English keeps its stemming: 'billionaire' finds the bio's 'billionaires'.
    assert "rupert-hoogewerf" in _found(postgres_app, "billionaire")
    page = postgres_app.test_client().get("/speakers", query_string={"q": "富豪榜"}).text
    assert 'href="/speakers/rupert-hoogewerf"' in page


def test_the_search_index_is_a_trigram_index_on_postgresql(postgres_app: Flask) -> None:
    from sqlalchemy import text

    with postgres_app.app_context():
        definition = db.session.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_speakers_search'")
        )
    assert definition is not None
    assert "USING gin" in definition
    assert "gin_trgm_ops" in definition


def speaker_fields(**changes: str) -> dict[str, str]:
    """test_catalogue_admin's speaker (its ``admin`` fixture removes it), in Chinese too."""
    chinese = {
        "name_zh": "林艾达",
        "headline_zh": "电池行业分析师",
        "bio_zh": "林艾达长期关注中国电池制造商。\r\n\r\n她常驻深圳。",
        "locale": "zh_Hans",
        "fee_currency": "CNY",
    }
    return english_speaker_fields(**{**chinese, **changes})


def test_admin_writes_a_speaker_in_both_languages(app: Flask, admin: FlaskClient) -> None:
    new = "/staff/speakers/new"
    form = admin.get(new).text
    assert 'name="name_zh"' in form
    assert 'lang="zh-Hans"' in form
    assert 'name="locale"' in form
    refused = post_form(admin, new, new, speaker_fields(headline_zh="Battery analyst"))
    assert refused.status_code == 422
    assert "Write this in Chinese characters, or leave it empty" in refused.text
    bad_locale = post_form(admin, new, new, speaker_fields(locale="fr"))
    assert bad_locale.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(Speaker.id).where(Speaker.slug == "ada-lin")) is None

    assert post_form(admin, new, new, speaker_fields()).status_code == 303
    with app.app_context():
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "ada-lin")).one()
        assert (speaker.name_zh, speaker.locale) == ("林艾达", "zh_Hans")
        assert speaker.bio_zh == "林艾达长期关注中国电池制造商。\n\n她常驻深圳。"
        speaker_id = speaker.id
    profile = admin.get("/speakers/ada-lin", headers=CHINESE).text
    assert "电池行业分析师" in profile
    assert "¥8,000" in profile

    edit = f"/staff/speakers/{speaker_id}/edit"
    assert 'value="林艾达"' in admin.get(edit).text
    cleared = speaker_fields(name_zh="  ", headline_zh="", bio_zh="")
    assert post_form(admin, edit, edit, cleared).status_code == 303
    with app.app_context():
        speaker = db.session.get(Speaker, speaker_id)
        assert speaker is not None
        assert (speaker.name_zh, speaker.headline_zh, speaker.bio_zh) == (None, None, None)
    assert "Battery analyst" in admin.get("/speakers/ada-lin", headers=CHINESE).text


def test_admin_says_which_language_a_post_is_in(app: Flask, admin: FlaskClient) -> None:
    new = "/staff/posts/new"
    fields = {
        "title": "林艾达谈电池",
        "slug": "ada-lin-on-batteries",
        "language": "zh_Hans",
        "published_on": "2026-11-02",
        "body": "第一段。\r\n\r\n第二段。",
    }
    assert post_form(admin, new, new, {**fields, "language": "xx"}).status_code == 422
    assert post_form(admin, new, new, fields).status_code == 303
    with app.app_context():
        post = db.session.scalars(select(Post).where(Post.slug == "ada-lin-on-batteries")).one()
        assert post.language == "zh_Hans"
    english = admin.get("/news").text
    assert '<article class="mb-4" lang="zh-Hans">' in english
    assert 'fw-normal" lang="zh-Hans">简体中文</span>' in english  # marked on an English page
    chinese = admin.get("/news", headers=CHINESE).text
    assert 'fw-normal" lang="zh-Hans">简体中文</span>' not in chinese


def test_chinese_admin_messages(admin: FlaskClient) -> None:
    # On the staff pages the admin's own language (English) outranks the browser's; the
    # switcher's cookie outranks both.
    admin.set_cookie(COOKIE, "zh_Hans")
    page = admin.get("/staff/speakers/new", headers=CHINESE).text
    admin.delete_cookie(COOKIE)
    assert "中文姓名" in page
    assert "新演讲者" in page


def test_the_api_gives_both_languages_and_errors_in_the_clients(client: FlaskClient) -> None:
    listing = client.get("/api/v1/speakers").get_json()
    rupert = next(s for s in listing["speakers"] if s["slug"] == "rupert-hoogewerf")
    assert (rupert["name_zh"], rupert["headline_zh"][:2]) == ("胡润", "胡润")
    full = client.get("/api/v1/speakers/winston-ma").get_json()
    assert full["bio_zh"].startswith("马文彦")
    assert full["bio"].startswith("Winston Ma")
    wrong = client.get("/api/v1/speakers?per_page=0", headers=CHINESE)
    assert wrong.status_code == 422
    assert wrong.get_json()["errors"]["per_page"] == ["请使用 1 至 100 之间的整数。"]
    english = client.get("/api/v1/speakers?per_page=0").get_json()
    assert english["errors"]["per_page"] == ["Use a whole number from 1 to 100."]


def test_formats_are_english_as_before_and_chinese_by_babel(app: Flask) -> None:
    day = date(2027, 1, 15)
    start = datetime(2027, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    end = datetime(2027, 3, 10, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with app.test_request_context():
        assert long_date(day) == "Friday 15 January 2027"
        assert day_words(day) == "Fri 15 Jan 2027"
        assert money(15000, "USD") == "USD 15,000"
        assert money(30000) == "30,000"
        assert country_name("CN") == "China"
        assert time_in_zone(start, "Asia/Shanghai") == "Wed 10 Mar 2027, 09:00 (Shanghai time)"
        assert span_in_zone(start, end, "Asia/Shanghai") == (
            "Wed 10 Mar 2027, 09:00 \N{EN DASH} 10:00 (Shanghai time)"
        )
    with app.test_request_context(), speaking("zh_Hans"):
        assert long_date(day) == "2027年1月15日星期五"
        assert day_words(day) == "2027年1月15日周五"
        assert money(15000, "USD") == "US$15,000"
        assert money(15000, "CNY") == "¥15,000"
        assert country_name("CN") == "中国"
        assert country_name("NL") == "荷兰"
        assert time_in_zone(start, "Asia/Shanghai") == "2027年3月10日周三 09:00 (上海时间)"
        assert time_in_zone(start, "UTC") == "2027年3月10日周三 01:00 (UTC时间)"
        assert span_in_zone(start, end, "Asia/Shanghai") == (
            "2027年3月10日周三 09:00 \N{EN DASH} 10:00 (上海时间)"
        )
        # A naive value is the zone's wall time already.
        assert time_in_zone(start.replace(tzinfo=None), "Europe/Amsterdam").startswith(
            "2027年3月10日周三 09:00"
        )


def test_language_names_in_the_readers_language(client: FlaskClient) -> None:
    chinese = client.get("/speakers/fons-tuinstra", headers=CHINESE).text
    assert "荷兰语、英语" in chinese
    assert "Dutch, English" in client.get("/speakers/fons-tuinstra").text


def test_the_demo_speakers_have_chinese_texts(app: Flask) -> None:
    speakers = demo_data()["speakers"]
    assert {s["slug"] for s in speakers} == SIX
    for item in speakers:
        for name in ("name_zh", "headline_zh", "bio_zh"):
            assert item[name].strip(), (item["slug"], name)
    assert {s["slug"]: s["name_zh"] for s in speakers}["kaiser-kuo"] == "郭怡广"


def test_demo_speakers_loaded_before_get_their_chinese_unless_edited(app: Flask) -> None:
    with app.app_context():
        rows: dict[str, Any] = {
            s.slug: s for s in db.session.scalars(select(Speaker).where(Speaker.slug.in_(SIX)))
        }
        rows["winston-ma"].name_zh = None
        rows["kaiser-kuo"].name_zh = None
        rows["kaiser-kuo"].is_fee_example = False  # staff saved it since
        db.session.flush()
        load_demo_catalogue(db.session)
        assert rows["winston-ma"].name_zh == "马文彦"
        assert rows["kaiser-kuo"].name_zh is None
        db.session.rollback()


def test_chinese_text_prints_in_noto_sans_cjk() -> None:
    import io

    from pypdf import PdfReader

    from bureau.documents import render_pdf

    pdf = PdfReader(
        io.BytesIO(render_pdf('<html lang="zh-Hans"><body><p>胡润百富</p></body></html>'))
    )
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in pdf.pages
        for font in cast(Any, page)["/Resources"]["/Font"].values()
    }
    assert any("Noto-Sans-CJK-SC" in name for name in fonts), fonts


def test_the_site_names_a_chinese_font_for_chinese_text(client: FlaskClient) -> None:
    with client.get("/static/css/bureau.css") as response:
        css = response.get_data(as_text=True)
    assert ':lang(zh) { font-family: system-ui, -apple-system, "PingFang SC"' in css
    assert '"Noto Sans CJK SC"' in css


def test_staff_times_name_their_place_in_the_readers_language(app: Flask) -> None:
    instant = datetime(2027, 3, 10, 1, 0, tzinfo=ZoneInfo("UTC"))
    end = datetime(2027, 3, 10, 2, 30, tzinfo=ZoneInfo("UTC"))
    with app.test_request_context():
        assert staff_time(instant, "Europe/Amsterdam") == "Wed 10 Mar 2027, 02:00 (Amsterdam)"
        assert event_span(instant, end, "UTC") == "Wed 10 Mar 2027, 01:00 \N{EN DASH} 02:30 (UTC)"
    with app.test_request_context(), speaking("zh_Hans"):
        assert staff_time(instant, "Europe/Amsterdam") == "2027年3月10日周三 02:00 (阿姆斯特丹)"
        assert event_span(instant, end, "Asia/Shanghai") == (
            "2027年3月10日周三 09:00 \N{EN DASH} 10:30 (上海); 01:00 \N{EN DASH} 02:30 (UTC)"
        )


def test_the_request_form_offers_speakers_by_the_readers_name_for_them(
    client: FlaskClient,
) -> None:
    chinese = client.get("/request?speaker=kaiser-kuo", headers=CHINESE).text
    assert '<option selected value="kaiser-kuo">郭怡广（Kaiser Kuo）</option>' in chinese  # noqa: RUF001
    english = client.get("/request?speaker=kaiser-kuo").text
    assert '<option selected value="kaiser-kuo">Kaiser Kuo</option>' in english
