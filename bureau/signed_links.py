"""Signed, expiring links for people without an account (a speaker's offer, their blackouts).

A link carries a few ids and nothing else, signed with the secret key under a salt that names
what it is for, so a link made for one page is refused by another's reader.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

NOT_VALID = "This link is not valid."  # the English of not_valid()


def not_valid() -> str:
    """That a link is not valid, in the reader's language."""
    return str(_("This link is not valid."))


class LinkProblem(Exception):
    """A link that cannot be used; its text is for the person who followed it."""


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def sign_link(salt: str, ids: dict[str, int]) -> str:
    """A token carrying ``ids`` for the reader of ``salt``'s links."""
    return _serializer(salt).dumps(ids)


def read_link(
    salt: str, token: str, keys: tuple[str, ...], *, max_age: int, expired: Any
) -> dict[str, int]:
    """The ids under ``keys`` a token signed for ``salt`` carries, or LinkProblem: with the
    words ``expired`` once it is older than ``max_age`` seconds, else that it is not valid."""
    try:
        data = _serializer(salt).loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkProblem(str(expired)) from None
    except BadSignature:
        raise LinkProblem(not_valid()) from None
    if not isinstance(data, dict) or not all(isinstance(data.get(key), int) for key in keys):
        raise LinkProblem(not_valid())
    return {key: int(data[key]) for key in keys}
