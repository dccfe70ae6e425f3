"""Snapshots of the insights page's figures, kept so a long period is not recomputed per view."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bureau.db import Base, utcnow


class InsightsSnapshot(Base):
    """Every figure of one period and staff filter, as computed at ``computed_at``.

    Keyed by what defines the figures: the period (``start_on``..``end_on``, UTC days), the
    staff filter (None: everyone) and ``form_version``, the shape of the stored JSON
    (``snapshot.FORM_VERSION``; rows of another version are never read). ``preset`` says
    which offered period it was (beat recomputes that preset as of each new day);
    ``viewed_at`` when the page last served it (beat refreshes only those viewed lately).
    """

    __tablename__ = "insights_snapshots"
    __table_args__ = (Index("ix_insights_snapshots_key", "start_on", "end_on", "staff_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    start_on: Mapped[date]
    end_on: Mapped[date]
    staff_id: Mapped[int | None]
    form_version: Mapped[int]
    preset: Mapped[str] = mapped_column(String(10), default="")
    figures: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    viewed_at: Mapped[datetime] = mapped_column(default=utcnow)
