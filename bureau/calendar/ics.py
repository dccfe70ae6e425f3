"""iCalendar invitations (RFC 5545, iTIP RFC 5546) for engagements.

One VEVENT per message, for one attendee: METHOD:REQUEST for a new or changed event and
METHOD:CANCEL with STATUS:CANCELLED for a cancellation, always the engagement's UID and its
current SEQUENCE; times carry their TZID with the zone's VTIMEZONE (calendar/zones.py);
ORGANIZER is the bureau. RSVP=TRUE: the answers (iTIP REPLY) are read by bureau/inbound/.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from flask import current_app
from icalendar import Calendar, Event, Timezone, vCalAddress, vText

from bureau.calendar.models import Engagement
from bureau.calendar.zones import vtimezone
from bureau.db import utcnow
from bureau.text import clean_line, clean_text

PRODID = "-//Bureau//Speaker bookings//EN"


def mail_domain() -> str:
    """The domain of the bureau's mailbox (BUREAU_MAIL_FROM), which every UID carries."""
    address = parseaddr(current_app.config["BUREAU_SETTINGS"].mail_from)[1]
    return address.rpartition("@")[2] or "bureau.localhost"


def new_uid(random_bits: int | None = None) -> str:
    """A calendar UID: a random UUID at the bureau's mail domain, unique across bureaus and
    restored databases (Google merges or drops events whose UIDs collide). ``random_bits``
    (128 of them) makes it reproducible, for the demo history."""
    unique = uuid.uuid4() if random_bits is None else uuid.UUID(int=random_bits, version=4)
    return f"{unique}@{mail_domain()}"


def _address(email: str, name: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    address.params["CN"] = vText(clean_line(name) or email)
    for key, value in params.items():
        address.params[key.upper().replace("_", "-")] = value
    return address


def organizer_address(sender: str) -> vCalAddress:
    """ORGANIZER for a From-style address (the bureau's mailbox)."""
    name, email = parseaddr(sender)
    return _address(email, name or "Bureau")


def invitation(
    engagement: Engagement,
    *,
    method: str,
    attendee_email: str,
    attendee_name: str,
    organizer: str,
    description: str,
    stamp: datetime | None = None,
) -> bytes:
    """The .ics for one attendee; ``organizer`` is a From-style address (the bureau)."""
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported iTIP method {method!r}")
    zone = ZoneInfo(engagement.timezone)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", engagement.uid)
    event.add("sequence", engagement.sequence)
    event.add("dtstamp", stamp or utcnow())
    event.add("dtstart", engagement.starts_at.astimezone(zone))
    event.add("dtend", engagement.ends_at.astimezone(zone))
    event.add("summary", clean_line(engagement.title))
    event.add("location", clean_line(engagement.location))
    event.add("description", clean_text(description))
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("organizer", organizer_address(organizer))
    event.add(
        "attendee",
        _address(
            attendee_email,
            attendee_name,
            role="REQ-PARTICIPANT",
            partstat="NEEDS-ACTION",
            rsvp="TRUE",  # the answers are read (bureau/inbound/dispatch.py)
        ),
    )
    calendar.add_component(Timezone.from_ical(vtimezone(engagement.timezone, engagement.starts_at)))
    calendar.add_component(event)
    ics: bytes = calendar.to_ical()
    return ics
