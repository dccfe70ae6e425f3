# ruff: noqa: RUF001 - Chinese text is written with its full-width punctuation
"""The organizer's and the speaker's pages, and the JSON API, in the reader's language:
Chinese for a Chinese browser (or the switcher), English by default, and a request keeps
the language it was filed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from bureau.bookings.links import availability_token
from bureau.bookings.models import BookingRequest
from bureau.bookings.states import Status, organizer_label
from bureau.calendar.busy import Blackout
from bureau.calendar.links import blackout_token
from bureau.catalogue.models import Speaker
from bureau.extensions import db
from bureau.i18n import COOKIE, speaking
from bureau.i18n.unmarked import everything
from tests.conftest import valid_request
from tests.test_request_form import form_data
from tests.test_transitions import booking_in
from tests.workflow_helpers import csrf_from

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
AREA = (
    "templates/bookings", "templates/privacy", "templates/errors",
    "templates/contracts/document.html", "templates/billing", "templates/calendar",
    "bureau/bookings", "bureau/privacy", "bureau/contracts", "bureau/billing",
    "bureau/calendar/forms.py", "bureau/calendar/views.py", "bureau/errors.py",
)  # fmt: skip


def nothing_stored(app: Flask) -> bool:
    with app.app_context():
        return db.session.scalars(select(BookingRequest)).first() is None


def only_booking(app: Flask) -> BookingRequest:
    with app.app_context():
        return db.session.scalars(select(BookingRequest)).one()


def test_every_shown_text_of_the_public_pages_is_marked() -> None:
    assert [str(item) for item in everything(AREA)] == []


def test_a_bad_api_request_is_answered_in_the_callers_language(
    client: FlaskClient, app: Flask
) -> None:
    bad = valid_request(event_name="", speakers=[], audience_size="lots")
    chinese = client.post("/api/v1/requests", json=bad, headers=CHINESE)
    assert chinese.status_code == 422
    errors = chinese.get_json()["errors"]
    assert errors["event_name"] == ["此字段为必填项。"]
    assert errors["speakers"] == ["请至少选择一位演讲者。"]
    assert errors["audience_size"] == ["请输入整数。"]

    english = client.post("/api/v1/requests", json=bad)
    assert english.status_code == 422
    errors = english.get_json()["errors"]
    assert errors["event_name"] == ["This field is required."]
    assert errors["speakers"] == ["Choose at least one speaker."]
    assert errors["audience_size"] == ["Enter a whole number."]
    assert nothing_stored(app)


def test_a_message_with_values_keeps_them_in_chinese(client: FlaskClient) -> None:
    body = valid_request(speakers=["nobody-we-know"], contact_email="x" * 300)
    errors = client.post("/api/v1/requests", json=body, headers=CHINESE).get_json()["errors"]
    assert errors["speakers"] == ["不是我们代理的演讲者：nobody-we-know。"]
    assert errors["contact_email"] == ["请控制在 254 个字符以内（当前为 300 个）。"]


def test_the_apis_own_errors_speak_the_callers_language(client: FlaskClient) -> None:
    not_json = client.post("/api/v1/requests", data="x", headers=CHINESE)
    assert not_json.status_code == 422
    assert not_json.get_json()["errors"]["body"] == [
        "请发送 JSON 对象（Content-Type: application/json）。"
    ]
    missing = client.get("/api/v1/requests/" + "A" * 43, headers=CHINESE)
    assert missing.status_code == 404
    assert missing.get_json()["errors"]["_"] == ["此地址下没有内容。"]
    wrong_method = client.delete("/api/v1/requests", headers=CHINESE)
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["errors"]["_"] == ["此地址不接受该请求方法。"]
    english = client.get("/api/v1/requests/" + "A" * 43)
    assert english.get_json()["errors"]["_"] == ["There is nothing at this address."]


def test_an_api_request_stores_the_language_it_was_filed_in(
    client: FlaskClient, app: Flask
) -> None:
    created = client.post("/api/v1/requests", json=valid_request(), headers=CHINESE)
    assert created.status_code == 201
    assert only_booking(app).locale == "zh_Hans"
    token = created.get_json()["status_url"].rsplit("/", 1)[1]
    status = client.get(f"/api/v1/requests/{token}", headers=CHINESE).get_json()
    assert status["status"] == "new"  # the code stays the code
    assert status["status_label"] == "已收到"
    assert "预约经纪人" in status["next_step"]
    assert status["event"]["format_label"] == "主旨演讲"
    assert client.get(f"/api/v1/requests/{token}").get_json()["status_label"] == "Received"


def test_an_english_api_request_stays_english(client: FlaskClient, app: Flask) -> None:
    assert client.post("/api/v1/requests", json=valid_request()).status_code == 201
    assert only_booking(app).locale == "en"


def test_the_request_form_in_chinese_names_countries_and_languages_in_chinese(
    client: FlaskClient,
) -> None:
    page = client.get("/request", headers=CHINESE).get_data(as_text=True)
    assert '<html lang="zh-Hans">' in page
    assert "预约演讲者" in page
    assert "活动名称" in page
    assert "提交预约请求" in page
    assert '<option value="CN">中国</option>' in page
    assert '<option selected value="en">英语</option>' in page
    assert '<option value="keynote">主旨演讲</option>' in page
    english = client.get("/request").get_data(as_text=True)
    assert "Event name" in english
    assert "活动名称" not in english
    assert '<option value="CN">China</option>' in english
    assert '<option selected value="en">English</option>' in english


def test_a_form_filed_in_chinese_is_kept_in_chinese(client: FlaskClient, app: Flask) -> None:
    client.set_cookie(COOKIE, "zh_Hans")
    response = client.post("/request", data=form_data(client))
    assert response.status_code == 302
    booking = only_booking(app)
    assert booking.locale == "zh_Hans"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"谢谢！我们已收到您的预约请求 {booking.reference}。" in page
    assert "状态：已收到" in page
    assert "您的预约请求" in page
    assert "时间线" in page


def test_a_form_filed_in_english_is_kept_in_english(client: FlaskClient, app: Flask) -> None:
    response = client.post("/request", data=form_data(client))
    assert response.status_code == 302
    assert only_booking(app).locale == "en"


def test_the_forms_errors_are_in_chinese_by_their_fields(client: FlaskClient, app: Flask) -> None:
    client.set_cookie(COOKIE, "zh_Hans")
    response = client.post("/request", data=form_data(client, event_name="", city=""))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "请更正下方标出的字段。" in page
    assert "此字段为必填项。" in page
    assert "请填写活动所在城市，或将其标记为线上活动。" in page
    assert nothing_stored(app)


def test_a_contracted_request_reads_in_chinese(client: FlaskClient, app: Flask) -> None:
    with app.app_context():
        token = booking_in(db.session, Status.CONTRACTED).tracking_token
    page = client.get(f"/requests/{token}", headers=CHINESE).get_data(as_text=True)
    assert "状态：合同已商定" in page
    assert "合同条款" in page
    assert "定金" in page
    assert "请于" in page
    assert "Contract terms" not in page
    english = client.get(f"/requests/{token}").get_data(as_text=True)
    assert "Status: Contract agreed" in english
    assert "Contract terms" in english


def test_error_pages_speak_the_readers_language(client: FlaskClient) -> None:
    page = client.get("/requests/" + "a" * 32, headers=CHINESE)
    assert page.status_code == 404
    assert "此地址下没有内容。" in page.get_data(as_text=True)
    assert "返回首页" in page.get_data(as_text=True)
    assert "There is nothing at this address." in client.get("/requests/" + "a" * 32).text


@pytest.mark.parametrize(
    ("status", "english", "chinese"),
    [
        (Status.NEW, "Received", "已收到"),
        (Status.CONFIRMED, "Confirmed", "已确认"),
        (Status.COMPLETED, "Completed", "已完成"),
    ],
)
def test_organizer_words_are_translated_when_shown(
    app: Flask, status: Status, english: str, chinese: str
) -> None:
    with app.app_context():
        with speaking("zh_Hans"):
            assert organizer_label(status) == chinese
        assert organizer_label(status) == english


def test_the_speakers_availability_page_speaks_chinese(client: FlaskClient, app: Flask) -> None:
    with app.app_context():
        offer = booking_in(db.session, Status.AWAITING_SPEAKER).offer
        assert offer is not None
        link = f"/availability/{availability_token(offer.id, offer.speaker_id)}"
    client.set_cookie(COOKIE, "zh_Hans")
    page = client.get(link).get_data(as_text=True)
    assert "接受：我有档期" in page
    assert "在此之前我们会为您暂定保留该日期。" in page
    answered = client.post(link, data={"csrf_token": csrf_from(page), "answer": "decline"})
    assert answered.status_code == 303
    assert "您已谢绝此预约请求。谢谢。" in client.get(link).get_data(as_text=True)
    client.delete_cookie(COOKIE)
    assert "You declined this request. Thank you." in client.get(link).get_data(as_text=True)


def test_a_bad_link_is_refused_in_the_readers_language(client: FlaskClient) -> None:
    for path in (
        "/availability/nonsense",
        "/speaker/blackouts/nonsense",
        "/speaker/payouts/nonsense",
    ):
        refused = client.get(path, headers=CHINESE)
        assert refused.status_code == 404
        assert "此链接无效。" in refused.get_data(as_text=True)
        assert "This link is not valid." in client.get(path).get_data(as_text=True)


def test_a_speaker_keeps_their_blackouts_in_chinese(client: FlaskClient, app: Flask) -> None:
    with app.app_context():
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        speaker_id = speaker.id
    with app.test_request_context():
        link = f"/speaker/blackouts/{blackout_token(speaker_id)}"
    client.set_cookie(COOKIE, "zh_Hans")
    page = client.get(link).get_data(as_text=True)
    assert "添加不可用时段" in page
    day = datetime.now(UTC).date() + timedelta(days=30)
    refused = client.post(
        link,
        data={"csrf_token": csrf_from(page), "first_day": f"{day:%Y-%m-%d}", "start_time": "09:00"},
    )
    assert refused.status_code == 422
    assert "请同时填写开始和结束时间；如为全天，则都不填写。" in refused.get_data(as_text=True)
    saved = client.post(
        link,
        data={"csrf_token": csrf_from(page), "first_day": f"{day:%Y-%m-%d}", "note": "家事"},
    )
    assert saved.status_code == 303
    listed = client.get(link).get_data(as_text=True)
    assert "已保存：经纪公司不会将这段时间推荐给主办方。" in listed
    assert '<td class="small">演讲者</td>' in listed
    with app.app_context():
        db.session.execute(delete(Blackout).where(Blackout.speaker_id == speaker_id))
        db.session.commit()
