"""The component schemas of the OpenAPI document (bureau/openapi.py holds the paths).

Built from the same constants the validation uses (fields, limits, formats, currencies), so
the schemas cannot drift from what the API accepts or answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bureau.billing.services import InvoiceStatus
from bureau.bookings.models import MAX_REQUESTED_SPEAKERS
from bureau.bookings.states import Status
from bureau.bookings.validation import MAX_AUDIENCE, MAX_BUDGET, TEXT_LIMITS
from bureau.catalogue.models import SPEAKER_FORMATS
from bureau.reference import CURRENCIES

LOCAL_TIME = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$",
    "description": "Local wall-clock time in `timezone`, e.g. 2027-03-10T09:00",
    "examples": ["2027-03-10T09:00"],
}
NULLABLE_STRING = {"type": ["string", "null"]}
SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{16,128}$"  # noqa: S105 - a regular expression


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def an_object(
    required: Iterable[str], properties: dict[str, Any], *, nullable: bool = False, **extra: Any
) -> dict[str, Any]:
    """An object with these properties, the named ones required; `extra` keywords (a
    description, additionalProperties) go in as they are. Nullable: null is an answer too."""
    return {
        "type": ["object", "null"] if nullable else "object",
        **extra,
        "required": list(required),
        "properties": properties,
    }


def _text(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": TEXT_LIMITS[name], **extra}


def _request_input() -> dict[str, Any]:
    optional_text = {
        name: {"type": ["string", "null"], "maxLength": TEXT_LIMITS[name]}
        for name in ("contact_phone", "city", "audience", "message")
    }
    budget = {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_BUDGET}
    return an_object(
        [
            "speakers",
            "event_name",
            "organization",
            "contact_name",
            "contact_email",
            "starts_at",
            "ends_at",
            "timezone",
            "format",
            "audience_size",
        ],
        {
            "speakers": {
                "type": "array",
                "items": {
                    "type": "string",
                    "pattern": SLUG_PATTERN,
                    "description": "a speaker's slug",
                },
                "minItems": 1,
                "maxItems": MAX_REQUESTED_SPEAKERS,
            },
            "event_name": _text("event_name", minLength=1),
            "organization": _text("organization", minLength=1),
            "contact_name": _text("contact_name", minLength=1),
            "contact_email": _text("contact_email", format="email"),
            "starts_at": LOCAL_TIME,
            "ends_at": LOCAL_TIME,
            "timezone": {"type": "string", "description": "IANA zone, e.g. Asia/Shanghai"},
            "format": {"type": "string", "enum": sorted(SPEAKER_FORMATS)},
            "country": {
                "type": ["string", "null"],
                "description": "ISO 3166-1 alpha-2; required unless virtual",
            },
            "virtual": {"type": "boolean", "default": False},
            "audience_size": {"type": "integer", "minimum": 1, "maximum": MAX_AUDIENCE},
            "budget_min": budget,
            "budget_max": budget,
            "currency": {"type": "string", "enum": list(CURRENCIES), "default": "USD"},
            "language": {"type": "string", "description": "ISO 639-1 code", "default": "en"},
            **optional_text,
        },
        additionalProperties=False,
    )


def _speaker(full: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "slug": {"type": "string"},
        "name": {"type": "string"},
        "headline": {"type": "string"},
        "name_zh": {**NULLABLE_STRING, "description": "the name in Chinese, where written"},
        "headline_zh": {**NULLABLE_STRING, "description": "the headline in Chinese, where written"},
        "topics": {
            "type": "array",
            "items": an_object(
                ["slug", "name", "name_zh"],
                {
                    "slug": {"type": "string"},
                    "name": {"type": "string"},
                    "name_zh": {
                        **NULLABLE_STRING,
                        "description": "the name in Chinese, where written",
                    },
                },
            ),
        },
        "languages": {"type": "array", "items": {"type": "string"}},
        "formats": {"type": "array", "items": {"type": "string", "enum": sorted(SPEAKER_FORMATS)}},
        "home": an_object(
            ["city", "city_zh", "country", "timezone"],
            {
                "city": {"type": "string"},
                "city_zh": {**NULLABLE_STRING, "description": "the city in Chinese, where written"},
                "country": {"type": "string"},
                "timezone": {"type": "string"},
            },
        ),
        "fee_band": an_object(
            ["min", "max", "currency", "is_example"],
            {
                "min": {"type": "integer"},
                "max": {"type": "integer"},
                "currency": {"type": "string"},
                "is_example": {"type": "boolean"},
            },
        ),
        "url": {"type": "string", "format": "uri"},
        "request_url": {"type": "string", "format": "uri"},
    }
    if full:
        properties["bio"] = {"type": "string"}
        properties["bio_zh"] = {**NULLABLE_STRING, "description": "the biography in Chinese"}
    return an_object(sorted(properties), properties)


def _status() -> dict[str, Any]:
    """GET /api/v1/requests/<token>: what the organizer's status page shows (machine fields
    beside the words a person reads; times in words are in the event's zone, named)."""
    text = {"type": "string"}
    words = {"type": "string", "description": "in words, as the status page says it"}
    money = {"type": "integer", "minimum": 0}
    speaker = an_object(
        ["slug", "name"],
        {"slug": text, "name": text, "url": {"type": "string", "format": "uri"}},
    )
    event = an_object(
        ["name", "organization", "format", "virtual", "timezone", "starts_at"],
        {
            "name": text,
            "organization": text,
            "format": text,
            "format_label": words,
            "virtual": {"type": "boolean"},
            "city": NULLABLE_STRING,
            "country": NULLABLE_STRING,
            "timezone": text,
            "starts_at": LOCAL_TIME,
            "ends_at": LOCAL_TIME,
            "when": words,
            "where": words,
            "audience_size": {"type": "integer"},
            "language": text,
        },
    )
    shortlist_entry = an_object(
        ["speaker", "fee_quote", "currency", "fee_text", "home_city", "note"],
        {
            "speaker": speaker,
            "headline": text,
            "fee_quote": money,
            "currency": text,
            "fee_text": words,
            "home_city": text,
            "note": {"type": ["string", "null"], "description": "the agent's note"},
        },
    )
    offer = an_object(
        ["speaker", "fee", "currency", "format", "timezone", "starts_at", "when"],
        {
            "speaker": speaker,
            "fee": money,
            "currency": text,
            "fee_text": words,
            "format": text,
            "format_label": words,
            "timezone": text,
            "starts_at": LOCAL_TIME,
            "ends_at": LOCAL_TIME,
            "when": words,
            "virtual": {"type": "boolean"},
            "venue": NULLABLE_STRING,
            "city": NULLABLE_STRING,
            "country": NULLABLE_STRING,
            "where": words,
            "logistics": NULLABLE_STRING,
            "speaker_answer": {"type": ["string", "null"], "enum": ["accepted", "declined", None]},
            "speaker_answer_text": NULLABLE_STRING,
        },
        nullable=True,
        description="the latest firm offer; null before one is made",
    )
    contract = an_object(
        ["fee", "currency", "deposit_amount", "deposit_due", "travel_terms"],
        {
            "fee": money,
            "currency": text,
            "fee_text": words,
            "deposit_amount": money,
            "deposit_text": words,
            "deposit_due": {"type": "string", "format": "date"},
            "deposit_due_text": words,
            "travel_terms": NULLABLE_STRING,
        },
        nullable=True,
        description="the terms the organizer agrees to; null before the contract",
    )
    deadline = an_object(
        ["kind", "label", "at", "text"],
        {
            "kind": {"type": "string", "enum": ["speaker_answer", "hold_expires", "deposit_due"]},
            "label": words,
            "at": {
                "type": "string",
                "description": "ISO 8601: a time with the event zone's offset, or a date",
            },
            "text": words,
        },
    )
    invoice = an_object(
        ["number", "title", "total_text", "balance_text", "status", "due", "url", "pdf_url"],
        {
            "number": {"type": "string", "description": "INV-<year>-<five digits>"},
            "title": words,
            "total_text": words,
            "balance_text": words,
            "status": {
                "type": "string",
                "enum": [s.value for s in InvoiceStatus],
            },
            "status_text": words,
            "due": {"type": "string", "format": "date"},
            "due_text": words,
            "url": {"type": "string", "description": "the invoice as a page, by this link only"},
            "pdf_url": {"type": "string", "description": "its PDF, by this link only"},
        },
    )
    timeline_entry = an_object(
        ["at"],
        {
            "at": {"type": "string", "description": "ISO 8601, UTC"},
            "at_local": {"type": "string", "description": "in the event's zone"},
            "when": words,
            "message": NULLABLE_STRING,
        },
    )
    feedback = an_object(
        ["rating", "comments", "at"],
        {
            "rating": {"type": "integer", "minimum": 1, "maximum": 5},
            "comments": NULLABLE_STRING,
            "at": {"type": "string", "format": "date-time"},
        },
    )
    return an_object(
        [
            "reference",
            "status",
            "status_label",
            "next_step",
            "event",
            "speakers",
            "shortlist",
            "offer",
            "contract",
            "deadlines",
            "timeline",
        ],
        {
            "reference": text,
            "status": {"type": "string", "enum": [s.value for s in Status]},
            "status_label": words,
            "next_step": {
                "type": ["string", "null"],
                "description": "what happens next, and by when, in words",
            },
            "timezone": {"type": "string", "description": "the event's zone: the page's times"},
            "timezone_label": words,
            "event": event,
            "speakers": {"type": "array", "items": speaker},
            "shortlist": {"type": "array", "items": shortlist_entry},
            "offer": offer,
            "contract": contract,
            "deadlines": {"type": "array", "items": deadline},
            "invoices": {"type": "array", "items": invoice},
            "closed_reason": NULLABLE_STRING,
            "timeline": {"type": "array", "items": timeline_entry},
            "feedback": {
                "description": "the organizer's rating and comments once the booking is "
                "completed and they sent them on the status page; null before",
                "oneOf": [{"type": "null"}, feedback],
            },
        },
    )


ERRORS = an_object(
    ["errors"],
    {
        "errors": {
            "type": "object",
            "description": "messages by field; `_` for the request as a whole",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        }
    },
)


def component_schemas() -> dict[str, Any]:
    """Every schema the paths name with ref()."""
    return {
        "RequestInput": _request_input(),
        "Created": an_object(
            ["reference", "status", "status_url"],
            {
                "reference": {"type": "string"},
                "status": {"type": "string"},
                "status_url": {"type": "string", "format": "uri"},
            },
        ),
        "RequestStatus": _status(),
        "SpeakerSummary": _speaker(full=False),
        "SpeakerProfile": _speaker(full=True),
        "SpeakerPage": an_object(
            ["speakers", "page", "pages", "total"],
            {
                "speakers": {"type": "array", "items": ref("SpeakerSummary")},
                "page": {"type": "integer"},
                "pages": {"type": "integer"},
                "total": {"type": "integer"},
            },
        ),
        "Errors": ERRORS,
    }
