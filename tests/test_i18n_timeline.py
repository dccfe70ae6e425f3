"""The organizer's timeline in their language: each public message is written in the request's
language (BookingRequest.locale) when the step happens, whoever triggers it and whatever
language that person's browser asks for; English requests read exactly as before."""

# ruff: noqa: RUF001 (Chinese punctuation is what the tests look for)

from __future__ import annotations

import ast
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from flask_babel import lazy_gettext as _l

from bureau.bookings import actions
from bureau.bookings.models import PUBLIC_MESSAGE_MAX, BookingRequest
from bureau.bookings.states import Status
from bureau.bookings.workflow import Actor, note
from bureau.extensions import db
from bureau.i18n import current_locale
from bureau.i18n.unmarked import everything
from bureau.inbound.services import REPLY_RECEIVED
from bureau.privacy.erasure import erase
from bureau.staff.models import Role
from tests.conftest import NEXT_YEAR
from tests.workflow_helpers import (
    accept_and_pay,
    offer_terms,
    post_form,
    reload,
    sign_in,
    staff_member,
    submit_and_route,
)

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"\b(?:the|your|we|speakers?|contract|was|is)\b", re.IGNORECASE)
CANDIDATES = [
    actions.Candidate("winston-ma", 15000, "New York"),
    actions.Candidate("kaiser-kuo", 12000, "Beijing"),
    actions.Candidate("ashley-dudarenok", 14000, "Hong Kong"),
]
TERMS = actions.ContractTerms(12500, "USD", Decimal(20), 6000, date(NEXT_YEAR, 1, 10), None)
DESK_EMAIL = "timeline-desk@bureau.test"
BUREAU = Path(__file__).resolve().parents[1] / "bureau"
# The files that write public messages.
WRITERS = (
    "bureau/bookings/",
    "bureau/billing/actions.py",
    "bureau/billing/automatic.py",
    "bureau/contracts/",
    "bureau/calendar/holds.py",
)


def submitted(app: Flask, headers: dict[str, str]) -> int:
    """A request filed through the API by a browser asking for ``headers``' language, routed."""
    return submit_and_route(app, accept_language=headers["Accept-Language"]).id


def walked_to_contract(app: Flask, booking_id: int, staff_browser: dict[str, str]) -> None:
    """Shortlist, firm offer, the speaker asked and saying yes, terms, the contract sent,
    accepted and its deposit paid: done by staff whose browser asks for ``staff_browser``."""
    desk = Actor("staff", "Greater China desk")
    with app.test_request_context(headers=staff_browser):
        assert current_locale() == ("en" if staff_browser is ENGLISH else "zh_Hans")
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        actions.shortlist(db.session, booking, CANDIDATES, actor=desk, expected_version=None)
        offer = actions.record_offer(
            db.session, booking, offer_terms(), actor=desk, expected_version=None
        )
        actions.request_availability(db.session, booking, actor=desk, expected_version=None)
        actions.speaker_answer(db.session, booking, offer, accept=True, reason=None)
        actions.record_contract(db.session, booking, TERMS, actor=desk, expected_version=None)
        accept_and_pay(db.session, booking)
        db.session.commit()


def desk_browsing(app: Flask, headers: dict[str, str]) -> FlaskClient:
    staff_member(app, DESK_EMAIL, name="Timeline desk", role=Role.ADMIN)
    client = app.test_client()
    client.environ_base.update({"HTTP_ACCEPT_LANGUAGE": headers["Accept-Language"]})
    assert sign_in(client, DESK_EMAIL).status_code == 302
    return client


def cancelled_by(desk: FlaskClient, booking_id: int, reason: str) -> None:
    path = f"/staff/requests/{booking_id}"
    done = post_form(desk, f"{path}/close", path, {"to": "cancelled", "reason": reason})
    assert done.status_code == 303


def public_messages(app: Flask, booking_id: int) -> list[str]:
    return [e.public_message for e in reload(app, booking_id).events if e.public_message]


def test_a_chinese_request_gets_its_timeline_in_chinese(app: Flask, client: FlaskClient) -> None:
    booking_id = submitted(app, CHINESE)
    assert reload(app, booking_id).locale == "zh_Hans"
    walked_to_contract(app, booking_id, staff_browser=ENGLISH)
    desk = desk_browsing(app, ENGLISH)
    assert "Sign out" in desk.get(f"/staff/requests/{booking_id}").get_data(as_text=True)
    cancelled_by(desk, booking_id, "场地取消了")

    messages = public_messages(app, booking_id)
    assert len(messages) >= 9
    for message in messages:
        assert CJK.search(message), message
        assert not LATIN_WORD.search(message), message
    assert messages[0] == "我们已收到您的预约请求。"
    assert "我们已向您发送包含 3 位演讲者的候选名单。" in messages
    assert "Kaiser Kuo 在您的日期有档期。" in messages
    assert f"合同：费用 US$12,500；定金 US$6,000，须于 {NEXT_YEAR}年1月10日 前支付。" in messages
    assert "合同第 1 版已发送，请您确认接受。" in messages
    assert any(m.startswith("定金发票 ") and m.endswith("。") for m in messages)
    assert "预约已取消：场地取消了" in messages
    offer = next(m for m in messages if m.startswith("邀请 Kaiser Kuo 的正式报价："))
    assert (
        offer
        == f"邀请 Kaiser Kuo 的正式报价：US$12,500，时间 {NEXT_YEAR}年3月10日 09:00（上海时间）。"
    )

    with app.app_context():
        token = db.session.get(BookingRequest, booking_id).tracking_token
    page = client.get(f"/requests/{token}", headers=CHINESE).get_data(as_text=True)
    assert "我们已向您发送包含 3 位演讲者的候选名单。" in page
    assert "预约已取消：场地取消了" in page
    assert "We sent you a shortlist" not in page
    # A fact fixed when it happened: the same words whatever language the page is read in.
    english_page = client.get(f"/requests/{token}", headers=ENGLISH).get_data(as_text=True)
    assert "我们已向您发送包含 3 位演讲者的候选名单。" in english_page


def test_an_english_request_keeps_english_whoever_acts(app: Flask, client: FlaskClient) -> None:
    booking_id = submitted(app, ENGLISH)
    assert reload(app, booking_id).locale == "en"
    walked_to_contract(app, booking_id, staff_browser=CHINESE)
    cancelled_by(desk_browsing(app, CHINESE), booking_id, "Venue lost")

    messages = public_messages(app, booking_id)
    assert not [m for m in messages if CJK.search(m)]
    assert messages[0] == "We received your request."
    assert "We sent you a shortlist of 3 speakers." in messages
    assert "Kaiser Kuo is available for your date." in messages
    assert f"Contract: USD 12,500; deposit USD 6,000 due 10 Jan {NEXT_YEAR}." in messages
    assert (
        f"Firm offer for Kaiser Kuo: USD 12,500 on 10 Mar {NEXT_YEAR} 09:00 (Shanghai time)."
        in messages
    )
    assert "Contract version 1 sent for your acceptance." in messages
    assert "The booking was cancelled: Venue lost" in messages
    assert reload(app, booking_id).status == Status.CANCELLED
    with app.app_context():
        token = db.session.get(BookingRequest, booking_id).tracking_token
    page = client.get(f"/requests/{token}", headers=CHINESE).get_data(as_text=True)
    assert "We sent you a shortlist of 3 speakers." in page


def test_a_long_chinese_reason_is_cut_to_the_column(app: Flask) -> None:
    booking_id = submitted(app, CHINESE)
    with app.test_request_context(headers=ENGLISH):
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        actions.close(
            db.session,
            booking,
            Status.WITHDRAWN,
            reason="改" * 1000,  # the longest reason the forms take (closed_reason's size)
            actor=Actor("organizer", booking.contact_name),
            expected_version=None,
        )
        db.session.commit()
    last = public_messages(app, booking_id)[-1]
    assert last.startswith("预约请求已撤回：改改")
    assert last.endswith("…")
    assert len(last) == PUBLIC_MESSAGE_MAX
    assert reload(app, booking_id).events[-1].details["reason"] == "改" * 1000


def test_an_erased_reply_is_shown_in_the_requests_language(app: Flask, tmp_path: Path) -> None:
    booking_id = submitted(app, CHINESE)
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        note(
            db.session,
            booking,
            actor=Actor("organizer", booking.contact_name),
            action=REPLY_RECEIVED,
            public_message=_l("Your email: %(text)s", text=f"Thanks, {booking.contact_name}"),
            details={"from": booking.contact_email, "text": "Thanks"},
        )
        db.session.commit()
        assert booking.events[-1].public_message == f"您的邮件：Thanks, {booking.contact_name}"
        erase(
            db.session,
            booking.contact_email,
            actor=Actor("staff", "Privacy desk"),
            mail_folder=tmp_path,
        )
        db.session.commit()
    messages = public_messages(app, booking_id)
    assert messages[0] == "我们已收到您的预约请求。"
    assert messages[-1] == "您的邮件：[erased]"


def _english_literal(value: ast.expr) -> bool:
    """A string written in the code (plain or an f-string): not translatable."""
    if isinstance(value, ast.IfExp):
        return _english_literal(value.body) or _english_literal(value.orelse)
    return isinstance(value, ast.JoinedStr) or (
        isinstance(value, ast.Constant) and isinstance(value.value, str)
    )


def test_every_public_message_is_a_sentence_to_translate() -> None:
    """No call site writes a public message as a plain or formatted English string, and the
    files that write them show no unmarked text."""
    literal = [
        f"{path}:{node.lineno}"
        for path in sorted(BUREAU.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.keyword)
        and node.arg == "public_message"
        and _english_literal(node.value)
    ]
    assert literal == []
    assert everything(WRITERS) == []
