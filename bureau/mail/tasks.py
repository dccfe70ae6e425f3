"""The task that sends one email of the outbox."""

from __future__ import annotations

import logging
from email.utils import parseaddr

from celery import shared_task
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload, selectinload

from bureau.bookings.links import availability_token
from bureau.bookings.models import BookingRequest, Offer
from bureau.calendar.ics import invitation
from bureau.calendar.models import Engagement
from bureau.db import AnySession, utcnow
from bureau.jobs import Job, PermanentError, execute, handles, record_effect
from bureau.mail.compose import build_message, render_booking_mail
from bureau.mail.models import ERASED_EMAIL, ERASED_MESSAGE, Notification
from bureau.mail.transport import deliver
from bureau.urls import public_url

logger = logging.getLogger(__name__)
TASK = "bureau.mail.send"


@shared_task(name=TASK)
def send_mail(*, job_id: int) -> str:
    return execute(TASK, job_id, send_notification)


@handles(TASK)
def send_notification(session: AnySession, job: Job) -> None:
    """Compose the email once (stored, so retries reuse its Message-ID), then deliver it."""
    # Look unless the job is fresh: an earlier attempt may have composed it, also before an
    # admin's retry reset the attempt count (jobs.retry_failed).
    notification = (
        None
        if job.fresh
        else session.scalar(select(Notification).where(Notification.job_id == job.id))
    )
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
    notification_id, sent_at = notification.id, utcnow()
    record_effect(
        session,
        lambda s: s.execute(
            update(Notification).where(Notification.id == notification_id).values(sent_at=sent_at)
        ),
    )
    logger.info("sent %s to %s via %s", notification.template, notification.recipient, where)


def eml_name(notification: Notification) -> str:
    """The file name (without .eml) of this email when delivered as a file."""
    return f"{notification.created_at:%Y%m%d-%H%M%S}-{notification.job_id}-{notification.template}"


def compose_notification(session: AnySession, job: Job) -> Notification:
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
    extra = {"to_name": job.payload["to_name"]}
    if "offer_id" in job.payload:
        offer = session.get(Offer, job.payload["offer_id"])
        if offer is None:
            raise PermanentError("the offer of this email no longer exists")
        token = availability_token(offer.id, offer.speaker_id)
        extra["availability_url"] = public_url("bookings.availability", token=token)
    calendar = None
    if "about_engagement" in job.payload:
        extra["engagement"] = session.get(Engagement, job.payload["about_engagement"])
    if "engagement_id" in job.payload:
        engagement = session.get(Engagement, job.payload["engagement_id"])
        if engagement is None:
            raise PermanentError("the engagement of this invitation no longer exists")
        method = job.payload["method"]
        status_url = public_url("bookings.status", token=booking.tracking_token)
        description = f"{booking.event_name} ({booking.reference})\n{status_url}"
        calendar = (
            invitation(
                engagement,
                method=method,
                attendee_email=job.payload["to_email"],
                attendee_name=job.payload["to_name"],
                organizer=current_app.config["BUREAU_SETTINGS"].mail_from,
                description=description,
            ),
            method,
        )
        extra["engagement"] = engagement
        extra["method"] = method
        extra["verb"] = (
            "Cancelled"
            if method == "CANCEL"
            else "Updated invitation"
            if engagement.sequence
            else "Invitation"
        )
    mail = render_booking_mail(template, booking, **extra)
    staff = booking.assigned_staff
    reply_to = (staff.name, staff.email) if staff is not None and template != "assigned" else None
    message = build_message(
        mail,
        to_name=job.payload["to_name"],
        to_email=job.payload["to_email"],
        reply_to=reply_to,
        calendar=calendar,
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
    session.commit()  # kept even if delivery fails: the retry sends these very bytes
    return notification
