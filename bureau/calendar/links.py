"""The speaker's signed, expiring link to their blackout periods (no account needed)."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from bureau.bookings.links import LinkProblem

MAX_AGE = 60 * 24 * 3600  # seconds; staff send a fresh link when it has expired


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="bureau.blackouts")


def blackout_token(speaker_id: int) -> str:
    return _serializer().dumps({"speaker": speaker_id})


def read_blackout_token(token: str) -> int:
    """The speaker id a link carries, or LinkProblem saying what is wrong with it."""
    try:
        data = _serializer().loads(token, max_age=MAX_AGE)
    except SignatureExpired:
        raise LinkProblem("This link has expired. Please ask the bureau for a new one.") from None
    except BadSignature:
        raise LinkProblem("This link is not valid.") from None
    if not isinstance(data, dict) or not isinstance(data.get("speaker"), int):
        raise LinkProblem("This link is not valid.")
    return int(data["speaker"])
