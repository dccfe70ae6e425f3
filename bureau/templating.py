"""Jinja filters shared by pages and emails."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask

from bureau.calendar.busy import zone_label
from bureau.reference import country_names, language_name


def money(amount: int | None, currency: str = "") -> str:
    if amount is None:
        return "—"
    return f"{currency} {amount:,}".strip()


def long_date(value: date | datetime) -> str:
    return f"{value:%A %-d %B %Y}"


def local_time(value: datetime) -> str:
    return f"{value:%a %-d %b %Y, %H:%M}"


def day_words(value: date) -> str:
    """'Fri 15 Jan 2027'."""
    return f"{value:%a %-d %b %Y}"


def _zone_or_utc(name: str) -> tuple[ZoneInfo, str]:
    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC"), "UTC"


def time_in_zone(value: datetime, zone_name: str) -> str:
    """An instant in words in a zone, the zone named: 'Tue 8 Dec 2026, 17:00 (Shanghai
    time)'. A naive value is taken as wall time in that zone already (``starts_local``)."""
    tz, zone_name = _zone_or_utc(zone_name)
    local = value if value.tzinfo is None else value.astimezone(tz)
    return f"{local_time(local)} ({zone_label(zone_name)})"


def span_in_zone(start: datetime, end: datetime, zone_name: str) -> str:
    """A span in words: 'Wed 10 Mar 2027, 09:00' en dash '10:00 (Shanghai time)'; the end's
    day too when it differs."""
    tz, zone_name = _zone_or_utc(zone_name)
    start, end = (v if v.tzinfo is None else v.astimezone(tz) for v in (start, end))
    until = f"{end:%H:%M}" if start.date() == end.date() else local_time(end)
    return f"{local_time(start)} \N{EN DASH} {until} ({zone_label(zone_name)})"


def iso_in_zone(value: datetime, zone_name: str) -> str:
    """The instant as ISO 8601 with the zone's offset: '2026-12-08T17:00:00+08:00'."""
    tz, _ = _zone_or_utc(zone_name)
    return value.astimezone(tz).isoformat(timespec="seconds")


def country_name(code: str | None) -> str:
    return country_names().get(code or "", code or "")


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def register(app: Flask) -> None:
    app.add_template_filter(zone)
    app.add_template_filter(money)
    app.add_template_filter(long_date)
    app.add_template_filter(local_time)
    app.add_template_filter(country_name)
    app.add_template_filter(day_words)
    app.add_template_filter(time_in_zone)
    app.add_template_filter(span_in_zone)
    app.add_template_filter(language_name)
