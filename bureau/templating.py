"""Jinja filters shared by pages and emails.

Dates, times, zones, money, countries and languages are written the reader's way: English as
the site always wrote them, another locale by Babel's (CLDR) patterns and names.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time, get_timezone_location
from babel.numbers import format_currency, format_decimal
from flask import Flask, has_request_context
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape

from bureau.billing.money import format_money
from bureau.bookings.states import staff_label
from bureau.calendar import busy
from bureau.calendar.busy import place_name
from bureau.describe import (
    action_label,
    contract_status_label,
    job_kind_label,
    job_state_label,
    partstat_label,
)
from bureau.i18n import DEFAULT_LOCALE, current_locale
from bureau.mail.recipients import mail_name
from bureau.reference import language_name, localized_names


def _babel_locale() -> str | None:
    """The reader's locale where it is not English (None: write as the site always did)."""
    code = current_locale()
    return None if code == DEFAULT_LOCALE else code


def money(amount: int | None, currency: str = "") -> str:
    """'USD 15,000' in English; as the locale writes it elsewhere ('US$15,000', '¥15,000')."""
    if amount is None:
        return "—"
    locale = _babel_locale()
    if locale is None:
        return f"{currency} {amount:,}".strip()
    if not currency:
        return format_decimal(amount, locale=locale)
    # Whole amounts (fee bands) without the currency's cents.
    return format_currency(amount, currency, "¤#,##0", locale=locale, currency_digits=False)


def long_date(value: date | datetime) -> str:
    locale = _babel_locale()
    return f"{value:%A %-d %B %Y}" if locale is None else format_date(value, "full", locale)


def _day_and_clock(value: datetime, skeleton: str, locale: str) -> str:
    # tzinfo: the value's own wall time (Babel would show an aware one in UTC; a naive one it
    # takes as it is).
    day = format_skeleton(skeleton, value, locale=locale, tzinfo=value.tzinfo)
    clock = format_time(value, "HH:mm", locale=locale, tzinfo=value.tzinfo)
    return str(Locale.parse(locale).datetime_formats["medium"]).format(clock, day)


def local_time(value: datetime) -> str:
    locale = _babel_locale()
    if locale is None:
        return f"{value:%a %-d %b %Y, %H:%M}"
    return _day_and_clock(value, "yMMMEd", locale)


def short_time(value: datetime) -> str:
    """A wall time without the weekday: '05 Mar 2027 14:00' ('2027年3月5日 14:00')."""
    locale = _babel_locale()
    if locale is None:
        return f"{value:%d %b %Y %H:%M}"
    return _day_and_clock(value, "yMMMd", locale)


def _day(value: date, english: str, skeleton: str) -> str:
    """A day in the reader's words: English by its strftime pattern (kept as the emails and
    pages have always written it), other languages by the CLDR skeleton."""
    locale = _babel_locale()
    return (
        f"{value:{english}}" if locale is None else format_skeleton(skeleton, value, locale=locale)
    )


def short_date(value: date) -> str:
    """'05 Mar 2027' ('2027年3月5日')."""
    return _day(value, "%d %b %Y", "yMMMd")


def date_words(value: date) -> str:
    """'5 Mar 2027' ('2027年3月5日')."""
    return _day(value, "%-d %b %Y", "yMMMd")


def day_and_month(value: date) -> str:
    """'5 Mar' ('3月5日'): a chart's axis, where the year is said elsewhere."""
    return _day(value, "%-d %b", "MMMd")


def exact_money(amount: Decimal, currency: str) -> str:
    """An invoice's amount to the cent: 'USD 1,234.50' in English (as billing writes money);
    as the locale writes it elsewhere ('US$1,234.50')."""
    locale = _babel_locale()
    if locale is None:
        return format_money(amount, currency)
    return format_currency(amount, currency, locale=locale)


def day_words(value: date) -> str:
    """'Fri 15 Jan 2027' ('2027年1月15日周五')."""
    return _day(value, "%a %-d %b %Y", "yMMMEd")


def _clock(value: datetime) -> str:
    locale = _babel_locale()
    if locale is None:
        return f"{value:%H:%M}"
    return format_time(value, "HH:mm", locale=locale, tzinfo=value.tzinfo)


def zone_words(tz: ZoneInfo) -> str:
    """'Shanghai time' ('上海时间'): the zone by its place, in the reader's language where
    Babel names the place."""
    if _babel_locale() is None:
        return busy.zone_label(tz.key)
    return str(_("%(place)s time", place=zone_label(tz)))


def time_in_zone(value: datetime, zone_name: str) -> str:
    """An instant in words in a zone, the zone named: 'Tue 8 Dec 2026, 17:00 (Shanghai
    time)'. A naive value is taken as wall time in that zone already (``starts_local``)."""
    tz = _zone_or_utc(zone_name)
    local = value if value.tzinfo is None else value.astimezone(tz)
    return f"{local_time(local)} ({zone_words(tz)})"


def span_in_zone(start: datetime, end: datetime, zone_name: str) -> str:
    """A span in words: 'Wed 10 Mar 2027, 09:00' en dash '10:00 (Shanghai time)'; the end's
    day too when it differs."""
    tz = _zone_or_utc(zone_name)
    start, end = (v if v.tzinfo is None else v.astimezone(tz) for v in (start, end))
    until = _clock(end) if start.date() == end.date() else local_time(end)
    return f"{local_time(start)} \N{EN DASH} {until} ({zone_words(tz)})"


def iso_in_zone(value: datetime, zone_name: str) -> str:
    """The instant as ISO 8601 with the zone's offset: '2026-12-08T17:00:00+08:00'."""
    return value.astimezone(_zone_or_utc(zone_name)).isoformat(timespec="seconds")


def country_name(code: str | None) -> str:
    """A country's name in the reader's language: 'China', '中国'."""
    return localized_names(current_locale())[0].get(code or "", code or "")


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _zone_or_utc(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def viewer_zone() -> ZoneInfo:
    """The signed-in staff member's own zone (StaffMember.timezone); UTC for anyone else."""
    signed_in = has_request_context() and current_user.is_authenticated
    return _zone_or_utc(current_user.timezone if signed_in else None)


def zone_label(place: ZoneInfo) -> str:
    """A zone by its place: Europe/Amsterdam is "Amsterdam", America/New_York "New York"
    ("阿姆斯特丹", "纽约" where Babel names the city in the reader's language)."""
    name = place_name(place.key)
    locale = _babel_locale()
    if locale is None or name == "UTC":
        return name
    return get_timezone_location(place, locale=locale, return_city=True)


def staff_time(value: datetime | None, zone_name: str | None = None) -> str:
    """An instant in ``zone_name`` (by default the reader's own zone), named:
    "Tue 8 Dec 2026, 09:15 (Amsterdam)". Every time a staff page shows goes through here."""
    if value is None:
        return "—"
    place = _zone_or_utc(zone_name) if zone_name else viewer_zone()
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(place)
    return f"{local_time(local)} ({zone_label(place)})"


def event_time(value: datetime | None, zone_name: str) -> str:
    """An event's instant in the event's zone and, where the reader's clock differs, in the
    reader's too: "Wed 10 Mar 2027, 09:00 (Shanghai); Wed 10 Mar 2027, 02:00 (Amsterdam)"."""
    if value is None:
        return "—"
    shown = staff_time(value, zone_name)
    instant = value if value.tzinfo else value.replace(tzinfo=UTC)
    mine = viewer_zone()
    if (
        instant.astimezone(_zone_or_utc(zone_name)).utcoffset()
        == instant.astimezone(mine).utcoffset()
    ):
        return shown
    return f"{shown}; {staff_time(instant, mine.key)}"


def event_span(start: datetime, end: datetime, zone_name: str) -> str:
    """An event's span in its zone and, where the reader's clock differs, in the reader's:
    "Wed 24 Mar 2027, 11:00 to 14:00 (Amsterdam); 10:00 to 13:00 (UTC)", with en dashes."""
    spans = [_span(start, end, _zone_or_utc(zone_name))]
    mine = viewer_zone()
    if start.astimezone(mine).utcoffset() != start.astimezone(_zone_or_utc(zone_name)).utcoffset():
        spans.append(
            _span(
                start, end, mine, day=start.astimezone(mine).date() != _local_day(start, zone_name)
            )
        )
    return "; ".join(spans)


def _local_day(value: datetime, zone_name: str) -> date:
    return value.astimezone(_zone_or_utc(zone_name)).date()


def _span(start: datetime, end: datetime, place: ZoneInfo, *, day: bool = True) -> str:
    first, last = start.astimezone(place), end.astimezone(place)
    shown = local_time(first) if day else _clock(first)
    until = _clock(last) if first.date() == last.date() else local_time(last)
    return f"{shown} \N{EN DASH} {until} ({zone_label(place)})"


def aligned(text: str, width: int = 12) -> str:
    """A label of a plain-text email, padded so that the values after it line up: a wide
    character (from U+2E80 on: Chinese, a full-width colon) takes two columns. (The
    templates counted them with a Jinja ``select`` test per character: most of the
    rendering time of an email.)"""
    wide = sum(1 for char in text if char >= "\u2e80")
    return "%-*s" % (width - wide, text)  # noqa: UP031 - the width is an argument


def options(choices: Iterable[tuple[str, str]], chosen: str = "") -> Markup:
    """A ``<select>``'s ``<option>``s for (value, label) pairs, the ``chosen`` one selected.
    Joined here for the lists of a thousand speakers: looped in a template, the dashboard's
    filter list was most of the page's rendering. A tuple's (immutable: the catalogue's
    kept lists) is rendered once and kept; a view then only marks its choice."""
    if not isinstance(choices, tuple):
        return Markup(  # noqa: S704 - each value and label is escaped by _option
            "".join(_option(value, label, value == chosen) for value, label in choices)
        )
    kept = _rendered.get(id(choices))
    if kept is None or kept[0] is not choices:  # held: while kept, its id is not reused
        html = "".join(_option(value, label) for value, label in choices)
        kept = (choices, html, dict(reversed(choices)))  # a value: its first label
        if len(_rendered) >= _RENDERED_KEPT:
            del _rendered[next(iter(_rendered))]  # the oldest
        _rendered[id(choices)] = kept
    _, html, labels = kept
    if chosen in labels:
        plain = _option(chosen, labels[chosen])
        html = html.replace(plain, _option(chosen, labels[chosen], True), 1)
    return Markup(html)  # noqa: S704 - each value and label is escaped by _option


def _option(value: str, label: str, selected: bool = False) -> str:
    mark = " selected" if selected else ""
    return f'<option value="{escape(value)}"{mark}>{escape(label)}</option>'


# templating.options's renderings of tuples: a few lists (a catalogue's, per locale).
_RENDERED_KEPT = 16
_rendered: dict[int, tuple[tuple[tuple[str, str], ...], str, dict[str, str]]] = {}


def register(app: Flask) -> None:
    app.add_template_filter(aligned)
    app.add_template_filter(options)
    app.add_template_filter(zone)
    app.add_template_filter(money)
    app.add_template_filter(long_date)
    app.add_template_filter(local_time)
    app.add_template_filter(country_name)
    app.add_template_filter(day_words)
    app.add_template_filter(date_words)
    app.add_template_filter(time_in_zone)
    app.add_template_filter(span_in_zone)
    app.add_template_filter(language_name)
    app.add_template_filter(staff_time)
    app.add_template_filter(zone_label)
    app.add_template_global(viewer_zone)
    app.add_template_filter(event_time)
    app.add_template_filter(event_span)
    app.add_template_filter(staff_label)
    app.add_template_filter(mail_name)
    app.add_template_filter(action_label)
    app.add_template_filter(job_state_label)
    app.add_template_filter(job_kind_label)
    app.add_template_global(contract_status_label)
    app.add_template_global(partstat_label)
