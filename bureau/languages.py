"""Display names for ISO 639-1 language codes."""

from __future__ import annotations

from functools import cache

import pycountry


@cache
def language_name(code: str) -> str:
    found = pycountry.languages.get(alpha_2=code)
    return str(found.name) if found is not None else code
