"""The instance folder holds password hashes, organizers' personal data and the signing key:
only the account that runs Bureau may read it, whatever the umask.

Folders are made 0700 and files 0600 explicitly (a umask of 022 would leave them readable by
every local user). SQLite gives its -wal, -shm and -journal files the database file's mode.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

FOLDER_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def private_folder(path: Path) -> Path:
    """Create ``path`` (and parents) if missing; the folder itself ends up 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, FOLDER_MODE)
    return path


def sqlite_path(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` (or ``sqla+sqlite:///``) URL; None for others."""
    try:
        parsed = make_url(url.removeprefix("sqla+"))
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def private_sqlite(url: str) -> None:
    """Create the database file 0600 before SQLite does (it would use 0644 under umask
    022), and narrow an existing one and its companions."""
    path = sqlite_path(url)
    if path is None or not path.parent.is_dir():
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists() and companion.stat().st_uid == os.getuid():
            os.chmod(companion, FILE_MODE)
