"""Holds: a speaker's date kept for one booking until it is confirmed or released."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bureau.catalogue.models import Speaker
from bureau.columns import CountryCode, CreatedAt, TimeZoneName, UpdatedAt, ends_after_start
from bureau.db import Base


class HoldState(StrEnum):
    ACTIVE = "active"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    EXPIRED = "expired"


class Hold(Base):
    __tablename__ = "holds"
    __table_args__ = (
        ends_after_start(),
        Index("ix_holds_state_expires_at", "state", "expires_at"),
        # Who is held on a date (shortlist suggestions): the holds ending after it, not all.
        Index("ix_holds_state_ends_at", "state", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), index=True
    )
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    speaker_id: Mapped[int] = mapped_column(ForeignKey("speakers.id"), index=True)
    # The feed's UID: random at the bureau's domain (calendar.ics.new_uid), never the row id,
    # which another bureau or a restored database reuses.
    uid: Mapped[str] = mapped_column(String(120), unique=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(12), default=HoldState.ACTIVE)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    speaker: Mapped[Speaker] = relationship(lazy="joined")


class Engagement(Base):
    """A confirmed booking on the calendars: one stable UID, a SEQUENCE raised by every
    change sent out, so calendar clients keep one entry up to date (RFC 5545/5546)."""

    __tablename__ = "engagements"
    __table_args__ = (ends_after_start(),)

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking_requests.id", ondelete="CASCADE"), unique=True
    )
    speaker_id: Mapped[int] = mapped_column(ForeignKey("speakers.id"), index=True)
    uid: Mapped[str] = mapped_column(String(120), unique=True)
    sequence: Mapped[int] = mapped_column(default=0)
    is_cancelled: Mapped[bool] = mapped_column(default=False)
    title: Mapped[str] = mapped_column(String(300))
    timezone: Mapped[TimeZoneName]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    location: Mapped[str] = mapped_column(String(500))
    # Where, for travel time between engagements (calendar/travel.py).
    city: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[CountryCode | None]
    is_virtual: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The feed's VEVENT text, rendered once per change (calendar/feeds.py).
    ics_text: Mapped[str | None] = mapped_column(Text)
    ics_cache_key: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    speaker: Mapped[Speaker] = relationship(lazy="joined")
