"""Who each email is for, and the one place that chooses the links its reader gets.

An email carries only its own reader's links: the organizer their private status page, a
speaker their own offer's page (the signed availability link), staff the request's page on
the dashboard. Templates see nothing but ``request_url``, built here from the recipient's
role, so no template can reach another reader's private link.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import func, select

from bureau.bookings.links import availability_token
from bureau.bookings.models import BookingEvent, BookingRequest, Offer
from bureau.calendar.models import Engagement
from bureau.catalogue.models import Speaker
from bureau.db import AnySession
from bureau.mail.facts import Facts, mail_facts
from bureau.outbox import Job, JobSpec, is_quiet, record_jobs
from bureau.staff.models import StaffMember
from bureau.urls import public_url

MAIL_TASK = "bureau.mail.send"


class Recipient(StrEnum):
    ORGANIZER = "organizer"
    SPEAKER = "speaker"
    STAFF = "staff"  # agents and admins alike


ORGANIZER, SPEAKER, STAFF = Recipient.ORGANIZER, Recipient.SPEAKER, Recipient.STAFF

# Every email template and the readers it goes to. mail_job refuses any other pairing,
# and tests/test_mail_links.py renders each template for each of its readers.
AUDIENCES: dict[str, frozenset[Recipient]] = {
    "acknowledgement": frozenset({ORGANIZER}),
    "proposal": frozenset({ORGANIZER}),
    "status_update": frozenset({ORGANIZER, STAFF}),
    "feedback_request": frozenset({ORGANIZER}),
    "speaker_accepted": frozenset({ORGANIZER}),
    "speaker_declined": frozenset({ORGANIZER}),
    "contract_ready": frozenset({ORGANIZER}),
    "contract_sent": frozenset({ORGANIZER}),
    "contract_final": frozenset({ORGANIZER, STAFF}),
    "contract_declined": frozenset({STAFF}),
    "confirmed": frozenset({ORGANIZER}),
    "rescheduled": frozenset({ORGANIZER}),
    "cancelled": frozenset({ORGANIZER}),
    "hold_expired": frozenset({ORGANIZER, STAFF}),
    "invite": frozenset({ORGANIZER, SPEAKER, STAFF}),
    "reminder_7d": frozenset({ORGANIZER, SPEAKER}),
    "reminder_1d": frozenset({ORGANIZER, SPEAKER}),
    "availability_request": frozenset({SPEAKER}),
    "assigned": frozenset({STAFF}),
    "unassigned_alert": frozenset({STAFF}),
    "offer_received": frozenset({STAFF}),
    "speaker_answered": frozenset({STAFF}),
    "hold_expiring": frozenset({STAFF}),
    "sla_breach": frozenset({STAFF}),
    "reply_received": frozenset({STAFF}),
    "email_bounced": frozenset({STAFF}),
    "invite_declined": frozenset({STAFF}),
    "staff_reply": frozenset({ORGANIZER, SPEAKER}),
    "invoice_issued": frozenset({ORGANIZER}),
    "invoice_due_soon": frozenset({ORGANIZER, STAFF}),
    "invoice_overdue_1d": frozenset({ORGANIZER, STAFF}),
    "invoice_overdue_7d": frozenset({ORGANIZER, STAFF}),
}

# Each email as staff read of it on the timeline, the mail log and the operations page,
# in the reader's language.
MAIL_NAMES: dict[str, LazyString] = {
    "acknowledgement": _l("Acknowledgement of the request"),
    "proposal": _l("Shortlist for the organizer"),
    "status_update": _l("Status update"),
    "feedback_request": _l("Feedback request"),
    "speaker_accepted": _l("Speaker available (to the organizer)"),
    "speaker_declined": _l("Speaker unavailable (to the organizer)"),
    "contract_ready": _l("Contract and deposit details"),
    "contract_sent": _l("Contract for acceptance (PDF)"),
    "contract_final": _l("Countersigned contract (PDF)"),
    "contract_declined": _l("Contract declined by the organizer"),
    "confirmed": _l("Booking confirmed"),
    "rescheduled": _l("Booking rescheduled"),
    "cancelled": _l("Booking cancelled"),
    "hold_expired": _l("Hold expired"),
    "invite": _l("Calendar invitation"),
    "reminder_7d": _l("Reminder a week before"),
    "reminder_1d": _l("Reminder a day before"),
    "availability_request": _l("Availability question to the speaker"),
    "assigned": _l("New request assigned"),
    "unassigned_alert": _l("No agent could be assigned"),
    "offer_received": _l("Firm offer received"),
    "speaker_answered": _l("The speaker's answer"),
    "hold_expiring": _l("Hold ends within a day"),
    "sla_breach": _l("First response overdue"),
    "reply_received": _l("Email reply received"),
    "email_bounced": _l("An email bounced"),
    "invite_declined": _l("The speaker declined the invitation"),
    "staff_reply": _l("Reply from the desk"),
    "invoice_issued": _l("Invoice (PDF attached)"),
    "invoice_due_soon": _l("Invoice due in three days"),
    "invoice_overdue_1d": _l("Invoice overdue"),
    "invoice_overdue_7d": _l("Invoice a week overdue"),
}


def mail_name(template: str) -> str:
    """An email template's name in words (one no longer known: its underscores spaced)."""
    known = MAIL_NAMES.get(template)
    return str(known) if known is not None else template.replace("_", " ").capitalize()


def mail_job(
    session: AnySession,
    booking_id: int,
    template: str,
    role: Recipient,
    to_email: str,
    to_name: str,
    *,
    sequence: int,
    facts: Facts | None = None,
    **extra: Any,
) -> JobSpec | None:
    """The outbox job of one email for a reader in ``role``; None inside ``quiet_outbox``.

    The payload fixes what the email will tell (bureau/mail/facts.py), as the booking stands
    in this transaction, plus ``facts`` the change adds (a reschedule's previous date)."""
    if role not in AUDIENCES[template]:
        raise ValueError(f"the {template!r} email is not meant for the {role.value}")
    if is_quiet(session):  # the past is being written: no facts to fix, nothing to send
        return None
    booking = session.get(BookingRequest, booking_id)
    if booking is not None:
        engagement_id = extra.get("engagement_id", extra.get("about_engagement"))
        facts = {
            **mail_facts(
                session,
                booking,
                template,
                role.value,
                to_email,
                offer=session.get(Offer, extra["offer_id"]) if "offer_id" in extra else None,
                engagement=session.get(Engagement, engagement_id) if engagement_id else None,
            ),
            **(facts or {}),
        }
    return JobSpec(
        MAIL_TASK,
        f"mail.{template}",
        booking_id=booking_id,
        recipient=to_email,
        sequence=sequence,
        payload={
            "template": template,
            "role": role.value,
            "to_email": to_email,
            "to_name": to_name,
            **extra,
            **({"facts": facts} if facts is not None else {}),
        },
    )


# Who an email is for: the reader's role, address and name.
Addressee = tuple[Recipient, str, str]


def organizer_of(booking: BookingRequest) -> Addressee:
    return (ORGANIZER, booking.contact_email, booking.contact_name)


def staff_member(member: StaffMember) -> Addressee:
    return (STAFF, member.email, member.name)


def assignee_of(booking: BookingRequest) -> Addressee | None:
    staff = booking.assigned_staff
    return staff_member(staff) if staff is not None else None


def timeline_step(session: AnySession, booking: BookingRequest) -> int:
    """A number unique to this step of this booking (its count of timeline entries)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(BookingEvent)
            .where(BookingEvent.booking_id == booking.id)
        )
        or 0
    )


def queue_mail(
    session: AnySession,
    booking: BookingRequest,
    template: str,
    to: Addressee | None,
    *,
    sequence: int | None = None,
    facts: Facts | None = None,
    **extra: Any,
) -> Job | None:
    """Queue ``template`` about ``booking`` for ``to`` (nobody: nothing is queued); None
    if it was queued already. ``sequence`` tells repeats apart in the outbox's key; by
    default the booking's timeline step, so each step's email goes once."""
    if to is None or is_quiet(session):
        return None
    role, email, name = to
    step = timeline_step(session, booking) if sequence is None else sequence
    spec = mail_job(
        session, booking.id, template, role, email, name, sequence=step, facts=facts, **extra
    )
    return record_jobs(session, [spec])[0] if spec is not None else None


def queue_mails(
    session: AnySession,
    booking: BookingRequest,
    mails: list[tuple[str, Addressee]],
    *,
    sequence: int,
) -> list[Job | None]:
    """Queue several emails about one step of ``booking`` (``(template, to)`` each) in one
    INSERT: routing's notice to the desk and acknowledgement to the organizer."""
    specs = [
        mail_job(session, booking.id, template, role, email, name, sequence=sequence)
        for template, (role, email, name) in mails
    ]
    wanted = [spec for spec in specs if spec is not None]
    return record_jobs(session, wanted) if wanted else []


def role_of(session: AnySession, job: Job, booking: BookingRequest) -> Recipient:
    """The reader's role: as recorded, or for a job queued before roles were, inferred from
    the template and the address (an address we cannot place gets the staff page, which
    needs a sign-in)."""
    if "role" in job.payload:
        return Recipient(job.payload["role"])
    audience = AUDIENCES[job.payload["template"]]
    email = job.payload["to_email"]
    if len(audience) == 1:
        return next(iter(audience))
    if ORGANIZER in audience and email == booking.contact_email:
        return ORGANIZER
    if STAFF in audience and (
        SPEAKER not in audience
        or session.scalar(select(StaffMember.id).where(StaffMember.email == email)) is not None
    ):
        return STAFF
    return SPEAKER


def links_for(
    role: Recipient, booking: BookingRequest, offer: Offer | None = None
) -> dict[str, str]:
    """The links an email to ``role`` about ``booking`` may carry: ``request_url``, the
    reader's own page for this request (a speaker's needs their ``offer``; without one,
    none)."""
    if role is ORGANIZER:
        return {"request_url": public_url("bookings.status", token=booking.tracking_token)}
    if role is STAFF:
        return {"request_url": public_url("staff.request_page", booking_id=booking.id)}
    if offer is None:
        return {}
    token = availability_token(offer.id, offer.speaker_id)
    return {"request_url": public_url("bookings.availability", token=token)}


def reader_locale(
    session: AnySession,
    role: Recipient,
    booking: BookingRequest,
    email: str,
    offer: Offer | None = None,
) -> str | None:
    """The language an email to ``email`` in ``role`` is written in: the organizer's, the
    one their request was filed in; a speaker's or staff member's, their own preference
    (the speaker of ``offer``, else whoever has the address). None: the default."""
    if role is ORGANIZER:
        return booking.locale
    if role is SPEAKER:
        if offer is not None and (offer.speaker.email or "").lower() == email.lower():
            return offer.speaker.locale
        return session.scalars(
            select(Speaker.locale).where(func.lower(Speaker.email) == email.lower()).limit(1)
        ).first()
    member = booking.assigned_staff
    if member is not None and member.email.lower() == email.lower():
        return member.locale
    return session.scalars(
        select(StaffMember.locale).where(func.lower(StaffMember.email) == email.lower()).limit(1)
    ).first()


def speakers_offer(booking: BookingRequest, speaker_id: int) -> Offer | None:
    """The latest offer on ``booking`` made for this speaker."""
    return next((o for o in reversed(booking.offers) if o.speaker_id == speaker_id), None)
