"""Settings from BUREAU_* environment variables, with embedded defaults that need no server."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from bureau.contracts.settings import ContractSettings, read_contract_settings
from bureau.private_files import private_folder

ENVIRONMENTS = ("development", "production", "testing")
SMTP_SCHEMES = ("smtp", "smtp+starttls", "smtps")
PRODUCTION_BROKERS = ("redis", "rediss", "amqp", "amqps")
# Everything that users and operators may set; CONTRACT.md documents the first nine.
SETTING_NAMES = (
    "BUREAU_INSTANCE_PATH",
    "BUREAU_DATABASE_URL",
    "BUREAU_BROKER_URL",
    "BUREAU_REDIS_URL",
    "BUREAU_SECRET_KEY",
    "BUREAU_ENV",
    "BUREAU_SMTP_URL",
    "BUREAU_MAIL_FROM",
    "BUREAU_BASE_URL",
    "BUREAU_SUBMIT_RATE_LIMIT",
    "BUREAU_JOB_RETRY_BASE",
    "BUREAU_JOB_LEASE",
    "BUREAU_SWEEP_INTERVAL",
    "BUREAU_TRAVEL_BUFFERS",
    "BUREAU_PROXIES",
    "BUREAU_RETENTION_DAYS",
    "BUREAU_LOG_FORMAT",
    "BUREAU_SESSION_HOURS",
    "BUREAU_SESSION_IDLE_MINUTES",
    "BUREAU_CALENDAR_KEY",
    "BUREAU_CALENDAR_INTERVAL",
    "BUREAU_GOVERNING_LAW",
    "BUREAU_CANCELLATION_SCHEDULE",
    "BUREAU_BALANCE_DUE_DAYS",
)
# Secrets may come from files instead (NAME_FILE: Docker and Kubernetes secrets, systemd
# credentials), so they need not sit in the environment of every process.
SECRET_FILE_SETTINGS = (
    "BUREAU_SECRET_KEY",
    "BUREAU_DATABASE_URL",
    "BUREAU_BROKER_URL",
    "BUREAU_REDIS_URL",
    "BUREAU_SMTP_URL",
)
# A file holding only the database password, put into BUREAU_DATABASE_URL (which then has none).
DATABASE_PASSWORD_FILE = "BUREAU_DATABASE_PASSWORD_FILE"  # noqa: S105 - a name
DEFAULT_TRAVEL_BUFFERS = "same_city=1,same_country=6,same_area=12,elsewhere=24"
_MAILBOX = re.compile(r"[^@\s<>]+@[^@\s<>]+\.?[^@\s<>]*")
DEFAULT_MAIL_FROM = "Bureau <bookings@bureau.localhost>"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
DEFAULT_SUBMIT_RATE_LIMIT = "10 per minute;100 per day"
DEFAULT_RETENTION_DAYS = 730
MAX_RETENTION_DAYS = 36_500
DEFAULT_SESSION_HOURS = 12
DEFAULT_SESSION_IDLE_MINUTES = 30


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable in one line."""


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    broker_url: str
    redis_url: str | None
    secret_key: str
    env: str
    smtp_url: str | None
    mail_from: str
    base_url: str
    submit_rate_limit: str
    # Outbox tuning, in seconds: first retry delay (doubling, with jitter, up to an hour),
    # how long a claimed job may run before another worker may take it over, and how often
    # beat's sweeper re-enqueues jobs left pending.
    job_retry_base: float = 30.0
    job_lease: float = 300.0
    sweep_interval: float = 30.0
    # Hours kept free around an engagement for travel, by distance to the next one.
    travel_buffers: str = DEFAULT_TRAVEL_BUFFERS
    # Reverse proxies in front of the web whose X-Forwarded-* headers are trusted (0: none).
    proxies: int = 0
    # Days after its last activity that a request which never became a booking keeps its
    # contact details (bureau/privacy/); 0 keeps them forever.
    retention_days: int = DEFAULT_RETENTION_DAYS
    # Log lines as text, or one JSON object per line (for log collectors).
    log_format: str = "text"
    # A staff session ends this long after sign-in, and after this long without a request.
    session_hours: int = DEFAULT_SESSION_HOURS
    session_idle_minutes: int = DEFAULT_SESSION_IDLE_MINUTES
    # Fernet keys for the speakers' calendar passwords: the first encrypts, all decrypt
    # (rotation). Empty: none set in production, so no password can be stored.
    calendar_keys: tuple[str, ...] = ()
    # Seconds between two fetches of a speaker's own calendar.
    calendar_interval: float = 900.0
    # Governing law, cancellation schedule, balance due days (bureau/contracts/settings.py).
    contracts: ContractSettings = field(default_factory=ContractSettings)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def flask_config(self) -> dict[str, Any]:
        """The Flask and extension settings these settings imply."""
        engine_options: dict[str, Any] = {"pool_pre_ping": True}
        if self.database_url.startswith("sqlite"):
            # Web, worker and beat share the file; wait for a lock instead of failing at once.
            engine_options = {"connect_args": {"timeout": 30}}
        return {
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "BOOTSTRAP_SERVE_LOCAL": True,
            "BOOTSTRAP_BOOTSWATCH_THEME": None,
            # Without Redis, limits are counted in the database every process shares.
            "RATELIMIT_STORAGE_URI": self.redis_url or "bureau+database://",
            "RATELIMIT_STORAGE_OPTIONS": (
                {} if self.redis_url else {"database_url": self.database_url}
            ),
            # Redis away (restarting, failing over) must not turn submissions into 500s:
            # each process counts in memory meanwhile and returns to Redis when it answers.
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
            "RATELIMIT_SWALLOW_ERRORS": True,
            "RATELIMIT_HEADERS_ENABLED": True,
            "RATELIMIT_STRATEGY": "moving-window",
            "WTF_CSRF_TIME_LIMIT": 4 * 3600,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.is_production,
            "PERMANENT_SESSION_LIFETIME": timedelta(hours=self.session_hours),
            "MAX_CONTENT_LENGTH": 1024 * 1024,
            "TESTING": self.env == "testing",
            "BUREAU_SETTINGS": self,
        }


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raise ConfigError naming the first bad variable."""
    env_vars = _read_secret_files(dict(os.environ if environ is None else environ))

    def get(name: str) -> str | None:
        value = env_vars.get(name, "").strip()
        return value or None

    env = get("BUREAU_ENV") or "development"
    if env not in ENVIRONMENTS:
        raise ConfigError(f"BUREAU_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")

    instance_path = Path(get("BUREAU_INSTANCE_PATH") or "instance").resolve()
    try:
        private_folder(instance_path)  # 0700: it holds the database, key and mail
    except OSError as exc:
        raise ConfigError(
            f"BUREAU_INSTANCE_PATH: cannot create folder {instance_path}: {exc.strerror}"
        ) from exc

    database_url = get("BUREAU_DATABASE_URL") or f"sqlite:///{instance_path / 'bureau.db'}"
    database_url = _check_database_url(database_url, env_vars.get(DATABASE_PASSWORD_FILE))

    broker_url = get("BUREAU_BROKER_URL") or f"sqla+sqlite:///{instance_path / 'broker.db'}"
    _check_broker_url(broker_url)

    redis_url = get("BUREAU_REDIS_URL")
    if redis_url is not None:
        _check_redis_url("BUREAU_REDIS_URL", redis_url)

    secret_key = get("BUREAU_SECRET_KEY")
    if secret_key is None:
        if env == "production":
            raise ConfigError("BUREAU_SECRET_KEY is required when BUREAU_ENV=production")
        secret_key = _instance_key(instance_path, "secret_key", lambda: secrets.token_urlsafe(48))
    elif len(secret_key) < 16:
        raise ConfigError("BUREAU_SECRET_KEY must be at least 16 characters long")

    smtp_url = get("BUREAU_SMTP_URL")
    if smtp_url is not None:
        _check_smtp_url(smtp_url)

    mail_from = get("BUREAU_MAIL_FROM") or DEFAULT_MAIL_FROM
    _check_mail_from(mail_from)

    base_url = (get("BUREAU_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    parts = _split_url("BUREAU_BASE_URL", base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"BUREAU_BASE_URL must be an absolute http(s) URL such as "
            f"https://bookings.example.com, not {base_url!r}"
        )

    submit_rate_limit = get("BUREAU_SUBMIT_RATE_LIMIT") or DEFAULT_SUBMIT_RATE_LIMIT
    _check_rate_limit(submit_rate_limit)

    try:
        contracts = read_contract_settings(get)
    except ValueError as error:
        raise ConfigError(str(error)) from None

    if env == "production":
        _check_production(database_url, get("BUREAU_BROKER_URL"), redis_url, smtp_url)

    return Settings(
        instance_path=instance_path,
        database_url=database_url,
        broker_url=broker_url,
        redis_url=redis_url,
        secret_key=secret_key,
        env=env,
        smtp_url=smtp_url,
        mail_from=mail_from,
        base_url=base_url,
        submit_rate_limit=submit_rate_limit,
        job_retry_base=_seconds(get, "BUREAU_JOB_RETRY_BASE", 30.0),
        job_lease=_seconds(get, "BUREAU_JOB_LEASE", 300.0),
        sweep_interval=_seconds(get, "BUREAU_SWEEP_INTERVAL", 30.0),
        travel_buffers=_travel_buffers(get("BUREAU_TRAVEL_BUFFERS") or DEFAULT_TRAVEL_BUFFERS),
        proxies=_proxies(get("BUREAU_PROXIES")),
        retention_days=_retention_days(get("BUREAU_RETENTION_DAYS")),
        log_format=_log_format(get("BUREAU_LOG_FORMAT")),
        session_hours=_whole(get, "BUREAU_SESSION_HOURS", DEFAULT_SESSION_HOURS, 168, "hours"),
        session_idle_minutes=_whole(
            get, "BUREAU_SESSION_IDLE_MINUTES", DEFAULT_SESSION_IDLE_MINUTES, 1440, "minutes"
        ),
        calendar_keys=_calendar_keys(get("BUREAU_CALENDAR_KEY"), env, instance_path),
        calendar_interval=_seconds(get, "BUREAU_CALENDAR_INTERVAL", 900.0),
        contracts=contracts,
    )


def _check_production(
    database_url: str, broker_url: str | None, redis_url: str | None, smtp_url: str | None
) -> None:
    """The embedded defaults serve one machine; a deployment must name its real services."""
    if not database_url.startswith("postgresql"):
        raise ConfigError(
            "BUREAU_DATABASE_URL must name a PostgreSQL database when BUREAU_ENV=production "
            "(e.g. postgresql+psycopg://bureau@db/bureau)"
        )
    if broker_url is None or urlsplit(broker_url).scheme not in PRODUCTION_BROKERS:
        raise ConfigError(
            "BUREAU_BROKER_URL must name a Redis (or AMQP) broker when BUREAU_ENV=production "
            "(e.g. redis://redis:6379/0)"
        )
    if redis_url is None:
        raise ConfigError(
            "BUREAU_REDIS_URL is required when BUREAU_ENV=production "
            "(rate limits and locks must be shared by every web process)"
        )
    if smtp_url is None:
        raise ConfigError(
            "BUREAU_SMTP_URL is required when BUREAU_ENV=production "
            "(without it emails are only written to files)"
        )


def _seconds(get: Callable[[str], str | None], name: str, default: float) -> float:
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


def _whole(get: Callable[[str], str | None], name: str, default: int, most: int, unit: str) -> int:
    raw = get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ConfigError(f"{name} must be a number of {unit} from 1 to {most}, not {raw!r}")
    return int(raw)


def _proxies(raw: str | None) -> int:
    if raw is None:
        return 0
    if not raw.isdigit() or int(raw) > 5:
        raise ConfigError(f"BUREAU_PROXIES must be a number of proxies from 0 to 5, not {raw!r}")
    return int(raw)


def _retention_days(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_RETENTION_DAYS
    if not raw.isdigit() or int(raw) > MAX_RETENTION_DAYS:
        raise ConfigError(
            f"BUREAU_RETENTION_DAYS must be a number of days from 0 (keep forever) to "
            f"{MAX_RETENTION_DAYS}, not {raw!r}"
        )
    return int(raw)


def _log_format(raw: str | None) -> str:
    if raw is None:
        return "text"
    if raw.lower() not in ("text", "json"):
        raise ConfigError(f"BUREAU_LOG_FORMAT must be text or json, not {raw!r}")
    return raw.lower()


def _travel_buffers(text: str) -> str:
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


def _read_secret_files(env_vars: dict[str, str]) -> dict[str, str]:
    """NAME_FILE's content (trailing newline removed) becomes NAME; setting both is refused."""
    for name in SECRET_FILE_SETTINGS:
        path = env_vars.get(f"{name}_FILE", "").strip()
        if not path:
            continue
        if env_vars.get(name, "").strip():
            raise ConfigError(f"{name} and {name}_FILE are both set; set only one of them")
        env_vars[name] = _secret_file(f"{name}_FILE", path)
    return env_vars


def _secret_file(variable: str, path: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{variable}: cannot read {path}: {reason}") from None
    if not value:
        raise ConfigError(f"{variable}: {path} is empty")
    return value


def _split_url(name: str, url: str) -> SplitResult:
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


def _check_database_url(url: str, password_file: str | None) -> str:
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
        _split_url(name, url)  # names the bad port, or the unbalanced brackets
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
        password = _secret_file(DATABASE_PASSWORD_FILE, password_file.strip())
        url = parsed.set(password=password).render_as_string(hide_password=False)
    return url


def _check_broker_url(url: str) -> None:
    from kombu.transport import resolve_transport

    name = "BUREAU_BROKER_URL"
    if "://" not in url:
        raise ConfigError(f"{name} must be a URL such as redis://host:6379/0")
    parts = _split_url(name, url)
    transport = parts.scheme.partition("+")[0]
    try:
        resolve_transport(transport)
    except (KeyError, ImportError):
        raise ConfigError(
            f"{name}: {transport!r} is not a Celery transport (e.g. redis://host:6379/0)"
        ) from None
    if transport in ("redis", "rediss"):
        _check_redis_url(name, url)


def _check_redis_url(name: str, url: str) -> None:
    parts = _split_url(name, url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"{name} must be a redis://, rediss:// or unix:// URL")
    database = parts.path.strip("/")
    if parts.scheme != "unix" and database and not database.isdigit():
        raise ConfigError(
            f"{name}: the database after the host must be a number, e.g. redis://host:6379/0 "
            f"(got {database!r})"
        )


def _check_smtp_url(url: str) -> None:
    parts = _split_url("BUREAU_SMTP_URL", url)
    if parts.scheme not in SMTP_SCHEMES:
        raise ConfigError(
            f"BUREAU_SMTP_URL must start with {', '.join(s + '://' for s in SMTP_SCHEMES)}; "
            f"got {parts.scheme or 'no scheme'!r}"
        )
    if not parts.hostname:
        raise ConfigError("BUREAU_SMTP_URL must name a host, e.g. smtp://mail.example.com:587")


def is_mailbox(address: str) -> bool:
    """Syntax only: internal domains such as bureau.localhost are fine for staff and senders."""
    return bool(_MAILBOX.fullmatch(address))


def _check_mail_from(value: str) -> None:
    # Syntax only: internal domains such as bureau.localhost are fine for a sender.
    _, address = parseaddr(value)
    if not _MAILBOX.fullmatch(address) or any(ch in value for ch in "\r\n"):
        raise ConfigError(
            f"BUREAU_MAIL_FROM must be an address like 'Bureau <bookings@example.com>', "
            f"not {value!r}"
        ) from None


def _check_rate_limit(value: str) -> None:
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(
            f"BUREAU_SUBMIT_RATE_LIMIT must look like '10 per minute;100 per day', not {value!r}"
        ) from None


def _calendar_keys(raw: str | None, env: str, instance_path: Path) -> tuple[str, ...]:
    """Comma-separated Fernet keys; outside production one is made and kept in the instance
    folder when none is set."""
    from cryptography.fernet import Fernet

    if raw is None:
        if env == "production":
            return ()
        raw = _instance_key(
            instance_path, "calendar_key", lambda: Fernet.generate_key().decode(), "Fernet "
        )
    keys = tuple(key.strip() for key in raw.split(",") if key.strip())
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                "BUREAU_CALENDAR_KEY must be one or more Fernet keys (32 url-safe base64-encoded "
                'bytes each, comma-separated; make one with `python -c "from cryptography.fernet '
                'import Fernet; print(Fernet.generate_key().decode())"`)'
            ) from None
    return keys


def _instance_key(
    instance_path: Path, name: str, generate: Callable[[], str], kind: str = ""
) -> str:
    """A key generated on first start and kept (mode 0600) in the instance folder."""
    key_file = instance_path / name
    setting = f"BUREAU_{name.upper()}"
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = key_file.read_text().strip()
        if len(key) < 16:
            raise ConfigError(
                f"{setting} is unset and {key_file} is damaged; delete it to make a new {kind}key"
            ) from None
        return key
    key = generate()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
