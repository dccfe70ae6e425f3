"""Checks of the plain values: numbers in range, formats, the sender, the rate limit."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parseaddr
from typing import Any

from bureau.config.errors import ConfigError
from bureau.config.settings import (
    DEFAULT_RETENTION_DAYS,
    DEFAULT_TRAVEL_BUFFERS,
    MAX_RETENTION_DAYS,
)

_MAILBOX = re.compile(r"[^@\s<>]+@[^@\s<>]+\.?[^@\s<>]*")


def seconds(get: Callable[[str], str | None], name: str, default: float) -> float:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86_400:
        raise ConfigError(f"{name} must be a number of seconds from 0 to 86400, not {raw!r}")
    return value


def whole(get: Callable[[str], str | None], name: str, default: int, most: int, unit: str) -> int:
    raw = get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ConfigError(f"{name} must be a number of {unit} from 1 to {most}, not {raw!r}")
    return int(raw)


def proxies(raw: str | None) -> int:
    if raw is None:
        return 0
    if not raw.isdigit() or int(raw) > 5:
        raise ConfigError(f"BUREAU_PROXIES must be a number of proxies from 0 to 5, not {raw!r}")
    return int(raw)


def retention_days(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_RETENTION_DAYS
    if not raw.isdigit() or int(raw) > MAX_RETENTION_DAYS:
        raise ConfigError(
            f"BUREAU_RETENTION_DAYS must be a number of days from 0 (keep forever) to "
            f"{MAX_RETENTION_DAYS}, not {raw!r}"
        )
    return int(raw)


def log_format(raw: str | None) -> str:
    if raw is None:
        return "text"
    if raw.lower() not in ("text", "json"):
        raise ConfigError(f"BUREAU_LOG_FORMAT must be text or json, not {raw!r}")
    return raw.lower()


def travel_buffers(text: str) -> str:
    from bureau.calendar.travel import parse_buffers

    try:
        buffers = parse_buffers(text)
    except (TypeError, ValueError):
        buffers = None
    if (
        buffers is None
        or buffers.largest > timedelta(days=7)
        or min(buffers.same_city, buffers.same_country, buffers.same_area, buffers.elsewhere)
        < timedelta(0)
    ):
        raise ConfigError(
            f"BUREAU_TRAVEL_BUFFERS must look like '{DEFAULT_TRAVEL_BUFFERS}' (hours, 0 to 168), "
            f"not {text!r}"
        )
    return text


def is_mailbox(address: str) -> bool:
    """Syntax only: internal domains such as bureau.localhost are fine for staff and senders."""
    return bool(_MAILBOX.fullmatch(address))


def check_mail_from(value: str) -> None:
    # Syntax only: internal domains such as bureau.localhost are fine for a sender.
    _, address = parseaddr(value)
    if not _MAILBOX.fullmatch(address) or any(ch in value for ch in "\r\n"):
        raise ConfigError(
            f"BUREAU_MAIL_FROM must be an address like 'Bureau <bookings@example.com>', "
            f"not {value!r}"
        ) from None


def check_rate_limit(value: str) -> None:
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(
            f"BUREAU_SUBMIT_RATE_LIMIT must look like '10 per minute;100 per day', not {value!r}"
        ) from None


def legal_details(get: Callable[[str], str | None]) -> dict[str, Any]:
    """BUREAU_LEGAL_NAME, BUREAU_LEGAL_ADDRESS, BUREAU_TAX_NUMBER and BUREAU_TAX_RATE."""
    raw_rate = get("BUREAU_TAX_RATE") or "0"
    try:
        rate = Decimal(raw_rate)
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite() or not 0 <= rate <= 100 or rate != rate.quantize(Decimal("0.01")):
        raise ConfigError(
            f"BUREAU_TAX_RATE must be a percentage from 0 to 100 (two decimals at most), "
            f"not {raw_rate!r}"
        )
    address = get("BUREAU_LEGAL_ADDRESS") or ""
    return {
        "legal_name": get("BUREAU_LEGAL_NAME") or "Bureau",
        "legal_address": "\n".join(
            line.strip() for line in address.replace(";", "\n").splitlines()
        ),
        "tax_number": get("BUREAU_TAX_NUMBER") or "",
        "tax_rate": rate.quantize(Decimal("0.01")),
    }
