"""The inbound pipeline: store the raw message, then (in a job) read it and file it on its
request, or leave it in the staff Inbox.

``receive_raw`` is the one way in (the IMAP poller and ``bureau mail receive`` both call it):
it stores the bytes and records the job that reads them in the caller's transaction, so a
message is never lost to a parser's failure, and refuses a replay (the same IMAP UID under
the same UIDVALIDITY, or the same Message-ID) by the table's unique constraints.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import suppress
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from typing import Any, NamedTuple

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import object_session

from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.workflow import Actor, ActorKind, note
from bureau.config.settings import INSTANCE_STORE
from bureau.db import AnySession
from bureau.inbound.addresses import REFERENCE_IN_TEXT, booking_from_addresses
from bureau.inbound.dispatch import file_automatic, file_bounce, file_calendar_answer
from bureau.inbound.models import (
    IN_INBOX,
    MESSAGE_ID_MAX,
    SUBJECT_MAX,
    InboundMessage,
    InboundSource,
    InboundStatus,
    MatchedBy,
)
from bureau.inbound.signals import Kind, MessageRefused, Parsed, classify, parse
from bureau.inbound.storage import Stored, current_store, store_named
from bureau.mail.models import Notification
from bureau.mail.recipients import assignee_of, queue_mail
from bureau.outbox import Job, PermanentError, record_job
from bureau.text import clean_line

PROCESS_TASK = "bureau.inbound.process"
REPLY_RECEIVED = "reply received"
TEXT_MAX = 20_000  # characters of a reply kept on the timeline entry
ATTACHMENT_MAX_BYTES = 5_000_000  # one file of a reply; the whole message is bounded too
ATTACHMENTS_MAX = 20  # files kept of one message
# What a reply's files may be: documents and pictures, nothing a browser or desktop runs.
ATTACHMENT_TYPES = frozenset(
    {
        *("application/pdf", "text/plain", "text/csv", "image/png", "image/jpeg", "image/gif"),
        *("image/webp", "application/msword", "application/vnd.ms-excel"),
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
    }
)
CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})
HEADER_SLICE = 256 * 1024  # enough of an oversized message to find its Message-ID
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def receive_raw(
    session: AnySession,
    raw: bytes,
    *,
    source: str,
    uidvalidity: int | None = None,
    uid: int | None = None,
) -> InboundMessage | None:
    """Store one received message and the job that reads it, in the caller's transaction;
    None for a replay (nothing new is stored). A message over BUREAU_INBOUND_MAX_BYTES is
    stored too, as failed with the reason, and not read."""
    source = InboundSource(source)
    if (uidvalidity is None) != (uid is None):
        raise ValueError("an IMAP message has both a UIDVALIDITY and a UID, or neither")
    limit = current_app.config["BUREAU_SETTINGS"].inbound_max_bytes
    too_large = len(raw) > limit
    head = _header_fields(raw[:HEADER_SLICE] if too_large else raw)
    values: dict[str, Any] = {
        "raw": raw,
        "size": len(raw),
        "source": source,
        "uidvalidity": uidvalidity,
        "uid": uid,
        "message_id": head.message_id,
        "sender": head.sender,
        "subject": head.subject,
        "status": InboundStatus.FAILED if too_large else InboundStatus.RECEIVED,
        "error": f"too large: {len(raw):,} bytes, the limit is {limit:,}" if too_large else None,
        "from_known_party": False,
    }
    # One INSERT … ON CONFLICT DO NOTHING: the unique constraints decide, also between two
    # pollers or workers racing with the same message.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    message_id = session.scalar(
        insert(InboundMessage).values(values).on_conflict_do_nothing().returning(InboundMessage.id)
    )
    if message_id is None:
        return None
    message = session.get(InboundMessage, message_id)
    assert message is not None
    if not too_large:
        record_job(
            session,
            PROCESS_TASK,
            "inbound.process",
            sequence=message.id,
            payload={"inbound_message_id": message.id},
        )
    return message


def process(session: AnySession, job: Job) -> None:
    """The job: read the message, match it to its request, file it there or in the Inbox.
    A message that cannot be read stays stored, as failed, with the error."""
    # Locked (PostgreSQL): a second worker running the same job waits, then sees it handled.
    message = session.get(
        InboundMessage, job.payload.get("inbound_message_id", job.sequence), with_for_update=True
    )
    if message is None:
        raise PermanentError("the inbound message no longer exists")
    if message.status != InboundStatus.RECEIVED:
        return  # handled by an earlier attempt
    parsed = read_message(message)
    if parsed is None:
        return
    message.sender = parsed.from_address or message.sender
    message.subject = clean_line(parsed.subject)[:SUBJECT_MAX] or message.subject
    message.status = InboundStatus.PARSED
    kind = classify(parsed)
    if kind is Kind.BOUNCE:  # about nothing the bureau sent: for staff to look at
        if not file_bounce(session, message, parsed):
            message.status = InboundStatus.UNMATCHED
        return
    if kind is Kind.CALENDAR_REPLY and file_calendar_answer(session, message, parsed):
        return
    found = match(session, parsed)
    if found is None:
        message.status = InboundStatus.UNMATCHED
        return
    booking, matched_by = found
    if kind is not Kind.REPLY:  # automatic, or a report or answer about nothing known
        file_automatic(session, message, parsed, booking, matched_by)
        return
    attach(session, message, booking, matched_by=matched_by, parsed=parsed)


def read_message(message: InboundMessage) -> Parsed | None:
    """The message read by signals.parse, the one reader; None when it is refused or the
    reader broke, and then the message is failed with the reason (its bytes stay)."""
    limit = current_app.config["BUREAU_SETTINGS"].inbound_max_bytes
    try:
        return parse(message.raw, max_bytes=limit)
    except MessageRefused as refused:
        message.error = str(refused)[:2000]
    except Exception as error:  # whatever breaks the parser, the bytes stay
        message.error = f"cannot be read: {type(error).__name__}: {error}"[:2000]
    message.status = InboundStatus.FAILED
    return None


def match(session: AnySession, parsed: Parsed) -> tuple[BookingRequest, MatchedBy] | None:
    """Which request a message is about: its signed reply address, else the bureau's email
    it answers (In-Reply-To, References), else a reference in its subject."""
    booking = booking_from_addresses(session, [*parsed.to, *parsed.cc, *parsed.delivered_to][:50])
    if booking is not None:
        return booking, MatchedBy.REPLY_ADDRESS
    answers = [*([parsed.in_reply_to] if parsed.in_reply_to else []), *parsed.references][:50]
    if answers:
        booking_id = session.scalar(
            select(Notification.booking_id)
            .where(Notification.message_id.in_(answers))
            .where(Notification.booking_id.is_not(None))
            .limit(1)
        )
        booking = session.get(BookingRequest, booking_id) if booking_id is not None else None
        if booking is not None:
            return booking, MatchedBy.IN_REPLY_TO
    for reference in REFERENCE_IN_TEXT.findall(parsed.subject or ""):
        booking = session.scalar(
            select(BookingRequest).where(BookingRequest.reference == reference.upper())
        )
        if booking is not None:
            return booking, MatchedBy.SUBJECT
    return None


def attach(
    session: AnySession,
    message: InboundMessage,
    booking: BookingRequest,
    *,
    matched_by: MatchedBy,
    parsed: Parsed | None = None,
    attached_by: str | None = None,
) -> None:
    """File a message on its request: a timeline entry (the organizer's own replies also on
    their status page; anyone else's staff-only, marked so), and the assignee hears."""
    if parsed is None:
        parsed = _read_leniently(message)
    known = bool(message.sender) and (message.sender or "").lower() == (
        booking.contact_email.lower()
    )
    message.booking_id = booking.id
    message.matched_by = matched_by
    message.from_known_party = known
    message.status = InboundStatus.MATCHED
    text = (parsed.reply or parsed.text)[:TEXT_MAX]
    sender = message.sender or "an unknown sender"
    kept, refused = store_attachments(message, parsed)
    note(
        session,
        booking,
        actor=(
            Actor(ActorKind.ORGANIZER, booking.contact_name)
            if known
            else Actor(ActorKind.SYSTEM, f"{sender} (not on the request)")
        ),
        action=REPLY_RECEIVED,
        public_message=_l("Your email: %(text)s", text=clean_line(text))
        if known and text
        else None,
        details={
            "inbound_message_id": message.id,
            "from": sender,
            "subject": message.subject or "",
            "text": text,
            "sent": parsed.date.isoformat() if parsed.date else None,
            "matched_by": matched_by.value,
            "not_on_request": not known,
            **({"attachments": kept} if kept else {}),
            **({"refused_attachments": refused} if refused else {}),
            **({"attached_by": attached_by} if attached_by else {}),
        },
    )
    queue_mail(session, booking, "reply_received", assignee_of(booking))


def _read_leniently(message: InboundMessage) -> Parsed:
    """For a message attached by hand: read if it can be, else only what was stored."""
    with suppress(Exception):
        return parse(message.raw, max_bytes=len(message.raw) + 1)
    return Parsed(
        message_id=message.message_id, in_reply_to=None, references=(), from_name="",
        from_address=message.sender or "", to=(), cc=(), reply_to=(), delivered_to=(),
        subject=message.subject or "", date=None, text="", reply="",
    )  # fmt: skip


def attachment_folder(message_id: int) -> str:
    """The folder of a message's files in a store: one folder a message, each file named
    by its number (never by the name its sender chose)."""
    return f"inbound/{message_id}/"


def store_attachments(
    message: InboundMessage, parsed: Parsed
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Keep the files of a matched reply within the limits (size, type) in the current
    store; the pictures its HTML shows in place and calendar parts are not files to list.
    Returns what was kept (with the store it is in) and what was refused (with the
    reason), for the timeline entry."""
    kept: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    store = current_store()
    for attachment in parsed.attachments:
        if attachment.inline or attachment.content_type in CALENDAR_TYPES:
            continue
        facts = {
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "size": attachment.size,
        }
        if attachment.size > ATTACHMENT_MAX_BYTES:
            refused.append({**facts, "reason": f"over {ATTACHMENT_MAX_BYTES:,} bytes"})
        elif attachment.content_type not in ATTACHMENT_TYPES:
            refused.append({**facts, "reason": "not a kind of file the bureau keeps"})
        elif len(kept) < ATTACHMENTS_MAX:
            number = len(kept) + 1
            key = attachment_folder(message.id) + str(number)
            store.put(key, attachment.data, attachment.content_type)
            kept.append({**facts, "number": number, "store": store.name})
    return kept, refused


def attachment_file(message: InboundMessage, number: int) -> tuple[bytes, dict[str, Any]] | None:
    """The stored file ``number`` of a message on a request, with its facts; None if none.
    Raises StoreUnavailable when its store cannot be reached."""
    if message.booking_id is None:
        return None
    event = _entry_of(message)
    files = event.details.get("attachments", []) if event is not None else []
    facts = next((f for f in files if f.get("number") == number), None)
    if facts is None:
        return None
    data = store_named(facts.get("store", INSTANCE_STORE)).get(
        attachment_folder(message.id) + str(number)
    )
    return (data, facts) if data is not None else None


def stored_folders(session: AnySession, messages: Iterable[tuple[int, int | None]]) -> list[Stored]:
    """Where the files of these messages (id, request id) may be: the instance folder (where
    every file was before there was a choice), and each store their entries name."""
    ids = dict(messages)
    places = {Stored(INSTANCE_STORE, attachment_folder(i)) for i in ids}
    bookings = {b for b in ids.values() if b is not None}
    if bookings:
        events = session.scalars(
            select(BookingEvent).where(
                BookingEvent.booking_id.in_(bookings), BookingEvent.action == REPLY_RECEIVED
            )
        )
        for event in events:
            message_id = (event.details or {}).get("inbound_message_id")
            if message_id not in ids:
                continue
            for facts in event.details.get("attachments", []):
                places.add(
                    Stored(facts.get("store", INSTANCE_STORE), attachment_folder(message_id))
                )
    return sorted(places, key=lambda p: (p.folder, p.store))


def _entry_of(message: InboundMessage) -> BookingEvent | None:
    session = object_session(message)
    assert session is not None
    events = session.scalars(
        select(BookingEvent).where(
            BookingEvent.booking_id == message.booking_id,
            BookingEvent.action == REPLY_RECEIVED,
        )
    )
    return next((e for e in events if e.details.get("inbound_message_id") == message.id), None)


def discard(message: InboundMessage) -> bool:
    """Throw a message away from the Inbox (the row and its bytes stay); False if it is no
    longer there."""
    if message.status not in IN_INBOX:
        return False
    message.status = InboundStatus.DISCARDED
    return True


class _Head(NamedTuple):
    sender: str | None
    subject: str | None
    message_id: str | None


def _header_fields(raw: bytes) -> _Head:
    """The sender, subject and Message-ID, read leniently (compat32: no header can raise),
    for storing before the message is read properly."""
    head = BytesHeaderParser().parsebytes(raw)
    sender = parseaddr(str(head.get("From", "")))[1] or None
    found = _MESSAGE_ID.search(str(head.get("Message-ID", "")))
    subject = str(head.get("Subject", ""))
    # An unknown charset: the encoded words as they came.
    with suppress(LookupError, UnicodeError, ValueError):
        subject = str(make_header(decode_header(subject)))
    subject = clean_line(subject)
    return _Head(
        sender=sender[:320] if sender else None,
        subject=subject[:SUBJECT_MAX] or None,
        message_id=found.group(0)[:MESSAGE_ID_MAX] if found else None,
    )
