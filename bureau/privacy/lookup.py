"""Finding an organizer's personal data: the requests filed with an address, and the
emails sent to it. Export and erasure both start here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from bureau.bookings.models import BookingRequest
from bureau.db import AnySession
from bureau.mail.models import Notification
from bureau.outbox import Job


def normalise(address: str) -> str:
    return address.strip().lower()


def requests_of(session: AnySession, address: str) -> list[BookingRequest]:
    """The requests filed with this contact address (any case), oldest first."""
    return list(
        session.scalars(
            select(BookingRequest)
            .where(func.lower(BookingRequest.contact_email) == normalise(address))
            .order_by(BookingRequest.id)
            .options(*everything())
        )
    )


def everything() -> list[Any]:
    """Loader options for all a request holds about its organizer (one query each)."""
    return [
        selectinload(BookingRequest.events),
        selectinload(BookingRequest.offers),
        selectinload(BookingRequest.shortlist),
        selectinload(BookingRequest.contract),
        selectinload(BookingRequest.organizer_feedback),
        selectinload(BookingRequest.requested),
    ]


def emails_to(session: AnySession, address: str) -> list[tuple[Job, Notification | None]]:
    """Every email job addressed to this address, with its stored message once composed."""
    return [
        (job, notification)
        for job, notification in session.execute(
            select(Job, Notification)
            .outerjoin(Notification, Notification.job_id == Job.id)
            .where(func.lower(Job.recipient) == normalise(address))
            .order_by(Job.id)
        )
    ]
