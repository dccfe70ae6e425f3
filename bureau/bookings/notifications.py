"""The emails each booking step sends, in one place (one function per step).

Each queues through ``queue_mail`` in the step's transaction: the outbox sends after the
commit, once per reader and step. Calendar invitations are calendar/invites.py's,
reminders and warnings calendar/reminders.py's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bureau.bookings.models import BookingRequest, Offer
from bureau.bookings.states import Status
from bureau.calendar.models import Engagement
from bureau.db import AnySession
from bureau.mail.facts import Facts
from bureau.mail.recipients import (
    SPEAKER,
    Addressee,
    assignee_of,
    organizer_of,
    queue_mail,
    queue_mails,
    staff_member,
)
from bureau.outbox import Job
from bureau.staff.models import Role, StaffMember

FEEDBACK_REQUEST = "mail.feedback_request"


def notify_routed(
    session: AnySession,
    booking: BookingRequest,
    assigned: StaffMember | None,
    *,
    previous: int | None,
) -> None:
    """Routing's: a new assignee hears (not one it stays with), or with nobody eligible
    every active admin is alerted; the organizer's acknowledgement either way. Once per
    booking (sequence 0)."""
    mails: list[tuple[str, Addressee]] = []
    if assigned is not None:
        if previous != assigned.id:
            mails.append(("assigned", staff_member(assigned)))
    else:
        admins = session.scalars(
            select(StaffMember).where(StaffMember.role == Role.ADMIN, StaffMember.is_active)
        ).all()
        mails += [("unassigned_alert", staff_member(admin)) for admin in admins]
    mails.append(("acknowledgement", organizer_of(booking)))
    queue_mails(session, booking, mails, sequence=0)  # their jobs in one INSERT


def notify_assigned(session: AnySession, booking: BookingRequest, staff: StaffMember) -> None:
    """An admin chose the assignee: they hear."""
    queue_mail(session, booking, "assigned", staff_member(staff))


def notify_shortlisted(session: AnySession, booking: BookingRequest) -> None:
    queue_mail(session, booking, "proposal", organizer_of(booking))


def notify_offer(session: AnySession, booking: BookingRequest, *, by_organizer: bool) -> None:
    """An organizer's own offer reaches the assignee (staff who entered one know of it)."""
    if by_organizer:
        queue_mail(session, booking, "offer_received", assignee_of(booking))


def notify_availability_request(session: AnySession, booking: BookingRequest, offer: Offer) -> None:
    """The speaker is asked, with their own signed link (the offer's)."""
    to = (SPEAKER, offer.speaker.email or "", offer.speaker.name)
    queue_mail(session, booking, "availability_request", to, offer_id=offer.id)


def notify_speaker_answer(session: AnySession, booking: BookingRequest, *, accepted: bool) -> None:
    queue_mail(session, booking, "speaker_answered", assignee_of(booking))
    template = "speaker_accepted" if accepted else "speaker_declined"
    queue_mail(session, booking, template, organizer_of(booking))


def notify_contract(session: AnySession, booking: BookingRequest) -> None:
    queue_mail(session, booking, "contract_ready", organizer_of(booking))


def notify_confirmed(session: AnySession, booking: BookingRequest, engagement: Engagement) -> None:
    queue_mail(session, booking, "confirmed", organizer_of(booking), about_engagement=engagement.id)


def notify_rescheduled(
    session: AnySession, booking: BookingRequest, engagement: Engagement, previous: Facts
) -> None:
    """The organizer hears, with the date it had (``previous``, fixed before the change)."""
    queue_mail(
        session,
        booking,
        "rescheduled",
        organizer_of(booking),
        about_engagement=engagement.id,
        facts={"previous": previous},
    )


def notify_completed(session: AnySession, booking: BookingRequest) -> None:
    """The organizer is asked for feedback, once per booking ever."""
    if not _feedback_requested(session, booking):
        queue_mail(session, booking, "feedback_request", organizer_of(booking))


def _feedback_requested(session: AnySession, booking: BookingRequest) -> bool:
    """Whether the organizer was asked already or answered: a booking an admin corrected
    back to confirmed and completed again is not asked twice (the outbox's own key differs
    per timeline step)."""
    if booking.organizer_feedback is not None:
        return True
    asked = session.scalar(
        select(Job.id).where(Job.booking_id == booking.id, Job.kind == FEEDBACK_REQUEST).limit(1)
    )
    return asked is not None


def notify_closed(
    session: AnySession,
    booking: BookingRequest,
    to: Status,
    *,
    by_organizer: bool,
    engagement: Engagement | None,
) -> None:
    """Whoever did not close it hears of it."""
    if by_organizer:
        queue_mail(session, booking, "status_update", assignee_of(booking))
    elif to == Status.CANCELLED:
        about: dict[str, Any] = {} if engagement is None else {"about_engagement": engagement.id}
        queue_mail(session, booking, "cancelled", organizer_of(booking), **about)
    else:
        queue_mail(session, booking, "status_update", organizer_of(booking))


def notify_hold_expired(session: AnySession, booking: BookingRequest) -> None:
    queue_mail(session, booking, "hold_expired", organizer_of(booking))
    queue_mail(session, booking, "hold_expired", assignee_of(booking))
