"""Jinja filters shared by pages and emails."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Flask

from bureau.bookings.validation import country_names
from bureau.languages import language_name


def money(amount: int | None, currency: str = "") -> str:
    if amount is None:
        return "—"
    return f"{currency} {amount:,}".strip()


def long_date(value: date | datetime) -> str:
    return f"{value:%A %-d %B %Y}"


def local_time(value: datetime) -> str:
    return f"{value:%a %-d %b %Y, %H:%M}"


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
    app.add_template_filter(language_name)
