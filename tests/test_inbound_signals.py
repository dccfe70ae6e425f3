"""Reading inbound mail: each client's way of writing a reply, bounces, calendar answers."""

# ruff: noqa: RUF001 - Chinese text has full-width punctuation

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bureau.inbound.attachments import sanitise_filename
from bureau.inbound.automatic import Automatic, is_automatic
from bureau.inbound.signals import Kind, MessageRefused, Parsed, classify, parse
from bureau.inbound.text import decode_bytes, html_to_text

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
LIMIT = 1_000_000
ACKNOWLEDGEMENT = "<176485000123.4242.1111@bureau.example>"


def _read(name: str) -> Parsed:
    return parse((FIXTURES / f"{name}.eml").read_bytes(), max_bytes=LIMIT)


def test_gmail_reply_keeps_the_answer_and_folds_the_quote() -> None:
    parsed = _read("gmail_reply")
    assert classify(parsed) is Kind.REPLY
    assert (parsed.from_name, parsed.from_address) == ("Ada Lovelace", "ada.lovelace@gmail.com")
    assert parsed.to == ("bookings+br-2027-00042.k3j2@bureau.example",)
    assert parsed.subject == "Re: Your request BR-2027-00042 was received"
    assert parsed.message_id == "<CAH7k3mQ9x+Zp2@mail.gmail.com>"
    assert parsed.in_reply_to == ACKNOWLEDGEMENT
    assert parsed.references == (ACKNOWLEDGEMENT,)
    assert parsed.date == datetime(2026, 12, 1, 9, 14, 22, tzinfo=UTC)
    assert "wrote:" in parsed.text
    assert (
        parsed.reply == "Thanks — the venue is confirmed, we can do 14:00 instead of 15:00.\n\nAda"
    )


def test_outlook_html_only_quoted_printable_reply() -> None:
    parsed = _read("outlook_reply")
    assert classify(parsed) is Kind.REPLY
    assert parsed.from_name == "Jürgen Müller"
    assert "From: Speaker Bureau <bookings@bureau.example>" in parsed.text
    assert "font-family" not in parsed.text  # the <style> block is not text
    assert parsed.reply == (
        "Guten Tag,\n\nanbei der Ablaufplan für den Vortrag. Die Bühne ist ab 13 Uhr frei."
    )
    (pdf,) = parsed.attachments
    assert (pdf.filename, pdf.content_type) == ("Ablaufplan_Vortrag.pdf", "application/pdf")
    assert pdf.size == len(pdf.data)
    assert pdf.data.startswith(b"%PDF-1.4")


def test_apple_mail_reply_drops_sent_from_my_iphone() -> None:
    parsed = _read("apple_mail_reply")
    assert parsed.message_id == "<8E2F1A7C-3B4D-4E5F-A6B7-C8D9E0F1A2B3@icloud.com>"
    assert (
        parsed.reply
        == "Could the talk be in English? Most of the audience is from abroad.\n\nGrace"
    )


def test_chinese_reply_in_gb18030() -> None:
    parsed = _read("foxmail_reply_gb18030")
    assert classify(parsed) is Kind.REPLY
    assert parsed.from_name == "王喆"
    assert parsed.subject == "回复：Your request BR-2027-00042 was received"
    # 镕 and 喆 are outside GB2312, 𠀾 is a four-byte GB18030 character
    assert parsed.reply == (
        "王老师您好：\n\n讲座时间改到周三下午两点，地点在镕喆报告厅（𠀾楼三层）。\n请确认。\n\n王喆"
    )


def test_chinese_reply_in_utf8_from_gmail() -> None:
    parsed = _read("gmail_reply_utf8_chinese")
    assert parsed.from_name == "李娜"
    assert "写道：" in parsed.text
    assert parsed.reply == "好的，周三下午两点可以。投影仪请准备 HDMI 接口。\n\n李娜"


def test_outlook_calendar_answer_accepted() -> None:
    parsed = _read("outlook_itip_accepted")
    assert classify(parsed) is Kind.CALENDAR_REPLY
    assert parsed.calendar is not None
    assert parsed.calendar.uid == "breq-42@bureau.example"
    assert parsed.calendar.sequence == 2
    assert parsed.calendar.dtstamp == datetime(2026, 12, 2, 8, 15, 42, tzinfo=UTC)
    assert [(a.address, a.partstat) for a in parsed.calendar.answers] == [
        ("ada.lovelace@contoso.com", "ACCEPTED")
    ]


def test_gmail_calendar_answer_declined() -> None:
    parsed = _read("gmail_itip_declined")
    assert classify(parsed) is Kind.CALENDAR_REPLY
    assert parsed.calendar is not None
    assert parsed.calendar.uid == "breq-42@bureau.example"
    assert [(a.address, a.partstat) for a in parsed.calendar.answers] == [
        ("grace.hopper@gmail.com", "DECLINED")
    ]
    assert [a.filename for a in parsed.attachments] == ["invite.ics"]


def test_postfix_bounce_names_the_original_and_the_remote_words() -> None:
    parsed = _read("postfix_bounce")
    assert classify(parsed) is Kind.BOUNCE
    assert parsed.bounce is not None
    assert parsed.bounce.original_message_id == ACKNOWLEDGEMENT
    (failed,) = parsed.bounce.failed
    assert failed.address == "organiser@example.org"
    assert (failed.action, failed.status) == ("failed", "5.1.1")
    assert failed.diagnostic == (
        "550 5.1.1 <organiser@example.org>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )


def test_bounce_with_the_whole_original_attached() -> None:
    raw = f"""From: MAILER-DAEMON@example.net
Subject: Delivery delayed
MIME-Version: 1.0
Content-Type: multipart/report; report-type="delivery-status"; boundary="b"

--b
Content-Type: text/plain

Still trying.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; <Gone@Example.org>
Action: delayed
Status: 4.2.2
Diagnostic-Code: smtp; 452 mailbox full

--b
Content-Type: message/rfc822

Message-ID: {ACKNOWLEDGEMENT}
Subject: Your request

hello
--b--
"""
    parsed = parse(raw.encode(), max_bytes=LIMIT)
    assert classify(parsed) is Kind.BOUNCE
    assert parsed.bounce is not None
    assert parsed.bounce.original_message_id == ACKNOWLEDGEMENT
    (delayed,) = parsed.bounce.recipients
    assert (delayed.address, delayed.action, delayed.diagnostic) == (
        "gone@example.org",
        "delayed",
        "452 mailbox full",
    )
    assert parsed.bounce.failed == ()


def test_exchange_out_of_office_is_automatic() -> None:
    parsed = _read("exchange_out_of_office")
    assert classify(parsed) is Kind.AUTOMATIC
    assert parsed.automatic is Automatic.OUT_OF_OFFICE
    assert parsed.in_reply_to == ACKNOWLEDGEMENT


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Auto-Submitted": "auto-replied"}, Automatic.AUTO_REPLIED),
        ({"Auto-Submitted": "auto-generated"}, Automatic.AUTO_GENERATED),
        ({"Auto-Submitted": "no"}, None),
        ({"X-Autoreply": "yes"}, Automatic.AUTO_REPLIED),
        ({"X-Autorespond": "Out of office"}, Automatic.AUTO_REPLIED),
        ({"Precedence": "bulk"}, Automatic.BULK),
        ({"Precedence": "junk"}, Automatic.BULK),
        ({"Precedence": "auto_reply"}, Automatic.BULK),
        ({"List-Id": "<events.lists.example.org>"}, Automatic.MAILING_LIST),
        ({"Subject": "Automatic reply: your request"}, Automatic.OUT_OF_OFFICE),
        ({"Subject": "自动答复: 您的申请"}, Automatic.OUT_OF_OFFICE),
        ({"X-Auto-Response-Suppress": "All"}, Automatic.AUTO_REPLIED),
        ({"Subject": "Re: automatic reply settings"}, None),
        ({"Return-Path": "<>"}, Automatic.AUTO_GENERATED),
        ({"From": "Mail Delivery System <MAILER-DAEMON@mx.example.net>"}, Automatic.AUTO_GENERATED),
        ({"Precedence": "list"}, Automatic.MAILING_LIST),
    ],
)
def test_automatic_headers(headers: dict[str, str], expected: Automatic | None) -> None:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "someone@example.org")
    for name, value in headers.items():
        msg[name] = value
    msg.set_content("text")
    assert is_automatic(msg) is expected
    parsed = parse(msg.as_bytes(), max_bytes=LIMIT)
    assert classify(parsed) is (Kind.REPLY if expected is None else Kind.AUTOMATIC)


def test_inline_signature_logo_is_marked_inline() -> None:
    msg = EmailMessage()
    msg["From"] = "ada@example.org"
    msg.set_content("Thanks!")
    msg.add_alternative('<p>Thanks!</p><img src="cid:image001.png@01DB">', subtype="html")
    html = msg.get_body(("html",))
    assert isinstance(html, EmailMessage)
    html.add_related(b"\x89PNG\r\n", maintype="image", subtype="png", cid="<image001.png@01DB>",
                     filename="image001.png", disposition="inline")  # fmt: skip
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="plan.pdf")
    parsed = parse(msg.as_bytes(), max_bytes=LIMIT)
    assert [(a.filename, a.inline) for a in parsed.attachments] == [
        ("image001.png", True),
        ("plan.pdf", False),
    ]
    assert parsed.reply == "Thanks!"


def test_envelope_recipient_and_bare_message_ids() -> None:
    raw = (
        b"Delivered-To: bookings+BR-2027-00042.k3j2@bureau.example\n"
        b"Delivered-To: bookings@bureau.example\n"
        b"From: Ada <ada@example.org>\nTo: someone-else@example.org\n"
        b"Reply-To: Ada's Assistant <assistant@example.org>\n"
        b"Message-ID: bare-id@example.org\nIn-Reply-To: <176485000123.4242.1111@bureau.example>\n"
        b"Subject: Fwd\n\nSee below.\n"
    )
    parsed = parse(raw, max_bytes=LIMIT)
    assert parsed.delivered_to == (
        "bookings+br-2027-00042.k3j2@bureau.example",
        "bookings@bureau.example",
    )
    assert parsed.reply_to == ("assistant@example.org",)
    assert parsed.message_id == "<bare-id@example.org>"
    assert parsed.in_reply_to == ACKNOWLEDGEMENT


def test_broken_mime_is_read_as_far_as_it_goes() -> None:
    parsed = _read("broken_mime")
    assert classify(parsed) is Kind.REPLY
    assert parsed.from_address == "broken@example.net"
    assert parsed.message_id == "<broken-1@example.net>"
    assert parsed.date is None
    assert parsed.reply.startswith("Hello 你好, the date works for us.")
    assert "CloseBoundaryNotFoundDefect" in parsed.defects
    (attachment,) = parsed.attachments
    assert "/" not in attachment.filename


def test_oversized_and_empty_messages_are_refused() -> None:
    raw = (FIXTURES / "gmail_reply.eml").read_bytes()
    with pytest.raises(MessageRefused, match="limit is 100 bytes"):
        parse(raw, max_bytes=100)
    with pytest.raises(MessageRefused, match="empty"):
        parse(b" \r\n", max_bytes=LIMIT)


def test_unknown_charset_falls_back() -> None:
    chinese = "讲座时间改到周三下午两点，地点在报告厅三层。请确认，谢谢。"
    assert decode_bytes(chinese.encode("gb18030"), "x-unknown") == chinese
    assert decode_bytes("你好".encode(), "gb2312") != ""
    assert decode_bytes("Grüße".encode("latin-1"), None)


def test_html_to_text_keeps_words_apart_and_drops_scripts() -> None:
    html = "<p><b>From:</b> Ada<br>Sent: today</p><script>alert(1)</script><div>a&amp;b</div>"
    assert html_to_text(html) == "From: Ada\nSent: today\n\na&b"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ada\\plan.pdf", "plan.pdf"),
        ("..", "attachment.pdf"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("x" * 300 + ".docx", "x" * 115 + ".docx"),
        (None, "attachment.pdf"),
    ],
)
def test_attachment_names_are_sanitised(name: str | None, expected: str) -> None:
    assert sanitise_filename(name, "application/pdf") == expected


_SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))]


def _mutated(data: st.DataObject) -> bytes:
    raw = bytearray(data.draw(st.sampled_from(_SEEDS)))
    for _ in range(data.draw(st.integers(0, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at : at + data.draw(st.integers(0, 40))] = data.draw(st.binary(max_size=40))
    return bytes(raw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise_anything_but_refused(raw: bytes) -> None:
    try:
        parsed = parse(raw, max_bytes=2000)
    except MessageRefused:
        return
    assert isinstance(classify(parsed), Kind)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_real_messages_never_raise(data: st.DataObject) -> None:
    parsed = parse(_mutated(data), max_bytes=LIMIT)
    assert isinstance(classify(parsed), Kind)


def test_a_reader_bug_keeps_the_message_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_msg: object) -> Parsed:
        raise RecursionError

    monkeypatch.setattr("bureau.inbound.signals._read", broken)
    parsed = parse(b"Subject: x\n\nbody", max_bytes=LIMIT)
    assert parsed.defects == ("unreadable: RecursionError",)
    assert classify(parsed) is Kind.REPLY
    assert "body" in parsed.text
