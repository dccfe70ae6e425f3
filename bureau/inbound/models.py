"""The inbound message: every email the bureau receives, stored raw before anything reads it.

The raw bytes live in the database (``LargeBinary``), not in the instance folder: they are
written in the same transaction as the job that reads them, so a message and its job exist
together or not at all (no orphan file, no row without its file), backups carry them, and
every worker reaches them whichever machine it runs on. The size limit keeps rows small
enough for that (BUREAU_INBOUND_MAX_BYTES, 10 MB by default).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bureau.bookings.models import BookingRequest
from bureau.columns import CreatedAt
from bureau.db import Base

MESSAGE_ID_MAX = 998  # RFC 5322's longest line
SUBJECT_MAX = 300


class InboundStatus(StrEnum):
    RECEIVED = "received"  # stored, its job not yet run
    PARSED = "parsed"  # read; matching follows in the same job
    FAILED = "failed"  # too large or unreadable: kept for an admin, with the error
    MATCHED = "matched"  # on a request's timeline
    UNMATCHED = "unmatched"  # in the staff Inbox, waiting to be attached or discarded
    DISCARDED = "discarded"  # staff threw it away (the row and its bytes stay)


class InboundSource(StrEnum):
    IMAP = "imap"
    PIPE = "pipe"


class MatchedBy(StrEnum):
    REPLY_ADDRESS = "reply-address"
    IN_REPLY_TO = "in-reply-to"
    SUBJECT = "subject"
    STAFF = "staff"  # attached by hand from the Inbox
    BOUNCED_EMAIL = "bounced-email"  # a delivery report about one of the bureau's emails
    CALENDAR_UID = "calendar-uid"  # a calendar answer to an engagement's invitation


# Staff may still act on these from the Inbox.
IN_INBOX = (InboundStatus.UNMATCHED, InboundStatus.FAILED)


class InboundMessage(Base):
    """One received email. A replay (the same IMAP UID under the same UIDVALIDITY, or the
    same Message-ID) is refused by the unique constraints, also between racing workers."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int]
    received_at: Mapped[CreatedAt]
    source: Mapped[str] = mapped_column(String(10))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(MESSAGE_ID_MAX), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=InboundStatus.RECEIVED, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(SUBJECT_MAX))
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="SET NULL"), index=True
    )
    matched_by: Mapped[str | None] = mapped_column(String(20))
    # The sender is the request's organizer (their reply shows on the status page).
    from_known_party: Mapped[bool] = mapped_column(default=False)

    booking: Mapped[BookingRequest | None] = relationship()


class CalendarAnswer(Base):
    """One attendee's latest answer (iTIP REPLY PARTSTAT) to an engagement's invitation."""

    __tablename__ = "calendar_answers"
    __table_args__ = (UniqueConstraint("engagement_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagements.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    partstat: Mapped[str] = mapped_column(String(20))
    answered_at: Mapped[datetime]
