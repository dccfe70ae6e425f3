"""Column declarations the tables share, written once so every table spells them alike.

Use as ``created_at: Mapped[CreatedAt]``; ``Mapped[CountryCode | None]`` makes it nullable, and
a ``mapped_column(...)`` on the right adds to the type's (``mapped_column(default="UTC")``).
The schema they give is the one the tables had, column for column (migrations unchanged).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table
from sqlalchemy.orm import mapped_column

from bureau.db import Base, utcnow

# When the row was written; an instant in UTC (bureau.db.UTCDateTime).
CreatedAt = Annotated[datetime, mapped_column(default=utcnow)]
# When the row last changed: set on insert and by every ORM update.
UpdatedAt = Annotated[datetime, mapped_column(default=utcnow, onupdate=utcnow)]
# An IANA zone name ("Europe/Berlin"), the longest well under 64 characters.
TimeZoneName = Annotated[str, mapped_column(String(64))]
# ISO 3166-1 alpha-2 ("DE").
CountryCode = Annotated[str, mapped_column(String(2))]
# ISO 4217 ("EUR").
CurrencyCode = Annotated[str, mapped_column(String(3))]


def ends_after_start() -> CheckConstraint:
    """The check every table with a ``starts_at``/``ends_at`` span carries (a new one each call:
    a constraint belongs to one table)."""
    return CheckConstraint("ends_at > starts_at", name="ends_after_start")


def link_table(name: str, **links: str) -> Table:
    """An association table of two (or more) foreign keys, together the primary key; a row
    goes when either end does. ``links`` maps each column to the ``table.id`` it refers to,
    in column order: ``link_table("speaker_topics", speaker_id="speakers.id", ...)``."""
    return Table(
        name,
        Base.metadata,
        *(
            Column(column, ForeignKey(target, ondelete="CASCADE"), primary_key=True)
            for column, target in links.items()
        ),
    )


# A reader's or a text's language: a code of bureau.i18n.LOCALES ('en', 'zh_Hans').
LocaleCode = Annotated[str, mapped_column(String(16), default="en", server_default="en")]
