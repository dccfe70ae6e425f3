"""Booking tasks run by the worker."""

from __future__ import annotations

from celery import shared_task
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from bureau.bookings.models import BookingRequest, RequestedSpeaker
from bureau.bookings.routing import new_request_loads, route
from bureau.bookings.services import ROUTE_TASK as ROUTE
from bureau.bookings.states import Status
from bureau.bookings.workflow import SYSTEM
from bureau.catalogue.models import Speaker
from bureau.db import AnySession
from bureau.outbox import Job, PermanentError, execute, handles


@shared_task(name=ROUTE)
def route_booking(*, job_id: int) -> str:
    return execute(ROUTE, job_id, route_new_booking)


def load_bookings(session: AnySession, jobs: list[Job]) -> None:
    """A batch's requests, with what routing and its emails read (requested speakers and
    their topics, offers, contract), in three queries for them all instead of about three
    each: route_new_booking and the emails then find them in the session."""
    ids = [job.booking_id for job in jobs if job.booking_id]
    session.scalars(
        select(BookingRequest)
        .where(BookingRequest.id.in_(ids))
        .options(
            joinedload(BookingRequest.offers),
            joinedload(BookingRequest.contract),
            selectinload(BookingRequest.requested)
            .joinedload(RequestedSpeaker.speaker)
            .selectinload(Speaker.topics),
        )
    ).unique().all()


# Under a backlog, up to 8 waiting requests are routed in one transaction and their emails
# sent over one SMTP connection (outbox.run_job); routing carries out nothing irrevocable.
@handles(ROUTE, together=8, preload=load_bookings)
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
    route(session, booking, actor=SYSTEM, loads=new_request_loads)
