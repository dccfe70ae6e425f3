"""The transactional outbox: side effects recorded as rows in the transaction that causes them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bureau.db import Base, utcnow


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(Base):
    """One side effect to carry out exactly once (route a booking, send an email, an invite).

    ``dedupe_key`` is unique over (booking, kind, recipient, sequence): recording the same
    effect twice is a no-op, and so is a second delivery of its task.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_run_after", "state", "run_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
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
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]

    @staticmethod
    def key_for(kind: str, booking_id: int | None, recipient: str | None, sequence: int) -> str:
        return f"{kind}:{booking_id or '-'}:{(recipient or '-').lower()}:{sequence}"
