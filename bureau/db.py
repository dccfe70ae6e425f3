"""Declarative base with a constraint naming convention, a UTC-only datetime type, and row
values as JSON."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeAlias

from sqlalchemy import DateTime, MetaData
from sqlalchemy.engine import Dialect
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
