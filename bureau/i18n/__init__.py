"""The reader's language: which one it is, and speaking in it.

Every page, email and invite is written through gettext (Flask-Babel); the catalogues live in
bureau/translations/<locale>/LC_MESSAGES/messages.po, compiled .mo beside them (committed, so an
install alone has them). Adding a language is one new .po file and one line in LOCALES.

Which language: the switcher's cookie, else on the staff pages the signed-in staff member's
preferred one, else the browser's Accept-Language, else English. A request keeps the language
it was filed in (BookingRequest.locale); speakers and staff have a preferred one: every email
goes out in its reader's language, whoever caused it.

Flask-Babel resolves the locale and its catalogue afresh for every string (three look-ups
through the app context and a locale formatted as text each time); a staff page translates
hundreds. ``resolved()`` does it once per request and locale: it keeps the answer beside
Flask-Babel's own state for the request and uses it while that state still names the same
locale and domain objects. ``force_locale`` (``speaking``) and ``refresh`` put new objects
there, so a locale changed mid-request is seen at the next string.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from babel.support import NullTranslations
from flask import Flask, g, has_app_context, has_request_context, request
from flask_babel import Babel, Domain, force_locale, get_domain, get_locale
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


class Resolved(NamedTuple):
    """The locale in force and its catalogue, as resolved for the request's Babel state."""

    locale: Any  # the babel.Locale object it was resolved for (compared by identity)
    domain: Domain
    code: str  # as in LOCALES
    translations: NullTranslations


_STATE = "_flask_babel"  # where Flask-Babel keeps a request's locale and domain on `g`
_KEY = "bureau_resolved"


def resolved() -> Resolved | None:
    """The locale in force and its translations, resolved once per request and locale
    (None outside an app context)."""
    if not has_app_context():
        return None
    state = g.get(_STATE)
    if state is not None:
        found: Resolved | None = getattr(state, _KEY, None)
        if (
            found is not None
            and found.locale is getattr(state, "babel_locale", None)
            and found.domain is getattr(state, "babel_domain", None)
        ):
            return found
    locale = get_locale()
    domain = get_domain()
    state = g.get(_STATE)
    found = Resolved(
        locale=state.babel_locale,
        domain=domain,
        code=supported(str(locale)) or DEFAULT_LOCALE,
        # Flask-Babel's own lookup, not the subclass's below (which comes here).
        translations=Domain.get_translations(domain),
    )
    setattr(state, _KEY, found)
    return found


def translations() -> NullTranslations:
    """The catalogue of the locale in force (an empty one outside an app context)."""
    found = resolved()
    return found.translations if found else NullTranslations()


class ResolvedDomain(Domain):  # type: ignore[misc]  # Flask-Babel is untyped
    """The app's default domain: `gettext` and lazy strings in Python take the resolved
    catalogue instead of resolving it again."""

    def get_translations(self) -> NullTranslations:
        return translations()


def current_locale() -> str:
    """The code of the locale in force (a page's reader's, or a forced one)."""
    found = resolved()
    return found.code if found else DEFAULT_LOCALE


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
    babel = Babel(
        app,
        locale_selector=select_locale,
        default_translation_directories="translations",
        default_locale=DEFAULT_LOCALE,
    )
    babel.domain_instance = ResolvedDomain(domain=app.extensions["babel"].default_domain)
    # Flask-Babel's template callables, through the resolved catalogue.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.globals.update(
        LOCALES=LOCALES, current_locale=current_locale, html_lang=html_lang
    )
