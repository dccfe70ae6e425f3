"""The whole story in a real browser (Debian's chromium via Selenium): the organizer asks,
an agent shortlists, the organizer offers, the speaker accepts through the emailed link,
the agent records the contract and confirms, and the organizer's page says so."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from bureau.bookings.tasks import route_new_booking
from bureau.extensions import db
from bureau.jobs import Job, JobState, run_job
from bureau.mail.tasks import send_notification
from tests.conftest import IN_CI, NEXT_YEAR, make_app, migrate_and_seed
from tests.smtp import free_port
from tests.workflow_helpers import PASSWORD, staff_member

CHROMIUM = os.environ.get("BUREAU_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BUREAU_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
HANDLERS = {"bureau.bookings.route": route_new_booking, "bureau.mail.send": send_notification}


def drain_jobs(app: Flask) -> None:
    """Do what the worker would: run every pending job, in order, until none is left."""
    with app.app_context():
        while True:
            pending = db.session.scalars(
                select(Job).where(Job.state == JobState.PENDING).order_by(Job.id)
            ).all()
            if not pending:
                return
            for job in pending:
                run_job(db.session, job.id, HANDLERS[job.task])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str, Path]]:
    folder = tmp_path_factory.mktemp("browser")
    app = make_app(folder, f"sqlite:///{folder / 'browser.db'}")
    migrate_and_seed(app)
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{port}", folder
    server.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        message = f"chromium ({CHROMIUM}) and chromedriver ({CHROMEDRIVER}) are needed"
        if IN_CI:
            pytest.fail(f"{message}; .ci/run installs them with apt", pytrace=False)
        pytest.skip(f"{message}: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,2000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


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
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element("tag name", "html")
    element = driver.find_element("css selector", selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(page))


def text(driver: Any) -> str:
    body: str = driver.find_element("tag name", "body").text
    return body


def test_the_booking_story_in_a_browser(site: tuple[Flask, str, Path], browser: Any) -> None:
    app, base, folder = site
    staff_member(app, "china.desk@bureau.localhost")

    # 1. The organizer fills in the request form.
    browser.get(f"{base}/speakers/kaiser-kuo")
    click(browser, "a.btn-primary[href*='/request?speaker=kaiser-kuo']")
    for field, value in {
        "event_name": "China Tech Outlook",
        "format": "keynote",
        "starts_at": f"{NEXT_YEAR}-03-10T09:00",
        "ends_at": f"{NEXT_YEAR}-03-10T10:00",
        "timezone": "Asia/Shanghai",
        "city": "Shanghai",
        "country": "CN",
        "audience_size": "250",
        "contact_name": "Li Na",
        "organization": "Acme Events",
        "contact_email": "li.na@example.com",
    }.items():
        fill(browser, field, value)
    click(browser, "form button[type=submit]")
    assert "Thank you! We received your request" in text(browser)
    status_url = browser.current_url
    reference = re.search(r"BR-\d{4}-\d{5}", text(browser)).group(0)
    drain_jobs(app)  # the worker routes it to the Greater China desk

    # 2. The agent signs in, opens the request and sends the suggested shortlist.
    browser.get(f"{base}/staff/")
    fill(browser, "email", "china.desk@bureau.localhost")
    fill(browser, "password", PASSWORD)
    click(browser, "form button[type=submit]")
    click(browser, "a[href*='/staff/requests/']")
    assert reference in text(browser)
    click(browser, "#shortlist-step button[type=submit]")
    assert "Shortlist of 4 sent" in text(browser)
    drain_jobs(app)

    # 3. The organizer makes a firm offer on the status page.
    browser.get(status_url)
    assert "Your shortlist" in text(browser)
    fill(browser, "offer-speaker", "kaiser-kuo")
    fill(browser, "offer-fee", "12500")
    fill(browser, "offer-venue", "Expo Centre")
    click(browser, "form[action$='/offer'] button[type=submit]")
    assert "your firm offer is recorded" in text(browser)
    drain_jobs(app)

    # 4. The agent asks the speaker; the email carries the signed link.
    browser.get(f"{base}/staff/")
    click(browser, "a[href*='/staff/requests/']")
    click(browser, "#availability-step button[type=submit]")
    assert "Availability check sent" in text(browser)
    drain_jobs(app)
    [eml] = (folder / "mail").glob("*availability_request.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"].addresses[0].addr_spec == "kaiser-kuo@speakers.bureau.localhost"
    link = re.search(r"https?://\S+/availability/\S+", message.get_body(("plain",)).get_content())
    assert link is not None

    # 5. The speaker opens the link (which changes nothing) and accepts.
    browser.get(link.group(0).replace("https://bureau.test", base))
    assert "Accept: I am available" in text(browser)
    click(browser, "button[value=accept]")
    assert "your answer is recorded" in text(browser)

    # 6. The agent records the contract (prefilled from the offer) and confirms.
    browser.get(f"{base}/staff/")
    click(browser, "a[href*='/staff/requests/']")
    assert "speaker_accepted" in text(browser)
    click(browser, "#contract-step button[type=submit]")
    assert "Contract recorded" in text(browser)
    click(browser, "#confirm-step button[type=submit]")
    assert "Booking confirmed" in text(browser)

    # 7. The organizer's page says confirmed.
    browser.get(status_url)
    assert "Status: Confirmed" in text(browser)
    browser.save_screenshot(str(folder / "confirmed.png"))
