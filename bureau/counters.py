"""Numbers counted per year without gaps (BR-2027-00042, INV-2027-00001): one atomic upsert.

The counter row is incremented in the transaction that uses the number: on PostgreSQL the
upsert locks the year's row until commit, so concurrent writers queue instead of sharing a
number, and a rolled-back transaction gives its number back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from bureau.db import AnySession


class YearCounter:
    """Mixed into a table with one row per year: the last ``value`` used in ``year``."""

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(default=0)


def next_in_year(session: AnySession, counter: type[YearCounter], year: int) -> int:
    """The next number of ``year`` in ``counter``'s table: 1, 2, 3, … without gaps."""
    statement = increment(counter, session.get_bind().dialect.name)
    number: int = session.execute(statement, {"year": year}).scalar_one()
    return number


_STATEMENTS: dict[tuple[str, str], Any] = {}


def increment(counter: type[YearCounter], dialect: str) -> Any:
    """The upsert (bound parameter ``year``) returning the number: built once per table and
    dialect (building it costs more than running it)."""
    key = (counter.__name__, dialect)
    if key not in _STATEMENTS:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        _STATEMENTS[key] = (
            insert(counter)
            .values(year=bindparam("year"), value=1)
            .on_conflict_do_update(index_elements=[counter.year], set_={"value": counter.value + 1})
            .returning(counter.value)
        )
    return _STATEMENTS[key]
