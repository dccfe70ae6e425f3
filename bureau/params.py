"""Numbers and days from addresses, query strings and hidden fields, read in one place.

A value a column or a date cannot hold is "not found" in a path and a message in a query,
never an OverflowError (SQLite, PostgreSQL's int4/int8) or a day past 9999-12-31 deep in a
query: ``<id:…>`` for row ids in routes, ``row_id``/``whole_number`` for ids and counts in
query strings and forms, ``page_number`` for ``?page=``, ``parse_day`` for dates.
"""

from __future__ import annotations

import re
from datetime import date

from flask import abort, request
from werkzeug.routing import BaseConverter, ValidationError

# Integer columns (ids, versions) are int4 on PostgreSQL; SQLite's own limit is 2**63 - 1.
MAX_INT = 2**31 - 1
MAX_ID = MAX_INT
MAX_PAGE = 1_000_000  # a page past the last is empty; this far is only a way to overflow OFFSET
FIRST_YEAR, LAST_YEAR = 1900, 2999  # a day and a zone can still be added at either end
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class BadParam(ValueError):
    """A value the parameter does not take; ``str()`` is the message for the user."""


class IdConverter(BaseConverter):
    """``<id:name>``: a row id from 1 to MAX_ID in ASCII digits; anything else is a 404."""

    regex = r"[1-9][0-9]{0,9}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValidationError()
        return number

    def to_url(self, value: object) -> str:
        return str(int(str(value)))


def whole_number(raw: str, maximum: int) -> int | None:
    """``raw`` as a number from 0 to ``maximum`` in ASCII digits, else None: ``int()``
    reads '٣' and raises past 4,300 digits, ``str.isdigit()`` says yes to '²'."""
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(maximum)):
        return None
    number = int(raw)
    return number if number <= maximum else None


def row_id(raw: str) -> int | None:
    """A row id (1 to MAX_ID) from a query string or a form, else None."""
    return whole_number(raw, MAX_ID) or None


def page_number() -> int:
    """``?page=``: 1 when absent or not a number (as the pages always did), 404 for a page
    number no list reaches."""
    raw = request.args.get("page", "").strip()
    if not (raw.isascii() and raw.isdigit()):
        return 1
    number = whole_number(raw, MAX_PAGE)
    if number is None:
        abort(404)
    return max(number, 1)


def parse_day(raw: str, first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR) -> date:
    """A day written YYYY-MM-DD within the years given; BadParam saying what to write."""
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError(raw)
        value = date.fromisoformat(raw)
    except ValueError:
        raise BadParam(f"“{raw[:40]}” is not a date; use YYYY-MM-DD, e.g. 2026-03-02.") from None
    if not first_year <= value.year <= last_year:
        raise BadParam(f"choose a date between {first_year} and {last_year}.")
    return value
