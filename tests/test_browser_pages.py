"""Every page, public and staff (from the URL map, with the demo data), in a real browser at
a phone's size (390 by 844) and a wide window (1280 by 900): nothing scrolls sideways, axe-core
finds no WCAG 2.1 A or AA violation, and a screenshot of each is kept. And the organizer's
and the agent's stories with the keyboard alone."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from bureau.bookings.models import BookingRequest
from bureau.bookings.states import Status
from bureau.extensions import db
from bureau.staff.models import StaffMember
from tests.browser import axe_source, axe_violations, browser, scroll_overflow, shoot
from tests.conftest import NEXT_YEAR
from tests.site_pages import ADMIN, demo_site, every_page
from tests.workflow_helpers import PASSWORD, staff_member

# Chromium on every page: slow, left out of a plain `pytest` (.ci/run runs it).
pytestmark = pytest.mark.slow

__all__ = ["browser", "demo_site"]  # fixtures: pytest finds them by name

SIZES = {"phone": (390, 844), "wide": (1280, 900)}


@pytest.fixture(scope="module")
def served(demo_site: Flask) -> Iterator[str]:
    """The demo site on a local port (threads: the browser loads styles and pages at once)."""
    server = make_server("127.0.0.1", 0, demo_site, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def screenshot_name(size: str, path: str) -> str:
    return f"pages-{size}-" + (re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "home")


def is_staff(path: str) -> bool:
    return path.startswith("/staff")


def sign_in_by_form(driver: Any, base: str, email: str) -> None:
    driver.get(f"{base}/staff/login")
    driver.find_element("id", "email").send_keys(email)
    driver.find_element("id", "password").send_keys(PASSWORD)
    enter_and_wait(driver)  # Enter returns before the redirect lands; check after it does
    assert "/staff/login" not in driver.current_url, "the sign-in failed"


def check_every_page(driver: Any, base: str, paths: list[str], axe: str) -> list[str]:
    """Each page at each size: its sideways overflow and axe's findings; a screenshot."""
    problems: list[str] = []
    for size, (width, height) in SIZES.items():
        driver.set_window_size(width, height)
        inner = driver.execute_script("return window.innerWidth")
        assert inner == width, f"the window is {inner} wide, not {width}"
        for path in paths:
            driver.get(base + path)
            if driver.execute_script("return document.contentType") != "text/html":
                continue  # the API's JSON
            shoot(driver, screenshot_name(size, path))
            overflow = scroll_overflow(driver)
            if overflow:
                problems.append(f"{size} {path}: scrolls sideways by {overflow} px")
            problems += [f"{size} {path}: {v}" for v in axe_violations(driver, axe)]
    return problems


def test_every_page_fits_a_phone_and_passes_axe(
    demo_site: Flask, served: str, browser: Any
) -> None:
    axe = axe_source()
    paths = list(every_page(demo_site))
    assert len(paths) > 20
    public = [p for p in paths if not is_staff(p)]
    staff = [p for p in paths if is_staff(p)]
    browser.delete_all_cookies()
    try:
        problems = check_every_page(browser, served, public, axe)
        browser.set_window_size(*SIZES["wide"])
        sign_in_by_form(browser, served, ADMIN)
        problems += check_every_page(browser, served, staff, axe)
    finally:
        browser.delete_all_cookies()
        browser.set_window_size(1280, 2000)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def test_the_checks_can_fail(served: str, browser: Any) -> None:
    """An element wider than a phone and an image without a text alternative are found."""
    axe = axe_source()
    browser.set_window_size(*SIZES["phone"])
    try:
        browser.get(f"{served}/")
        assert scroll_overflow(browser) == 0
        assert axe_violations(browser, axe) == []
        browser.execute_script(
            "const wide = document.createElement('div');"
            "wide.className = 'd-inline-block';"
            "wide.textContent = 'x'.repeat(400);"
            "document.querySelector('main').append(wide);"
            "const image = document.createElement('img');"
            "image.src = '/x.png';"
            "document.querySelector('main').append(image);"
        )
        assert scroll_overflow(browser) > 0
        assert any(v.startswith("image-alt") for v in axe_violations(browser, axe))
    finally:
        browser.set_window_size(1280, 2000)


@dataclass(frozen=True)
class Assigned:
    id: int
    reference: str
    desk_email: str


def assigned_to_someone(app: Flask) -> Assigned:
    """The newest request routed to a desk and not yet shortlisted (the agent's next step
    is the shortlist), with that desk able to sign in."""
    with app.app_context():
        booking, email = db.session.execute(
            select(BookingRequest, StaffMember.email)
            .join(StaffMember, StaffMember.id == BookingRequest.assigned_staff_id)
            .where(BookingRequest.status == Status.ASSIGNED)
            .order_by(BookingRequest.id.desc())
        ).first() or pytest.fail("the demo history has no assigned request")
        found = Assigned(booking.id, booking.reference, email)
    staff_member(app, found.desk_email)
    return found


def wait_for_path(driver: Any, path: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(lambda d: d.current_url.split("?")[0].endswith(path))


def press(driver: Any, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(*keys).perform()


def tab_to(driver: Any, selector: str, limit: int = 200) -> None:
    """Press TAB until the element the selector names has the focus: it is reachable by
    keyboard, in the page's order."""
    from selenium.webdriver.common.keys import Keys

    for _ in range(limit):
        if driver.execute_script("return document.activeElement.matches(arguments[0])", selector):
            return
        press(driver, Keys.TAB)
    pytest.fail(f"{limit} presses of TAB never reached {selector}", pytrace=False)


def type_into(driver: Any, selector: str, *keys: str) -> None:
    tab_to(driver, selector)
    press(driver, *keys)


def enter_and_wait(driver: Any) -> None:
    """ENTER on the focused link or button, then wait for the next page."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element("tag name", "html")
    press(driver, Keys.ENTER)
    WebDriverWait(driver, 15).until(expected_conditions.staleness_of(page))


def body_text(driver: Any) -> str:
    text: str = driver.find_element("tag name", "body").text
    return text


def test_the_organizer_asks_for_a_speaker_with_the_keyboard_alone(
    served: str, browser: Any
) -> None:
    from selenium.webdriver.common.keys import Keys

    axe = axe_source()
    browser.delete_all_cookies()
    browser.set_window_size(*SIZES["phone"])
    try:
        browser.get(f"{served}/")
        tab_to(browser, "main a[href$='/request']")  # "Request a speaker" on the home page
        enter_and_wait(browser)
        # Sent empty first: the errors are announced next to their fields, and pass axe.
        tab_to(browser, "form button[type=submit]")
        enter_and_wait(browser)
        assert browser.find_elements("css selector", ".is-invalid")
        assert axe_violations(browser, axe) == []
        type_into(browser, "#speaker_1", "Winston Ma")  # a select: typing picks the option
        type_into(browser, "#event_name", "Keyboard Summit")
        type_into(browser, "#format", "Keynote")
        # datetime-local: month, day, year, then TAB to the time, hours, minutes, AM/PM.
        type_into(browser, "#starts_at", f"0310{NEXT_YEAR}", Keys.TAB, "0900AM")
        type_into(browser, "#ends_at", f"0310{NEXT_YEAR}", Keys.TAB, "1000AM")
        type_into(browser, "#timezone", "Asia/Shanghai")
        type_into(browser, "#city", "Shanghai")
        type_into(browser, "#country", "China")
        type_into(browser, "#audience_size", "120")
        type_into(browser, "#contact_name", "Li Na")
        type_into(browser, "#organization", "Keyboard Events")
        type_into(browser, "#contact_email", "li.na@example.com")
        tab_to(browser, "form button[type=submit]")
        enter_and_wait(browser)
        assert "Thank you! We received your request" in body_text(browser), body_text(browser)
        assert "Keyboard Summit" in body_text(browser)
        assert axe_violations(browser, axe) == []  # the status page, with its message
    finally:
        browser.set_window_size(1280, 2000)


def test_the_agent_signs_in_opens_a_request_and_acts_with_the_keyboard_alone(
    demo_site: Flask, served: str, browser: Any
) -> None:
    from selenium.webdriver.common.keys import Keys

    axe = axe_source()
    booking = assigned_to_someone(demo_site)
    browser.delete_all_cookies()
    browser.set_window_size(*SIZES["phone"])
    try:
        browser.get(f"{served}/staff/")  # the sign-in page, by its address
        type_into(browser, "#email", booking.desk_email)
        type_into(browser, "#password", PASSWORD, Keys.ENTER)
        wait_for_path(browser, "/staff/")
        tab_to(browser, "a[href*='queue=mine']")
        enter_and_wait(browser)
        tab_to(browser, f"a[href$='/staff/requests/{booking.id}']")
        enter_and_wait(browser)
        assert booking.reference in body_text(browser)
        # The next step comes first: the shortlist, prefilled with the suggestions.
        tab_to(browser, "#shortlist-step button[type=submit]", limit=60)
        enter_and_wait(browser)
        assert "Shortlist of" in body_text(browser), body_text(browser)
        assert browser.find_element("id", "status").text == "Shortlist sent"
        assert axe_violations(browser, axe) == []  # an agent's view, with its message
    finally:
        browser.delete_all_cookies()
        browser.set_window_size(1280, 2000)


def test_on_a_phone_the_list_and_the_next_step_are_on_the_first_screen(
    demo_site: Flask, served: str, browser: Any
) -> None:
    width, height = SIZES["phone"]
    booking = assigned_to_someone(demo_site)
    browser.delete_all_cookies()
    browser.set_window_size(*SIZES["wide"])
    try:
        sign_in_by_form(browser, served, ADMIN)
        browser.set_window_size(width, height)
        # The dashboard: the filters fold behind a button, the list starts on the first screen.
        browser.get(f"{served}/staff/")
        assert not browser.find_element("id", "filters").is_displayed()
        assert browser.find_element("css selector", "[aria-controls=filters]").is_displayed()
        first_row = browser.find_element("css selector", "main tbody tr")
        assert first_row.location["y"] < height
        # A request's page: the next step before the request's details and the timeline.
        browser.get(f"{served}/staff/requests/{booking.id}")
        step = browser.find_element("id", "shortlist-step").location["y"]
        assert step < height
        assert step < browser.find_element("id", "request-heading").location["y"]
        assert step < browser.find_element("id", "timeline").location["y"]
        # On a wide window the filters are spelled out.
        browser.set_window_size(*SIZES["wide"])
        browser.get(f"{served}/staff/")
        assert browser.find_element("id", "filters").is_displayed()
    finally:
        browser.delete_all_cookies()
        browser.set_window_size(1280, 2000)
