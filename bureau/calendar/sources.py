"""Fetching a speaker's own calendar and keeping only when it is busy.

An ICS subscription (http, https or webcal) is fetched with a conditional GET, a timeout
and a byte limit enforced while the body streams in; a CalDAV calendar is asked for the
events in the kept window (a time-range search). Either way the events are expanded here
(recurring-ical-events: RRULE, RDATE, EXDATE, moved and cancelled occurrences), transparent
and cancelled ones dropped, all-day and floating ones read in the speaker's home zone, and
the result merged into busy intervals: a start and an end each. Titles, descriptions,
places and attendees are never stored.

A fetch that fails keeps the previous intervals and records why (shown to staff).
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import recurring_ical_events
import requests
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from icalendar import Calendar
from sqlalchemy import select, update

from bureau.calendar.busy import CalendarSource, replace_busy_intervals
from bureau.catalogue.models import Speaker
from bureau.db import AnySession, utcnow

MAX_BYTES = 5 * 1024 * 1024  # a calendar larger than this is refused
MAX_INTERVALS = 20_000
MAX_OCCURRENCES = 20_000  # about 35 a day for 19 months
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 15.0
DEADLINE = 30.0  # seconds for a whole fetch, however slowly the server drips
WINDOW_BEFORE, WINDOW_AFTER = timedelta(days=30), timedelta(days=548)
SCHEMES = {"http": "http", "https": "https", "webcal": "https", "webcals": "https"}


class CalendarProblem(Exception):
    """The calendar cannot be used; the message says why, in words for staff."""


def window(now: datetime) -> tuple[datetime, datetime]:
    """The busy intervals kept: 30 days back to 18 months ahead."""
    return now - WINDOW_BEFORE, now + WINDOW_AFTER


# The password, encrypted with BUREAU_CALENDAR_KEY.


def _cipher() -> MultiFernet:
    keys = current_app.config["BUREAU_SETTINGS"].calendar_keys
    if not keys:
        raise CalendarProblem(
            "BUREAU_CALENDAR_KEY is not set, so no calendar password can be stored or read."
        )
    return MultiFernet([Fernet(key) for key in keys])


def seal(password: str) -> str:
    return _cipher().encrypt(password.encode()).decode()


def unseal(secret: str) -> str:
    try:
        return _cipher().decrypt(secret.encode()).decode()
    except InvalidToken:
        raise CalendarProblem(
            "The stored password cannot be read with BUREAU_CALENDAR_KEY (was the key "
            "changed?); enter the password again."
        ) from None


# Fetching.


def normalise_url(raw: str) -> str:
    """An http(s) URL; webcal:// becomes https://. CalendarProblem for anything else."""
    try:
        parts = urlsplit(raw.strip())
        hostname = parts.hostname
    except ValueError:  # a broken [IPv6] part or port
        hostname = None
    if not hostname or parts.scheme.lower() not in SCHEMES:
        raise CalendarProblem("Give an http://, https:// or webcal:// address of a calendar.")
    return urlunsplit(parts._replace(scheme=SCHEMES[parts.scheme.lower()]))


@dataclass(frozen=True)
class Fetched:
    documents: list[bytes] | None  # None: not modified since the last fetch
    etag: str | None = None
    last_modified: str | None = None


def fetch_ics(
    url: str,
    username: str | None,
    password: str | None,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    headers = {"Accept": "text/calendar, */*;q=0.5", "User-Agent": "Bureau calendar check"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    auth = (username, password or "") if username else None
    deadline = clock.monotonic() + DEADLINE
    try:
        with requests.get(
            url,
            headers=headers,
            auth=auth,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            stream=True,
        ) as response:
            if response.status_code == 304:
                return Fetched(None, etag, last_modified)
            if response.status_code in (401, 403):
                raise CalendarProblem(
                    f"The server refused the user name or password ({response.status_code})."
                )
            if response.status_code != 200:
                raise CalendarProblem(
                    f"The server answered {response.status_code} {response.reason}, "
                    "not the calendar."
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_BYTES:
                raise _too_large()
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_BYTES:
                    raise _too_large()
                if clock.monotonic() > deadline:
                    raise CalendarProblem(f"The calendar took longer than {DEADLINE:.0f} s.")
            return Fetched(
                [bytes(body)],
                response.headers.get("ETag"),
                response.headers.get("Last-Modified"),
            )
    except requests.Timeout:
        raise CalendarProblem("The calendar's server did not answer in time.") from None
    except requests.RequestException as error:
        raise _failed("The calendar's server cannot be reached", error) from None


def _too_large() -> CalendarProblem:
    return CalendarProblem(f"The calendar is larger than {MAX_BYTES // (1024 * 1024)} MB.")


def _failed(what: str, error: Exception) -> CalendarProblem:
    """What went wrong, and in brackets the library's own words for why (at most 200
    characters): staff read it on the speaker's page."""
    text = str(error)
    # requests nests the cause: the last part is the one that says what happened.
    reason = (text.rsplit(": ", 1)[-1].strip(" ')\"") or type(error).__name__)[:200]
    return CalendarProblem(f"{what} ({reason}).")


def fetch_caldav(
    url: str, username: str | None, password: str | None, start: datetime, end: datetime
) -> Fetched:
    """The events of a CalDAV calendar that touch [start, end), unexpanded."""
    import caldav
    from caldav.lib import error as dav_error

    try:
        with caldav.DAVClient(  # type: ignore[operator]
            url=url,
            username=username or None,
            password=password or None,
            timeout=int(READ_TIMEOUT),
        ) as client:
            calendar = client.calendar(url=url)
            found = calendar.search(start=start, end=end, event=True, expand=False)
            documents, size = [], 0
            for item in found:
                data = item.data.encode() if isinstance(item.data, str) else bytes(item.data)
                size += len(data)
                if size > MAX_BYTES:
                    raise _too_large()
                documents.append(data)
            return Fetched(documents)
    except CalendarProblem:
        raise
    except dav_error.AuthorizationError:
        raise CalendarProblem("The server refused the user name or password.") from None
    except dav_error.NotFoundError:
        raise CalendarProblem("There is no calendar at this address.") from None
    except dav_error.DAVError as error:
        raise _failed("The server did not answer as a CalDAV calendar", error) from None
    except Exception as error:  # niquests' and lxml's errors: the server, not us
        raise _failed(
            "The calendar's server cannot be reached or answered nonsense", error
        ) from None


# Parsing: occurrences → busy intervals.


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)
    return datetime.combine(value, time(0), zone).astimezone(UTC)


def busy_from(
    documents: list[bytes], home_zone: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The merged busy intervals of these iCalendar documents within [start, end)."""
    zone = ZoneInfo(home_zone)
    spans: list[tuple[datetime, datetime]] = []
    for document in documents:
        if not document.lstrip(b"\xef\xbb\xbf \t\r\n").upper().startswith(b"BEGIN:VCALENDAR"):
            raise CalendarProblem(
                "The address did not answer with a calendar (no BEGIN:VCALENDAR)."
            )
        try:
            calendar = Calendar.from_ical(document.decode("utf-8", errors="replace"))
            _refuse_dense_rules(calendar)
            # Dense rules are refused above, so the window holds a bounded number.
            occurrences: list[Any] = recurring_ical_events.of(
                calendar, skip_bad_series=True
            ).between(start, end)
            if len(occurrences) > MAX_OCCURRENCES:
                raise CalendarProblem(
                    f"The calendar has more than {MAX_OCCURRENCES} events in "
                    "the 19 months the bureau looks at."
                )
            for event in occurrences:
                if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
                    continue
                if str(event.get("STATUS", "")).upper() == "CANCELLED":
                    continue
                begins, ends = _instant(event.start, zone), _instant(event.end, zone)
                if ends > begins:
                    spans.append((max(begins, start), min(ends, end)))
        except CalendarProblem:
            raise
        except Exception as error:  # icalendar and the expansion raise many kinds
            raise _failed("The calendar is malformed", error) from None
    return _merged(spans)


def _refuse_dense_rules(calendar: Calendar) -> None:
    """Rules repeating every second or minute would expand to millions of occurrences in
    the window before they could be counted; no busy time needs them."""
    for event in calendar.walk("VEVENT"):
        rules = event.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules] if rules else []:
            dense = str(rule.get("FREQ", [""])[0]).upper() in ("SECONDLY", "MINUTELY")
            if dense or "BYSECOND" in rule or len(rule.get("BYMINUTE", [])) > 4:
                raise CalendarProblem(
                    "The calendar has an event repeating every second or minute; "
                    "remove it, or give another calendar."
                )


def _merged(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for begins, ends in sorted(spans):
        if merged and begins <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], ends))
        else:
            merged.append((begins, ends))
    if len(merged) > MAX_INTERVALS:
        raise CalendarProblem(f"The calendar has more than {MAX_INTERVALS} busy times.")
    return merged


# Connecting and refreshing.


@dataclass(frozen=True)
class Connection:
    kind: str
    url: str
    username: str | None
    password: str | None


def fetch(
    connection: Connection,
    zone: str,
    now: datetime,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> tuple[Fetched, list[tuple[datetime, datetime]] | None]:
    start, end = window(now)
    if connection.kind == "caldav":
        fetched = fetch_caldav(connection.url, connection.username, connection.password, start, end)
    else:
        fetched = fetch_ics(
            connection.url,
            connection.username,
            connection.password,
            etag=etag,
            last_modified=last_modified,
        )
    if fetched.documents is None:
        return fetched, None
    return fetched, busy_from(fetched.documents, zone, start, end)


def connect(session: AnySession, speaker: Speaker, connection: Connection) -> CalendarSource:
    """Fetch the calendar now; only when that works is it saved, with its busy intervals.
    An empty password keeps the stored one (it is never shown, so never re-entered) as long
    as the user name stays the same.

    CalendarProblem, and nothing changed, for an address or password that does not work."""
    source = session.scalars(
        select(CalendarSource).where(CalendarSource.speaker_id == speaker.id)
    ).one_or_none()
    password, secret = connection.password, None
    if password:
        secret = seal(password)
    elif source is not None and source.password_secret and source.username == connection.username:
        secret = source.password_secret
        password = unseal(secret)
    connection = Connection(
        connection.kind, normalise_url(connection.url), connection.username, password
    )
    now = utcnow()
    fetched, intervals = fetch(connection, speaker.home_timezone, now)
    if source is None:
        source = CalendarSource(speaker_id=speaker.id)
        session.add(source)
    source.kind, source.url, source.username = connection.kind, connection.url, connection.username
    source.password_secret = secret
    source.etag = source.last_modified = None
    _record_success(session, source, speaker.id, fetched, intervals or [], now)
    return source


def _record_success(
    session: AnySession,
    source: CalendarSource,
    speaker_id: int,
    fetched: Fetched,
    intervals: list[tuple[datetime, datetime]] | None,
    now: datetime,
) -> None:
    if intervals is None:
        source.last_result = "unchanged since the last fetch"
    else:
        replace_busy_intervals(session, speaker_id, intervals)
        source.etag, source.last_modified = fetched.etag, fetched.last_modified
        source.last_result = f"{len(intervals)} busy interval(s) kept"
    source.last_fetch_at = source.last_success_at = now
    source.last_error = None
    source.next_fetch_at = now + timedelta(
        seconds=current_app.config["BUREAU_SETTINGS"].calendar_interval
    )


def refresh(session: AnySession, source_id: int) -> str:
    """Fetch one speaker's calendar; on success replace their busy intervals (one
    transaction), on failure keep them and record the error. Returns what happened."""
    source = session.get(CalendarSource, source_id)
    if source is None:
        return "gone"
    speaker = session.get(Speaker, source.speaker_id)
    assert speaker is not None  # the foreign key cascades
    now = utcnow()
    try:
        connection = Connection(
            source.kind,
            source.url,
            source.username,
            unseal(source.password_secret) if source.password_secret else None,
        )
        etag, last_modified, zone = source.etag, source.last_modified, speaker.home_timezone
        session.commit()  # no transaction stays open while the server answers
        fetched, intervals = fetch(connection, zone, now, etag=etag, last_modified=last_modified)
    except CalendarProblem as problem:
        session.rollback()
        source = session.get(CalendarSource, source_id)
        if source is None:
            return "gone"
        source.last_fetch_at, source.last_error = now, str(problem)[:500]
        session.commit()
        return f"failed: {problem}"
    source = session.get(CalendarSource, source_id)
    if source is None:  # disconnected meanwhile
        session.rollback()
        return "gone"
    _record_success(session, source, source.speaker_id, fetched, intervals, now)
    session.commit()
    return source.last_result or ""


def claim_due(session: AnySession, now: datetime | None = None, limit: int = 100) -> list[int]:
    """The calendars due for a fetch, each pushed to its next turn so that no other beat
    (or a slow fetch) takes it twice."""
    now = now or utcnow()
    interval = timedelta(seconds=current_app.config["BUREAU_SETTINGS"].calendar_interval)
    due = session.execute(
        select(CalendarSource.id, CalendarSource.next_fetch_at)
        .where(CalendarSource.next_fetch_at <= now)
        .order_by(CalendarSource.next_fetch_at)
        .limit(limit)
    ).all()
    claimed = []
    for source_id, was_due in due:
        moved = session.execute(
            update(CalendarSource)
            .where(CalendarSource.id == source_id, CalendarSource.next_fetch_at == was_due)
            .values(next_fetch_at=now + interval)
        )
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(source_id)
    session.commit()
    return claimed


def failing(session: AnySession) -> list[tuple[CalendarSource, Speaker]]:
    """The calendars whose last fetch failed (Operations lists them)."""
    return [
        (source, speaker)
        for source, speaker in session.execute(
            select(CalendarSource, Speaker)
            .join(Speaker, Speaker.id == CalendarSource.speaker_id)
            .where(CalendarSource.last_error.is_not(None))
            .order_by(Speaker.name)
        )
    ]
