"""The money side of one booking in a real browser, from the speaker's yes to the payout:
the contract sent, accepted by the organizer, countersigned; the deposit invoice's PDF in
the organizer's email (its text read with pdftotext, Chinese names included, its first page
rendered with pdftoppm beside the screenshots); the deposit recorded by staff; confirmed;
the balance invoiced and paid; the event over; completed; the speaker's payout marked paid
and seen paid through the speaker's own link. And a booking cancelled under 30 days before
its event: the schedule keeps the whole fee, so the cancellation invoice bills what the
deposit did not (every notice period is tested without a browser in
tests/test_billing_flow.py)."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bureau.bookings.models import Offer
from bureau.calendar.models import Engagement
from bureau.extensions import db
from tests.browser import SCREENSHOTS, browser, csp_violations, shoot
from tests.conftest import make_app
from tests.test_browser import (
    Mailbox,
    accept_the_contract,
    click,
    site,
    text,
    to_the_speakers_yes,
)

pytestmark = pytest.mark.slow

__all__ = ["browser", "site"]  # fixtures: pytest finds them by name

ORGANIZER = "李娜"
ORGANIZATION = "上海零售协会"
FEE = Decimal(12500)  # the organizer's offer (to_the_speakers_yes)


def pdf_text(message: EmailMessage, folder: Path, name: str) -> str:
    """The attached PDF's text (pdftotext), its first page rendered (pdftoppm) as
    ``name``.png beside the screenshots."""
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    pdf = folder / f"{name}.pdf"
    pdf.write_bytes(part.get_content())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    png = SCREENSHOTS / name
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", pdf, png],
        check=True,
    )
    image = png.with_suffix(".png")
    assert image.is_file()
    assert image.stat().st_size > 5_000  # a page, not a blank
    return subprocess.run(
        ["pdftotext", "-layout", pdf, "-"], check=True, capture_output=True, text=True
    ).stdout


def staff_page(browser: Any, base: str) -> None:
    browser.get(f"{base}/staff/")
    click(browser, "a[href*='/staff/requests/']")


def pay_in_full(browser: Any) -> None:
    """Record the one open invoice's payment, its amount as the form offers it."""
    click(browser, "form[id^='pay-'] button[type=submit]")
    assert "recorded: paid in full" in text(browser) or "Payment of" in text(browser)


def to_the_organizers_acceptance(browser: Any, base: str, instance: Path, **request: Any) -> str:
    """From the request (``request``: to_the_speakers_yes's) to the speaker's yes; the agent
    records the terms and sends the contract, the organizer accepts it on the status page
    (which issues the deposit invoice). The status page's address."""
    status_url = to_the_speakers_yes(
        browser, base, instance, contact_name=ORGANIZER, organization=ORGANIZATION, **request
    )
    staff_page(browser, base)
    click(browser, "#contract-step button[type=submit]")
    click(browser, "#contract-panel form[action$='/send_contract'] button")
    assert "Contract version 1 sent" in text(browser)
    address = f"收件人 {ORGANIZER}\n1 Century Avenue\nShanghai"
    accept_the_contract(browser, status_url, ORGANIZER, address)
    return status_url


def confirmed_once_the_deposit_is_paid(browser: Any, base: str) -> None:
    """Staff record the deposit's payment on the request page; the agent confirms."""
    staff_page(browser, base)
    pay_in_full(browser)
    click(browser, "#confirm-step button[type=submit]")
    assert "Booking confirmed" in text(browser)


def staff_invoices(browser: Any) -> dict[str, str]:
    """The staff Invoices panel: each invoice's title with its total."""
    rows = browser.find_elements("css selector", "#invoice-list tr[data-status]")
    cells = [row.find_elements("tag name", "td") for row in rows]
    return {cell[1].text: cell[2].text for cell in cells}


def amount(money: str) -> Decimal:
    """Money as the site writes it ("USD 6,250.00"), as a number."""
    return Decimal(money.split()[-1].replace(",", ""))


def the_event_is_over(instance: Path) -> None:
    """Move the clock: the event (offer and engagement) 500 days back, in the past."""
    app = make_app(instance, f"sqlite:///{instance / 'bureau.db'}")
    back = timedelta(days=500)
    with app.app_context():
        for dated in [*db.session.scalars(select(Offer)), *db.session.scalars(select(Engagement))]:
            dated.starts_at -= back
            dated.ends_at -= back
            if isinstance(dated, Offer):
                dated.starts_local -= back
                dated.ends_local -= back
        db.session.commit()


def test_from_the_speakers_yes_to_the_payout(
    site: tuple[str, Path], browser: Any, tmp_path: Path
) -> None:
    base, instance = site
    invoice_mails = Mailbox(instance, "invoice_issued")
    # The contract sent and accepted by the organizer on the status page.
    to_the_organizers_acceptance(browser, base, instance)

    # Staff countersign.
    staff_page(browser, base)
    click(browser, "#contract-panel form[action$='/countersign'] button")
    assert "Version 1 countersigned" in text(browser)

    # The deposit invoice's PDF reaches the organizer, their Chinese name on it.
    deposit_mail = invoice_mails.next()
    assert deposit_mail["To"].addresses[0].addr_spec == "li.na@example.com"
    printed = pdf_text(deposit_mail, tmp_path, "billing-deposit-invoice")
    assert ORGANIZER in printed
    assert ORGANIZATION in printed
    assert "INV-" in printed

    # Staff record the deposit's payment; the agent confirms.
    confirmed_once_the_deposit_is_paid(browser, base)

    # The balance invoice, issued and emailed, then paid.
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("css selector", "#issue-invoice select")).select_by_value("balance")
    click(browser, "#issue-invoice button[type=submit]")
    assert "Balance invoice INV-" in text(browser)
    balance_mail = invoice_mails.next()
    assert "Balance invoice" in pdf_text(balance_mail, tmp_path, "billing-balance-invoice")
    pay_in_full(browser)
    rows = browser.find_elements("css selector", "#invoice-list tr[data-status]")
    assert [r.get_attribute("data-status") for r in rows] == ["paid", "paid"]

    # The event takes place; the agent marks it completed.
    the_event_is_over(instance)
    staff_page(browser, base)
    click(browser, "#complete-step button[type=submit]")
    assert "Marked as completed" in text(browser)

    # The speaker's payout, marked paid, and seen paid through the speaker's own link.
    click(browser, "#payout form button[type=submit]")
    assert browser.find_element("id", "payout-paid")
    shoot(browser, "billing-payout-paid")
    link = browser.find_element("id", "payout-speaker-link").get_attribute("value")
    browser.get(link)
    assert "China Tech Outlook" in text(browser)
    assert "paid" in text(browser)
    shoot(browser, "billing-speaker-statement")
    assert csp_violations(browser) == []


def test_a_cancellation_under_30_days_invoices_the_rest_of_the_fee(
    site: tuple[str, Path], browser: Any, tmp_path: Path
) -> None:
    base, instance = site
    invoice_mails = Mailbox(instance, "invoice_issued")
    # The event 29 days away where it is held: under the schedule's 30 days, yet a day
    # before the balance invoice would go out by itself (28 days ahead, the defaults).
    starts_on = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=29)
    status_url = to_the_organizers_acceptance(browser, base, instance, starts_on=starts_on)
    assert "Deposit invoice" in str(invoice_mails.next()["Subject"])
    confirmed_once_the_deposit_is_paid(browser, base)

    # Staff cancel it, saying why.
    from selenium.webdriver.support.ui import Select

    close = browser.find_element("id", "close-step")
    Select(close.find_element("name", "to")).select_by_value("cancelled")
    close.find_element("name", "reason").send_keys("The conference was called off")
    click(browser, "#close-step button[type=submit]")
    assert "Request closed: cancelled" in text(browser)

    # The whole fee is kept: the cancellation invoice bills what the deposit did not.
    invoices = staff_invoices(browser)
    assert list(invoices) == ["Deposit invoice", "Cancellation invoice"]
    owed = invoices["Cancellation invoice"]
    assert amount(owed) == FEE - amount(invoices["Deposit invoice"]) == Decimal(6250)
    shoot(browser, "billing-cancellation-staff")

    # The organizer sees it on the status page…
    browser.get(status_url)
    assert "Status: Cancelled" in text(browser)
    listed = browser.find_element("id", "invoices").text
    assert "Cancellation invoice INV-" in listed
    assert owed in listed
    shoot(browser, "billing-cancellation-status")

    # …and has it by email, the PDF attached.
    mail = invoice_mails.next()
    assert "Cancellation invoice INV-" in str(mail["Subject"])
    assert mail["To"].addresses[0].addr_spec == "li.na@example.com"
    printed = pdf_text(mail, tmp_path, "billing-cancellation-invoice")
    assert "Cancellation invoice" in printed
    assert owed.split()[-1] in printed  # 6,250.00
    assert csp_violations(browser) == []
