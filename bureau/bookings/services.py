"""Submitting booking requests: the one way a request enters the system."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bureau.bookings.models import BookingRequest, ReferenceCounter, RequestedSpeaker
from bureau.bookings.states import Status
from bureau.bookings.validation import ValidRequest
from bureau.bookings.workflow import Actor, note
from bureau.catalogue.models import Speaker
from bureau.counters import next_in_year
from bureau.db import AnySession, utcnow
from bureau.i18n import current_locale
from bureau.outbox import record_job

logger = logging.getLogger(__name__)
ROUTE_TASK = "bureau.bookings.route"


class IdempotencyConflict(Exception):
    """The same idempotency key came with a different request body."""


@dataclass(frozen=True)
class SubmitResult:
    booking: BookingRequest
    created: bool


@dataclass
class ActiveSpeakers:
    """``validate_request``'s ``active_speakers`` that keeps the rows it found, so that
    ``submit_request(speakers=…)`` needs no second query for them."""

    session: AnySession
    rows: dict[str, Speaker] = field(default_factory=dict)

    def __call__(self, slugs: Collection[str]) -> set[str]:
        self.rows = {
            s.slug: s
            for s in self.session.scalars(
                select(Speaker).where(Speaker.slug.in_(list(slugs)), Speaker.is_active)
            )
        }
        return set(self.rows)


def fingerprint(raw: Mapping[str, Any]) -> str:
    """A stable hash of a request body, to tell a retry from a different request."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def next_reference(session: AnySession, year: int) -> str:
    """BR-<year>-<five digits>, counted per year with one atomic upsert (no gaps on retry)."""
    return f"BR-{year}-{next_in_year(session, ReferenceCounter, year):05d}"


def find_by_idempotency_key(session: AnySession, key: str) -> BookingRequest | None:
    return session.scalars(
        select(BookingRequest).where(BookingRequest.idempotency_key == key)
    ).one_or_none()


def submit_request(
    session: AnySession,
    request: ValidRequest,
    *,
    source: str,
    idempotency_key: str | None,
    request_fingerprint: str | None = None,
    now: datetime | None = None,
    speakers: Mapping[str, Speaker] | None = None,
) -> SubmitResult:
    """Store a validated request with its speakers and first timeline entry, and commit.

    A repeated ``idempotency_key`` returns the request stored the first time (even when two
    submissions race: the unique index decides) and raises ``IdempotencyConflict`` when the
    body differs. ``speakers``: the requested speakers' rows when the caller has them
    already (``ActiveSpeakers.rows``); otherwise they are loaded.
    """
    if idempotency_key is not None:
        existing = _replay(session, idempotency_key, request_fingerprint)
        if existing is not None:
            return SubmitResult(existing, created=False)

    booking = store_request(
        session,
        request,
        source=source,
        now=now,
        speakers=speakers,
        idempotency_key=idempotency_key,
        request_fingerprint=request_fingerprint,
    )
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        if idempotency_key is None:
            raise
        existing = _replay(session, idempotency_key, request_fingerprint)
        if existing is None:
            raise
        return SubmitResult(existing, created=False)
    # Routing (and the emails it implies) happens in the worker, after this commits.
    record_job(session, ROUTE_TASK, "route", booking_id=booking.id)
    session.commit()
    logger.info("booking %s submitted via %s", booking.reference, source)
    return SubmitResult(booking, created=True)


def store_request(
    session: AnySession,
    request: ValidRequest,
    *,
    source: str,
    now: datetime | None = None,
    speakers: Mapping[str, Speaker] | None = None,
    idempotency_key: str | None = None,
    request_fingerprint: str | None = None,
) -> BookingRequest:
    """Add the request and its first timeline entry ("submitted", at ``now``) to the
    session, unflushed; submit_request's part the demo history shares."""
    now = now or utcnow()
    if speakers is None or any(slug not in speakers for slug in request.speakers):
        speakers = {
            s.slug: s
            for s in session.scalars(select(Speaker).where(Speaker.slug.in_(request.speakers)))
        }
    booking = BookingRequest(
        reference=next_reference(session, now.year),
        status=Status.NEW,
        tracking_token=secrets.token_urlsafe(32),
        idempotency_key=idempotency_key,
        idempotency_fingerprint=request_fingerprint,
        source=source,
        event_name=request.event_name,
        organization=request.organization,
        contact_name=request.contact_name,
        contact_email=request.contact_email,
        contact_phone=request.contact_phone,
        format=request.format,
        is_virtual=request.is_virtual,
        city=request.city,
        country=request.country,
        timezone=request.timezone,
        starts_local=request.starts_local,
        ends_local=request.ends_local,
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        audience_size=request.audience_size,
        audience=request.audience,
        budget_min=request.budget_min,
        budget_max=request.budget_max,
        currency=request.currency,
        message=request.message,
        language=request.language,
        # The language it was filed in (the form's or the API caller's): its emails speak it.
        locale=current_locale(),
        created_at=now,
        updated_at=now,
        requested=[
            RequestedSpeaker(preference=i, speaker=speakers[slug])
            for i, slug in enumerate(request.speakers, start=1)
        ],
    )
    session.add(booking)
    note(
        session,
        booking,
        actor=Actor("organizer", request.contact_name),
        action="submitted",
        to_status=Status.NEW,
        public_message=_l("We received your request."),
        details={"source": source},
        now=now,
    )
    return booking


def _replay(
    session: AnySession, key: str, request_fingerprint: str | None
) -> BookingRequest | None:
    existing = find_by_idempotency_key(session, key)
    if existing is None:
        return None
    if request_fingerprint is not None and existing.idempotency_fingerprint != request_fingerprint:
        raise IdempotencyConflict(key)
    return existing


def find_by_token(session: AnySession, token: str) -> BookingRequest | None:
    if not token or len(token) > 64:
        return None
    return session.scalars(
        select(BookingRequest).where(BookingRequest.tracking_token == token)
    ).one_or_none()
