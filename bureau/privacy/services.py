"""Organizers' personal data: find it, export it, erase it, and the retention period.

Erasing keeps a request's business facts (reference, speakers, dates, format, city and
country, audience size, budget, fees, states, the timeline's actions) and replaces what
identifies or was written by the organizer with placeholders, everywhere it was copied: the
request and its offers, shortlist and contract, the timeline, the outbox jobs, the stored
emails (and their ``.eml`` files in ``instance/mail/``) and the calendar feed texts.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Select, Table, exists, func, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.states import Status
from bureau.bookings.workflow import Actor, ActorKind, note
from bureau.calendar.models import Engagement
from bureau.db import AnySession, utcnow
from bureau.mail.models import ERASED_EMAIL, ERASED_MESSAGE, Notification
from bureau.mail.tasks import eml_name
from bureau.outbox import Job, JobState

logger = logging.getLogger(__name__)

ERASED = "[erased]"
RETENTION_BATCH = 200
# Requests that ended without ever becoming a booking. A cancelled one may have been
# confirmed first; such a request converted and keeps its details (see stale_unconverted).
UNCONVERTED_ENDINGS = (Status.DECLINED, Status.WITHDRAWN, Status.CANCELLED, Status.EXPIRED)
CONVERTED = (Status.CONFIRMED, Status.COMPLETED)
# Timeline detail keys whose values are text people wrote (notes, feedback, offer notes).
WRITTEN_KEYS = frozenset({"text", "feedback", "note", "logistics"})
# Actions whose "reason" is written by a person (elsewhere it is the system's own words).
WRITTEN_REASONS = frozenset(
    {
        "declined",
        "withdrawn",
        "cancelled",
        "state corrected",
        "speaker accepted",
        "speaker declined",
    }
)
MIN_SCRUB_LENGTH = 3


def normalise(address: str) -> str:
    return address.strip().lower()


def requests_of(session: AnySession, address: str) -> list[BookingRequest]:
    """The requests filed with this contact address (any case), oldest first."""
    return list(
        session.scalars(
            select(BookingRequest)
            .where(func.lower(BookingRequest.contact_email) == normalise(address))
            .order_by(BookingRequest.id)
            .options(*_everything())
        )
    )


def _everything() -> list[Any]:
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


# --- export


def export(session: AnySession, address: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Every personal datum held about the organizer with this address, as plain values."""
    bookings = requests_of(session, address)
    references = {b.id: b.reference for b in bookings}
    emails = emails_to(session, address)
    missing = {j.booking_id for j, _ in emails if j.booking_id and j.booking_id not in references}
    if missing:
        references.update(
            session.execute(
                select(BookingRequest.id, BookingRequest.reference).where(
                    BookingRequest.id.in_(missing)
                )
            ).all()
        )
    return {
        "export": "Bureau personal data export",
        "email_address": normalise(address),
        "exported_at": (now or utcnow()).isoformat(),
        "requests": [_booking_data(b) for b in bookings],
        "emails": [
            {
                "request": references.get(job.booking_id) if job.booking_id else None,
                "kind": job.kind,
                "recipient": job.recipient,
                "subject": notification.subject if notification else None,
                "created_at": job.created_at,
                "sent_at": notification.sent_at if notification else None,
                "state": job.state,
                "message_id": notification.message_id if notification else None,
            }
            for job, notification in emails
        ],
    }


def export_json(data: dict[str, Any]) -> str:
    return json.dumps(data, default=_json_value, ensure_ascii=False, indent=2)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not exportable: {type(value).__name__}")


def _booking_data(b: BookingRequest) -> dict[str, Any]:
    return {
        "reference": b.reference,
        "status": b.status,
        "source": b.source,
        "created_at": b.created_at,
        "updated_at": b.updated_at,
        "erased_at": b.erased_at,
        "contact": {"name": b.contact_name, "email": b.contact_email, "phone": b.contact_phone},
        "organization": b.organization,
        "event": {
            "name": b.event_name,
            "format": b.format,
            "virtual": b.is_virtual,
            "city": b.city,
            "country": b.country,
            "timezone": b.timezone,
            "starts_local": b.starts_local,
            "ends_local": b.ends_local,
            "audience_size": b.audience_size,
            "audience": b.audience,
            "language": b.language,
        },
        "budget": {"min": b.budget_min, "max": b.budget_max, "currency": b.currency},
        "message": b.message,
        "feedback": b.feedback,
        "closed_reason": b.closed_reason,
        "organizer_feedback": None
        if b.organizer_feedback is None
        else {
            "rating": b.organizer_feedback.rating,
            "comments": b.organizer_feedback.comments,
            "created_at": b.organizer_feedback.created_at,
        },
        "requested_speakers": [r.speaker.name for r in b.requested],
        "shortlist": [
            {
                "speaker": e.speaker.name,
                "fee_quote": e.fee_quote,
                "currency": e.currency,
                "home_city": e.home_city,
                "note": e.note,
            }
            for e in b.shortlist
        ],
        "offers": [
            {
                "speaker": o.speaker.name,
                "made_by": o.made_by,
                "created_at": o.created_at,
                "fee": o.fee,
                "currency": o.currency,
                "format": o.format,
                "starts_local": o.starts_local,
                "ends_local": o.ends_local,
                "timezone": o.timezone,
                "virtual": o.is_virtual,
                "venue": o.venue,
                "city": o.city,
                "country": o.country,
                "logistics": o.logistics,
                "response": o.response,
                "response_reason": o.response_reason,
                "responded_at": o.responded_at,
            }
            for o in b.offers
        ],
        "contract": None
        if b.contract is None
        else {
            "fee": b.contract.fee,
            "currency": b.contract.currency,
            "commission_pct": b.contract.commission_pct,
            "deposit_amount": b.contract.deposit_amount,
            "deposit_due": b.contract.deposit_due,
            "travel_terms": b.contract.travel_terms,
        },
        "timeline": [
            {
                "at": e.at,
                "actor": e.actor_label,
                "actor_kind": e.actor_kind,
                "action": e.action,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "shown_to_organizer": e.public_message,
                "details": e.details,
            }
            for e in b.events
        ],
    }


# --- erasure


@dataclass
class Erasure:
    """What one erasure changed; ``files`` are removed once the change is committed."""

    references: list[str] = field(default_factory=list)
    emails: int = 0
    files: list[Path] = field(default_factory=list)
    removed: int = 0  # of those files, how many existed

    def merge(self, other: Erasure) -> None:
        self.references += other.references
        self.emails += other.emails
        self.files += other.files


def erase(session: AnySession, address: str, *, actor: Actor, mail_folder: Path) -> Erasure:
    """Erase the personal data of the organizer with this address and commit.

    Idempotent: a second run finds nothing left to change. The .eml files of every email
    about these requests are deleted after the commit.
    """
    address = normalise(address)
    done = Erasure()
    for booking in requests_of(session, address):
        done.merge(
            anonymise(
                session,
                booking,
                actor=actor,
                action="personal data erased",
                mail_folder=mail_folder,
            )
        )
    # Emails to the address that belong to no request of theirs (or whose request is gone).
    done.merge(_redact_mail(session, address, strings=[address], mail_folder=mail_folder))
    session.commit()
    done.removed = remove_files(done.files)
    logger.info(
        "personal data erased by %s: %d requests, %d emails, %d mail files",
        actor.label,
        len(done.references),
        done.emails,
        done.removed,
    )
    return done


def anonymise(
    session: AnySession,
    booking: BookingRequest,
    *,
    actor: Actor,
    action: str,
    mail_folder: Path,
    details: dict[str, Any] | None = None,
) -> Erasure:
    """Replace the organizer's personal data on one request and everything copied from it.

    The caller commits (the version column makes a concurrent change fail at flush), then
    removes the returned files.
    """
    now = utcnow()
    address = normalise(booking.contact_email)
    strings = _personal_strings(booking)

    booking.contact_name = ERASED
    booking.contact_email = ERASED_EMAIL
    booking.contact_phone = None
    booking.organization = ERASED
    booking.message = _placeholder(booking.message)
    booking.audience = _placeholder(booking.audience)
    booking.feedback = _placeholder(booking.feedback)
    booking.closed_reason = _placeholder(booking.closed_reason)
    booking.event_name = scrub(booking.event_name, strings)
    # Old status links stop working; the new token is never sent anywhere.
    booking.tracking_token = secrets.token_urlsafe(32)
    booking.idempotency_key = None
    booking.idempotency_fingerprint = None
    booking.erased_at = now
    for offer in booking.offers:
        offer.venue = _placeholder(offer.venue)
        offer.logistics = _placeholder(offer.logistics)
        offer.response_reason = _placeholder(offer.response_reason)
    for entry in booking.shortlist:
        entry.note = _placeholder(entry.note)
    if booking.contract is not None:
        booking.contract.travel_terms = _placeholder(booking.contract.travel_terms)
    if booking.organizer_feedback is not None:  # the rating stays: it names no one
        booking.organizer_feedback.comments = _placeholder(booking.organizer_feedback.comments)

    # The feed's kept VEVENT text is dropped (re-rendered on the next poll); the new
    # updated_at changes the feed's ETag, so subscribed calendars fetch it again.
    for engagement in session.scalars(
        select(Engagement).where(Engagement.booking_id == booking.id)
    ):
        engagement.title = scrub(engagement.title, strings)
        engagement.location = scrub(engagement.location, strings)
        engagement.ics_text = None
        engagement.ics_cache_key = None
        engagement.updated_at = now

    _rewrite_timeline(session, booking, strings)
    erased = Erasure(references=[booking.reference])
    erased.merge(
        _redact_mail(
            session, address, strings=strings, mail_folder=mail_folder, booking_id=booking.id
        )
    )
    note(
        session,
        booking,
        actor=actor,
        action=action,
        details={**(details or {}), "emails": erased.emails},
    )
    booking.updated_at = now
    return erased


def _placeholder(value: str | None) -> str | None:
    return ERASED if value else value


def _personal_strings(booking: BookingRequest) -> list[str]:
    """What identifies the organizer, or was written by them or about them."""
    found = [
        booking.contact_name,
        booking.contact_email,
        booking.contact_phone,
        booking.organization,
        booking.message,
        booking.audience,
        booking.feedback,
        booking.closed_reason,
    ]
    for offer in booking.offers:
        found += [offer.venue, offer.logistics, offer.response_reason]
    found += [entry.note for entry in booking.shortlist]
    if booking.contract is not None:
        found.append(booking.contract.travel_terms)
    if booking.organizer_feedback is not None:
        found.append(booking.organizer_feedback.comments)
    for event in booking.events:
        found += list(_written(event.action, event.details))
    return [s for s in found if s and s != ERASED]


def _written(action: str, details: Any, key: str | None = None) -> Iterator[str]:
    if isinstance(details, dict):
        for k, v in details.items():
            yield from _written(action, v, k)
    elif isinstance(details, list):
        for item in details:
            yield from _written(action, item, key)
    elif isinstance(details, str) and (
        key in WRITTEN_KEYS or (key == "reason" and action in WRITTEN_REASONS)
    ):
        yield details


def scrub(text: str, strings: Iterable[str]) -> str:
    """The text with every occurrence of these strings (any case) replaced by [erased]."""
    wanted = sorted(
        {s.strip() for s in strings if s and len(s.strip()) >= MIN_SCRUB_LENGTH},
        key=len,
        reverse=True,
    )
    if not wanted or not text:
        return text
    pattern = re.compile("|".join(re.escape(s) for s in wanted), re.IGNORECASE)
    return pattern.sub(ERASED, text)


def _scrub_details(action: str, value: Any, strings: list[str], key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _scrub_details(action, v, strings, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_details(action, item, strings, key) for item in value]
    if isinstance(value, str):
        if key in WRITTEN_KEYS or (key == "reason" and action in WRITTEN_REASONS):
            return _placeholder(value)
        return scrub(value, strings)
    return value


def _rewrite_timeline(session: AnySession, booking: BookingRequest, strings: list[str]) -> None:
    """The one sanctioned rewrite of the append-only timeline: the entries stay (who did
    what, when, from which state to which), the personal text in them goes. Core UPDATEs,
    so the ORM guard against edits (bookings/models.py) does not fire."""
    table: Table = BookingEvent.__table__  # type: ignore[assignment]
    for event in booking.events:
        label = (
            "Organizer" if event.actor_kind == "organizer" else scrub(event.actor_label, strings)
        )
        message = scrub(event.public_message, strings) if event.public_message else None
        details = _scrub_details(event.action, event.details, strings)
        if (label, message, details) != (event.actor_label, event.public_message, event.details):
            session.execute(
                update(table)
                .where(table.c.id == event.id)
                .values(actor_label=label, public_message=message, details=details)
            )
        session.expire(event)


def _redact_mail(
    session: AnySession,
    address: str,
    *,
    strings: list[str],
    mail_folder: Path,
    booking_id: int | None = None,
) -> Erasure:
    """Jobs and stored emails about the request (or, without one, to the address): every
    stored message about it quotes the organizer, so each is replaced and its .eml file
    removed."""
    # Every email job of a request carries its id (an index); only erase() looks for the
    # address across all jobs, once.
    condition = (
        Job.booking_id == booking_id
        if booking_id is not None
        else func.lower(Job.recipient) == address
    )
    now = utcnow()
    done = Erasure()
    rows = session.execute(
        select(Job, Notification)
        .outerjoin(Notification, Notification.job_id == Job.id)
        .where(condition)
        .order_by(Job.id)
    )
    for job, notification in rows:
        changed = False
        if (job.recipient or "").lower() == address:
            job.recipient = ERASED_EMAIL
            job.dedupe_key = f"erased:{job.id}"
            job.payload = {**job.payload, "to_email": ERASED_EMAIL, "to_name": ERASED}
            if job.state in (JobState.PENDING, JobState.RUNNING):
                job.state = JobState.FAILED
                job.last_error = "not sent: the recipient's personal data was erased"
                job.locked_until = job.locked_by = None
                job.finished_at = now
            changed = True
        if job.last_error:
            job.last_error = scrub(job.last_error, strings)
        if booking_id is not None and "facts" in job.payload:
            # The facts an email was to tell quote the request (reasons, logistics): gone
            # with it; an email not yet sent tells the erased request instead.
            job.payload = {k: v for k, v in job.payload.items() if k != "facts"}
        if notification is not None and notification.raw_message != ERASED_MESSAGE:
            if notification.recipient.lower() == address:
                notification.recipient = ERASED_EMAIL
            notification.subject = scrub(notification.subject, strings)
            notification.raw_message = ERASED_MESSAGE
            done.files.append(mail_folder / f"{eml_name(notification)}.eml")
            changed = True
        done.emails += changed
    return done


def remove_files(paths: Iterable[Path]) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


# --- retention


@dataclass
class Retention:
    days: int
    cutoff: datetime | None
    dry_run: bool
    references: list[str] = field(default_factory=list)
    files: int = 0


def stale_unconverted(cutoff: datetime) -> Select[int, str]:
    """Requests that ended without becoming a booking and saw no activity since cutoff."""
    converted = exists().where(
        BookingEvent.booking_id == BookingRequest.id,
        BookingEvent.to_status.in_([s.value for s in CONVERTED]),
    )
    recent = exists().where(BookingEvent.booking_id == BookingRequest.id, BookingEvent.at >= cutoff)
    engaged = exists().where(Engagement.booking_id == BookingRequest.id)
    return select(BookingRequest.id, BookingRequest.reference).where(
        BookingRequest.status.in_([s.value for s in UNCONVERTED_ENDINGS]),
        BookingRequest.erased_at.is_(None),
        BookingRequest.updated_at < cutoff,
        ~converted,
        ~recent,
        ~engaged,
    )


def apply_retention(
    session: AnySession,
    *,
    days: int,
    mail_folder: Path,
    now: datetime | None = None,
    dry_run: bool = False,
    batch_size: int = RETENTION_BATCH,
) -> Retention:
    """Anonymise stale unconverted requests, ``batch_size`` ids at a time (keyset paging),
    each request in its own transaction; ``days`` 0 keeps everything."""
    if days <= 0:
        return Retention(days=days, cutoff=None, dry_run=dry_run)
    cutoff = (now or utcnow()) - timedelta(days=days)
    done = Retention(days=days, cutoff=cutoff, dry_run=dry_run)
    actor = Actor(ActorKind.SYSTEM, "Bureau (retention)")
    after = 0
    while True:
        batch = session.execute(
            stale_unconverted(cutoff)
            .where(BookingRequest.id > after)
            .order_by(BookingRequest.id)
            .limit(batch_size)
        ).all()
        session.rollback()
        if not batch:
            return done
        after = batch[-1][0]
        for booking_id, reference in batch:
            if dry_run:
                done.references.append(reference)
                continue
            booking = session.scalars(
                stale_unconverted(cutoff)
                .with_only_columns(BookingRequest)
                .where(BookingRequest.id == booking_id)
                .options(*_everything())
            ).one_or_none()
            if booking is None:  # changed since the batch was read
                continue
            erased = anonymise(
                session,
                booking,
                actor=actor,
                action="personal data erased (retention)",
                mail_folder=mail_folder,
                details={"retention_days": days},
            )
            try:
                session.commit()
            except StaleDataError:  # a colleague took it up again meanwhile: keep it
                session.rollback()
                continue
            done.files += remove_files(erased.files)
            done.references.append(reference)
        session.expunge_all()
