"""Settings from BUREAU_* environment variables, with embedded defaults that need no server.

A package so no module grows past a screenful: settings (names, defaults, the dataclass),
load (load_settings), urls and values (the checks), keys (secret files, instance keys).
Importers keep using ``from bureau.config import ...``: the public names are here.
"""

from __future__ import annotations

from bureau.config.errors import ConfigError
from bureau.config.load import load_settings
from bureau.config.settings import (
    DATABASE_PASSWORD_FILE,
    DEFAULT_BASE_URL,
    DEFAULT_MAIL_FROM,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_SESSION_HOURS,
    DEFAULT_SESSION_IDLE_MINUTES,
    DEFAULT_SUBMIT_RATE_LIMIT,
    DEFAULT_TRAVEL_BUFFERS,
    ENVIRONMENTS,
    IMAP_SCHEMES,
    MAX_RETENTION_DAYS,
    PRODUCTION_BROKERS,
    SECRET_FILE_SETTINGS,
    SETTING_NAMES,
    SMTP_SCHEMES,
    Settings,
)
from bureau.config.urls import check_imap_url
from bureau.config.values import is_mailbox

__all__ = [
    "DATABASE_PASSWORD_FILE",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAIL_FROM",
    "DEFAULT_RETENTION_DAYS",
    "DEFAULT_SESSION_HOURS",
    "DEFAULT_SESSION_IDLE_MINUTES",
    "DEFAULT_SUBMIT_RATE_LIMIT",
    "DEFAULT_TRAVEL_BUFFERS",
    "ENVIRONMENTS",
    "IMAP_SCHEMES",
    "MAX_RETENTION_DAYS",
    "PRODUCTION_BROKERS",
    "SECRET_FILE_SETTINGS",
    "SETTING_NAMES",
    "SMTP_SCHEMES",
    "ConfigError",
    "Settings",
    "check_imap_url",
    "is_mailbox",
    "load_settings",
]
