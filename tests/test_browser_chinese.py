"""Two organizers of one bureau at the same time, each in their own language (issue 20).

A Chinese organizer on a phone (a chromium profile speaking zh-CN, Chrome's Pixel 7
emulation) opens a speaker's profile, files a request in Chinese, and from then on reads
Chinese: the acknowledgement, the shortlist, the contract pages, the calendar invitation and
the status page, whichever member of staff (browsing in English) causes them. An English
organizer files a request in between and gets English. Screenshots of the Chinese pages on
the phone are kept in the test artefacts (artifacts/screenshots/zh-phone-*.png)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.browser import browser, chromium, csp_violations, fits_the_window, shoot
from tests.conftest import NEXT_YEAR
from tests.stack import wait_until
from tests.test_browser import DESK, Mailbox, ask, click, fill, site, text
from tests.test_browser_billing import pay_in_full
from tests.workflow_helpers import PASSWORD

pytestmark = pytest.mark.slow

__all__ = ["browser", "site"]  # fixtures: pytest finds them by name

CJK = re.compile(r"[\u4e00-\u9fff]")
CHINESE_EMAIL = "wang.fang@example.cn"
STARTS_ON = date(NEXT_YEAR, 4, 14)


@pytest.fixture(scope="module")
def chinese_phone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = chromium(tmp_path_factory, languages="zh-CN,zh", phone=True)
    yield driver
    driver.quit()


def reads_chinese(driver: Any) -> str:
    """The page's text, once it is checked to be a Chinese page that fits the phone."""
    lang = driver.find_element("tag name", "html").get_attribute("lang")
    assert lang == "zh-Hans", driver.current_url
    assert fits_the_window(driver), f"{driver.current_url} scrolls sideways on a phone"
    shown: str = text(driver)
    assert CJK.search(shown)
    return shown


def chinese(mailbox: Mailbox, message: EmailMessage) -> tuple[str, str]:
    """An email's subject and text, once checked to be Chinese and correctly encoded: the
    subject as written is 7-bit RFC 2047 encoded words, and all decodes to Chinese."""
    written = mailbox.raw[str(message["Message-ID"])]
    headers = written.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    assert headers.isascii()
    raw_subject = re.search(rb"^Subject:(.*(?:\r?\n[ \t].*)*)", headers, re.M)
    assert raw_subject is not None
    assert b"=?utf-8?" in raw_subject.group(1).lower()
    subject = str(message["Subject"])
    assert CJK.search(subject), subject
    body = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert CJK.search(body)
    assert CJK.search(html)
    assert 'lang="zh-Hans"' in html or "lang=zh-Hans" in html
    return subject, body


def file_in_chinese(phone: Any, base: str) -> tuple[str, str]:
    """From the profile page to the request's status page, in Chinese on the phone."""
    phone.get(f"{base}/speakers/kaiser-kuo")
    reads_chinese(phone)
    shoot(phone, "zh-phone-speaker")
    click(phone, "a.btn-primary[href*='/request?speaker=kaiser-kuo']")
    reads_chinese(phone)
    shoot(phone, "zh-phone-request-form")
    for field, value in {
        "event_name": "2027 中国零售峰会",
        "format": "keynote",
        "starts_at": f"{STARTS_ON}T09:00",
        "ends_at": f"{STARTS_ON}T10:00",
        "timezone": "Asia/Shanghai",
        "city": "上海",
        "country": "CN",
        "audience_size": "300",
        "contact_name": "王芳",
        "organization": "上海零售协会",
        "contact_email": CHINESE_EMAIL,
        "message": "请介绍明年的零售趋势。\n会后有问答环节。",
    }.items():
        fill(phone, field, value)
    click(phone, "form button[type=submit]")
    shown = reads_chinese(phone)
    found = re.search(r"BR-\d{4}-\d{5}", shown)
    assert found is not None
    shoot(phone, "zh-phone-status")
    return phone.current_url, found.group(0)


def open_request(browser: Any, base: str, reference: str) -> None:
    """Staff open the request with ``reference`` from their queue, once it is routed there."""

    def in_my_queue() -> bool:
        browser.get(f"{base}/staff/?queue=mine")
        return reference in text(browser)

    wait_until(in_my_queue, 60, f"the worker to route {reference}")
    link = browser.find_element("link text", reference)
    browser.get(link.get_attribute("href"))
    assert reference in text(browser)


def sign_in(browser: Any, base: str) -> None:
    browser.get(f"{base}/staff/")
    if "/staff/login" in browser.current_url:
        fill(browser, "email", DESK)
        fill(browser, "password", PASSWORD)
        click(browser, "form button[type=submit]")


def emails_to(mailbox: Mailbox, count: int) -> dict[str, EmailMessage]:
    """The next ``count`` emails of a template, by recipient address."""
    found = [mailbox.next() for _ in range(count)]
    return {m["To"].addresses[0].addr_spec: m for m in found}


def test_each_organizer_reads_their_own_language(
    site: tuple[str, Path], browser: Any, chinese_phone: Any
) -> None:
    base, instance = site
    acknowledgements = Mailbox(instance, "acknowledgement")
    proposals = Mailbox(instance, "proposal")
    invites = Mailbox(instance, "invite")

    status_url, reference = file_in_chinese(chinese_phone, base)
    # An English organizer files a request at the same time, in an English browser.
    _english_status, english_reference = ask(browser, base, "Jane Doe", "Acme Events")

    by_address = emails_to(acknowledgements, 2)
    subject, body = chinese(acknowledgements, by_address[CHINESE_EMAIL])
    assert reference in subject
    assert status_url.split("?")[0] in body.replace("\n", "")
    english = by_address["li.na@example.com"]
    assert str(english["Subject"]).startswith("We received your request")
    assert not CJK.search(english.get_body(("plain",)).get_content().split("Outlook")[0])

    # Staff, browsing in English, send the shortlist: the email is in the request's language.
    sign_in(browser, base)
    open_request(browser, base, reference)
    click(browser, "#shortlist-step button[type=submit]")
    proposal = proposals.next()
    assert proposal["To"].addresses[0].addr_spec == CHINESE_EMAIL
    chinese(proposals, proposal)

    # The organizer reads the shortlist and makes a firm offer, in Chinese.
    chinese_phone.get(status_url)
    reads_chinese(chinese_phone)
    shoot(chinese_phone, "zh-phone-shortlist")
    fill(chinese_phone, "offer-speaker", "kaiser-kuo")
    fill(chinese_phone, "offer-fee", "12500")
    fill(chinese_phone, "offer-venue", "国家会展中心")
    click(chinese_phone, "form[action$='/offer'] button[type=submit]")
    reads_chinese(chinese_phone)

    # Staff ask the speaker, who says yes (the speaker's own language: English here).
    open_request(browser, base, reference)
    asked = Mailbox(instance, "availability_request")
    click(browser, "#availability-step button[type=submit]")
    link = re.search(
        r"https?://\S+/availability/\S+", asked.next().get_body(("plain",)).get_content()
    )
    assert link is not None
    browser.get(link.group(0))
    click(browser, "button[value=accept]")

    # The contract: sent by staff, accepted by the organizer on the phone, in Chinese.
    open_request(browser, base, reference)
    click(browser, "#contract-step button[type=submit]")
    click(browser, "#contract-panel form[action$='/send_contract'] button")
    chinese_phone.get(status_url)
    reads_chinese(chinese_phone)
    shoot(chinese_phone, "zh-phone-contract")
    fill(chinese_phone, "full_name", "王芳")
    fill(chinese_phone, "billing_address", "上海市浦东新区世纪大道1号")
    box = chinese_phone.find_element("id", "on_behalf")
    chinese_phone.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", box
    )
    box.click()
    click(chinese_phone, "#accept-contract button[type=submit]")
    reads_chinese(chinese_phone)

    # The deposit paid, the booking confirmed: the calendar invitation, in Chinese.
    open_request(browser, base, reference)
    pay_in_full(browser)
    click(browser, "#confirm-step button[type=submit]")
    invitation = wait_until(
        lambda: [m for m in [invites.next()] if m["To"].addresses[0].addr_spec == CHINESE_EMAIL],
        120,
        "the organizer's invitation",
    )[0]
    chinese(invites, invitation)
    [ics] = [p for p in invitation.iter_attachments() if p.get_content_type() == "text/calendar"]
    calendar = ics.get_content()
    calendar_text = calendar if isinstance(calendar, str) else calendar.decode("utf-8")
    summary = re.search(r"^SUMMARY[^:]*:(.*)$", calendar_text, re.M)
    assert summary is not None, calendar_text
    assert CJK.search(summary.group(1)), calendar_text

    # The status page, confirmed, in Chinese; the English request's page in English.
    chinese_phone.get(status_url)
    reads_chinese(chinese_phone)
    shoot(chinese_phone, "zh-phone-confirmed")
    assert english_reference not in text(chinese_phone)
    assert csp_violations(chinese_phone) == []
