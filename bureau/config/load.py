"""load_settings(): the environment (and secret files) read, every value checked in turn."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from bureau.config.errors import ConfigError
from bureau.config.keys import calendar_keys, instance_key, read_secret_files
from bureau.config.settings import (
    DATABASE_PASSWORD_FILE,
    DEFAULT_BASE_URL,
    DEFAULT_INBOUND_MAX_BYTES,
    DEFAULT_MAIL_FROM,
    DEFAULT_PAYOUT_DAYS,
    DEFAULT_SESSION_HOURS,
    DEFAULT_SESSION_IDLE_MINUTES,
    DEFAULT_SUBMIT_RATE_LIMIT,
    DEFAULT_TRAVEL_BUFFERS,
    ENVIRONMENTS,
    MAX_INBOUND_MAX_BYTES,
    MAX_PAYOUT_DAYS,
    PRODUCTION_BROKERS,
    Settings,
)
from bureau.config.storage import attachment_store, s3_settings
from bureau.config.urls import (
    check_broker_url,
    check_database_url,
    check_imap_url,
    check_redis_url,
    check_smtp_url,
    split_url,
)
from bureau.config.values import (
    check_mail_from,
    check_rate_limit,
    legal_details,
    log_format,
    proxies,
    retention_days,
    seconds,
    travel_buffers,
    whole,
)
from bureau.contracts.settings import ContractSettings, read_contract_settings
from bureau.private_files import private_folder


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raise ConfigError naming the first bad variable."""
    env_vars = read_secret_files(dict(os.environ if environ is None else environ))

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
    database_url = check_database_url(database_url, env_vars.get(DATABASE_PASSWORD_FILE))

    broker_url = get("BUREAU_BROKER_URL") or f"sqla+sqlite:///{instance_path / 'broker.db'}"
    check_broker_url(broker_url)

    redis_url = get("BUREAU_REDIS_URL")
    if redis_url is not None:
        check_redis_url("BUREAU_REDIS_URL", redis_url)

    secret_key = get("BUREAU_SECRET_KEY")
    if secret_key is None:
        if env == "production":
            raise ConfigError("BUREAU_SECRET_KEY is required when BUREAU_ENV=production")
        secret_key = instance_key(instance_path, "secret_key", lambda: secrets.token_urlsafe(48))
    elif len(secret_key) < 16:
        raise ConfigError("BUREAU_SECRET_KEY must be at least 16 characters long")

    smtp_url = get("BUREAU_SMTP_URL")
    if smtp_url is not None:
        check_smtp_url(smtp_url)

    imap_url = get("BUREAU_IMAP_URL")
    if imap_url is not None:
        check_imap_url(imap_url)

    mail_from = get("BUREAU_MAIL_FROM") or DEFAULT_MAIL_FROM
    check_mail_from(mail_from)

    base_url = (get("BUREAU_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    parts = split_url("BUREAU_BASE_URL", base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"BUREAU_BASE_URL must be an absolute http(s) URL such as "
            f"https://bookings.example.com, not {base_url!r}"
        )

    submit_rate_limit = get("BUREAU_SUBMIT_RATE_LIMIT") or DEFAULT_SUBMIT_RATE_LIMIT
    check_rate_limit(submit_rate_limit)

    if env == "production":
        check_production(database_url, get("BUREAU_BROKER_URL"), redis_url, smtp_url)

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
        job_retry_base=seconds(get, "BUREAU_JOB_RETRY_BASE", 30.0),
        job_lease=seconds(get, "BUREAU_JOB_LEASE", 300.0),
        sweep_interval=seconds(get, "BUREAU_SWEEP_INTERVAL", 30.0),
        travel_buffers=travel_buffers(get("BUREAU_TRAVEL_BUFFERS") or DEFAULT_TRAVEL_BUFFERS),
        proxies=proxies(get("BUREAU_PROXIES")),
        retention_days=retention_days(get("BUREAU_RETENTION_DAYS")),
        log_format=log_format(get("BUREAU_LOG_FORMAT")),
        session_hours=whole(get, "BUREAU_SESSION_HOURS", DEFAULT_SESSION_HOURS, 168, "hours"),
        session_idle_minutes=whole(
            get, "BUREAU_SESSION_IDLE_MINUTES", DEFAULT_SESSION_IDLE_MINUTES, 1440, "minutes"
        ),
        calendar_keys=calendar_keys(get("BUREAU_CALENDAR_KEY"), env, instance_path),
        calendar_interval=seconds(get, "BUREAU_CALENDAR_INTERVAL", 900.0),
        **legal_details(get),
        contracts=contract_settings(get),
        payout_days=whole(get, "BUREAU_PAYOUT_DAYS", DEFAULT_PAYOUT_DAYS, MAX_PAYOUT_DAYS, "days"),
        inbound_max_bytes=whole(
            get,
            "BUREAU_INBOUND_MAX_BYTES",
            DEFAULT_INBOUND_MAX_BYTES,
            MAX_INBOUND_MAX_BYTES,
            "bytes",
        ),
        imap_url=imap_url,
        attachment_store=attachment_store(get("BUREAU_ATTACHMENT_STORE")),
        s3=s3_settings(get),
    )


def contract_settings(get: Callable[[str], str | None]) -> ContractSettings:
    try:
        return read_contract_settings(get)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def check_production(
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
