"""The one validation of a booking request, shared by the HTML form and the JSON API.

Input is a mapping of raw values (strings from the form, JSON types from the API); the
result is either a ``ValidRequest`` or per-field error messages. Nothing here touches the
database: the caller passes the set of slugs of active speakers it may accept.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from bureau.bookings.models import MAX_REQUESTED_SPEAKERS
from bureau.catalogue.models import SPEAKER_FORMATS
from bureau.params import FIRST_YEAR, LAST_YEAR
from bureau.reference import CURRENCIES, country_names, event_languages, timezone_names
from bureau.text import clean_line, clean_text

MAX_AUDIENCE = 100_000
MAX_BUDGET = 10_000_000
MAX_LEAD_TIME = timedelta(days=3 * 366)
MAX_DURATION = timedelta(days=14)

# field name -> maximum length after cleaning
TEXT_LIMITS: dict[str, int] = {
    "event_name": 200,
    "organization": 200,
    "contact_name": 120,
    "contact_email": 254,
    "contact_phone": 40,
    "city": 120,
    "audience": 300,
    "message": 5000,
}
FIELDS = (
    "speakers",
    "event_name",
    "organization",
    "contact_name",
    "contact_email",
    "contact_phone",
    "starts_at",
    "ends_at",
    "timezone",
    "format",
    "city",
    "country",
    "virtual",
    "audience_size",
    "audience",
    "budget_min",
    "budget_max",
    "currency",
    "message",
    "language",
)
MULTILINE = frozenset({"message", "logistics", "travel_terms", "text", "feedback"})
LOCAL_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")


@dataclass
class ValidRequest:
    speakers: list[str]
    event_name: str
    organization: str
    contact_name: str
    contact_email: str
    contact_phone: str | None
    timezone: str
    starts_local: datetime
    ends_local: datetime
    starts_at: datetime
    ends_at: datetime
    format: str
    is_virtual: bool
    city: str | None
    country: str | None
    audience_size: int
    audience: str | None
    budget_min: int | None
    budget_max: int | None
    currency: str
    message: str | None
    language: str = "en"


@dataclass
class Errors:
    by_field: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(message)

    def __contains__(self, name: str) -> bool:
        return name in self.by_field

    def __bool__(self) -> bool:
        return bool(self.by_field)


def validate_request(
    raw: Mapping[str, Any],
    *,
    active_speakers: Callable[[list[str]], Collection[str]],
    now: datetime | None = None,
) -> tuple[ValidRequest | None, dict[str, list[str]]]:
    """Check and clean a booking request. Returns (request, {}) or (None, errors by field).

    ``active_speakers(slugs)`` returns which of the given slugs are active speakers.
    """
    now = now or datetime.now(UTC)
    errors = Errors()
    for name in raw:
        if name not in FIELDS:
            errors.add(name, "Unknown field.")

    text = {name: _text(raw, name, errors) for name in TEXT_LIMITS}
    for name in ("event_name", "organization", "contact_name", "contact_email"):
        if not text[name] and name not in errors:
            errors.add(name, "This field is required.")

    email = text["contact_email"]
    if email and "contact_email" not in errors:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            errors.add("contact_email", f"Enter a valid email address: {exc}")

    phone = text["contact_phone"]
    if phone and not all(ch.isdigit() or ch in "+-()./ " for ch in phone):
        errors.add("contact_phone", "Use digits, spaces and + - ( ) . / only.")

    is_virtual = _boolean(raw, "virtual", errors)
    country = _choice(raw, "country", errors)
    if country is not None:
        country = country.upper()
        if country not in country_names():
            errors.add("country", "Choose a country (two-letter ISO code, e.g. CN).")
    if not is_virtual:
        if not text["city"] and "city" not in errors:
            errors.add("city", "Give the city of the event, or mark it as virtual.")
        if country is None and "country" not in errors:
            errors.add("country", "Give the country of the event, or mark it as virtual.")

    event_format = _choice(raw, "format", errors)
    if event_format is None:
        if "format" not in errors:
            errors.add("format", "Choose a format.")
    elif event_format not in SPEAKER_FORMATS:
        errors.add("format", f"Choose one of: {', '.join(SPEAKER_FORMATS)}.")

    language = (_choice(raw, "language", errors) or "en").lower()
    if language not in event_languages():
        errors.add("language", "Give the event's language as a two-letter code, e.g. en or zh.")

    currency = (_choice(raw, "currency", errors) or "USD").upper()
    if currency not in CURRENCIES:
        errors.add("currency", f"Choose one of: {', '.join(CURRENCIES)}.")

    audience_size = _integer(raw, "audience_size", errors, minimum=1, maximum=MAX_AUDIENCE)
    if audience_size is None and "audience_size" not in errors:
        errors.add("audience_size", "Give the expected audience size.")
    budget_min = _integer(raw, "budget_min", errors, minimum=0, maximum=MAX_BUDGET)
    budget_max = _integer(raw, "budget_max", errors, minimum=0, maximum=MAX_BUDGET)
    if budget_min is not None and budget_max is not None and budget_min > budget_max:
        errors.add("budget_max", "The maximum budget must not be below the minimum.")

    times = _event_times(raw, errors, now)
    speakers = _speakers(raw, errors, active_speakers)

    if errors:
        return None, errors.by_field
    assert times is not None
    assert audience_size is not None
    assert event_format is not None
    starts_local, ends_local, zone_name, starts_at, ends_at = times
    return (
        ValidRequest(
            speakers=speakers,
            event_name=text["event_name"],
            organization=text["organization"],
            contact_name=text["contact_name"],
            contact_email=email,
            contact_phone=phone or None,
            timezone=zone_name,
            starts_local=starts_local,
            ends_local=ends_local,
            starts_at=starts_at,
            ends_at=ends_at,
            format=event_format,
            is_virtual=is_virtual,
            city=text["city"] or None,
            country=country,
            audience_size=audience_size,
            audience=text["audience"] or None,
            budget_min=budget_min,
            budget_max=budget_max,
            currency=currency,
            message=text["message"] or None,
            language=language,
        ),
        {},
    )


def _text(raw: Mapping[str, Any], name: str, errors: Errors, limit: int | None = None) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.add(name, "Must be text.")
        return ""
    cleaned = clean_text(value) if name in MULTILINE else clean_line(value)
    limit = limit or TEXT_LIMITS[name]
    if len(cleaned) > limit:
        errors.add(name, f"Keep this under {limit} characters (it has {len(cleaned)}).")
    return cleaned


def _choice(raw: Mapping[str, Any], name: str, errors: Errors) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(name, "Must be text.")
        return None
    return clean_line(value)[:64] or None


def _boolean(raw: Mapping[str, Any], name: str, errors: Errors) -> bool:
    value = raw.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("", "y", "yes", "true", "on", "1"):
        return value.strip() != ""
    if isinstance(value, str) and value.strip().lower() in ("n", "no", "false", "off", "0"):
        return False
    errors.add(name, "Must be true or false.")
    return False


def _integer(
    raw: Mapping[str, Any], name: str, errors: Errors, *, minimum: int, maximum: int
) -> int | None:
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
        errors.add(name, "Enter a whole number.")
        return None
    if not minimum <= number <= maximum:
        errors.add(name, f"Enter a number from {minimum:,} to {maximum:,}.")
        return None
    return number


def _local_time(raw: Mapping[str, Any], name: str, errors: Errors) -> datetime | None:
    value = raw.get(name)
    if value is None or value == "":
        errors.add(name, "Give the local date and time, e.g. 2027-03-10T09:00.")
        return None
    if not isinstance(value, str):
        errors.add(name, "Must be text such as 2027-03-10T09:00.")
        return None
    value = value.strip()
    for pattern in LOCAL_TIME_FORMATS:
        try:
            local = datetime.strptime(value, pattern)  # noqa: DTZ007 - a local wall time
        except ValueError:
            continue
        if not FIRST_YEAR <= local.year <= LAST_YEAR:  # 9999-12-31 in a zone west of UTC
            errors.add(name, f"Give a date in the years {FIRST_YEAR} to {LAST_YEAR}.")
            return None
        return local
    if len(value) > 19 and value[19:20] in ("+", "-", "Z"):
        errors.add(name, "Give the local time without a UTC offset; the zone goes in timezone.")
    else:
        errors.add(name, "Use the form YYYY-MM-DDTHH:MM, e.g. 2027-03-10T09:00.")
    return None


def resolve_local(local: datetime, zone: ZoneInfo) -> tuple[datetime | None, str | None]:
    """The UTC instant of a local wall time, or why there is none (DST gap or overlap)."""
    early = local.replace(tzinfo=zone, fold=0)
    late = local.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        # In a gap both folds round-trip to another wall time; in an overlap both are real.
        if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
            return None, (
                f"{local:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks move "
                "forward then. Choose another time."
            )
        return None, (
            f"{local:%Y-%m-%d %H:%M} happens twice in {zone.key}: the clocks go back then. "
            "Choose another time."
        )
    return early.astimezone(UTC), None


def _event_times(
    raw: Mapping[str, Any], errors: Errors, now: datetime
) -> tuple[datetime, datetime, str, datetime, datetime] | None:
    zone_name = _choice(raw, "timezone", errors)
    zone: ZoneInfo | None = None
    if zone_name is None:
        if "timezone" not in errors:
            errors.add("timezone", "Choose the time zone of the event, e.g. Asia/Shanghai.")
    elif zone_name not in timezone_names():
        errors.add("timezone", f"{zone_name!r} is not an IANA time zone, e.g. Europe/Amsterdam.")
    else:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            errors.add("timezone", f"{zone_name!r} is not an IANA time zone.")

    starts_local = _local_time(raw, "starts_at", errors)
    ends_local = _local_time(raw, "ends_at", errors)
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
    ok = True
    if starts_at <= now:
        errors.add("starts_at", "The event must start in the future.")
        ok = False
    elif starts_at - now > MAX_LEAD_TIME:
        errors.add("starts_at", "We take requests up to three years ahead.")
        ok = False
    if ends_at <= starts_at:
        errors.add("ends_at", "The end must be after the start.")
        ok = False
    elif ends_at - starts_at > MAX_DURATION:
        errors.add("ends_at", "An engagement can last at most 14 days.")
        ok = False
    return (starts_local, ends_local, zone_name, starts_at, ends_at) if ok else None


def _speakers(
    raw: Mapping[str, Any],
    errors: Errors,
    active_speakers: Callable[[list[str]], Collection[str]],
) -> list[str]:
    value = raw.get("speakers")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        errors.add("speakers", 'Give a list of speaker slugs, e.g. ["winston-ma"].')
        return []
    slugs = [clean_line(s)[:80] for s in value if clean_line(s)]
    if not slugs:
        errors.add("speakers", "Choose at least one speaker.")
        return []
    if len(slugs) > MAX_REQUESTED_SPEAKERS:
        errors.add("speakers", f"Choose at most {MAX_REQUESTED_SPEAKERS} speakers.")
        return []
    if len(set(slugs)) != len(slugs):
        errors.add("speakers", "Each speaker can be chosen only once.")
        return []
    known = set(active_speakers(slugs))
    unknown = [s for s in slugs if s not in known]
    if unknown:
        errors.add("speakers", f"Not a speaker we represent: {', '.join(unknown)}.")
    return slugs


@dataclass(frozen=True)
class OfferTerms:
    """A firm offer as validated: the speaker, fee and the event's time and place."""

    speaker_slug: str
    fee: int
    currency: str
    format: str
    timezone: str
    starts_local: datetime
    ends_local: datetime
    starts_at: datetime
    ends_at: datetime
    is_virtual: bool
    venue: str | None
    city: str | None
    country: str | None
    logistics: str | None


def validate_offer(
    raw: Mapping[str, Any], *, now: datetime | None = None
) -> tuple[OfferTerms | None, dict[str, list[str]]]:
    """Check a firm offer (from the organizer's page or a staff form)."""
    now = now or datetime.now(UTC)
    errors = Errors()
    speaker = _choice(raw, "speaker", errors)
    if not speaker:
        errors.add("speaker", "Choose the speaker you make the offer for.")
    fee = _integer(raw, "fee", errors, minimum=0, maximum=MAX_BUDGET)
    if fee is None and "fee" not in errors:
        errors.add("fee", "Give the fee you offer.")
    currency = (_choice(raw, "currency", errors) or "USD").upper()
    if currency not in CURRENCIES:
        errors.add("currency", f"Choose one of: {', '.join(CURRENCIES)}.")
    event_format = _choice(raw, "format", errors)
    if event_format not in SPEAKER_FORMATS:
        errors.add("format", f"Choose one of: {', '.join(SPEAKER_FORMATS)}.")
    is_virtual = _boolean(raw, "virtual", errors)
    venue = _text(raw, "venue", errors, limit=300)
    city = _text(raw, "city", errors)
    logistics = _text(raw, "logistics", errors, limit=2000)
    country = (_choice(raw, "country", errors) or "").upper() or None
    if country is not None and country not in country_names():
        errors.add("country", "Choose a country (two-letter ISO code, e.g. CN).")
    if not is_virtual:
        if not city:
            errors.add("city", "Give the city, or mark the event as virtual.")
        if country is None and "country" not in errors:
            errors.add("country", "Give the country, or mark the event as virtual.")
    times = _event_times(raw, errors, now)
    if errors:
        return None, errors.by_field
    assert times is not None
    assert fee is not None
    assert speaker is not None
    assert event_format is not None
    starts_local, ends_local, zone_name, starts_at, ends_at = times
    return (
        OfferTerms(
            speaker_slug=speaker,
            fee=fee,
            currency=currency,
            format=event_format,
            timezone=zone_name,
            starts_local=starts_local,
            ends_local=ends_local,
            starts_at=starts_at,
            ends_at=ends_at,
            is_virtual=is_virtual,
            venue=venue or None,
            city=city or None,
            country=country,
            logistics=logistics or None,
        ),
        {},
    )
