"""Reference data every feature may use: currencies, countries, languages, time zones."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

import pycountry
from babel import Locale

from bureau.i18n import DEFAULT_LOCALE, current_locale

CURRENCIES = ("USD", "EUR", "CNY", "GBP", "HKD", "SGD", "JPY", "AUD", "CAD", "CHF")


@cache
def timezone_names() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def event_languages() -> dict[str, str]:
    """ISO 639-1 codes and names of the languages an event can be held in."""
    return {lang.alpha_2: lang.name for lang in pycountry.languages if hasattr(lang, "alpha_2")}


def language_name(code: str) -> str:
    """The name of an ISO 639-1 language code in the reader's language (the code itself when
    unknown): 'Chinese', '中文'."""
    return _language_name(code, current_locale())


@cache
def _language_name(code: str, locale: str) -> str:
    localized = localized_names(locale)[1].get(code)
    if localized is not None:
        return localized
    found = pycountry.languages.get(alpha_2=code)
    return str(found.name) if found is not None else code


@cache
def country_names() -> dict[str, str]:
    """ISO 3166 codes and English names (what forms check codes against)."""
    return {c.alpha_2: c.name for c in pycountry.countries}


@cache
def localized_names(locale: str) -> tuple[dict[str, str], dict[str, str]]:
    """Country and language names (code → name) in ``locale``: English as pycountry writes
    them; another locale's from Babel (CLDR), pycountry's English where Babel has none."""
    if locale == DEFAULT_LOCALE:
        return country_names(), event_languages()
    cldr = Locale.parse(locale)
    return (
        {code: cldr.territories.get(code, name) for code, name in country_names().items()},
        {code: cldr.languages.get(code, name) for code, name in event_languages().items()},
    )
