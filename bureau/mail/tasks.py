"""The task that sends one email of the outbox."""

from __future__ import annotations

import logging
from dataclasses import replace
from email.utils import parseaddr
from typing import Any, cast

from celery import shared_task
from flask import current_app
from flask_babel import gettext
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import joinedload, selectinload

from bureau.bookings.models import BookingRequest, Offer
from bureau.calendar.ics import invitation
from bureau.calendar.models import Engagement
from bureau.calendar.titles import shown_location, shown_title
from bureau.db import AnySession, utcnow
from bureau.i18n import speaking
from bureau.inbound.addresses import reply_address
from bureau.mail.attachments import attachments_for
from bureau.mail.compose import build_message, render_booking_mail
from bureau.mail.facts import engagement_of, mail_facts
from bureau.mail.models import ERASED_EMAIL, ERASED_MESSAGE, Notification
from bureau.mail.recipients import (
    MAIL_TASK,
    Recipient,
    links_for,
    reader_locale,
    role_of,
    speakers_offer,
)
from bureau.mail.transport import deliver
from bureau.outbox import Job, PermanentError, execute, handles, prepares, record_effect
from bureau.text import clean_line

logger = logging.getLogger(__name__)


@shared_task(name=MAIL_TASK)
def send_mail(*, job_id: int) -> str:
    return execute(MAIL_TASK, job_id, send_notification)


@prepares(MAIL_TASK)
def compose_ahead(session: AnySession, job: Job) -> None:
    """Compose the email in the transaction that records its job (a routing's): stored with
    its Message-ID before anything is sent, without a commit of its own."""
    if job.recipient != ERASED_EMAIL:
        job.prepared = compose_notification(session, job, commit=False)


@handles(MAIL_TASK)
def send_notification(session: AnySession, job: Job) -> None:
    """Compose the email once (stored, so retries reuse its Message-ID), then deliver it."""
    # Composed ahead (compose_ahead), or else looked up unless the job is fresh: an earlier
    # attempt may have composed it, also before an admin's retry reset the attempt count
    # (jobs.retry_failed).
    notification = job.prepared if isinstance(job.prepared, Notification) else None
    if notification is None and not job.fresh:
        notification = session.scalar(select(Notification).where(Notification.job_id == job.id))
    if notification is None:
        if job.recipient == ERASED_EMAIL:
            raise PermanentError("not sent: the recipient's personal data was erased")
        notification = compose_notification(session, job)
    elif notification.raw_message == ERASED_MESSAGE:
        # An admin's retry of an email whose content erasure replaced: nothing left to send.
        raise PermanentError("not sent: this email was erased with the personal data it held")
    settings = current_app.config["BUREAU_SETTINGS"]
    where = deliver(
        notification.raw_message.encode(),
        sender=parseaddr(settings.mail_from)[1],
        recipients=[notification.recipient],
        settings=settings,
        name=eml_name(notification),
    )
    # Accepted by the SMTP server: recorded even if the job's commit fails, never sent again.
    record_effect(session, mark_sent, (notification.id, utcnow()))
    logger.info("sent %s to %s via %s", notification.template, notification.recipient, where)


_NOTIFICATIONS = cast(Table, Notification.__table__)
_MARK_SENT = (
    update(_NOTIFICATIONS)
    .where(_NOTIFICATIONS.c.id == bindparam("sent_id"))
    .values(sent_at=bindparam("sent_at_"))
)


def mark_sent(session: AnySession, sent: list[tuple[int, Any]]) -> None:
    """The sent marks of emails the SMTP server accepted, (id, when) each: one statement
    (executemany) for all the emails of a task."""
    session.execute(_MARK_SENT, [{"sent_id": id_, "sent_at_": when} for id_, when in sent])


def reply_to_of(booking: BookingRequest, template: str, role: Recipient) -> tuple[str, str] | None:
    """Where a reader's answer goes. The organizer's (and anyone's answer to a staff reply):
    the request's own reply address, so it lands on the request (bureau/inbound/), under
    the assignee's name; anyone else's: the assignee (none for the assignment notice)."""
    staff = booking.assigned_staff
    if role is Recipient.ORGANIZER or template == "staff_reply":
        name = (
            staff.name
            if staff is not None
            else parseaddr(current_app.config["BUREAU_SETTINGS"].mail_from)[0]
        )
        return (name or gettext("Bookings"), reply_address(booking))
    if staff is None or template == "assigned":
        return None
    return (staff.name, staff.email)


def eml_name(notification: Notification) -> str:
    """The file name (without .eml) of this email when delivered as a file."""
    return f"{notification.created_at:%Y%m%d-%H%M%S}-{notification.job_id}-{notification.template}"


def compose_notification(session: AnySession, job: Job, *, commit: bool = True) -> Notification:
    """The email of a job, stored; ``commit``: in its own commit, kept even if delivery
    fails (else it commits with the caller's transaction: compose_ahead)."""
    booking = (
        session.get(
            BookingRequest,
            job.booking_id,
            options=[
                selectinload(BookingRequest.requested),
                joinedload(BookingRequest.assigned_staff),
            ],
        )
        if job.booking_id
        else None
    )
    if booking is None:
        raise PermanentError("the booking of this email no longer exists")
    template = job.payload["template"]
    role = role_of(session, job, booking)
    extra: dict[str, Any] = {"to_name": job.payload["to_name"]}
    offer = None
    if "offer_id" in job.payload:
        offer = session.get(Offer, job.payload["offer_id"])
        if offer is None:
            raise PermanentError("the offer of this email no longer exists")
    engagement_id = job.payload.get("engagement_id", job.payload.get("about_engagement"))
    engagement = session.get(Engagement, engagement_id) if engagement_id else None
    if engagement is not None and offer is None:
        offer = speakers_offer(booking, engagement.speaker_id)
    links = links_for(role, booking, offer)
    if "engagement_id" in job.payload and engagement is None:
        raise PermanentError("the engagement of this invitation no longer exists")
    # What the email tells: as fixed when its change committed; for a job queued before
    # facts were recorded, the booking as it stands now.
    facts = job.payload.get("facts") or mail_facts(
        session,
        booking,
        template,
        role.value,
        job.payload["to_email"],
        offer=offer,
        engagement=engagement,
    )
    # Every word in the reader's language, whoever caused the email (bureau/i18n).
    locale = reader_locale(session, role, booking, job.payload["to_email"], offer)
    with speaking(locale):
        calendar = None
        if "engagement_id" in job.payload:
            told = engagement_of(facts["engagement"])
            method = job.payload["method"]
            told.title = shown_title(told.title, offer.speaker.name if offer else None)
            told.location = shown_location(told.location)
            # Each recipient's copy carries that recipient's link; UID and SEQUENCE are shared.
            description = "\n".join(
                [f"{booking.event_name} ({booking.reference})", *links.values()]
            )
            calendar = (
                invitation(
                    told,
                    method=method,
                    attendee_email=job.payload["to_email"],
                    attendee_name=job.payload["to_name"],
                    organizer=current_app.config["BUREAU_SETTINGS"].mail_from,
                    description=description,
                ),
                method,
            )
            extra["method"] = method
        if template == "staff_reply":  # what a person at the desk wrote, and the thread
            extra["reply_text"] = job.payload.get("text", "")
        if template == "email_bounced":  # whose address, as it stood when the bounce came
            extra["whose"] = job.payload.get("whose", "the recipient's")
            extra["bounced_to"] = job.payload.get("bounced_to", "")
        mail = render_booking_mail(template, booking, role=role, links=links, facts=facts, **extra)
        # An invoice's PDF, made now, in the language of the email it comes with.
        attachments = attachments_for(session, template, job.payload)
        reply_to = reply_to_of(booking, template, role)
    if job.payload.get("subject"):
        mail = replace(mail, subject=clean_line(job.payload["subject"])[:250])
    message = build_message(
        mail,
        to_name=job.payload["to_name"],
        to_email=job.payload["to_email"],
        reply_to=reply_to,
        calendar=calendar,
        attachments=attachments,
        in_reply_to=job.payload.get("in_reply_to"),
        references=job.payload.get("references", ()),
    )
    notification = Notification(
        job_id=job.id,
        booking_id=booking.id,
        template=template,
        recipient=job.payload["to_email"],
        subject=mail.subject,
        message_id=str(message["Message-ID"]),
        raw_message=message.as_string(),
    )
    session.add(notification)
    if commit:
        session.commit()  # kept even if delivery fails: the retry sends these very bytes
    return notification
