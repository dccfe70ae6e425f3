"""VTIMEZONE components as Outlook, Google and Apple write them: a zone's rule as yearly RRULEs.

A zone's current rule is the POSIX TZ string at the end of its TZif data (RFC 8536 §3.3),
e.g. ``CET-1CEST,M3.5.0,M10.5.0/3``. It becomes one DAYLIGHT and one STANDARD observance,
each ``RRULE:FREQ=YEARLY;BYMONTH=…;BYDAY=…`` with its DTSTART at the first change under that
rule, in the local time *before* the change (RFC 5545 §3.6.5); a zone without DST becomes a
single STANDARD. vobject (and so Radicale) keeps only the first RDATE of a list and Outlook
reads only yearly-rule zones (MS-OXCICAL), so an RDATE list put events an hour off there.

The rule is in force from the zone's last rule change on (``era start``: 1996 for the EU,
2007 for the US, 2022 for Mexico City). Events before it would be misplaced by today's rule,
so for them each earlier change in the TZif table, from the one in force at the earliest
event on, is written as an observance of its own (a DTSTART, no RDATE list, no RRULE), which
every client places exactly. A rule RRULEs cannot state (Cairo's "Friday after the last
Thursday of October" can fall in November) is written the same way, change by change.

Each text is computed once per process and zone (and per era of history asked for).
"""

from __future__ import annotations

import bisect
import calendar
import re
import struct
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, cached_property
from importlib import resources
from pathlib import Path

from icalendar import Component, Timezone, TimezoneDaylight, TimezoneStandard

# The fallback writes a rule's changes out one by one up to this year (the 32-bit limit fat
# TZif files are written to); invitations and feeds rarely look further ahead.
LAST_YEAR = 2037
_DAY = 86400
_WEEKDAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")


@dataclass(frozen=True)
class Change:
    """One change of a zone's offset: at ``at`` (UTC seconds) from ``before`` to ``after``."""

    at: int
    before: int
    after: int
    is_dst: bool
    name: str

    @property
    def local_before(self) -> datetime:
        """The wall-clock time the change happens at, read on the clock before it."""
        return datetime.fromtimestamp(self.at + self.before, UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class _When:
    """A POSIX rule date: ``Mm.w.d`` (kind "M"), ``Jn`` (kind "J") or ``n`` (kind "n")."""

    kind: str
    month: int
    week: int
    weekday: int  # POSIX: 0 is Sunday
    day: int
    seconds: int  # local time of the change, may be negative or past 24:00

    def local(self, year: int) -> datetime:
        if self.kind == "M":
            first = date(year, self.month, 1)
            offset = (self.weekday - (first.weekday() + 1)) % 7
            day = 1 + offset + 7 * (self.week - 1)
            while day > calendar.monthrange(year, self.month)[1]:
                day -= 7
            start = date(year, self.month, day)
        elif self.kind == "J":  # 1..365, February 29 never counted
            start = date(year, 1, 1) + timedelta(days=self.day - 1)
            if calendar.isleap(year) and start >= date(year, 3, 1) - timedelta(days=1):
                start += timedelta(days=1)
        else:  # 0..365, February 29 counted
            start = date(year, 1, 1) + timedelta(days=self.day)
        return datetime.combine(start, time()) + timedelta(seconds=self.seconds)

    def rrule(self) -> dict[str, object] | None:
        """The yearly RRULE for this date, or None where no BYMONTHDAY window states it."""
        if self.kind != "M":
            return None
        shift = self.seconds // _DAY
        weekday = _WEEKDAYS[(self.weekday + shift) % 7]
        if shift == 0:
            ordinal = -1 if self.week == 5 else self.week
            return {"freq": "YEARLY", "bymonth": self.month, "byday": f"{ordinal}{weekday}"}
        # "The Friday after the 4th Thursday" is the Friday among days 23..29.
        days_in_month = calendar.monthrange(2001, self.month)[1]  # February's 28 at least
        if self.week == 5:
            low, high = -7 + shift, -1 + shift
            fits = high <= -1 and low >= -days_in_month
        else:
            low, high = 7 * (self.week - 1) + 1 + shift, 7 * self.week + shift
            fits = low >= 1 and high <= days_in_month
        if not fits:
            return None
        days = list(range(low, high + 1))
        return {"freq": "YEARLY", "bymonth": self.month, "byday": weekday, "bymonthday": days}


@dataclass(frozen=True)
class Rule:
    """A POSIX TZ string: a standard offset and, with DST, when it starts and ends."""

    std_name: str
    std_offset: int  # seconds east of UTC
    dst_name: str | None = None
    dst_offset: int = 0
    dst_start: _When | None = None
    dst_end: _When | None = None

    def changes(self, year: int) -> list[Change]:
        """The rule's two changes in ``year``, in order; none for a zone without DST."""
        if self.dst_name is None or self.dst_start is None or self.dst_end is None:
            return []
        std, dst = self.std_offset, self.dst_offset
        start = self.dst_start.local(year) - timedelta(seconds=std)
        end = self.dst_end.local(year) - timedelta(seconds=dst)
        found = [
            Change(_seconds(start), std, dst, True, self.dst_name),
            Change(_seconds(end), dst, std, False, self.std_name),
        ]
        return sorted(found, key=lambda change: change.at)

    def offset_at(self, at: int) -> int:
        year = datetime.fromtimestamp(at, UTC).year
        changes = [c for y in (year - 1, year, year + 1) for c in self.changes(y)]
        passed = [c for c in changes if c.at <= at]
        return passed[-1].after if passed else self.std_offset


_NAME = r"(<[^>]*>|[A-Za-z]+)"
_OFFSET = r"([+-]?\d{1,3}(?::\d{1,2}){0,2})"
_POSIX = re.compile(rf"^{_NAME}{_OFFSET}(?:{_NAME}{_OFFSET}?(?:,([^,]+),([^,]+))?)?$")


def _clock(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")] + [0, 0]
    return sign * (parts[0] * 3600 + parts[1] * 60 + parts[2])


def _when(text: str) -> _When:
    spec, _, clock = text.partition("/")
    seconds = _clock(clock) if clock else 2 * 3600
    if spec.startswith("M"):
        month, week, weekday = (int(p) for p in spec[1:].split("."))
        return _When("M", month, week, weekday, 0, seconds)
    if spec.startswith("J"):
        return _When("J", 0, 0, 0, int(spec[1:]), seconds)
    return _When("n", 0, 0, 0, int(spec), seconds)


def parse_rule(text: str) -> Rule:
    """A POSIX TZ string (offsets in it count west of UTC, ours east)."""
    match = _POSIX.match(text)
    if match is None:
        raise ValueError(f"not a POSIX TZ string: {text!r}")
    std_name, std, dst_name, dst, start, end = match.groups()
    std_offset = -_clock(std)
    if dst_name is None:
        return Rule(std_name.strip("<>"), std_offset)
    if start is None or end is None:
        # No rule given: POSIX leaves it to the implementation; tzdata always gives one.
        raise ValueError(f"POSIX TZ string without DST rule: {text!r}")
    dst_offset = -_clock(dst) if dst else std_offset + 3600
    return Rule(
        std_name.strip("<>"), std_offset, dst_name.strip("<>"), dst_offset, _when(start), _when(end)
    )


@dataclass(frozen=True)
class ZoneData:
    """A zone's TZif table of changes and the rule that follows it."""

    changes: tuple[Change, ...]
    rule: Rule

    @cached_property
    def era(self) -> int:
        """Index of the first change in the table from which on the rule holds."""
        index = len(self.changes)
        rule_changes = self.rule.changes
        while index > 0:
            change = self.changes[index - 1]
            year = datetime.fromtimestamp(change.at, UTC).year
            expected = [c for y in (year - 1, year, year + 1) for c in rule_changes(y)]
            if not any(
                c.at == change.at and c.after == change.after and c.before == change.before
                for c in expected
            ):
                break
            index -= 1
        if self.rule.dst_name is None and index and self.changes[-1].after == self.rule.std_offset:
            return index - 1  # a fixed offset since the last change
        return index


def _tzif(key: str) -> bytes:
    """The TZif data zoneinfo itself reads for ``key``: the system's first, then tzdata's."""
    zoneinfo.ZoneInfo(key)  # refuses names that are not zones (and paths)
    for folder in zoneinfo.TZPATH:
        path = Path(folder, key)
        if path.is_file():
            return path.read_bytes()
    package = resources.files("tzdata").joinpath("zoneinfo", *key.split("/"))
    return package.read_bytes()


def _counts(data: bytes, at: int) -> tuple[int, ...]:
    if data[at : at + 4] != b"TZif":
        raise ValueError("not TZif data")
    return struct.unpack(">6l", data[at + 20 : at + 44])


@cache
def zone_data(key: str) -> ZoneData:
    data = _tzif(key)
    isut, isstd, leap, times, types, chars = _counts(data, 0)
    if data[4:5] < b"2":
        raise ValueError(f"{key}: TZif version 1 data has no rule")
    start = 44 + times * 5 + types * 6 + chars + leap * 8 + isstd + isut
    isut, isstd, leap, times, types, chars = _counts(data, start)
    at = start + 44
    moments = struct.unpack(f">{times}q", data[at : at + times * 8])
    at += times * 8
    indices = data[at : at + times]
    at += times
    infos = [struct.unpack(">lBB", data[at + 6 * i : at + 6 * i + 6]) for i in range(types)]
    at += types * 6
    names = data[at : at + chars]
    at += chars + leap * 12 + isstd + isut
    footer = data[at:].strip(b"\n").decode("ascii")

    def name(index: int) -> str:
        return names[index : names.index(b"\0", index)].decode("ascii")

    changes: list[Change] = []
    before = infos[0][0]  # the offset before the first change
    for moment, index in zip(moments, indices, strict=True):
        offset, is_dst, abbreviation = infos[index]
        if offset == before:
            continue  # a new name only (or zic's 2038 marker): no event moves
        changes.append(Change(moment, before, offset, bool(is_dst), name(abbreviation)))
        before = offset
    return ZoneData(tuple(changes), parse_rule(footer))


def _observance(change: Change, rrule: dict[str, object] | None = None) -> Component:
    part = TimezoneDaylight() if change.is_dst else TimezoneStandard()
    part.add("dtstart", change.local_before)
    if rrule is not None:
        part.add("rrule", rrule)
    part.add("tzname", change.name)
    part.add("tzoffsetfrom", timedelta(seconds=change.before))
    part.add("tzoffsetto", timedelta(seconds=change.after))
    return part


def _rule_observances(data: ZoneData, era: int, *, history: bool) -> list[Component]:
    rule = data.rule
    since = data.changes[era].at if era < len(data.changes) else None
    if rule.dst_start is None or rule.dst_end is None:
        if since is None or not history:  # a fixed offset, as Outlook and Google write it
            offset = rule.std_offset
            return [_observance(Change(-offset, offset, offset, False, rule.std_name))]
        return [_observance(data.changes[era])]  # after the history: the last change
    # The first change of each kind under the rule: the table's if it has some, else the
    # rule's own after the table ends (slim TZif files stop listing changes early).
    after = data.changes[-1].at if data.changes else None
    year = datetime.fromtimestamp(since if since is not None else (after or 0), UTC).year
    upcoming = [
        c
        for y in range(year, year + 3)
        for c in rule.changes(y)
        if (since is not None and c.at >= since)
        or (since is None and (after is None or c.at > after))
    ]
    first = {change.is_dst: change for change in reversed(upcoming)}
    rules = {True: rule.dst_start.rrule(), False: rule.dst_end.rrule()}
    if rules[True] is None or rules[False] is None:
        last = datetime(LAST_YEAR, 12, 31, tzinfo=UTC).timestamp()
        return [
            _observance(c)
            for y in range(year, max(year, LAST_YEAR) + 1)
            for c in rule.changes(y)
            if c.at <= last and c.at >= upcoming[0].at
        ]
    return [_observance(first[kind], rules[kind]) for kind in (True, False)]


@cache
def _vtimezone(key: str, history_from: int) -> str:
    data = zone_data(key)
    era = data.era
    zone = Timezone()
    zone.add("tzid", key)
    for change in data.changes[history_from:era]:
        zone.add_component(_observance(change))
    for part in _rule_observances(data, era, history=history_from < era):
        zone.add_component(part)
    text: str = zone.to_ical().decode()
    return text


def vtimezone(key: str, earliest: datetime | None = None) -> str:
    """The VTIMEZONE text for zone ``key``, right for events from ``earliest`` (UTC; by
    default now) on."""
    data = zone_data(key)
    era = data.era
    if era == 0:
        return _vtimezone(key, era)
    moment = int((earliest or datetime.now(UTC)).timestamp())
    changes = data.changes
    start = changes[era].at if era < len(changes) else changes[-1].at + 1
    if moment >= start:
        return _vtimezone(key, era)
    # From the change in force at ``earliest`` (the first, for a moment before them all).
    in_force = bisect.bisect_right(changes, moment, hi=era, key=lambda change: change.at) - 1
    return _vtimezone(key, max(in_force, 0))


def _seconds(moment: datetime) -> int:
    """A UTC wall time (naive) as seconds since 1970."""
    return int(moment.replace(tzinfo=UTC).timestamp())
