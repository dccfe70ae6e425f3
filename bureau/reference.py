"""Reference data every feature may use: currencies, countries, languages, time zones."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

import pycountry

CURRENCIES = ("USD", "EUR", "CNY", "GBP", "HKD", "SGD", "JPY", "AUD", "CAD", "CHF")


@cache
def timezone_names() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def event_languages() -> dict[str, str]:
    """ISO 639-1 codes and names of the languages an event can be held in."""
    return {lang.alpha_2: lang.name for lang in pycountry.languages if hasattr(lang, "alpha_2")}


@cache
def language_name(code: str) -> str:
    """The display name of an ISO 639-1 language code (the code itself when unknown)."""
    found = pycountry.languages.get(alpha_2=code)
    return str(found.name) if found is not None else code


@cache
def country_names() -> dict[str, str]:
    return {c.alpha_2: c.name for c in pycountry.countries}
