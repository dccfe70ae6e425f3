"""The speaker's signed, expiring link to their blackout periods (no account needed)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from bureau.signed_links import read_link, sign_link

MAX_AGE = 60 * 24 * 3600  # seconds; staff send a fresh link when it has expired
SALT = "bureau.blackouts"


def blackout_token(speaker_id: int) -> str:
    return sign_link(SALT, {"speaker": speaker_id})


def read_blackout_token(token: str) -> int:
    """The speaker id a link carries, or LinkProblem saying what is wrong with it."""
    expired = _l("This link has expired. Please ask the bureau for a new one.")
    return read_link(SALT, token, ("speaker",), max_age=MAX_AGE, expired=expired)["speaker"]
