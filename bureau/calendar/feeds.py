"""Calendar subscription feeds (METHOD:PUBLISH) for speakers and staff, by secret token.

Engagements appear confirmed and active holds tentative, each with the bureau as
ORGANIZER (RFC 5546 §3.2.1) and a random UID at its domain. A feed is assembled from each
engagement's VEVENT text, rendered once per change and kept on its row, and from one
VTIMEZONE per zone computed once per process (calendar/zones.py): building thousands of
events with icalendar on every poll would cost seconds. Each answer carries an ETag from
one aggregate query, so a client polling an unchanged feed gets 304 Not Modified without
any event being read.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from icalendar import Event
from sqlalchemy import Select, Table, bindparam, func, select, update

from bureau.bookings.models import BookingRequest
from bureau.calendar.ics import PRODID, organizer_address
from bureau.calendar.models import Engagement, Hold, HoldState
from bureau.calendar.titles import shown_location, shown_title
from bureau.calendar.zones import vtimezone
from bureau.catalogue.models import Speaker
from bureau.extensions import db
from bureau.i18n import current_locale, speaking
from bureau.staff.models import StaffMember
from bureau.text import clean_line

bp = Blueprint("calendar", __name__, url_prefix="/calendar")


def new_feed_token() -> str:
    return secrets.token_urlsafe(24)


def rotate_feed(owner: Speaker | StaffMember) -> None:
    """A new feed address for a speaker or staff member; the old one stops working at once."""
    owner.feed_token = new_feed_token()


def _token_matches(expected: str | None) -> bool:
    given = request.args.get("token", "")
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    return bool(expected) and secrets.compare_digest(given.encode(), (expected or "").encode())


def event_for(
    uid: str,
    title: str,
    location: str,
    zone: str,
    starts: datetime,
    ends: datetime,
    status: str,
    sequence: int,
    stamp: datetime,
    organizer: str,
) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", stamp)
    event.add("dtstart", starts.astimezone(ZoneInfo(zone)))
    event.add("dtend", ends.astimezone(ZoneInfo(zone)))
    event.add("summary", clean_line(title))
    if location:
        event.add("location", clean_line(location))
    event.add("status", status)
    event.add("transp", "OPAQUE")
    event.add("organizer", organizer_address(organizer))
    return event


def _organizer() -> str:
    sender: str = current_app.config["BUREAU_SETTINGS"].mail_from
    return sender


def engagement_event(engagement: Engagement) -> Event:
    # DTSTAMP is the last change: the text stays the same until the engagement changes.
    return event_for(
        engagement.uid,
        engagement.title,
        engagement.location,
        engagement.timezone,
        engagement.starts_at,
        engagement.ends_at,
        "CONFIRMED",
        engagement.sequence,
        engagement.updated_at,
        _organizer(),
    )


# Raised when the kept texts' form changes (2: ORGANIZER), so rows re-render once.
TEXT_FORM = 2


def _cache_key(engagement: Engagement, form: str) -> str:
    return f"{form}:{engagement.sequence}:{engagement.updated_at.isoformat()}"


def engagement_texts(engagements: list[Engagement]) -> list[str]:
    """Each engagement's VEVENT: kept on its row, rendered again only after it changed."""
    texts, stale = [], []
    # The organizer is in the key too: a new BUREAU_MAIL_FROM re-renders the kept texts.
    form = f"{TEXT_FORM}:{hashlib.sha256(_organizer().encode()).hexdigest()[:12]}"
    for engagement in engagements:
        key = _cache_key(engagement, form)
        if engagement.ics_text is not None and engagement.ics_cache_key == key:
            texts.append(engagement.ics_text)
            continue
        text = engagement_event(engagement).to_ical().decode()
        texts.append(text)
        stale.append({"row": engagement.id, "text": text, "key": key})
    if stale:
        table: Table = Engagement.__table__  # type: ignore[assignment]
        # Keep updated_at as it is (no onupdate): the cache is not a change of the event.
        db.session.execute(
            update(table)
            .where(table.c.id == bindparam("row"))
            .values(
                ics_text=bindparam("text"),
                ics_cache_key=bindparam("key"),
                updated_at=table.c.updated_at,
            ),
            stale,
        )
        db.session.commit()
    return texts


def _in_language(text: str, engagement: Engagement) -> str:
    """A kept VEVENT text with its title and an online location in the locale in force
    (calendar/titles.py): those lines written anew, the rest of the text as kept."""
    title = shown_title(engagement.title, engagement.speaker.name)
    location = shown_location(engagement.location)
    if title == engagement.title and location == engagement.location:
        return text
    shown = Event()
    shown.add("summary", clean_line(title))
    if location:
        shown.add("location", clean_line(location))
    words = shown.to_ical().decode().split("\r\n")[1:-2]  # between BEGIN and END
    kept, skipping = [], False
    for line in text.split("\r\n"):
        if skipping and line.startswith((" ", "\t")):
            continue  # a folded line's continuation
        skipping = line.split(":", 1)[0].split(";", 1)[0].upper() in ("SUMMARY", "LOCATION")
        if not skipping:
            kept.append(line)
        if line == "BEGIN:VEVENT":
            kept.extend(words)
    return "\r\n".join(kept)


def assemble(name: str, engagements: list[Engagement], holds: Iterable[Hold]) -> bytes:
    """The feed in the locale in force (its owner's): the words of its titles and name."""
    hold_events = []
    organizer = _organizer()
    for hold in holds:
        booking = db.session.get(BookingRequest, hold.booking_id)
        title = (
            gettext("Hold: %(event)s", event=booking.event_name)
            if booking
            else gettext("Hold: request")
        )
        hold_events.append(
            event_for(
                hold.uid,
                title,
                "",
                "UTC",
                hold.starts_at,
                hold.ends_at,
                "TENTATIVE",
                0,
                hold.updated_at,
                organizer,
            )
            .to_ical()
            .decode()
        )
    # Each zone's VTIMEZONE is right from its earliest event on.
    earliest: dict[str, datetime] = {}
    for engagement in engagements:
        zone, starts = engagement.timezone, engagement.starts_at
        earliest[zone] = min(starts, earliest.get(zone, starts))
    head = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
        f"PRODID:{PRODID}\r\nMETHOD:PUBLISH\r\n"
        + Event.from_ical(f"BEGIN:VEVENT\r\nX-WR-CALNAME:{_escape(name)}\r\nEND:VEVENT\r\n")
        .to_ical()
        .decode()
        .split("\r\n")[1]
        + "\r\n"
    )
    parts = [head, *(vtimezone(zone, earliest[zone]) for zone in sorted(earliest))]
    parts += map(_in_language, engagement_texts(engagements), engagements)
    parts += hold_events
    parts.append("END:VCALENDAR\r\n")
    return "".join(parts).encode()


def _escape(text: str) -> str:
    return clean_line(text).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")


def _etag(engagements: Select[Engagement], holds: Select[Hold]) -> str:
    """One aggregate per kind: what the feed shows changed iff these (or its language) did."""
    shown = engagements.subquery()
    counted = db.session.execute(
        select(func.count(), func.max(shown.c.updated_at), func.sum(shown.c.sequence))
    ).one()
    held_rows = holds.subquery()
    held = db.session.execute(select(func.count(), func.max(held_rows.c.updated_at))).one()
    # The language too: the same events read differently once their owner changes it.
    shape = (tuple(counted), tuple(held), current_locale())
    digest = hashlib.sha256(repr(shape).encode()).hexdigest()[:32]
    return f'"{digest}"'


def _feed(name: str, engagements: Select[Engagement], holds: Select[Hold]) -> ResponseReturnValue:
    engagements = engagements.where(~Engagement.is_cancelled)
    etag = _etag(engagements, holds)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers=headers)
    rows = list(db.session.scalars(engagements.order_by(Engagement.starts_at, Engagement.id)))
    body = assemble(name, rows, db.session.scalars(holds.order_by(Hold.id)))
    return Response(body, mimetype="text/calendar", headers=headers)


@bp.get("/speakers/<slug>.ics")
def speaker_feed(slug: str) -> ResponseReturnValue:
    speaker = db.session.scalars(select(Speaker).where(Speaker.slug == slug)).one_or_none()
    if speaker is None or not _token_matches(speaker.feed_token):
        abort(404)
    with speaking(speaker.locale):  # the speaker's language, not the calendar app's
        return _feed(
            gettext("%(name)s — bookings", name=speaker.name),
            select(Engagement).where(Engagement.speaker_id == speaker.id),
            select(Hold).where(Hold.speaker_id == speaker.id, Hold.state == HoldState.ACTIVE),
        )


@bp.get("/staff/<id:staff_id>.ics")
def staff_feed(staff_id: int) -> ResponseReturnValue:
    member = db.session.get(StaffMember, staff_id)
    if member is None or not _token_matches(member.feed_token):
        abort(404)
    mine = select(BookingRequest.id).where(BookingRequest.assigned_staff_id == member.id)
    with speaking(member.locale):
        return _feed(
            gettext("%(name)s — bookings", name=member.name),
            select(Engagement).where(Engagement.booking_id.in_(mine)),
            select(Hold).where(Hold.booking_id.in_(mine), Hold.state == HoldState.ACTIVE),
        )
