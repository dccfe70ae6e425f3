"""Signed, expiring links for speakers: they carry the offer, and nothing else."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from bureau.signed_links import read_link, sign_link

MAX_AGE = 14 * 24 * 3600  # seconds; holds last a week by default
SALT = "bureau.availability"


def availability_token(offer_id: int, speaker_id: int) -> str:
    return sign_link(SALT, {"offer": offer_id, "speaker": speaker_id})


def read_availability_token(token: str) -> tuple[int, int]:
    """(offer id, speaker id) from a link, or LinkProblem saying what is wrong with it."""
    expired = _l("This link has expired. Please contact the bureau.")
    ids = read_link(SALT, token, ("offer", "speaker"), max_age=MAX_AGE, expired=expired)
    return ids["offer"], ids["speaker"]
