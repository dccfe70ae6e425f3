"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

Built from the same constants the validation uses (fields, limits, formats, currencies), so
the document cannot drift from what the API accepts; tests/test_openapi.py runs Schemathesis
against it, which checks every response against the document.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from bureau.bookings.api import MAX_IDEMPOTENCY_KEY, MAX_JSON_DEPTH
from bureau.bookings.models import MAX_REQUESTED_SPEAKERS
from bureau.bookings.states import Status
from bureau.bookings.validation import MAX_AUDIENCE, MAX_BUDGET, TEXT_LIMITS
from bureau.catalogue.api import MAX_PER_PAGE, MAX_QUERY
from bureau.catalogue.models import SPEAKER_FORMATS
from bureau.catalogue.queries import FEE_BANDS
from bureau.params import MAX_PAGE
from bureau.reference import CURRENCIES

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

LOCAL_TIME = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$",
    "description": "Local wall-clock time in `timezone`, e.g. 2027-03-10T09:00",
    "examples": ["2027-03-10T09:00"],
}
NULLABLE_STRING = {"type": ["string", "null"]}
SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{16,128}$"  # noqa: S105 - a regular expression


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _text(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": TEXT_LIMITS[name], **extra}


def _request_input() -> dict[str, Any]:
    optional_text = {
        name: {"type": ["string", "null"], "maxLength": TEXT_LIMITS[name]}
        for name in ("contact_phone", "city", "audience", "message")
    }
    budget = {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_BUDGET}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [
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
        "properties": {
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
    }


def _speaker(full: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "slug": {"type": "string"},
        "name": {"type": "string"},
        "headline": {"type": "string"},
        "topics": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["slug", "name"],
                "properties": {"slug": {"type": "string"}, "name": {"type": "string"}},
            },
        },
        "languages": {"type": "array", "items": {"type": "string"}},
        "formats": {"type": "array", "items": {"type": "string", "enum": sorted(SPEAKER_FORMATS)}},
        "home": {
            "type": "object",
            "required": ["city", "country", "timezone"],
            "properties": {
                "city": {"type": "string"},
                "country": {"type": "string"},
                "timezone": {"type": "string"},
            },
        },
        "fee_band": {
            "type": "object",
            "required": ["min", "max", "currency", "is_example"],
            "properties": {
                "min": {"type": "integer"},
                "max": {"type": "integer"},
                "currency": {"type": "string"},
                "is_example": {"type": "boolean"},
            },
        },
        "url": {"type": "string", "format": "uri"},
        "request_url": {"type": "string", "format": "uri"},
    }
    if full:
        properties["bio"] = {"type": "string"}
    return {"type": "object", "required": sorted(properties), "properties": properties}


def _status() -> dict[str, Any]:
    """GET /api/v1/requests/<token>: what the organizer's status page shows (machine fields
    beside the words a person reads; times in words are in the event's zone, named)."""
    text = {"type": "string"}
    words = {"type": "string", "description": "in words, as the status page says it"}
    money = {"type": "integer", "minimum": 0}
    speaker = {
        "type": "object",
        "required": ["slug", "name"],
        "properties": {"slug": text, "name": text, "url": {"type": "string", "format": "uri"}},
    }
    event = {
        "type": "object",
        "required": ["name", "organization", "format", "virtual", "timezone", "starts_at"],
        "properties": {
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
    }
    shortlist_entry = {
        "type": "object",
        "required": ["speaker", "fee_quote", "currency", "fee_text", "home_city", "note"],
        "properties": {
            "speaker": speaker,
            "headline": text,
            "fee_quote": money,
            "currency": text,
            "fee_text": words,
            "home_city": text,
            "note": {"type": ["string", "null"], "description": "the agent's note"},
        },
    }
    offer = {
        "type": ["object", "null"],
        "description": "the latest firm offer; null before one is made",
        "required": ["speaker", "fee", "currency", "format", "timezone", "starts_at", "when"],
        "properties": {
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
    }
    contract = {
        "type": ["object", "null"],
        "description": "the terms the organizer agrees to; null before the contract",
        "required": ["fee", "currency", "deposit_amount", "deposit_due", "travel_terms"],
        "properties": {
            "fee": money,
            "currency": text,
            "fee_text": words,
            "deposit_amount": money,
            "deposit_text": words,
            "deposit_due": {"type": "string", "format": "date"},
            "deposit_due_text": words,
            "travel_terms": NULLABLE_STRING,
        },
    }
    deadline = {
        "type": "object",
        "required": ["kind", "label", "at", "text"],
        "properties": {
            "kind": {"type": "string", "enum": ["speaker_answer", "hold_expires", "deposit_due"]},
            "label": words,
            "at": {
                "type": "string",
                "description": "ISO 8601: a time with the event zone's offset, or a date",
            },
            "text": words,
        },
    }
    return {
        "type": "object",
        "required": [
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
        "properties": {
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
            "closed_reason": NULLABLE_STRING,
            "timeline": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["at"],
                    "properties": {
                        "at": {"type": "string", "description": "ISO 8601, UTC"},
                        "at_local": {"type": "string", "description": "in the event's zone"},
                        "when": words,
                        "message": NULLABLE_STRING,
                    },
                },
            },
            "feedback": {
                "description": "the organizer's rating and comments once the booking is "
                "completed and they sent them on the status page; null before",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["rating", "comments", "at"],
                        "properties": {
                            "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                            "comments": NULLABLE_STRING,
                            "at": {"type": "string", "format": "date-time"},
                        },
                    },
                ],
            },
        },
    }


ERRORS = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "object",
            "description": "messages by field; `_` for the request as a whole",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        }
    },
}


@cache
def document() -> dict[str, Any]:
    error = _ref("Errors")
    slug = {
        "name": "slug",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": SLUG_PATTERN},
    }
    token = {
        "name": "token",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": TOKEN_PATTERN},
    }
    # NUL is refused (400) everywhere before the view: it has no use in a search.
    text_query = {"type": "string", "maxLength": MAX_QUERY, "pattern": "^[^\\u0000]*$"}
    list_params = [
        {"name": "q", "in": "query", "schema": text_query, "description": "full-text search"},
        {"name": "topic", "in": "query", "schema": text_query, "description": "a topic's slug"},
        {"name": "language", "in": "query", "schema": text_query},
        {
            "name": "format",
            "in": "query",
            "schema": {"type": "string", "enum": ["", *sorted(SPEAKER_FORMATS)]},
            "description": "empty: any format",
        },
        {
            "name": "fee",
            "in": "query",
            "schema": {"type": "string", "enum": ["", *sorted(FEE_BANDS)]},
            "description": "a fee band; empty: any fee",
        },
        {
            "name": "page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        },
        {
            "name": "per_page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        },
    ]
    too_many = _json(error, "Rate limited; Retry-After says when to try again")
    not_understood = _json(error, "Not understood (e.g. a NUL character in the address)")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bureau API",
            "version": "1",
            "description": "The speaker catalogue and booking requests of the bureau.",
        },
        "paths": {
            "/api/v1/speakers": {
                "get": {
                    "operationId": "listSpeakers",
                    "summary": "Search the speaker catalogue",
                    "parameters": list_params,
                    "responses": {
                        "200": _json(_ref("SpeakerPage"), "A page of speakers"),
                        "422": _json(error, "A filter or page out of range; nothing listed"),
                        "400": not_understood,
                        "429": too_many,
                    },
                }
            },
            "/api/v1/speakers/{slug}": {
                "get": {
                    "operationId": "getSpeaker",
                    "summary": "One speaker's profile",
                    "parameters": [slug],
                    "responses": {
                        "200": _json(_ref("SpeakerProfile"), "The speaker"),
                        "404": _json(error, "No active speaker has this slug"),
                        "400": not_understood,
                        "429": too_many,
                    },
                }
            },
            "/api/v1/requests": {
                "post": {
                    "operationId": "createRequest",
                    "summary": "File a booking request",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY},
                            "description": "The same key and body replay the first answer",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("RequestInput")}},
                    },
                    "responses": {
                        "201": _json(_ref("Created"), "Stored; the bureau will answer"),
                        "409": _json(error, "Idempotency-Key reused with a different body"),
                        "413": _json(error, "Body larger than 1 MiB"),
                        "422": _json(error, "Invalid input; nothing was stored"),
                        "400": _json(
                            error, f"JSON nested deeper than {MAX_JSON_DEPTH} levels, or a NUL"
                        ),
                        "429": too_many,
                    },
                }
            },
            "/api/v1/requests/{token}": {
                "get": {
                    "operationId": "getRequest",
                    "summary": "A request's status, as its organizer sees it",
                    "parameters": [token],
                    "responses": {
                        "200": _json(_ref("RequestStatus"), "The request's status"),
                        "404": _json(error, "No request has this token"),
                        "400": not_understood,
                        "429": too_many,
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "RequestInput": _request_input(),
                "Created": {
                    "type": "object",
                    "required": ["reference", "status", "status_url"],
                    "properties": {
                        "reference": {"type": "string"},
                        "status": {"type": "string"},
                        "status_url": {"type": "string", "format": "uri"},
                    },
                },
                "RequestStatus": _status(),
                "SpeakerSummary": _speaker(full=False),
                "SpeakerProfile": _speaker(full=True),
                "SpeakerPage": {
                    "type": "object",
                    "required": ["speakers", "page", "pages", "total"],
                    "properties": {
                        "speakers": {"type": "array", "items": _ref("SpeakerSummary")},
                        "page": {"type": "integer"},
                        "pages": {"type": "integer"},
                        "total": {"type": "integer"},
                    },
                },
                "Errors": ERRORS,
            }
        },
    }


@bp.get("/openapi.json")
def openapi_json() -> ResponseReturnValue:
    return jsonify(document())
