"""Signed, expiring links for speakers: they carry the offer, and nothing else."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

MAX_AGE = 14 * 24 * 3600  # seconds; holds last a week by default


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="bureau.availability")


def availability_token(offer_id: int, speaker_id: int) -> str:
    return _serializer().dumps({"offer": offer_id, "speaker": speaker_id})


class LinkProblem(Exception):
    pass


def read_availability_token(token: str) -> tuple[int, int]:
    """(offer id, speaker id) from a link, or LinkProblem saying what is wrong with it."""
    try:
        data = _serializer().loads(token, max_age=MAX_AGE)
    except SignatureExpired:
        raise LinkProblem("This link has expired. Please contact the bureau.") from None
    except BadSignature:
        raise LinkProblem("This link is not valid.") from None
    if not isinstance(data, dict) or not {"offer", "speaker"} <= set(data):
        raise LinkProblem("This link is not valid.")
    return int(data["offer"]), int(data["speaker"])
