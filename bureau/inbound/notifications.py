"""A reply written at the desk, sent through the outbox to the organizer or the speaker and
threaded onto the conversation their email client shows."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor, note
from bureau.db import AnySession
from bureau.inbound.models import InboundMessage, InboundStatus
from bureau.inbound.signals import parse
from bureau.mail.recipients import SPEAKER, Addressee, organizer_of, queue_mail, speakers_offer
from bureau.outbox import Job
from bureau.text import clean_line

STAFF_REPLY = "staff reply"
REPLY_TEXT_MAX = 10_000


class ReplyTo(StrEnum):
    ORGANIZER = "organizer"
    SPEAKER = "speaker"


def speaker_of(booking: BookingRequest) -> tuple[Addressee, int] | None:
    """The speaker of the request's current offer, with that offer's id (their link)."""
    offer = booking.offer
    if offer is None or not offer.speaker.email:
        return None
    own = speakers_offer(booking, offer.speaker_id) or offer
    return (SPEAKER, offer.speaker.email, offer.speaker.name), own.id


def latest_from(
    session: AnySession, booking: BookingRequest, address: str | None
) -> InboundMessage | None:
    """The newest email on the request (from this address, if one is given): the one a
    reply answers."""
    stmt = select(InboundMessage).where(
        InboundMessage.booking_id == booking.id, InboundMessage.status == InboundStatus.MATCHED
    )
    if address is not None:
        stmt = stmt.where(func.lower(InboundMessage.sender) == address.lower())
    return session.scalar(
        stmt.order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()).limit(1)
    )


def thread_of(
    booking: BookingRequest, answered: InboundMessage | None
) -> tuple[str, str | None, list[str]]:
    """The subject ("Re: " their subject, with the reference), In-Reply-To and References."""
    if answered is None or answered.message_id is None:
        return f"{booking.event_name} ({booking.reference})", None, []
    subject = clean_line(answered.subject or booking.event_name)
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    if booking.reference.lower() not in subject.lower():
        subject = f"{subject} ({booking.reference})"
    try:
        references = list(parse(answered.raw, max_bytes=len(answered.raw) + 1).references)
    except ValueError:  # refused (empty): nothing to thread on but its Message-ID
        references = []
    return subject, answered.message_id, [*references[-19:], answered.message_id]


def send_reply(
    session: AnySession, booking: BookingRequest, *, to: ReplyTo, text: str, actor: Actor
) -> Job | None:
    """Queue the reply (the outbox sends it) and put its text on the timeline; None when
    there is nobody to send it to (a speaker the bureau has no address for)."""
    extra: dict[str, Any] = {}
    if to is ReplyTo.SPEAKER:
        found = speaker_of(booking)
        if found is None:
            return None
        addressee, extra["offer_id"] = found
    else:
        addressee = organizer_of(booking)
    text = text.strip()[:REPLY_TEXT_MAX]
    answered = latest_from(session, booking, addressee[1])
    if answered is None and to is ReplyTo.ORGANIZER:  # from another address of theirs
        answered = latest_from(session, booking, None)
    subject, in_reply_to, references = thread_of(booking, answered)
    note(
        session,
        booking,
        actor=actor,
        action=STAFF_REPLY,
        public_message=(
            _l("We wrote: %(text)s", text=clean_line(text)) if to is ReplyTo.ORGANIZER else None
        ),
        details={"text": text, "to": addressee[1], "subject": subject},
    )
    return queue_mail(
        session,
        booking,
        "staff_reply",
        addressee,
        text=text,
        subject=subject,
        in_reply_to=in_reply_to,
        references=references,
        **extra,
    )
