"""A booking's paper trail: contract versions and their acceptance, invoices, and the emails
the bureau received. Export reads them, erasure clears them, retention ages received emails.

Invoices are bookkeeping records the bureau must keep for the statutory period (ten years
in Germany, six in the UK, …; GDPR Art. 17(3)(b) exempts them from erasure), and the law
wants the client's name, address and tax number printed on them. So erasure keeps every
invoice row as issued and only scrubs the free text beside it (the void reason); it says
which invoices it kept and why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select

from bureau.billing.models import Invoice
from bureau.billing.services import invoices_of
from bureau.bookings.models import BookingRequest
from bureau.calendar.models import Engagement
from bureau.contracts.models import ContractVersion
from bureau.contracts.services import versions_of
from bureau.db import AnySession
from bureau.inbound.models import CalendarAnswer, InboundMessage, InboundStatus
from bureau.inbound.services import stored_folders
from bureau.inbound.storage import Stored, list_stored

ERASED = "[erased]"
# What an erased version's text becomes: the hash stays, so a copy the organizer or the
# bureau kept can still be shown to be the text agreed to.
ERASED_HTML = (
    "<p>[erased] The text of this contract version was erased with the organizer's personal "
    "data. Its SHA-256 is kept: a kept copy of the text can still be checked against it.</p>"
)
INVOICES_KEPT = (
    "kept as issued: invoices are bookkeeping records the bureau must keep for the "
    "statutory period (client organization, address and tax number as printed)"
)
# Received emails that are done with: read, filed or thrown away (not those still waiting
# for their job).
FINISHED = (
    InboundStatus.MATCHED,
    InboundStatus.UNMATCHED,
    InboundStatus.DISCARDED,
    InboundStatus.FAILED,
)


def _inbound_about(booking_id: int | None, address: str | None) -> ColumnElement[bool]:
    """Received emails filed on the request, or sent from the address."""
    conditions = []
    if booking_id is not None:
        conditions.append(InboundMessage.booking_id == booking_id)
    if address is not None:
        conditions.append(func.lower(InboundMessage.sender) == address)
    return or_(*conditions)


def inbound(
    session: AnySession, *, booking_id: int | None = None, address: str | None = None
) -> list[InboundMessage]:
    return list(
        session.scalars(
            select(InboundMessage)
            .where(_inbound_about(booking_id, address))
            .order_by(InboundMessage.id)
        )
    )


# --- export


def paper_data(session: AnySession, booking: BookingRequest) -> dict[str, Any]:
    """The request's contract versions (with the acceptance) and invoices, as plain values."""
    return {
        "contract_versions": [_version_data(v) for v in versions_of(session, booking)],
        "invoices": [_invoice_data(i) for i in invoices_of(session, booking)],
    }


VERSION_FIELDS = (
    "number",
    "status",
    "sent_at",
    "sha256",
    "html",
    "declined_at",
    "decline_reason",
    "countersigned_at",
)
ACCEPTANCE_FIELDS = (
    "full_name",
    "organization",
    "on_behalf",
    "accepted_at",
    "client_address",
    "user_agent",
    "version_sha256",
    "billing_address",
    "tax_number",
)
INVOICE_FIELDS = (
    "number",
    "kind",
    "issued_on",
    "due_on",
    "currency",
    "net",
    "tax_rate",
    "tax",
    "total",
    "client_organization",
    "client_address",
    "client_tax_number",
    "voided_at",
    "void_reason",
)
PAYMENT_FIELDS = ("amount", "paid_on", "method", "reference")


def _values(row: object, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


def _version_data(v: ContractVersion) -> dict[str, Any]:
    a = v.acceptance
    return {
        **_values(v, VERSION_FIELDS),
        "acceptance": None if a is None else _values(a, ACCEPTANCE_FIELDS),
    }


def _invoice_data(i: Invoice) -> dict[str, Any]:
    return {
        **_values(i, INVOICE_FIELDS),
        "payments": [_values(p, PAYMENT_FIELDS) for p in i.payments],
    }


def inbound_data(
    session: AnySession, address: str, booking_ids: dict[int, str]
) -> list[dict[str, Any]]:
    """Every received email from the address or filed on one of its requests, with its
    whole text as received."""
    messages: dict[int, InboundMessage] = {}
    for booking_id in booking_ids:
        messages.update((m.id, m) for m in inbound(session, booking_id=booking_id))
    messages.update((m.id, m) for m in inbound(session, address=address))
    return [
        {
            "request": booking_ids.get(m.booking_id) if m.booking_id else None,
            "received_at": m.received_at,
            "sender": m.sender,
            "subject": m.subject,
            "status": m.status,
            "message_id": m.message_id,
            "raw": m.raw.decode("utf-8", errors="replace"),
            "files": _files_of(session, m),
        }
        for _, m in sorted(messages.items())
    ]


def _files_of(session: AnySession, message: InboundMessage) -> list[dict[str, Any]]:
    """The files kept of a reply (inbound/<id>/<n> in its store): their names and sizes;
    what each is, as its sender named it, is in the request's timeline entry."""
    found = list_stored(stored_folders(session, [(message.id, message.booking_id)]))
    return [
        {"file": name, "size": found[name]}
        for name in sorted(found, key=lambda name: (len(name), name))
    ]


def calendar_answers_data(session: AnySession, address: str) -> list[dict[str, Any]]:
    """The address's answers to invitations (its own row only: the other attendees' rows on
    the same engagement are theirs)."""
    rows = session.execute(
        select(CalendarAnswer, BookingRequest.reference)
        .join(Engagement, Engagement.id == CalendarAnswer.engagement_id)
        .join(BookingRequest, BookingRequest.id == Engagement.booking_id)
        .where(func.lower(CalendarAnswer.address) == address)
        .order_by(CalendarAnswer.id)
    )
    return [
        {
            "request": reference,
            "address": answer.address,
            "partstat": answer.partstat,
            "answered_at": answer.answered_at,
        }
        for answer, reference in rows
    ]


# --- erasure


def personal_strings(session: AnySession, booking: BookingRequest) -> list[str]:
    """What the paper trail holds about the organizer, for scrubbing copies elsewhere (the
    timeline quotes the accepting name and organization, a third party's address)."""
    found: list[str | None] = []
    for version in versions_of(session, booking):
        found.append(version.decline_reason)
        a = version.acceptance
        if a is not None:
            found += [a.full_name, a.organization, a.billing_address, a.tax_number]
    found += [m.sender for m in inbound(session, booking_id=booking.id)]
    return [s for s in found if s and s != ERASED]


def erase_paper(
    session: AnySession, booking: BookingRequest, scrub: Callable[[str], str]
) -> dict[str, Any]:
    """Clear the request's contract versions, acceptances and received emails; keep its
    invoices (see the module's docstring), ``scrub`` taking the organizer out of their
    void reasons."""
    versions = versions_of(session, booking)
    accepted = 0
    for version in versions:
        version.html = ERASED_HTML
        version.decline_reason = ERASED if version.decline_reason else None
        a = version.acceptance
        if a is not None and a.full_name != ERASED:
            # The evidence that stays: which text (its hash) was accepted, and when.
            a.full_name = a.organization = a.billing_address = ERASED
            a.client_address = a.user_agent = ERASED
            a.tax_number = None
            accepted += 1
    kept = invoices_of(session, booking)
    for invoice in kept:
        if invoice.void_reason:
            invoice.void_reason = scrub(invoice.void_reason)
    return {
        "contract_versions": len(versions),
        "acceptances": accepted,
        "received_emails": delete_inbound(session, booking_id=booking.id),
        "invoices_kept": [i.number for i in kept],
    }


def delete_calendar_answers(
    session: AnySession, address: str, *, booking_id: int | None = None
) -> int:
    """Delete the address's calendar answers (on the request's engagements, or everywhere)."""
    condition = func.lower(CalendarAnswer.address) == address
    if booking_id is not None:
        engagements = select(Engagement.id).where(Engagement.booking_id == booking_id)
        condition &= CalendarAnswer.engagement_id.in_(engagements)
    done = session.execute(
        delete(CalendarAnswer).where(condition).execution_options(synchronize_session="fetch")
    )
    return int(getattr(done, "rowcount", 0) or 0)


def inbound_folders(
    session: AnySession,
    *,
    booking_id: int | None = None,
    address: str | None = None,
    cutoff: datetime | None = None,
) -> list[Stored]:
    """The file folders (in their stores) of the received emails delete_inbound (or, with
    ``cutoff``, expire_inbound) is about to delete; the caller empties them once that is
    committed."""
    condition = stale_inbound(cutoff) if cutoff is not None else _inbound_about(booking_id, address)
    rows = session.execute(select(InboundMessage.id, InboundMessage.booking_id).where(condition))
    return stored_folders(session, [(i, b) for i, b in rows])


def delete_inbound(
    session: AnySession, *, booking_id: int | None = None, address: str | None = None
) -> int:
    """Delete the received emails filed on the request or sent from the address: their raw
    bytes, sender and subject. Their job, if still queued, then ends as failed."""
    done = session.execute(
        delete(InboundMessage)
        .where(_inbound_about(booking_id, address))
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(done, "rowcount", 0) or 0)


# --- retention


def stale_inbound(cutoff: datetime) -> ColumnElement[bool]:
    """Received emails done with (filed, in the Inbox, thrown away or unreadable) and older
    than the cutoff."""
    return InboundMessage.status.in_([s.value for s in FINISHED]) & (
        InboundMessage.received_at < cutoff
    )


def expire_inbound(session: AnySession, cutoff: datetime, *, dry_run: bool) -> int:
    """Delete (or, dry, count) the stale received emails; the caller commits."""
    if dry_run:
        return int(
            session.scalar(
                select(func.count()).select_from(InboundMessage).where(stale_inbound(cutoff))
            )
            or 0
        )
    done = session.execute(
        delete(InboundMessage)
        .where(stale_inbound(cutoff))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)
