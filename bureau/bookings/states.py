"""Booking states, their plain-word labels for organizers and for staff, and their groups."""

from __future__ import annotations

from enum import StrEnum


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

# (label, what happens next) as the organizer reads them on the status page.
ORGANIZER_WORDS: dict[Status, tuple[str, str]] = {
    Status.NEW: (
        "Received",
        "A booking agent will look at your request, usually within one working day.",
    ),
    Status.ASSIGNED: (
        "With a booking agent",
        "Your booking agent is preparing a shortlist of suitable speakers with fees.",
    ),
    Status.UNASSIGNED: (
        "Waiting for a booking agent",
        "All our agents are busy; the bureau's managers have been told and will assign one.",
    ),
    Status.SHORTLISTED: (
        "Shortlist sent",
        "Choose a speaker from the shortlist and make a firm offer (fee, date and logistics).",
    ),
    Status.OFFER_RECEIVED: (
        "Offer received",
        "We are checking your offer and will then ask the speaker about the date.",
    ),
    Status.AWAITING_SPEAKER: (
        "Asking the speaker",
        "The speaker has been asked about your date; the date is held while they answer.",
    ),
    Status.SPEAKER_DECLINED: (
        "Speaker not available",
        "Your agent will suggest alternatives from the shortlist.",
    ),
    Status.SPEAKER_ACCEPTED: (
        "Speaker available",
        "Your agent will send the contract and the deposit details.",
    ),
    Status.CONTRACTED: (
        "Contract agreed",
        "Once the contract is signed and the deposit received, the booking is confirmed.",
    ),
    Status.CONFIRMED: (
        "Confirmed",
        "The speaker is booked. Calendar invitations went to you and the speaker.",
    ),
    Status.COMPLETED: ("Completed", "The event has taken place. Thank you for booking with us."),
    Status.DECLINED: ("Declined", "The bureau cannot serve this request."),
    Status.WITHDRAWN: ("Withdrawn", "You withdrew this request."),
    Status.CANCELLED: ("Cancelled", "This booking was cancelled."),
    Status.EXPIRED: ("Expired", "The offer or hold timed out. You are welcome to ask again."),
}


def organizer_label(status: str) -> str:
    return ORGANIZER_WORDS[Status(status)][0]


def organizer_next_step(status: str) -> str:
    return ORGANIZER_WORDS[Status(status)][1]


# The status as staff read it (badges, filters, the timeline): what has happened, in words.
STAFF_LABELS: dict[Status, str] = {
    Status.NEW: "New",
    Status.ASSIGNED: "Assigned",
    Status.UNASSIGNED: "Waiting for an agent",
    Status.SHORTLISTED: "Shortlist sent",
    Status.OFFER_RECEIVED: "Firm offer received",
    Status.AWAITING_SPEAKER: "Asking the speaker",
    Status.SPEAKER_DECLINED: "Speaker declined",
    Status.SPEAKER_ACCEPTED: "Speaker accepted",
    Status.CONTRACTED: "Contracted",
    Status.CONFIRMED: "Confirmed",
    Status.COMPLETED: "Completed",
    Status.DECLINED: "Declined",
    Status.WITHDRAWN: "Withdrawn",
    Status.CANCELLED: "Cancelled",
    Status.EXPIRED: "Expired",
}


def staff_label(status: str) -> str:
    """A status in words for staff; a value no longer known, with its underscores spaced."""
    try:
        return STAFF_LABELS[Status(status)]
    except ValueError:
        return status.replace("_", " ").capitalize()
