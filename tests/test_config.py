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
    assert settings.flask_config()["RATELIMIT_STORAGE_URI"] == "memory://"
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
        ({"BUREAU_BROKER_URL": "localhost"}, "BUREAU_BROKER_URL", "redis://"),
        ({"BUREAU_REDIS_URL": "http://x"}, "BUREAU_REDIS_URL", "redis://"),
        ({"BUREAU_SMTP_URL": "http://mail"}, "BUREAU_SMTP_URL", "smtp://"),
        ({"BUREAU_SMTP_URL": "smtp://"}, "BUREAU_SMTP_URL", "host"),
        ({"BUREAU_SMTP_URL": "smtp://mail:port"}, "BUREAU_SMTP_URL", "port"),
        ({"BUREAU_MAIL_FROM": "Bureau"}, "BUREAU_MAIL_FROM", "address"),
        ({"BUREAU_BASE_URL": "bureau.example"}, "BUREAU_BASE_URL", "http"),
        ({"BUREAU_SUBMIT_RATE_LIMIT": "lots"}, "BUREAU_SUBMIT_RATE_LIMIT", "per minute"),
        ({"BUREAU_LOG_FORMAT": "xml"}, "BUREAU_LOG_FORMAT", "text or json"),
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


def test_production_with_a_secret_key_starts(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "BUREAU_INSTANCE_PATH": str(tmp_path),
            "BUREAU_ENV": "production",
            "BUREAU_SECRET_KEY": "k" * 40,
        }
    )
    assert settings.flask_config()["SESSION_COOKIE_SECURE"] is True
    assert not (tmp_path / "secret_key").exists()


def test_command_line_prints_one_clear_line(tmp_path: Path) -> None:
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
