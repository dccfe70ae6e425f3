"""The whole story in a real browser (Debian's chromium via Selenium) against `bureau run`
(web, worker and beat, as the README starts it): the organizer asks, the worker routes, an
agent shortlists, the organizer offers, the speaker accepts through the link in the email
the worker wrote, the agent records the terms and sends the contract, the organizer
accepts it, the deposit is paid, the agent confirms, the organizer's page says so,
and the invitations go out."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bureau.billing.models import Invoice
from bureau.billing.services import record_payment
from bureau.extensions import db
from tests.browser import browser, csp_violations, fits_the_window, shoot
from tests.conftest import NEXT_YEAR, make_app
from tests.smtp import free_port
from tests.stack import wait_until
from tests.workflow_helpers import PASSWORD

# `bureau run` and Chromium: slow, left out of a plain `pytest` (.ci/run runs it).
pytestmark = pytest.mark.slow

DESK = "china.desk@bureau.localhost"
__all__ = ["browser"]  # a fixture: pytest finds it by name


BUREAU = [sys.executable, "-m", "bureau"]


def site_env() -> dict[str, str]:
    """The environment `bureau` commands run with against the site (in its folder)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_")}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`bureau run` as the README starts it (web, worker and beat; SQLite, local mail)."""
    folder = tmp_path_factory.mktemp("browser")
    port = free_port()
    env = site_env()
    log = (folder / "run.log").open("w")
    process = subprocess.Popen(
        [*BUREAU, "run", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/healthz"), 60, "bureau run to serve")
        created = subprocess.run(
            [
                *BUREAU,
                "staff",
                "create",
                DESK,
                "--name",
                "Greater China desk",
                "--role",
                "agent",
                "--password-stdin",
            ],
            input=PASSWORD + "\n",
            text=True,
            cwd=folder,
            env=env,
            capture_output=True,
        )
        assert created.returncode == 0, created.stderr
        yield base, folder / "instance"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def pay_the_deposit(instance: Path) -> None:
    """Record the deposit's payment in the site's database, as staff would."""
    app = make_app(instance, f"sqlite:///{instance / 'bureau.db'}")
    with app.app_context():
        invoice = db.session.scalars(select(Invoice)).one()
        record_payment(
            db.session,
            invoice,
            amount=invoice.total,
            currency=invoice.currency,
            paid_on=invoice.issued_on,
            method="bank_transfer",
        )
        db.session.commit()


class Mailbox:
    """The worker's emails of one template (instance/mail/*.eml), each read once in the
    order written; those already there on opening are skipped, so that tests sharing a site
    read only their own."""

    def __init__(self, instance: Path, template: str) -> None:
        self.folder, self.template = instance / "mail", template
        self.read = len(self._files())
        self.raw: dict[str, bytes] = {}  # each email read, as written, by its Message-ID

    def _files(self) -> list[Path]:
        found = self.folder.glob(f"*{self.template}.eml")
        return sorted(found, key=lambda f: f.stat().st_mtime)

    def next(self) -> EmailMessage:
        """The next email not read yet, once the worker has written it."""
        unread: list[Path] = wait_until(
            lambda: self._files()[self.read :], 60, f"the worker to send {self.template}"
        )
        self.read += 1
        data = unread[0].read_bytes()
        message = message_from_bytes(data, policy=policy.default)
        self.raw[str(message["Message-ID"])] = data
        return message


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def fill(driver: Any, field_id: str, value: str) -> None:
    element = driver.find_element("id", field_id)
    if element.tag_name == "select":
        from selenium.webdriver.support.ui import Select

        Select(element).select_by_value(value)
    elif element.get_attribute("type") in ("datetime-local", "date"):
        driver.execute_script("arguments[0].value = arguments[1]", element, value)
    else:
        element.clear()
        element.send_keys(value)


def click(driver: Any, selector: str) -> None:
    """Click a link or button and wait for the next page to load."""
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element("tag name", "html")
    element = driver.find_element("css selector", selector)
    # Bootstrap scrolls smoothly; a click during the animation would land elsewhere.
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element
    )
    element.click()
    WebDriverWait(driver, 15).until(lambda _: replaced(page))


def replaced(page: Any) -> bool:
    """The page an element was found on is gone. Chromium's driver says so either as a stale
    element or, mid-navigation, as "Node with given id does not belong to the document"."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        page.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise
    return False


def text(driver: Any) -> str:
    body: str = driver.find_element("tag name", "body").text
    return body


def test_the_browser_reports_what_the_policy_refuses(site: tuple[str, Path], browser: Any) -> None:
    """The check the tests below end with can fail: an inline style is refused, and said."""
    base, _ = site
    browser.get(f"{base}/")
    assert csp_violations(browser) == []
    browser.execute_script(
        "document.querySelector('main').insertAdjacentHTML('beforeend', "
        '\'<p id="injected" style="color: rgb(255, 0, 0)">injected</p>\')'
    )
    injected = browser.find_element("id", "injected")
    assert injected.value_of_css_property("color") != "rgba(255, 0, 0, 1)"
    assert any("style" in v for v in wait_until(lambda: csp_violations(browser), 10, "the log"))


def ask(
    browser: Any,
    base: str,
    contact_name: str,
    organization: str,
    starts_on: date = date(NEXT_YEAR, 3, 10),
) -> tuple[str, str]:
    """The organizer fills in the request form (a keynote on ``starts_on``): the status
    page's address and the reference."""
    browser.get(f"{base}/speakers/kaiser-kuo")
    click(browser, "a.btn-primary[href*='/request?speaker=kaiser-kuo']")
    for field, value in {
        "event_name": "China Tech Outlook",
        "format": "keynote",
        "starts_at": f"{starts_on}T09:00",
        "ends_at": f"{starts_on}T10:00",
        "timezone": "Asia/Shanghai",
        "city": "Shanghai",
        "country": "CN",
        "audience_size": "250",
        "contact_name": contact_name,
        "organization": organization,
        "contact_email": "li.na@example.com",
        "message": "Outlook for the year ahead.\nQ&A after the talk.",  # shown with its line breaks
    }.items():
        fill(browser, field, value)
    click(browser, "form button[type=submit]")
    assert "Thank you! We received your request" in text(browser)
    found = re.search(r"BR-\d{4}-\d{5}", text(browser))
    assert found is not None
    status_url: str = browser.current_url
    return status_url, found.group(0)


def sign_in_and_wait_for(browser: Any, base: str, reference: str) -> None:
    """The agent signs in (unless an earlier test did) and, once the worker has routed the
    request, opens its page: the newest in their queue."""
    browser.get(f"{base}/staff/")
    if "/staff/login" in browser.current_url:
        fill(browser, "email", DESK)
        fill(browser, "password", PASSWORD)
        click(browser, "form button[type=submit]")

    def routed_to_me() -> bool:
        browser.get(f"{base}/staff/?queue=mine")
        return reference in text(browser)

    wait_until(routed_to_me, 60, "the worker to route the request")
    click(browser, "a[href*='/staff/requests/']")
    assert reference in text(browser)


def to_the_speakers_yes(
    browser: Any,
    base: str,
    instance: Path,
    *,
    contact_name: str = "Li Na",
    organization: str = "Acme Events",
    starts_on: date = date(NEXT_YEAR, 3, 10),
) -> str:
    """Steps 1 to 5 of the story: the organizer asks (for a keynote on ``starts_on``), the
    agent (signed in from then on) shortlists, the organizer offers and the speaker says
    yes; the status page's address."""
    status_url, reference = ask(browser, base, contact_name, organization, starts_on)

    # 2. The agent signs in; once the worker has routed the request it is in their queue.
    sign_in_and_wait_for(browser, base, reference)
    click(browser, "#shortlist-step button[type=submit]")
    assert "Shortlist of 4 sent" in text(browser)

    # 3. The organizer makes a firm offer on the status page.
    browser.get(status_url)
    assert "Your shortlist" in text(browser)
    fill(browser, "offer-speaker", "kaiser-kuo")
    fill(browser, "offer-fee", "12500")
    fill(browser, "offer-venue", "Expo Centre")
    fill(browser, "offer-logistics", "Two hotel nights.\nOne lapel microphone.")
    click(browser, "form[action$='/offer'] button[type=submit]")
    assert "your firm offer is recorded" in text(browser)

    # 4. The agent asks the speaker; the email carries the signed link.
    browser.get(f"{base}/staff/")
    click(browser, "a[href*='/staff/requests/']")
    asked = Mailbox(instance, "availability_request")
    click(browser, "#availability-step button[type=submit]")
    assert "Availability check sent" in text(browser)
    message = asked.next()
    assert message["To"].addresses[0].addr_spec == "kaiser-kuo@speakers.bureau.localhost"
    link = re.search(r"https?://\S+/availability/\S+", message.get_body(("plain",)).get_content())
    assert link is not None

    # 5. The speaker opens the link (which changes nothing) and accepts.
    assert link.group(0).startswith(f"{base}/availability/")  # links point at this server
    browser.get(link.group(0))
    assert "Accept: I am available" in text(browser)
    click(browser, "button[value=accept]")
    assert "your answer is recorded" in text(browser)
    return status_url


def accept_the_contract(browser: Any, status_url: str, full_name: str, address: str) -> None:
    """The organizer accepts version 1 on the status page, ticking "on behalf of"."""
    browser.get(status_url)
    fill(browser, "full_name", full_name)
    fill(browser, "billing_address", address)
    box = browser.find_element("id", "on_behalf")
    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", box
    )
    box.click()
    click(browser, "#accept-contract button[type=submit]")
    assert "you accepted contract version 1" in text(browser)


def test_the_booking_story_in_a_browser(site: tuple[str, Path], browser: Any) -> None:
    base, instance = site

    status_url = to_the_speakers_yes(browser, base, instance)

    # 6. The agent records the terms (prefilled from the offer) and sends the contract.
    browser.get(f"{base}/staff/")
    click(browser, "a[href*='/staff/requests/']")
    assert "Speaker accepted" in text(browser)
    click(browser, "#contract-step button[type=submit]")
    assert "Contract recorded" in text(browser)
    click(browser, "#contract-panel form[action$='/send_contract'] button")
    assert "Contract version 1 sent" in text(browser)

    # 7. The organizer reads and accepts it on the status page; the deposit is then paid
    # (recorded in the database here), and the agent confirms.
    accept_the_contract(browser, status_url, "Li Na", "1 Century Avenue\nShanghai")
    pay_the_deposit(instance)
    browser.get(f"{base}/staff/")
    click(browser, "a[href*='/staff/requests/']")
    click(browser, "#confirm-step button[type=submit]")
    assert "Booking confirmed" in text(browser)

    # 8. The organizer's page says confirmed.
    browser.get(status_url)
    assert "Status: Confirmed" in text(browser)
    browser.save_screenshot(str(instance / "confirmed.png"))
    # …and the worker sends the calendar invitations.
    wait_until(
        lambda: len(list((instance / "mail").glob("*invite.eml"))) >= 3, 60, "the invitations"
    )
    assert csp_violations(browser) == []  # on every page the story went through


WINDOWS = {"mobile": (390, 844), "wide": (1440, 900)}


@pytest.mark.parametrize("window", sorted(WINDOWS))
def test_the_organizers_path_on_a_narrow_and_a_wide_window(
    site: tuple[str, Path], browser: Any, window: str
) -> None:
    base, _ = site
    width, height = WINDOWS[window]
    browser.set_window_size(width, height)
    inner = browser.execute_script("return window.innerWidth")
    assert abs(inner - width) <= 20, f"the window is {inner} wide, not {width}"
    try:
        browser.get(f"{base}/")
        assert fits_the_window(browser)
        toggler = browser.find_elements("css selector", ".navbar-toggler")
        # The menu folds into a button on a phone and is spelled out on a wide screen.
        assert bool(toggler and toggler[0].is_displayed()) == (window == "mobile")
        shoot(browser, f"{window}-1-home")

        browser.get(f"{base}/speakers")
        assert fits_the_window(browser)
        assert "Winston Ma" in text(browser)
        shoot(browser, f"{window}-2-speakers")

        click(browser, "a[href$='/speakers/winston-ma']")
        assert fits_the_window(browser)
        shoot(browser, f"{window}-3-profile")
        click(browser, "a.btn-primary[href*='/request?speaker=winston-ma']")
        assert fits_the_window(browser)
        # On a phone every field takes the whole width; on a wide screen they sit side by side.
        name = browser.find_element("id", "contact_name")
        organization = browser.find_element("id", "organization")
        same_row = name.location["y"] == organization.location["y"]
        assert same_row == (window == "wide")
        for field, value in {
            "event_name": f"Retail Futures ({window})",
            "format": "keynote",
            "starts_at": f"{NEXT_YEAR}-04-14T09:00",
            "ends_at": f"{NEXT_YEAR}-04-14T10:00",
            "timezone": "Asia/Shanghai",
            "city": "Shanghai",
            "country": "CN",
            "audience_size": "300",
            "contact_name": "Li Na",
            "organization": "Acme Events",
            "contact_email": "li.na@example.com",
        }.items():
            fill(browser, field, value)
        shoot(browser, f"{window}-4-form")
        click(browser, "form button[type=submit]")
        assert "Thank you! We received your request" in text(browser)
        assert fits_the_window(browser)
        shoot(browser, f"{window}-5-status")
        assert csp_violations(browser) == []
    finally:
        browser.set_window_size(1280, 2000)
