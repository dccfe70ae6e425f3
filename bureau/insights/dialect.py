"""The only SQL of the insights that differs between SQLite and PostgreSQL.

PostgreSQL has time zones, ``date_trunc`` and the ordered-set aggregate ``percentile_cont``;
SQLite keeps datetimes as UTC wall-time text and has none of them, so each helper here says
the same thing twice. Everything else in the insights is portable SQL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from bureau.db import AnySession


def is_postgresql(session: AnySession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def month_text(session: AnySession, column: Any) -> ColumnElement[str]:
    """The UTC month ('YYYY-MM') of an instant, as text."""
    if is_postgresql(session):
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def monday_of(session: AnySession, column: Any) -> ColumnElement[Any]:
    """The UTC week of an instant, by its Monday: a timestamp (midnight, no zone) on
    PostgreSQL, where grouping by ``date_trunc`` costs far less than by text made per row
    (``to_char``); 'YYYY-MM-DD' text on SQLite. ``monday()`` reads either."""
    if is_postgresql(session):
        return func.date_trunc("week", func.timezone("UTC", column))
    # SQLite keeps the UTC wall time as text; 'weekday 0' moves to Sunday, 6 days back is Monday.
    return func.date(column, "weekday 0", "-6 days")


def monday(value: datetime | str) -> date:
    return value.date() if isinstance(value, datetime) else date.fromisoformat(value)


def calendar_month(session: AnySession, column: Any) -> ColumnElement[str]:
    """The month ('YYYY-MM') of a date or of a wall time with no zone (an invoice's day, an
    event's local start): read as written, with no time zone to convert from."""
    if is_postgresql(session):
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def seconds_between(session: AnySession, later: Any, earlier: Any) -> ColumnElement[Any]:
    if is_postgresql(session):
        # date_part is a float; extract() is numeric since PostgreSQL 14, slower to make
        # and to sort for a median.
        return func.date_part("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400


def medians(session: AnySession, rows: Any, *columns: Any) -> tuple[Any, list[Any]]:
    """The rows to aggregate instead of ``rows``, and the median of each of its ``columns``.

    PostgreSQL has the ordered-set aggregate ``percentile_cont``. SQLite has none: each value
    is numbered among the non-null ones (window functions), and the median is the mean of the
    middle one or two.
    """
    if is_postgresql(session):
        return rows, [func.percentile_cont(0.5).within_group(c) for c in columns]
    numbered = select(
        rows,
        *(
            func.row_number().over(partition_by=c.is_(None), order_by=c).label(f"{c.name}_pos")
            for c in columns
        ),
        *(func.count(c).over().label(f"{c.name}_n") for c in columns),
    ).subquery("numbered")
    found = []
    for c in columns:
        value, position, n = (numbered.c[c.name + suffix] for suffix in ("", "_pos", "_n"))
        middle = or_(position == (n + 1) // 2, position == (n + 2) // 2)
        found.append(func.avg(case((middle, value))))
    return numbered, found
