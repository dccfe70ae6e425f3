"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json: the paths here,
the component schemas in bureau/openapi_schemas.py.

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
from bureau.catalogue.api import MAX_PER_PAGE, MAX_QUERY
from bureau.catalogue.models import SPEAKER_FORMATS
from bureau.catalogue.queries import FEE_BANDS
from bureau.openapi_schemas import SLUG_PATTERN, TOKEN_PATTERN, component_schemas, ref
from bureau.params import MAX_PAGE

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


@cache
def document() -> dict[str, Any]:
    error = ref("Errors")
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
            "description": (
                "The speaker catalogue and booking requests of the bureau. Words (error "
                "messages, labels, next steps) come in the Accept-Language of the call, "
                "English or Simplified Chinese (zh-CN), else English; codes stay codes. A "
                "request keeps the language it was filed in for its emails."
            ),
        },
        "paths": {
            "/api/v1/speakers": {
                "get": {
                    "operationId": "listSpeakers",
                    "summary": "Search the speaker catalogue",
                    "parameters": list_params,
                    "responses": {
                        "200": _json(ref("SpeakerPage"), "A page of speakers"),
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
                        "200": _json(ref("SpeakerProfile"), "The speaker"),
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
                        "content": {"application/json": {"schema": ref("RequestInput")}},
                    },
                    "responses": {
                        "201": _json(ref("Created"), "Stored; the bureau will answer"),
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
                        "200": _json(ref("RequestStatus"), "The request's status"),
                        "404": _json(error, "No request has this token"),
                        "400": not_understood,
                        "429": too_many,
                    },
                }
            },
        },
        "components": {"schemas": component_schemas()},
    }


@bp.get("/openapi.json")
def openapi_json() -> ResponseReturnValue:
    return jsonify(document())
