"""A rate-limit storage in the application's database, for when BUREAU_REDIS_URL is unset.

Every web process (gunicorn's workers, a second machine on the same PostgreSQL) counts in
the same table, so a limit such as "20 per 10 minutes" means 20 however many processes
serve: per-process memory would allow 20 in each. Registered with the ``limits`` library
under the ``bureau+database://`` scheme when this module is imported.

Each hit is a row with the moment it stops counting. Taking an entry is one conditional
INSERT (count, then add, in a single statement), which SQLite runs under its write lock;
PostgreSQL takes a transaction-scoped advisory lock on the key first.
"""

from __future__ import annotations

import time
import zlib
from typing import Any, cast

from limits.storage import MovingWindowSupport, Storage
from sqlalchemy import (
    Engine,
    Float,
    Index,
    String,
    Table,
    create_engine,
    delete,
    func,
    insert,
    literal,
)
from sqlalchemy import select as sql_select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import text

from bureau.db import Base, ping_when_idle

SCHEME = "bureau+database"
MAX_KEY = 500


class RateLimitHit(Base):
    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_key_expires", "key", "expires"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY))
    # Seconds since the epoch (time.time()) when this hit stops counting.
    expires: Mapped[float] = mapped_column(Float, index=True)
    amount: Mapped[int] = mapped_column(default=1)


_hits = cast(Table, RateLimitHit.__table__)


class DatabaseStorage(Storage, MovingWindowSupport):
    """Moving-window (and fixed-window) counts in the ``rate_limit_hits`` table."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(
        self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any
    ) -> None:
        self.database_url = str(options.pop("database_url", ""))
        if not self.database_url:
            raise ValueError(f"{SCHEME}:// needs the database_url storage option")
        self._engine: Engine | None = None
        super().__init__(uri, wrap_exceptions=wrap_exceptions)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            sqlite = self.database_url.startswith("sqlite")
            self._engine = create_engine(
                self.database_url,
                # Wait for another process's write instead of failing at once.
                connect_args={"timeout": 30} if sqlite else {},
            )
            if not sqlite:
                ping_when_idle(self._engine)
        return self._engine

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def _live(self, key: str, now: float) -> Any:
        return (_hits.c.key == key[:MAX_KEY]) & (_hits.c.expires > now)

    def _count(self, key: str, now: float) -> Any:
        return (
            sql_select(func.coalesce(func.sum(_hits.c.amount), 0))
            .where(self._live(key, now))
            .scalar_subquery()
        )

    def _add(self, key: str, expires: float, amount: int, limit: int | None) -> bool:
        """Add a hit, only if it keeps the key within ``limit``; whether it was added."""
        now = time.time()
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:lock)"),
                    {"lock": zlib.crc32(key.encode()) + (1 << 40)},
                )
            row = sql_select(literal(key[:MAX_KEY]), literal(expires), literal(amount))
            if limit is not None:
                row = row.where(self._count(key, now) + amount <= limit)
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... SELECT.
            added = connection.execute(
                insert(_hits).from_select(["key", "expires", "amount"], row).returning(_hits.c.id)
            ).first()
            connection.execute(delete(_hits).where(_hits.c.expires <= now))
        return added is not None

    # --- moving window (the strategy Bureau uses)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        return self._add(key, time.time() + expiry, amount, limit)

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        with self.engine.connect() as connection:
            first, count = connection.execute(
                sql_select(
                    func.min(_hits.c.expires), func.coalesce(func.sum(_hits.c.amount), 0)
                ).where(self._live(key, now))
            ).one()
        return (now, 0) if first is None else (float(first) - expiry, int(count))

    # --- fixed window, and the rest of the Storage interface

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        expires = self.get_expiry(key)
        self._add(key, expires if expires > now else now + expiry, amount, None)
        return self.get(key)

    def get(self, key: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.scalar(sql_select(self._count(key, time.time()))) or 0)

    def get_expiry(self, key: str) -> float:
        now = time.time()
        with self.engine.connect() as connection:
            latest = connection.scalar(
                sql_select(func.max(_hits.c.expires)).where(self._live(key, now))
            )
        return now if latest is None else float(latest)

    def check(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(sql_select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.engine.begin() as connection:
            return connection.execute(delete(_hits)).rowcount

    def clear(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(_hits).where(_hits.c.key == key[:MAX_KEY]))
