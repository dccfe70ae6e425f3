"""Booking states, their plain-word labels for organizers and for staff, and their groups."""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from bureau.catalogue.models import SPEAKER_FORMATS


class Status(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    SHORTLISTED = "shortlisted"
    OFFER_RECEIVED = "offer_received"
    AWAITING_SPEAKER = "awaiting_speaker"
    SPEAKER_DECLINED = "speaker_declined"
    SPEAKER_ACCEPTED = "speaker_accepted"
    CONTRACTED = "contracted"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


CLOSED_STATES = frozenset(
    {Status.COMPLETED, Status.DECLINED, Status.WITHDRAWN, Status.CANCELLED, Status.EXPIRED}
)
OPEN_STATES = frozenset(Status) - CLOSED_STATES

# The insights funnel's stages (docs/topics/insights.md), each reached when the request ever
# entered one of its states. Later states count for earlier stages: an organizer's offer
# straight after assignment has passed the shortlist stage too, so the funnel only narrows.
_CONFIRMED = frozenset({Status.CONFIRMED, Status.COMPLETED})
_OFFER = _CONFIRMED | {
    Status.OFFER_RECEIVED,
    Status.AWAITING_SPEAKER,
    Status.SPEAKER_DECLINED,
    Status.SPEAKER_ACCEPTED,
    Status.CONTRACTED,
}
FUNNEL: list[tuple[str, frozenset[Status]]] = [
    ("New", frozenset(Status)),
    ("Shortlisted", _OFFER | {Status.SHORTLISTED}),
    ("Offer", _OFFER),
    ("Confirmed", _CONFIRMED),
    ("Completed", frozenset({Status.COMPLETED})),
]
# A state's rank: the furthest funnel stage it belongs to (a request's ``funnel_stage`` is the
# highest rank of the states it has been in).
FUNNEL_RANK: dict[str, int] = {
    status.value: max(i for i, (_, states) in enumerate(FUNNEL) if status in states)
    for status in Status
}
# The timeline entry bureau/calendar/reminders.py writes when it escalates a slow first
# response (a request's ``sla_breached``).
SLA_BREACHED = "SLA breached"

# (label, what happens next) as the organizer reads them on the status page.
ORGANIZER_WORDS: dict[Status, tuple[LazyString, LazyString]] = {
    Status.NEW: (
        _l("Received"),
        _l("A booking agent will look at your request, usually within one working day."),
    ),
    Status.ASSIGNED: (
        _l("With a booking agent"),
        _l("Your booking agent is preparing a shortlist of suitable speakers with fees."),
    ),
    Status.UNASSIGNED: (
        _l("Waiting for a booking agent"),
        _l("All our agents are busy; the bureau's managers have been told and will assign one."),
    ),
    Status.SHORTLISTED: (
        _l("Shortlist sent"),
        _l("Choose a speaker from the shortlist and make a firm offer (fee, date and logistics)."),
    ),
    Status.OFFER_RECEIVED: (
        _l("Offer received"),
        _l("We are checking your offer and will then ask the speaker about the date."),
    ),
    Status.AWAITING_SPEAKER: (
        _l("Asking the speaker"),
        _l("The speaker has been asked about your date; the date is held while they answer."),
    ),
    Status.SPEAKER_DECLINED: (
        _l("Speaker not available"),
        _l("Your agent will suggest alternatives from the shortlist."),
    ),
    Status.SPEAKER_ACCEPTED: (
        _l("Speaker available"),
        _l("Your agent will send the contract and the deposit details."),
    ),
    Status.CONTRACTED: (
        _l("Contract agreed"),
        _l("Once the contract is signed and the deposit received, the booking is confirmed."),
    ),
    Status.CONFIRMED: (
        _l("Confirmed"),
        _l("The speaker is booked. Calendar invitations went to you and the speaker."),
    ),
    Status.COMPLETED: (
        _l("Completed"),
        _l("The event has taken place. Thank you for booking with us."),
    ),
    Status.DECLINED: (_l("Declined"), _l("The bureau cannot serve this request.")),
    Status.WITHDRAWN: (_l("Withdrawn"), _l("You withdrew this request.")),
    Status.CANCELLED: (_l("Cancelled"), _l("This booking was cancelled.")),
    Status.EXPIRED: (
        _l("Expired"),
        _l("The offer or hold timed out. You are welcome to ask again."),
    ),
}


def organizer_label(status: str) -> str:
    """The status in the organizer's words, in the language in force (the page's reader's,
    or the one an email is spoken in); the stored status stays its code."""
    return str(ORGANIZER_WORDS[Status(status)][0])


def organizer_next_step(status: str) -> str:
    return str(ORGANIZER_WORDS[Status(status)][1])


def format_label(code: str) -> str:
    """A speaker format in the reader's language (a code no longer known as it is)."""
    return str(SPEAKER_FORMATS.get(code, code))


# The status as staff read it (badges, filters, the timeline): what has happened, in words.
STAFF_LABELS: dict[Status, LazyString] = {
    Status.NEW: _l("New"),
    Status.ASSIGNED: _l("Assigned"),
    Status.UNASSIGNED: _l("Waiting for an agent"),
    Status.SHORTLISTED: _l("Shortlist sent"),
    Status.OFFER_RECEIVED: _l("Firm offer received"),
    Status.AWAITING_SPEAKER: _l("Asking the speaker"),
    Status.SPEAKER_DECLINED: _l("Speaker declined"),
    Status.SPEAKER_ACCEPTED: _l("Speaker accepted"),
    Status.CONTRACTED: _l("Contracted"),
    Status.CONFIRMED: _l("Confirmed"),
    Status.COMPLETED: _l("Completed"),
    Status.DECLINED: _l("Declined"),
    Status.WITHDRAWN: _l("Withdrawn"),
    Status.CANCELLED: _l("Cancelled"),
    Status.EXPIRED: _l("Expired"),
}


def staff_label(status: str) -> str:
    """A status in words for staff; a value no longer known, with its underscores spaced."""
    try:
        return str(STAFF_LABELS[Status(status)])
    except ValueError:
        return status.replace("_", " ").capitalize()
