"""What may be set (SETTING_NAMES), the defaults, and the checked Settings a process runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bureau.contracts.settings import ContractSettings

ENVIRONMENTS = ("development", "production", "testing")
SMTP_SCHEMES = ("smtp", "smtp+starttls", "smtps")
IMAP_SCHEMES = ("imaps", "imap")
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
    # The bureau's legal details on its invoices, and their default tax rate (bureau/billing/).
    "BUREAU_LEGAL_NAME",
    "BUREAU_LEGAL_ADDRESS",
    "BUREAU_TAX_NUMBER",
    "BUREAU_TAX_RATE",
    # The speaking agreements (bureau/contracts/settings.py).
    "BUREAU_GOVERNING_LAW",
    "BUREAU_CANCELLATION_SCHEDULE",
    "BUREAU_BALANCE_DUE_DAYS",
    "BUREAU_BALANCE_INVOICE_LEAD_DAYS",
    # Days after the event a speaker's payout is due (bureau/billing/payouts.py).
    "BUREAU_PAYOUT_DAYS",
    # The largest inbound email read; a larger one is kept as failed (bureau/inbound/).
    "BUREAU_INBOUND_MAX_BYTES",
    # The bureau's mailbox, polled for replies (bureau/inbound/imap.py); empty: not read.
    "BUREAU_IMAP_URL",
    # Where the files of received replies are kept: the instance folder or an S3 bucket
    # (bureau/inbound/storage.py), and how to reach an S3-compatible server.
    "BUREAU_ATTACHMENT_STORE",
    "BUREAU_S3_ENDPOINT_URL",
    "BUREAU_S3_REGION",
    "BUREAU_S3_ACCESS_KEY_ID",
    "BUREAU_S3_SECRET_ACCESS_KEY",
)
# Secrets may come from files instead (NAME_FILE: Docker and Kubernetes secrets, systemd
# credentials), so they need not sit in the environment of every process.
SECRET_FILE_SETTINGS = (
    "BUREAU_SECRET_KEY",
    "BUREAU_DATABASE_URL",
    "BUREAU_BROKER_URL",
    "BUREAU_REDIS_URL",
    "BUREAU_SMTP_URL",
    "BUREAU_IMAP_URL",
    "BUREAU_S3_ACCESS_KEY_ID",
    "BUREAU_S3_SECRET_ACCESS_KEY",
)
# A file holding only the database password, put into BUREAU_DATABASE_URL (which then has none).
DATABASE_PASSWORD_FILE = "BUREAU_DATABASE_PASSWORD_FILE"  # noqa: S105 - a name
DEFAULT_TRAVEL_BUFFERS = "same_city=1,same_country=6,same_area=12,elsewhere=24"
DEFAULT_MAIL_FROM = "Bureau <bookings@bureau.localhost>"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
DEFAULT_SUBMIT_RATE_LIMIT = "10 per minute;100 per day"
DEFAULT_RETENTION_DAYS = 730
MAX_RETENTION_DAYS = 36_500
DEFAULT_SESSION_HOURS = 12
DEFAULT_SESSION_IDLE_MINUTES = 30
DEFAULT_PAYOUT_DAYS = 30
MAX_PAYOUT_DAYS = 365
DEFAULT_INBOUND_MAX_BYTES = 10 * 1024 * 1024
MAX_INBOUND_MAX_BYTES = 100 * 1024 * 1024
INSTANCE_STORE = "instance"


@dataclass(frozen=True)
class S3Settings:
    """How to reach the S3-compatible server holding received files. None: boto3's own
    defaults (AWS's endpoint, AWS_REGION, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a
    shared credentials file or the machine's role)."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)


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
    # Invoices (bureau/billing/): the issuer's legal name, postal address (lines separated by
    # "\n" or ";") and tax number, and the tax rate in percent a new invoice starts from.
    legal_name: str = "Bureau"
    legal_address: str = ""
    tax_number: str = ""
    tax_rate: Decimal = Decimal(0)
    # Governing law, cancellation schedule, balance due days (bureau/contracts/settings.py).
    contracts: ContractSettings = field(default_factory=ContractSettings)
    # A speaker's payout is due this many days after the event's day.
    payout_days: int = DEFAULT_PAYOUT_DAYS
    # An inbound email larger than this is kept, as failed, but not read (bureau/inbound/).
    inbound_max_bytes: int = DEFAULT_INBOUND_MAX_BYTES
    # The mailbox beat polls for replies, imaps://user:pass@host/INBOX; None: not read.
    imap_url: str | None = None
    # Where the files of received replies go: "instance" (instance/inbound/) or
    # "s3://bucket/prefix"; each file remembers its store, so a change orphans none.
    attachment_store: str = INSTANCE_STORE
    s3: S3Settings = field(default_factory=S3Settings)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def flask_config(self) -> dict[str, Any]:
        """The Flask and extension settings these settings imply."""
        # Idle connections are pinged before use: bureau.db.ping_when_idle (create_app).
        engine_options: dict[str, Any] = {}
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
            # bureau+redis: an endpoint's limits in one round trip (bureau/limitstore_redis.py)
            "RATELIMIT_STORAGE_URI": f"bureau+{self.redis_url}"
            if self.redis_url
            else "bureau+database://",
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
