"""Checks of the service URLs: database, broker, Redis, SMTP and IMAP (ports, schemes, drivers)."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from bureau.config.errors import ConfigError
from bureau.config.keys import secret_file
from bureau.config.settings import DATABASE_PASSWORD_FILE, IMAP_SCHEMES, SMTP_SCHEMES


def split_url(name: str, url: str) -> SplitResult:
    """The URL's parts, with a port from 1 to 65535 if it names one."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError(f"{name} is not a URL (unbalanced [ ] around an IPv6 address?)") from None
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ConfigError(f"{name}: port must be a number from 1 to 65535 (got {_raw_port(url)!r})")
    return parts


def _raw_port(url: str) -> str:
    """The text after the host's colon, for a message (never the password before the @)."""
    host = url.partition("://")[2].rpartition("@")[2].split("/", 1)[0].split("?", 1)[0]
    return host.rpartition(":")[2] if ":" in host else ""


def check_database_url(url: str, password_file: str | None) -> str:
    """Check the URL, its port and its driver (installed); return it with the password file's
    password put in."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    name = "BUREAU_DATABASE_URL"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{name} is not a database URL (e.g. postgresql+psycopg://user@host/db)"
        ) from None
    except ValueError:
        split_url(name, url)  # names the bad port, or the unbalanced brackets
        raise ConfigError(f"{name} is not a database URL") from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ConfigError(f"{name}: port must be a number from 1 to 65535 (got '{parsed.port}')")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"{name} must name PostgreSQL or SQLite, not {backend!r}")
    try:
        parsed.get_dialect().import_dbapi()
    except (ArgumentError, ImportError):
        raise ConfigError(
            f"{name}: driver {parsed.drivername!r} is unknown or not installed "
            f"(use postgresql+psycopg:// or sqlite://)"
        ) from None
    if password_file and password_file.strip():
        if parsed.password is not None:
            raise ConfigError(
                f"{name} has a password and {DATABASE_PASSWORD_FILE} is set; set only one"
            )
        password = secret_file(DATABASE_PASSWORD_FILE, password_file.strip())
        url = parsed.set(password=password).render_as_string(hide_password=False)
    return url


def check_broker_url(url: str) -> None:
    from kombu.transport import resolve_transport

    name = "BUREAU_BROKER_URL"
    if "://" not in url:
        raise ConfigError(f"{name} must be a URL such as redis://host:6379/0")
    parts = split_url(name, url)
    transport = parts.scheme.partition("+")[0]
    try:
        resolve_transport(transport)
    except (KeyError, ImportError):
        raise ConfigError(
            f"{name}: {transport!r} is not a Celery transport (e.g. redis://host:6379/0)"
        ) from None
    if transport in ("redis", "rediss"):
        check_redis_url(name, url)


def check_redis_url(name: str, url: str) -> None:
    parts = split_url(name, url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"{name} must be a redis://, rediss:// or unix:// URL")
    database = parts.path.strip("/")
    if parts.scheme != "unix" and database and not database.isdigit():
        raise ConfigError(
            f"{name}: the database after the host must be a number, e.g. redis://host:6379/0 "
            f"(got {database!r})"
        )


def check_smtp_url(url: str) -> None:
    parts = split_url("BUREAU_SMTP_URL", url)
    if parts.scheme not in SMTP_SCHEMES:
        raise ConfigError(
            f"BUREAU_SMTP_URL must start with {', '.join(s + '://' for s in SMTP_SCHEMES)}; "
            f"got {parts.scheme or 'no scheme'!r}"
        )
    if not parts.hostname:
        raise ConfigError("BUREAU_SMTP_URL must name a host, e.g. smtp://mail.example.com:587")


def check_imap_url(url: str) -> None:
    """The mailbox: imaps:// (or imap://, no TLS), a user and a host; the folder is optional."""
    parts = split_url("BUREAU_IMAP_URL", url)
    if parts.scheme not in IMAP_SCHEMES:
        raise ConfigError(
            "BUREAU_IMAP_URL must start with imaps:// or imap://; "
            f"got {parts.scheme or 'no scheme'!r}"
        )
    if not parts.hostname or not parts.username:
        raise ConfigError(
            "BUREAU_IMAP_URL must name a user and a host, e.g. imaps://user:pass@mail.example.com/INBOX"
        )
