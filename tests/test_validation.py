"""The one validation shared by the form and the API: every rule, and DST edge cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bureau.bookings.validation import validate_request
from tests.conftest import valid_request

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KNOWN = {"winston-ma", "kaiser-kuo", "ashley-dudarenok", "rupert-hoogewerf"}


def good(**changes: Any) -> dict[str, Any]:
    """The contract's example, dated 2027 against a clock fixed in 2026."""
    fixed = {"starts_at": "2027-03-10T09:00", "ends_at": "2027-03-10T10:00"}
    return valid_request(**{**fixed, **changes})


def check(raw: dict[str, Any]) -> tuple[Any, dict[str, list[str]]]:
    return validate_request(raw, active_speakers=lambda slugs: KNOWN & set(slugs), now=NOW)


def test_valid_request_is_cleaned_and_converted_to_utc() -> None:
    valid, errors = check(good(contact_email="Li.Na@EXAMPLE.com", country="cn"))
    assert errors == {}
    assert valid is not None
    assert valid.contact_email == "Li.Na@example.com"
    assert valid.country == "CN"
    assert valid.starts_local == datetime(2027, 3, 10, 9, 0)
    assert valid.starts_at == datetime(2027, 3, 10, 1, 0, tzinfo=UTC)  # Shanghai is UTC+8
    assert valid.currency == "USD"


BAD_INPUTS = [
    ("missing event name", {"event_name": ...}, "event_name", "required"),
    ("blank organization", {"organization": "   "}, "organization", "required"),
    ("missing contact name", {"contact_name": ...}, "contact_name", "required"),
    ("bad email", {"contact_email": "li.na-at-example"}, "contact_email", "valid email"),
    ("email without domain dot", {"contact_email": "li@localhost"}, "contact_email", "valid"),
    ("letters in phone", {"contact_phone": "call me"}, "contact_phone", "digits"),
    ("unknown zone", {"timezone": "Mars/Olympus"}, "timezone", "IANA"),
    ("missing zone", {"timezone": ...}, "timezone", "time zone"),
    ("missing start", {"starts_at": ...}, "starts_at", "local date and time"),
    ("garbled start", {"starts_at": "next tuesday"}, "starts_at", "YYYY-MM-DDTHH:MM"),
    ("offset in start", {"starts_at": "2027-03-10T09:00:00+08:00"}, "starts_at", "offset"),
    (
        "start in the past",
        {"starts_at": "2026-05-01T09:00", "ends_at": "2026-05-01T10:00"},
        "starts_at",
        "future",
    ),
    (
        "start too far ahead",
        {"starts_at": "2031-03-10T09:00", "ends_at": "2031-03-10T10:00"},
        "starts_at",
        "three years",
    ),
    ("end before start", {"ends_at": "2027-03-10T08:00"}, "ends_at", "after the start"),
    ("end equals start", {"ends_at": "2027-03-10T09:00"}, "ends_at", "after the start"),
    ("too long", {"ends_at": "2027-04-10T09:00"}, "ends_at", "14 days"),
    ("unknown format", {"format": "karaoke"}, "format", "Choose one of"),
    ("missing format", {"format": ...}, "format", "Choose a format"),
    ("no city in person", {"city": ...}, "city", "city"),
    ("no country in person", {"country": ...}, "country", "country"),
    ("not a country", {"country": "XX"}, "country", "ISO"),
    ("zero audience", {"audience_size": 0}, "audience_size", "from 1"),
    ("huge audience", {"audience_size": 10_000_000}, "audience_size", "100,000"),
    ("text audience", {"audience_size": "lots"}, "audience_size", "whole number"),
    ("fractional audience", {"audience_size": 12.5}, "audience_size", "whole number"),
    ("boolean audience", {"audience_size": True}, "audience_size", "whole number"),
    ("negative budget", {"budget_min": -5}, "budget_min", "from 0"),
    (
        "budget min above max",
        {"budget_min": 20000, "budget_max": 10000},
        "budget_max",
        "not be below",
    ),
    ("unknown currency", {"currency": "XBT"}, "currency", "Choose one of"),
    ("no speakers", {"speakers": []}, "speakers", "at least one"),
    ("four speakers", {"speakers": ["a", "b", "c", "d"]}, "speakers", "at most 3"),
    ("same speaker twice", {"speakers": ["winston-ma", "winston-ma"]}, "speakers", "only once"),
    ("unknown speaker", {"speakers": ["nobody-here"]}, "speakers", "nobody-here"),
    ("speakers not a list", {"speakers": {"a": 1}}, "speakers", "list"),
    ("event name too long", {"event_name": "x" * 201}, "event_name", "under 200"),
    ("message too long", {"message": "y" * 5001}, "message", "under 5000"),
    ("number as name", {"contact_name": 42}, "contact_name", "text"),
    ("virtual not boolean", {"virtual": "maybe"}, "virtual", "true or false"),
    ("unknown field", {"budget": 5}, "budget", "Unknown field"),
]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_rejected_with_its_message(
    changes: dict[str, Any], field: str, message: str
) -> None:
    valid, errors = check(good(**changes))
    assert valid is None
    assert field in errors, errors
    assert any(message in text for text in errors[field]), errors[field]


def test_every_error_is_reported_at_once() -> None:
    valid, errors = check({"speakers": [], "contact_email": "x"})
    assert valid is None
    assert {"speakers", "event_name", "organization", "contact_email", "starts_at"} <= set(errors)


def test_virtual_event_needs_no_place() -> None:
    valid, errors = check(good(virtual=True, city=..., country=...))
    assert errors == {}
    assert valid is not None
    assert valid.is_virtual
    assert valid.city is None


def test_control_characters_are_stripped() -> None:
    valid, errors = check(
        good(
            event_name="Future\x00 of\x1b[31m Retail\u202e Summit",
            contact_name="Li\r\nNa",
            message="Line one\r\nLine two\x07\n\n\n\nLine three",
        )
    )
    assert errors == {}
    assert valid is not None
    assert valid.event_name == "Future of[31m Retail Summit"
    assert valid.contact_name == "Li Na"
    assert valid.message == "Line one\nLine two\n\nLine three"


def test_length_is_measured_after_cleaning() -> None:
    valid, _ = check(good(event_name=" " * 50 + "x" * 200 + "\x00" * 50))
    assert valid is not None
    assert valid.event_name == "x" * 200


def test_form_strings_are_accepted() -> None:
    valid, errors = check(
        good(audience_size="1,200", budget_min="5000", budget_max="", virtual="y")
    )
    assert errors == {}
    assert valid is not None
    assert valid.audience_size == 1200
    assert valid.budget_min == 5000
    assert valid.budget_max is None
    assert valid.is_virtual


DST_CASES = [
    # zone, local start, expected problem (None: fine), UTC hour of the start
    ("Europe/Amsterdam", "2027-03-28T02:30", "does not exist", None),
    ("Europe/Amsterdam", "2027-10-31T02:30", "happens twice", None),
    ("Europe/Amsterdam", "2027-03-28T03:00", None, 1),
    ("Europe/Amsterdam", "2027-10-31T03:00", None, 2),
    ("America/New_York", "2027-03-14T02:15", "does not exist", None),
    ("America/New_York", "2027-11-07T01:30", "happens twice", None),
    ("America/New_York", "2027-11-07T02:00", None, 7),
    ("Asia/Shanghai", "2027-03-28T02:30", None, 18),
]


@pytest.mark.parametrize(("zone", "start", "problem", "utc_hour"), DST_CASES)
def test_daylight_saving_gaps_and_overlaps(
    zone: str, start: str, problem: str | None, utc_hour: int | None
) -> None:
    end = start[:11] + "05:00"
    valid, errors = check(good(timezone=zone, starts_at=start, ends_at=end))
    if problem is None:
        assert errors == {}
        assert valid is not None
        assert valid.starts_at.hour == utc_hour
    else:
        assert valid is None
        assert any(problem in message for message in errors["starts_at"]), errors
        assert zone in errors["starts_at"][0]


def test_end_in_a_gap_is_reported_on_the_end() -> None:
    valid, errors = check(
        good(timezone="Europe/Amsterdam", starts_at="2027-03-28T01:00", ends_at="2027-03-28T02:30")
    )
    assert valid is None
    assert "does not exist" in errors["ends_at"][0]
    assert "starts_at" not in errors
