"""Emails, invitations and feeds in their reader's language (issue 20): Chinese for a reader
whose language is zh_Hans, whoever caused the email; English by default, as before."""

# ruff: noqa: RUF001  (Chinese text is written with its own full-width punctuation)

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date
from email import message_from_string
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import vobject
from flask import Flask
from icalendar import Calendar
from sqlalchemy import select, update

from bureau.billing.models import KIND_TITLES, InvoiceKind
from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.states import Status, organizer_label
from bureau.bookings.workflow import Actor
from bureau.calendar.models import Engagement
from bureau.calendar.titles import shown_location, shown_title
from bureau.catalogue.models import Speaker
from bureau.extensions import db
from bureau.i18n import speaking, unmarked
from bureau.mail.compose import (
    QUICK_SMTP,
    Mail,
    bounced_address,
    build_message,
    render_booking_mail,
)
from bureau.mail.recipients import AUDIENCES, Recipient, links_for, reader_locale
from bureau.staff.models import StaffMember
from bureau.templating import day_words
from tests.conftest import NEXT_YEAR
from tests.test_ics_clients import libical_check, libical_instants
from tests.test_mail_links import PAYLOADS, compose, confirmed, texts
from tests.workflow_helpers import offer_terms, submit_and_route

ORGANIZER, SPEAKER, STAFF = Recipient.ORGANIZER, Recipient.SPEAKER, Recipient.STAFF
DESK = Actor("staff", "Greater China desk")
PREFIXES = (
    "templates/mail",
    "bureau/mail",
    "bureau/calendar/ics.py",
    "bureau/calendar/invites.py",
    "bureau/calendar/feeds.py",
    "bureau/calendar/titles.py",
    "bureau/calendar/staff_feed.py",
)
HAN = re.compile(r"[\u4e00-\u9fff]")
# Sentences every email of ours used to say in English, that a Chinese one must not.
ENGLISH = (
    "Dear ",
    "Hello ",
    "With kind regards",
    "The bureau",
    "Follow your request",
    "Open the request",
    "See the request",
    "What happens next",
    "is cancelled",
    "is confirmed",
    "speakers bureau bookings",
)
# The fixtures, shared with tests/test_mail_links.py and tests/test_ics_clients.py.
__all__ = ["confirmed", "libical_check"]


@pytest.fixture(autouse=True)
def everyone_english_again(app: Flask) -> Iterator[None]:
    """The database is the session's: speakers and staff are English again after each test,
    so that no later test (here or in another module) reads Chinese it did not ask for."""
    yield
    with app.app_context():
        db.session.rollback()
        db.session.execute(update(Speaker).values(locale="en"))
        db.session.execute(update(StaffMember).values(locale="en"))
        db.session.commit()


def test_every_email_and_invite_text_is_marked_for_translation() -> None:
    assert unmarked.everything(PREFIXES) == []


def set_locales(booking: BookingRequest, *, organizer: str, speaker: str, staff: str) -> None:
    booking.locale = organizer
    assert booking.offer is not None
    assert booking.assigned_staff is not None
    booking.offer.speaker.locale = speaker
    booking.assigned_staff.locale = staff
    db.session.commit()


def leftovers(subject: str, booking: BookingRequest, *known: str) -> list[str]:
    """The Latin words of a subject once the names and references in it are taken out."""
    names = [booking.event_name, booking.reference, "Kaiser Kuo", "INV-2027-00001", *known]
    for name in sorted(names, key=len, reverse=True):
        subject = subject.replace(name, "")
    return re.findall(r"[A-Za-z]{2,}", subject)


# Invoice facts as bureau/billing/notifications.py records them now: kind and days kept.
DUE = date(2027, 5, 24)
INVOICE = {
    "facts": {
        "invoice": {
            "number": "INV-2027-00001",
            "kind": "deposit",
            "issued_on": "2027-05-10",
            "due_on": DUE.isoformat(),
            "title": "Deposit invoice",
            "total": "USD 6,250.00",
            "balance": "USD 6,250.00",
            "issued": "Mon 10 May 2027",
            "due": "Mon 24 May 2027",
        }
    }
}


def chinese_payloads(template: str, booking: BookingRequest, engagement: Engagement) -> list[Any]:
    if template.startswith("invoice_"):
        return [INVOICE]
    return list(PAYLOADS.get(template, lambda b, e: [{}])(booking, engagement))


def mail_parts(raw: str) -> tuple[str, dict[str, str]]:
    message = message_from_string(raw, _class=EmailMessage, policy=default)
    return str(message["Subject"]), texts(raw)


def test_every_email_is_chinese_for_a_chinese_reader(confirmed: BookingRequest) -> None:
    """Each template, for each of its readers, in zh_Hans: a Chinese subject with no English
    word but the names it quotes, and Chinese text and HTML without our English sentences."""
    booking = confirmed
    set_locales(booking, organizer="zh_Hans", speaker="zh_Hans", staff="zh_Hans")
    engagement = db.session.scalars(select(Engagement)).one()
    with speaking("zh_Hans"):
        # Not this area's words, if still English: invoice kinds (billing), state names
        # (bookings), days (bureau/templating.py).
        status = organizer_label(Status(booking.status))
        others = (str(KIND_TITLES[InvoiceKind.DEPOSIT]), str(status), day_words(DUE))
    n = 7000
    for template, roles in sorted(AUDIENCES.items()):
        for role in sorted(roles):
            for extra in chinese_payloads(template, booking, engagement):
                n += 1
                case = (template, role.value, extra.get("method"))
                subject, parts = mail_parts(compose(booking, template, role, n, **extra))
                if template != "staff_reply":  # a reply keeps the subject it answers
                    assert HAN.search(subject), (case, subject)
                    left = leftovers(subject, booking, *others)
                    assert not left, (case, subject, left)
                for where, text in parts.items():
                    if where.endswith(("text/plain", "text/html")):
                        # A staff reply's text is the person's words and the agent's name.
                        if (template, where[-10:]) != ("staff_reply", "text/plain"):
                            assert HAN.search(text), (case, where)
                        for sentence in ENGLISH:
                            assert sentence not in text, (case, where, sentence)
                    if where.endswith("text/html"):
                        assert '<html lang="zh-Hans">' in text, case


def test_emails_default_to_english(confirmed: BookingRequest) -> None:
    subject, parts = mail_parts(compose(confirmed, "acknowledgement", ORGANIZER, 7900))
    assert subject.startswith(f"We received your request {confirmed.reference}")
    for where, text in parts.items():
        assert "Dear " in text, where
        assert "With kind regards" in text, where
        assert not HAN.search(text), where


@pytest.mark.parametrize(
    ("organizer", "others", "browsing"),
    [("zh_Hans", "en", "Accept-Language"), ("en", "zh_Hans", "Cookie")],
)
def test_an_email_is_in_its_readers_language_not_the_senders(
    app: Flask, confirmed: BookingRequest, organizer: str, others: str, browsing: str
) -> None:
    """Staff browsing in English cause emails to a Chinese organizer: Chinese; and the other
    way round. Each reader of one invitation gets their own language."""
    set_locales(confirmed, organizer=organizer, speaker=others, staff=others)
    sender = {"Accept-Language": "en"} if browsing == "Accept-Language" else {}
    sender |= {"Cookie": "bureau_lang=zh_Hans"} if browsing == "Cookie" else {}
    with app.test_request_context(headers=sender):
        said = invite_subjects(confirmed, 7100)
    opening = {"en": "Invitation: ", "zh_Hans": "日历邀请："}
    assert said[ORGANIZER].startswith(opening[organizer])
    assert said[SPEAKER].startswith(opening[others])
    assert said[STAFF].startswith(opening[others])


def invite_subjects(booking: BookingRequest, sequence: int) -> dict[Recipient, str]:
    """The subject of each reader's invitation to the booking's engagement."""
    engagement = db.session.scalars(select(Engagement)).one()
    invite = {"engagement_id": engagement.id, "method": "REQUEST"}
    return {
        role: mail_parts(compose(booking, "invite", role, sequence + i, **invite))[0]
        for i, role in enumerate(Recipient)
    }


def test_reader_locale_by_role(confirmed: BookingRequest) -> None:
    booking = confirmed
    set_locales(booking, organizer="zh_Hans", speaker="en", staff="zh_Hans")
    offer = booking.offer
    assert offer is not None
    assert booking.assigned_staff is not None
    speaker_email = offer.speaker.email or ""
    assert reader_locale(db.session, ORGANIZER, booking, booking.contact_email) == "zh_Hans"
    assert reader_locale(db.session, SPEAKER, booking, speaker_email, offer) == "en"
    assert reader_locale(db.session, SPEAKER, booking, speaker_email.upper()) == "en"
    staff_email = booking.assigned_staff.email
    assert reader_locale(db.session, STAFF, booking, staff_email) == "zh_Hans"
    assert reader_locale(db.session, STAFF, booking, "nobody@example.com") is None


def test_a_chinese_invitation_parses_with_icalendar_vobject_and_libical(
    confirmed: BookingRequest, libical_check: Path, tmp_path: Path
) -> None:
    booking = confirmed
    set_locales(booking, organizer="zh_Hans", speaker="en", staff="en")
    engagement = db.session.scalars(select(Engagement)).one()
    raw = compose(booking, "invite", ORGANIZER, 7300, engagement_id=engagement.id, method="REQUEST")
    ics = next(t for w, t in texts(raw).items() if w.endswith("text/calendar"))
    [event] = Calendar.from_ical(ics).walk("VEVENT")
    assert str(event["SUMMARY"]) == f"{booking.event_name}：Kaiser Kuo 演讲"
    assert str(event["UID"]) == engagement.uid
    card = vobject.readOne(io.StringIO(ics))
    assert card.vevent.summary.value == f"{booking.event_name}：Kaiser Kuo 演讲"
    instants = libical_instants(libical_check, ics.encode(), tmp_path)  # its iTIP check too
    assert instants == {engagement.uid: (engagement.starts_at, engagement.ends_at)}
    # The speaker's copy of the same version stays English.
    raw = compose(booking, "invite", SPEAKER, 7301, engagement_id=engagement.id, method="REQUEST")
    ics = next(t for w, t in texts(raw).items() if w.endswith("text/calendar"))
    [event] = Calendar.from_ical(ics).walk("VEVENT")
    assert str(event["SUMMARY"]) == engagement.title


def test_a_long_chinese_subject_is_encoded_and_reads_back_exactly(app: Flask) -> None:
    subject = "已确认：李开复 出席 2027 年人工智能与未来零售高峰论坛（上海国际会议中心），" * 3
    body = "尊敬的 李娜：\n\n您的预约已确认。"
    with app.app_context():
        message = build_message(
            Mail(subject=subject, text=body, html=f"<p>{body}</p>"),
            to_name="李娜",
            to_email="li@example.cn",
        )
    raw = message.as_string(policy=QUICK_SMTP)
    assert raw.isascii()
    header = raw.split("\r\n\r\n", 1)[0]
    assert "=?utf-8?" in header
    assert all(len(line) <= 78 for line in header.split("\r\n"))
    parsed = message_from_string(raw, _class=EmailMessage, policy=default)
    assert str(parsed["Subject"]) == subject
    assert str(parsed["To"]) == "李娜 <li@example.cn>"
    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            assert part["Content-Transfer-Encoding"] == "quoted-printable"
            assert part.get_content_charset() == "utf-8"
            assert "您的预约已确认" in part.get_content()


def test_titles_locations_and_bounces_in_words(app: Flask) -> None:
    with app.app_context():
        title = "Kaiser Kuo at Future of Retail Summit"
        assert shown_title(title, "Kaiser Kuo") == title
        assert shown_location("Online (Zoom)") == "Online (Zoom)"
        with speaking("zh_Hans"):
            assert shown_title(title, "Kaiser Kuo") == "Future of Retail Summit：Kaiser Kuo 演讲"
            # Scrubbed, or the speaker renamed since: as stored.
            assert shown_title("[erased]", "Kaiser Kuo") == "[erased]"
            assert shown_title(title, "Winston Ma") == title
            assert shown_location("Online") == "线上"
            assert shown_location("Online (Zoom)") == "线上（Zoom）"
            assert shown_location("RAI, Amsterdam, NL") == "RAI, Amsterdam, NL"
            assert bounced_address("the organizer's", "li@example.cn") == (
                "主办方的地址（li@example.cn）"
            )
        assert bounced_address("the speaker's", None) == "the speaker's address"
        assert bounced_address(None, "x@example.com") == "the recipient's address (x@example.com)"


@pytest.fixture
def feed_url(app: Flask) -> str:
    with app.app_context():
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        speaker.feed_token = "speaker-secret-token"
        db.session.commit()
    return "/calendar/speakers/kaiser-kuo.ics?token=speaker-secret-token"


def by_status(event: Any) -> str:
    return str(event["STATUS"])  # CONFIRMED (the engagement) before TENTATIVE (the hold)


def set_speaker_locale(app: Flask, locale: str) -> None:
    with app.app_context():
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        speaker.locale = locale
        db.session.commit()


def test_a_speakers_feed_speaks_the_speakers_language(
    app: Flask, confirmed: BookingRequest, feed_url: str
) -> None:
    with app.app_context():  # a second request holds the speaker's date
        held = db.session.get(BookingRequest, submit_and_route(app).id)
        assert held is not None
        day = f"{NEXT_YEAR}-05-10"
        terms = offer_terms(starts_at=f"{day}T09:00", ends_at=f"{day}T10:00")
        actions.record_offer(db.session, held, terms, actor=DESK, expected_version=None)
        actions.request_availability(db.session, held, actor=DESK, expected_version=None)
        db.session.commit()
        held_event = held.event_name
    client = app.test_client()
    english = client.get(feed_url)
    [first, hold] = sorted(Calendar.from_ical(english.data).walk("VEVENT"), key=by_status)
    assert str(hold["SUMMARY"]) == f"Hold: {held_event}"
    assert str(first["SUMMARY"]) == f"Kaiser Kuo at {confirmed.event_name}"
    set_speaker_locale(app, "zh_Hans")
    # Whatever language the calendar app asks for: the speaker's.
    chinese = client.get(
        feed_url,
        headers={"If-None-Match": english.headers["ETag"], "Accept-Language": "en"},
    )
    assert chinese.status_code == 200  # same events, another language: not 304
    calendar = Calendar.from_ical(chinese.data)
    assert str(calendar["X-WR-CALNAME"]) == "Kaiser Kuo — 预约日程"
    [event, hold] = sorted(calendar.walk("VEVENT"), key=by_status)
    assert str(event["SUMMARY"]) == f"{confirmed.event_name}：Kaiser Kuo 演讲"
    assert str(hold["SUMMARY"]) == f"暂定保留：{held_event}"
    assert str(event["UID"]) == str(first["UID"])
    assert event.decoded("DTSTART") == first.decoded("DTSTART")
    card = vobject.readOne(io.StringIO(chinese.data.decode()))
    assert card.vevent.summary.value == f"{confirmed.event_name}：Kaiser Kuo 演讲"
    # The kept English text is untouched: English again is byte-identical.
    set_speaker_locale(app, "en")
    assert client.get(feed_url).data == english.data


def test_a_chinese_shortlist_shows_the_speakers_chinese_headline(app: Flask) -> None:
    booking_id = submit_and_route(app).id
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        speaker.headline_zh = "中国科技与互联网评论员"
        picks = [
            actions.Candidate("kaiser-kuo", 12000, "Beijing", None),
            actions.Candidate("winston-ma", 15000, "New York", None),
            actions.Candidate("ashley-dudarenok", 14000, "Hong Kong", None),
        ]
        actions.shortlist(db.session, booking, picks, actor=DESK, expected_version=None)
        links = links_for(ORGANIZER, booking)
        chinese = render_booking_mail(
            "proposal", booking, role=ORGANIZER, links=links, locale="zh_Hans"
        )
        english = render_booking_mail("proposal", booking, role=ORGANIZER, links=links)
        for mail in (chinese, english):
            assert "Kaiser Kuo" in mail.text
            assert "Kaiser Kuo" in mail.html
        assert "中国科技与互联网评论员" in chinese.text
        assert "中国科技与互联网评论员" in chinese.html
        assert chinese.subject.startswith(f"{booking.event_name} 的演讲者候选名单")
        assert speaker.headline in english.text
        assert "中国科技与互联网评论员" not in english.html
        assert english.subject.startswith("Your shortlist of speakers for")
        db.session.rollback()
