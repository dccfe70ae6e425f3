"""One raw field at a time: the checks validation.py composes into a request or an offer.

Each reads ``raw[name]`` (a form string or a JSON value), adds what is wrong to ``errors``
under that name and returns the cleaned value, or None (or "") when there is none, so one
pass reports every field's problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import gettext as _

from bureau.params import FIRST_YEAR, LAST_YEAR
from bureau.reference import CURRENCIES, country_names, timezone_names
from bureau.text import clean_line, clean_text

MAX_LEAD_TIME = timedelta(days=3 * 366)
MAX_DURATION = timedelta(days=14)
MULTILINE = frozenset({"message", "logistics", "travel_terms", "text", "feedback"})
LOCAL_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")


@dataclass
class Errors:
    by_field: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(message)

    def __contains__(self, name: str) -> bool:
        return name in self.by_field

    def __bool__(self) -> bool:
        return bool(self.by_field)


class EventTimes(TypedDict):
    """When an event happens: its wall times in its zone, and the UTC instants they are."""

    timezone: str
    starts_local: datetime
    ends_local: datetime
    starts_at: datetime
    ends_at: datetime


def text(raw: Mapping[str, Any], name: str, errors: Errors, limit: int) -> str:
    """Cleaned text ("" when absent); one line unless the field is MULTILINE."""
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.add(name, _("Must be text."))
        return ""
    cleaned = clean_text(value) if name in MULTILINE else clean_line(value)
    if len(cleaned) > limit:
        errors.add(
            name,
            _(
                "Keep this under %(limit)s characters (it has %(count)s).",
                limit=limit,
                count=len(cleaned),
            ),
        )
    return cleaned


def choice(raw: Mapping[str, Any], name: str, errors: Errors) -> str | None:
    """A short code or slug as given (the caller checks it is one it knows)."""
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(name, _("Must be text."))
        return None
    return clean_line(value)[:64] or None


def boolean(raw: Mapping[str, Any], name: str, errors: Errors) -> bool:
    """A JSON boolean or a form's checkbox words."""
    value = raw.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("", "y", "yes", "true", "on", "1"):
        return value.strip() != ""
    if isinstance(value, str) and value.strip().lower() in ("n", "no", "false", "off", "0"):
        return False
    errors.add(name, _("Must be true or false."))
    return False


def integer(
    raw: Mapping[str, Any], name: str, errors: Errors, *, minimum: int, maximum: int
) -> int | None:
    """A whole number in range, from JSON or from digits (commas and underscores allowed)."""
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        digits = value.strip().replace(",", "").replace("_", "")
        if digits.isdecimal() and len(digits) <= 12:
            number = int(digits)
    if number is None:
        errors.add(name, _("Enter a whole number."))
        return None
    if not minimum <= number <= maximum:
        errors.add(
            name,
            _(
                "Enter a number from %(minimum)s to %(maximum)s.",
                minimum=format(minimum, ","),
                maximum=format(maximum, ","),
            ),
        )
        return None
    return number


def currency(raw: Mapping[str, Any], errors: Errors) -> str:
    """The ``currency`` code, USD when none is given."""
    code = (choice(raw, "currency", errors) or "USD").upper()
    if code not in CURRENCIES:
        errors.add("currency", _("Choose one of: %(codes)s.", codes=", ".join(CURRENCIES)))
    return code


def country(raw: Mapping[str, Any], errors: Errors) -> str | None:
    """The ``country`` as an upper-case ISO code, or None when none is given."""
    code = choice(raw, "country", errors)
    if code is None:
        return None
    code = code.upper()
    if code not in country_names():
        errors.add("country", _("Choose a country (two-letter ISO code, e.g. CN)."))
    return code


def local_time(raw: Mapping[str, Any], name: str, errors: Errors) -> datetime | None:
    """A wall time with no zone or offset (the zone is a field of its own)."""
    value = raw.get(name)
    if value is None or value == "":
        errors.add(name, _("Give the local date and time, e.g. 2027-03-10T09:00."))
        return None
    if not isinstance(value, str):
        errors.add(name, _("Must be text such as 2027-03-10T09:00."))
        return None
    value = value.strip()
    for pattern in LOCAL_TIME_FORMATS:
        try:
            local = datetime.strptime(value, pattern)  # noqa: DTZ007 - a local wall time
        except ValueError:
            continue
        if not FIRST_YEAR <= local.year <= LAST_YEAR:  # 9999-12-31 in a zone west of UTC
            errors.add(
                name,
                _(
                    "Give a date in the years %(first)s to %(last)s.",
                    first=FIRST_YEAR,
                    last=LAST_YEAR,
                ),
            )
            return None
        return local
    if len(value) > 19 and value[19:20] in ("+", "-", "Z"):
        errors.add(name, _("Give the local time without a UTC offset; the zone goes in timezone."))
    else:
        errors.add(name, _("Use the form YYYY-MM-DDTHH:MM, e.g. 2027-03-10T09:00."))
    return None


def resolve_local(local: datetime, zone: ZoneInfo) -> tuple[datetime | None, str | None]:
    """The UTC instant of a local wall time, or why there is none (DST gap or overlap)."""
    early = local.replace(tzinfo=zone, fold=0)
    late = local.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        # In a gap both folds round-trip to another wall time; in an overlap both are real.
        if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
            return None, _(
                "%(time)s does not exist in %(zone)s: the clocks move forward then. "
                "Choose another time.",
                time=local.strftime("%Y-%m-%d %H:%M"),
                zone=zone.key,
            )
        return None, _(
            "%(time)s happens twice in %(zone)s: the clocks go back then. Choose another time.",
            time=local.strftime("%Y-%m-%d %H:%M"),
            zone=zone.key,
        )
    return early.astimezone(UTC), None


def event_times(raw: Mapping[str, Any], errors: Errors, now: datetime) -> EventTimes | None:
    """``timezone``, ``starts_at`` and ``ends_at``: a real zone, wall times that happen once
    in it, a start in the future (at most three years ahead) and an end after it."""
    zone_name = choice(raw, "timezone", errors)
    zone: ZoneInfo | None = None
    if zone_name is None:
        if "timezone" not in errors:
            errors.add("timezone", _("Choose the time zone of the event, e.g. Asia/Shanghai."))
    elif zone_name not in timezone_names():
        errors.add(
            "timezone",
            _(
                "%(zone)s is not an IANA time zone, e.g. Europe/Amsterdam.",
                zone=repr(zone_name),
            ),
        )
    else:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            errors.add("timezone", _("%(zone)s is not an IANA time zone.", zone=repr(zone_name)))

    starts_local = local_time(raw, "starts_at", errors)
    ends_local = local_time(raw, "ends_at", errors)
    if zone is None or starts_local is None or ends_local is None:
        return None
    assert zone_name is not None

    starts_at, problem = resolve_local(starts_local, zone)
    if problem:
        errors.add("starts_at", problem)
    ends_at, problem = resolve_local(ends_local, zone)
    if problem:
        errors.add("ends_at", problem)
    if starts_at is None or ends_at is None:
        return None
    if starts_at <= now:
        errors.add("starts_at", _("The event must start in the future."))
    elif starts_at - now > MAX_LEAD_TIME:
        errors.add("starts_at", _("We take requests up to three years ahead."))
    if ends_at <= starts_at:
        errors.add("ends_at", _("The end must be after the start."))
    elif ends_at - starts_at > MAX_DURATION:
        errors.add("ends_at", _("An engagement can last at most 14 days."))
    if "starts_at" in errors or "ends_at" in errors:  # nothing else reports on these two
        return None
    return EventTimes(
        timezone=zone_name,
        starts_local=starts_local,
        ends_local=ends_local,
        starts_at=starts_at,
        ends_at=ends_at,
    )
