"""The one validation of a booking request, shared by the HTML form and the JSON API.

Input is a mapping of raw values (strings from the form, JSON types from the API); the
result is either a ``ValidRequest`` or per-field error messages. Nothing here touches the
database: the caller passes the set of slugs of active speakers it may accept. The checks
of one field at a time (text, numbers, codes, wall times in a zone) are in fields.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from bureau.bookings import fields
from bureau.bookings.fields import Errors
from bureau.bookings.models import MAX_REQUESTED_SPEAKERS
from bureau.catalogue.models import SPEAKER_FORMATS
from bureau.reference import event_languages
from bureau.text import clean_line

MAX_AUDIENCE = 100_000
MAX_BUDGET = 10_000_000

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
            errors.add(name, _("Unknown field."))

    text = {name: fields.text(raw, name, errors, limit) for name, limit in TEXT_LIMITS.items()}
    for name in ("event_name", "organization", "contact_name", "contact_email"):
        if not text[name] and name not in errors:
            errors.add(name, _("This field is required."))

    email = text["contact_email"]
    if email and "contact_email" not in errors:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            errors.add("contact_email", _("Enter a valid email address: %(reason)s", reason=exc))

    phone = text["contact_phone"]
    if phone and not all(ch.isdigit() or ch in "+-()./ " for ch in phone):
        errors.add("contact_phone", _("Use digits, spaces and + - ( ) . / only."))

    is_virtual = fields.boolean(raw, "virtual", errors)
    country = fields.country(raw, errors)
    if not is_virtual:
        if not text["city"] and "city" not in errors:
            errors.add("city", _("Give the city of the event, or mark it as virtual."))
        if country is None and "country" not in errors:
            errors.add("country", _("Give the country of the event, or mark it as virtual."))

    event_format = fields.choice(raw, "format", errors)
    if event_format is None:
        if "format" not in errors:
            errors.add("format", _("Choose a format."))
    elif event_format not in SPEAKER_FORMATS:
        errors.add("format", _("Choose one of: %(codes)s.", codes=", ".join(SPEAKER_FORMATS)))

    language = (fields.choice(raw, "language", errors) or "en").lower()
    if language not in event_languages():
        errors.add("language", _("Give the event's language as a two-letter code, e.g. en or zh."))

    currency = fields.currency(raw, errors)
    audience_size = fields.integer(raw, "audience_size", errors, minimum=1, maximum=MAX_AUDIENCE)
    if audience_size is None and "audience_size" not in errors:
        errors.add("audience_size", _("Give the expected audience size."))
    budget_min = fields.integer(raw, "budget_min", errors, minimum=0, maximum=MAX_BUDGET)
    budget_max = fields.integer(raw, "budget_max", errors, minimum=0, maximum=MAX_BUDGET)
    if budget_min is not None and budget_max is not None and budget_min > budget_max:
        errors.add("budget_max", _("The maximum budget must not be below the minimum."))

    times = fields.event_times(raw, errors, now)
    speakers = _speakers(raw, errors, active_speakers)
    if errors or times is None or audience_size is None or event_format is None:
        return None, errors.by_field  # each of these is None only with its error
    valid = ValidRequest(
        **times,
        speakers=speakers,
        event_name=text["event_name"],
        organization=text["organization"],
        contact_name=text["contact_name"],
        contact_email=email,
        contact_phone=phone or None,
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
    )
    return valid, {}


def _speakers(
    raw: Mapping[str, Any],
    errors: Errors,
    active_speakers: Callable[[list[str]], Collection[str]],
) -> list[str]:
    value = raw.get("speakers")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        errors.add("speakers", _('Give a list of speaker slugs, e.g. ["winston-ma"].'))
        return []
    slugs = [clean_line(s)[:80] for s in value if clean_line(s)]
    if not slugs:
        errors.add("speakers", _("Choose at least one speaker."))
        return []
    if len(slugs) > MAX_REQUESTED_SPEAKERS:
        errors.add(
            "speakers",
            _("Choose at most %(count)s speakers.", count=MAX_REQUESTED_SPEAKERS),
        )
        return []
    if len(set(slugs)) != len(slugs):
        errors.add("speakers", _("Each speaker can be chosen only once."))
        return []
    known = set(active_speakers(slugs))
    unknown = [s for s in slugs if s not in known]
    if unknown:
        errors.add(
            "speakers", _("Not a speaker we represent: %(slugs)s.", slugs=", ".join(unknown))
        )
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
    speaker = fields.choice(raw, "speaker", errors)
    if not speaker:
        errors.add("speaker", _("Choose the speaker you make the offer for."))
    fee = fields.integer(raw, "fee", errors, minimum=0, maximum=MAX_BUDGET)
    if fee is None and "fee" not in errors:
        errors.add("fee", _("Give the fee you offer."))
    currency = fields.currency(raw, errors)
    event_format = fields.choice(raw, "format", errors)
    if event_format not in SPEAKER_FORMATS:
        errors.add("format", _("Choose one of: %(codes)s.", codes=", ".join(SPEAKER_FORMATS)))
    is_virtual = fields.boolean(raw, "virtual", errors)
    venue = fields.text(raw, "venue", errors, limit=300)
    city = fields.text(raw, "city", errors, limit=TEXT_LIMITS["city"])
    logistics = fields.text(raw, "logistics", errors, limit=2000)
    country = fields.country(raw, errors)
    if not is_virtual:
        if not city:
            errors.add("city", _("Give the city, or mark the event as virtual."))
        if country is None and "country" not in errors:
            errors.add("country", _("Give the country, or mark the event as virtual."))
    times = fields.event_times(raw, errors, now)
    if errors or times is None or fee is None or speaker is None or event_format is None:
        return None, errors.by_field  # each of these is None only with its error
    terms = OfferTerms(
        **times,
        speaker_slug=speaker,
        fee=fee,
        currency=currency,
        format=event_format,
        is_virtual=is_virtual,
        venue=venue or None,
        city=city or None,
        country=country,
        logistics=logistics or None,
    )
    return terms, {}
