"""The notification log: every email, as composed once and delivered by its outbox job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bureau.db import Base, utcnow
from bureau.outbox import Job

# What erasure (bureau/privacy/) leaves of an email and of an erased person's address.
# RFC 2606: .invalid never resolves, so nothing can ever be delivered to it.
ERASED_EMAIL = "erased@erased.invalid"
ERASED_MESSAGE = (
    "Subject: [erased]\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "This email was erased together with the organizer's personal data.\r\n"
)


class Notification(Base):
    """One email. Composed on the first attempt and stored whole, so a retry sends the very
    same bytes (same Message-ID: receiving clients collapse a duplicate); its delivery state
    and last error are its job's."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), index=True
    )
    template: Mapped[str] = mapped_column(String(60))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    raw_message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # A delivery report said it failed (bureau/inbound/): when, in the remote server's words.
    bounced_at: Mapped[datetime | None]
    bounce_reason: Mapped[str | None] = mapped_column(Text)

    job: Mapped[Job] = relationship()

    @property
    def state(self) -> str:
        return self.job.state

    @property
    def last_error(self) -> str | None:
        return self.job.last_error
