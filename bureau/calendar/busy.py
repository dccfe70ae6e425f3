"""A speaker's own busy time: blackout periods and the busy intervals of their own calendar.

Both count in every conflict check exactly as engagements do, travel buffers included (the
speaker's own time is taken to be at home). What is kept is private by design: a blackout's
note is shown to staff and to the speaker only, and a busy interval is a start and an end,
nothing else (no title, no attendees, no place) — see calendar/sources.py.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, delete, select
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from bureau.calendar.travel import Place, TravelBuffers
from bureau.catalogue.models import Speaker
from bureau.db import AnySession, Base, utcnow


class SpeakerTime:
    """A span of a speaker's time (a blackout or a busy interval); found by speaker and end."""

    id: Mapped[int] = mapped_column(primary_key=True)
    speaker_id: Mapped[int] = mapped_column(ForeignKey("speakers.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        table: str = cls.__tablename__  # type: ignore[attr-defined]
        return (
            CheckConstraint("ends_at > starts_at", name="ends_after_start"),
            Index(f"ix_{table}_speaker_id_ends_at", "speaker_id", "ends_at"),
        )


class Blackout(SpeakerTime, Base):
    """A period the speaker is not available, entered by staff or by the speaker."""

    __tablename__ = "blackouts"

    all_day: Mapped[bool] = mapped_column(default=False)
    # Private: staff and the speaker see it, no check or message repeats it.
    note: Mapped[str | None] = mapped_column(String(500))
    entered_by: Mapped[str] = mapped_column(String(20))  # "staff" or "speaker"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarSource(Base):
    """A speaker's own calendar: an ICS subscription or a CalDAV calendar, fetched by beat."""

    __tablename__ = "speaker_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    speaker_id: Mapped[int] = mapped_column(
        ForeignKey("speakers.id", ondelete="CASCADE"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(10))  # "ics" or "caldav"
    url: Mapped[str] = mapped_column(String(1000))
    username: Mapped[str | None] = mapped_column(String(200))
    # Fernet token of the password (BUREAU_CALENDAR_KEY); never shown back.
    password_secret: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    next_fetch_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_fetch_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_result: Mapped[str | None] = mapped_column(String(300))
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BusyInterval(SpeakerTime, Base):
    """When the speaker's own calendar is busy: a start and an end, nothing more."""

    __tablename__ = "busy_intervals"


def replace_busy_intervals(
    session: AnySession, speaker_id: int, intervals: list[tuple[datetime, datetime]]
) -> None:
    """The speaker's intervals become these, in the caller's transaction (all or nothing)."""
    session.execute(delete(BusyInterval).where(BusyInterval.speaker_id == speaker_id))
    session.add_all(
        BusyInterval(speaker_id=speaker_id, starts_at=start, ends_at=end)
        for start, end in intervals
    )


def blackout_span(
    zone: str, first: date, last: date, start: time | None, end: time | None
) -> tuple[datetime, datetime, bool]:
    """A blackout's instants: whole days (no times) or from ``start`` on ``first`` to ``end``
    on ``last``, in the speaker's home zone; and whether it is all-day."""
    tz = ZoneInfo(zone)
    if start is None and end is None:
        begins = datetime.combine(first, time(0), tz)
        ends = datetime.combine(last + timedelta(days=1), time(0), tz)
        return begins, ends, True
    begins = datetime.combine(first, start or time(0), tz)
    ends = datetime.combine(last, end or time(23, 59), tz)
    return begins, ends, False


def home_of(speaker: Speaker) -> Place:
    return Place(
        city=speaker.home_city.strip().casefold() or None,
        country=speaker.home_country,
        area=speaker.home_timezone.split("/", 1)[0],
        virtual=False,
    )


UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Zulu", "Etc/Zulu"})


def place_name(zone: str) -> str:
    """A zone by its place: 'Europe/Amsterdam' → 'Amsterdam', 'America/New_York' → 'New
    York'; UTC by any of its names is 'UTC'."""
    return "UTC" if zone in UTC_NAMES else zone.rsplit("/", 1)[-1].replace("_", " ")


def zone_label(zone: str) -> str:
    """'Europe/Amsterdam' → 'Amsterdam time'."""
    return f"{place_name(zone)} time"


DASH = "\N{EN DASH}"


def _span(starts_at: datetime, ends_at: datetime, zone: str) -> str:
    tz = ZoneInfo(zone)
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    if start.date() == end.date():
        return f"{start:%Y-%m-%d} {start:%H:%M}{DASH}{end:%H:%M} ({zone_label(zone)})"
    return f"{start:%Y-%m-%d %H:%M}{DASH}{end:%Y-%m-%d %H:%M} ({zone_label(zone)})"


def own_time_clashes(
    session: AnySession,
    starts_at: datetime,
    ends_at: datetime,
    *,
    place: Place,
    zone: str,
    buffers: TravelBuffers,
    speaker_id: int | None = None,
) -> dict[int, list[str]]:
    """Per speaker (one, or all), the blackouts and own-calendar busy times too close to this
    slot: the travel time between the slot's place and the speaker's home counts, as it does
    between engagements. The words name the time (in ``zone``) and never a private detail."""
    start, end = starts_at - buffers.largest, ends_at + buffers.largest
    found: dict[int, list[str]] = defaultdict(list)
    for model, what in (
        (Blackout, "blackout period"),
        (BusyInterval, "busy in their own calendar"),
    ):
        query = (
            select(model.starts_at, model.ends_at, Speaker)
            .join(Speaker, Speaker.id == model.speaker_id)
            .where(model.starts_at < end, model.ends_at > start)
            .order_by(model.starts_at)
        )
        if speaker_id is not None:
            query = query.where(model.speaker_id == speaker_id)
        for other_start, other_end, speaker in session.execute(query):
            gap = buffers.between(place, home_of(speaker))
            if other_start < ends_at + gap and other_end > starts_at - gap:
                found[speaker.id].append(f"{what} {_span(other_start, other_end, zone)}")
    return found


class BlackoutProblem(Exception):
    """The period cannot be saved; the message says why."""


MAX_BLACKOUT = timedelta(days=400)
MAX_AHEAD = timedelta(days=5 * 366)


def add_blackout(
    session: AnySession,
    speaker: Speaker,
    *,
    first: date,
    last: date | None,
    start: time | None,
    end: time | None,
    note: str | None,
    entered_by: str,
) -> Blackout:
    """A new blackout period, read in the speaker's home zone; BlackoutProblem, and nothing
    saved, for a period that ends before it starts or is longer than 400 days."""
    if (start is None) != (end is None):
        raise BlackoutProblem(_("Give both times, or neither for whole days."))
    today = utcnow().date()
    if not today - timedelta(days=366) <= first <= today + MAX_AHEAD or (
        last is not None and not first <= last <= today + MAX_AHEAD
    ):
        raise BlackoutProblem(
            _("Give days from the past year to five years ahead, the last not before the first.")
        )
    begins, ends, all_day = blackout_span(speaker.home_timezone, first, last or first, start, end)
    if ends <= begins:
        raise BlackoutProblem(_("The period must end after it starts."))
    if ends - begins > MAX_BLACKOUT:
        raise BlackoutProblem(_("A blackout period can last at most 400 days."))
    blackout = Blackout(
        speaker_id=speaker.id,
        starts_at=begins,
        ends_at=ends,
        all_day=all_day,
        note=(note or "").strip()[:500] or None,
        entered_by=entered_by,
    )
    session.add(blackout)
    return blackout


def upcoming_blackouts(session: AnySession, speaker_id: int) -> list[Blackout]:
    return list(
        session.scalars(
            select(Blackout)
            .where(Blackout.speaker_id == speaker_id, Blackout.ends_at > utcnow())
            .order_by(Blackout.starts_at)
        )
    )


def remove_blackout(session: AnySession, speaker_id: int, blackout_id: int) -> bool:
    """Remove the speaker's own blackout (another speaker's id removes nothing)."""
    removed = session.execute(
        delete(Blackout).where(Blackout.id == blackout_id, Blackout.speaker_id == speaker_id)
    )
    return bool(removed.rowcount)  # type: ignore[attr-defined]


def blackout_label(blackout: Blackout, zone: str) -> str:
    """When, in the speaker's home zone: whole days, or from and until."""
    if blackout.all_day:
        tz = ZoneInfo(zone)
        first = blackout.starts_at.astimezone(tz).date()
        last = (blackout.ends_at.astimezone(tz) - timedelta(seconds=1)).date()
        days = f"{first:%Y-%m-%d}" + ("" if first == last else f" to {last:%Y-%m-%d}")
        return f"{days}, all day"
    return _span(blackout.starts_at, blackout.ends_at, zone)
