"""What a machine's message does to a request: automatic replies are recorded, bounces mark
the email they report on, calendar answers are recorded per attendee.

None of these is ever answered and none re-opens anything (no loops between autoresponders);
the assignee is emailed only for a bounce and for a speaker declining the invitation.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor, ActorKind, note
from bureau.calendar.models import Engagement
from bureau.db import AnySession, utcnow
from bureau.inbound.models import CalendarAnswer, InboundMessage, InboundStatus, MatchedBy
from bureau.inbound.signals import Parsed
from bureau.mail.models import Notification
from bureau.mail.recipients import assignee_of, queue_mail

AUTOMATIC_REPLY = "automatic reply"
EMAIL_BOUNCED = "email bounced"
CALENDAR_ANSWER = "calendar answer"
REASON_MAX = 2000


def _filed(message: InboundMessage, booking: BookingRequest, matched_by: MatchedBy) -> None:
    message.booking_id = booking.id
    message.matched_by = matched_by
    message.from_known_party = False  # staff-only: nothing here shows on the status page
    message.status = InboundStatus.MATCHED


def file_automatic(
    session: AnySession,
    message: InboundMessage,
    parsed: Parsed,
    booking: BookingRequest,
    matched_by: MatchedBy,
) -> None:
    """An out-of-office or other automatic answer: a staff-only timeline entry, nothing
    more (no email to the assignee, no reply, no state change)."""
    _filed(message, booking, matched_by)
    note(
        session,
        booking,
        actor=Actor(ActorKind.SYSTEM, message.sender or "an unknown sender"),
        action=AUTOMATIC_REPLY,
        details={
            "inbound_message_id": message.id,
            "from": message.sender or "",
            "subject": message.subject or "",
            "text": (parsed.reply or parsed.text)[:2000],
            "automatic": str(parsed.automatic or ""),
        },
    )


def file_bounce(session: AnySession, message: InboundMessage, parsed: Parsed) -> bool:
    """Mark the email a delivery report is about as bounced, with the remote server's words,
    and tell the assignee; False when the report is about nothing the bureau sent."""
    bounce = parsed.bounce
    if bounce is None or bounce.original_message_id is None:
        return False
    notification = session.scalar(
        select(Notification).where(Notification.message_id == bounce.original_message_id)
    )
    booking = (
        session.get(BookingRequest, notification.booking_id)
        if notification is not None and notification.booking_id is not None
        else None
    )
    if notification is None or booking is None:
        return False
    _filed(message, booking, MatchedBy.BOUNCED_EMAIL)
    failed = bounce.failed
    if not failed:  # "delayed" or "delivered": recorded, nothing bounced
        return True
    reason = "; ".join(
        " ".join(part for part in (r.address + ":", r.status, r.diagnostic) if part) for r in failed
    )[:REASON_MAX]
    already = notification.bounced_at is not None
    notification.bounced_at = notification.bounced_at or utcnow()
    notification.bounce_reason = reason
    if already:
        return True
    note(
        session,
        booking,
        actor=Actor(ActorKind.SYSTEM, "the mail server"),
        action=EMAIL_BOUNCED,
        details={
            "inbound_message_id": message.id,
            "notification_id": notification.id,
            "recipient": notification.recipient,
            "reason": f"{notification.recipient}: {reason}",
        },
    )
    assignee = assignee_of(booking)
    # Never about a bounce of the assignee's own mail: that would bounce again, for ever.
    if assignee is not None and assignee[1].lower() != notification.recipient.lower():
        queue_mail(
            session,
            booking,
            "email_bounced",
            assignee,
            whose=_whose(booking, notification.recipient),
            bounced_to=notification.recipient,
        )
    return True


def _whose(booking: BookingRequest, address: str) -> str:
    """Whose address bounced, in the words the assignee's email uses."""
    if address.lower() == booking.contact_email.lower():
        return "the organizer's"
    offered = [booking.offer.speaker] if booking.offer else []
    speakers = {s.email.lower() for s in [*booking.speakers, *offered] if s.email}
    return "the speaker's" if address.lower() in speakers else "the recipient's"


def file_calendar_answer(session: AnySession, message: InboundMessage, parsed: Parsed) -> bool:
    """Record each invited attendee's PARTSTAT on the engagement the UID names; a speaker's
    DECLINED alerts the assignee at once. False when the UID is not one of the bureau's."""
    reply = parsed.calendar
    if reply is None:
        return False
    engagement = session.scalar(select(Engagement).where(Engagement.uid == reply.uid))
    booking = session.get(BookingRequest, engagement.booking_id) if engagement else None
    if engagement is None or booking is None:
        return False
    _filed(message, booking, MatchedBy.CALENDAR_UID)
    invited = _invited(booking, engagement)
    at = reply.dtstamp or parsed.date or utcnow()
    for answer in reply.answers:
        role = invited.get(answer.address)
        if role is None or not _record(session, engagement, answer.address, answer.partstat, at):
            continue
        note(
            session,
            booking,
            actor=Actor(ActorKind.SYSTEM, answer.address),
            action=CALENDAR_ANSWER,
            details={
                "inbound_message_id": message.id,
                "attendee": answer.address,
                "role": role,
                "partstat": answer.partstat,
            },
        )
        if role == "speaker" and answer.partstat == "DECLINED":
            queue_mail(session, booking, "invite_declined", assignee_of(booking))
    return True


def _invited(booking: BookingRequest, engagement: Engagement) -> dict[str, str]:
    """The addresses the invitation went to, and as whom."""
    people = {booking.contact_email.lower(): "organizer"}
    if engagement.speaker.email:
        people[engagement.speaker.email.lower()] = "speaker"
    if booking.assigned_staff is not None:
        people.setdefault(booking.assigned_staff.email.lower(), "staff")
    return people


def _record(
    session: AnySession, engagement: Engagement, address: str, partstat: str, at: datetime
) -> bool:
    """Keep the attendee's latest answer; False when it says nothing new or is older."""
    row = session.scalar(
        select(CalendarAnswer)
        .where(CalendarAnswer.engagement_id == engagement.id, CalendarAnswer.address == address)
        .with_for_update()
    )
    if row is None:
        session.add(
            CalendarAnswer(
                engagement_id=engagement.id, address=address, partstat=partstat, answered_at=at
            )
        )
        return True
    if row.partstat == partstat or _aware(row.answered_at) > _aware(at):
        return False
    row.partstat, row.answered_at = partstat, at
    return True


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)


def answers_for(session: AnySession, booking_id: int) -> list[CalendarAnswer]:
    """The attendees' answers to the booking's invitation, for the request page."""
    return list(
        session.scalars(
            select(CalendarAnswer)
            .join(Engagement, Engagement.id == CalendarAnswer.engagement_id)
            .where(Engagement.booking_id == booking_id)
            .order_by(CalendarAnswer.address)
        )
    )
