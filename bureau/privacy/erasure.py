"""Erasure: anonymise one request, or every request and email of one address.

Erasing keeps a request's business facts (reference, speakers, dates, format, city and
country, audience size, budget, fees, states, the timeline's actions) and replaces what
identifies or was written by the organizer with placeholders, everywhere it was copied: the
request and its offers, shortlist and contract, the timeline, the outbox jobs, the stored
emails (and their ``.eml`` files in ``instance/mail/``) and the calendar feed texts. Contract
versions lose their text (the hash stays), acceptances their personal fields, received emails
are deleted; invoices are kept as issued (bureau/privacy/paperwork.py says why).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Table, func, select, update

from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.workflow import Actor, note
from bureau.calendar.models import Engagement
from bureau.db import AnySession, utcnow
from bureau.i18n import speaking
from bureau.inbound.services import REPLY_RECEIVED
from bureau.inbound.storage import Stored, remove_stored
from bureau.insights.snapshot import forget_all
from bureau.mail.models import ERASED_EMAIL, ERASED_MESSAGE, Notification
from bureau.mail.tasks import eml_name
from bureau.outbox import Job, JobState
from bureau.privacy import paperwork
from bureau.privacy.lookup import normalise, requests_of

logger = logging.getLogger(__name__)

ERASED = "[erased]"
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
        "contract declined",
    }
)
# A received reply's entry: who sent it, its subject and text are all the sender's.
REPLY_KEYS = frozenset({"from", "subject"})
# Shown in the booking's language, as the entry it replaces was written.
REPLY_SHOWN = _l("Your email: %(text)s", text=ERASED)
MIN_SCRUB_LENGTH = 3


@dataclass
class Erasure:
    """What one erasure changed; ``files`` are removed once the change is committed."""

    references: list[str] = field(default_factory=list)
    emails: int = 0
    files: list[Path] = field(default_factory=list)
    # Folders of the deleted received emails' files (inbound/<id> in their stores), emptied.
    folders: list[Stored] = field(default_factory=list)
    removed: int = 0  # of those files, how many existed
    folders_left: int = 0  # of those folders, how many a file store could not empty
    received: int = 0  # received emails deleted
    invoices_kept: list[str] = field(default_factory=list)

    def merge(self, other: Erasure) -> None:
        self.references += other.references
        self.emails += other.emails
        self.files += other.files
        self.folders += other.folders
        self.received += other.received
        self.invoices_kept += other.invoices_kept


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
    # Emails received from the address and filed on no request of theirs: deleted, their
    # entries on others' requests kept as a stranger's reply without the words.
    _replies_elsewhere(session, address)
    done.folders += paperwork.inbound_folders(session, address=address)
    done.received += paperwork.delete_inbound(session, address=address)
    paperwork.delete_calendar_answers(session, address)
    session.commit()
    done.removed = remove_files(done.files)
    done.folders_left = remove_folders(done.folders)
    logger.info(
        "personal data erased by %s: %d requests, %d emails, %d mail files, %d received "
        "emails; %d invoices kept",
        actor.label,
        len(done.references),
        done.emails,
        done.removed,
        done.received,
        len(done.invoices_kept),
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
    strings = _personal_strings(booking) + paperwork.personal_strings(session, booking)

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

    _rewrite_timeline(session, booking.events, strings)
    # The insights page's kept figures may show this request's comment and event name.
    forget_all(session)
    paperwork.delete_calendar_answers(session, address, booking_id=booking.id)
    folders = paperwork.inbound_folders(session, booking_id=booking.id)
    paper = paperwork.erase_paper(session, booking, lambda text: scrub(text, strings))
    erased = Erasure(
        references=[booking.reference],
        received=paper["received_emails"],
        invoices_kept=paper["invoices_kept"],
        folders=folders,
    )
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
        details={
            **(details or {}),
            "emails": erased.emails,
            **{k: v for k, v in paper.items() if v},
            **({"invoices": paperwork.INVOICES_KEPT} if paper["invoices_kept"] else {}),
        },
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
        if key == "store":  # where a reply's file is: the bureau's setting, needed to erase it
            return value
        if (
            key in WRITTEN_KEYS
            or (key == "reason" and action in WRITTEN_REASONS)
            or (key in REPLY_KEYS and action == REPLY_RECEIVED)
        ):
            return _placeholder(value)
        return scrub(value, strings)
    return value


def _replies_elsewhere(session: AnySession, address: str) -> None:
    """The timeline entries of the address's emails filed on other people's requests."""
    filed = {m.id: m.booking_id for m in paperwork.inbound(session, address=address)}
    on = {booking_id for booking_id in filed.values() if booking_id is not None}
    if not on:
        return
    entries = session.scalars(
        select(BookingEvent).where(
            BookingEvent.booking_id.in_(on), BookingEvent.action == REPLY_RECEIVED
        )
    )
    _rewrite_timeline(
        session,
        [e for e in entries if (e.details or {}).get("inbound_message_id") in filed],
        [address],
    )


def _rewrite_timeline(
    session: AnySession, events: Iterable[BookingEvent], strings: list[str]
) -> None:
    """The one sanctioned rewrite of the append-only timeline: the entries stay (who did
    what, when, from which state to which), the personal text in them goes. Core UPDATEs,
    so the ORM guard against edits (bookings/models.py) does not fire."""
    table: Table = BookingEvent.__table__  # type: ignore[assignment]
    for event in events:
        label = (
            "Organizer" if event.actor_kind == "organizer" else scrub(event.actor_label, strings)
        )
        message = scrub(event.public_message, strings) if event.public_message else None
        if message and event.action == REPLY_RECEIVED:  # quotes the reply, lines joined
            with speaking(event.booking.locale):
                message = str(REPLY_SHOWN)
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
            # A bounce's reason is the remote server's words about the recipient's address:
            # all of it goes when the email was to them, their strings otherwise.
            reason = notification.bounce_reason
            if notification.recipient.lower() == address:
                notification.recipient = ERASED_EMAIL
                reason = _placeholder(reason)
            notification.bounce_reason = scrub(reason, strings) if reason else reason
            notification.subject = scrub(notification.subject, strings)
            notification.raw_message = ERASED_MESSAGE
            done.files.append(mail_folder / f"{eml_name(notification)}.eml")
            changed = True
        done.emails += changed
    return done


def remove_folders(places: Iterable[Stored]) -> int:
    """Empty received emails' file folders, in whichever store (gone already, or never made:
    nothing to do); how many a store could not empty (each logged as an error)."""
    return remove_stored(places)


def remove_files(paths: Iterable[Path]) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed
