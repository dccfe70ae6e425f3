"""Per-process copies of what is built from the whole active catalogue, kept until it changes.

Every staff request page, dashboard and request form lists every active speaker (a thousand
in bench.pages); reading and labelling them again for each view was much of those pages'
work. A copy is reused while the catalogue's version — how many speakers there are and the
newest change to any (every write through the ORM stamps ``updated_at``) — is the one it was
built at, which one small query checks once per transaction (a page lists the catalogue
more than once: the request page's picker and offer list). Kept on the Flask app: each app
(each test's database) has its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from bureau.catalogue.models import Speaker
from bureau.db import AnySession

T = TypeVar("T")
_COPIES = "bureau.catalogue_copies"
_VERSION_KEY = "bureau.catalogue_version"  # as read in the session's open transaction


def catalogue_version(session: AnySession) -> tuple[int, datetime | None]:
    """What any change to a speaker changes: their number and the newest ``updated_at``;
    read once per transaction, again after the session flushes a change to a speaker (a
    bulk UPDATE of speakers shows from the next transaction, as other sessions' do)."""
    version: tuple[int, datetime | None] | None = session.info.get(_VERSION_KEY)
    if version is None:
        count, newest = session.execute(select(func.count(), func.max(Speaker.updated_at))).one()
        version = session.info[_VERSION_KEY] = (int(count), newest)
    return version


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None or transaction.nested:
        session.info.pop(_VERSION_KEY, None)


@event.listens_for(Session, "before_flush")
def _speaker_changed(session: Session, *_: object) -> None:
    if _VERSION_KEY in session.info and any(
        isinstance(changed, Speaker) for changed in (*session.new, *session.dirty, *session.deleted)
    ):
        session.info.pop(_VERSION_KEY, None)


def per_catalogue(session: AnySession, key: Hashable, build: Callable[[AnySession], T]) -> T:
    """``build(session)``, or the copy built at this catalogue version under ``key`` (which
    names what is built and everything else it depends on, such as the locale). Read the
    version first: a change committed meanwhile only makes the next use build afresh."""
    copies: dict[Hashable, tuple[Any, Any]] = current_app.extensions.setdefault(_COPIES, {})
    version = catalogue_version(session)
    kept = copies.get(key)
    if kept is not None and kept[0] == version:
        value: T = kept[1]
        return value
    value = build(session)
    copies[key] = (version, value)
    return value
