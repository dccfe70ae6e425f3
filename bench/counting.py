"""Counted, not guessed: SQL statements, commits and Redis round trips per process.

A benchmark-only hook. With ``BENCH_COUNTS=<folder>`` in a process's environment, importing
this module (``celery worker -I bench.counting``, or gunicorn serving ``bureau_app()`` /
``naive_app()`` below) makes every process count, in a 24-byte file ``<folder>/<pid>``
mapped into memory (no system call per count; the benchmark sums the files at any time):

- **SQL statements**: SQLAlchemy's ``before_cursor_execute`` event on every engine (one per
  ``cursor.execute``/``executemany`` sent to the database);
- **commits**: SQLAlchemy's ``commit`` event (each transaction committed through SQLAlchemy;
  read-only transactions ended by the pool's rollback are not counted);
- **Redis round trips**: calls of redis-py's ``send_packed_command``, which sends one command
  or one whole pipeline (Celery's kombu, rate limits and caches all go through redis-py).

PostgreSQL's ``pg_stat_statements`` would count server-side, but it needs to be preloaded
by the server (``shared_preload_libraries``), which the benchmarks cannot assume; the hook
costs a few microseconds a statement, the same for Bureau and the naive service.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path
from typing import Any

ENV = "BENCH_COUNTS"
FIELDS = ("statements", "commits", "redis")
_SLOT = struct.Struct("<Q")
# (pid, its counters, the folder they are in)
_state: tuple[int, mmap.mmap, str] | None = None


def _counters() -> mmap.mmap:
    global _state
    # A forked child counts in a file of its own.
    if _state is None or _state[0] != os.getpid() or _state[2] != os.environ[ENV]:
        path = Path(os.environ[ENV]) / str(os.getpid())
        path.write_bytes(bytes(_SLOT.size * len(FIELDS)))
        with path.open("r+b") as file:
            _state = (os.getpid(), mmap.mmap(file.fileno(), 0), os.environ[ENV])
    return _state[1]


def bump(index: int) -> None:
    if ENV not in os.environ:  # switched off (a test that installed it has ended)
        return
    counters = _counters()
    offset = index * _SLOT.size
    _SLOT.pack_into(counters, offset, _SLOT.unpack_from(counters, offset)[0] + 1)


def read(folder: Path) -> dict[str, int]:
    """The counts of every process that counted into ``folder``, added up."""
    totals = dict.fromkeys(FIELDS, 0)
    for path in folder.iterdir() if folder.exists() else ():
        data = path.read_bytes()
        for index, name in enumerate(FIELDS):
            totals[name] += _SLOT.unpack_from(data, index * _SLOT.size)[0]
    return totals


def install() -> None:
    """Count in this process (and its forks) when ``BENCH_COUNTS`` is set; idempotent."""
    if not os.environ.get(ENV) or getattr(install, "done", False):
        return
    from redis.connection import AbstractConnection
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def statement(*_: Any) -> None:
        bump(0)

    def commit(*_: Any) -> None:
        bump(1)

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "commit", commit)
    send = AbstractConnection.send_packed_command

    def counted_send(self: Any, command: Any, check_health: bool = True) -> None:
        bump(2)
        send(self, command, check_health)

    AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign]
    install.done = True  # type: ignore[attr-defined]


def bureau_app() -> Any:
    """``gunicorn 'bench.counting:bureau_app()'``: Bureau's app, counting."""
    install()
    from bureau import create_app

    return create_app()


def naive_app() -> Any:
    """``gunicorn 'bench.counting:naive_app()'``: the naive service's app, counting."""
    install()
    from bench.naive.app import create_app

    return create_app()


install()  # imported by a Celery worker with -I bench.counting
