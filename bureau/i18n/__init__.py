"""The reader's language: which one it is, and speaking in it.

Every page, email and invite is written through gettext (Flask-Babel); the catalogues live in
bureau/translations/<locale>/LC_MESSAGES/messages.po, compiled .mo beside them (committed, so an
install alone has them). Adding a language is one new .po file and one line in LOCALES.

Which language: the switcher's cookie, else on the staff pages the signed-in staff member's
preferred one, else the browser's Accept-Language, else English. A request keeps the language
it was filed in (BookingRequest.locale); speakers and staff have a preferred one: every email
goes out in its reader's language, whoever caused it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from flask import Flask, has_request_context, request
from flask_babel import Babel, force_locale, get_locale
from flask_login import current_user

# Code (as stored, in the cookie and in .po folder names) → the language's own name.
LOCALES = {"en": "English", "zh_Hans": "简体中文"}
DEFAULT_LOCALE = "en"
COOKIE = "bureau_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


def supported(code: str | None) -> str | None:
    """The supported locale a language tag means ('zh-CN', 'zh_hans', 'en-GB'), or None."""
    if not code:
        return None
    tag = code.strip().replace("-", "_")
    for known in LOCALES:
        if tag.lower() == known.lower():
            return known
    primary = tag.split("_", 1)[0].lower()
    for known in LOCALES:
        if known.split("_", 1)[0].lower() == primary:
            return known
    return None


def negotiate(tags: Iterable[str]) -> str:
    """The first supported locale in a preference-ordered list of tags, else English."""
    for tag in tags:
        found = supported(tag)
        if found:
            return found
    return DEFAULT_LOCALE


def in_staff_area() -> bool:
    """Whether this request is for a back-office page (everything under /staff)."""
    return request.path == "/staff" or request.path.startswith("/staff/")


def select_locale() -> str:
    """The reader's locale for this request: the switcher's cookie, else (on a staff page) the
    signed-in staff member's preferred language, else Accept-Language."""
    if not has_request_context():
        return DEFAULT_LOCALE
    chosen = supported(request.cookies.get(COOKIE))
    if chosen:
        return chosen
    if in_staff_area():
        preferred = supported(getattr(current_user, "locale", None))
        if preferred and current_user.is_authenticated:
            return preferred
    return negotiate(value for value, _quality in request.accept_languages)


def current_locale() -> str:
    """The code of the locale in force (a page's reader's, or a forced one)."""
    locale = get_locale()
    return supported(str(locale)) or DEFAULT_LOCALE if locale else DEFAULT_LOCALE


def html_lang(code: str | None = None) -> str:
    """The BCP 47 tag for <html lang>: 'en', 'zh-Hans'."""
    return (supported(code) or current_locale()).replace("_", "-")


@contextmanager
def speaking(code: str | None) -> Iterator[None]:
    """Render what follows in ``code``'s language (an email to its reader), English when the
    code is unknown. Works in a worker's app context as in a request."""
    with force_locale(supported(code) or DEFAULT_LOCALE):
        yield


def init_i18n(app: Flask) -> None:
    Babel(
        app,
        locale_selector=select_locale,
        default_translation_directories="translations",
        default_locale=DEFAULT_LOCALE,
    )
    app.jinja_env.globals.update(
        LOCALES=LOCALES, current_locale=current_locale, html_lang=html_lang
    )
