"""Booking tasks run by the worker."""

from __future__ import annotations

from celery import shared_task
from sqlalchemy.orm import joinedload

from bureau.bookings.models import BookingRequest
from bureau.bookings.routing import route
from bureau.bookings.services import ROUTE_TASK as ROUTE
from bureau.bookings.states import Status
from bureau.bookings.workflow import SYSTEM
from bureau.db import AnySession
from bureau.outbox import Job, PermanentError, execute, handles


@shared_task(name=ROUTE)
def route_booking(*, job_id: int) -> str:
    return execute(ROUTE, job_id, route_new_booking)


# Under a backlog, up to 8 waiting requests are routed in one transaction and their emails
# sent over one SMTP connection (outbox.run_job); routing carries out nothing irrevocable.
@handles(ROUTE, together=8)
def route_new_booking(session: AnySession, job: Job) -> None:
    # Its offers and contract come along (joined: none yet, for a new request): the routing's
    # emails state them (mail.facts), and each would otherwise be a query of its own.
    booking = (
        session.get(
            BookingRequest,
            job.booking_id,
            options=[joinedload(BookingRequest.offers), joinedload(BookingRequest.contract)],
        )
        if job.booking_id
        else None
    )
    if booking is None:
        raise PermanentError("the booking no longer exists")
    if booking.status != Status.NEW:
        return  # routed already (or withdrawn meanwhile): nothing to do
    route(session, booking, actor=SYSTEM)
