"""Export: every personal datum held about an organizer, as one JSON document: their
requests (with contract versions, acceptances and invoices), the emails sent to them (and
whether they bounced), the emails received from them or filed on their requests (with the
names and sizes of the files kept of them) and their answers to calendar invitations."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bureau.bookings.models import BookingRequest
from bureau.db import AnySession, json_value, utcnow
from bureau.privacy import paperwork
from bureau.privacy.lookup import emails_to, normalise, requests_of


def export(session: AnySession, address: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Every personal datum held about the organizer with this address, as plain values."""
    bookings = requests_of(session, address)
    references = {b.id: b.reference for b in bookings}
    received = paperwork.inbound_data(session, normalise(address), dict(references))
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
        "requests": [{**_booking_data(b), **paperwork.paper_data(session, b)} for b in bookings],
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
                "bounced_at": notification.bounced_at if notification else None,
                "bounce_reason": notification.bounce_reason if notification else None,
            }
            for job, notification in emails
        ],
        "received_emails": received,
        "calendar_answers": paperwork.calendar_answers_data(session, normalise(address)),
    }


def export_json(data: dict[str, Any]) -> str:
    return json.dumps(data, default=json_value, ensure_ascii=False, indent=2)


def _fields(row: object | None, *names: str) -> dict[str, Any] | None:
    """These attributes of a request's one-to-one row (its contract, its feedback), by
    name, or None when the request has none."""
    return None if row is None else {name: getattr(row, name) for name in names}


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
        "organizer_feedback": _fields(b.organizer_feedback, "rating", "comments", "created_at"),
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
        "contract": _fields(
            b.contract,
            "fee",
            "currency",
            "commission_pct",
            "deposit_amount",
            "deposit_due",
            "travel_terms",
        ),
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
