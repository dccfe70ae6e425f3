"""Secrets read from files (NAME_FILE) and keys made once and kept in the instance folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bureau.config.errors import ConfigError
from bureau.config.settings import SECRET_FILE_SETTINGS


def read_secret_files(env_vars: dict[str, str]) -> dict[str, str]:
    """NAME_FILE's content (trailing newline removed) becomes NAME; setting both is refused."""
    for name in SECRET_FILE_SETTINGS:
        path = env_vars.get(f"{name}_FILE", "").strip()
        if not path:
            continue
        if env_vars.get(name, "").strip():
            raise ConfigError(f"{name} and {name}_FILE are both set; set only one of them")
        env_vars[name] = secret_file(f"{name}_FILE", path)
    return env_vars


def secret_file(variable: str, path: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{variable}: cannot read {path}: {reason}") from None
    if not value:
        raise ConfigError(f"{variable}: {path} is empty")
    return value


def calendar_keys(raw: str | None, env: str, instance_path: Path) -> tuple[str, ...]:
    """Comma-separated Fernet keys; outside production one is made and kept in the instance
    folder when none is set."""
    from cryptography.fernet import Fernet

    if raw is None:
        if env == "production":
            return ()
        raw = instance_key(
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


def instance_key(
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
