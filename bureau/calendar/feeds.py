"""Calendar subscription feeds (METHOD:PUBLISH) for speakers and staff, by secret token.

Engagements appear confirmed and active holds tentative. Each answer carries an ETag over
what it shows, so a calendar client polling an unchanged feed gets 304 Not Modified.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, request
from flask.typing import ResponseReturnValue
from icalendar import Calendar, Event
from sqlalchemy import Select, select

from bureau.bookings.models import BookingRequest
from bureau.calendar.ics import PRODID
from bureau.calendar.models import Engagement, Hold, HoldState
from bureau.catalogue.models import Speaker
from bureau.db import utcnow
from bureau.extensions import db
from bureau.staff.models import StaffMember
from bureau.text import clean_line

bp = Blueprint("calendar", __name__, url_prefix="/calendar")


def new_feed_token() -> str:
    return secrets.token_urlsafe(24)


def _token_matches(expected: str | None) -> bool:
    given = request.args.get("token", "")
    return bool(expected) and secrets.compare_digest(given, expected or "")


def _engagements(stmt: Select[Engagement]) -> list[Engagement]:
    return list(db.session.scalars(stmt.where(~Engagement.is_cancelled)))


def _feed(
    name: str, engagements: Iterable[Engagement], holds: Iterable[Hold]
) -> ResponseReturnValue:
    engagements, holds = list(engagements), list(holds)
    fingerprint = hashlib.sha256(
        repr(
            [(e.uid, e.sequence, e.updated_at.isoformat()) for e in engagements]
            + [(h.id, h.state, h.updated_at.isoformat()) for h in holds]
        ).encode()
    ).hexdigest()[:32]
    etag = f'"{fingerprint}"'
    if etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers={"ETag": etag, "Cache-Control": "private, no-cache"})
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", clean_line(name))
    stamp = utcnow()
    for engagement in engagements:
        calendar.add_component(
            _event(
                engagement.uid,
                engagement.title,
                engagement.location,
                engagement.timezone,
                engagement.starts_at,
                engagement.ends_at,
                "CONFIRMED",
                engagement.sequence,
                stamp,
            )
        )
    for hold in holds:
        booking = db.session.get(BookingRequest, hold.booking_id)
        title = f"Hold: {booking.event_name if booking else 'request'}"
        calendar.add_component(
            _event(
                f"hold-{hold.id}@bureau",
                title,
                "",
                "UTC",
                hold.starts_at,
                hold.ends_at,
                "TENTATIVE",
                0,
                stamp,
            )
        )
    calendar.add_missing_timezones()
    return Response(
        calendar.to_ical(),
        mimetype="text/calendar",
        headers={"ETag": etag, "Cache-Control": "private, no-cache"},
    )


def _event(
    uid: str,
    title: str,
    location: str,
    zone: str,
    starts: datetime,
    ends: datetime,
    status: str,
    sequence: int,
    stamp: datetime,
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
    return event


@bp.get("/speakers/<slug>.ics")
def speaker_feed(slug: str) -> ResponseReturnValue:
    speaker = db.session.scalars(select(Speaker).where(Speaker.slug == slug)).one_or_none()
    if speaker is None or not _token_matches(speaker.feed_token):
        abort(404)
    engagements = _engagements(select(Engagement).where(Engagement.speaker_id == speaker.id))
    holds = db.session.scalars(
        select(Hold).where(Hold.speaker_id == speaker.id, Hold.state == HoldState.ACTIVE)
    )
    return _feed(f"{speaker.name} — bookings", engagements, holds)


@bp.get("/staff/<int:staff_id>.ics")
def staff_feed(staff_id: int) -> ResponseReturnValue:
    member = db.session.get(StaffMember, staff_id)
    if member is None or not _token_matches(member.feed_token):
        abort(404)
    mine = select(BookingRequest.id).where(BookingRequest.assigned_staff_id == member.id)
    engagements = _engagements(select(Engagement).where(Engagement.booking_id.in_(mine)))
    holds = db.session.scalars(
        select(Hold).where(Hold.booking_id.in_(mine), Hold.state == HoldState.ACTIVE)
    )
    return _feed(f"{member.name} — bookings", engagements, holds)
