"""Retention: anonymise the requests that never became bookings once the period is over, and
delete the received emails older than it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Select, exists, select
from sqlalchemy.orm.exc import StaleDataError

from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.states import Status
from bureau.bookings.workflow import Actor, ActorKind
from bureau.calendar.models import Engagement
from bureau.db import AnySession, utcnow
from bureau.privacy import paperwork
from bureau.privacy.erasure import anonymise, remove_files, remove_folders
from bureau.privacy.lookup import everything

RETENTION_BATCH = 200
# Requests that ended without ever becoming a booking. A cancelled one may have been
# confirmed first; such a request converted and keeps its details (see stale_unconverted).
UNCONVERTED_ENDINGS = (Status.DECLINED, Status.WITHDRAWN, Status.CANCELLED, Status.EXPIRED)
CONVERTED = (Status.CONFIRMED, Status.COMPLETED)


@dataclass
class Retention:
    days: int
    cutoff: datetime | None
    dry_run: bool
    references: list[str] = field(default_factory=list)
    files: int = 0
    received: int = 0  # received emails deleted (or, dry, to delete)


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
    each request in its own transaction, then delete the received emails done with and
    older than the period (their text stays on a kept request's timeline); ``days`` 0 keeps
    everything."""
    if days <= 0:
        return Retention(days=days, cutoff=None, dry_run=dry_run)
    cutoff = (now or utcnow()) - timedelta(days=days)
    done = Retention(days=days, cutoff=cutoff, dry_run=dry_run)
    _requests(session, done, cutoff, batch_size, mail_folder)
    folders = [] if dry_run else paperwork.inbound_folders(session, cutoff=cutoff)
    done.received = paperwork.expire_inbound(session, cutoff, dry_run=dry_run)
    if dry_run:
        session.rollback()
    else:
        session.commit()
        remove_folders(folders)
    return done


def _requests(
    session: AnySession, done: Retention, cutoff: datetime, batch_size: int, mail_folder: Path
) -> None:
    days, dry_run = done.days, done.dry_run
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
            return
        after = batch[-1][0]
        for booking_id, reference in batch:
            if dry_run:
                done.references.append(reference)
                continue
            booking = session.scalars(
                stale_unconverted(cutoff)
                .with_only_columns(BookingRequest)
                .where(BookingRequest.id == booking_id)
                .options(*everything())
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
            remove_folders(erased.folders)
            done.references.append(reference)
        session.expunge_all()
