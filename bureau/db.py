"""Declarative base with a constraint naming convention, a UTC-only datetime type, row values
as JSON, and the connection pool's liveness check."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeAlias

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, registry, scoped_session
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)

# Stable constraint names let Alembic compare, alter and drop them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: refuses naive datetimes on the way in, always returns aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} stored as an instant; attach a zone")
        value = value.astimezone(UTC)
        # SQLite has no zone-aware type: keep the UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    # Every ``Mapped[datetime]`` is an instant in UTC; local wall times say DateTime explicitly.
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


# Services accept a plain Session (scripts, tests) or Flask-SQLAlchemy's scoped one.
AnySession: TypeAlias = Session | scoped_session[Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


def without_raising(app: Any, what: str, action: Callable[[Any], object]) -> None:
    """``action(db.session)`` in an app context, for processes that must outlive a database
    outage (a worker's main process, beat): an error is rolled back and logged, not raised."""
    from bureau.extensions import db

    with app.app_context():
        try:
            action(db.session)
        except Exception as error:
            db.session.rollback()
            logger.warning("%s: not done (%s)", what, error)
        finally:
            db.session.remove()


def json_value(value: Any) -> Any:
    """``json.dumps``'s ``default`` for column values: instants and dates in ISO 8601 (as
    PostgreSQL parses them back), amounts as exact strings."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


# A pooled connection unused for longer is pinged before it is handed out.
IDLE_BEFORE_PING = 10.0
_RETURNED = "bureau.returned_at"


def ping_when_idle(engine: Engine, idle: float = IDLE_BEFORE_PING) -> None:
    """``pool_pre_ping``'s check (a connection the server dropped is replaced, not handed
    out), made only for a connection idle more than ``idle`` seconds: the server restarted
    or timed it out while it lay in the pool. Under load a connection comes back within
    milliseconds, and the ping was one more round trip for every request; a server lost in
    that instant fails the statement, which invalidates the whole pool as before."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_RETURNED, 0.0) <= idle:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and hands out a new one.
            raise DisconnectionError(f"idle connection lost: {error}") from error
