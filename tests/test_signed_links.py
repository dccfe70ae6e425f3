"""Signed links: a token reads back only under its own salt, in time, with its ids intact."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from bureau.bookings.links import availability_token, read_availability_token
from bureau.calendar.links import blackout_token, read_blackout_token
from bureau.i18n import init_i18n
from bureau.signed_links import NOT_VALID, LinkProblem, read_link, sign_link

EXPIRED = "This link has expired."


@pytest.fixture(autouse=True)
def _app_context() -> Iterator[None]:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "a test secret"
    init_i18n(app)  # what a link's reader is told is said in their language
    with app.app_context():
        yield


def problem(salt: str, token: str, keys: tuple[str, ...], max_age: int = 60) -> str:
    with pytest.raises(LinkProblem) as raised:
        read_link(salt, token, keys, max_age=max_age, expired=EXPIRED)
    return str(raised.value)


def test_a_link_reads_back_its_ids() -> None:
    token = sign_link("test.one", {"offer": 7, "speaker": 3})
    assert read_link("test.one", token, ("offer", "speaker"), max_age=60, expired=EXPIRED) == {
        "offer": 7,
        "speaker": 3,
    }
    assert read_availability_token(availability_token(12, 5)) == (12, 5)
    assert read_blackout_token(blackout_token(9)) == 9


def test_another_salt_a_tampered_token_or_missing_ids_are_not_valid() -> None:
    token = sign_link("test.one", {"speaker": 3})
    assert problem("test.two", token, ("speaker",)) == NOT_VALID
    assert problem("test.one", token[:-2] + "xx", ("speaker",)) == NOT_VALID
    assert problem("test.one", token, ("offer", "speaker")) == NOT_VALID
    assert problem("test.one", sign_link("test.one", {"speaker": "3"}), ("speaker",)) == NOT_VALID  # type: ignore[dict-item]
    with pytest.raises(LinkProblem, match=NOT_VALID):
        read_blackout_token(availability_token(12, 5))


def test_an_old_link_says_it_has_expired() -> None:
    token = sign_link("test.one", {"speaker": 3})
    assert problem("test.one", token, ("speaker",), max_age=-1) == EXPIRED
