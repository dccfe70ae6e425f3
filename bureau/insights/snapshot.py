"""The insights page's figures kept as a snapshot, refreshed by beat and labelled "as of".

At a million requests a year's figures take seconds to compute (docs/topics/insights.md,
"Cost"), so the page serves an offered period (a preset) from ``insights_snapshots`` while
it is fresh (computed within ``FRESH_FOR``), else computes it, stores it and serves that; beat
recomputes every ``REFRESH_MINUTES`` the snapshots viewed within ``VIEWED_WITHIN``, for the
presets' periods as of today, and drops the rest. The figures are stored as JSON by
``encode``/``decode``, which follow the ``Insights`` dataclass's own type hints (no pickle).
"""

from __future__ import annotations

import json
import types
from dataclasses import fields, is_dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Union, get_args, get_origin, get_type_hints

from sqlalchemy import delete, or_, select
from sqlalchemy.sql.elements import ColumnElement

from bureau.bookings.models import BookingRequest
from bureau.db import AnySession, utcnow
from bureau.insights.models import InsightsSnapshot
from bureau.insights.queries import Insights, insights
from bureau.insights.scope import PRESET_WEEKS, Scope, preset_period

# The shape of the stored figures: bump it when ``Insights`` or its parts change, and the
# rows of the old shape are neither read nor kept.
FORM_VERSION = 1
REFRESH_MINUTES = 10
REFRESH = timedelta(minutes=REFRESH_MINUTES)
FRESH_FOR = 2 * REFRESH  # a missed beat run or two does not send the page to live figures
VIEWED_WITHIN = timedelta(days=1)
RECENT = REFRESH / 2  # beat does not recompute a snapshot computed this recently

# --- figures as JSON: every value by the type its dataclass field declares


def encode(value: Any) -> Any:
    """A JSON-able form of ``value`` (a dataclass, or what its fields hold). Mappings become
    lists of [key, value] pairs, so keys keep their type (a date, a rating) and their order."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, date):  # datetimes too: isoformat keeps the offset
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return [value.days, value.seconds, value.microseconds]
    if isinstance(value, dict):
        return [[encode(k), encode(v)] for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a snapshot")


def decode(kind: Any, data: Any) -> Any:
    """The value of type ``kind`` that ``encode`` turned into ``data``."""
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, types.UnionType):
        if data is None:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return decode(inner, data)
    if isinstance(kind, type) and is_dataclass(kind):
        hints = get_type_hints(kind)
        return kind(**{f.name: decode(hints[f.name], data[f.name]) for f in fields(kind)})
    if origin is dict:
        key, item = args
        return {decode(key, k): decode(item, v) for k, v in data}
    if origin is list:
        return [decode(args[0], item) for item in data]
    if origin is tuple:
        return tuple(decode(arg, item) for arg, item in zip(args, data, strict=True))
    if kind is datetime:
        return datetime.fromisoformat(data)
    if kind is date:
        return date.fromisoformat(data)
    if kind is Decimal:
        return Decimal(data)
    if kind is timedelta:
        return timedelta(*data)
    if kind in (bool, int, float, str) and isinstance(data, kind):
        return data
    raise TypeError(f"a snapshot holds {data!r} where a {kind} belongs")


def dumps(figures: Insights) -> str:
    return json.dumps(encode(figures), separators=(",", ":"))


def loads(text: str) -> Insights:
    figures: Insights = decode(Insights, json.loads(text))
    return figures


# --- the store


def _key(scope: Scope) -> list[ColumnElement[bool]]:
    staff = InsightsSnapshot.staff_id
    return [
        InsightsSnapshot.start_on == scope.start,
        InsightsSnapshot.end_on == scope.end,
        staff.is_(None) if scope.staff_id is None else staff == scope.staff_id,
        InsightsSnapshot.form_version == FORM_VERSION,
    ]


def stored(session: AnySession, scope: Scope) -> InsightsSnapshot | None:
    """The newest snapshot of exactly this period and staff filter, fresh or not."""
    return session.scalars(
        select(InsightsSnapshot)
        .where(*_key(scope))
        .order_by(InsightsSnapshot.computed_at.desc(), InsightsSnapshot.id.desc())
        .limit(1)
    ).first()


def store(
    session: AnySession, scope: Scope, preset: str, now: datetime, viewed_at: datetime
) -> tuple[Insights, datetime]:
    """Compute the figures now, replace the scope's snapshot with them and commit."""
    figures = insights(session, scope, today=now.date())
    session.execute(delete(InsightsSnapshot).where(*_key(scope)))
    session.add(
        InsightsSnapshot(
            start_on=scope.start,
            end_on=scope.end,
            staff_id=scope.staff_id,
            form_version=FORM_VERSION,
            preset=preset,
            figures=dumps(figures),
            computed_at=now,
            viewed_at=viewed_at,
        )
    )
    session.commit()
    return figures, now


def figures_for(
    session: AnySession, scope: Scope, preset: str, now: datetime | None = None
) -> tuple[Insights, datetime]:
    """The figures of a preset period and the instant they were computed: the snapshot's
    when it is fresh, else computed now and stored. Marks the snapshot viewed (a write at
    most once per refresh interval)."""
    now = now or utcnow()
    row = stored(session, scope)
    if row is None or row.computed_at < now - FRESH_FOR:
        return store(session, scope, preset, now, viewed_at=now)
    figures = without_erased(session, loads(row.figures))
    if row.viewed_at < now - REFRESH:
        row.viewed_at = now
        session.commit()
    return figures, row.computed_at


def without_erased(session: AnySession, figures: Insights) -> Insights:
    """Leave out the comments of requests erased since the snapshot was computed: erasure
    drops every snapshot in its transaction (``forget_all``), and this closes the window of
    a snapshot computed while an erasure was committing."""
    recent = figures.ratings.recent
    if recent:
        erased = set(
            session.scalars(
                select(BookingRequest.id).where(
                    BookingRequest.id.in_({c.booking_id for c in recent}),
                    BookingRequest.erased_at.is_not(None),
                )
            )
        )
        figures.ratings.recent = [c for c in recent if c.booking_id not in erased]
    return figures


def refresh(session: AnySession, now: datetime | None = None) -> int:
    """Beat's run: recompute, one at a time, each preset and staff filter whose snapshot was
    viewed within ``VIEWED_WITHIN``, for the preset's period as of today (a new day moves
    it), unless computed in the last ``RECENT`` (by the page, or a run still going); then
    drop every snapshot not so kept. Returns how many were computed."""
    clock = utcnow if now is None else (lambda: now)
    started = clock()
    viewed = session.execute(
        select(InsightsSnapshot.preset, InsightsSnapshot.staff_id, InsightsSnapshot.viewed_at)
        .where(
            InsightsSnapshot.viewed_at >= started - VIEWED_WITHIN,
            InsightsSnapshot.preset.in_(list(PRESET_WEEKS)),
            InsightsSnapshot.form_version == FORM_VERSION,
        )
        .order_by(InsightsSnapshot.viewed_at)
    ).all()
    latest = {(preset, staff): at for preset, staff, at in viewed}  # the newest view wins
    session.rollback()  # end the read's transaction before the long computations
    computed = 0
    for (preset, staff_id), viewed_at in latest.items():
        scope = Scope(*preset_period(preset, started.date()), staff_id)
        row = stored(session, scope)
        session.rollback()
        if row is None or row.computed_at < clock() - RECENT:
            store(session, scope, preset, clock(), viewed_at)
            computed += 1
    # Not viewed lately, of another shape, or neither refreshed by this run nor recent (a
    # past day's period); a snapshot the page stored meanwhile is recent and stays.
    session.execute(
        delete(InsightsSnapshot).where(
            or_(
                InsightsSnapshot.viewed_at < started - VIEWED_WITHIN,
                InsightsSnapshot.form_version != FORM_VERSION,
                InsightsSnapshot.computed_at < started - RECENT,
            )
        )
    )
    session.commit()
    return computed


def forget_all(session: AnySession) -> None:
    """Drop every snapshot (in the caller's transaction): personal data was erased, and a
    snapshot may hold a comment or an event name from before."""
    session.execute(delete(InsightsSnapshot))
