"""The outbox's table: one row for each side effect, and the errors a handler raises."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bureau.columns import CreatedAt, UpdatedAt
from bureau.db import AnySession, Base, utcnow


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    """One side effect to carry out exactly once (route a booking, send an email, an invite).

    ``task`` is the Celery task that carries it out (``bureau.<feature>.<verb>``), ``kind``
    the effect (``route``, ``mail.acknowledgement``…). ``dedupe_key`` is unique over (kind,
    booking, recipient, sequence): recording the same effect twice is a no-op, and so is a
    second delivery of its task.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_run_after", "state", "run_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(60))
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str | None] = mapped_column(String(320))
    sequence: Mapped[int] = mapped_column(default=0)
    dedupe_key: Mapped[str] = mapped_column(String(500), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default=JobState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    # While running: when the claim lapses and another worker may take the job over, and
    # who holds it (claim.holder()), so that a worker seeing that process die releases it.
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    finished_at: Mapped[datetime | None]
    # The web request (X-Request-ID) that caused the job, directly or through other jobs:
    # the worker's log lines about the job carry it.
    request_id: Mapped[str | None] = mapped_column(String(64))
    # Not a column: True on a job this very task inserted and runs (execute()), so no earlier
    # attempt of it can have left anything behind for the handler to look for.
    fresh = False
    # Not a column either: what a preparer (hooks.prepares) made for this job in the
    # transaction that recorded it (a composed email), for its handler to carry out.
    prepared = cast(object | None, None)

    @staticmethod
    def key_for(kind: str, booking_id: int | None, recipient: str | None, sequence: int) -> str:
        return f"{kind}:{booking_id or '-'}:{(recipient or '-').lower()}:{sequence}"


# A claim ended: the job is no longer held by anyone (done, failed, back to pending).
UNCLAIMED: dict[str, Any] = {"locked_until": None, "locked_by": None}

# What carries out a job of one task: does the work, may change rows and record further jobs.
Handler = Callable[[AnySession, Job], None]
# What prepares a job recorded for inline running, in the very transaction that records it
# (composing an email): it adds rows, sets ``job.prepared``, and carries out nothing.
Preparer = Callable[[AnySession, Job], None]


class TransientError(Exception):
    """Worth trying again later (server busy, connection lost, 4xx from SMTP)."""


class PermanentError(Exception):
    """Trying again cannot help (mailbox refused, data gone); the job ends as failed."""
