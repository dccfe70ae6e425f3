"""Calendar answers (iTIP METHOD:REPLY, RFC 5546): who accepted, declined or is tentative.

Outlook sends the answer as an inline text/calendar part; Gmail adds an invite.ics attachment
as well; Apple Calendar attaches it. Any of them is read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import icalendar

from bureau.inbound.text import decode_bytes

_ANSWERS = frozenset({"ACCEPTED", "TENTATIVE", "DECLINED", "DELEGATED", "NEEDS-ACTION"})


@dataclass(frozen=True)
class AttendeeAnswer:
    """One attendee's answer: the address (lower case, no mailto:) and its PARTSTAT."""

    address: str
    partstat: str


@dataclass(frozen=True)
class CalendarReply:
    """An iTIP REPLY to one event of the bureau's."""

    uid: str
    sequence: int
    dtstamp: datetime | None
    answers: tuple[AttendeeAnswer, ...]


def read_reply(data: bytes, charset: str | None = None) -> CalendarReply | None:
    """The REPLY in a calendar part, or None when it is not a readable METHOD:REPLY."""
    try:
        calendar = icalendar.Calendar.from_ical(decode_bytes(data, charset or "utf-8"))
    except Exception:  # icalendar raises ValueError and friends on anything malformed
        return None
    if str(calendar.get("METHOD", "")).upper() != "REPLY":
        return None
    for event in calendar.walk("VEVENT"):
        uid = str(event.get("UID", "")).strip()
        if not uid:
            continue
        return CalendarReply(
            uid=uid,
            sequence=_sequence(event.get("SEQUENCE")),
            dtstamp=_when(event.get("DTSTAMP")),
            answers=tuple(_answers(event.get("ATTENDEE"))),
        )
    return None


def _answers(value: object) -> list[AttendeeAnswer]:
    attendees = value if isinstance(value, list) else [value] if value is not None else []
    found = []
    for attendee in attendees:
        address = str(attendee).strip()
        if address.lower().startswith("mailto:"):
            address = address[7:]
        params = getattr(attendee, "params", {})
        partstat = str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
        if address and partstat in _ANSWERS:
            found.append(AttendeeAnswer(address=address.lower(), partstat=partstat))
    return found


def _sequence(value: object) -> int:
    try:
        return int(str(value)) if value is not None else 0
    except ValueError:
        return 0


def _when(value: object) -> datetime | None:
    moment = getattr(value, "dt", None)
    return moment if isinstance(moment, datetime) else None
