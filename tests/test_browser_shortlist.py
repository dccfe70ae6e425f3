"""The shortlist picker in a real browser, with the keyboard alone at a phone's width: an
agent types "Kaiser Kuo" and two more names, sends the shortlist, and replaces it only
after ticking the box (issue 16). axe-core finds nothing; nothing scrolls sideways."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from bureau.bookings.models import BookingRequest
from bureau.extensions import db
from tests.browser import axe_source, axe_violations, browser, scroll_overflow, shoot
from tests.site_pages import demo_site
from tests.test_browser_pages import (
    SIZES,
    assigned_to_someone,
    body_text,
    enter_and_wait,
    press,
    served,
    tab_to,
    type_into,
)
from tests.workflow_helpers import PASSWORD

# Chromium: slow, left out of a plain `pytest` (.ci/run runs it).
pytestmark = pytest.mark.slow

__all__ = ["browser", "demo_site", "served"]  # fixtures: pytest finds them by name


def retype(driver: Any, selector: str, *keys: str) -> None:
    """Move to the field with TAB, select what it holds (CTRL+A) and type over it."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    tab_to(driver, selector)
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).perform()
    press(driver, Keys.BACKSPACE, *keys)


def shortlist_of(app: Flask, booking_id: int) -> list[tuple[str, int, str]]:
    with app.app_context():
        booking = db.session.scalars(
            select(BookingRequest).where(BookingRequest.id == booking_id)
        ).one()
        return [(e.speaker.slug, e.fee_quote, e.home_city) for e in booking.shortlist]


def checked(driver: Any) -> list[str]:
    problems = [f"axe: {v}" for v in axe_violations(driver, axe_source())]
    overflow = scroll_overflow(driver)
    return problems + ([f"scrolls sideways by {overflow} px"] if overflow else [])


def test_the_agent_types_names_into_the_picker_and_sends_the_shortlist(
    demo_site: Flask, served: str, browser: Any
) -> None:
    from selenium.webdriver.common.keys import Keys

    booking = assigned_to_someone(demo_site)
    browser.delete_all_cookies()
    browser.set_window_size(*SIZES["phone"])
    try:
        browser.get(f"{served}/staff/login")
        type_into(browser, "#email", booking.desk_email)
        type_into(browser, "#password", PASSWORD)
        enter_and_wait(browser)  # signed in before the next address, or the redirect wins
        assert "/staff/login" not in browser.current_url, "the sign-in failed"
        browser.get(f"{served}/staff/requests/{booking.id}")
        # The list offers names, with fee band and home city beside them.
        option = browser.find_element("css selector", '#speaker-list option[value="Kaiser Kuo"]')
        assert "Beijing" in option.get_attribute("textContent")
        assert checked(browser) == []

        retype(browser, "#candidates-0-speaker", "Kaiser Kuo")
        retype(browser, "#candidates-0-fee_quote", "12000")
        retype(browser, "#candidates-0-home_city")  # blank: the catalogue's
        retype(browser, "#candidates-1-speaker", "winston ma")
        # Picking a name puts that speaker's quote in the row and their city as its hint.
        tab_to(browser, "#candidates-1-fee_quote")
        quote = browser.find_element(
            "css selector", '#speaker-list option[value="Winston Ma"]'
        ).get_attribute("data-quote")
        fee = browser.find_element("id", "candidates-1-fee_quote")
        city = browser.find_element("id", "candidates-1-home_city")
        assert quote
        assert fee.get_attribute("value") == quote
        assert (city.get_attribute("value"), city.get_attribute("placeholder")) == ("", "New York")
        retype(browser, "#candidates-1-fee_quote", "15000")
        retype(browser, "#candidates-2-speaker", "Ashley Dudarenok")
        retype(browser, "#candidates-2-fee_quote", "14000")
        retype(browser, "#candidates-3-speaker")  # three candidates only
        tab_to(browser, "#shortlist-step button[type=submit]")
        enter_and_wait(browser)
        assert "Shortlist of 3 sent" in body_text(browser), body_text(browser)
        slugs = [slug for slug, _, _ in shortlist_of(demo_site, booking.id)]
        assert slugs == ["kaiser-kuo", "winston-ma", "ashley-dudarenok"]
        assert shortlist_of(demo_site, booking.id)[0] == ("kaiser-kuo", 12000, "Beijing")

        # What was sent is shown; sending again without the tick changes nothing.
        sent = browser.find_element("id", "shortlist-sent").text
        assert "Kaiser Kuo · " in sent
        assert "12,000 · Beijing" in sent
        retype(browser, "#candidates-2-speaker", "Fons Tuinstra")
        tab_to(browser, "#shortlist-step button[type=submit]")
        enter_and_wait(browser)
        assert "this one would replace it" in body_text(browser)
        assert slugs == [slug for slug, _, _ in shortlist_of(demo_site, booking.id)]
        assert checked(browser) == []  # the messages, at a phone's width
        shoot(browser, "shortlist-replace-refused-phone")

        tab_to(browser, "#replace")
        press(browser, Keys.SPACE)
        tab_to(browser, "#shortlist-step button[type=submit]")
        enter_and_wait(browser)
        assert "in place of the previous one" in body_text(browser), body_text(browser)
        assert [slug for slug, _, _ in shortlist_of(demo_site, booking.id)] == [
            "kaiser-kuo",
            "winston-ma",
            "fons-tuinstra",
        ]
    finally:
        browser.delete_all_cookies()
        browser.set_window_size(1280, 2000)
