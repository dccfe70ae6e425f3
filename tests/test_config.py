"""Settings: defaults, and one clear line naming the variable for each bad one."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bureau.config import ConfigError, load_settings


def settings_for(tmp_path: Path, **env: str) -> object:
    return load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), **env})


def test_embedded_defaults(tmp_path: Path) -> None:
    settings = load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path / "inst")})
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{tmp_path / 'inst' / 'bureau.db'}"
    assert settings.broker_url.startswith("sqla+sqlite:///")
    assert settings.redis_url is None
    assert settings.smtp_url is None
    assert settings.mail_from == "Bureau <bookings@bureau.localhost>"
    assert settings.base_url == "http://127.0.0.1:5000"
    assert settings.flask_config()["RATELIMIT_STORAGE_URI"] == "bureau+database://"
    assert settings.log_format == "text"


@pytest.mark.parametrize(
    ("raw", "expected"), [("json", "json"), ("JSON", "json"), ("text", "text")]
)
def test_log_format(tmp_path: Path, raw: str, expected: str) -> None:
    assert (
        load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), "BUREAU_LOG_FORMAT": raw}).log_format
        == expected
    )


def test_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path)})
    second = load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path)})
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 32
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize(
    ("env", "variable", "hint"),
    [
        ({"BUREAU_ENV": "prod"}, "BUREAU_ENV", "development, production, testing"),
        ({"BUREAU_ENV": "production"}, "BUREAU_SECRET_KEY", "required"),
        ({"BUREAU_SECRET_KEY": "short"}, "BUREAU_SECRET_KEY", "16 characters"),
        ({"BUREAU_DATABASE_URL": "not a url"}, "BUREAU_DATABASE_URL", "database URL"),
        ({"BUREAU_DATABASE_URL": "mysql://x/y"}, "BUREAU_DATABASE_URL", "PostgreSQL or SQLite"),
        (
            {"BUREAU_DATABASE_URL": "postgresql+psycopg://u@db:abc/b"},
            "BUREAU_DATABASE_URL",
            "'abc'",
        ),
        (
            {"BUREAU_DATABASE_URL": "postgresql+psycopg://db:99999/b"},
            "BUREAU_DATABASE_URL",
            "65535",
        ),
        ({"BUREAU_DATABASE_URL": "postgresql+psycopg://u@[::1/b"}, "BUREAU_DATABASE_URL", "IPv6"),
        (
            {"BUREAU_DATABASE_URL": "postgresql+nodrv://db/b"},
            "BUREAU_DATABASE_URL",
            "'postgresql+nodrv'",
        ),
        (
            {"BUREAU_DATABASE_URL": "postgresql+psycopg2://db/b"},
            "BUREAU_DATABASE_URL",
            "not installed",
        ),
        (
            {"BUREAU_BROKER_URL": "redis://redis:abc/0"},
            "BUREAU_BROKER_URL",
            "port must be a number",
        ),
        ({"BUREAU_BROKER_URL": "redis://redis:6379/zero"}, "BUREAU_BROKER_URL", "'zero'"),
        ({"BUREAU_BROKER_URL": "rabbit://mq/"}, "BUREAU_BROKER_URL", "Celery transport"),
        ({"BUREAU_REDIS_URL": "redis://redis:0/1"}, "BUREAU_REDIS_URL", "got '0'"),
        ({"BUREAU_REDIS_URL": "redis://redis/one"}, "BUREAU_REDIS_URL", "must be a number"),
        ({"BUREAU_BASE_URL": "https://b.example:x"}, "BUREAU_BASE_URL", "port must be a number"),
        ({"BUREAU_BROKER_URL": "localhost"}, "BUREAU_BROKER_URL", "redis://"),
        ({"BUREAU_REDIS_URL": "http://x"}, "BUREAU_REDIS_URL", "redis://"),
        ({"BUREAU_SMTP_URL": "http://mail"}, "BUREAU_SMTP_URL", "smtp://"),
        ({"BUREAU_SMTP_URL": "smtp://"}, "BUREAU_SMTP_URL", "host"),
        ({"BUREAU_SMTP_URL": "smtp://mail:port"}, "BUREAU_SMTP_URL", "port"),
        ({"BUREAU_IMAP_URL": "https://u:p@mail/INBOX"}, "BUREAU_IMAP_URL", "imaps://"),
        ({"BUREAU_IMAP_URL": "imaps://mail.example.com"}, "BUREAU_IMAP_URL", "a user and a host"),
        ({"BUREAU_IMAP_URL": "imaps://u:p@/INBOX"}, "BUREAU_IMAP_URL", "a user and a host"),
        ({"BUREAU_IMAP_URL": "imaps://u:p@mail:99999/INBOX"}, "BUREAU_IMAP_URL", "port"),
        ({"BUREAU_MAIL_FROM": "Bureau"}, "BUREAU_MAIL_FROM", "address"),
        ({"BUREAU_BASE_URL": "bureau.example"}, "BUREAU_BASE_URL", "http"),
        ({"BUREAU_SUBMIT_RATE_LIMIT": "lots"}, "BUREAU_SUBMIT_RATE_LIMIT", "per minute"),
        ({"BUREAU_RETENTION_DAYS": "two years"}, "BUREAU_RETENTION_DAYS", "number of days"),
        ({"BUREAU_RETENTION_DAYS": "-1"}, "BUREAU_RETENTION_DAYS", "0 (keep forever)"),
        ({"BUREAU_RETENTION_DAYS": "365.5"}, "BUREAU_RETENTION_DAYS", "number of days"),
        ({"BUREAU_RETENTION_DAYS": "36501"}, "BUREAU_RETENTION_DAYS", "36500"),
        ({"BUREAU_LOG_FORMAT": "xml"}, "BUREAU_LOG_FORMAT", "text or json"),
        ({"BUREAU_ATTACHMENT_STORE": "bucket"}, "BUREAU_ATTACHMENT_STORE", "s3://bucket"),
        ({"BUREAU_ATTACHMENT_STORE": "gs://files"}, "BUREAU_ATTACHMENT_STORE", "'gs://files'"),
        ({"BUREAU_ATTACHMENT_STORE": "s3://Bad_Bucket"}, "BUREAU_ATTACHMENT_STORE", "lower-case"),
        ({"BUREAU_ATTACHMENT_STORE": "s3://files/../x"}, "BUREAU_ATTACHMENT_STORE", "prefix"),
        ({"BUREAU_ATTACHMENT_STORE": "s3://files:x"}, "BUREAU_ATTACHMENT_STORE", "port"),
        ({"BUREAU_S3_ENDPOINT_URL": "minio:9000"}, "BUREAU_S3_ENDPOINT_URL", "http(s) URL"),
        ({"BUREAU_S3_REGION": "EU Central"}, "BUREAU_S3_REGION", "eu-central-1"),
        ({"BUREAU_S3_ACCESS_KEY_ID": "AKIA1"}, "BUREAU_S3_ACCESS_KEY_ID", "set both"),
    ],
)
def test_bad_setting_names_the_variable(
    tmp_path: Path, env: dict[str, str], variable: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_for(tmp_path, **env)
    message = str(caught.value)
    assert message.startswith(variable)
    assert hint in message
    assert "\n" not in message


def test_a_bad_url_is_named_without_its_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_for(tmp_path, BUREAU_BROKER_URL="redis://:hunter2-secret@redis:63x9/0")
    assert "63x9" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("k" * 40 + "\n")
    smtp = tmp_path / "smtp"
    smtp.write_text("smtps://user:p%40ss@mail.example.com:465")
    password = tmp_path / "db-password"
    password.write_text("s3cret/:@pass\n")
    settings = load_settings(
        {
            "BUREAU_INSTANCE_PATH": str(tmp_path),
            "BUREAU_SECRET_KEY_FILE": str(key),
            "BUREAU_SMTP_URL_FILE": str(smtp),
            "BUREAU_DATABASE_URL": "postgresql+psycopg://bureau@db:5432/bureau",
            "BUREAU_DATABASE_PASSWORD_FILE": str(password),
        }
    )
    assert settings.secret_key == "k" * 40
    assert settings.smtp_url == "smtps://user:p%40ss@mail.example.com:465"
    from sqlalchemy.engine import make_url

    database = make_url(settings.database_url)
    assert (database.password, database.host, database.port) == ("s3cret/:@pass", "db", 5432)


def test_the_mailbox_is_off_unless_named_and_may_come_from_a_file(tmp_path: Path) -> None:
    for unset in ({}, {"BUREAU_IMAP_URL": " "}):
        assert load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), **unset}).imap_url is None
    url = "imaps://desk%40bureau.example:p%2Fss@mail.example.com:993/INBOX"
    secret = tmp_path / "imap"
    secret.write_text(url + "\n")
    settings = load_settings(
        {"BUREAU_INSTANCE_PATH": str(tmp_path), "BUREAU_IMAP_URL_FILE": str(secret)}
    )
    assert settings.imap_url == url


def test_received_files_go_to_the_instance_folder_or_a_bucket(tmp_path: Path) -> None:
    for unset in ({}, {"BUREAU_ATTACHMENT_STORE": " "}, {"BUREAU_ATTACHMENT_STORE": "Instance"}):
        settings = load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), **unset})
        assert settings.attachment_store == "instance"
    secret = tmp_path / "s3-secret"
    secret.write_text("s3cret/key\n")
    settings = load_settings(
        {
            "BUREAU_INSTANCE_PATH": str(tmp_path),
            "BUREAU_ATTACHMENT_STORE": "s3://bureau-files/mail/in/",
            "BUREAU_S3_ENDPOINT_URL": "http://minio:9000/",
            "BUREAU_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "BUREAU_S3_SECRET_ACCESS_KEY_FILE": str(secret),
        }
    )
    assert settings.attachment_store == "s3://bureau-files/mail/in"  # one spelling per store
    assert settings.s3.endpoint_url == "http://minio:9000"
    assert (settings.s3.access_key_id, settings.s3.secret_access_key) == (
        "AKIAEXAMPLE",
        "s3cret/key",
    )
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BUREAU_SECRET_KEY_FILE": "/nonexistent/key"}, "BUREAU_SECRET_KEY_FILE: cannot read"),
        ({"BUREAU_BROKER_URL_FILE": "{empty}"}, "BUREAU_BROKER_URL_FILE: {empty} is empty"),
        ({"BUREAU_REDIS_URL_FILE": "{dir}"}, "BUREAU_REDIS_URL_FILE: cannot read {dir}"),
        (
            {"BUREAU_SMTP_URL": "smtp://a", "BUREAU_SMTP_URL_FILE": "{empty}"},
            "BUREAU_SMTP_URL and BUREAU_SMTP_URL_FILE are both set",
        ),
        (
            {
                "BUREAU_DATABASE_URL": "postgresql+psycopg://u:pw@db/b",
                "BUREAU_DATABASE_PASSWORD_FILE": "{empty}",
            },
            "BUREAU_DATABASE_URL has a password and BUREAU_DATABASE_PASSWORD_FILE is set",
        ),
        (
            {"BUREAU_DATABASE_URL_FILE": "{bad_url}"},
            "BUREAU_DATABASE_URL: port must be a number from 1 to 65535 (got 'x')",
        ),
    ],
)
def test_a_bad_secret_file_names_the_variable(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    places = {"empty": tmp_path / "empty", "dir": tmp_path, "bad_url": tmp_path / "url"}
    places["empty"].write_text("\n")
    places["bad_url"].write_text("postgresql+psycopg://db:x/b\n")
    env = {key: value.format(**places) for key, value in env.items()}
    with pytest.raises(ConfigError) as caught:
        settings_for(tmp_path, **env)
    assert str(caught.value).startswith(message.format(**places))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "days"), [(None, 730), ("", 730), ("  ", 730), ("0", 0), ("90", 90), ("36500", 36500)]
)
def test_retention_days(tmp_path: Path, raw: str | None, days: int) -> None:
    """Unset or empty: two years; 0 keeps unconverted requests' contact details forever."""
    env = {} if raw is None else {"BUREAU_RETENTION_DAYS": raw}
    assert settings_for(tmp_path, **env).retention_days == days  # type: ignore[attr-defined]


# What a production deployment must name: its real database, broker, Redis and mail server.
PRODUCTION = {
    "BUREAU_ENV": "production",
    "BUREAU_SECRET_KEY": "k" * 40,
    "BUREAU_DATABASE_URL": "postgresql+psycopg://bureau@db.internal/bureau",
    "BUREAU_BROKER_URL": "redis://redis.internal:6379/0",
    "BUREAU_REDIS_URL": "redis://redis.internal:6379/1",
    "BUREAU_SMTP_URL": "smtp+starttls://relay.internal:587",
}


def test_production_with_every_service_named_starts(tmp_path: Path) -> None:
    settings = load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), **PRODUCTION})
    assert settings.is_production
    assert settings.flask_config()["SESSION_COOKIE_SECURE"] is True
    limits_uri = settings.flask_config()["RATELIMIT_STORAGE_URI"]
    assert limits_uri == f"bureau+{PRODUCTION['BUREAU_REDIS_URL']}"
    assert not (tmp_path / "secret_key").exists()


# Each bad production setting, as a start-up of each production process would meet it.
BAD_PRODUCTION = [
    ({"BUREAU_SECRET_KEY": ""}, "BUREAU_SECRET_KEY is required"),
    ({"BUREAU_SECRET_KEY": "short"}, "BUREAU_SECRET_KEY must be at least 16 characters"),
    ({"BUREAU_DATABASE_URL": ""}, "BUREAU_DATABASE_URL must name a PostgreSQL database"),
    (
        {"BUREAU_DATABASE_URL": "sqlite:////var/lib/bureau/bureau.db"},
        "BUREAU_DATABASE_URL must name a PostgreSQL database",
    ),
    ({"BUREAU_BROKER_URL": ""}, "BUREAU_BROKER_URL must name a Redis (or AMQP) broker"),
    (
        {"BUREAU_BROKER_URL": "sqla+sqlite:////var/lib/bureau/broker.db"},
        "BUREAU_BROKER_URL must name a Redis (or AMQP) broker",
    ),
    ({"BUREAU_REDIS_URL": ""}, "BUREAU_REDIS_URL is required"),
    ({"BUREAU_SMTP_URL": ""}, "BUREAU_SMTP_URL is required"),
    ({"BUREAU_SMTP_URL": "http://relay.internal"}, "BUREAU_SMTP_URL must start with"),
]


@pytest.mark.parametrize(("change", "message"), BAD_PRODUCTION)
def test_production_refuses_a_missing_or_embedded_service(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"BUREAU_INSTANCE_PATH": str(tmp_path), **PRODUCTION, **change})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


# The production processes: web (gunicorn with its config file), worker, beat, migrations.
PRODUCTION_PROCESSES = {
    "web": ["gunicorn", "-c", "python:bureau.gunicorn_conf", "bureau:create_app()"],
    "worker": ["celery", "-A", "workers.celery_app", "worker"],
    "beat": ["celery", "-A", "workers.celery_app", "beat"],
    "migrate": ["bureau", "db", "upgrade"],
}


# Every bad setting meets one of the processes, and every process meets at least two of them.
START_UPS = [
    (sorted(PRODUCTION_PROCESSES)[i % len(PRODUCTION_PROCESSES)], change, message)
    for i, (change, message) in enumerate(BAD_PRODUCTION)
]


@pytest.mark.slow  # gunicorn, celery and bureau started for real; tests/test_startup.py too
@pytest.mark.parametrize(("process", "change", "message"), START_UPS)
def test_each_production_process_refuses_to_start_with_a_bad_setting(
    tmp_path: Path, process: str, change: dict[str, str], message: str
) -> None:
    program, *arguments = PRODUCTION_PROCESSES[process]
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "BUREAU_INSTANCE_PATH": str(tmp_path),
        **PRODUCTION,
        **change,
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / program), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    # One clear line, no traceback, and nothing started.
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"bureau: configuration error: {message}")
    assert "Listening at" not in result.stderr


def test_command_line_prints_one_clear_line(tmp_path: Path) -> None:
    """The real `bureau` command, as installed: the smoke test a plain `pytest` keeps (the
    other command tests use Flask's CLI runner)."""
    result = subprocess.run(
        [sys.executable, "-m", "bureau", "seed"],
        env={"BUREAU_INSTANCE_PATH": str(tmp_path), "BUREAU_ENV": "staging", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "bureau: configuration error: BUREAU_ENV must be one of development, production, "
        "testing, not 'staging'"
    ]
