"""JSON API for booking requests: submit (with Idempotency-Key) and read a request's status."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from bureau.bookings.models import BookingRequest
from bureau.bookings.progress import organizer_status
from bureau.bookings.services import (
    ActiveSpeakers,
    IdempotencyConflict,
    find_by_token,
    fingerprint,
    submit_request,
)
from bureau.bookings.validation import validate_request
from bureau.extensions import db
from bureau.urls import public_url

bp = Blueprint("bookings_api", __name__, url_prefix="/api/v1")
MAX_IDEMPOTENCY_KEY = 200
MAX_JSON_DEPTH = 16  # the deepest a request goes is 2: {"speakers": ["…"]}


class TooDeep(ValueError):
    pass


def _errors(errors: dict[str, list[str]], status: int) -> ResponseReturnValue:
    return jsonify({"errors": errors}), status


def json_body() -> Any:
    """The body as JSON, None when it is none (not JSON, or invalid), TooDeep when
    nested past MAX_JSON_DEPTH. ``get_json(silent=True)`` swallows only ValueError: a
    deeply nested body raised RecursionError from the decoder, a 500. The body's size is
    MAX_CONTENT_LENGTH's (a JSON 413)."""
    if not request.is_json:
        return None
    try:
        value = json.loads(request.get_data(cache=True))
    except RecursionError:
        raise TooDeep() from None
    except ValueError:
        return None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # no recursion of our own either
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth > MAX_JSON_DEPTH:
                raise TooDeep()
            stack.extend((child, depth + 1) for child in item)
    return value


@bp.post("/requests")
def create_request() -> ResponseReturnValue:
    try:
        raw = json_body()
    except TooDeep:
        return _errors(
            {"body": [_("Nest the JSON at most %(depth)s levels deep.", depth=MAX_JSON_DEPTH)]},
            400,
        )
    if not isinstance(raw, dict):
        return _errors({"body": [_("Send a JSON object (Content-Type: application/json).")]}, 422)
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key is not None and (len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable()):
        return _errors(
            {
                "Idempotency-Key": [
                    _(
                        "Use at most %(count)s printable characters.",
                        count=MAX_IDEMPOTENCY_KEY,
                    )
                ]
            },
            422,
        )
    active_speakers = ActiveSpeakers(db.session)
    valid, errors = validate_request(raw, active_speakers=active_speakers)
    if valid is None:
        return _errors(errors, 422)
    try:
        result = submit_request(
            db.session,
            valid,
            source="api",
            idempotency_key=f"api:{key}" if key else None,
            request_fingerprint=fingerprint(raw) if key else None,
            speakers=active_speakers.rows,
        )
    except IdempotencyConflict:
        return _errors(
            {"Idempotency-Key": [_("This key was already used for a different request.")]}, 409
        )
    booking = result.booking
    body = {
        "reference": booking.reference,
        "status": booking.status,
        "status_url": public_url("bookings.status", token=booking.tracking_token),
    }
    headers = {"Location": body["status_url"]}
    if not result.created:
        headers["Idempotent-Replayed"] = "true"
    return jsonify(body), 201, headers


def status_json(booking: BookingRequest) -> dict[str, Any]:
    """The status page as JSON (bookings/progress.py builds both)."""
    return {**organizer_status(db.session, booking), "feedback": _feedback_json(booking)}


def _feedback_json(booking: BookingRequest) -> dict[str, Any] | None:
    given = booking.organizer_feedback
    if given is None:
        return None
    return {"rating": given.rating, "comments": given.comments, "at": given.created_at.isoformat()}


@bp.get("/requests/<token>")
def read_request(token: str) -> ResponseReturnValue:
    booking = find_by_token(db.session, token)
    if booking is None:
        abort(404)
    return jsonify(status_json(booking)), 200, {"Cache-Control": "no-store"}
