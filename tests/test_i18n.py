"""The reader's language: negotiation, the switcher, and the catalogue checks."""

from __future__ import annotations

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext, lazy_gettext

from bureau.i18n import current_locale, negotiate, speaking, supported
from bureau.i18n.unmarked import in_module, in_template


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("zh-CN", "zh_Hans"), ("zh", "zh_Hans"), ("zh-Hans", "zh_Hans"), ("zh_hans", "zh_Hans"),
     ("en-GB", "en"), ("EN", "en"), ("fr", None), ("", None), (None, None), ("-", None)],
)  # fmt: skip
def test_a_language_tag_means_a_supported_locale(tag: str | None, expected: str | None) -> None:
    assert supported(tag) == expected


def test_the_first_supported_language_of_the_browser_wins() -> None:
    assert negotiate(["fr-FR", "zh-TW", "en"]) == "zh_Hans"
    assert negotiate(["fr", "de"]) == "en"


def test_pages_speak_the_browser_language_until_the_switcher_says_otherwise(
    client: FlaskClient,
) -> None:
    chinese = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
    page = client.get("/", headers=chinese)
    assert '<html lang="zh-Hans">' in page.text
    assert "预约演讲者" in page.text
    switched = client.get("/language/en?next=/speakers", headers=chinese)
    assert switched.status_code == 303
    assert switched.headers["Location"] == "/speakers"
    page = client.get("/", headers=chinese)
    assert '<html lang="en">' in page.text
    assert "Request a speaker" in page.text


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_the_switcher_goes_back_only_within_the_site(client: FlaskClient, target: str) -> None:
    answer = client.get("/language/zh_Hans", query_string={"next": target})
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/"


def test_an_unknown_language_is_not_found(client: FlaskClient) -> None:
    assert client.get("/language/xx").status_code == 404


def test_unmarked_text_in_a_template_is_found_and_marked_text_passes() -> None:
    source = (
        '<p title="Shown tip">Plain words</p>\n'
        '<p>{{ _("Marked") }} {% trans %}Also marked{% endtrans %} {{ value }}</p>\n'
        '<a class="btn-primary" href="{{ url }}">{{ _("Go") }}</a> BR-2027-00042\n'
    )
    found = [(item.line, item.text) for item in in_template(source, "t.html")]
    assert found == [(1, "Shown tip"), (1, "Plain words")]


def test_unmarked_text_in_python_is_found_where_a_reader_sees_it() -> None:
    source = (
        "flash('Saved the speaker.')\n"
        "flash(_('Saved.'))\n"
        "name = StringField('Full name', validators=[DataRequired(message='Say it')])\n"
        "title = StringField(_l('Title'))\n"
        "log.info('not for readers', extra={'message': 'x'})\n"
    )
    found = [(item.line, item.text) for item in in_module(source, "m.py")]
    assert found == [(1, "Saved the speaker."), (3, "Full name"), (3, "Say it")]


def test_every_shown_text_is_marked_and_every_message_translated() -> None:
    """What `bureau i18n check` (and CI) refuses: text a reader sees that is not marked for
    translation, a Chinese message missing, empty or fuzzy, a .mo that is not its .po."""
    from bureau.i18n import catalogues, unmarked

    assert [str(item) for item in unmarked.everything()] == []
    assert catalogues.check().problems == []


def test_a_locale_forced_mid_request_is_spoken_until_it_ends(app: Flask) -> None:
    """The catalogue is resolved once per request and locale: `speaking` (an email in its
    reader's language inside a staff request) still switches it, and back, for templates,
    Python's gettext, lazy strings and the locale code alike."""

    def said() -> tuple[str, str, str, str]:
        shown = render_template_string("{{ _('Requests') }}")
        return shown, gettext("Requests"), str(lazy), current_locale()

    lazy = lazy_gettext("Requests")
    chinese = ("预约请求", "预约请求", "预约请求", "zh_Hans")
    english = ("Requests", "Requests", "Requests", "en")
    with app.test_request_context("/staff/", headers={"Accept-Language": "zh-CN"}):
        assert said() == chinese
        with speaking("en"):
            assert said() == english
            with speaking("zh_Hans"):
                assert said() == chinese
            assert said() == english
        assert said() == chinese
        with force_locale("en"):
            assert said() == english
        assert said() == chinese
    with app.test_request_context("/staff/"):  # a new request resolves its own reader's
        assert said() == english
    with app.app_context():  # a worker's: English unless told
        assert said() == english
        with speaking("zh_Hans"):
            assert said() == chinese
