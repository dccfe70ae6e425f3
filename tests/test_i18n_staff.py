"""The staff area in Chinese: the switcher, a staff member's preferred language, and every
shown text of the back office marked for translation."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bureau.describe import action_label, job_state_label
from bureau.extensions import db
from bureau.i18n import COOKIE, speaking
from bureau.i18n.unmarked import everything
from bureau.staff.models import Role, StaffMember
from tests.conftest import bureau_cli
from tests.workflow_helpers import PASSWORD, csrf_from, sign_in, staff_member, submit_and_route

STAFF_AREA = (
    "templates/staff",
    "templates/insights",
    "templates/ops",
    "bureau/staff",
    "bureau/describe.py",
    "bureau/insights",
    "bureau/ops",
    "bureau/inbound",
    "bureau/calendar/admin.py",
)
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}


def locale_of(app: Flask, email: str) -> str:
    with app.app_context():
        member = db.session.scalars(select(StaffMember).where(StaffMember.email == email)).one()
        return member.locale


def signed_in(app: Flask, email: str, *, role: str = Role.AGENT) -> FlaskClient:
    staff_member(app, email, role=role)
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def test_every_shown_text_of_the_staff_area_is_marked() -> None:
    assert [str(item) for item in everything(STAFF_AREA)] == []


def test_the_dashboard_is_in_english_by_default(app: Flask) -> None:
    client = signed_in(app, "english.desk@bureau.test")
    page = client.get("/staff/").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Search and filters" in page
    assert ">Mail log</a>" in page
    assert "搜索" not in page


def test_the_dashboard_and_a_request_speak_chinese(app: Flask) -> None:
    booking = submit_and_route(app)
    client = signed_in(app, "chinese.admin@bureau.test", role=Role.ADMIN)
    client.set_cookie(COOKIE, "zh_Hans")
    dashboard = client.get("/staff/?queue=open").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in dashboard
    for words in ("搜索与筛选", "邮件日志", "收件箱", "数据分析", "退出登录", "全部进行中", "编号"):
        assert words in dashboard, words
    assert "Search and filters" not in dashboard
    assert booking.reference in dashboard  # references stay as written

    response = client.get(f"/staff/requests/{booking.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    steps = ("时间线", "内部备注", "添加备注", "说明原因并关闭", "预约请求已提交", "机构")
    suggestions = ("位候选人", "个共同主题", "推荐理由")
    for words in (*steps, *suggestions):
        assert words in page, words
    assert "Timeline" not in page
    assert booking.event_name in page  # names stay as written
    with app.test_request_context(), speaking("zh_Hans"):
        assert action_label("submitted") == "预约请求已提交"
        assert job_state_label("done") == "已发送"
    with app.test_request_context():
        assert action_label("submitted") == "Request submitted"  # the stored code is unchanged


def test_ops_and_insights_speak_chinese(app: Flask) -> None:
    client = signed_in(app, "chinese.ops@bureau.test", role=Role.ADMIN)
    # Signed in, their preferred language (English) outranks the browser's; the switcher wins.
    assert "Outbox backlog" in client.get("/staff/ops", headers=CHINESE).get_data(as_text=True)
    client.set_cookie(COOKIE, "zh_Hans")
    ops = client.get("/staff/ops", headers=CHINESE)
    assert ops.status_code == 200
    assert "发件队列" in ops.get_data(as_text=True)
    insights = client.get("/staff/insights", headers=CHINESE).get_data(as_text=True)
    for words in ("数据分析", "漏斗", "统计口径", "按状态统计的每周预约请求"):
        assert words in insights, words
    # The period and the chart's weeks are dates as Chinese writes them ("2026年9月7日").
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", insights)
    assert not re.search(r"\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)", insights)


def set_language(client: FlaskClient, code: str, *, token: bool = True) -> tuple[int, str]:
    page = client.get("/staff/password").get_data(as_text=True)
    data = {"locale": code, **({"csrf_token": csrf_from(page)} if token else {})}
    response = client.post("/staff/language", data=data)
    return response.status_code, response.get_data(as_text=True)


def test_a_staff_members_preferred_language_applies_after_sign_in(app: Flask) -> None:
    email = "prefers.chinese@bureau.test"
    client = signed_in(app, email)
    page = client.get("/staff/password").get_data(as_text=True)
    assert '<option selected value="en">English</option>' in page

    for bad in ("fr", "", "zh_Hans' OR 1=1", "x" * 300):
        status, html = set_language(client, bad)
        assert status == 422, bad
        assert "Choose a language from the list." in html
        assert locale_of(app, email) == "en"  # nothing changed
    assert set_language(client, "zh_Hans", token=False)[0] == 400
    assert locale_of(app, email) == "en"

    status, _ = set_language(client, "zh_Hans")
    assert status == 303
    assert locale_of(app, email) == "zh_Hans"
    assert "工作人员页面现在使用简体中文" in client.get("/staff/password").get_data(as_text=True)

    # Another browser, no cookie, an English Accept-Language: the preference wins once signed in.
    elsewhere = app.test_client()
    english = {"Accept-Language": "en-GB,en;q=0.9"}
    login = elsewhere.get("/staff/login", headers=english).get_data(as_text=True)
    assert "Staff sign-in" in login
    token = csrf_from(login)
    elsewhere.post(
        "/staff/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        headers=english,
    )
    dashboard = elsewhere.get("/staff/", headers=english).get_data(as_text=True)
    assert '<html lang="zh-Hans">' in dashboard
    assert "搜索与筛选" in dashboard
    # The public pages follow the browser, signed in or not.
    assert '<html lang="en">' in elsewhere.get("/", headers=english).get_data(as_text=True)
    # The switcher's cookie still says otherwise for this browser.
    elsewhere.set_cookie(COOKIE, "en")
    assert "Search and filters" in elsewhere.get("/staff/").get_data(as_text=True)
    # Signed out, the public pages follow the browser again.
    elsewhere.delete_cookie(COOKIE)
    token = csrf_from(elsewhere.get("/staff/").get_data(as_text=True))
    elsewhere.post("/staff/logout", data={"csrf_token": token})
    assert '<html lang="en">' in elsewhere.get("/", headers=english).get_data(as_text=True)


def test_staff_create_takes_a_preferred_language(app: Flask) -> None:
    email = "cli.chinese@bureau.test"
    arguments = ["staff", "create", email, "--name", "Li", "--role", "agent", "--password-stdin"]
    created = bureau_cli(app, *arguments, "--locale", "zh-CN", stdin=PASSWORD + "\n")
    assert created.exit_code == 0, created.stderr
    assert locale_of(app, email) == "zh_Hans"
    again = bureau_cli(app, *arguments, stdin=PASSWORD + "\n")  # no --locale: kept
    assert again.exit_code == 0, again.stderr
    assert locale_of(app, email) == "zh_Hans"


@pytest.mark.parametrize("code", ["fr", "klingon", ""])
def test_staff_create_refuses_an_unknown_language(app: Flask, code: str) -> None:
    email = f"cli.{code or 'blank'}@bureau.test"
    refused = bureau_cli(
        app,
        *["staff", "create", email, "--name", "X", "--role", "agent", "--password-stdin"],
        *["--locale", code],
        stdin=PASSWORD + "\n",
    )
    assert refused.exit_code == 2
    assert "--locale" in refused.stderr
    assert "Traceback" not in refused.stderr
    with app.app_context():
        assert db.session.scalars(select(StaffMember).where(StaffMember.email == email)).all() == []
