"""Exactly one beat per deployment: beat takes a lock as it starts and holds it while it runs.

Two beats would send every scheduled task twice. On PostgreSQL the lock is a session advisory
lock on a connection of its own (scoped to the database, so one lock per deployment however
many machines run beat); it goes with that connection, so a beat that dies, even killed,
releases it. On SQLite (one machine by nature) it is an flock on ``instance/beat.lock``.
"""

from __future__ import annotations

import fcntl
import os
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bureau.config import Settings

# pg_try_advisory_lock's key: any constant bigint, the same in every beat of every release.
BEAT_LOCK_KEY = 0x62757265_61750001  # "burea", "u", 1
# Held for the life of the process: closing either would release the lock.
_held: list[Any] = []


class BeatLockHeld(Exception):
    """Another beat holds the lock; the message says where, in one line."""


def take_beat_lock(settings: Settings) -> None:
    """Take the lock for this process, or raise BeatLockHeld. Taking it twice is a no-op."""
    if _held:
        return
    if settings.database_url.startswith("postgresql"):
        _take_advisory_lock(settings.database_url)
    else:
        _take_file_lock(settings.instance_path / "beat.lock")


def release_beat_lock() -> None:
    """Let go of the lock (tests; a beat process simply exits)."""
    while _held:
        held = _held.pop()
        held.close()


def _take_advisory_lock(database_url: str) -> None:
    engine = create_engine(database_url, poolclass=NullPool)
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        # A beat whose machine vanished leaves a half-open connection: have the server probe it
        # (about a minute) instead of keeping the lock for the system's two hours.
        connection.execute(text("SET tcp_keepalives_idle = 30"))
        connection.execute(text("SET tcp_keepalives_interval = 10"))
        connection.execute(text("SET tcp_keepalives_count = 3"))
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": BEAT_LOCK_KEY}
        ).scalar_one()
        if not taken:
            holder = connection.execute(
                text(
                    "SELECT a.client_addr, a.pid FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted "
                    "AND l.objid = (:key & 4294967295) AND l.classid = (:key >> 32)"
                ),
                {"key": BEAT_LOCK_KEY},
            ).first()
            where = f" (connection from {holder.client_addr or 'a local socket'})" if holder else ""
            raise BeatLockHeld(f"another beat holds the beat lock in the database{where}")
    except BaseException:
        connection.close()
        engine.dispose()
        raise
    _held.append(connection)


def _take_file_lock(path: os.PathLike[str]) -> None:
    handle = open(path, "a+")  # noqa: SIM115 - kept open for the life of the process
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        raise BeatLockHeld(f"another beat holds {path} (pid {holder or 'unknown'})") from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _held.append(handle)
